/* lower.c: the `lower` pass (Graph IR -> Loop IR) and the helpers the
 * per-op lowerings share.
 *
 * pass_lower makes one Program per module: a buffer per live tensor and the
 * kernels of every live node, in graph order. Buffers:
 *   BK_INPUT  one per graph input, in g->inputs order (Buffer.index = position)
 *   BK_OUTPUT one per graph output, in g->outputs order; an output that no
 *             node produces (an input or a const) gets its own buffer and a
 *             copy kernel
 *   BK_CONST  `w<id>` for each const some kernel reads (data = Value.data)
 *   BK_TEMP   `t<id>` for every other intermediate; the planner sets offsets
 * Invariants: buffer names are C identifiers, unique in the program, never a
 * C keyword, a libm/runtime name, `ws`, `workspace`, `etch_*`, a kernel name
 * k<N>_*, a loop variable i<N> or `<prefix>_*` (such names get a `v_`
 * prefix, collisions a `_<N>` suffix); no tensor reaches 2^31
 * elements, because emitted index arithmetic is 32-bit `int`.
 */
#include "passes.h"

#include <assert.h>
#include <ctype.h>
#include <string.h>

/* ------------------------------------------------------------------ names */

static const char *const reserved_words[] = {
    /* C99/C11 keywords */
    "auto", "break", "case", "char", "const", "continue", "default", "do", "double", "else",
    "enum", "extern", "float", "for", "goto", "if", "inline", "int", "long", "register",
    "restrict", "return", "short", "signed", "sizeof", "static", "struct", "switch",
    "typedef", "union", "unsigned", "void", "volatile", "while", "_Alignas", "_Alignof",
    "_Atomic", "_Bool", "_Complex", "_Generic", "_Imaginary", "_Noreturn", "_Static_assert",
    "_Thread_local",
    /* names emitted code and its headers use */
    "ws", "workspace", "inputs", "outputs", "main", "bool", "true", "false", "NULL",
    "INFINITY", "NAN", "size_t", "int8_t", "uint8_t", "int16_t", "int32_t", "int64_t",
    "uint16_t", "uint32_t", "uint64_t", "uintptr_t", "ptrdiff_t", "memcpy", "memset",
    "expf", "logf", "sqrtf", "tanhf", "erff", "floorf", "ceilf", "roundf", "sinf", "cosf",
    "powf", "fabsf", "fminf", "fmaxf", "fmodf",
    "exp", "log", "sqrt", "tanh", "erf", "floor", "ceil", "round", "sin", "cos", "pow",
    "fabs", "fmin", "fmax", "fmod", "abs",
};

static bool starts_with_ci(const char *s, const char *prefix)
{
    for (; *prefix; s++, prefix++)
        if (tolower((unsigned char)*s) != tolower((unsigned char)*prefix))
            return false;
    return true;
}

/* `<letter><digits>` or `<letter><digits>_...`: the shapes of loop
 * variables (i3) and kernel names (k3_conv). */
static bool letter_digits(const char *s, char letter, bool need_underscore)
{
    if (s[0] != letter || !isdigit((unsigned char)s[1]))
        return false;
    const char *q = s + 1;
    while (isdigit((unsigned char)*q))
        q++;
    return need_underscore ? *q == '_' : *q == '\0';
}

static bool name_reserved(const Program *p, const char *s)
{
    for (size_t i = 0; i < sizeof reserved_words / sizeof reserved_words[0]; i++)
        if (strcmp(s, reserved_words[i]) == 0)
            return true;
    if (starts_with_ci(s, "etch_") || letter_digits(s, 'k', true) || letter_digits(s, 'i', false))
        return true;
    /* Identifiers starting with `__` or `_X` are the C implementation's. */
    if (s[0] == '_' && (s[1] == '_' || isupper((unsigned char)s[1])))
        return true;
    size_t plen = strlen(p->name);
    if (strncmp(s, p->name, plen) == 0 && s[plen] == '_')
        return true; /* PREFIX_run, PREFIX_WORKSPACE_SIZE, ... */
    return strcmp(s, p->name) == 0;
}

static bool name_taken(const Program *p, const char *s)
{
    for (int i = 0; i < p->nbufs; i++)
        if (strcmp(p->bufs[i].name, s) == 0)
            return true;
    return name_reserved(p, s);
}

/* Any string as a C identifier: other chars -> '_', a leading digit or an
 * empty name gets a `v_` prefix. */
static char *sanitize_ident(Arena *a, const char *s)
{
    size_t n = strlen(s);
    bool lead = n == 0 || isdigit((unsigned char)s[0]);
    char *out = arena_alloc(a, n + 3), *q = out;
    if (lead) {
        *q++ = 'v';
        *q++ = '_';
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        *q++ = (char)((isalnum(ch) && ch < 128) || ch == '_' ? ch : '_');
    }
    *q = '\0';
    return out;
}

/* `base` escaped out of the reserved names with `v_` prefixes, then made
 * unique among the buffers with a `_<N>` suffix. */
static const char *unique_name(Program *p, const char *base)
{
    for (;;) {
        while (name_reserved(p, base))
            base = arena_printf(p->arena, "v_%s", base);
        if (!name_taken(p, base))
            return base;
        for (int i = 1;; i++) {
            const char *s = arena_printf(p->arena, "%s_%d", base, i);
            if (name_reserved(p, s))
                break; /* e.g. k3 -> k3_1: every suffix is reserved, escape base */
            if (!name_taken(p, s))
                return s;
        }
        base = arena_printf(p->arena, "v_%s", base);
    }
}

/* ---------------------------------------------------------------- buffers */

static int add_value_buf(LowerCtx *lc, int value, BufKind kind, const char *base)
{
    const Value *v = ir_value(lc->g, value);
    Program *p = lc->p;
    int b = loop_add_buffer(p, unique_name(p, base), kind, v->type.dtype, type_numel(&v->type));
    p->bufs[b].value = value;
    if (kind == BK_CONST)
        p->bufs[b].data = v->data;
    return b;
}

int lower_table(Program *p, const char *base, DType dt, int64_t numel, const void *data)
{
    int b = loop_add_buffer(p, unique_name(p, base), BK_CONST, dt, numel);
    p->bufs[b].data = data;
    return b;
}

int lower_scratch(Program *p, const char *base, DType dt, int64_t numel)
{
    return loop_add_buffer(p, unique_name(p, base), BK_TEMP, dt, numel);
}

int lower_buf(LowerCtx *lc, int value)
{
    Program *p = lc->p;
    if (value < 0 || value >= lc->g->nvalues)
        unreachable("lower_buf: no such value");
    if (p->value_buf[value] >= 0)
        return p->value_buf[value];
    const Value *v = ir_value(lc->g, value);
    int b;
    switch (v->kind) {
    case VK_CONST:
        b = add_value_buf(lc, value, BK_CONST, arena_printf(p->arena, "w%d", value));
        break;
    case VK_NODE:
        b = add_value_buf(lc, value, BK_TEMP, arena_printf(p->arena, "t%d", value));
        break;
    case VK_INPUT:
    default:
        /* Inputs are bound before any kernel is lowered. */
        unreachable("lower_buf: graph input without a buffer");
    }
    p->value_buf[value] = b;
    return b;
}

/* ---------------------------------------------------------------- kernels */

static void append_types(char **s, Arena *a, const Graph *g, const int *ids, int n)
{
    for (int i = 0; i < n; i++) {
        char t[128];
        if (ids[i] < 0)
            snprintf(t, sizeof t, "_");
        else
            type_str(&g->values[ids[i]].type, t, sizeof t);
        *s = arena_printf(a, "%s%s%s", *s, i ? ", " : "", t);
    }
}

static const char *loc_str(Arena *a, Loc loc)
{
    if (!loc.file)
        return "";
    if (loc.line == 0)
        return arena_printf(a, " at %s", loc.file);
    return arena_printf(a, " at %s:%d:%d", loc.file, loc.line, loc.col);
}

Kernel *lower_kernel(LowerCtx *lc, const Node *n)
{
    Program *p = lc->p;
    const Graph *g = lc->g;
    const char *op = op_info(n->op)->name;
    const char *out = n->nout > 0 ? g->values[n->out[0]].name : "?";
    char *comment = arena_printf(p->arena, "%s '%s'%s: ", op, out, loc_str(p->arena, n->loc));
    append_types(&comment, p->arena, g, n->in, n->nin);
    comment = arena_printf(p->arena, "%s -> ", comment);
    append_types(&comment, p->arena, g, n->out, n->nout);
    int node = (int)(n - g->nodes);
    return loop_new_kernel(p, arena_printf(p->arena, "k%d_%s", p->nkernels, op), comment, node);
}

Expr *lower_index(Program *p, const Type *t, Expr **idx)
{
    int64_t strides[IR_MAX_RANK];
    type_strides(t, strides);
    Expr *e = ex_int(p, 0);
    for (int d = 0; d < t->rank; d++)
        e = ex_add(p, e, ex_muli(p, idx[d], strides[d]));
    return e;
}

Expr *lower_bcast_index(Program *p, const Type *in, const Type *out, Expr **out_idx)
{
    assert(in->rank <= out->rank);
    int64_t strides[IR_MAX_RANK];
    type_strides(in, strides);
    int shift = out->rank - in->rank;
    Expr *e = ex_int(p, 0);
    for (int d = 0; d < in->rank; d++)
        if (in->dims[d] != 1)
            e = ex_add(p, e, ex_muli(p, out_idx[d + shift], strides[d]));
    return e;
}

Stmt *lower_nest(Program *p, Kernel *k, Stmt *into, const Type *t, int *vars)
{
    Stmt *body = into;
    for (int d = 0; d < t->rank; d++) {
        vars[d] = loop_new_var(k);
        Stmt *loop = st_for_n(p, vars[d], t->dims[d], LOOP_PARALLEL);
        st_append(p, body, loop);
        body = loop->body;
    }
    return body;
}

/* A graph output that is a graph input or a const still needs a buffer of
 * its own, filled by a flat copy. */
static void lower_output_copy(LowerCtx *lc, int value, int src, int dst)
{
    Program *p = lc->p;
    const Value *v = ir_value(lc->g, value);
    char t[128];
    type_str(&v->type, t, sizeof t);
    const char *what = v->kind == VK_INPUT ? "graph input" : "const";
    const char *comment = arena_printf(p->arena, "output '%s' (a %s)%s: %s -> %s", v->name, what,
                                       loc_str(p->arena, v->loc), t, t);
    Kernel *k = loop_new_kernel(p, arena_printf(p->arena, "k%d_copy", p->nkernels), comment, -1);
    int i = loop_new_var(k);
    Stmt *loop = st_for_n(p, i, type_numel(&v->type), LOOP_PARALLEL);
    st_append(p, k->body, loop);
    st_append(p, loop->body, st_store(p, dst, ex_var(p, i), ex_load(p, src, ex_var(p, i))));
}

/* ------------------------------------------------------------------- pass */

/* Emitted code indexes with 32-bit `int`; a bigger tensor is a user error. */
static bool check_sizes(Ctx *c, const Graph *g)
{
    const int64_t limit = (int64_t)1 << 31;
    bool ok = true;
    for (int i = 0; i < g->nvalues; i++) {
        const Value *v = &g->values[i];
        if (v->dead || type_numel(&v->type) < limit)
            continue;
        char t[128];
        type_str(&v->type, t, sizeof t);
        Loc loc = v->loc;
        if (v->producer >= 0 && !loc.file)
            loc = g->nodes[v->producer].loc;
        diag_error(c, loc, "tensor '%s' (%s) has %lld elements; etch indexes tensors with 32-bit "
                   "int, so at most 2147483647", v->name, t, (long long)type_numel(&v->type));
        ok = false;
    }
    return ok;
}

static const char *program_prefix(Arena *a, const Module *m)
{
    const char *s = sanitize_ident(a, m->prefix ? m->prefix : m->graph->name);
    for (size_t i = 0; i < sizeof reserved_words / sizeof reserved_words[0]; i++)
        if (strcmp(s, reserved_words[i]) == 0)
            return arena_printf(a, "%s_model", s);
    if (starts_with_ci(s, "etch_"))
        return arena_printf(a, "m_%s", s);
    return s;
}

bool pass_lower(Ctx *c, Module *m)
{
    const Graph *g = m->graph;
    Arena *a = g->arena;
    if (!check_sizes(c, g))
        return false;
    Program *p = loop_new_program(a, program_prefix(a, m));
    p->value_buf = arena_alloc(a, (size_t)(g->nvalues ? g->nvalues : 1) * sizeof *p->value_buf);
    for (int i = 0; i < g->nvalues; i++)
        p->value_buf[i] = -1;
    LowerCtx lc = {.ctx = c, .g = g, .p = p, .target = module_target(m)};

    /* Entry arguments first, so they keep their own names. */
    for (int i = 0; i < g->ninputs; i++) {
        int v = g->inputs[i];
        int b = add_value_buf(&lc, v, BK_INPUT, sanitize_ident(a, g->values[v].name));
        p->bufs[b].index = i;
        p->value_buf[v] = b;
        VEC_PUSH(a, p->inputs, p->ninputs, p->capinputs) = b;
    }
    for (int i = 0; i < g->noutputs; i++) {
        int v = g->outputs[i];
        int b = add_value_buf(&lc, v, BK_OUTPUT, sanitize_ident(a, g->values[v].name));
        p->bufs[b].index = i;
        if (g->values[v].kind == VK_NODE)
            p->value_buf[v] = b;
        VEC_PUSH(a, p->outputs, p->noutputs, p->capoutputs) = b;
    }

    for (int i = 0; i < g->nnodes; i++) {
        const Node *n = &g->nodes[i];
        if (n->dead)
            continue;
        int errors = c->nerrors;
        if (!op_info(n->op)->lower(&lc, n) || c->nerrors > errors)
            return false;
    }
    for (int i = 0; i < g->noutputs; i++) {
        int v = g->outputs[i];
        if (g->values[v].kind != VK_NODE)
            lower_output_copy(&lc, v, lower_buf(&lc, v), p->outputs[i]);
    }
    m->prog = p;
    return true;
}

Stmt *lower_loop(Program *p, Kernel *k, Stmt *into, int64_t n, unsigned flags, Expr **var)
{
    if (n == 1) {
        *var = ex_int(p, 0);
        return into;
    }
    int v = loop_new_var(k);
    Stmt *s = st_for_n(p, v, n, flags);
    st_append(p, into, s);
    *var = ex_var(p, v);
    return s->body;
}

Stmt *lower_step_loop(Program *p, Kernel *k, Stmt *into, int64_t a, int64_t b, int64_t step,
                      unsigned flags, Expr **var)
{
    if (b - a <= step) {
        *var = ex_int(p, a);
        return into;
    }
    int v = loop_new_var(k);
    Stmt *l = st_for(p, v, ex_int(p, a), ex_int(p, b), step, flags);
    st_append(p, into, l);
    *var = ex_var(p, v);
    return l->body;
}

int64_t lower_prod(const int64_t *dims, int from, int to)
{
    int64_t n = 1;
    for (int d = from; d < to; d++)
        n *= dims[d];
    return n;
}

Stmt *lower_accumulate(Program *p, Kernel *k, int l, BinOp op, Expr *v)
{
    return st_set(p, l, ex_bin(p, op, ex_local(p, k, l), v));
}

bool lower_check_f32(LowerCtx *lc, const Node *n)
{
    for (int i = 0; i < n->nin + n->nout; i++) {
        int v = i < n->nin ? n->in[i] : n->out[i - n->nin];
        if (v < 0)
            continue;
        const Type *t = &ir_value(lc->g, v)->type;
        if (t->dtype != DT_F32 || t->quant) {
            char desc[128], ty[96];
            diag_error(lc->ctx, n->loc, "cannot lower %s: %s '%s' is %s; only f32 is supported",
                       ir_node_desc(lc->g, n, desc, sizeof desc), i < n->nin ? "input" : "output",
                       ir_value(lc->g, v)->name, type_str(t, ty, sizeof ty));
            return false;
        }
    }
    return true;
}
