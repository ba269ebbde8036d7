/* parse.c: the graph-language parser's entry points and the builders its
 * grammar actions call (parser.y), which turn syntax into IR builder calls.
 *
 * Invariants: every builder either succeeds or prints exactly one error
 * (plus notes) and returns false/NULL, after which the parser aborts, so a
 * parse reports at most one error. All memory comes from the context's
 * arena. Nested calls become nodes as they are reduced (inner first), so
 * nodes are built in topological order; a statement's own node is named
 * before ir_finish_node so inference errors name it.
 */
#include "parser.tab.h"
#include "lexer.yy.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <string.h>

/* ------------------------------------------------------------ helpers */

static const char *type_text(const Type *t, char *buf, size_t size)
{
    return type_str(t, buf, size);
}

bool fe_keyword(ParseState *ps, const char *got, const char *want, Loc loc)
{
    if (strcmp(got, want) == 0)
        return true;
    diag_error(ps->ctx, loc, "expected '%s', got '%s'", want, got);
    return false;
}

bool fe_named_number(ParseState *ps, const char *s, Loc loc, FeNum *out)
{
    if (strcmp(s, "inf") == 0)
        *out = (FeNum){.is_float = true, .f = INFINITY, .loc = loc};
    else if (strcmp(s, "nan") == 0)
        *out = (FeNum){.is_float = true, .f = NAN, .loc = loc};
    else {
        diag_error(ps->ctx, loc, "expected a number, got '%s'", s);
        return false;
    }
    return true;
}

FeNumList *fe_nums_push(ParseState *ps, FeNumList *l, const FeNum *v)
{
    if (!l)
        l = arena_alloc(ps->ctx->arena, sizeof *l);
    VEC_PUSH(ps->ctx->arena, l->items, l->n, l->cap) = *v;
    return l;
}

/* All ints make an int list; one float makes the whole list floats. */
void fe_nums_attr(ParseState *ps, const FeNumList *l, Attr *out)
{
    bool any_float = false;
    for (int i = 0; i < l->n; i++)
        any_float |= l->items[i].is_float;
    *out = (Attr){.type = any_float ? AT_FLOATS : AT_INTS, .n = l->n};
    size_t n = (size_t)(l->n ? l->n : 1);
    if (any_float) {
        out->floats = arena_alloc(ps->ctx->arena, n * sizeof *out->floats);
        for (int i = 0; i < l->n; i++)
            out->floats[i] = l->items[i].f;
    } else {
        out->ints = arena_alloc(ps->ctx->arena, n * sizeof *out->ints);
        for (int i = 0; i < l->n; i++)
            out->ints[i] = l->items[i].i;
    }
}

FeAttrList *fe_attrs_push(ParseState *ps, FeAttrList *l, const FeAttr *a)
{
    if (!l)
        l = arena_alloc(ps->ctx->arena, sizeof *l);
    VEC_PUSH(ps->ctx->arena, l->items, l->n, l->cap) = *a;
    return l;
}

FeLhsList *fe_lhs_push(ParseState *ps, FeLhsList *l, const FeLhs *v)
{
    if (!l)
        l = arena_alloc(ps->ctx->arena, sizeof *l);
    VEC_PUSH(ps->ctx->arena, l->items, l->n, l->cap) = *v;
    return l;
}

/* ------------------------------------------------------------- graph */

bool fe_graph_begin(ParseState *ps, const char *kw, Loc kwloc, const char *name)
{
    if (!fe_keyword(ps, kw, "graph", kwloc))
        return false;
    ps->g->name = name;
    return true;
}

bool fe_graph_end(ParseState *ps, Loc loc)
{
    if (ps->g->noutputs == 0) {
        diag_error(ps->ctx, loc, "graph '%s' has no output (add `output NAME`)", ps->g->name);
        return false;
    }
    return true;
}

bool fe_output(ParseState *ps, const char *name, Loc loc)
{
    int v = fe_value_ref(ps, name, loc);
    return v >= 0 && ir_add_output(ps->ctx, ps->g, v, loc);
}

int fe_value_ref(ParseState *ps, const char *name, Loc loc)
{
    int v = ir_find_value(ps->g, name);
    if (v < 0)
        diag_error(ps->ctx, loc, "'%s' is not defined", name);
    return v;
}

/* -------------------------------------------------------------- types */

bool fe_add_dim(ParseState *ps, FeDims *dims, const FeNum *d)
{
    if (dims->n == IR_MAX_RANK) {
        diag_error(ps->ctx, d->loc, "too many dimensions: the maximum rank is %d", IR_MAX_RANK);
        return false;
    }
    dims->d[dims->n++] = d->i;
    return true;
}

static const FeAttr *find_attr(const FeAttrList *l, const char *name)
{
    for (int i = 0; i < l->n; i++)
        if (strcmp(l->items[i].name, name) == 0)
            return &l->items[i];
    return NULL;
}

/* {scale = s | [s...], zero = z | [z...], axis = a}: a list of scales is
 * per axis and needs the axis; zero points default to 0. */
static Quant *make_quant(ParseState *ps, const Type *t, const FeAttrList *l, Loc qloc)
{
    Ctx *c = ps->ctx;
    for (int i = 0; i < l->n; i++) {
        const FeAttr *a = &l->items[i];
        if (strcmp(a->name, "scale") && strcmp(a->name, "zero") && strcmp(a->name, "axis")) {
            diag_error(c, a->loc, "unknown quantization parameter '%s' (expected scale, zero, axis)",
                       a->name);
            return NULL;
        }
        if (find_attr(l, a->name) != a) {
            diag_error(c, a->loc, "quantization parameter '%s' is given twice", a->name);
            return NULL;
        }
    }
    const FeAttr *scale = find_attr(l, "scale"), *zero = find_attr(l, "zero"),
                 *axis = find_attr(l, "axis");
    char ts[160];
    if (dtype_is_float(t->dtype)) {
        diag_error(c, qloc, "quantization parameters on float type %s", type_text(t, ts, sizeof ts));
        return NULL;
    }
    if (!scale) {
        diag_error(c, qloc, "quantization parameters need a scale");
        return NULL;
    }
    Quant *q = arena_alloc(c->arena, sizeof *q);
    q->axis = -1;
    const Attr *s = &scale->val;
    bool per_axis = s->type == AT_INTS || s->type == AT_FLOATS;
    if (s->type == AT_STR) {
        diag_error(c, scale->loc, "scale must be a number or a list of numbers");
        return NULL;
    }
    if (per_axis) {
        if (!axis || axis->val.type != AT_INT) {
            diag_error(c, scale->loc, "a list of scales needs an int `axis` (per-axis quantization)");
            return NULL;
        }
        int64_t ax = axis->val.i;
        if (ax < -t->rank || ax >= t->rank) {
            diag_error(c, axis->loc, "quantization axis %lld is out of range for %s",
                       (long long)ax, type_text(t, ts, sizeof ts));
            return NULL;
        }
        q->axis = (int)(ax < 0 ? ax + t->rank : ax);
        if (s->n != t->dims[q->axis]) {
            diag_error(c, scale->loc, "%d scales for axis %d of %s, which has %lld entries", s->n,
                       q->axis, type_text(t, ts, sizeof ts), (long long)t->dims[q->axis]);
            return NULL;
        }
        q->n = s->n;
    } else {
        if (axis) {
            diag_error(c, axis->loc, "`axis` needs a list of scales (one per entry of the axis)");
            return NULL;
        }
        q->n = 1;
    }
    q->scale = arena_alloc(c->arena, (size_t)(q->n ? q->n : 1) * sizeof *q->scale);
    for (int i = 0; i < q->n; i++) {
        double v = !per_axis ? (s->type == AT_INT ? (double)s->i : s->f)
                   : s->type == AT_INTS ? (double)s->ints[i] : s->floats[i];
        q->scale[i] = (float)v;
    }
    q->nzero = 1;
    q->zero = arena_alloc(c->arena, (size_t)(q->n ? q->n : 1) * sizeof *q->zero);
    if (zero) {
        const Attr *z = &zero->val;
        if (z->type == AT_INTS && (z->n == q->n || z->n == 1) && per_axis) {
            q->nzero = z->n;
            for (int i = 0; i < z->n; i++)
                q->zero[i] = (int32_t)z->ints[i];
        } else if (z->type == AT_INT) {
            q->zero[0] = (int32_t)z->i;
        } else {
            diag_error(c, zero->loc, "zero must be an int%s", per_axis ? " or a list of one int per scale" : "");
            return NULL;
        }
    }
    return q;
}

bool fe_make_type(ParseState *ps, const char *dtype, Loc loc, const FeDims *dims,
                  const FeAttrList *quant, Loc qloc, Type *out)
{
    DType dt = dtype_from_name(dtype);
    if (dt == DT_NONE) {
        char known[128] = "";
        size_t len = 0;
        for (int t = 1; t < DT_COUNT; t++)
            len += (size_t)snprintf(known + len, sizeof known - len, "%s%s", t > 1 ? ", " : "",
                                    dtype_name((DType)t));
        diag_error(ps->ctx, loc, "unknown dtype '%s' (known: %s)", dtype, known);
        return false;
    }
    for (int i = 0; i < dims->n; i++)
        if (dims->d[i] < 0) {
            diag_error(ps->ctx, loc, "dimension %d of the type is negative (%lld)", i,
                       (long long)dims->d[i]);
            return false;
        }
    *out = type_make(dt, dims->n, dims->d);
    if (quant && !(out->quant = make_quant(ps, out, quant, qloc)))
        return false;
    return true;
}

/* -------------------------------------------------------------- consts */

static bool int_in_range(DType dt, int64_t v)
{
    switch (dt) {
    case DT_I8: return v >= INT8_MIN && v <= INT8_MAX;
    case DT_U8: return v >= 0 && v <= UINT8_MAX;
    case DT_I16: return v >= INT16_MIN && v <= INT16_MAX;
    case DT_I32: return v >= INT32_MIN && v <= INT32_MAX;
    case DT_BOOL: return v == 0 || v == 1;
    default: return true;
    }
}

/* Converts an inline list to the const's element type. */
static void *list_data(ParseState *ps, const char *name, const Type *t, const FeData *d)
{
    Ctx *c = ps->ctx;
    int n = d->nums ? d->nums->n : 0;
    char ts[160];
    if (n != type_numel(t)) {
        diag_error(c, d->loc, "const '%s' has %d value%s, but %s has %lld element%s", name, n,
                   n == 1 ? "" : "s", type_text(t, ts, sizeof ts), (long long)type_numel(t),
                   type_numel(t) == 1 ? "" : "s");
        return NULL;
    }
    unsigned char *data = arena_alloc(c->arena, type_bytes(t) ? type_bytes(t) : 1);
    for (int i = 0; i < n; i++) {
        const FeNum *v = &d->nums->items[i];
        if (t->dtype == DT_F32) {
            ((float *)data)[i] = (float)v->f;
            continue;
        }
        if (v->is_float) {
            diag_error(c, v->loc, "const '%s' is %s, but %g is not an integer", name,
                       dtype_name(t->dtype), v->f);
            return NULL;
        }
        if (!int_in_range(t->dtype, v->i)) {
            diag_error(c, v->loc, "value %lld is out of range for %s (const '%s')",
                       (long long)v->i, dtype_name(t->dtype), name);
            return NULL;
        }
        switch (t->dtype) {
        case DT_I8: ((int8_t *)data)[i] = (int8_t)v->i; break;
        case DT_U8: case DT_BOOL: data[i] = (unsigned char)v->i; break;
        case DT_I16: ((int16_t *)data)[i] = (int16_t)v->i; break;
        case DT_I32: ((int32_t *)data)[i] = (int32_t)v->i; break;
        case DT_I64: ((int64_t *)data)[i] = v->i; break;
        default: unreachable("dtype without a const conversion");
        }
    }
    return data;
}

static void *npy_data(ParseState *ps, const char *name, const Type *t, const FeData *d)
{
    const char *path = d->npy;
    if (path[0] != '/' && ps->dir[0])
        path = arena_printf(ps->ctx->arena, "%s/%s", ps->dir, d->npy);
    Type got;
    void *data;
    if (!fe_read_npy(ps->ctx, path, d->loc, &got, &data))
        return NULL;
    if (!type_equal(&got, t)) {
        char a[160], b[160];
        diag_error(ps->ctx, d->loc, "'%s' holds %s, but const '%s' is declared %s", d->npy,
                   type_text(&got, a, sizeof a), name, type_text(t, b, sizeof b));
        return NULL;
    }
    return data;
}

bool fe_declare(ParseState *ps, const char *kw, Loc kwloc, const char *name, Loc nameloc,
                const Type *t, const FeData *data)
{
    Ctx *c = ps->ctx;
    if (strcmp(kw, "input") == 0) {
        if (data) {
            diag_error(c, data->loc, "input '%s' cannot have data (use const)", name);
            return false;
        }
        return ir_add_input(c, ps->g, name, *t, nameloc) >= 0;
    }
    if (strcmp(kw, "const") != 0) {
        diag_error(c, kwloc, "expected 'input' or 'const', got '%s'", kw);
        return false;
    }
    if (!data) {
        diag_error(c, nameloc, "const '%s' needs data: `= [...]` or `= npy(\"file.npy\")`", name);
        return false;
    }
    if (ir_find_value(ps->g, name) >= 0)
        return ir_add_const(c, ps->g, name, *t, NULL, nameloc) >= 0; /* reports the duplicate */
    void *bytes = data->npy ? npy_data(ps, name, t, data) : list_data(ps, name, t, data);
    if (!bytes)
        return false;
    int v = ir_add_const(c, ps->g, name, *t, bytes, nameloc);
    if (v < 0)
        return false;
    if (data->npy)
        ir_value(ps->g, v)->npy = data->npy;
    return true;
}

/* --------------------------------------------------------------- nodes */

FeCall *fe_call_arg(ParseState *ps, FeCall *call, const FeArg *arg)
{
    Arena *a = ps->ctx->arena;
    if (!call)
        call = arena_alloc(a, sizeof *call);
    if (!arg)
        return call;
    if (arg->is_attr) {
        VEC_PUSH(a, call->attrs, call->nattrs, call->capattrs) = arg->attr;
        return call;
    }
    if (call->nattrs) {
        diag_error(ps->ctx, arg->loc, "input after an attribute: inputs come first");
        return NULL;
    }
    VEC_PUSH(a, call->in, call->nin, call->capin) = arg->value;
    return call;
}

/* Creates the node (unnamed outputs) with its attributes set; -1 after a
 * diagnostic. */
static int build_node(ParseState *ps, const FeCall *call, int nout)
{
    int op = op_by_name(call->op);
    if (op < 0) {
        const char *near = op_closest_name(call->op);
        if (near)
            diag_error(ps->ctx, call->loc, "unknown op '%s'; did you mean '%s'?", call->op, near);
        else
            diag_error(ps->ctx, call->loc, "unknown op '%s' (known ops: %s)", call->op,
                       op_names_list(ps->ctx->arena));
        return -1;
    }
    for (int i = 0; i < call->nattrs; i++)
        for (int j = 0; j < i; j++)
            if (strcmp(call->attrs[i].name, call->attrs[j].name) == 0) {
                diag_error(ps->ctx, call->attrs[i].loc, "attribute '%s' is given twice",
                           call->attrs[i].name);
                return -1;
            }
    int node = ir_new_node(ps->ctx, ps->g, op, call->in, call->nin, nout, call->loc);
    for (int i = 0; i < call->nattrs; i++)
        if (!ir_set_attr(ps->ctx, ps->g, node, call->attrs[i].name, &call->attrs[i].val,
                         call->attrs[i].loc))
            return -1;
    return node;
}

bool fe_nested_call(ParseState *ps, FeCall *call, int *value)
{
    int node = build_node(ps, call, 1);
    if (node < 0 || !ir_finish_node(ps->ctx, ps->g, node))
        return false;
    *value = ir_node(ps->g, node)->out[0];
    return true;
}

bool fe_node_stmt(ParseState *ps, const FeLhsList *lhs, FeCall *call)
{
    Ctx *c = ps->ctx;
    Graph *g = ps->g;
    int node = build_node(ps, call, lhs->n);
    if (node < 0)
        return false;
    for (int i = 0; i < lhs->n; i++) {
        const FeLhs *l = &lhs->items[i];
        int v = ir_node(g, node)->out[i];
        if (!ir_rename_value(c, g, v, l->name, l->loc))
            return false;
        /* Quantization given on the annotation is kept by inference. */
        if (l->typed)
            ir_value(g, v)->type.quant = l->type.quant;
    }
    if (!ir_finish_node(c, g, node))
        return false;
    for (int i = 0; i < lhs->n; i++) {
        const FeLhs *l = &lhs->items[i];
        const Type *got = &ir_value(g, ir_node(g, node)->out[i])->type;
        if (l->typed && !type_equal(got, &l->type)) {
            char d[160], a[160], b[160];
            ir_node_desc(g, ir_node(g, node), d, sizeof d);
            diag_error(c, l->tloc, "%s: '%s' is annotated %s, but its inferred type is %s", d,
                       l->name, type_text(&l->type, a, sizeof a), type_text(got, b, sizeof b));
            return false;
        }
    }
    return true;
}

/* -------------------------------------------------------- entry points */

static const char *dir_of(Arena *a, const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return "";
    if (slash == path)
        return "/";
    return arena_strndup(a, path, (size_t)(slash - path));
}

/* Parses `text`, which lives in the arena (diagnostics print from it). */
static Graph *parse_text(Ctx *c, const char *path, const char *text, size_t len)
{
    int before = c->nerrors;
    if (len > INT_MAX - 2) {
        diag_error(c, (Loc){path, 0, 0}, "file too large (%zu bytes)", len);
        return NULL;
    }
    ctx_add_source(c, path, text, len);
    ParseState ps = {
        .ctx = c,
        .g = ir_new_graph(c->arena, "graph"),
        .path = arena_strdup(c->arena, path),
        .dir = dir_of(c->arena, path),
        .line = 1,
        .col = 1,
    };
    ps.g->path = ps.path;
    yyscan_t scanner;
    if (etch_yylex_init_extra(&ps, &scanner) != 0) {
        diag_error(c, (Loc){ps.path, 0, 0}, "cannot start the lexer: %s", strerror(errno));
        return NULL;
    }
    YY_BUFFER_STATE buf = etch_yy_scan_bytes(text, (int)len, scanner);
    int rc = etch_yyparse(scanner, &ps);
    etch_yy_delete_buffer(buf, scanner);
    etch_yylex_destroy(scanner);
    if (rc != 0 || c->nerrors != before) {
        /* An abort without a message (bison's memory exhaustion) still
         * has to count as an error for the caller. */
        if (c->nerrors == before)
            diag_error(c, (Loc){ps.path, 0, 0}, "parse failed");
        return NULL;
    }
    return ps.g;
}

Graph *fe_parse_string(Ctx *c, const char *path, const char *text)
{
    size_t len = strlen(text);
    return parse_text(c, path, arena_strndup(c->arena, text, len), len);
}

Graph *fe_parse_file(Ctx *c, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        diag_error(c, (Loc){path, 0, 0}, "cannot open: %s", strerror(errno));
        return NULL;
    }
    char *text = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 4096 + 1 > cap) {
            size_t ncap = cap ? cap * 2 : 65536;
            char *grown = arena_alloc(c->arena, ncap);
            if (len)
                memcpy(grown, text, len);
            text = grown;
            cap = ncap;
        }
        size_t got = fread(text + len, 1, cap - len - 1, f);
        len += got;
        if (got == 0)
            break;
    }
    bool bad = ferror(f);
    fclose(f);
    if (bad) {
        diag_error(c, (Loc){path, 0, 0}, "cannot read: %s", strerror(errno));
        return NULL;
    }
    text[len] = 0;
    if (strlen(text) != len) {
        diag_error(c, (Loc){path, 0, 0}, "not a text file (contains a NUL byte)");
        return NULL;
    }
    return parse_text(c, path, text, len);
}
