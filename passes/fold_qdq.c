/* fold_qdq.c: the `fold-qdq` pass, QDQ graphs folded into int8 kernels.
 *
 * Pre-quantized ONNX models (tf2onnx, onnxruntime's quantizer) and etch's
 * own post-training quantization write int8 as float ops between
 * DequantizeLinear and QuantizeLinear. This pass recognizes
 *   q = quantize(act(op(dequantize(x_q), dequantize(w_q), dequantize(b_q))))
 * with op one of conv, gemm (a weight of constant int8), average_pool,
 * global_average_pool, max_pool, global_max_pool, add, mul, concat and
 * softmax (last axis), act an optional relu or clip, and replaces it by the
 * integer op (qconv, qgemm, qaverage_pool, qmax_pool, qadd, qmul, qconcat,
 * qsoftmax) reading x_q and producing q directly: scales and zero points
 * move onto the types of x_q, w_q and q; the bias becomes int32 at
 * sx * sw[m]; the activation becomes the output clamp [qmin, qmax] (exact:
 * quantization is monotonic).
 * Any other elementwise op, or a region of them computing one value from
 * one dequantized int8 value and scalar constants (sigmoid, hard_swish
 * written out, ...), becomes qlut: each of the 256 input codes run through
 * the dequantize, the ops and the quantize by their own references, the
 * outputs a constant table.
 * The op node is rewritten in place, so the schedule and the output's name
 * are kept. Ops that only move values (transpose, reshape...) between a
 * dequantize and a quantize of one set of parameters move the int8 values
 * instead. What does not match stays float between its Q/DQ nodes (a
 * float island, e.g. layer_norm), and a dequantize of a constant left over is
 * folded into a float constant.
 * Numerics: the integer kernels round once per layer (--rounding), as ONNX
 * Runtime's and TFLite's fused kernels do, where the QDQ graph read
 * literally rounds in float; docs/quantization.md says how they differ.
 */
#include "passes.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    Ctx *c;
    Module *m;
    Graph *g;
    int *uses;      /* consumers per value (+2 for graph outputs) */
    int *user;      /* the last consumer node of each value */
} Fold;

static void count_uses(Fold *f)
{
    Graph *g = f->g;
    f->uses = graph_use_counts_pinned(g);
    f->user = arena_alloc(g->arena, (size_t)(g->nvalues ? g->nvalues : 1) * sizeof *f->user);
    for (int i = 0; i < g->nnodes; i++)
        for (int k = 0; !g->nodes[i].dead && k < g->nodes[i].nin; k++)
            if (g->nodes[i].in[k] >= 0)
                f->user[g->nodes[i].in[k]] = i;
}

static bool is_q8(DType t) { return t == DT_I8 || t == DT_U8; }

static bool is_const(const Graph *g, int v) { return v >= 0 && ir_value(g, v)->kind == VK_CONST; }

/* The live node of op `op` producing v, or NULL. */
static Node *producer(const Graph *g, int v, int op)
{
    const Value *val = ir_value(g, v);
    if (val->kind != VK_NODE)
        return NULL;
    Node *n = ir_node(g, val->producer);
    return !n->dead && n->op == op ? n : NULL;
}

static bool scalar_const(const Graph *g, int v)
{
    return is_const(g, v) && type_numel(&ir_value(g, v)->type) == 1;
}

/* A dequantize of scalar constants (an int8 constant operand, e.g. of a
 * QLinearMul by a scalar): a constant to a qlut region (below). */
static bool scalar_dq(const Graph *g, int v)
{
    const Node *dq = producer(g, v, OP_DEQUANTIZE_LINEAR);
    if (!dq || type_numel(&ir_value(g, v)->type) != 1)
        return false;
    for (int k = 0; k < dq->nin; k++)
        if (dq->in[k] >= 0 && !scalar_const(g, dq->in[k]))
            return false;
    return true;
}

/* The single consumer of v, or NULL. */
static Node *sole_user(const Fold *f, int v)
{
    return f->uses[v] == 1 ? ir_node(f->g, f->user[v]) : NULL;
}

/* The axis of x along which per-axis scale type s varies (numpy-aligned to
 * the right, as etch's importer shapes them), -1 for a single scale, -2
 * when s is not of that form. */
static int scale_axis(const Type *x, const Type *s)
{
    if (type_numel(s) == 1)
        return -1;
    int axis = -2;
    for (int d = 0; d < s->rank; d++) {
        int xd = x->rank - s->rank + d;
        if (s->dims[d] == 1)
            continue;
        if (xd < 0 || axis != -2 || s->dims[d] != x->dims[xd])
            return -2;
        axis = xd;
    }
    return axis;
}

/* The quantization parameters of a (de)quantize node as a Quant of x's
 * type: per tensor, or per axis when `per_axis` allows; NULL otherwise. */
static Quant *node_quant(const Fold *f, const Node *q, bool per_axis)
{
    const Graph *g = f->g;
    int x = q->in[0], s = q->in[1], z = q->nin > 2 ? q->in[2] : -1;
    const Type *xt = &ir_value(g, q->op == OP_QUANTIZE_LINEAR ? q->out[0] : x)->type;
    if (!is_const(g, s) || (z >= 0 && !is_const(g, z)))
        return NULL;
    const Type *st = &ir_value(g, s)->type;
    int axis = scale_axis(xt, st);
    if (axis == -2 || (axis >= 0 && !per_axis))
        return NULL;
    if (z >= 0) {
        const Type *zt = &ir_value(g, z)->type;
        if (type_numel(zt) != 1 && (scale_axis(xt, zt) != axis || type_numel(zt) != type_numel(st)))
            return NULL;
    }
    int64_t n = type_numel(st), nz = z >= 0 ? type_numel(&ir_value(g, z)->type) : 1;
    Quant *qu = arena_alloc(g->arena, sizeof *qu);
    qu->axis = axis;
    qu->n = (int)n;
    qu->scale = arena_memdup(g->arena, ir_value(g, s)->data, (size_t)n * sizeof(float));
    qu->nzero = (int)nz;
    qu->zero = arena_alloc(g->arena, (size_t)nz * sizeof *qu->zero);
    Tensor zt = {z >= 0 ? ir_value(g, z)->type : type_make(DT_I32, 0, NULL),
                 z >= 0 ? ir_value(g, z)->data : NULL};
    for (int64_t i = 0; z >= 0 && i < nz; i++)
        qu->zero[i] = (int32_t)ref_get_i(&zt, i);
    for (int64_t i = 0; i < n; i++)
        if (!(qu->scale[i] > 0) || !isfinite(qu->scale[i]))
            return NULL;
    return qu;
}

static bool quant_same(const Quant *a, const Quant *b)
{
    if (a->axis != b->axis || a->n != b->n || a->nzero != b->nzero)
        return false;
    return memcmp(a->scale, b->scale, (size_t)a->n * sizeof *a->scale) == 0 &&
           memcmp(a->zero, b->zero, (size_t)a->nzero * sizeof *a->zero) == 0;
}

/* v may carry q: it has no parameters yet, or these. */
static bool can_attach(const Graph *g, int v, const Quant *q)
{
    const Quant *have = ir_value(g, v)->type.quant;
    return !have || quant_same(have, q);
}

/* An int8 activation read through a dequantize: x_q and its parameters. */
typedef struct {
    int value;
    Quant *quant;
} QIn;

static bool dq_input(const Fold *f, int v, bool per_axis, QIn *in)
{
    Node *dq = producer(f->g, v, OP_DEQUANTIZE_LINEAR);
    if (!dq || !is_q8(ir_in_type(f->g, dq, 0)->dtype))
        return false;
    in->value = dq->in[0];
    in->quant = node_quant(f, dq, per_axis);
    return in->quant && can_attach(f->g, in->value, in->quant);
}

/* The tail of a match: y -> [relu | clip] -> quantize. */
typedef struct {
    Node *act;          /* NULL without one */
    Node *q;
    Quant *quant;
    int32_t lo, hi;     /* clamp of the activation, in the output's integers */
} QOut;

static bool q_output(const Fold *f, int y, DType dt, QOut *out)
{
    memset(out, 0, sizeof *out);
    Node *u = sole_user(f, y);
    if (!u || u->in[0] != y)
        return false;
    double lo = -INFINITY, hi = INFINITY;
    if (u->op == OP_RELU || u->op == OP_CLIP) {
        out->act = u;
        if (u->op == OP_RELU) {
            lo = 0.0;
        } else {
            lo = ir_attr_float(u, "min");
            hi = ir_attr_float(u, "max");
        }
        u = sole_user(f, u->out[0]);
        if (!u || u->in[0] != out->act->out[0])
            return false;
    }
    if (u->op != OP_QUANTIZE_LINEAR || ir_out_type(f->g, u, 0)->dtype != dt)
        return false;
    out->q = u;
    out->quant = node_quant(f, u, false);
    /* q may carry these parameters already: an int8 graph output (--io int8). */
    if (!out->quant || !can_attach(f->g, u->out[0], out->quant))
        return false;
    /* quantize(clamp(v)) = clamp(quantize(v)) with the bounds quantized the
     * same way (x / scale rounded half to even, plus the zero point). */
    float s = out->quant->scale[0];
    int32_t z = out->quant->zero[0];
    double dlo = dt == DT_U8 ? 0 : -128, dhi = dt == DT_U8 ? 255 : 127;
    double qlo = isinf(lo) ? dlo : fmax(dlo, rint((float)lo / s) + z);
    double qhi = isinf(hi) ? dhi : fmin(dhi, rint((float)hi / s) + z);
    /* Bounds at the dtype's ends are no clamp of their own (not printed). */
    out->lo = qlo > dlo ? (int32_t)qlo : INT32_MIN;
    out->hi = qhi < dhi ? (int32_t)qhi : INT32_MAX;
    return qlo <= qhi;
}

/* A constant of `t` holding `data`, named after `base`. */
static int new_const(Fold *f, const char *base, Type t, void *data, Loc loc)
{
    const char *name = base;
    for (int i = 1; ir_find_value(f->g, name) >= 0; i++)
        name = arena_printf(f->g->arena, "%s_%d", base, i);
    return ir_add_const(f->c, f->g, name, t, data, loc);
}

/* The bias as int32 at scale sx * sw[m]: from dequantize(b_q, sb, zb) or a
 * float constant, rescaled exactly when sb differs from sx * sw[m].
 * -1 without a bias, -2 when it is neither. */
static int int_bias(Fold *f, int b, const Quant *xq, const Quant *wq, int64_t channels, Loc loc)
{
    if (b < 0)
        return -1;
    Graph *g = f->g;
    const Node *dq = producer(g, b, OP_DEQUANTIZE_LINEAR);
    const Quant *bq = NULL;
    int raw = b;
    if (dq) {
        bq = node_quant(f, dq, true);
        raw = dq->in[0];
        if (!bq || !is_const(g, raw))
            return -2;
    } else if (!is_const(g, b) || ir_value(g, b)->type.dtype != DT_F32) {
        return -2;
    }
    const Value *rv = ir_value(g, raw);
    if (type_numel(&rv->type) != channels)
        return -2;
    Tensor t = {rv->type, rv->data};
    int32_t *out = arena_alloc(g->arena, (size_t)channels * sizeof *out);
    for (int64_t m = 0; m < channels; m++) {
        double sxw = (double)(xq->scale[0] * quant_scale_at(wq, m)), real;
        if (bq)
            real = (double)(ref_get_i(&t, m) - quant_zero_at(bq, m)) * quant_scale_at(bq, m);
        else
            real = ((const float *)rv->data)[m];
        double v = rint(real / sxw);
        out[m] = v > INT32_MAX ? INT32_MAX : v < INT32_MIN ? INT32_MIN : (int32_t)v;
    }
    int64_t dims[1] = {channels};
    return new_const(f, arena_printf(g->arena, "%s_i32", rv->name), type_make(DT_I32, 1, dims), out, loc);
}

/* The node becomes `op` over `in`, producing o->q's output: types get
 * their parameters, the float output, activation and quantize die. */
static bool rewrite(Fold *f, int ni, int op, const int *in, int nin, const QOut *o)
{
    Graph *g = f->g;
    Node *n = ir_node(g, ni);
    int y = n->out[0], q = o->q->out[0];
    ir_change_op(g, ni, op);
    n->in = arena_memdup(g->arena, in, (size_t)nin * sizeof *in);
    n->nin = nin;
    Attr lo = {.type = AT_INT, .set = true, .i = o->lo}, hi = {.type = AT_INT, .set = true, .i = o->hi};
    if ((o->lo != INT32_MIN && !ir_set_attr(f->c, g, ni, "qmin", &lo, n->loc)) ||
        (o->hi != INT32_MAX && !ir_set_attr(f->c, g, ni, "qmax", &hi, n->loc)))
        return false;
    if (f->m->rounding != ROUND_SINGLE && op_attr_index(op, "rounding") >= 0) {
        Attr r = {.type = AT_STR, .set = true, .s = quant_rounding_name(f->m->rounding)};
        if (!ir_set_attr(f->c, g, ni, "rounding", &r, n->loc))
            return false;
    }
    g->values[q].type.quant = o->quant;
    n->out[0] = q;
    g->values[q].producer = ni;
    g->values[y].dead = true;
    if (o->act) {
        o->act->dead = true;
        g->values[o->act->out[0]].dead = true;
    }
    o->q->dead = true;
    return op_info(op)->infer(f->c, g, n);
}

static void attach(Graph *g, const QIn *in)
{
    g->values[in->value].type.quant = in->quant;
}

/* conv(dq(x), dq(w const)[, bias]) -> [act] -> q  =>  qconv. */
static bool fold_conv(Fold *f, int ni, bool *changed)
{
    Graph *g = f->g;
    Node *n = ir_node(g, ni);
    QIn x, w;
    QOut o;
    /* a fused residual or activation (the fusion passes run later; graph
     * text may have them) */
    if (n->nin > 3 || ir_has_act(n))
        return true;
    if (!dq_input(f, n->in[0], false, &x) || !dq_input(f, n->in[1], true, &w) ||
        !is_const(g, w.value) || (w.quant->axis != -1 && w.quant->axis != 0))
        return true;
    DType dt = ir_value(g, x.value)->type.dtype;
    int64_t mch = ir_value(g, w.value)->type.dims[0];
    if (!q_output(f, n->out[0], dt, &o))
        return true;
    int b = int_bias(f, n->nin > 2 ? n->in[2] : -1, x.quant, w.quant, mch, n->loc);
    if (b == -2)
        return true;
    attach(g, &x);
    attach(g, &w);
    int in[3] = {x.value, w.value, b};
    *changed = true;
    return rewrite(f, ni, OP_QCONV, in, b >= 0 ? 3 : 2, &o);
}

/* gemm(dq(a), dq(w const)[, bias]) with alpha = beta = 1, no trans_a
 * => qgemm, whose w is [N, K] (transposed here when trans_b = 0). */
static bool fold_gemm(Fold *f, int ni, bool *changed)
{
    Graph *g = f->g;
    Node *n = ir_node(g, ni);
    if (ir_attr_int(n, "trans_a") || ir_attr_float(n, "alpha") != 1.0 ||
        (n->nin > 2 && n->in[2] >= 0 && ir_attr_float(n, "beta") != 1.0) ||
        ir_has_act(n))
        return true;
    QIn a, w;
    QOut o;
    if (!dq_input(f, n->in[0], false, &a) || !dq_input(f, n->in[1], true, &w) || !is_const(g, w.value))
        return true;
    bool tb = ir_attr_int(n, "trans_b") != 0;
    const Value *wv = ir_value(g, w.value);
    int64_t K = wv->type.dims[tb ? 1 : 0], N = wv->type.dims[tb ? 0 : 1];
    int n_axis = tb ? 0 : 1;
    if (w.quant->axis != -1 && w.quant->axis != n_axis)
        return true;
    DType dt = ir_value(g, a.value)->type.dtype;
    if (!q_output(f, n->out[0], dt, &o))
        return true;
    int b = int_bias(f, n->nin > 2 ? n->in[2] : -1, a.quant, w.quant, N, n->loc);
    if (b == -2)
        return true;
    attach(g, &a);
    /* The weight as [N, K], per-axis along 0. */
    Quant *wq = arena_memdup(g->arena, w.quant, sizeof *w.quant);
    if (wq->axis >= 0)
        wq->axis = 0;
    int wn = w.value;
    if (!tb) {
        size_t es = dtype_size(wv->type.dtype);
        unsigned char *d = arena_alloc(g->arena, (size_t)(K * N) * es + 1);
        for (int64_t k = 0; k < K; k++)
            for (int64_t j = 0; j < N; j++)
                memcpy(d + (size_t)(j * K + k) * es, (const unsigned char *)wv->data + (size_t)(k * N + j) * es, es);
        int64_t dims[2] = {N, K};
        Type t = type_make(wv->type.dtype, 2, dims);
        wn = new_const(f, arena_printf(g->arena, "%s_nk", wv->name), t, d, n->loc);
        if (wn < 0)
            return false;
    } else if (!can_attach(g, wn, wq)) {
        return true;
    }
    g->values[wn].type.quant = wq;
    int in[3] = {a.value, wn, b};
    *changed = true;
    return rewrite(f, ni, OP_QGEMM, in, b >= 0 ? 3 : 2, &o);
}

/* x's codes can be requantized to y's parameters (qmax_pool, qconcat). */
static bool rescalable(const Quant *x, const Quant *y)
{
    Type tx = {.quant = (Quant *)x}, ty = {.quant = (Quant *)y};
    QRescale r;
    return quant_rescale_init(&tx, &ty, &r);
}

/* average_pool / global_average_pool of dq(x) -> q => qaverage_pool, when
 * every window counts the same taps (no padding, no ceil_mode tail);
 * max_pool / global_max_pool of dq(x) -> [act] -> q => qmax_pool, when
 * every window reads an element of x (max_pool skips the padding). */
static bool fold_pool(Fold *f, int ni, bool *changed)
{
    Graph *g = f->g;
    Node *n = ir_node(g, ni);
    QIn x;
    QOut o;
    if (!dq_input(f, n->in[0], false, &x))
        return true;
    const Type *xt = &ir_value(g, x.value)->type;
    bool is_max = n->op == OP_MAX_POOL || n->op == OP_GLOBAL_MAX_POOL;
    if (!q_output(f, n->out[0], xt->dtype, &o) || (o.act && !is_max))
        return true;
    if (is_max && !rescalable(x.quant, o.quant))
        return true;
    if (n->op == OP_AVERAGE_POOL || n->op == OP_MAX_POOL) {
        Geom geo;
        if (!ir_window_geom(NULL, g, n, &geo))
            return true;
        for (int d = 0; d < geo.nspatial && !is_max; d++) {
            int64_t last = (geo.out[d] - 1) * geo.stride[d] + (geo.kernel[d] - 1) * geo.dilation[d];
            if (geo.pad_begin[d] > 0 || last - geo.pad_begin[d] >= geo.in[d])
                return true;
        }
        if (is_max && !quant_windows_read(&geo))
            return true;
    }
    attach(g, &x);
    int in[1] = {x.value};
    int op = is_max ? OP_QMAX_POOL : OP_QAVERAGE_POOL;
    *changed = true;
    if (n->op == OP_AVERAGE_POOL || n->op == OP_MAX_POOL)
        return rewrite(f, ni, op, in, 1, &o);
    /* A global pool is the pool whose window is the whole plane. */
    Attr ks = {.type = AT_INTS, .set = true, .n = xt->rank - 2,
               .ints = arena_memdup(g->arena, xt->dims + 2, (size_t)(xt->rank - 2) * sizeof(int64_t))};
    ir_change_op(g, ni, op);
    return ir_set_attr(f->c, g, ni, "kernel_shape", &ks, n->loc) && rewrite(f, ni, op, in, 1, &o);
}

/* add(dq(a), dq(b)) -> [act] -> q => qadd; mul => qmul. Of one
 * dequantized value (x * x), or by a scalar constant (x * dq(c)), a qlut:
 * exact, and a load per element. */
static bool fold_binary(Fold *f, int ni, bool *changed)
{
    Graph *g = f->g;
    Node *n = ir_node(g, ni);
    QIn a, b;
    QOut o;
    if (n->in[0] == n->in[1] || !dq_input(f, n->in[0], false, &a) || !dq_input(f, n->in[1], false, &b))
        return true;
    DType dt = ir_value(g, a.value)->type.dtype;
    if (ir_value(g, b.value)->type.dtype != dt || (a.value == b.value && !quant_same(a.quant, b.quant)))
        return true;
    if (scalar_dq(g, n->in[0]) || scalar_dq(g, n->in[1])) /* by a constant: qlut */
        return true;
    if (!q_output(f, n->out[0], dt, &o))
        return true;
    bool mul = n->op == OP_MUL;
    Type ta = {.quant = a.quant}, tb = {.quant = b.quant}, ty = {.quant = o.quant};
    QMult m;
    if (mul && !quant_out_mult(&ta, &tb, 0, &ty, &m)) /* sa sb / sy, as qmul's */
        return true;
    attach(g, &a);
    attach(g, &b);
    int in[2] = {a.value, b.value};
    *changed = true;
    return rewrite(f, ni, mul ? OP_QMUL : OP_QADD, in, 2, &o);
}

/* concat(dq(x0), dq(x1), ...) -> [act] -> q => qconcat. */
static bool fold_concat(Fold *f, int ni, bool *changed)
{
    Graph *g = f->g;
    Node *n = ir_node(g, ni);
    QIn *x = arena_alloc(g->arena, (size_t)n->nin * sizeof *x);
    QOut o;
    for (int k = 0; k < n->nin; k++) {
        if (!dq_input(f, n->in[k], false, &x[k]) ||
            ir_value(g, x[k].value)->type.dtype != ir_value(g, x[0].value)->type.dtype)
            return true;
        for (int j = 0; j < k; j++)
            if (x[j].value == x[k].value && !quant_same(x[j].quant, x[k].quant))
                return true;
    }
    if (!q_output(f, n->out[0], ir_value(g, x[0].value)->type.dtype, &o))
        return true;
    int *in = arena_alloc(g->arena, (size_t)n->nin * sizeof *in);
    for (int k = 0; k < n->nin; k++) {
        if (!rescalable(x[k].quant, o.quant))
            return true;
        in[k] = x[k].value;
    }
    for (int k = 0; k < n->nin; k++)
        attach(g, &x[k]);
    *changed = true;
    return rewrite(f, ni, OP_QCONCAT, in, n->nin, &o);
}

/* softmax over the last axis of dq(x) -> q => qsoftmax. */
static bool fold_softmax(Fold *f, int ni, bool *changed)
{
    Graph *g = f->g;
    Node *n = ir_node(g, ni);
    QIn x;
    QOut o;
    if (!dq_input(f, n->in[0], false, &x))
        return true;
    const Type *xt = &ir_value(g, x.value)->type;
    int64_t axis = ir_attr_int(n, "axis");
    if (axis != -1 && axis != xt->rank - 1)
        return true;
    if (!q_output(f, n->out[0], xt->dtype, &o) || o.act || o.lo != INT32_MIN || o.hi != INT32_MAX)
        return true;
    if (quant_softmax_r(o.quant->scale[0]) > (int64_t)1 << 38)
        return true;
    attach(g, &x);
    int in[1] = {x.value};
    *changed = true;
    return rewrite(f, ni, OP_QSOFTMAX, in, 1, &o);
}

/* An op that only moves values (transpose, reshape, flatten, squeeze,
 * unsqueeze) between a dequantize and a quantize of the same parameters
 * moves the int8 values themselves: op(dq(x)) -> q => op(x). */
static bool fold_move(Fold *f, int ni, bool *changed)
{
    Graph *g = f->g;
    Node *n = ir_node(g, ni);
    QIn x;
    QOut o;
    if (!dq_input(f, n->in[0], false, &x))
        return true;
    DType dt = ir_value(g, x.value)->type.dtype;
    if (!q_output(f, n->out[0], dt, &o) || o.act || !quant_same(o.quant, x.quant))
        return true;
    attach(g, &x);
    int y = n->out[0], q = o.q->out[0];
    n->in[0] = x.value;
    n->out[0] = q;
    g->values[q].producer = ni;
    g->values[q].type.quant = o.quant;
    g->values[y].dead = true;
    o.q->dead = true;
    *changed = true;
    return op_info(n->op)->infer(f->c, g, n);
}

/* ------------------------------------------------------------- qlut */

/* An elementwise region: elementwise nodes computing one value from one
 * dequantized int8 value (the source) and scalar constants, every value
 * made inside it read by region nodes only (inside, any dtype: a compare
 * feeding a where is fine). Then each output code is a function of the
 * source's code alone: 256 entries. */
enum { LUT_MAX_NODES = 16, LUT_MAX_IN = 8 };
typedef struct {
    int node[LUT_MAX_NODES], n;
    QIn src;
    int src_dq;         /* the dequantized value the region reads */
    int cdq[LUT_MAX_NODES], ncdq; /* dequantized scalar constants it reads */
} Region;

static bool in_region(const Region *r, int ni)
{
    for (int i = 0; i < r->n; i++)
        if (r->node[i] == ni)
            return true;
    return false;
}

/* The region ending at node `end`, collected backwards from it. */
static bool lut_region(const Fold *f, int end, Region *r)
{
    const Graph *g = f->g;
    r->n = r->ncdq = 0;
    r->src_dq = -1;
    r->node[r->n++] = end;
    for (int i = 0; i < r->n; i++) {
        const Node *m = ir_node(g, r->node[i]);
        if (m->nin > LUT_MAX_IN)
            return false;
        for (int k = 0; k < m->nin; k++) {
            int v = m->in[k];
            if (v < 0 || v == r->src_dq || scalar_const(g, v))
                continue;
            if (scalar_dq(g, v)) {
                bool seen = false;
                for (int j = 0; j < r->ncdq; j++)
                    seen = seen || r->cdq[j] == v;
                if (!seen && r->ncdq == LUT_MAX_NODES)
                    return false;
                if (!seen)
                    r->cdq[r->ncdq++] = v;
                continue;
            }
            if (producer(g, v, OP_DEQUANTIZE_LINEAR)) {
                if (r->src_dq >= 0 || !dq_input(f, v, false, &r->src))
                    return false; /* a second source, or not an int8 one */
                r->src_dq = v;
                continue;
            }
            const Value *val = ir_value(g, v);
            if (val->kind != VK_NODE)
                return false;
            const Node *p = ir_node(g, val->producer);
            if (p->dead || !op_info(p->op)->expr || p->op == OP_QUANTIZE_LINEAR || p->nout != 1)
                return false;
            if (!in_region(r, val->producer)) {
                if (r->n == LUT_MAX_NODES)
                    return false;
                r->node[r->n++] = val->producer;
            }
        }
    }
    if (r->src_dq < 0)
        return false;
    /* Values made inside are read inside only (a graph output never is). */
    for (int i = 1; i < r->n; i++) {
        int v = ir_node(g, r->node[i])->out[0], reads = 0;
        for (int j = 0; j < r->n; j++) {
            const Node *m = ir_node(g, r->node[j]);
            for (int k = 0; k < m->nin; k++)
                reads += m->in[k] == v;
        }
        if (reads != f->uses[v])
            return false;
    }
    return true;
}

static int cmp_int(const void *a, const void *b)
{
    return (*(const int *)a > *(const int *)b) - (*(const int *)a < *(const int *)b);
}

/* A [256] tensor of dtype dt. */
static Tensor lut_tensor(Graph *g, DType dt)
{
    int64_t dims[1] = {256};
    Type t = type_make(dt, 1, dims);
    return (Tensor){t, arena_alloc(g->arena, type_bytes(&t))};
}

/* A scalar constant as a rank-0 tensor (it broadcasts against [256]). */
static Tensor scalar_tensor(const Graph *g, int v)
{
    const Value *val = ir_value(g, v);
    return (Tensor){type_make(val->type.dtype, 0, NULL), val->data};
}

/* Runs node n's reference on [256] tensors: inputs `from` (made by region
 * nodes, or the source) or scalar constants. */
static Tensor lut_eval(Graph *g, const Node *n, const int *vals, const Tensor *from, int nfrom)
{
    Tensor in[LUT_MAX_IN];
    for (int k = 0; k < n->nin; k++) {
        in[k] = (Tensor){{0}, NULL};
        for (int j = 0; j < nfrom; j++)
            if (n->in[k] >= 0 && n->in[k] == vals[j])
                in[k] = from[j];
        if (!in[k].data && n->in[k] >= 0)
            in[k] = scalar_tensor(g, n->in[k]);
    }
    Tensor out = lut_tensor(g, ir_value(g, n->out[0])->type.dtype);
    op_info(n->op)->ref(g, n, in, &out);
    return out;
}

/* An elementwise region from dq(x) -> q => qlut(x, table): the table runs
 * every code of x through the dequantize, the region's ops and the quantize
 * with their own references, so qlut gives what the QDQ graph gives (the
 * interpreter's float arithmetic), for any elementwise op. */
static bool fold_lut(Fold *f, int ni, bool *changed)
{
    Graph *g = f->g;
    Region r;
    QOut o;
    const Node *end = ir_node(g, ni);
    /* Only a quantize right after: a relu or clip in between is a region
     * node, and the region is folded from it when the pass gets there. */
    const Node *u = sole_user(f, end->out[0]);
    if (!u || u->op != OP_QUANTIZE_LINEAR || !q_output(f, end->out[0], ir_out_type(g, u, 0)->dtype, &o) ||
        o.act || !lut_region(f, ni, &r))
        return true;
    qsort(r.node, (size_t)r.n, sizeof r.node[0], cmp_int); /* node order is a schedule */
    /* Every code of x, dequantized as the graph does. */
    const Node *dq = ir_node(g, ir_value(g, r.src_dq)->producer);
    DType xdt = ir_value(g, r.src.value)->type.dtype;
    Tensor codes = lut_tensor(g, xdt);
    for (int i = 0; i < 256; i++)
        ref_set_i(&codes, i, (xdt == DT_U8 ? 0 : -128) + i);
    int vals[2 * LUT_MAX_NODES + 1] = {r.src_dq};
    Tensor from[2 * LUT_MAX_NODES + 1] = {lut_eval(g, dq, &dq->in[0], &codes, 1)};
    int nfrom = 1;
    for (int i = 0; i < r.ncdq; i++) { /* the dequantized constants, as scalars */
        const Node *c = ir_node(g, ir_value(g, r.cdq[i])->producer);
        Tensor in[3], out = {type_make(DT_F32, 0, NULL), arena_alloc(g->arena, sizeof(float))};
        for (int k = 0; k < c->nin; k++)
            in[k] = c->in[k] >= 0 ? scalar_tensor(g, c->in[k]) : (Tensor){{0}, NULL};
        op_info(c->op)->ref(g, c, in, &out);
        vals[nfrom] = r.cdq[i];
        from[nfrom++] = out;
    }
    for (int i = 0; i < r.n; i++) {
        const Node *m = ir_node(g, r.node[i]);
        from[nfrom] = lut_eval(g, m, vals, from, nfrom);
        vals[nfrom++] = m->out[0];
    }
    Tensor table = lut_eval(g, o.q, vals, from, nfrom);
    Value *qv = ir_value(g, o.q->out[0]);
    int t = new_const(f, arena_printf(g->arena, "%s_lut", qv->name), table.type, table.data, end->loc);
    if (t < 0)
        return false;
    for (int i = 0; i < r.n; i++)
        if (r.node[i] != ni) {
            ir_node(g, r.node[i])->dead = true;
            g->values[ir_node(g, r.node[i])->out[0]].dead = true;
        }
    attach(g, &r.src);
    int in[2] = {r.src.value, t};
    *changed = true;
    return rewrite(f, ni, OP_QLUT, in, 2, &o);
}

/* A dequantize whose inputs are all constants becomes a float constant
 * (its output value turns into the constant, keeping name and uses). */
static void fold_const_dq(Graph *g, int ni, bool *changed)
{
    Node *n = ir_node(g, ni);
    for (int k = 0; k < n->nin; k++)
        if (n->in[k] >= 0 && !is_const(g, n->in[k]))
            return;
    Tensor in[3] = {{{0}, NULL}};
    for (int k = 0; k < n->nin; k++)
        if (n->in[k] >= 0)
            in[k] = (Tensor){ir_value(g, n->in[k])->type, ir_value(g, n->in[k])->data};
    Value *v = ir_value(g, n->out[0]);
    Tensor out = {v->type, arena_alloc(g->arena, type_bytes(&v->type) + 1)};
    op_info(n->op)->ref(g, n, in, &out);
    v->kind = VK_CONST;
    v->data = out.data;
    v->producer = -1;
    n->dead = true;
    *changed = true;
}

bool pass_fold_qdq(Ctx *c, Module *m)
{
    Fold f = {.c = c, .m = m, .g = m->graph};
    count_uses(&f);
    bool changed = false;
    Graph *g = f.g;
    for (int i = 0; i < g->nnodes && !c->nerrors; i++) {
        Node *n = ir_node(g, i);
        if (n->dead || n->nout != 1 || ir_out_type(g, n, 0)->dtype != DT_F32)
            continue;
        bool ok = true;
        switch (n->op) {
        case OP_CONV: ok = fold_conv(&f, i, &changed); break;
        case OP_GEMM: ok = fold_gemm(&f, i, &changed); break;
        case OP_AVERAGE_POOL:
        case OP_GLOBAL_AVERAGE_POOL:
        case OP_MAX_POOL:
        case OP_GLOBAL_MAX_POOL: ok = fold_pool(&f, i, &changed); break;
        case OP_ADD:
        case OP_MUL: ok = fold_binary(&f, i, &changed); break;
        case OP_CONCAT: ok = fold_concat(&f, i, &changed); break;
        case OP_SOFTMAX: ok = fold_softmax(&f, i, &changed); break;
        case OP_TRANSPOSE:
        case OP_RESHAPE:
        case OP_FLATTEN:
        case OP_SQUEEZE:
        case OP_UNSQUEEZE: ok = fold_move(&f, i, &changed); break;
        default: break;
        }
        /* Any elementwise op a kernel above did not take, e.g. sigmoid, or
         * add(dq(x), 3): a lookup table. */
        n = ir_node(g, i);
        if (ok && !n->dead && op_info(n->op)->expr && n->op != OP_QUANTIZE_LINEAR &&
            n->op != OP_DEQUANTIZE_LINEAR)
            ok = fold_lut(&f, i, &changed);
        if (!ok)
            return changed;
    }
    count_uses(&f); /* the dequantizes the int8 ops no longer read are dce's */
    for (int i = 0; i < g->nnodes; i++)
        if (!g->nodes[i].dead && g->nodes[i].op == OP_DEQUANTIZE_LINEAR && f.uses[g->nodes[i].out[0]])
            fold_const_dq(g, i, &changed);
    return changed;
}

bool fold_dequantized_constants(Graph *g)
{
    bool changed = false;
    for (int i = 0; i < g->nnodes; i++)
        if (!g->nodes[i].dead && g->nodes[i].op == OP_DEQUANTIZE_LINEAR)
            fold_const_dq(g, i, &changed);
    return changed;
}
