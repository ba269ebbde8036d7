/* ref_ew.c: reference implementations of the elementwise math, logic,
 * comparison, cast, pow, mod, prelu, variadic and where ops.
 *
 * The oracle the compiled backends are checked against, so every op is the
 * plainest loop over the output that follows its ONNX definition. Inputs
 * broadcast numpy-style (ref_bcast_index); types were set by inference.
 * Conventions shared with ref_tensor.c:
 *   - float math reads f32, computes in double, stores float;
 *   - integers compute in int64 and wrap to the output dtype on store
 *     (ref_set_i), arithmetic wrapping through uint64;
 *   - bool tensors hold 0 or 1; every bool result is stored as 0 or 1.
 * Choices where ONNX leaves the result open (each documented in docs/ops.md):
 *   - mod by zero gives 0 (as numpy's integer mod), for both fmod modes;
 *   - cast float -> integer truncates toward zero; NaN gives 0 and values
 *     outside int64 saturate, then the value wraps to the dtype (C leaves
 *     out-of-range float conversions undefined, so compiled code may differ
 *     there);
 *   - pow with an integer base computes in double and truncates the result;
 *   - max/min propagate NaN (numpy's maximum/minimum).
 */
#include "ir.h"

#include <assert.h>
#include <math.h>
#include <string.h>

/* ------------------------------------------------------------ helpers */

static float *fdata(const Tensor *t) { return (float *)t->data; }
static bool is_f(const Tensor *t) { return t->type.dtype == DT_F32; }

/* Any dtype as double (int64 beyond 2^53 rounds). */
static double get_d(const Tensor *t, int64_t i)
{
    return is_f(t) ? (double)fdata(t)[i] : (double)ref_get_i(t, i);
}

/* Float -> int64 as C's conversion would be if it were defined everywhere:
 * truncation toward zero, NaN 0, saturation outside the int64 range. */
static int64_t trunc_to_i64(double v)
{
    if (isnan(v))
        return 0;
    if (v >= 9223372036854775807.0)
        return INT64_MAX;
    if (v <= -9223372036854775808.0)
        return INT64_MIN;
    return (int64_t)v;
}

static int64_t wrap_add(int64_t a, int64_t b) { return (int64_t)((uint64_t)a + (uint64_t)b); }
static int64_t wrap_mul(int64_t a, int64_t b) { return (int64_t)((uint64_t)a * (uint64_t)b); }

/* ------------------------------------------------------ unary float math */

typedef double FloatFn(double x, const Node *n);

static void map_f(const Node *n, const Tensor *in, Tensor *out, FloatFn *f)
{
    int64_t count = type_numel(&out->type);
    for (int64_t i = 0; i < count; i++)
        fdata(out)[i] = (float)f(fdata(in)[i], n);
}

static double f_floor(double x, const Node *n) { (void)n; return floor(x); }
static double f_ceil(double x, const Node *n) { (void)n; return ceil(x); }
/* nearbyint in the default rounding mode: halves go to the even neighbour. */
static double f_round(double x, const Node *n) { (void)n; return nearbyint(x); }
static double f_reciprocal(double x, const Node *n) { (void)n; return 1.0 / x; }
static double f_erf(double x, const Node *n) { (void)n; return erf(x); }
static double f_sin(double x, const Node *n) { (void)n; return sin(x); }
static double f_cos(double x, const Node *n) { (void)n; return cos(x); }
static double f_tan(double x, const Node *n) { (void)n; return tan(x); }
static double f_asin(double x, const Node *n) { (void)n; return asin(x); }
static double f_acos(double x, const Node *n) { (void)n; return acos(x); }
static double f_atan(double x, const Node *n) { (void)n; return atan(x); }
static double f_sinh(double x, const Node *n) { (void)n; return sinh(x); }
static double f_cosh(double x, const Node *n) { (void)n; return cosh(x); }
static double f_asinh(double x, const Node *n) { (void)n; return asinh(x); }
static double f_acosh(double x, const Node *n) { (void)n; return acosh(x); }
static double f_atanh(double x, const Node *n) { (void)n; return atanh(x); }

/* ln(1 + e^x), written so that e^x cannot overflow for large x. */
static double f_softplus(double x, const Node *n)
{
    (void)n;
    return (x > 0 ? x : 0) + log1p(exp(-fabs(x)));
}

static double f_softsign(double x, const Node *n) { (void)n; return x / (1 + fabs(x)); }

static double f_elu(double x, const Node *n)
{
    return x < 0 ? ir_attr_float(n, "alpha") * (exp(x) - 1) : x;
}

static double f_selu(double x, const Node *n)
{
    double alpha = ir_attr_float(n, "alpha"), gamma = ir_attr_float(n, "gamma");
    return x <= 0 ? gamma * (alpha * exp(x) - alpha) : gamma * x;
}

static double f_celu(double x, const Node *n)
{
    double alpha = ir_attr_float(n, "alpha");
    return fmax(0, x) + fmin(0, alpha * (exp(x / alpha) - 1));
}

static double f_hard_sigmoid(double x, const Node *n)
{
    double v = ir_attr_float(n, "alpha") * x + ir_attr_float(n, "beta");
    return v < 0 ? 0 : v > 1 ? 1 : v;
}

/* x * hard_sigmoid(x) with alpha = 1/6, beta = 0.5. */
static double f_hard_swish(double x, const Node *n)
{
    (void)n;
    double v = x / 6 + 0.5;
    return x * (v < 0 ? 0 : v > 1 ? 1 : v);
}

static double f_thresholded_relu(double x, const Node *n)
{
    return x > ir_attr_float(n, "alpha") ? x : 0;
}

static double f_shrink(double x, const Node *n)
{
    double lambd = ir_attr_float(n, "lambd"), bias = ir_attr_float(n, "bias");
    return x < -lambd ? x + bias : x > lambd ? x - bias : 0;
}

/* The RefFn of a float-only unary op `name`, applying f_<name>. */
#define REF_UNARY_F(name)                                                              \
    void ref_##name(const Graph *g, const Node *n, const Tensor *in, Tensor *out)      \
    {                                                                                  \
        (void)g;                                                                       \
        map_f(n, in, out, f_##name);                                                   \
    }

REF_UNARY_F(floor)
REF_UNARY_F(ceil)
REF_UNARY_F(round)
REF_UNARY_F(reciprocal)
REF_UNARY_F(erf)
REF_UNARY_F(sin)
REF_UNARY_F(cos)
REF_UNARY_F(tan)
REF_UNARY_F(asin)
REF_UNARY_F(acos)
REF_UNARY_F(atan)
REF_UNARY_F(sinh)
REF_UNARY_F(cosh)
REF_UNARY_F(asinh)
REF_UNARY_F(acosh)
REF_UNARY_F(atanh)
REF_UNARY_F(softplus)
REF_UNARY_F(softsign)
REF_UNARY_F(elu)
REF_UNARY_F(selu)
REF_UNARY_F(celu)
REF_UNARY_F(hard_sigmoid)
REF_UNARY_F(hard_swish)
REF_UNARY_F(thresholded_relu)
REF_UNARY_F(shrink)

/* sign: -1, 0 or 1 in x's dtype; NaN stays NaN. */
void ref_sign(const Graph *g, const Node *n, const Tensor *in, Tensor *out)
{
    (void)g; (void)n;
    int64_t count = type_numel(&out->type);
    for (int64_t i = 0; i < count; i++) {
        if (is_f(in)) {
            float x = fdata(in)[i];
            fdata(out)[i] = x > 0 ? 1.0f : x < 0 ? -1.0f : x;
        } else {
            int64_t x = ref_get_i(in, i);
            ref_set_i(out, i, x > 0 ? 1 : x < 0 ? -1 : 0);
        }
    }
}

void ref_not(const Graph *g, const Node *n, const Tensor *in, Tensor *out)
{
    (void)g; (void)n;
    int64_t count = type_numel(&out->type);
    for (int64_t i = 0; i < count; i++)
        ref_set_i(out, i, ref_get_i(in, i) == 0);
}

void ref_cast(const Graph *g, const Node *n, const Tensor *in, Tensor *out)
{
    (void)g; (void)n;
    int64_t count = type_numel(&out->type);
    DType to = out->type.dtype;
    for (int64_t i = 0; i < count; i++) {
        if (is_f(in)) {
            double x = fdata(in)[i];
            if (to == DT_F32)
                fdata(out)[i] = (float)x;
            else if (to == DT_BOOL)
                ref_set_i(out, i, x != 0);
            else
                ref_set_i(out, i, trunc_to_i64(x));
        } else {
            int64_t x = ref_get_i(in, i);
            if (to == DT_F32)
                fdata(out)[i] = (float)x;
            else
                ref_set_i(out, i, x); /* wraps; bool is x != 0 */
        }
    }
}

/* -------------------------------------------------- binary elementwise */

typedef enum {
    C_EQ, C_LT, C_LE, C_GT, C_GE,   /* comparisons */
    L_AND, L_OR, L_XOR,             /* logic on bools */
} Pred;

static bool pred(Pred p, const Tensor *a, int64_t ia, const Tensor *b, int64_t ib)
{
    if (p >= L_AND) {
        bool x = ref_get_i(a, ia) != 0, y = ref_get_i(b, ib) != 0;
        return p == L_AND ? x && y : p == L_OR ? x || y : x != y;
    }
    if (is_f(a)) {
        double x = fdata(a)[ia], y = fdata(b)[ib];
        switch (p) {
        case C_EQ: return x == y;
        case C_LT: return x < y;
        case C_LE: return x <= y;
        case C_GT: return x > y;
        case C_GE: return x >= y;
        default: break;
        }
    } else {
        int64_t x = ref_get_i(a, ia), y = ref_get_i(b, ib);
        switch (p) {
        case C_EQ: return x == y;
        case C_LT: return x < y;
        case C_LE: return x <= y;
        case C_GT: return x > y;
        case C_GE: return x >= y;
        default: break;
        }
    }
    unreachable("bad predicate");
}

static void map_pred(const Tensor *in, Tensor *out, Pred p)
{
    const Type *ot = &out->type;
    int64_t count = type_numel(ot);
    for (int64_t o = 0; o < count; o++)
        ref_set_i(out, o, pred(p, &in[0], ref_bcast_index(&in[0].type, ot, o), &in[1],
                               ref_bcast_index(&in[1].type, ot, o)));
}

#define REF_PRED(name, p)                                                              \
    void ref_##name(const Graph *g, const Node *n, const Tensor *in, Tensor *out)      \
    {                                                                                  \
        (void)g; (void)n;                                                              \
        map_pred(in, out, p);                                                          \
    }

REF_PRED(equal, C_EQ)
REF_PRED(less, C_LT)
REF_PRED(less_or_equal, C_LE)
REF_PRED(greater, C_GT)
REF_PRED(greater_or_equal, C_GE)
REF_PRED(and, L_AND)
REF_PRED(or, L_OR)
REF_PRED(xor, L_XOR)

/* The remainder of x / y; fmod: sign of x (C's fmod and %), else sign of y
 * (Python's %). y == 0 gives 0. */
static double mod_f(double x, double y, bool fmod_mode)
{
    if (y == 0)
        return 0;
    double r = fmod(x, y);
    if (!fmod_mode && r != 0 && (r < 0) != (y < 0))
        r += y;
    return r;
}

static int64_t mod_i(int64_t x, int64_t y, bool fmod_mode)
{
    if (y == 0 || y == -1) /* x % -1 is 0, and INT64_MIN % -1 traps */
        return 0;
    int64_t r = x % y;
    if (!fmod_mode && r != 0 && (r < 0) != (y < 0))
        r += y;
    return r;
}

void ref_mod(const Graph *g, const Node *n, const Tensor *in, Tensor *out)
{
    (void)g;
    bool fm = ir_attr_int(n, "fmod") != 0;
    const Type *ot = &out->type;
    int64_t count = type_numel(ot);
    for (int64_t o = 0; o < count; o++) {
        int64_t ia = ref_bcast_index(&in[0].type, ot, o);
        int64_t ib = ref_bcast_index(&in[1].type, ot, o);
        if (is_f(out))
            fdata(out)[o] = (float)mod_f(fdata(&in[0])[ia], fdata(&in[1])[ib], fm);
        else
            ref_set_i(out, o, mod_i(ref_get_i(&in[0], ia), ref_get_i(&in[1], ib), fm));
    }
}

void ref_pow(const Graph *g, const Node *n, const Tensor *in, Tensor *out)
{
    (void)g; (void)n;
    const Type *ot = &out->type;
    int64_t count = type_numel(ot);
    for (int64_t o = 0; o < count; o++) {
        double x = get_d(&in[0], ref_bcast_index(&in[0].type, ot, o));
        double y = get_d(&in[1], ref_bcast_index(&in[1].type, ot, o));
        if (is_f(out))
            fdata(out)[o] = (float)pow(x, y);
        else
            ref_set_i(out, o, trunc_to_i64(pow(x, y)));
    }
}

/* prelu(x, slope): slope * x where x < 0, else x. */
void ref_prelu(const Graph *g, const Node *n, const Tensor *in, Tensor *out)
{
    (void)g; (void)n;
    const Type *ot = &out->type;
    int64_t count = type_numel(ot);
    for (int64_t o = 0; o < count; o++) {
        int64_t is = ref_bcast_index(&in[1].type, ot, o);
        if (is_f(out)) {
            double x = fdata(&in[0])[o], s = fdata(&in[1])[is];
            fdata(out)[o] = (float)(x < 0 ? s * x : x);
        } else {
            int64_t x = ref_get_i(&in[0], o), s = ref_get_i(&in[1], is);
            ref_set_i(out, o, x < 0 ? wrap_mul(s, x) : x);
        }
    }
}

/* ------------------------------------------------------------ variadic */

typedef enum { V_MAX, V_MIN, V_SUM, V_MEAN } Fold;

static void fold(const Node *n, const Tensor *in, Tensor *out, Fold op)
{
    const Type *ot = &out->type;
    int64_t count = type_numel(ot);
    for (int64_t o = 0; o < count; o++) {
        if (is_f(out)) {
            double acc = 0;
            for (int k = 0; k < n->nin; k++) {
                double x = fdata(&in[k])[ref_bcast_index(&in[k].type, ot, o)];
                if (k == 0 || op == V_SUM || op == V_MEAN)
                    acc = k == 0 ? x : acc + x;
                else if (isnan(x) || isnan(acc))
                    acc = NAN;
                else
                    acc = op == V_MAX ? fmax(acc, x) : fmin(acc, x);
            }
            fdata(out)[o] = (float)(op == V_MEAN ? acc / n->nin : acc);
        } else {
            int64_t acc = 0;
            for (int k = 0; k < n->nin; k++) {
                int64_t x = ref_get_i(&in[k], ref_bcast_index(&in[k].type, ot, o));
                if (k == 0)
                    acc = x;
                else if (op == V_MAX)
                    acc = x > acc ? x : acc;
                else if (op == V_MIN)
                    acc = x < acc ? x : acc;
                else
                    acc = wrap_add(acc, x);
            }
            assert(op != V_MEAN); /* inference keeps mean float-only */
            ref_set_i(out, o, acc);
        }
    }
}

void ref_max(const Graph *g, const Node *n, const Tensor *in, Tensor *out)
{
    (void)g;
    fold(n, in, out, V_MAX);
}

void ref_min(const Graph *g, const Node *n, const Tensor *in, Tensor *out)
{
    (void)g;
    fold(n, in, out, V_MIN);
}

void ref_sum(const Graph *g, const Node *n, const Tensor *in, Tensor *out)
{
    (void)g;
    fold(n, in, out, V_SUM);
}

void ref_mean(const Graph *g, const Node *n, const Tensor *in, Tensor *out)
{
    (void)g;
    fold(n, in, out, V_MEAN);
}

/* where(cond, x, y): x's element where cond is true, else y's; copied by
 * size, so any dtype works. */
void ref_where(const Graph *g, const Node *n, const Tensor *in, Tensor *out)
{
    (void)g; (void)n;
    const Type *ot = &out->type;
    int64_t count = type_numel(ot);
    size_t es = dtype_size(ot->dtype);
    for (int64_t o = 0; o < count; o++) {
        bool c = ref_get_i(&in[0], ref_bcast_index(&in[0].type, ot, o)) != 0;
        const Tensor *src = c ? &in[1] : &in[2];
        int64_t i = ref_bcast_index(&src->type, ot, o);
        memcpy((char *)out->data + (size_t)o * es, (const char *)src->data + (size_t)i * es, es);
    }
}

/* ----------------------------------------------------- (de)quantization */

/* As compiled code computes it: x / scale divided in float (ONNX Runtime
 * divides too), rounded half to even, the zero point added, then saturated.
 * NaN saturates to the low end, as the compiled max(q, lo) gives. */
void ref_quantize_linear(const Graph *g, const Node *n, const Tensor *in, Tensor *out)
{
    (void)g;
    const Type *ot = &out->type;
    double lo = ot->dtype == DT_I8 ? -128 : 0, hi = ot->dtype == DT_I8 ? 127 : 255;
    int64_t count = type_numel(ot);
    for (int64_t o = 0; o < count; o++) {
        float x = fdata(&in[0])[o];
        float s = fdata(&in[1])[ref_bcast_index(&in[1].type, ot, o)];
        float q = x / s;
        double r = rint(q);
        if (n->nin > 2)
            r += (double)ref_get_i(&in[2], ref_bcast_index(&in[2].type, ot, o));
        r = !(r > lo) ? lo : r > hi ? hi : r;
        ref_set_i(out, o, (int64_t)r);
    }
}

/* (x - zero) is exact in int64; converting it to float and multiplying by
 * the scale rounds as compiled code's float arithmetic does. */
void ref_dequantize_linear(const Graph *g, const Node *n, const Tensor *in, Tensor *out)
{
    (void)g;
    const Type *ot = &out->type;
    int64_t count = type_numel(ot);
    for (int64_t o = 0; o < count; o++) {
        int64_t x = ref_get_i(&in[0], o);
        if (n->nin > 2)
            x -= ref_get_i(&in[2], ref_bcast_index(&in[2].type, ot, o));
        float s = fdata(&in[1])[ref_bcast_index(&in[1].type, ot, o)];
        fdata(out)[o] = (float)x * s;
    }
}
