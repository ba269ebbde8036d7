/* quantize.c: the `quantize` pass, post-training int8 quantization into the
 * QDQ form that onnxruntime's quantizer and tf2onnx write.
 *
 * It does nothing unless the Module carries QuantizeOpts (the calibration
 * samples). Then, on the float graph:
 *
 *  1. Preparation (float to float, as ORT's quant_pre_process does): a
 *     batch_norm whose input is a conv used by nothing else folds into that
 *     conv's weights and bias; a matmul of a 2-D activation by a constant
 *     2-D weight becomes a gemm.
 *  2. Calibration: the reference interpreter runs every sample and records,
 *     per f32 tensor, its min and max (or, with a percentile P, the
 *     (100-P)-th and P-th percentiles of all its values over all samples).
 *  3. Parameters: per tensor, asymmetric int8 from the range widened to hold
 *     0: scale = (max - min) / 255 (1 when that is 0), zero point =
 *     round(-128 - min / scale) clamped to [-128, 127]. An op that only
 *     moves values (max_pool, reshape, flatten, transpose, ...) or averages
 *     them (average pools) gives its output its input's parameters, as ORT
 *     does; concat gets its own (its inputs' differ).
 *  4. Rewrite into QDQ form. Every f32 activation (graph input or node
 *     output) v gets `v_q = quantize_linear(v, v_scale, v_zero)` right after
 *     its producer, and every consumer reads `v_dq = dequantize_linear(v_q,
 *     v_scale, v_zero)` (one per tensor, shared by its consumers); scale is
 *     an f32[] const and zero an i8[] const. Exception: a relu or clip that is
 *     the only consumer of a conv/gemm/add/mul output is quantized after (the
 *     op's output gets no Q/DQ): fold-qdq makes it the int8 kernel's clamp.
 *     A conv's or gemm's constant weight becomes `w_dq = dequantize_linear(
 *     w_q, w_scale, w_zero)`: w_q an i8 const quantized symmetrically per
 *     output channel (values in [-127, 127], scale = max|w[m]| / 127, 1 for
 *     an all-zero channel), w_scale f32 and w_zero i8 zeros shaped to
 *     broadcast along the channel axis: [M, 1, 1, 1] for a conv, [1, N] for
 *     a gemm with trans_b = 0, [N, 1] with trans_b = 1. Its constant bias
 *     becomes `b_dq = dequantize_linear(b_q, b_scale, b_zero)`: b_q i32 =
 *     round(b / b_scale), b_scale = f32(x_scale) * f32(w_scale[m]), b_zero
 *     i32 zeros, all shaped like b (a gemm's only when alpha = beta = 1).
 *     Every other op reads DQs and gets a Q the same way; fold-qdq decides
 *     which become int8 kernels.
 *  5. Graph inputs and outputs: with QUANT_IO_FLOAT they stay f32 (a Q after
 *     each input, a DQ named as the output before it; the float value is
 *     renamed NAME_f); with QUANT_IO_INT8 they become i8 values carrying
 *     their parameters as the type's quant annotation.
 *
 * Names: NAME_q, NAME_dq, NAME_scale, NAME_zero after the tensor, made
 * unique with a numeric suffix. Constants left unused are marked dead.
 * Invariant: the rewritten graph computes the float graph's function up to
 * int8 rounding of every activation and weight.
 */
#include "passes.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    float scale;
    int zero;
    int s_id, z_id;     /* f32[] and i8[] consts, -1 until first needed */
    int owner;          /* value whose name the consts take */
} QParam;

typedef struct {
    Ctx *c;
    Graph *g;
    const QuantizeOpts *o;
    int n0;             /* values before the rewrite; the arrays below cover them */
    /* calibration */
    double *lo, *hi;
    float **vals;       /* percentile mode: every finite value seen (malloc'd) */
    int64_t *nvals, *capvals;
    bool oom;
    /* rewrite */
    bool *quant;        /* gets a Q (or is an int8 graph input) */
    int *param;         /* index into params */
    QParam *params;
    int nparams, capparams;
    int *q_of, *dq_of;  /* value ids, -1 until made */
} Quantizer;

/* ---------------------------------------------------------------- helpers */

static const char *uniq(Graph *g, const char *base, const char *suffix)
{
    const char *name = arena_printf(g->arena, "%s%s", base, suffix);
    for (int k = 2; ir_find_value(g, name) >= 0; k++)
        name = arena_printf(g->arena, "%s%s_%d", base, suffix, k);
    return name;
}

static int add_const(Quantizer *q, const char *base, const char *suffix, DType dt, int rank,
                     const int64_t *dims, void *data, Loc loc)
{
    Graph *g = q->g;
    return ir_add_const(q->c, g, uniq(g, base, suffix), type_make(dt, rank, dims), data, loc);
}

/* A one-output node op(in...) named base+suffix; its output id, or -1. */
static int add_node(Quantizer *q, int op, const int *in, int nin, const char *base,
                    const char *suffix, Loc loc)
{
    Graph *g = q->g;
    int id = ir_new_node(q->c, g, op, in, nin, 1, loc);
    if (!ir_finish_node(q->c, g, id))
        return -1;
    int out = g->nodes[id].out[0];
    if (!ir_rename_value(q->c, g, out, uniq(g, base, suffix), loc))
        return -1;
    return out;
}

static bool is_f32_const(const Graph *g, int v)
{
    if (v < 0)
        return false;
    const Value *x = ir_value(g, v);
    return x->kind == VK_CONST && !x->dead && x->data && x->type.dtype == DT_F32 && !x->type.quant;
}

/* No fused activation or residual: the node is its float op alone. */
static bool unfused(const Node *n)
{
    return !ir_has_act(n) && !(n->nin > 3 && n->in[3] >= 0);
}

/* ------------------------------------------------------------ preparation */

/* batch_norm(conv(x, w[, b])) -> conv(x, w', b'), w'[m] = w[m] * f[m],
 * b'[m] = (b[m] - mean[m]) * f[m] + bias[m], f = scale / sqrt(var + eps). */
static bool fold_batch_norms(Ctx *c, Graph *g)
{
    int *uses = graph_use_counts_pinned(g);
    for (int i = 0; i < g->nnodes; i++) {
        Node *bn = &g->nodes[i];
        if (bn->dead || bn->op != OP_BATCH_NORM)
            continue;
        int v = bn->in[0];
        const Value *pre = ir_value(g, v);
        if (pre->kind != VK_NODE || uses[v] != 1)
            continue;
        int pi = pre->producer;
        Node *conv = &g->nodes[pi];
        if (conv->dead || conv->op != OP_CONV || !unfused(conv) || !is_f32_const(g, conv->in[1]))
            continue;
        const Value *w = ir_value(g, conv->in[1]);
        int64_t m = w->type.dims[0], per = type_numel(&w->type) / (m ? m : 1);
        bool ok = conv->nin < 3 || conv->in[2] < 0 || is_f32_const(g, conv->in[2]);
        for (int k = 1; k < 5; k++)
            ok = ok && is_f32_const(g, bn->in[k]) && type_numel(&ir_value(g, bn->in[k])->type) == m;
        if (!ok)
            continue;
        const float *s = ir_value(g, bn->in[1])->data, *sh = ir_value(g, bn->in[2])->data;
        const float *mean = ir_value(g, bn->in[3])->data, *var = ir_value(g, bn->in[4])->data;
        const float *b = conv->nin > 2 && conv->in[2] >= 0 ? ir_value(g, conv->in[2])->data : NULL;
        double eps = ir_attr_float(bn, "epsilon");
        float *nw = arena_alloc(g->arena, type_bytes(&w->type) + 1);
        float *nb = arena_alloc(g->arena, (size_t)m * sizeof *nb + 1);
        const float *ow = w->data;
        for (int64_t ch = 0; ch < m; ch++) {
            double f = (double)s[ch] / sqrt((double)var[ch] + eps);
            for (int64_t j = 0; j < per; j++)
                nw[ch * per + j] = (float)((double)ow[ch * per + j] * f);
            nb[ch] = (float)(((b ? (double)b[ch] : 0.0) - mean[ch]) * f + sh[ch]);
        }
        const char *wname = w->name;
        Type wt = w->type;
        Loc loc = bn->loc;
        int wid = ir_add_const(c, g, uniq(g, wname, "_bn"), wt, nw, loc);
        int bid = ir_add_const(c, g, uniq(g, ir_value(g, bn->out[0])->name, "_bias"),
                               type_make(DT_F32, 1, &m), nb, loc);
        if (wid < 0 || bid < 0)
            return false;
        conv = &g->nodes[pi];
        bn = &g->nodes[i];
        int in[3] = {conv->in[0], wid, bid};
        conv->in = arena_memdup(g->arena, in, sizeof in);
        conv->nin = 3;
        conv->out[0] = bn->out[0];
        g->values[bn->out[0]].producer = pi;
        g->values[v].dead = true;
        bn->dead = true;
        if (!op_info(conv->op)->infer(c, g, conv))
            return false;
    }
    return true;
}

/* A gemm without a bias whose only user adds a constant [N] or [1, N]
 * (ONNX MatMul + Add) takes that constant as its bias and the add's output:
 * the int8 kernel adds an int32 bias for free. */
static void bias_adds_into_gemm(Graph *g, int gi)
{
    Node *n = &g->nodes[gi];
    if (n->nin > 2 && n->in[2] >= 0)
        return;
    int y = n->out[0], *uses = graph_use_counts_pinned(g), user = -1;
    if (uses[y] != 1)
        return;
    for (int i = gi + 1; i < g->nnodes && user < 0; i++)
        if (!g->nodes[i].dead && g->nodes[i].op == OP_ADD &&
            (g->nodes[i].in[0] == y || g->nodes[i].in[1] == y))
            user = i;
    if (user < 0)
        return;
    Node *a = &g->nodes[user];
    int bias = a->in[0] == y ? a->in[1] : a->in[0];
    const Type *bt = &ir_value(g, bias)->type, *yt = &ir_value(g, y)->type;
    int64_t cols = yt->dims[1];
    if (!is_f32_const(g, bias) || type_numel(bt) != cols || bt->rank > 2 || bt->dims[bt->rank - 1] != cols)
        return;
    for (int i = 0; i < g->noutputs; i++)
        if (g->outputs[i] == y)
            return;
    int *in = arena_alloc(g->arena, 3 * sizeof *in);
    in[0] = n->in[0];
    in[1] = n->in[1];
    in[2] = bias;
    n->in = in;
    n->nin = 3;
    n->out[0] = a->out[0];
    g->values[a->out[0]].producer = gi;
    g->values[y].dead = true;
    a->dead = true;
}

/* matmul(a, w) with a 2-D activation a and a constant 2-D w -> gemm(a, w),
 * taking a constant bias add after it into the gemm. */
static bool matmuls_to_gemm(Ctx *c, Graph *g)
{
    const OpInfo *gi = op_info(OP_GEMM);
    for (int i = 0; i < g->nnodes; i++) {
        bool done;
        if (!graph_matmul_as_gemm(c, g, i, &done))
            return false;
        if (!done)
            continue;
        bias_adds_into_gemm(g, i);
        if (!gi->infer(c, g, &g->nodes[i]))
            return false;
    }
    return true;
}

/* ------------------------------------------------------------ calibration */

static void observe(void *user, int v, const Tensor *t)
{
    Quantizer *q = user;
    if (v >= q->n0 || t->type.dtype != DT_F32)
        return;
    const float *x = t->data;
    int64_t n = type_numel(&t->type);
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(x[i]))
            continue;
        if (x[i] < q->lo[v])
            q->lo[v] = x[i];
        if (x[i] > q->hi[v])
            q->hi[v] = x[i];
    }
    if (q->o->percentile <= 0 || q->o->percentile >= 100)
        return;
    if (q->nvals[v] + n > q->capvals[v]) {
        int64_t cap = q->capvals[v] ? q->capvals[v] : 1024;
        while (cap < q->nvals[v] + n)
            cap *= 2;
        float *grown = realloc(q->vals[v], (size_t)cap * sizeof *grown);
        if (!grown) {
            q->oom = true;
            return;
        }
        q->vals[v] = grown;
        q->capvals[v] = cap;
    }
    for (int64_t i = 0; i < n; i++)
        if (isfinite(x[i]))
            q->vals[v][q->nvals[v]++] = x[i];
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* numpy.percentile's default (linear) of sorted a[0..n). */
static double percentile_of(const float *a, int64_t n, double p)
{
    double pos = p / 100.0 * (double)(n - 1);
    int64_t i = (int64_t)floor(pos);
    if (i >= n - 1)
        return a[n - 1];
    double t = pos - (double)i;
    return (double)a[i] + ((double)a[i + 1] - (double)a[i]) * t;
}

static bool check_samples(Ctx *c, const Graph *g, const QuantizeOpts *o)
{
    if (o->nsamples < 1 || !o->samples) {
        diag_error(c, (Loc){0}, "quantize: no calibration samples");
        return false;
    }
    if (o->ninputs != g->ninputs) {
        diag_error(c, (Loc){0}, "quantize: calibration samples have %d input%s, graph '%s' has %d",
                   o->ninputs, o->ninputs == 1 ? "" : "s", g->name, g->ninputs);
        return false;
    }
    for (int s = 0; s < o->nsamples; s++)
        for (int i = 0; i < g->ninputs; i++) {
            const Value *v = ir_value(g, g->inputs[i]);
            const Tensor *t = &o->samples[s * o->ninputs + i];
            char want[128], got[128];
            if (!t->data || !type_equal(&t->type, &v->type)) {
                diag_error(c, v->loc, "quantize: calibration sample %d of input '%s' is %s, not %s",
                           s, v->name, t->data ? type_str(&t->type, got, sizeof got) : "missing",
                           type_str(&v->type, want, sizeof want));
                return false;
            }
        }
    return true;
}

static bool calibrate(Quantizer *q)
{
    const QuantizeOpts *o = q->o;
    for (int v = 0; v < q->n0; v++) {
        q->lo[v] = INFINITY;
        q->hi[v] = -INFINITY;
    }
    bool ok = true;
    for (int s = 0; ok && s < o->nsamples; s++) {
        /* Each run's tensors go in a scratch arena, freed after the run. */
        Ctx sub = *q->c;
        sub.arena = arena_new();
        sub.nerrors = 0;
        Tensor *outs = arena_alloc(sub.arena, (size_t)(q->g->noutputs + 1) * sizeof *outs);
        ok = interp_run_observe(&sub, q->g, &o->samples[s * o->ninputs], outs, observe, q);
        q->c->nerrors += sub.nerrors;
        arena_free(sub.arena);
        if (!ok)
            diag_error(q->c, (Loc){0}, "quantize: calibration sample %d does not run", s);
    }
    if (ok && q->oom) {
        diag_error(q->c, (Loc){0}, "quantize: out of memory keeping values for percentiles");
        ok = false;
    }
    for (int v = 0; v < q->n0; v++) {
        if (ok && q->vals[v] && q->nvals[v] > 0) {
            qsort(q->vals[v], (size_t)q->nvals[v], sizeof *q->vals[v], cmp_float);
            q->lo[v] = percentile_of(q->vals[v], q->nvals[v], 100.0 - o->percentile);
            q->hi[v] = percentile_of(q->vals[v], q->nvals[v], o->percentile);
        }
        free(q->vals[v]);
        q->vals[v] = NULL;
    }
    return ok;
}

/* ------------------------------------------------------------- parameters */

static int new_param(Quantizer *q, double lo, double hi, int owner)
{
    double rmin = lo < 0 ? lo : 0, rmax = hi > 0 ? hi : 0;
    float scale = (float)((rmax - rmin) / 255.0);
    if (!(scale >= FLT_MIN) || !isfinite(scale))
        scale = 1.0f;
    double z = rint(-128.0 - rmin / (double)scale);
    z = z < -128 ? -128 : z > 127 ? 127 : z;
    QParam *p = &VEC_PUSH(q->g->arena, q->params, q->nparams, q->capparams);
    *p = (QParam){.scale = scale, .zero = (int)z, .s_id = -1, .z_id = -1, .owner = owner};
    return q->nparams - 1;
}

/* Ops whose outputs hold only values of their first input, moved (or, for
 * the average pools, averaged, which stays inside the input's range): the
 * outputs keep the input's parameters, as in ORT's QDQ quantizer (its
 * Direct8BitOp, MaxPool, Split and Gather), so an int8 kernel for them
 * needs no requantization. */
static bool moves_values(int op)
{
    switch (op) {
    case OP_MAX_POOL: case OP_GLOBAL_MAX_POOL: case OP_AVERAGE_POOL:
    case OP_GLOBAL_AVERAGE_POOL: case OP_RESHAPE: case OP_FLATTEN: case OP_SQUEEZE:
    case OP_UNSQUEEZE: case OP_TRANSPOSE: case OP_IDENTITY: case OP_DEPTH_TO_SPACE:
    case OP_SPACE_TO_DEPTH: case OP_SLICE: case OP_EXPAND: case OP_TILE: case OP_SPLIT:
    case OP_GATHER:
        return true;
    default:
        return false;
    }
}

static bool quantizable_value(const Graph *g, int v)
{
    const Value *x = ir_value(g, v);
    return !x->dead && (x->kind == VK_INPUT || x->kind == VK_NODE) && x->type.dtype == DT_F32 &&
           !x->type.quant;
}

/* Which values get a Q, and their parameters. */
static void plan(Quantizer *q)
{
    Graph *g = q->g;
    int *uses = graph_use_counts_pinned(g);
    bool *pre = arena_alloc(g->arena, (size_t)q->n0 + 1);
    for (int i = 0; i < g->nnodes; i++) {
        const Node *a = &g->nodes[i];
        if (a->dead || (a->op != OP_RELU && a->op != OP_CLIP))
            continue;
        int v = a->in[0];
        const Value *x = ir_value(g, v);
        if (x->kind != VK_NODE || uses[v] != 1)
            continue;
        const Node *p = &g->nodes[x->producer];
        /* The activation after a conv, gemm, add or mul is the int8
         * kernel's output clamp (fold-qdq): one Q, after it. */
        if (((p->op == OP_CONV || p->op == OP_GEMM) && unfused(p) && p->out[0] == v) || p->op == OP_ADD ||
            p->op == OP_MUL)
            pre[v] = true;
    }
    for (int v = 0; v < q->n0; v++) {
        q->param[v] = -1;
        q->q_of[v] = q->dq_of[v] = -1;
        q->quant[v] = quantizable_value(g, v) && !pre[v];
    }
    for (int i = 0; i < g->ninputs; i++) {
        int v = g->inputs[i];
        if (q->quant[v])
            q->param[v] = new_param(q, q->lo[v], q->hi[v], v);
    }
    for (int i = 0; i < g->nnodes; i++) {
        const Node *n = &g->nodes[i];
        if (n->dead)
            continue;
        for (int k = 0; k < n->nout; k++) {
            int v = n->out[k];
            if (!q->quant[v])
                continue;
            int in = n->nin > 0 ? n->in[0] : -1;
            if (moves_values(n->op) && in >= 0 && in < q->n0 && q->quant[in])
                q->param[v] = q->param[in];
            else
                q->param[v] = new_param(q, q->lo[v], q->hi[v], v);
        }
    }
}

/* The scale and zero-point consts of parameter set p. */
static bool param_consts(Quantizer *q, int p)
{
    QParam *qp = &q->params[p];
    if (qp->s_id >= 0)
        return true;
    Graph *g = q->g;
    const char *name = ir_value(g, qp->owner)->name;
    Loc loc = ir_value(g, qp->owner)->loc;
    float *s = arena_alloc(g->arena, sizeof *s);
    int8_t *z = arena_alloc(g->arena, sizeof *z);
    *s = qp->scale;
    *z = (int8_t)qp->zero;
    int sid = add_const(q, name, "_scale", DT_F32, 0, NULL, s, loc);
    int zid = add_const(q, name, "_zero", DT_I8, 0, NULL, z, loc);
    qp = &q->params[p];
    qp->s_id = sid;
    qp->z_id = zid;
    return sid >= 0 && zid >= 0;
}

static Quant *quant_of(Quantizer *q, int p)
{
    Quant *a = arena_alloc(q->g->arena, sizeof *a);
    a->axis = -1;
    a->n = 1;
    a->nzero = 1;
    a->scale = arena_alloc(q->g->arena, sizeof *a->scale);
    a->zero = arena_alloc(q->g->arena, sizeof *a->zero);
    a->scale[0] = q->params[p].scale;
    a->zero[0] = q->params[p].zero;
    return a;
}

/* ---------------------------------------------------------------- rewrite */

/* The Q of v, made right after v's producer. */
static bool make_q(Quantizer *q, int v, Loc loc)
{
    int p = q->param[v];
    if (!param_consts(q, p))
        return false;
    int in[3] = {v, q->params[p].s_id, q->params[p].z_id};
    q->q_of[v] = add_node(q, OP_QUANTIZE_LINEAR, in, 3, ir_value(q->g, v)->name, "_q", loc);
    return q->q_of[v] >= 0;
}

/* The DQ every consumer of v reads, made before the first consumer. */
static int dq(Quantizer *q, int v, Loc loc)
{
    if (q->dq_of[v] >= 0)
        return q->dq_of[v];
    if (q->q_of[v] < 0)
        unreachable("a quantized value without its quantize_linear");
    int p = q->param[v];
    int in[3] = {q->q_of[v], q->params[p].s_id, q->params[p].z_id};
    q->dq_of[v] = add_node(q, OP_DEQUANTIZE_LINEAR, in, 3, ir_value(q->g, v)->name, "_dq", loc);
    return q->dq_of[v];
}

/* Per-channel symmetric int8 weights (and an i32 bias) for conv/gemm node n,
 * whose inputs `in` are being rewritten; x is its original activation. */
static bool quantize_weights(Quantizer *q, const Node *n, int *in, int x)
{
    Graph *g = q->g;
    if (!is_f32_const(g, in[1]))
        return true;
    const Value *wv = ir_value(g, in[1]);
    Type wt = wv->type;
    const float *w = wv->data;
    const char *wname = wv->name;
    bool gemm = n->op == OP_GEMM;
    if ((gemm && wt.rank != 2) || (!gemm && wt.rank < 3))
        return true;
    int axis = gemm && !ir_attr_int(n, "trans_b") ? 1 : 0;
    int64_t m = wt.dims[axis], numel = type_numel(&wt), strides[IR_MAX_RANK];
    type_strides(&wt, strides);
    float *scale = arena_alloc(g->arena, (size_t)m * sizeof *scale + 1);
    int8_t *zw = arena_alloc(g->arena, (size_t)m + 1);
    int8_t *wq = arena_alloc(g->arena, (size_t)numel + 1);
    for (int64_t i = 0; i < numel; i++) {
        int64_t ch = i / strides[axis] % m;
        float a = fabsf(w[i]);
        if (a > scale[ch])
            scale[ch] = a;
    }
    for (int64_t ch = 0; ch < m; ch++) {
        scale[ch] = scale[ch] / 127.0f;
        if (!(scale[ch] >= FLT_MIN) || !isfinite(scale[ch]))
            scale[ch] = 1.0f; /* an all-zero channel */
    }
    for (int64_t i = 0; i < numel; i++) {
        double r = rint((double)(w[i] / scale[i / strides[axis] % m]));
        wq[i] = (int8_t)(r < -127 ? -127 : r > 127 ? 127 : r);
    }
    int64_t sdims[IR_MAX_RANK];
    for (int d = 0; d < wt.rank; d++)
        sdims[d] = d == axis ? m : 1;
    Loc loc = n->loc;
    int wq_id = add_const(q, wname, "_q", DT_I8, wt.rank, wt.dims, wq, loc);
    int ws_id = add_const(q, wname, "_scale", DT_F32, wt.rank, sdims, scale, loc);
    int wz_id = add_const(q, wname, "_zero", DT_I8, wt.rank, sdims, zw, loc);
    if (wq_id < 0 || ws_id < 0 || wz_id < 0)
        return false;
    int win[3] = {wq_id, ws_id, wz_id};
    in[1] = add_node(q, OP_DEQUANTIZE_LINEAR, win, 3, wname, "_dq", loc);
    if (in[1] < 0)
        return false;

    /* The bias, in int32 at scale x_scale * w_scale[m]. */
    if (n->nin < 3 || !is_f32_const(g, in[2]))
        return true;
    const Value *bv = ir_value(g, in[2]);
    Type bt = bv->type;
    const float *b = bv->data;
    const char *bname = bv->name;
    bool shaped = bt.rank == 1 || (bt.rank == 2 && bt.dims[0] == 1);
    if (type_numel(&bt) != m || !shaped ||
        (gemm && (ir_attr_float(n, "alpha") != 1.0 || ir_attr_float(n, "beta") != 1.0)))
        return true;
    float sx = q->params[q->param[x]].scale;
    float *bs = arena_alloc(g->arena, (size_t)m * sizeof *bs + 1);
    int32_t *bq = arena_alloc(g->arena, (size_t)m * sizeof *bq + 1);
    int32_t *bz = arena_alloc(g->arena, (size_t)m * sizeof *bz + 1);
    for (int64_t ch = 0; ch < m; ch++) {
        bs[ch] = sx * scale[ch];
        double r = rint((double)(b[ch] / bs[ch]));
        bq[ch] = (int32_t)(r < INT32_MIN ? INT32_MIN : r > INT32_MAX ? INT32_MAX : r);
    }
    int bq_id = add_const(q, bname, "_q", DT_I32, bt.rank, bt.dims, bq, loc);
    int bs_id = add_const(q, bname, "_scale", DT_F32, bt.rank, bt.dims, bs, loc);
    int bz_id = add_const(q, bname, "_zero", DT_I32, bt.rank, bt.dims, bz, loc);
    if (bq_id < 0 || bs_id < 0 || bz_id < 0)
        return false;
    int bin[3] = {bq_id, bs_id, bz_id};
    in[2] = add_node(q, OP_DEQUANTIZE_LINEAR, bin, 3, bname, "_dq", loc);
    return in[2] >= 0;
}

/* Rebuilds the node list in order: each input's Q, then per node the DQs of
 * its inputs (and weights), the node, and the Qs of its outputs. */
static bool rewrite(Quantizer *q)
{
    Graph *g = q->g;
    int nold = g->nnodes;
    Node *old = arena_memdup(g->arena, g->nodes, (size_t)(nold ? nold : 1) * sizeof *old);
    g->nodes = NULL;
    g->nnodes = g->capnodes = 0;
    bool int8_io = q->o->io == QUANT_IO_INT8;

    for (int i = 0; i < g->ninputs; i++) {
        int v = g->inputs[i];
        if (!q->quant[v])
            continue;
        if (int8_io) {
            if (!param_consts(q, q->param[v]))
                return false;
            Type *t = &g->values[v].type;
            t->dtype = DT_I8;
            t->quant = quant_of(q, q->param[v]);
            q->q_of[v] = v;
        } else if (!make_q(q, v, g->values[v].loc)) {
            return false;
        }
    }
    for (int i = 0; i < nold; i++) {
        Node n = old[i];
        if (!n.dead) {
            int *in = arena_memdup(g->arena, n.in, (size_t)(n.nin ? n.nin : 1) * sizeof *in);
            for (int k = 0; k < n.nin; k++)
                if (in[k] >= 0 && in[k] < q->n0 && q->quant[in[k]] && (in[k] = dq(q, in[k], n.loc)) < 0)
                    return false;
            int x = n.nin > 0 ? n.in[0] : -1;
            if ((n.op == OP_CONV || n.op == OP_GEMM) && n.nin >= 2 && x >= 0 && x < q->n0 &&
                q->quant[x] && !quantize_weights(q, &n, in, x))
                return false;
            n.in = in;
        }
        int id = g->nnodes;
        VEC_PUSH(g->arena, g->nodes, g->nnodes, g->capnodes) = n;
        for (int k = 0; !n.dead && k < n.nout; k++)
            g->values[n.out[k]].producer = id;
        for (int k = 0; !n.dead && k < n.nout; k++)
            if (n.out[k] < q->n0 && q->quant[n.out[k]] && !make_q(q, n.out[k], n.loc))
                return false;
    }
    for (int i = 0; i < g->noutputs; i++) {
        int v = g->outputs[i];
        if (v >= q->n0 || !q->quant[v] || g->values[v].kind != VK_NODE)
            continue;
        const char *name = g->values[v].name;
        Loc loc = g->values[v].loc;
        if (!ir_rename_value(q->c, g, v, uniq(g, name, "_f"), loc))
            return false;
        int p = q->param[v], out = q->q_of[v];
        if (int8_io) {
            if (!ir_rename_value(q->c, g, out, name, loc))
                return false;
            g->values[out].type.quant = quant_of(q, p);
        } else {
            int in[3] = {q->q_of[v], q->params[p].s_id, q->params[p].z_id};
            if ((out = add_node(q, OP_DEQUANTIZE_LINEAR, in, 3, name, "", loc)) < 0)
                return false;
        }
        g->outputs[i] = out;
    }
    return true;
}

bool pass_quantize(Ctx *c, Module *m)
{
    const QuantizeOpts *o = m->quantize;
    if (!o)
        return false;
    Graph *g = m->graph;
    if (!check_samples(c, g, o))
        return false;
    /* Weights stored as integers behind a dequantize are float weights
     * here; only a dequantize of computed values means "quantized". */
    fold_dequantized_constants(g);
    for (int i = 0; i < g->nnodes; i++) {
        const Node *n = &g->nodes[i];
        if (!n->dead && (n->op == OP_QUANTIZE_LINEAR || n->op == OP_DEQUANTIZE_LINEAR)) {
            diag_error(c, n->loc, "quantize: graph '%s' is quantized already (it has %s nodes)",
                       g->name, op_info(n->op)->name);
            return false;
        }
    }
    if (!fold_batch_norms(c, g) || !matmuls_to_gemm(c, g))
        return true;

    Quantizer q = {.c = c, .g = g, .o = o, .n0 = g->nvalues};
    size_t nv = (size_t)(q.n0 ? q.n0 : 1);
    Arena *a = g->arena;
    q.lo = arena_alloc(a, nv * sizeof *q.lo);
    q.hi = arena_alloc(a, nv * sizeof *q.hi);
    q.vals = arena_alloc(a, nv * sizeof *q.vals);
    q.nvals = arena_alloc(a, nv * sizeof *q.nvals);
    q.capvals = arena_alloc(a, nv * sizeof *q.capvals);
    q.quant = arena_alloc(a, nv * sizeof *q.quant);
    q.param = arena_alloc(a, nv * sizeof *q.param);
    q.q_of = arena_alloc(a, nv * sizeof *q.q_of);
    q.dq_of = arena_alloc(a, nv * sizeof *q.dq_of);
    if (!calibrate(&q))
        return true;
    plan(&q);
    if (!rewrite(&q))
        return true;
    pass_dce(c, m);
    return true;
}
