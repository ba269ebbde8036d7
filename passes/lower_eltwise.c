/* lower_eltwise.c: elementwise ops, from their expression templates.
 *
 * lower_eltwise makes one loop nest over the output; each input is loaded
 * with numpy broadcast indexing, the op's template (OpInfo.expr) turns the
 * loaded operands into the value, and the value is stored.
 * Templates only build Expr trees with ex_* (never loops or statements),
 * and they type every constant like their operand, so lower_fused composes
 * the chain of a fused node (the fuse-elementwise pass) inside one loop.
 */
#include "passes.h"

#include <math.h>
#include <string.h>

bool lower_eltwise(LowerCtx *lc, const Node *n)
{
    Program *p = lc->p;
    const Graph *g = lc->g;
    const OpInfo *info = op_info(n->op);
    const Type *out = ir_out_type(g, n, 0);
    Kernel *k = lower_kernel(lc, n);
    int vars[IR_MAX_RANK];
    Stmt *body = lower_nest(p, k, k->body, out, vars);
    Expr *idx[IR_MAX_RANK];
    for (int d = 0; d < out->rank; d++)
        idx[d] = ex_var(p, vars[d]);

    Expr **args = arena_alloc(p->arena, (size_t)n->nin * sizeof *args);
    for (int i = 0; i < n->nin; i++) {
        const Type *t = ir_in_type(g, n, i);
        args[i] = ex_load(p, lower_buf(lc, n->in[i]), lower_bcast_index(p, t, out, idx));
    }
    Expr *val = ex_cast(p, out->dtype, info->expr(lc, n, args));
    st_append(p, body, st_store(p, lower_buf(lc, n->out[0]), lower_index(p, out, idx), val));
    return true;
}

/* The ops of a fused body (ir/fused.c) appended to `into`: val[] holds the
 * body inputs' expressions; each op applies its template to its operands
 * and casts the value to its dtype, as a store would, so the kernel
 * computes what the unfused chain did. Every result but the last goes into
 * a local of its own (a template may use an operand more than once, as gelu
 * and leaky_relu do, and a local keeps that from repeating the operand's
 * whole computation); the last is returned. */
static Expr *lower_body(LowerCtx *lc, Kernel *k, Stmt *into, Graph *body, Expr **val)
{
    Program *p = lc->p;
    LowerCtx sub = *lc;
    sub.g = body;
    for (int j = 0; j < body->nnodes; j++) {
        const Node *m = &body->nodes[j];
        Expr **args = arena_alloc(p->arena, (size_t)(m->nin + 1) * sizeof *args);
        for (int i = 0; i < m->nin; i++)
            args[i] = val[m->in[i]];
        DType dt = ir_out_type(body, m, 0)->dtype;
        Expr *e = ex_cast(p, dt, op_info(m->op)->expr(&sub, m, args));
        if (m->out[0] == body->outputs[0])
            return e;
        int l = loop_new_local(p, k, dt, "f");
        st_append(p, into, st_set(p, l, e));
        val[m->out[0]] = ex_local(p, k, l);
    }
    unreachable("a fused body without its result");
}

/* A fused node (ir/fused.c): one loop nest over the output, as above, the
 * inputs loaded with broadcast indexing, the body computed by lower_body. */
bool lower_fused(LowerCtx *lc, const Node *n)
{
    Program *p = lc->p;
    const Graph *g = lc->g;
    Graph *body = ir_fused_body(lc->ctx, p->arena, g, n);
    if (!body)
        return false;
    const Type *out = ir_out_type(g, n, 0);
    Kernel *k = lower_kernel(lc, n);
    k->comment = arena_printf(p->arena, "%s: %s", k->comment, ir_attr_str(n, "expr"));
    int vars[IR_MAX_RANK];
    Stmt *inner = lower_nest(p, k, k->body, out, vars);
    Expr *idx[IR_MAX_RANK];
    for (int d = 0; d < out->rank; d++)
        idx[d] = ex_var(p, vars[d]);

    Expr **val = arena_alloc(p->arena, (size_t)(body->nvalues + 1) * sizeof *val);
    for (int i = 0; i < body->ninputs; i++)
        val[body->inputs[i]] = ex_load(p, lower_buf(lc, n->in[i]),
                                       lower_bcast_index(p, ir_in_type(g, n, i), out, idx));
    Expr *e = lower_body(lc, k, inner, body, val);
    st_append(p, inner, st_store(p, lower_buf(lc, n->out[0]), lower_index(p, out, idx), e));
    return true;
}

/* A conv's or gemm's fused `act` (fuse-activation): one more loop at the
 * end of the node's last kernel, y[i] = act(y[i]) over the whole output
 * once every form has stored it (its clamp and residual included). */
bool lower_act(LowerCtx *lc, const Node *n)
{
    if (!ir_attr_str(n, "act")[0])
        return true;
    Program *p = lc->p;
    Graph *body = ir_act_body(lc->ctx, p->arena, lc->g, n);
    if (!body)
        return false;
    Kernel *k = &p->kernels[p->nkernels - 1];
    k->comment = arena_printf(p->arena, "%s; act %s", k->comment, ir_attr_str(n, "act"));
    int y = lower_buf(lc, n->out[0]);
    Expr *i;
    int64_t count = type_numel(ir_out_type(lc->g, n, 0));
    Stmt *l = lower_loop(p, k, k->body, count, LOOP_PARALLEL | LOOP_VECTOR, &i);
    Expr **val = arena_alloc(p->arena, (size_t)(body->nvalues + 1) * sizeof *val);
    val[body->inputs[0]] = ex_load(p, y, i);
    st_append(p, l, st_store(p, y, i, lower_body(lc, k, l, body, val)));
    return true;
}

Expr *lower_const_like(Program *p, const Expr *x, double v)
{
    if (dtype_is_float(x->dtype))
        return ex_flt(p, v);
    return ex_int_t(p, x->dtype, (int64_t)v);
}

static Expr *cst(Program *p, const Expr *x, double v)
{
    return lower_const_like(p, x, v);
}

Expr *expr_add(LowerCtx *lc, const Node *n, Expr **args)
{
    (void)n;
    return ex_bin(lc->p, BIN_ADD, args[0], args[1]);
}

Expr *expr_sub(LowerCtx *lc, const Node *n, Expr **args)
{
    (void)n;
    return ex_bin(lc->p, BIN_SUB, args[0], args[1]);
}

Expr *expr_mul(LowerCtx *lc, const Node *n, Expr **args)
{
    (void)n;
    return ex_bin(lc->p, BIN_MUL, args[0], args[1]);
}

Expr *expr_div(LowerCtx *lc, const Node *n, Expr **args)
{
    (void)n;
    return ex_bin(lc->p, BIN_DIV, args[0], args[1]);
}

Expr *expr_relu(LowerCtx *lc, const Node *n, Expr **args)
{
    (void)n;
    return ex_bin(lc->p, BIN_MAX, args[0], cst(lc->p, args[0], 0));
}

/* An infinite bound clamps nothing, so it is left out of the expression. */
Expr *expr_clip(LowerCtx *lc, const Node *n, Expr **args)
{
    Program *p = lc->p;
    double lo = ir_attr_float(n, "min"), hi = ir_attr_float(n, "max");
    Expr *x = args[0];
    if (!isinf(lo))
        x = ex_bin(p, BIN_MAX, x, cst(p, args[0], lo));
    if (!isinf(hi))
        x = ex_bin(p, BIN_MIN, x, cst(p, args[0], hi));
    return x;
}

Expr *expr_leaky_relu(LowerCtx *lc, const Node *n, Expr **args)
{
    Program *p = lc->p;
    Expr *x = args[0];
    Expr *neg = ex_bin(p, BIN_MUL, cst(p, x, ir_attr_float(n, "alpha")), x);
    return ex_select(p, ex_bin(p, BIN_LT, x, cst(p, x, 0)), neg, x);
}

Expr *expr_sigmoid(LowerCtx *lc, const Node *n, Expr **args)
{
    (void)n;
    Program *p = lc->p;
    Expr *x = args[0];
    Expr *e = ex_un(p, UN_EXP, ex_un(p, UN_NEG, x));
    return ex_bin(p, BIN_DIV, cst(p, x, 1), ex_bin(p, BIN_ADD, cst(p, x, 1), e));
}

Expr *expr_tanh(LowerCtx *lc, const Node *n, Expr **args)
{
    (void)n;
    return ex_un(lc->p, UN_TANH, args[0]);
}

/* approximate = "none": 0.5 x (1 + erf(x / sqrt 2));
 * approximate = "tanh": 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))). */
Expr *expr_gelu(LowerCtx *lc, const Node *n, Expr **args)
{
    Program *p = lc->p;
    Expr *x = args[0];
    Expr *inner;
    if (strcmp(ir_attr_str(n, "approximate"), "tanh") == 0) {
        Expr *x3 = ex_bin(p, BIN_MUL, ex_bin(p, BIN_MUL, x, x), x);
        Expr *poly = ex_bin(p, BIN_ADD, x, ex_bin(p, BIN_MUL, cst(p, x, 0.044715), x3));
        inner = ex_un(p, UN_TANH,
                      ex_bin(p, BIN_MUL, cst(p, x, 0.79788456080286535588), poly));
    } else {
        inner = ex_un(p, UN_ERF, ex_bin(p, BIN_MUL, x, cst(p, x, 0.70710678118654752440)));
    }
    Expr *half_x = ex_bin(p, BIN_MUL, cst(p, x, 0.5), x);
    return ex_bin(p, BIN_MUL, half_x, ex_bin(p, BIN_ADD, cst(p, x, 1), inner));
}

Expr *expr_exp(LowerCtx *lc, const Node *n, Expr **args)
{
    (void)n;
    return ex_un(lc->p, UN_EXP, args[0]);
}

Expr *expr_log(LowerCtx *lc, const Node *n, Expr **args)
{
    (void)n;
    return ex_un(lc->p, UN_LOG, args[0]);
}

Expr *expr_sqrt(LowerCtx *lc, const Node *n, Expr **args)
{
    (void)n;
    return ex_un(lc->p, UN_SQRT, args[0]);
}

Expr *expr_neg(LowerCtx *lc, const Node *n, Expr **args)
{
    (void)n;
    return ex_un(lc->p, UN_NEG, args[0]);
}

Expr *expr_abs(LowerCtx *lc, const Node *n, Expr **args)
{
    (void)n;
    return ex_un(lc->p, UN_ABS, args[0]);
}

Expr *expr_identity(LowerCtx *lc, const Node *n, Expr **args)
{
    (void)lc;
    (void)n;
    return args[0];
}
