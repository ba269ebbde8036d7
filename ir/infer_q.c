/* infer_q.c: inference of the int8 ops (qconv, qgemm, qaverage_pool, qadd,
 * qsoftmax, qmax_pool, qmul, qconcat, qlut).
 *
 * Shapes follow the float op of the same meaning (conv's and the pools'
 * inference run for the shape part). On top, every operand's dtype and
 * quantization parameters are checked, since the integer kernels read them:
 *   activations (x, a, y): i8 or u8 with per-tensor parameters;
 *   weights (w): i8 or u8, per-tensor or per-axis along dim 0;
 *   bias (b): i32 [channels], its scale implied (sx * sw[m]);
 *   qlut's table: i8[256] or u8[256], the output's dtype;
 *   the output: the dtype of x, and the parameters it already carries (an
 *   annotation or the fold-qdq pass), which nothing can infer.
 * Each requantization multiplier must be representable (quant.c).
 */
#include "ir.h"

#include <string.h>

enum { TSZ = 256 };

static bool is_q8(DType t) { return t == DT_I8 || t == DT_U8; }

static const char *tstr(const Type *t, char *buf)
{
    return type_str(t, buf, TSZ);
}

/* Input i is i8/u8 with per-tensor quantization parameters. */
static bool check_act(Ctx *c, const Graph *g, const Node *n, int i, const char *role)
{
    const Type *t = ir_in_type(g, n, i);
    char ts[TSZ];
    if (!is_q8(t->dtype) || !t->quant || t->quant->axis >= 0)
        return infer_node_error(c, g, n, "%s must be i8 or u8 with per-tensor quantization "
                                "parameters, but %s is %s%s", role, role, tstr(t, ts),
                                !t->quant ? " (not quantized)" : t->quant->axis >= 0 ? " (per-axis)" : "");
    return true;
}

/* w is i8/u8, per-tensor or per-axis 0 over `channels`. */
static bool check_weight(Ctx *c, const Graph *g, const Node *n, int64_t channels)
{
    const Type *t = ir_in_type(g, n, 1);
    char ts[TSZ];
    if (!is_q8(t->dtype) || !t->quant)
        return infer_node_error(c, g, n, "w must be i8 or u8 with quantization parameters, but w is %s%s",
                                tstr(t, ts), !t->quant ? " (not quantized)" : "");
    const Quant *q = t->quant;
    if (q->axis >= 0 && (q->axis != 0 || q->n != channels))
        return infer_node_error(c, g, n, "w's quantization must be per-tensor or per-axis along dim 0 "
                                "(%lld output channels), but w is %s with axis %d",
                                (long long)channels, tstr(t, ts), q->axis);
    return true;
}

static bool check_bias(Ctx *c, const Graph *g, const Node *n, int64_t channels)
{
    if (n->nin < 3 || n->in[2] < 0)
        return true;
    const Type *t = ir_in_type(g, n, 2);
    char ts[TSZ];
    if (t->dtype != DT_I32 || t->rank != 1 || t->dims[0] != channels)
        return infer_node_error(c, g, n, "bias b must be i32[%lld] (one per output channel), but b is %s",
                                (long long)channels, tstr(t, ts));
    return true;
}

static bool check_attrs(Ctx *c, const Graph *g, const Node *n, DType dt)
{
    const char *r = ir_attr_str(n, "rounding");
    if (quant_rounding_by_name(r) < 0)
        return infer_node_error(c, g, n, "rounding \"%s\" is not one of single, tflite", r);
    int32_t lo, hi;
    quant_bounds(n, dt, &lo, &hi);
    if (lo > hi)
        return infer_node_error(c, g, n, "qmin %lld and qmax %lld leave no value of %s",
                                (long long)ir_attr_int(n, "qmin"), (long long)ir_attr_int(n, "qmax"),
                                dtype_name(dt));
    return true;
}

/* Output 0 becomes dt with `q`, which must be given and per-tensor. */
static bool set_quant_out(Ctx *c, Graph *g, Node *n, DType dt, Quant *q)
{
    Type *o = ir_out_type(g, n, 0);
    o->dtype = dt;
    o->quant = q;
    char ts[TSZ];
    if (!q)
        return infer_node_error(c, g, n, "the output needs quantization parameters, e.g. "
                                "`y : %s {scale = 0.05, zero = 0} = %s(...)`", tstr(o, ts),
                                op_info(n->op)->name);
    if (q->axis >= 0)
        return infer_node_error(c, g, n, "the output's quantization must be per-tensor, but it is "
                                "per-axis (axis %d)", q->axis);
    return true;
}

/* Every output channel's multiplier sx * sw[m] / sy is representable. */
static bool check_mults(Ctx *c, const Graph *g, const Node *n, int64_t channels)
{
    const Type *x = ir_in_type(g, n, 0), *w = ir_in_type(g, n, 1), *y = ir_out_type(g, n, 0);
    for (int64_t m = 0; m < channels; m++) {
        QMult q;
        if (!quant_out_mult(x, w, m, y, &q))
            return infer_node_error(c, g, n, "requantization multiplier sx * sw[%lld] / sy = %g * %g / %g "
                                    "is not a positive value below 2^30", (long long)m,
                                    (double)quant_scale_at(x->quant, 0),
                                    (double)quant_scale_at(w->quant, m),
                                    (double)quant_scale_at(y->quant, 0));
    }
    return true;
}

bool infer_qconv(Ctx *c, Graph *g, Node *n)
{
    Quant *q = ir_out_type(g, n, 0)->quant;
    if (!check_act(c, g, n, 0, "x"))
        return false;
    int64_t m = ir_in_type(g, n, 1)->dims[0];
    if (!check_weight(c, g, n, m) || !check_bias(c, g, n, m))
        return false;
    DType dt = ir_in_type(g, n, 0)->dtype;
    if (!check_attrs(c, g, n, dt) || !infer_conv(c, g, n))
        return false;
    return set_quant_out(c, g, n, dt, q) && check_mults(c, g, n, m);
}

bool infer_qgemm(Ctx *c, Graph *g, Node *n)
{
    Quant *q = ir_out_type(g, n, 0)->quant;
    const Type *a = ir_in_type(g, n, 0), *w = ir_in_type(g, n, 1);
    char ta[TSZ], tw[TSZ];
    if (!check_act(c, g, n, 0, "a"))
        return false;
    if (a->rank != 2 || w->rank != 2 || a->dims[1] != w->dims[1])
        return infer_node_error(c, g, n, "a must be [M, K] and w [N, K], but a is %s and w is %s",
                                tstr(a, ta), tstr(w, tw));
    if (!check_weight(c, g, n, w->dims[0]) || !check_bias(c, g, n, w->dims[0]) ||
        !check_attrs(c, g, n, a->dtype))
        return false;
    int64_t dims[2] = {a->dims[0], w->dims[0]};
    *ir_out_type(g, n, 0) = type_make(a->dtype, 2, dims);
    return set_quant_out(c, g, n, a->dtype, q) && check_mults(c, g, n, w->dims[0]);
}

bool infer_qaverage_pool(Ctx *c, Graph *g, Node *n)
{
    Quant *q = ir_out_type(g, n, 0)->quant;
    if (!check_act(c, g, n, 0, "x"))
        return false;
    DType dt = ir_in_type(g, n, 0)->dtype;
    Geom geo;
    if (!check_attrs(c, g, n, dt) || !infer_pool(c, g, n) || !ir_window_geom(c, g, n, &geo))
        return false;
    bool include_pad = ir_attr_int(n, "count_include_pad") != 0;
    int64_t count = 1;
    for (int d = 0; d < geo.nspatial; d++) {
        int64_t last = (geo.out[d] - 1) * geo.stride[d] + (geo.kernel[d] - 1) * geo.dilation[d];
        bool padded = geo.pad_begin[d] > 0 || last - geo.pad_begin[d] >= geo.in[d];
        bool past = last >= geo.in[d] + geo.pad_begin[d] + geo.pad_end[d]; /* ceil_mode tail */
        if ((padded && !include_pad) || past)
            return infer_node_error(c, g, n, "windows of different sizes (padding%s) have no int8 "
                                    "kernel: every window must count the same taps",
                                    past ? ", ceil_mode" : " without count_include_pad");
        count *= geo.kernel[d];
    }
    if (!set_quant_out(c, g, n, dt, q))
        return false;
    const Type *x = ir_in_type(g, n, 0), *y = ir_out_type(g, n, 0);
    QMult m;
    double real = (double)quant_scale_at(x->quant, 0) / ((double)quant_scale_at(y->quant, 0) * (double)count);
    if (!quant_multiplier(real, &m))
        return infer_node_error(c, g, n, "requantization multiplier sx / (sy * %lld) = %g is not a "
                                "positive value below 2^30", (long long)count, real);
    return true;
}

/* The common part of the binary int8 ops (qadd, qmul): a and b int8
 * activations of one dtype, broadcast to y's shape, y carrying the
 * parameters it was given. */
static bool infer_qbinary(Ctx *c, Graph *g, Node *n)
{
    Quant *q = ir_out_type(g, n, 0)->quant;
    if (!check_act(c, g, n, 0, "a") || !check_act(c, g, n, 1, "b"))
        return false;
    const Type *a = ir_in_type(g, n, 0), *b = ir_in_type(g, n, 1);
    char ta[TSZ], tb[TSZ];
    if (a->dtype != b->dtype)
        return infer_node_error(c, g, n, "a and b must have one dtype, but a is %s and b is %s",
                                tstr(a, ta), tstr(b, tb));
    Type t;
    if (!check_attrs(c, g, n, a->dtype) || !infer_broadcast_shape(c, n, a, b, &t))
        return false;
    t.dtype = a->dtype;
    t.quant = NULL;
    *ir_out_type(g, n, 0) = t;
    if (!set_quant_out(c, g, n, a->dtype, q))
        return false;
    return true;
}

bool infer_qadd(Ctx *c, Graph *g, Node *n)
{
    Quant *q = ir_out_type(g, n, 0)->quant;
    if (!infer_qbinary(c, g, n))
        return false;
    const Type *a = ir_in_type(g, n, 0), *b = ir_in_type(g, n, 1);
    QMult ma, mb, my;
    if (!quant_add_mults(a, b, ir_out_type(g, n, 0), &ma, &mb, &my))
        return infer_node_error(c, g, n, "the scales of a, b and the output (%g, %g, %g) give no "
                                "representable requantization",
                                (double)quant_scale_at(a->quant, 0), (double)quant_scale_at(b->quant, 0),
                                (double)quant_scale_at(q, 0));
    return true;
}

bool infer_qsoftmax(Ctx *c, Graph *g, Node *n)
{
    Quant *q = ir_out_type(g, n, 0)->quant;
    if (!check_act(c, g, n, 0, "x"))
        return false;
    const Type *x = ir_in_type(g, n, 0);
    char tx[TSZ];
    if (x->rank < 1 || x->dims[x->rank - 1] > 1 << 16)
        return infer_node_error(c, g, n, "x must have rank >= 1 and rows of at most 65536, but x is %s",
                                tstr(x, tx));
    Type t = type_make(x->dtype, x->rank, x->dims);
    *ir_out_type(g, n, 0) = t;
    if (!set_quant_out(c, g, n, x->dtype, q))
        return false;
    if (quant_softmax_r(quant_scale_at(q, 0)) > (int64_t)1 << 38) /* t * r stays below 2^61 */
        return infer_node_error(c, g, n, "output scale %g is too small for the integer softmax",
                                (double)quant_scale_at(q, 0));
    return true;
}

/* x's codes requantized to y's parameters (qmax_pool, qconcat): sx / sy
 * is representable, or the scales are equal. */
static bool check_rescale(Ctx *c, const Graph *g, const Node *n, const Type *x, const char *role)
{
    QRescale r;
    const Type *y = ir_out_type(g, n, 0);
    if (!quant_rescale_init(x, y, &r))
        return infer_node_error(c, g, n, "requantization multiplier s%s / sy = %g / %g is not a "
                                "positive value below 2^30", role, (double)quant_scale_at(x->quant, 0),
                                (double)quant_scale_at(y->quant, 0));
    return true;
}

bool infer_qmax_pool(Ctx *c, Graph *g, Node *n)
{
    Quant *q = ir_out_type(g, n, 0)->quant;
    if (!check_act(c, g, n, 0, "x"))
        return false;
    DType dt = ir_in_type(g, n, 0)->dtype;
    Geom geo;
    if (!check_attrs(c, g, n, dt) || !infer_pool(c, g, n) || !ir_window_geom(c, g, n, &geo))
        return false;
    if (!quant_windows_read(&geo))
        return infer_node_error(c, g, n, "a window lies in the padding alone: its max has no int8 value");
    return set_quant_out(c, g, n, dt, q) && check_rescale(c, g, n, ir_in_type(g, n, 0), "x");
}

bool infer_qmul(Ctx *c, Graph *g, Node *n)
{
    Quant *q = ir_out_type(g, n, 0)->quant;
    if (!infer_qbinary(c, g, n))
        return false;
    const Type *a = ir_in_type(g, n, 0), *b = ir_in_type(g, n, 1);
    QMult m;
    if (!quant_out_mult(a, b, 0, ir_out_type(g, n, 0), &m))
        return infer_node_error(c, g, n, "requantization multiplier sa * sb / sy = %g * %g / %g is not "
                                "a positive value below 2^30", (double)quant_scale_at(a->quant, 0),
                                (double)quant_scale_at(b->quant, 0), (double)quant_scale_at(q, 0));
    return true;
}

bool infer_qconcat(Ctx *c, Graph *g, Node *n)
{
    Quant *q = ir_out_type(g, n, 0)->quant;
    for (int i = 0; i < n->nin; i++) {
        char role[32];
        snprintf(role, sizeof role, "input %d", i);
        if (n->in[i] >= 0 && !check_act(c, g, n, i, role))
            return false;
    }
    DType dt = ir_in_type(g, n, 0)->dtype;
    if (!check_attrs(c, g, n, dt) || !infer_concat(c, g, n) || !set_quant_out(c, g, n, dt, q))
        return false;
    for (int i = 0; i < n->nin; i++) {
        char role[32];
        snprintf(role, sizeof role, "%d", i);
        if (!check_rescale(c, g, n, ir_in_type(g, n, i), role))
            return false;
    }
    return true;
}

bool infer_qlut(Ctx *c, Graph *g, Node *n)
{
    Quant *q = ir_out_type(g, n, 0)->quant;
    if (!check_act(c, g, n, 0, "x"))
        return false;
    const Type *x = ir_in_type(g, n, 0), *t = ir_in_type(g, n, 1);
    char ts[TSZ];
    if (!is_q8(t->dtype) || t->rank != 1 || t->dims[0] != 256)
        return infer_node_error(c, g, n, "table must be i8[256] or u8[256] (an output per input code), "
                                "but table is %s", tstr(t, ts));
    *ir_out_type(g, n, 0) = type_make(t->dtype, x->rank, x->dims);
    return set_quant_out(c, g, n, t->dtype, q);
}
