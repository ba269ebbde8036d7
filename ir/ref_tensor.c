/* ref_tensor.c: reference implementations of elementwise and data-movement ops.
 *
 * The oracle every compiled backend is compared against, so each op is the
 * plainest loop that is obviously right, not a fast one. Inputs and outputs
 * are row-major Tensors whose types were set by inference (the interpreter
 * preallocates outputs); nothing here validates what inference already did.
 *
 * Float math reads f32, computes in double and stores float. Integer inputs
 * (where inference allows them) compute in int64 and wrap to the output
 * dtype on store, as numpy and ONNX Runtime do; integer division truncates
 * toward zero and x / 0 gives 0 instead of trapping. Data movement
 * (identity, reshape, flatten, transpose, concat, pad) copies elements by
 * size, so it works for every dtype.
 */
#include "ir.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ helpers */

static float *fdata(const Tensor *t) { return (float *)t->data; }

static int64_t get_i(const Tensor *t, int64_t i)
{
    switch (t->type.dtype) {
    case DT_I8: return ((const int8_t *)t->data)[i];
    case DT_U8: case DT_BOOL: return ((const uint8_t *)t->data)[i];
    case DT_I16: return ((const int16_t *)t->data)[i];
    case DT_I32: return ((const int32_t *)t->data)[i];
    case DT_I64: return ((const int64_t *)t->data)[i];
    default: unreachable("integer access to a non-integer tensor");
    }
}

static void set_i(Tensor *t, int64_t i, int64_t v)
{
    switch (t->type.dtype) {
    case DT_I8: ((int8_t *)t->data)[i] = (int8_t)v; break;
    case DT_U8: ((uint8_t *)t->data)[i] = (uint8_t)v; break;
    case DT_BOOL: ((uint8_t *)t->data)[i] = v != 0; break;
    case DT_I16: ((int16_t *)t->data)[i] = (int16_t)v; break;
    case DT_I32: ((int32_t *)t->data)[i] = (int32_t)v; break;
    case DT_I64: ((int64_t *)t->data)[i] = v; break;
    default: unreachable("integer store to a non-integer tensor");
    }
}

/* Row-major multi-index of linear index lin in t. */
static void unravel(const Type *t, int64_t lin, int64_t *idx)
{
    for (int i = t->rank - 1; i >= 0; i--) {
        idx[i] = t->dims[i] ? lin % t->dims[i] : 0;
        lin = t->dims[i] ? lin / t->dims[i] : 0;
    }
}

/* Linear index into `in` of output element o under numpy broadcasting:
 * `in` is right-aligned with `out` and its size-1 dims repeat. */
static int64_t bcast_index(const Type *in, const Type *out, int64_t o)
{
    int64_t idx[IR_MAX_RANK], strides[IR_MAX_RANK];
    unravel(out, o, idx);
    type_strides(in, strides);
    int64_t lin = 0;
    int lead = out->rank - in->rank;
    for (int i = 0; i < in->rank; i++)
        if (in->dims[i] != 1)
            lin += idx[lead + i] * strides[i];
    return lin;
}

/* Exported for the other ref_*.c files (ir.h). */
int64_t ref_get_i(const Tensor *t, int64_t i) { return get_i(t, i); }
void ref_set_i(Tensor *t, int64_t i, int64_t v) { set_i(t, i, v); }
int64_t ref_bcast_index(const Type *in, const Type *out, int64_t o)
{
    return bcast_index(in, out, o);
}

static void copy_elem(Tensor *out, int64_t o, const Tensor *in, int64_t i)
{
    size_t es = dtype_size(in->type.dtype);
    memcpy((char *)out->data + (size_t)o * es, (const char *)in->data + (size_t)i * es, es);
}

/* -------------------------------------------------- binary elementwise */

typedef enum { B_ADD, B_SUB, B_MUL, B_DIV } Bin;

static double bin_f(Bin op, double x, double y)
{
    switch (op) {
    case B_ADD: return x + y;
    case B_SUB: return x - y;
    case B_MUL: return x * y;
    case B_DIV: return x / y;
    }
    unreachable("bad binary op");
}

/* Wrapping int64 arithmetic through uint64 (signed overflow is undefined). */
static int64_t bin_i(Bin op, int64_t x, int64_t y)
{
    uint64_t ux = (uint64_t)x, uy = (uint64_t)y;
    switch (op) {
    case B_ADD: return (int64_t)(ux + uy);
    case B_SUB: return (int64_t)(ux - uy);
    case B_MUL: return (int64_t)(ux * uy);
    case B_DIV:
        if (y == 0)
            return 0;
        if (y == -1)
            return (int64_t)(0 - ux);
        return x / y;
    }
    unreachable("bad binary op");
}

static void binary(const Tensor *in, Tensor *out, Bin op)
{
    const Type *ot = &out->type;
    int64_t n = type_numel(ot);
    bool fl = dtype_is_float(ot->dtype);
    for (int64_t o = 0; o < n; o++) {
        int64_t ia = bcast_index(&in[0].type, ot, o);
        int64_t ib = bcast_index(&in[1].type, ot, o);
        if (fl)
            fdata(out)[o] = (float)bin_f(op, fdata(&in[0])[ia], fdata(&in[1])[ib]);
        else
            set_i(out, o, bin_i(op, get_i(&in[0], ia), get_i(&in[1], ib)));
    }
}

void ref_add(const Graph *g, const Node *n, const Tensor *in, Tensor *out)
{
    (void)g; (void)n;
    binary(in, out, B_ADD);
}

void ref_sub(const Graph *g, const Node *n, const Tensor *in, Tensor *out)
{
    (void)g; (void)n;
    binary(in, out, B_SUB);
}

void ref_mul(const Graph *g, const Node *n, const Tensor *in, Tensor *out)
{
    (void)g; (void)n;
    binary(in, out, B_MUL);
}

void ref_div(const Graph *g, const Node *n, const Tensor *in, Tensor *out)
{
    (void)g; (void)n;
    binary(in, out, B_DIV);
}

/* --------------------------------------------------- unary elementwise */

/* Applies a float function to every element (float-only ops). */
static void map_f(const Tensor *in, Tensor *out, double (*f)(double, const Node *), const Node *n)
{
    int64_t count = type_numel(&out->type);
    for (int64_t i = 0; i < count; i++)
        fdata(out)[i] = (float)f(fdata(in)[i], n);
}

static double f_relu(double x, const Node *n) { (void)n; return x > 0 ? x : 0; }
static double f_neg(double x, const Node *n) { (void)n; return -x; }
static double f_abs(double x, const Node *n) { (void)n; return fabs(x); }
static double f_exp(double x, const Node *n) { (void)n; return exp(x); }
static double f_log(double x, const Node *n) { (void)n; return log(x); }
static double f_sqrt(double x, const Node *n) { (void)n; return sqrt(x); }
static double f_tanh(double x, const Node *n) { (void)n; return tanh(x); }
static double f_sigmoid(double x, const Node *n) { (void)n; return 1.0 / (1.0 + exp(-x)); }

static double f_clip(double x, const Node *n)
{
    double lo = ir_attr_float(n, "min"), hi = ir_attr_float(n, "max");
    return x < lo ? lo : x > hi ? hi : x;
}

static double f_leaky_relu(double x, const Node *n)
{
    return x >= 0 ? x : ir_attr_float(n, "alpha") * x;
}

static double f_gelu(double x, const Node *n)
{
    if (strcmp(ir_attr_str(n, "approximate"), "tanh") == 0) {
        const double sqrt_2_over_pi = 0.79788456080286535588;
        return 0.5 * x * (1.0 + tanh(sqrt_2_over_pi * (x + 0.044715 * x * x * x)));
    }
    return 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
}

/* relu, neg, abs and clip also take integer tensors. */
static void map_int(const Tensor *in, Tensor *out, int op, const Node *n)
{
    int64_t count = type_numel(&out->type);
    for (int64_t i = 0; i < count; i++) {
        int64_t x = get_i(in, i), r = x;
        switch (op) {
        case OP_RELU: r = x > 0 ? x : 0; break;
        case OP_NEG: r = (int64_t)(0 - (uint64_t)x); break;
        case OP_ABS: r = x < 0 ? (int64_t)(0 - (uint64_t)x) : x; break;
        case OP_CLIP: {
            /* Integer bounds: the integers inside [min, max]. */
            double lo = ceil(ir_attr_float(n, "min")), hi = floor(ir_attr_float(n, "max"));
            if ((double)x < lo)
                r = (int64_t)lo;
            else if ((double)x > hi)
                r = (int64_t)hi;
            break;
        }
        default: unreachable("integer map of a float-only op");
        }
        set_i(out, i, r);
    }
}

static void unary(const Node *n, const Tensor *in, Tensor *out, double (*f)(double, const Node *))
{
    if (dtype_is_float(in->type.dtype))
        map_f(in, out, f, n);
    else
        map_int(in, out, n->op, n);
}

void ref_relu(const Graph *g, const Node *n, const Tensor *in, Tensor *out)
{
    (void)g;
    unary(n, in, out, f_relu);
}

void ref_clip(const Graph *g, const Node *n, const Tensor *in, Tensor *out)
{
    (void)g;
    unary(n, in, out, f_clip);
}

void ref_neg(const Graph *g, const Node *n, const Tensor *in, Tensor *out)
{
    (void)g;
    unary(n, in, out, f_neg);
}

void ref_abs(const Graph *g, const Node *n, const Tensor *in, Tensor *out)
{
    (void)g;
    unary(n, in, out, f_abs);
}

void ref_leaky_relu(const Graph *g, const Node *n, const Tensor *in, Tensor *out)
{
    (void)g;
    map_f(in, out, f_leaky_relu, n);
}

void ref_sigmoid(const Graph *g, const Node *n, const Tensor *in, Tensor *out)
{
    (void)g;
    map_f(in, out, f_sigmoid, n);
}

void ref_tanh(const Graph *g, const Node *n, const Tensor *in, Tensor *out)
{
    (void)g;
    map_f(in, out, f_tanh, n);
}

void ref_gelu(const Graph *g, const Node *n, const Tensor *in, Tensor *out)
{
    (void)g;
    map_f(in, out, f_gelu, n);
}

void ref_exp(const Graph *g, const Node *n, const Tensor *in, Tensor *out)
{
    (void)g;
    map_f(in, out, f_exp, n);
}

void ref_log(const Graph *g, const Node *n, const Tensor *in, Tensor *out)
{
    (void)g;
    map_f(in, out, f_log, n);
}

void ref_sqrt(const Graph *g, const Node *n, const Tensor *in, Tensor *out)
{
    (void)g;
    map_f(in, out, f_sqrt, n);
}

/* ------------------------------------------------------ data movement */

void ref_identity(const Graph *g, const Node *n, const Tensor *in, Tensor *out)
{
    (void)g; (void)n;
    memcpy(out->data, in->data, type_bytes(&out->type));
}

/* reshape and flatten: a row-major tensor keeps its bytes. */
void ref_copy(const Graph *g, const Node *n, const Tensor *in, Tensor *out)
{
    (void)g; (void)n;
    memcpy(out->data, in->data, type_bytes(&out->type));
}

void ref_transpose(const Graph *g, const Node *n, const Tensor *in, Tensor *out)
{
    (void)g;
    int r = in->type.rank, count;
    const int64_t *attr = ir_attr_ints(n, "perm", &count);
    int64_t perm[IR_MAX_RANK], istr[IR_MAX_RANK], idx[IR_MAX_RANK];
    for (int i = 0; i < r; i++)
        perm[i] = count ? attr[i] : r - 1 - i;
    type_strides(&in->type, istr);
    int64_t total = type_numel(&out->type);
    for (int64_t o = 0; o < total; o++) {
        unravel(&out->type, o, idx);
        /* Output dim i walks input dim perm[i]. */
        int64_t src = 0;
        for (int i = 0; i < r; i++)
            src += idx[i] * istr[perm[i]];
        copy_elem(out, o, in, src);
    }
}

void ref_concat(const Graph *g, const Node *n, const Tensor *in, Tensor *out)
{
    (void)g;
    const Type *ot = &out->type;
    int ax = (int)ir_attr_int(n, "axis");
    if (ax < 0)
        ax += ot->rank;
    int64_t idx[IR_MAX_RANK], ostr[IR_MAX_RANK];
    type_strides(ot, ostr);
    int64_t offset = 0;
    for (int k = 0; k < n->nin; k++) {
        const Type *t = &in[k].type;
        int64_t total = type_numel(t);
        for (int64_t i = 0; i < total; i++) {
            unravel(t, i, idx);
            idx[ax] += offset;
            int64_t o = 0;
            for (int d = 0; d < ot->rank; d++)
                o += idx[d] * ostr[d];
            copy_elem(out, o, in + k, i);
        }
        offset += t->dims[ax];
    }
}

/* Fills element o with pad's constant, converted to the tensor's dtype. */
static void set_const(Tensor *out, int64_t o, double v)
{
    if (dtype_is_float(out->type.dtype))
        fdata(out)[o] = (float)v;
    else
        set_i(out, o, (int64_t)nearbyint(v));
}

void ref_pad(const Graph *g, const Node *n, const Tensor *in, Tensor *out)
{
    (void)g;
    int count;
    const int64_t *pads = ir_attr_ints(n, "pads", &count);
    const char *mode = ir_attr_str(n, "mode");
    bool reflect = strcmp(mode, "reflect") == 0, edge = strcmp(mode, "edge") == 0;
    double value = ir_attr_float(n, "value");
    const Type *it = &in->type;
    int r = it->rank;
    int64_t idx[IR_MAX_RANK], istr[IR_MAX_RANK];
    type_strides(it, istr);
    int64_t total = type_numel(&out->type);
    for (int64_t o = 0; o < total; o++) {
        unravel(&out->type, o, idx);
        int64_t src = 0;
        bool inside = true;
        for (int d = 0; d < r; d++) {
            /* Output coordinate o sits at input coordinate o - begin; a
             * negative begin crops, so the coordinate stays in range. */
            int64_t i = idx[d] - pads[d], dim = it->dims[d];
            if (i < 0 || i >= dim) {
                if (reflect)
                    i = i < 0 ? -i : 2 * (dim - 1) - i;
                else if (edge)
                    i = i < 0 ? 0 : dim - 1;
                else
                    inside = false;
            }
            src += i * istr[d];
        }
        if (inside)
            copy_elem(out, o, in, src);
        else
            set_const(out, o, value);
    }
}

/* ---------------------------------------------------------- reductions */

/* Running state of one reduction: float inputs accumulate in double,
 * integer inputs in wrapping int64. */
typedef struct {
    double fsum, fsq, fabs_sum, fprod, fmax, fmin;
    int64_t isum, isq, iabs_sum, iprod, imax, imin;
} RedAcc;

static void red_init(RedAcc *r)
{
    *r = (RedAcc){.fprod = 1, .fmax = -INFINITY, .fmin = INFINITY,
                  .iprod = 1, .imax = INT64_MIN, .imin = INT64_MAX};
}

static int64_t wrap_add(int64_t a, int64_t b) { return (int64_t)((uint64_t)a + (uint64_t)b); }
static int64_t wrap_mul(int64_t a, int64_t b) { return (int64_t)((uint64_t)a * (uint64_t)b); }

static void red_float(RedAcc *r, double x)
{
    r->fsum += x;
    r->fsq += x * x;
    r->fabs_sum += fabs(x);
    r->fprod *= x;
    /* NaN propagates through max and min, as in ONNX ReduceMax/ReduceMin. */
    r->fmax = isnan(x) || isnan(r->fmax) ? NAN : x > r->fmax ? x : r->fmax;
    r->fmin = isnan(x) || isnan(r->fmin) ? NAN : x < r->fmin ? x : r->fmin;
}

static void red_int(RedAcc *r, int64_t x)
{
    r->isum = wrap_add(r->isum, x);
    r->isq = wrap_add(r->isq, wrap_mul(x, x));
    r->iabs_sum = wrap_add(r->iabs_sum, x < 0 ? (int64_t)(0 - (uint64_t)x) : x);
    r->iprod = wrap_mul(r->iprod, x);
    if (x > r->imax)
        r->imax = x;
    if (x < r->imin)
        r->imin = x;
}

static double red_result_f(int op, const RedAcc *r, int64_t count, double lse)
{
    switch (op) {
    case OP_REDUCE_SUM: return r->fsum;
    case OP_REDUCE_MEAN: return r->fsum / (double)count;
    case OP_REDUCE_MAX: return r->fmax;
    case OP_REDUCE_MIN: return r->fmin;
    case OP_REDUCE_PROD: return r->fprod;
    case OP_REDUCE_L1: return r->fabs_sum;
    case OP_REDUCE_L2: return sqrt(r->fsq);
    case OP_REDUCE_SUM_SQUARE: return r->fsq;
    case OP_REDUCE_LOG_SUM: return log(r->fsum);
    case OP_REDUCE_LOG_SUM_EXP: return lse;
    default: unreachable("ref_reduce on a non-reduce op");
    }
}

static int64_t red_result_i(int op, const RedAcc *r, int64_t count)
{
    switch (op) {
    case OP_REDUCE_SUM: return r->isum;
    case OP_REDUCE_MEAN: return count ? r->isum / count : 0;
    case OP_REDUCE_MAX: return r->imax;
    case OP_REDUCE_MIN: return r->imin;
    case OP_REDUCE_PROD: return r->iprod;
    case OP_REDUCE_L1: return r->iabs_sum;
    case OP_REDUCE_SUM_SQUARE: return r->isq;
    default: unreachable("ref_reduce: float-only reduction of an integer tensor");
    }
}

/* reduce_*: every op folds the same walk over the reduced elements of one
 * output; log_sum_exp then takes a second walk, subtracting the max so
 * large inputs do not overflow: max + log(sum(exp(x - max))). */
void ref_reduce(const Graph *g, const Node *n, const Tensor *in, Tensor *out)
{
    bool reduced[IR_MAX_RANK];
    ir_reduce_axes(g, n, reduced);
    const Type *it = &in->type;
    /* The output with reduced dims kept as 1 has the same element order
     * whether or not keepdims dropped them. */
    Type kt = *it, rt = {.dtype = it->dtype};
    for (int d = 0; d < it->rank; d++) {
        if (reduced[d]) {
            kt.dims[d] = 1;
            rt.dims[rt.rank++] = it->dims[d];
        }
    }
    int64_t istr[IR_MAX_RANK], kidx[IR_MAX_RANK], ridx[IR_MAX_RANK];
    type_strides(it, istr);
    int64_t nout = type_numel(&kt), nred = type_numel(&rt);
    bool fl = dtype_is_float(it->dtype);
    int64_t *srcs = nred ? malloc((size_t)nred * sizeof *srcs) : NULL;
    for (int64_t o = 0; o < nout; o++) {
        unravel(&kt, o, kidx);
        RedAcc r;
        red_init(&r);
        for (int64_t k = 0; k < nred; k++) {
            unravel(&rt, k, ridx);
            int64_t src = 0;
            for (int d = 0, j = 0; d < it->rank; d++)
                src += (reduced[d] ? ridx[j++] : kidx[d]) * istr[d];
            srcs[k] = src;
            if (fl)
                red_float(&r, fdata(in)[src]);
            else
                red_int(&r, ref_get_i(in, src));
        }
        if (!fl) {
            ref_set_i(out, o, red_result_i(n->op, &r, nred));
            continue;
        }
        double lse = 0;
        if (n->op == OP_REDUCE_LOG_SUM_EXP) {
            double m = isfinite(r.fmax) ? r.fmax : 0, s = 0;
            for (int64_t k = 0; k < nred; k++)
                s += exp(fdata(in)[srcs[k]] - m);
            lse = m + log(s);
        }
        fdata(out)[o] = (float)red_result_f(n->op, &r, nred, lse);
    }
    free(srcs);
}
