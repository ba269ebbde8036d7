/* onnx_quant.c: the ONNX importer's quantized forms.
 *
 * QuantizeLinear / DequantizeLinear become etch's ops (a per-axis scale
 * reshaped to broadcast along its axis), and every QOperator op, of the
 * default domain (QLinearConv, QLinearMatMul, MatMulInteger, ConvInteger,
 * DynamicQuantizeLinear) and of onnxruntime's com.microsoft domain
 * (QLinearAdd, QGemm, ...), becomes the dequantize -> float op -> quantize
 * graph it means. fold-qdq later makes int8 kernels of those graphs where
 * the quantization parameters are constants.
 */
#include "onnx_import.h"

#include <math.h>
#include <string.h>

/* quantize_linear or dequantize_linear (`op`) of x with scale s and zero z
 * (-1: none). etch's ops broadcast scale and zero against x, so a per-axis
 * scale [C] (opset 13+) is reshaped to [C, 1, ..., 1], aligning C with x's
 * `axis`. A dequantize of constants stays a node (see onnx_build()). */
static bool build_qdq(FeOnnx *im, const OnnxNode *on, int op, int x, int s, int z, int64_t axis,
                      int *out)
{
    Pending p = {.op = op, .nout = 1, .legacy_axis = -1, .in = {x, s, z}, .nin = z >= 0 ? 3 : 2};
    const Type *xt = &ir_value(im->g, x)->type;
    for (int k = 1; k < p.nin; k++) {
        const Type *st = &ir_value(im->g, p.in[k])->type;
        int64_t ns = type_numel(st), ax = axis < 0 ? axis + xt->rank : axis;
        if (ns == 1)
            continue;
        if (st->rank != 1 || ax < 0 || ax >= xt->rank || xt->dims[ax] != ns) {
            char ts[128], xs[128];
            diag_error(im->c, on->loc, "%s %s matches neither per-tensor nor axis %lld of x %s",
                       k == 1 ? "scale" : "zero point", type_str(st, ts, sizeof ts), (long long)axis,
                       type_str(xt, xs, sizeof xs));
            return false;
        }
        int64_t dims[IR_MAX_RANK] = {ns};
        int rank = xt->rank - (int)ax;
        for (int d = 1; d < rank; d++)
            dims[d] = 1;
        Pending r = {.op = OP_RESHAPE, .in = {p.in[k]}, .nin = 1, .nout = 1, .legacy_axis = -1};
        onnx_pend_attr(&r, "shape", (Attr){.type = AT_INTS, .n = rank,
                                          .ints = arena_memdup(im->g->arena, dims, sizeof dims)});
        if (!onnx_build(im, on, &r, &p.in[k]))
            return false;
    }
    return onnx_build(im, on, &p, out);
}

/* QuantizeLinear / DequantizeLinear (x, scale[, zero], axis=1). */
bool onnx_import_qdq(FeOnnx *im, const OnnxNode *on)
{
    int in[3] = {-1, -1, -1};
    for (size_t i = 0; i < on->np->n_input && i < 3; i++)
        if ((in[i] = onnx_input_value(im, on, i)) == -2)
            return false;
    if (in[0] < 0 || in[1] < 0) {
        diag_error(im->c, on->loc, "needs an input and a scale");
        return false;
    }
    int out;
    return build_qdq(im, on, onnx_row_op(on), in[0], in[1], in[2], onnx_attr_int(on, "axis", 1),
                     &out) &&
           onnx_bind_output(im, on, 0, out);
}

/* Inputs 0..n-1 of the node, each required unless `optional` has its bit;
 * absent ones are -1. */
static bool q_inputs(FeOnnx *im, const OnnxNode *on, int n, unsigned optional, int *in)
{
    for (int i = 0; i < n; i++) {
        in[i] = (size_t)i < on->np->n_input ? onnx_input_value(im, on, (size_t)i) : -1;
        if (in[i] == -2)
            return false;
        if (in[i] < 0 && !(optional >> i & 1)) {
            diag_error(im->c, on->loc, "input %d of %s is required", i, on->np->op_type);
            return false;
        }
    }
    return true;
}

/* op(inputs...) with the ONNX node's attributes (conv's geometry). */
static bool build_with_attrs(FeOnnx *im, const OnnxNode *on, int op, const int *in, int nin, int *out)
{
    Pending p = {.op = op, .nout = 1, .legacy_axis = -1, .nin = nin};
    for (int i = 0; i < nin; i++)
        p.in[i] = in[i];
    for (size_t i = 0; i < on->np->n_attribute; i++)
        if (!onnx_convert_attr(im, on, on->np->attribute[i], &p))
            return false;
    return onnx_build(im, on, &p, out);
}

/* The QOperator forms become the QDQ form they mean, which fold-qdq turns
 * into int8 kernels when the quantization parameters are constants (and
 * which otherwise runs in float, as written):
 *   QLinearConv(x, xs, xz, w, ws, wz, ys, yz[, B]) =
 *     quantize(conv(dq(x), dq(w, axis 0), dq(B, xs * ws)), ys, yz)
 *   QLinearMatMul(a, as, az, b, bs, bz, ys, yz) =
 *     quantize(matmul(dq(a), dq(b, per column)), ys, yz), a gemm for 2-D
 *     by 2-D
 *   MatMulInteger(A, B[, az, bz]) / ConvInteger(x, w[, xz, wz]):
 *     the int32 sums, computed as the float op over (v - zero) and cast,
 *     in chunks short enough to be exact (import_integer_product).
 *   DynamicQuantizeLinear(x) = its ONNX function: scale = (max(x, 0) -
 *     min(x, 0)) / 255, zero = saturate(round(-min(x, 0) / scale)), y =
 *     quantize(x, scale, zero) as uint8 (computed per inference).
 * onnxruntime's com.microsoft ops (QLinearAdd, QLinearSoftmax, QGemm, ...)
 * follow below, the same way. */
static bool import_dynamic_quantize(FeOnnx *im, const OnnxNode *on)
{
    int x = onnx_input_value(im, on, 0);
    if (x < 0)
        return false;
    static const float consts[3] = {0.0f, 255.0f, 0.0f};
    int k[3];
    for (int i = 0; i < 3; i++)
        if ((k[i] = ir_add_const(im->c, im->g, NULL, type_make(DT_F32, 0, NULL),
                                 arena_memdup(im->g->arena, &consts[i], sizeof(float)), on->loc)) < 0)
            return false;
    /* (op, inputs, attribute) steps over the values made so far. */
    int v[12];
    Pending steps[] = {
        {.op = OP_REDUCE_MAX, .in = {x}, .nin = 1},                /* 0 */
        {.op = OP_REDUCE_MIN, .in = {x}, .nin = 1},                /* 1 */
        {.op = OP_MAX, .in = {-1, k[0]}, .nin = 2},                /* 2: max(hi, 0) */
        {.op = OP_MIN, .in = {-1, k[0]}, .nin = 2},                /* 3: min(lo, 0) */
        {.op = OP_SUB, .in = {-1, -1}, .nin = 2},                  /* 4: range */
        {.op = OP_DIV, .in = {-1, k[1]}, .nin = 2},                /* 5: scale */
        {.op = OP_SUB, .in = {k[2], -1}, .nin = 2},                /* 6: -lo */
        {.op = OP_DIV, .in = {-1, -1}, .nin = 2},                  /* 7: -lo / scale */
        {.op = OP_ROUND, .in = {-1}, .nin = 1},                    /* 8 */
        {.op = OP_CLIP, .in = {-1}, .nin = 1},                     /* 9: [0, 255] */
        {.op = OP_CAST, .in = {-1}, .nin = 1},                     /* 10: zero, u8 */
        {.op = OP_QUANTIZE_LINEAR, .in = {x, -1, -1}, .nin = 3},   /* 11: y */
    };
    static const int from[12][2] = {{-1, -1}, {-1, -1}, {0, -1}, {1, -1}, {2, 3}, {4, -1},
                                     {3, -1}, {6, 5}, {7, -1}, {8, -1}, {9, -1}, {5, 10}};
    for (int i = 0; i < 12; i++) {
        Pending *p = &steps[i];
        p->nout = 1;
        p->legacy_axis = -1;
        for (int j = 0, slot = 0; j < p->nin && slot < 2; j++)
            if (p->in[j] == -1)
                p->in[j] = v[from[i][slot++]];
        if (i <= 1)
            onnx_pend_attr(p, "keepdims", (Attr){.type = AT_INT, .i = 0});
        if (i == 9) {
            onnx_pend_attr(p, "min", (Attr){.type = AT_FLOAT, .f = 0});
            onnx_pend_attr(p, "max", (Attr){.type = AT_FLOAT, .f = 255});
        }
        if (i == 10)
            onnx_pend_attr(p, "to", (Attr){.type = AT_STR, .s = "u8"});
        if (!onnx_build(im, on, p, &v[i]))
            return false;
    }
    return onnx_bind_output(im, on, 0, v[11]) && onnx_bind_output(im, on, 1, v[5]) &&
           onnx_bind_output(im, on, 2, v[10]);
}

/* ------------------------------------------------ per-tensor QLinear ops */

/* onnxruntime's per-tensor QLinear ops (com.microsoft): each quantized
 * operand is an (x, scale, zero point) triple of inputs, then come the
 * output's scale and zero point. Their inputs by name, '?' marking the
 * optional ones (onnxruntime's contrib op schemas). */
static const struct {
    const char *onnx;
    const char *inputs;
} qlinear_inputs[] = {
    {"QLinearAdd", "A A_scale A_zero_point? B B_scale B_zero_point? C_scale C_zero_point?"},
    {"QLinearMul", "A A_scale A_zero_point? B B_scale B_zero_point? C_scale C_zero_point?"},
    {"QLinearAveragePool", "X x_scale x_zero_point? y_scale y_zero_point?"},
    {"QLinearGlobalAveragePool", "X x_scale x_zero_point y_scale y_zero_point"},
    {"QLinearSigmoid", "X X_scale X_zero_point? Y_scale Y_zero_point?"},
    {"QLinearLeakyRelu", "X X_scale X_zero_point? Y_scale Y_zero_point?"},
    {"QLinearSoftmax", "X X_scale x_zero_point? y_scale y_zero_point"},
};

#define QSPEC_MAX 8

typedef struct {
    const char *names[QSPEC_MAX];
    bool optional[QSPEC_MAX];
    int n, min;     /* inputs; the required ones end at min */
} QSpec;

static void qspec_parse(Arena *a, const char *spec, QSpec *q)
{
    memset(q, 0, sizeof *q);
    char *s = arena_strdup(a, spec);
    for (char *tok = strtok(s, " "); tok && q->n < QSPEC_MAX; tok = strtok(NULL, " ")) {
        size_t len = strlen(tok);
        q->optional[q->n] = tok[len - 1] == '?';
        if (q->optional[q->n])
            tok[len - 1] = '\0';
        q->names[q->n++] = tok;
        if (!q->optional[q->n - 1])
            q->min = q->n;
    }
}

/* One quantized operand: the int8 tensor, its scale, its zero point (-1: 0). */
typedef struct {
    int x, s, z;
} QArg;

/* Input i (named `name` in messages): its value, -1 when absent; false
 * after a diagnostic (absent but required, or undefined). */
static bool q_input(FeOnnx *im, const OnnxNode *on, size_t i, const char *name, bool required,
                    int *v)
{
    *v = onnx_input_value(im, on, i);
    if (*v == -2)
        return false;
    if (*v < 0 && required) {
        diag_error(im->c, on->loc, "input %zu (%s) of %s is required", i, name, on->np->op_type);
        return false;
    }
    return true;
}

/* A scale (one f32) or zero point (one value of dtype dt), when given. */
static bool q_param(FeOnnx *im, const OnnxNode *on, size_t i, const char *name, int v, DType dt)
{
    if (v < 0)
        return true;
    const Type *t = &ir_value(im->g, v)->type;
    char ts[128];
    if (type_numel(t) != 1) {
        diag_error(im->c, on->loc, "input %zu (%s) of %s is %s; it must be a single value (%s quantizes per tensor)",
                   i, name, on->np->op_type, type_str(t, ts, sizeof ts), on->np->op_type);
        return false;
    }
    if (t->dtype != dt) {
        diag_error(im->c, on->loc, "input %zu (%s) of %s is %s; it must be %s%s", i, name,
                   on->np->op_type, type_str(t, ts, sizeof ts), dtype_name(dt),
                   dt == DT_F32 ? "" : ", the type of the tensor it quantizes");
        return false;
    }
    return true;
}

/* The operand whose (x, scale, zero) are inputs i, i+1, i+2. x must be
 * int8 or uint8 (of dtype *dt when that is set; else it sets *dt). */
static bool q_operand(FeOnnx *im, const OnnxNode *on, size_t i, const char *const names[3],
                      const bool optional[3], DType *dt, QArg *a)
{
    if (!q_input(im, on, i, names[0], true, &a->x) ||
        !q_input(im, on, i + 1, names[1], !optional[1], &a->s) ||
        !q_input(im, on, i + 2, names[2], !optional[2], &a->z))
        return false;
    const Type *xt = &ir_value(im->g, a->x)->type;
    char ts[128];
    if (xt->dtype != DT_I8 && xt->dtype != DT_U8) {
        diag_error(im->c, on->loc, "input %zu (%s) of %s is %s; it must be int8 or uint8", i,
                   names[0], on->np->op_type, type_str(xt, ts, sizeof ts));
        return false;
    }
    if (*dt != DT_NONE && xt->dtype != *dt) {
        diag_error(im->c, on->loc, "input %zu (%s) of %s is %s, but the op's other quantized tensors are %s",
                   i, names[0], on->np->op_type, type_str(xt, ts, sizeof ts), dtype_name(*dt));
        return false;
    }
    *dt = xt->dtype;
    return q_param(im, on, i + 1, names[1], a->s, DT_F32) &&
           q_param(im, on, i + 2, names[2], a->z, *dt);
}

/* The output's scale and zero point, inputs i and i+1; an absent zero point
 * is a 0 of the op's type dt (the QLinear ops' output type is their input
 * type, where QuantizeLinear without a zero point would give uint8). */
static bool q_result(FeOnnx *im, const OnnxNode *on, size_t i, const char *const names[2],
                     const bool optional[2], DType dt, int *s, int *z)
{
    if (!q_input(im, on, i, names[0], !optional[0], s) ||
        !q_input(im, on, i + 1, names[1], !optional[1], z) ||
        !q_param(im, on, i, names[0], *s, DT_F32) || !q_param(im, on, i + 1, names[1], *z, dt))
        return false;
    if (*z < 0) {
        void *zero = arena_alloc(im->g->arena, 1);
        *z = ir_add_const(im->c, im->g, NULL, type_make(dt, 0, NULL), zero, on->loc);
    }
    return *z >= 0;
}

/* An int8 value moved by transpose (perm), flatten (axis) or reshape
 * (shape): the QLinear ops' layouts are mapped onto etch's float ops by
 * moving the int8 tensors around the dequantize -> op -> quantize, which
 * is exact (the parameters are per tensor) and leaves fold-qdq its pattern. */
typedef struct {
    int op;             /* 0: none */
    int64_t ints[IR_MAX_RANK];
    int n;
} QMove;

static bool q_move(FeOnnx *im, const OnnxNode *on, const QMove *m, int *v)
{
    if (!m->op)
        return true;
    Pending p = {.op = m->op, .in = {*v}, .nin = 1, .nout = 1, .legacy_axis = -1};
    if (m->op == OP_FLATTEN)
        onnx_pend_attr(&p, "axis", (Attr){.type = AT_INT, .i = m->ints[0]});
    else
        onnx_pend_attr(&p, m->op == OP_TRANSPOSE ? "perm" : "shape",
                       (Attr){.type = AT_INTS, .n = m->n,
                              .ints = arena_memdup(im->g->arena, m->ints, sizeof m->ints)});
    return onnx_build(im, on, &p, v);
}

/* channels_last (N, spatial..., C): the transposes to etch's N, C,
 * spatial... layout and back. */
static bool channels_last_moves(FeOnnx *im, const OnnxNode *on, int x, QMove *pre, QMove *post)
{
    if (!onnx_attr_int(on, "channels_last", 0))
        return true;
    const Type *xt = &ir_value(im->g, x)->type;
    char ts[128];
    if (xt->rank < 3) {
        diag_error(im->c, on->loc, "channels_last input %s: it must be [N, spatial..., C] (rank >= 3)",
                   type_str(xt, ts, sizeof ts));
        return false;
    }
    int r = xt->rank;
    *pre = (QMove){.op = OP_TRANSPOSE, .n = r};
    *post = (QMove){.op = OP_TRANSPOSE, .n = r};
    pre->ints[1] = r - 1;
    for (int d = 2; d < r; d++)
        pre->ints[d] = d - 1;
    for (int d = 1; d < r - 1; d++)
        post->ints[d] = d + 1;
    post->ints[r - 1] = 1;
    return true;
}

/* QLinearSoftmax: softmax at `axis` with the semantics of Softmax at the
 * `opset` attribute (required): before 13 over x flattened to 2-D at axis
 * (default 1), from 13 along axis (default -1). Either way the float op is
 * a softmax over the last axis of a moved int8 tensor (what onnxruntime
 * does too), which fold-qdq makes a qsoftmax. */
static bool softmax_moves(FeOnnx *im, const OnnxNode *on, int x, QMove *pre, QMove *post)
{
    int64_t opset = onnx_attr_int(on, "opset", -1);
    if (opset < 1) {
        diag_error(im->c, on->loc, "QLinearSoftmax needs its opset attribute (the Softmax opset whose axis semantics apply)");
        return false;
    }
    const Type *xt = &ir_value(im->g, x)->type;
    int r = xt->rank;
    int64_t axis = onnx_attr_int(on, "axis", opset < 13 ? 1 : -1), lo = -r, hi = opset < 13 ? r : r - 1;
    if (axis < lo || axis > hi || r == 0) {
        diag_error(im->c, on->loc, "axis %lld is out of range for rank %d", (long long)axis, r);
        return false;
    }
    if (axis < 0)
        axis += r;
    if (axis == r - 1)
        return true;
    if (opset < 13) {
        *pre = (QMove){.op = OP_FLATTEN, .n = 1, .ints = {axis}};
        *post = (QMove){.op = OP_RESHAPE, .n = r};
        memcpy(post->ints, xt->dims, sizeof post->ints);
        return true;
    }
    *pre = (QMove){.op = OP_TRANSPOSE, .n = r};
    for (int d = 0; d < r; d++)
        pre->ints[d] = d;
    pre->ints[axis] = r - 1;
    pre->ints[r - 1] = axis;
    *post = *pre;
    return true;
}

/* QLinearAdd, QLinearMul, QLinearAveragePool, QLinearGlobalAveragePool,
 * QLinearSigmoid, QLinearLeakyRelu, QLinearSoftmax:
 *   y = quantize(op(dequantize(x_k, s_k, z_k)...), sy, zy)
 * with the float op of the row, and its attributes. */
static bool import_qlinear(FeOnnx *im, const OnnxNode *on)
{
    const char *t = on->np->op_type;
    QSpec q = {0};
    for (size_t i = 0; i < sizeof qlinear_inputs / sizeof qlinear_inputs[0]; i++)
        if (strcmp(qlinear_inputs[i].onnx, t) == 0)
            qspec_parse(im->g->arena, qlinear_inputs[i].inputs, &q);
    assert(q.n > 0);
    int nin = (int)on->np->n_input;
    if (nin < q.min || nin > q.n) {
        const char *want = q.min < q.n ? arena_printf(im->g->arena, "%d to %d", q.min, q.n)
                                       : arena_printf(im->g->arena, "%d", q.n);
        diag_error(im->c, on->loc, "%s takes %s inputs, not %d", t, want, nin);
        return false;
    }
    int nq = (q.n - 2) / 3, ys, yz, y, d[2];
    QArg a[2];
    DType dt = DT_NONE;
    for (int k = 0; k < nq; k++)
        if (!q_operand(im, on, (size_t)(3 * k), q.names + 3 * k, q.optional + 3 * k, &dt, &a[k]))
            return false;
    if (!q_result(im, on, (size_t)(3 * nq), q.names + 3 * nq, q.optional + 3 * nq, dt, &ys, &yz))
        return false;
    QMove pre = {0}, post = {0};
    int op = onnx_row_op(on);
    if ((op == OP_AVERAGE_POOL || op == OP_GLOBAL_AVERAGE_POOL) &&
        !channels_last_moves(im, on, a[0].x, &pre, &post))
        return false;
    if (op == OP_SOFTMAX && !softmax_moves(im, on, a[0].x, &pre, &post))
        return false;
    if (!q_move(im, on, &pre, &a[0].x))
        return false;
    for (int k = 0; k < nq; k++)
        if (!build_qdq(im, on, OP_DEQUANTIZE_LINEAR, a[k].x, a[k].s, a[k].z, 1, &d[k]))
            return false;
    return build_with_attrs(im, on, op, d, nq, &y) &&
           build_qdq(im, on, OP_QUANTIZE_LINEAR, y, ys, yz, 1, &y) && q_move(im, on, &post, &y) &&
           onnx_bind_output(im, on, 0, y);
}

/* QLinearConcat(y_scale, y_zero_point, (x, scale, zero point)...) =
 * quantize(concat(dequantize(x_k, s_k, z_k)...), y_scale, y_zero_point). */
static bool import_qlinear_concat(FeOnnx *im, const OnnxNode *on)
{
    int nin = (int)on->np->n_input;
    if (nin < 5 || (nin - 2) % 3 != 0 || (nin - 2) / 3 > MAX_IN) {
        diag_error(im->c, on->loc, "QLinearConcat takes Y_scale, Y_zero_point and a (tensor, scale, zero point) triple per input: 2 + 3k inputs with 1 <= k <= %d, not %d",
                   MAX_IN, nin);
        return false;
    }
    static const bool none_optional[3] = {false, false, false};
    static const char *const out_names[2] = {"Y_scale", "Y_zero_point"};
    int ys, yz;
    if (!q_input(im, on, 1, out_names[1], true, &yz))
        return false;
    DType dt = ir_value(im->g, yz)->type.dtype;
    if (dt != DT_I8 && dt != DT_U8) {
        char ts[128];
        diag_error(im->c, on->loc, "input 1 (Y_zero_point) of QLinearConcat is %s; it must be int8 or uint8",
                   type_str(&ir_value(im->g, yz)->type, ts, sizeof ts));
        return false;
    }
    if (!q_result(im, on, 0, out_names, none_optional, dt, &ys, &yz))
        return false;
    int n = (nin - 2) / 3, d[MAX_IN], y;
    for (int k = 0; k < n; k++) {
        const char *names[3] = {
            arena_printf(im->g->arena, "tensor %d", k),
            arena_printf(im->g->arena, "scale of tensor %d", k),
            arena_printf(im->g->arena, "zero point of tensor %d", k),
        };
        QArg a;
        if (!q_operand(im, on, (size_t)(2 + 3 * k), names, none_optional, &dt, &a) ||
            !build_qdq(im, on, OP_DEQUANTIZE_LINEAR, a.x, a.s, a.z, 1, &d[k]))
            return false;
    }
    return build_with_attrs(im, on, OP_CONCAT, d, n, &y) &&
           build_qdq(im, on, OP_QUANTIZE_LINEAR, y, ys, yz, 1, &y) && onnx_bind_output(im, on, 0, y);
}

/* A float sum of integer products is exact, in any order of summation,
 * while the sum of the products' magnitudes stays within 2^24: every
 * partial sum is then an integer a float holds. |v - zero| <= 255 for 8-bit
 * v and zero point, so a reduction over INTEGER_TERMS = 2^24 / 255^2 terms
 * is exact. */
#define INTEGER_TERMS 258

/* slice(v) = v[lo:hi] along axis. */
static bool slice_axis(FeOnnx *im, const OnnxNode *on, int v, int64_t axis, int64_t lo, int64_t hi, int *out)
{
    Pending p = {.op = OP_SLICE, .in = {v}, .nin = 1, .nout = 1, .legacy_axis = -1};
    int64_t *se = arena_alloc(im->g->arena, 3 * sizeof *se);
    se[0] = lo, se[1] = hi, se[2] = axis;
    onnx_pend_attr(&p, "starts", (Attr){.type = AT_INTS, .n = 1, .ints = &se[0]});
    onnx_pend_attr(&p, "ends", (Attr){.type = AT_INTS, .n = 1, .ints = &se[1]});
    onnx_pend_attr(&p, "axes", (Attr){.type = AT_INTS, .n = 1, .ints = &se[2]});
    return onnx_build(im, on, &p, out);
}

/* MatMulInteger(A, B[, az, bz]) / ConvInteger(x, w[, xz, wz]): the int32
 * sums, as the float op over (v - zero) cast to int32. A reduction longer
 * than INTEGER_TERMS is split along K (a conv's input channels) into
 * chunks that are, each one cast, and the chunks are added in int32: the
 * result is exact for any K. */
static bool import_integer_product(FeOnnx *im, const OnnxNode *on)
{
    bool conv = strcmp(on->np->op_type, "ConvInteger") == 0;
    int in[4];
    if (!q_inputs(im, on, 4, 0xc, in))
        return false;
    const Type *at = &ir_value(im->g, in[0])->type, *bt = &ir_value(im->g, in[1])->type;
    /* the sliced axis of each operand, its length, and the terms per unit */
    int64_t ax_a = conv ? 1 : at->rank - 1, ax_b = conv ? 1 : (bt->rank == 1 ? 0 : bt->rank - 2);
    if (at->rank < 1 || bt->rank < 1 || (conv && (at->rank < 3 || bt->rank != at->rank))) {
        diag_error(im->c, on->loc, "operands of rank %d and %d do not make a %s", at->rank, bt->rank,
                   conv ? "convolution" : "matrix product");
        return false;
    }
    int64_t len = bt->dims[ax_b], taps = 1, group = conv ? onnx_attr_int(on, "group", 1) : 1;
    for (int d = 2; conv && d < bt->rank; d++)
        taps *= bt->dims[d];
    int64_t chunk = INTEGER_TERMS / (taps ? taps : 1);
    if (len > chunk && (chunk == 0 || group != 1)) {
        diag_error(im->c, on->loc, "%lld-term sums of 8-bit products can exceed 2^24; etch keeps them "
                   "exact by splitting the input channels, which it does only for an ungrouped conv "
                   "of at most %d kernel taps (group is %lld, the kernel has %lld taps)",
                   (long long)(len * taps), INTEGER_TERMS, (long long)group, (long long)taps);
        return false;
    }
    if (len <= chunk)
        chunk = len;
    float one = 1.0f;
    int s = ir_add_const(im->c, im->g, NULL, type_make(DT_F32, 0, NULL),
                         arena_memdup(im->g->arena, &one, sizeof one), on->loc);
    if (s < 0)
        return false;
    int sum = -1;
    for (int64_t lo = 0; lo < len; lo += chunk) {
        int64_t hi = lo + chunk < len ? lo + chunk : len;
        int x = in[0], w = in[1], a, b, ops[2], y, yi;
        if (chunk < len && (!slice_axis(im, on, x, ax_a, lo, hi, &x) || !slice_axis(im, on, w, ax_b, lo, hi, &w)))
            return false;
        if (!build_qdq(im, on, OP_DEQUANTIZE_LINEAR, x, s, in[2], conv ? 1 : -2, &a) ||
            !build_qdq(im, on, OP_DEQUANTIZE_LINEAR, w, s, in[3], conv ? 0 : -1, &b))
            return false;
        ops[0] = a, ops[1] = b;
        if (!build_with_attrs(im, on, conv ? OP_CONV : OP_MATMUL, ops, 2, &y))
            return false;
        Pending c = {.op = OP_CAST, .in = {y}, .nin = 1, .nout = 1, .legacy_axis = -1};
        onnx_pend_attr(&c, "to", (Attr){.type = AT_STR, .s = "i32"});
        if (!onnx_build(im, on, &c, &yi))
            return false;
        Pending add = {.op = OP_ADD, .in = {sum, yi}, .nin = 2, .nout = 1, .legacy_axis = -1};
        if (sum >= 0 && !onnx_build(im, on, &add, &yi))
            return false;
        sum = yi;
    }
    return onnx_bind_output(im, on, 0, sum);
}

/* QGemm(A, a_scale, a_zero, B, b_scale[, b_zero][, C][, y_scale, y_zero])
 * (com.microsoft) = gemm(dq(A), dq(B, per column), dq(C, alpha * a_scale *
 * b_scale), alpha, transA, transB), quantized when y_scale is given and
 * float otherwise. */
static bool import_qgemm(FeOnnx *im, const OnnxNode *on)
{
    int in[9], a, b, y;
    if (on->np->n_input < 5 || on->np->n_input > 9) {
        diag_error(im->c, on->loc, "QGemm takes 5 to 9 inputs, not %zu", on->np->n_input);
        return false;
    }
    if (!q_inputs(im, on, 9, 0x1e0, in))
        return false;
    if ((in[7] >= 0) != (in[8] >= 0)) {
        diag_error(im->c, on->loc, "QGemm has %s but not %s: give both for a quantized output, neither for float",
                   in[7] >= 0 ? "y_scale" : "y_zero_point", in[7] >= 0 ? "y_zero_point" : "y_scale");
        return false;
    }
    bool tb = onnx_attr_int(on, "transB", 0) != 0;
    if (!build_qdq(im, on, OP_DEQUANTIZE_LINEAR, in[0], in[1], in[2], 1, &a) ||
        !build_qdq(im, on, OP_DEQUANTIZE_LINEAR, in[3], in[4], in[5], tb ? 0 : 1, &b))
        return false;
    int gin[3] = {a, b, -1};
    if (in[6] >= 0) {
        /* C's scale: alpha / beta * a_scale * b_scale (per column with
         * b's); the schema has no beta, which is 1. */
        float alpha = 1.0f, beta = 1.0f;
        for (size_t i = 0; i < on->np->n_attribute; i++) {
            const char *name = on->np->attribute[i]->name ? on->np->attribute[i]->name : "";
            if (strcmp(name, "alpha") == 0)
                alpha = on->np->attribute[i]->f;
            else if (strcmp(name, "beta") == 0)
                beta = on->np->attribute[i]->f;
        }
        alpha = beta != 0 ? alpha / beta : alpha;
        Pending m = {.op = OP_MUL, .in = {in[1], in[4]}, .nin = 2, .nout = 1, .legacy_axis = -1};
        int cs;
        if (!onnx_build(im, on, &m, &cs))
            return false;
        if (alpha != 1.0f) {
            int k = ir_add_const(im->c, im->g, NULL, type_make(DT_F32, 0, NULL),
                                 arena_memdup(im->g->arena, &alpha, sizeof alpha), on->loc);
            Pending ma = {.op = OP_MUL, .in = {cs, k}, .nin = 2, .nout = 1, .legacy_axis = -1};
            if (k < 0 || !onnx_build(im, on, &ma, &cs))
                return false;
        }
        if (!build_qdq(im, on, OP_DEQUANTIZE_LINEAR, in[6], cs, -1, -1, &gin[2]))
            return false;
    }
    if (!build_with_attrs(im, on, OP_GEMM, gin, in[6] >= 0 ? 3 : 2, &y))
        return false;
    if (in[7] >= 0 && !build_qdq(im, on, OP_QUANTIZE_LINEAR, y, in[7], in[8], 1, &y))
        return false;
    return onnx_bind_output(im, on, 0, y);
}

bool onnx_import_qoperator(FeOnnx *im, const OnnxNode *on)
{
    const char *t = on->np->op_type;
    int in[9], out, a, b;
    if (strcmp(t, "DynamicQuantizeLinear") == 0)
        return import_dynamic_quantize(im, on);
    if (strcmp(t, "QLinearConcat") == 0)
        return import_qlinear_concat(im, on);
    if (strncmp(t, "QLinear", 7) == 0 && strcmp(t, "QLinearConv") != 0 && strcmp(t, "QLinearMatMul") != 0)
        return import_qlinear(im, on);
    if (strcmp(t, "QLinearConv") == 0) {
        /* com.microsoft's QLinearConv may work on channels_last tensors. */
        QMove pre = {0}, post = {0};
        if (!q_inputs(im, on, 9, 1u << 8, in) ||
            (on->ms && !channels_last_moves(im, on, in[0], &pre, &post)) || !q_move(im, on, &pre, &in[0]) ||
            !build_qdq(im, on, OP_DEQUANTIZE_LINEAR, in[0], in[1], in[2], 1, &a) ||
            !build_qdq(im, on, OP_DEQUANTIZE_LINEAR, in[3], in[4], in[5], 0, &b))
            return false;
        int cin[3] = {a, b, -1};
        if (in[8] >= 0) {
            Pending m = {.op = OP_MUL, .in = {in[1], in[4]}, .nin = 2, .nout = 1, .legacy_axis = -1};
            int bs;
            if (!onnx_build(im, on, &m, &bs) ||
                !build_qdq(im, on, OP_DEQUANTIZE_LINEAR, in[8], bs, -1, 0, &cin[2]))
                return false;
        }
        int y;
        return build_with_attrs(im, on, OP_CONV, cin, in[8] >= 0 ? 3 : 2, &y) &&
               build_qdq(im, on, OP_QUANTIZE_LINEAR, y, in[6], in[7], 1, &out) &&
               q_move(im, on, &post, &out) && onnx_bind_output(im, on, 0, out);
    }
    if (strcmp(t, "QLinearMatMul") == 0) {
        if (!q_inputs(im, on, 8, 0, in) || !build_qdq(im, on, OP_DEQUANTIZE_LINEAR, in[0], in[1], in[2], -2, &a) ||
            !build_qdq(im, on, OP_DEQUANTIZE_LINEAR, in[3], in[4], in[5], -1, &b))
            return false;
        /* 2-D by 2-D as a gemm, which fold-qdq makes a qgemm (it is the
         * same product; matmul stays for batches and vectors). */
        int mm[2] = {a, b}, y;
        bool flat = ir_value(im->g, a)->type.rank == 2 && ir_value(im->g, b)->type.rank == 2;
        return build_with_attrs(im, on, flat ? OP_GEMM : OP_MATMUL, mm, 2, &y) &&
               build_qdq(im, on, OP_QUANTIZE_LINEAR, y, in[6], in[7], 1, &out) &&
               onnx_bind_output(im, on, 0, out);
    }
    if (strcmp(t, "QGemm") == 0)
        return import_qgemm(im, on);
    return import_integer_product(im, on);
}
