/* fused.c: the `fused` op, a DAG of elementwise ops computed as one.
 *
 * The fuse-elementwise pass (passes/fuse.c) turns a chain of elementwise
 * ops into one `fused` node. The node's inputs are the chain's inputs; its
 * body is its `expr` attribute, the ops written in the graph language's
 * call syntax over the inputs $0, $1, ...:
 *
 *   y : f32[1, 64] = fused(x, b, s, expr = "relu(mul(add($0, $1), $2))")
 *
 * A value the body uses more than once is bound once, in order, before the
 * result: "%0 = sub($0, $1); mul(%0, %0)". An op's attributes follow its
 * operands as in a graph-language call, strings as bare words:
 * "clip($0, min = 0, max = 6)", "cast($0, to = i32)". So a dump shows the
 * fused ops, and parses back in as any string attribute does.
 *
 * Everything else reads the body as a graph of its own (ir_fused_body),
 * built with the IR builder, so each op's inference runs on its operands
 * as it would in the graph: inference takes the result's type from it,
 * the reference interprets it (each op's own reference, intermediates
 * stored in their dtypes, as if the chain were not fused), and lowering
 * composes the ops' expression templates in one loop nest
 * (passes/lower_eltwise.c).
 */
#include "ir.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------- printing */

typedef struct {
    Arena *a;
    char *s;
    size_t len, cap;
} Buf;

static void put(Buf *b, const char *s)
{
    size_t n = strlen(s);
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 128;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *s2 = arena_alloc(b->a, cap);
        if (b->len)
            memcpy(s2, b->s, b->len);
        b->s = s2;
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n + 1);
    b->len += n;
}

static void putf(Buf *b, const char *fmt, ...) IR_PRINTF(2, 3);
static void putf(Buf *b, const char *fmt, ...)
{
    char tmp[64];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    put(b, tmp);
}

/* The shortest %g form that reads back as the same double (as print.c). */
static void put_f64(Buf *b, double v)
{
    if (isnan(v)) {
        put(b, "nan");
        return;
    }
    if (isinf(v)) {
        put(b, v < 0 ? "-inf" : "inf");
        return;
    }
    char tmp[40];
    for (int p = 15; p <= 17; p++) {
        snprintf(tmp, sizeof tmp, "%.*g", p, v);
        if (strtod(tmp, NULL) == v)
            break;
    }
    put(b, tmp);
}

static bool is_word(const char *s)
{
    if (!isalpha((unsigned char)s[0]) && s[0] != '_')
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_')
            return false;
    return true;
}

bool ir_fused_attr_ok(const Attr *a)
{
    return a->type != AT_STR || is_word(a->s);
}

static void put_attr(Buf *b, const Attr *a)
{
    switch (a->type) {
    case AT_INT: putf(b, "%lld", (long long)a->i); break;
    case AT_FLOAT: put_f64(b, a->f); break;
    case AT_STR: put(b, a->s); break;
    case AT_INTS:
    case AT_FLOATS:
        put(b, "[");
        for (int i = 0; i < a->n; i++) {
            if (i)
                put(b, ", ");
            if (a->type == AT_INTS)
                putf(b, "%lld", (long long)a->ints[i]);
            else
                put_f64(b, a->floats[i]);
        }
        put(b, "]");
        break;
    case AT_NONE: unreachable("attribute without a type");
    }
}

typedef struct {
    const Graph *g;
    const int *nodes; int count;
    const int *ins; int nin;
    int *uses;      /* per member: reads of its output inside the body */
    int *let;       /* per member: its %k, or -1 when written in place */
    Buf b;
} Printer;

static int member_of(const Printer *pr, int value)
{
    const Value *v = ir_value(pr->g, value);
    if (v->kind != VK_NODE)
        return -1;
    for (int i = 0; i < pr->count; i++)
        if (pr->nodes[i] == v->producer)
            return i;
    return -1;
}

static void put_call(Printer *pr, int m);

static void put_operand(Printer *pr, int value)
{
    int m = member_of(pr, value);
    if (m >= 0) {
        if (pr->let[m] >= 0)
            putf(&pr->b, "%%%d", pr->let[m]);
        else
            put_call(pr, m);
        return;
    }
    for (int i = 0; i < pr->nin; i++)
        if (pr->ins[i] == value) {
            putf(&pr->b, "$%d", i);
            return;
        }
    unreachable("fused body reads a value that is neither an input nor a member");
}

static void put_call(Printer *pr, int m)
{
    const Node *n = ir_node(pr->g, pr->nodes[m]);
    const OpInfo *info = op_info(n->op);
    put(&pr->b, info->name);
    put(&pr->b, "(");
    for (int i = 0; i < n->nin; i++) {
        if (i)
            put(&pr->b, ", ");
        put_operand(pr, n->in[i]);
    }
    for (int i = 0; i < info->nattrs; i++) {
        if (!n->attrs[i].set)
            continue;
        put(&pr->b, ", ");
        put(&pr->b, info->attrs[i].name);
        put(&pr->b, " = ");
        put_attr(&pr->b, &n->attrs[i]);
    }
    put(&pr->b, ")");
}

char *ir_fused_expr(Arena *a, const Graph *g, const int *nodes, int count, const int *ins,
                    int nin)
{
    Printer pr = {.g = g, .nodes = nodes, .count = count, .ins = ins, .nin = nin, .b = {.a = a}};
    pr.uses = arena_alloc(a, sizeof *pr.uses * (size_t)(count + 1));
    pr.let = arena_alloc(a, sizeof *pr.let * (size_t)(count + 1));
    for (int i = 0; i < count; i++) {
        const Node *n = ir_node(g, nodes[i]);
        for (int j = 0; j < n->nin; j++) {
            int m = member_of(&pr, n->in[j]);
            if (m >= 0)
                pr.uses[m]++;
        }
    }
    int nlets = 0;
    for (int i = 0; i < count; i++) {
        pr.let[i] = -1;
        if (i < count - 1 && pr.uses[i] > 1) {
            /* Bound before anything reads it: members are in schedule order. */
            putf(&pr.b, "%%%d = ", nlets);
            put_call(&pr, i);
            put(&pr.b, "; ");
            pr.let[i] = nlets++;
        }
    }
    put_call(&pr, count - 1);
    return pr.b.s;
}

/* -------------------------------------------------------------- parsing */

typedef struct {
    Ctx *c;
    Graph *body;
    const Graph *g;
    const Node *n;
    const char *text, *p;
    int *lets; int nlets, caplets;
    bool failed;
} Parser;

static bool fail(Parser *ps, const char *what)
{
    if (!ps->failed) {
        char d[160];
        diag_error(ps->c, ps->n->loc, "%s: expr: %s at offset %d of \"%s\"",
                   ir_node_desc(ps->g, ps->n, d, sizeof d), what, (int)(ps->p - ps->text),
                   ps->text);
    }
    ps->failed = true;
    return false;
}

/* fail() for functions that return a value id. */
static int fail_id(Parser *ps, const char *what)
{
    fail(ps, what);
    return -1;
}

static void skip_ws(Parser *ps)
{
    while (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n')
        ps->p++;
}

static bool accept(Parser *ps, char ch)
{
    skip_ws(ps);
    if (*ps->p != ch)
        return false;
    ps->p++;
    return true;
}

static bool expect(Parser *ps, char ch)
{
    if (accept(ps, ch))
        return true;
    char msg[32];
    snprintf(msg, sizeof msg, "expected '%c'", ch);
    return fail(ps, msg);
}

/* A word [A-Za-z_][A-Za-z0-9_]* into the arena, or NULL. */
static char *word(Parser *ps)
{
    skip_ws(ps);
    const char *s = ps->p;
    if (!isalpha((unsigned char)*s) && *s != '_')
        return NULL;
    while (isalnum((unsigned char)*ps->p) || *ps->p == '_')
        ps->p++;
    return arena_strndup(ps->body->arena, s, (size_t)(ps->p - s));
}

static bool number(Parser *ps, long *out)
{
    skip_ws(ps);
    if (!isdigit((unsigned char)*ps->p))
        return fail(ps, "expected a number");
    char *end;
    *out = strtol(ps->p, &end, 10);
    ps->p = end;
    return true;
}

/* One scalar literal: a number, inf, -inf or nan; *is_int when integral
 * text. */
static bool scalar(Parser *ps, double *f, int64_t *i, bool *is_int)
{
    skip_ws(ps);
    const char *s = ps->p;
    bool neg = *s == '-';
    const char *q = neg ? s + 1 : s;
    if (strncmp(q, "inf", 3) == 0 && !isalnum((unsigned char)q[3])) {
        *f = neg ? -INFINITY : INFINITY;
        *is_int = false;
        ps->p = q + 3;
        return true;
    }
    if (!neg && strncmp(q, "nan", 3) == 0 && !isalnum((unsigned char)q[3])) {
        *f = NAN;
        *is_int = false;
        ps->p = q + 3;
        return true;
    }
    char *end;
    *f = strtod(s, &end);
    if (end == s)
        return fail(ps, "expected a value");
    *is_int = strcspn(s, ".eE") >= (size_t)(end - s) && strncmp(q, "0x", 2) != 0;
    if (*is_int)
        *i = strtoll(s, NULL, 10);
    ps->p = end;
    return true;
}

static bool attr_value(Parser *ps, Attr *a)
{
    memset(a, 0, sizeof *a);
    skip_ws(ps);
    if (accept(ps, '[')) {
        int cap = 8, n = 0;
        bool all_int = true;
        double *fl = arena_alloc(ps->body->arena, sizeof *fl * (size_t)cap);
        int64_t *in = arena_alloc(ps->body->arena, sizeof *in * (size_t)cap);
        if (!accept(ps, ']')) {
            do {
                double f;
                int64_t i = 0;
                bool is_int;
                if (!scalar(ps, &f, &i, &is_int))
                    return false;
                if (n == cap) {
                    cap *= 2;
                    double *f2 = arena_alloc(ps->body->arena, sizeof *f2 * (size_t)cap);
                    int64_t *i2 = arena_alloc(ps->body->arena, sizeof *i2 * (size_t)cap);
                    memcpy(f2, fl, sizeof *fl * (size_t)n);
                    memcpy(i2, in, sizeof *in * (size_t)n);
                    fl = f2;
                    in = i2;
                }
                fl[n] = f;
                in[n] = is_int ? i : (int64_t)f;
                all_int = all_int && is_int;
                n++;
            } while (accept(ps, ','));
            if (!expect(ps, ']'))
                return false;
        }
        a->type = all_int ? AT_INTS : AT_FLOATS;
        a->n = n;
        a->ints = in;
        a->floats = fl;
        return true;
    }
    const char *save = ps->p;
    char *w = word(ps);
    if (w && strcmp(w, "inf") != 0 && strcmp(w, "nan") != 0) {
        a->type = AT_STR;
        a->s = w;
        return true;
    }
    ps->p = save;
    double f;
    int64_t i = 0;
    bool is_int;
    if (!scalar(ps, &f, &i, &is_int))
        return false;
    a->type = is_int ? AT_INT : AT_FLOAT;
    a->i = i;
    a->f = f;
    return true;
}

static int call(Parser *ps);

/* An operand: $i, %k or a nested call; the body value id, or -1. */
static int operand(Parser *ps)
{
    skip_ws(ps);
    const char *at = ps->p;
    long k;
    if (accept(ps, '$')) {
        if (!number(ps, &k))
            return -1;
        if (k < 0 || k >= ps->body->ninputs) {
            ps->p = at;
            return fail_id(ps, "no such input");
        }
        return ps->body->inputs[k];
    }
    if (accept(ps, '%')) {
        if (!number(ps, &k))
            return -1;
        if (k < 0 || k >= ps->nlets) {
            ps->p = at;
            return fail_id(ps, "no such bound value");
        }
        return ps->lets[k];
    }
    return call(ps);
}

static int call(Parser *ps)
{
    skip_ws(ps);
    const char *at = ps->p;
    char *name = word(ps);
    if (!name)
        return fail_id(ps, "expected an op");
    int op = op_by_name(name);
    if (op < 0 || !op_info(op)->expr) {
        ps->p = at;
        return fail_id(ps, arena_printf(ps->body->arena, "'%s' is not an elementwise op", name));
    }
    if (!expect(ps, '('))
        return -1;
    int ins[64], nin = 0;
    const char *anames[32];
    Attr avals[32];
    int nattrs = 0;
    do {
        skip_ws(ps);
        const char *save = ps->p;
        char *w = word(ps);
        if (w && accept(ps, '=')) {
            if (nattrs == 32 || !attr_value(ps, &avals[nattrs]))
                return fail_id(ps, "bad attribute");
            anames[nattrs++] = w;
            continue;
        }
        ps->p = save;
        if (nattrs)
            return fail_id(ps, "an operand after an attribute");
        if (nin == 64)
            return fail_id(ps, "too many operands");
        int v = operand(ps);
        if (v < 0)
            return -1;
        ins[nin++] = v;
    } while (accept(ps, ','));
    if (!expect(ps, ')'))
        return -1;
    int id = ir_new_node(ps->c, ps->body, op, ins, nin, 1, ps->n->loc);
    for (int i = 0; i < nattrs; i++)
        if (!ir_set_attr(ps->c, ps->body, id, anames[i], &avals[i], ps->n->loc))
            return fail_id(ps, "bad attribute");
    if (!ir_finish_node(ps->c, ps->body, id))
        return fail_id(ps, "an op rejects its operands");
    return ps->body->nodes[id].out[0];
}

/* The body written in `text` over inputs of the types in[0..nin), for node
 * n of g (messages); see ir_fused_body. */
static Graph *expr_body(Ctx *c, Arena *a, const Graph *g, const Node *n, const char *text,
                        const Type *const *in, int nin)
{
    char d[160];
    Graph *body = ir_new_graph(a, "fused");
    for (int i = 0; i < nin; i++) {
        char name[32];
        snprintf(name, sizeof name, "in%d", i);
        if (ir_add_input(c, body, name, *in[i], n->loc) < 0)
            return NULL;
    }
    Parser ps = {.c = c, .body = body, .g = g, .n = n, .text = text, .p = text};
    for (;;) {
        if (accept(&ps, '%')) {
            long k;
            if (!number(&ps, &k))
                return NULL;
            if (k != ps.nlets) {
                fail(&ps, "bound values must be numbered %0, %1, ... in order");
                return NULL;
            }
            if (!expect(&ps, '='))
                return NULL;
            int v = call(&ps);
            if (v < 0 || !expect(&ps, ';'))
                return NULL;
            VEC_PUSH(a, ps.lets, ps.nlets, ps.caplets) = v;
            continue;
        }
        int v = call(&ps);
        if (v < 0)
            return NULL;
        skip_ws(&ps);
        if (*ps.p) {
            fail(&ps, "text after the result");
            return NULL;
        }
        ir_add_output(c, body, v, n->loc);
        /* One loop nest over the result computes every value of the body at
         * the result's index, so each must broadcast to it. */
        const Type *rt = &body->values[v].type;
        for (int i = 0; i < body->nvalues; i++) {
            const Type *t = &body->values[i].type;
            bool ok = t->rank <= rt->rank;
            for (int dd = 0; ok && dd < t->rank; dd++)
                ok = t->dims[dd] == 1 || t->dims[dd] == rt->dims[dd + rt->rank - t->rank];
            if (!ok) {
                char ts[128], rs[128], what[64];
                const Value *bv = &body->values[i];
                if (bv->kind == VK_INPUT)
                    snprintf(what, sizeof what, "input $%d", i);
                else
                    snprintf(what, sizeof what, "a result of %s",
                             op_info(body->nodes[bv->producer].op)->name);
                diag_error(c, n->loc, "%s: expr: %s (%s) does not broadcast to the result %s",
                           ir_node_desc(g, n, d, sizeof d), what, type_str(t, ts, sizeof ts),
                           type_str(rt, rs, sizeof rs));
                return NULL;
            }
        }
        return body;
    }
}

Graph *ir_fused_body(Ctx *c, Arena *a, const Graph *g, const Node *n)
{
    const Type **in = arena_alloc(a, (size_t)(n->nin + 1) * sizeof *in);
    for (int i = 0; i < n->nin; i++) {
        if (n->in[i] < 0) {
            char d[160];
            diag_error(c, n->loc, "%s: input %d is required", ir_node_desc(g, n, d, sizeof d), i);
            return NULL;
        }
        in[i] = ir_in_type(g, n, i);
    }
    return expr_body(c, a, g, n, ir_attr_str(n, "expr"), in, n->nin);
}

/* -------------------------------------------- fused activations (act) */

bool ir_has_act(const Node *n)
{
    return !isinf(ir_attr_float(n, "act_min")) || !isinf(ir_attr_float(n, "act_max")) ||
           ir_attr_str(n, "act")[0];
}

Graph *ir_act_body(Ctx *c, Arena *a, const Graph *g, const Node *n)
{
    const Type *y = ir_out_type(g, n, 0);
    return expr_body(c, a, g, n, ir_attr_str(n, "act"), &y, 1);
}

bool infer_act(Ctx *c, Graph *g, Node *n)
{
    if (!ir_attr_str(n, "act")[0])
        return true;
    Graph *body = ir_act_body(c, g->arena, g, n);
    if (!body)
        return false;
    const Type *y = ir_out_type(g, n, 0), *r = &ir_value(body, body->outputs[0])->type;
    if (!type_equal(r, y)) {
        char d[160], ts[128], ys[128];
        diag_error(c, n->loc, "%s: act makes %s of the output %s; it must keep the type",
                   ir_node_desc(g, n, d, sizeof d), type_str(r, ts, sizeof ts), type_str(y, ys, sizeof ys));
        return false;
    }
    return true;
}

void ref_act(const Graph *g, const Node *n, Tensor *y)
{
    if (!ir_attr_str(n, "act")[0])
        return;
    Ctx *c = ctx_new();
    Graph *body = ir_act_body(c, c->arena, g, n);
    Tensor res;
    if (!body || !interp_run(c, body, y, &res))
        unreachable("a fused activation that passed inference does not run");
    memcpy(y->data, res.data, type_bytes(&y->type));
    ctx_free(c);
}

/* ------------------------------------------------------ infer and ref */

bool infer_fused(Ctx *c, Graph *g, Node *n)
{
    Graph *body = ir_fused_body(c, g->arena, g, n);
    if (!body)
        return false;
    *ir_out_type(g, n, 0) = ir_value(body, body->outputs[0])->type;
    return true;
}

/* The body through the interpreter: each op's own reference, every
 * intermediate stored in its dtype, exactly as the unfused chain. */
void ref_fused(const Graph *g, const Node *n, const Tensor *in, Tensor *out)
{
    Ctx *c = ctx_new();
    Graph *body = ir_fused_body(c, c->arena, g, n);
    Tensor res;
    if (!body || !interp_run(c, body, in, &res))
        unreachable("a fused node that passed inference does not run");
    memcpy(out[0].data, res.data, type_bytes(&out[0].type));
    ctx_free(c);
}
