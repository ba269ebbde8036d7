/* fold_bn.c: the `fold-batchnorm` pass, per-channel affine ops folded into
 * the weights of the conv or gemm that feeds them.
 *
 * An op computing y * s[ch] + t[ch] per output channel ch of a conv (axis 1
 * of NCHW...) or a gemm (axis 1 of [M, N]) is folded into that producer:
 *   batch_norm (inference form): s = scale / sqrt(var + eps),
 *                                t = bias - mean * s
 *   mul by a constant per channel (or scalar):   s = c, t = 0
 *   add / sub of a constant per channel:         s = 1, t = +c / -c
 * so a conv + batch_norm (+ mul + add) chain becomes one conv, which the
 * later fuse-activation pass can give the relu too. Conditions: the
 * producer's output has no other reader and is not a graph output; its
 * weights (and bias, when present) are f32 constants without quantization;
 * it has no fused activation yet; the affine op's parameters are
 * constants; and the affine op's output has the producer's shape (the
 * constant does not broadcast it). For a conv, W'[m, ...] = W[m, ...] *
 * s[m] and b'[m] = b[m] * s[m] + t[m]; for a gemm, the columns of op(B)
 * scale and C' = (beta C) * s + t with beta = 1. The parameters are
 * combined in double and rounded once to f32; new constants are made (the
 * old ones may have other readers and are left for dce), and the producer
 * takes over the affine op's output value, so names downstream do not
 * change. Invariant: the graph computes the same values up to float
 * rounding (the scale is applied to the weights, not to the sums).
 */
#include "passes.h"

#include <math.h>
#include <string.h>

static bool plain_f32_const(const Graph *g, int v)
{
    if (v < 0)
        return false;
    const Value *val = ir_value(g, v);
    return val->kind == VK_CONST && !val->dead && val->type.dtype == DT_F32 && !val->type.quant;
}

/* The conv or gemm that produces v and may absorb an affine op, or -1. */
static int foldable_producer(const Graph *g, int v, const int *uses)
{
    const Value *val = ir_value(g, v);
    if (val->kind != VK_NODE || uses[v] != 1 || graph_is_output(g, v))
        return -1;
    const Node *p = ir_node(g, val->producer);
    if (p->dead || (p->op != OP_CONV && p->op != OP_GEMM) || p->out[0] != v)
        return -1;
    if (ir_has_act(p))
        return -1;
    if (p->nin > 3 && p->in[3] >= 0) /* a fused residual: the affine op follows the add */
        return -1;
    const Type *y = ir_out_type(g, p, 0);
    if (y->dtype != DT_F32 || y->quant || y->rank < 2 || ir_in_type(g, p, 0)->quant)
        return -1;
    if (!plain_f32_const(g, p->in[1]))
        return -1;
    if (p->nin > 2 && p->in[2] >= 0 && !plain_f32_const(g, p->in[2]))
        return -1;
    return val->producer;
}

/* The per-channel values of constant `cv` broadcast against y (channel
 * axis 1), into out[C]; false when cv varies along any other axis or would
 * broadcast y to a bigger shape. */
static bool per_channel(const Graph *g, int cv, const Type *y, double *out)
{
    if (!plain_f32_const(g, cv))
        return false;
    const Type *t = &ir_value(g, cv)->type;
    const float *data = ir_value(g, cv)->data;
    if (t->rank > y->rank)
        return false;
    int shift = y->rank - t->rank;
    bool along_c = false;
    for (int d = 0; d < t->rank; d++) {
        int yd = d + shift;
        if (yd == 1 && t->dims[d] == y->dims[1])
            along_c = t->dims[d] != 1;
        else if (t->dims[d] != 1)
            return false;
    }
    for (int64_t ch = 0; ch < y->dims[1]; ch++)
        out[ch] = data[along_c ? ch : 0];
    return true;
}

/* s and t of affine node n applied to producer output v; false if n is not
 * a foldable affine op. */
static bool affine_of(const Graph *g, const Node *n, int v, const Type *y, double *s, double *t)
{
    int64_t C = y->dims[1];
    if (n->nout != 1 || graph_node_quantized(g, n) || !type_equal(ir_out_type(g, n, 0), y))
        return false;
    switch (n->op) {
    case OP_BATCH_NORM: {
        if (n->in[0] != v)
            return false;
        for (int k = 1; k < 5; k++)
            if (!plain_f32_const(g, n->in[k]))
                return false;
        const float *scale = ir_value(g, n->in[1])->data, *bias = ir_value(g, n->in[2])->data;
        const float *mean = ir_value(g, n->in[3])->data, *var = ir_value(g, n->in[4])->data;
        double eps = ir_attr_float(n, "epsilon");
        for (int64_t ch = 0; ch < C; ch++) {
            s[ch] = (double)scale[ch] / sqrt((double)var[ch] + eps);
            t[ch] = (double)bias[ch] - (double)mean[ch] * s[ch];
        }
        return true;
    }
    case OP_MUL:
    case OP_ADD:
    case OP_SUB: {
        if (n->in[0] == n->in[1])
            return false;
        int other = n->in[0] == v ? n->in[1] : n->in[0];
        if (n->op == OP_SUB && n->in[0] != v)
            return false; /* c - y negates y: not worth a case */
        double *vals = n->op == OP_MUL ? s : t;
        if (!per_channel(g, other, y, vals))
            return false;
        for (int64_t ch = 0; ch < C; ch++) {
            if (n->op == OP_MUL)
                t[ch] = 0.0;
            else
                s[ch] = 1.0;
            if (n->op == OP_SUB)
                t[ch] = -t[ch];
        }
        return true;
    }
    default:
        return false;
    }
}

/* A new f32 constant of type `like` with `data`; -1 after a diagnostic. */
static int new_const(Ctx *c, Graph *g, const Type *like, float *data, Loc loc)
{
    Type t = *like;
    t.quant = NULL;
    return ir_add_const(c, g, NULL, t, data, loc);
}

static float *const_copy(Graph *g, int v)
{
    const Value *val = ir_value(g, v);
    return arena_memdup(g->arena, val->data, type_bytes(&val->type) + 1);
}

static bool all_one(const double *s, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        if (s[i] != 1.0)
            return false;
    return true;
}

/* The input list of node pi grown to three entries (an absent bias). */
static void ensure_three_inputs(Graph *g, int pi)
{
    Node *p = &g->nodes[pi];
    if (p->nin >= 3)
        return;
    int *in = arena_alloc(g->arena, 3 * sizeof *in);
    in[0] = p->in[0];
    in[1] = p->in[1];
    in[2] = -1;
    p->in = in;
    p->nin = 3;
}

static bool fold_conv(Ctx *c, Graph *g, int pi, const double *s, const double *t, Loc loc)
{
    Node *p = &g->nodes[pi];
    int64_t M = ir_out_type(g, p, 0)->dims[1];
    int w = p->in[1], b = p->nin > 2 ? p->in[2] : -1;
    if (!all_one(s, M)) {
        const Type *wt = &ir_value(g, w)->type;
        float *wd = const_copy(g, w);
        int64_t per = type_numel(wt) / (wt->dims[0] ? wt->dims[0] : 1);
        for (int64_t m = 0; m < M; m++)
            for (int64_t i = 0; i < per; i++)
                wd[m * per + i] = (float)((double)wd[m * per + i] * s[m]);
        int nw = new_const(c, g, wt, wd, loc);
        if (nw < 0)
            return false;
        g->nodes[pi].in[1] = nw;
    }
    float *bd = arena_alloc(g->arena, (size_t)M * sizeof *bd + 1);
    const float *old = b >= 0 ? ir_value(g, b)->data : NULL;
    for (int64_t m = 0; m < M; m++)
        bd[m] = (float)((old ? (double)old[m] : 0.0) * s[m] + t[m]);
    Type bt = type_make(DT_F32, 1, &M);
    int nb = new_const(c, g, &bt, bd, loc);
    if (nb < 0)
        return false;
    ensure_three_inputs(g, pi);
    g->nodes[pi].in[2] = nb;
    return true;
}

static bool fold_gemm(Ctx *c, Graph *g, int pi, const double *s, const double *t, Loc loc)
{
    /* Types by value: new constants may move g->values. */
    Node *p = &g->nodes[pi];
    Type y = *ir_out_type(g, p, 0);
    int64_t M = y.dims[0], N = y.dims[1];
    int b = p->in[1], cv = p->nin > 2 ? p->in[2] : -1;
    if (!all_one(s, N)) {
        const Type *bt = &ir_value(g, b)->type;
        float *bd = const_copy(g, b);
        bool trans_b = ir_attr_int(p, "trans_b") != 0;
        int64_t rows = bt->dims[0], cols = bt->dims[1];
        for (int64_t r = 0; r < rows; r++)
            for (int64_t k = 0; k < cols; k++)
                bd[r * cols + k] = (float)((double)bd[r * cols + k] * s[trans_b ? r : k]);
        int nb = new_const(c, g, bt, bd, loc);
        if (nb < 0)
            return false;
        g->nodes[pi].in[1] = nb;
        p = &g->nodes[pi];
    }
    /* C' = (beta C) * s + t, [N] when C does not vary by row, else [M, N]. */
    double beta = ir_attr_float(p, "beta");
    Tensor ct = {0};
    if (cv >= 0)
        ct = (Tensor){.type = ir_value(g, cv)->type, .data = ir_value(g, cv)->data};
    bool by_row = ct.data && ct.type.rank == 2 && ct.type.dims[0] != 1;
    int64_t rows = by_row ? M : 1;
    float *cd = arena_alloc(g->arena, (size_t)(rows * N) * sizeof *cd + 1);
    Type out = by_row ? y : type_make(DT_F32, 1, &N);
    out.quant = NULL;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t n = 0; n < N; n++) {
            double cval = 0.0;
            if (ct.data)
                cval = beta * (double)tensor_getf(&ct, ref_bcast_index(&ct.type, &y, r * N + n));
            cd[r * N + n] = (float)(cval * s[n] + t[n]);
        }
    int nc = new_const(c, g, &out, cd, loc);
    if (nc < 0)
        return false;
    ensure_three_inputs(g, pi);
    g->nodes[pi].in[2] = nc;
    Attr one = {.type = AT_FLOAT, .f = 1.0};
    return ir_set_attr(c, g, pi, "beta", &one, loc);
}

bool pass_fold_batchnorm(Ctx *c, Module *m)
{
    Graph *g = m->graph;
    int *uses = graph_use_counts(g);
    bool changed = false;
    for (int i = 0; i < g->nnodes; i++) {
        Node *n = &g->nodes[i];
        if (n->dead || n->nin < 1 ||
            (n->op != OP_BATCH_NORM && n->op != OP_MUL && n->op != OP_ADD && n->op != OP_SUB))
            continue;
        int v = -1, pi = -1;
        for (int k = 0; k < (n->op == OP_BATCH_NORM ? 1 : n->nin) && pi < 0; k++)
            if (n->in[k] >= 0 && (pi = foldable_producer(g, n->in[k], uses)) >= 0)
                v = n->in[k];
        if (pi < 0)
            continue;
        const Type *y = ir_out_type(g, &g->nodes[pi], 0);
        int64_t C = y->dims[1];
        double *s = arena_alloc(g->arena, (size_t)(C ? C : 1) * sizeof *s);
        double *t = arena_alloc(g->arena, (size_t)(C ? C : 1) * sizeof *t);
        if (!affine_of(g, n, v, y, s, t))
            continue;
        Loc loc = n->loc;
        bool ok = g->nodes[pi].op == OP_CONV ? fold_conv(c, g, pi, s, t, loc)
                                             : fold_gemm(c, g, pi, s, t, loc);
        if (!ok)
            return changed;
        /* The producer takes over the affine op's output value. */
        n = &g->nodes[i];
        Node *p = &g->nodes[pi];
        int out = n->out[0];
        for (int k = 0; k < n->nin; k++)
            if (n->in[k] >= 0)
                uses[n->in[k]]--;
        p->out[0] = out;
        g->values[out].producer = pi;
        g->values[v].dead = true;
        n->dead = true;
        changed = true;
    }
    return changed;
}
