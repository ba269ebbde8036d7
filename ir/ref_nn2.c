/* ref_nn2.c: reference implementations of log_softmax, hardmax,
 * instance_norm, lrn, conv_transpose and resize.
 *
 * Plain, obviously-correct loops over row-major f32 tensors, accumulating in
 * double: the oracle for the interpreter, constant folding and every
 * backend test, so clarity beats speed. conv_transpose is written as the
 * scatter its definition states (each input element adds x * w into the
 * window it spreads over), the opposite direction from the lowering's
 * gather, so the two are independent.
 *
 * Invariants:
 *   - The node has passed inference: inputs are f32, shapes agree, and
 *     out[0] is preallocated with the inferred type.
 *   - conv_transpose and resize geometry comes from ir_conv_transpose_geom,
 *     ir_resize_geom and ir_resize_taps, exactly as inference and lowering
 *     see it.
 *   - An omitted optional input (conv_transpose's b) has data == NULL.
 */
#include "ir.h"

#include <math.h>
#include <string.h>

static int64_t prod(const int64_t *dims, int n)
{
    int64_t p = 1;
    for (int i = 0; i < n; i++)
        p *= dims[i];
    return p;
}

static void unflatten(int64_t flat, const int64_t *dims, int nd, int64_t *idx)
{
    for (int i = nd - 1; i >= 0; i--) {
        idx[i] = flat % dims[i];
        flat /= dims[i];
    }
}

/* outer, len and inner of x around the node's (normalized) axis. */
static void axis_split(const Node *n, const Type *t, int64_t *outer, int64_t *len, int64_t *inner)
{
    int64_t ax = ir_attr_int(n, "axis");
    int axis = (int)(ax < 0 ? ax + t->rank : ax);
    *outer = prod(t->dims, axis);
    *len = t->dims[axis];
    *inner = prod(t->dims + axis + 1, t->rank - axis - 1);
}

/* log_softmax = x - max - log(sum exp(x - max)): the max keeps exp finite. */
void ref_log_softmax(const Graph *g, const Node *n, const Tensor *in, Tensor *out)
{
    (void)g;
    int64_t outer, len, inner;
    axis_split(n, &in[0].type, &outer, &len, &inner);
    const float *x = in[0].data;
    float *y = out[0].data;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            const float *xr = x + o * len * inner + i;
            float *yr = y + o * len * inner + i;
            double mx = -INFINITY, sum = 0.0;
            for (int64_t k = 0; k < len; k++)
                mx = xr[k * inner] > mx ? xr[k * inner] : mx;
            for (int64_t k = 0; k < len; k++)
                sum += exp(xr[k * inner] - mx);
            double lse = mx + log(sum);
            for (int64_t k = 0; k < len; k++)
                yr[k * inner] = (float)(xr[k * inner] - lse);
        }
}

/* 1 at the first maximum along axis, 0 elsewhere. */
void ref_hardmax(const Graph *g, const Node *n, const Tensor *in, Tensor *out)
{
    (void)g;
    int64_t outer, len, inner;
    axis_split(n, &in[0].type, &outer, &len, &inner);
    const float *x = in[0].data;
    float *y = out[0].data;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            const float *xr = x + o * len * inner + i;
            int64_t best = 0;
            for (int64_t k = 1; k < len; k++)
                if (xr[k * inner] > xr[best * inner])
                    best = k;
            for (int64_t k = 0; k < len; k++)
                y[o * len * inner + i + k * inner] = k == best ? 1.0f : 0.0f;
        }
}

/* Per (n, c): mean and (biased) variance over the spatial dims, two passes. */
void ref_instance_norm(const Graph *g, const Node *n, const Tensor *in, Tensor *out)
{
    (void)g;
    const Type *t = &in[0].type;
    double eps = ir_attr_float(n, "epsilon");
    const float *x = in[0].data, *scale = in[1].data, *bias = in[2].data;
    float *y = out[0].data;
    int64_t C = t->dims[1], planes = t->dims[0] * C, len = prod(t->dims + 2, t->rank - 2);
    for (int64_t pl = 0; pl < planes; pl++) {
        const float *xp = x + pl * len;
        double mean = 0.0, var = 0.0;
        for (int64_t i = 0; i < len; i++)
            mean += xp[i];
        mean /= (double)len;
        for (int64_t i = 0; i < len; i++)
            var += (xp[i] - mean) * (xp[i] - mean);
        var /= (double)len;
        double inv = 1.0 / sqrt(var + eps), s = scale[pl % C], b = bias[pl % C];
        for (int64_t i = 0; i < len; i++)
            y[pl * len + i] = (float)((xp[i] - mean) * inv * s + b);
    }
}

/* ONNX LRN: the square sum runs over channels
 * [c - floor((size-1)/2), c + ceil((size-1)/2)] clipped to [0, C). */
void ref_lrn(const Graph *g, const Node *n, const Tensor *in, Tensor *out)
{
    (void)g;
    const Type *t = &in[0].type;
    int64_t size = ir_attr_int(n, "size");
    double alpha = ir_attr_float(n, "alpha"), beta = ir_attr_float(n, "beta");
    double bias = ir_attr_float(n, "bias");
    int64_t before = (size - 1) / 2, after = size - 1 - before;
    int64_t N = t->dims[0], C = t->dims[1], len = prod(t->dims + 2, t->rank - 2);
    const float *x = in[0].data;
    float *y = out[0].data;
    for (int64_t nb = 0; nb < N; nb++)
        for (int64_t ch = 0; ch < C; ch++)
            for (int64_t i = 0; i < len; i++) {
                double sq = 0.0;
                for (int64_t j = ch - before; j <= ch + after; j++)
                    if (j >= 0 && j < C) {
                        double v = x[(nb * C + j) * len + i];
                        sq += v * v;
                    }
                int64_t at = (nb * C + ch) * len + i;
                y[at] = (float)(x[at] / pow(bias + alpha / (double)size * sq, beta));
            }
}

void ref_conv_transpose(const Graph *g, const Node *n, const Tensor *in, Tensor *out)
{
    Geom geo;
    if (!ir_conv_transpose_geom(NULL, g, n, &geo))
        unreachable("conv_transpose reached the reference without passing inference");
    const Type *xt = &in[0].type, *wt = &in[1].type, *yt = &out[0].type;
    const float *x = in[0].data, *w = in[1].data;
    const float *b = n->nin > 2 ? in[2].data : NULL;
    int ns = geo.nspatial;
    int64_t N = xt->dims[0], C = xt->dims[1], M = yt->dims[1];
    int64_t cg = C / geo.group, mg = wt->dims[1];
    int64_t in_plane = prod(geo.in, ns), out_plane = prod(geo.out, ns);
    int64_t ktaps = prod(geo.kernel, ns);
    int64_t total = N * M * out_plane;
    double *acc = arena_alloc(g->arena, (size_t)(total ? total : 1) * sizeof *acc);
    for (int64_t nb = 0; nb < N; nb++)
        for (int64_t m = 0; m < M; m++)
            for (int64_t of = 0; of < out_plane; of++)
                acc[(nb * M + m) * out_plane + of] = b ? b[m] : 0.0;
    for (int64_t nb = 0; nb < N; nb++)
        for (int64_t ch = 0; ch < C; ch++) {
            int64_t grp = ch / cg;
            for (int64_t xf = 0; xf < in_plane; xf++) {
                int64_t xi[IR_MAX_RANK];
                unflatten(xf, geo.in, ns, xi);
                double xv = x[(nb * C + ch) * in_plane + xf];
                for (int64_t kf = 0; kf < ktaps; kf++) {
                    int64_t ki[IR_MAX_RANK], off = 0;
                    bool inside = true;
                    unflatten(kf, geo.kernel, ns, ki);
                    for (int d = 0; d < ns; d++) {
                        int64_t o = xi[d] * geo.stride[d] + ki[d] * geo.dilation[d] - geo.pad_begin[d];
                        inside = inside && o >= 0 && o < geo.out[d];
                        off = off * geo.out[d] + o;
                    }
                    if (!inside)
                        continue;
                    for (int64_t mi = 0; mi < mg; mi++) {
                        int64_t m = grp * mg + mi;
                        acc[(nb * M + m) * out_plane + off] += xv * w[(ch * mg + mi) * ktaps + kf];
                    }
                }
            }
        }
    float *y = out[0].data;
    for (int64_t i = 0; i < total; i++)
        y[i] = (float)acc[i];
}

/* y[o...] = sum over the taps of every dim of the product of their weights
 * times x at the tapped indices (one tap per dim for nearest). */
void ref_resize(const Graph *g, const Node *n, const Tensor *in, Tensor *out)
{
    ResizeGeom rg;
    if (!ir_resize_geom(NULL, g, n, &rg))
        unreachable("resize reached the reference without passing inference");
    const float *x = in[0].data;
    float *y = out[0].data;
    int r = rg.rank;
    int64_t total = prod(rg.out, r);
    for (int64_t of = 0; of < total; of++) {
        int64_t oi[IR_MAX_RANK], idx[IR_MAX_RANK][IR_RESIZE_MAX_TAPS];
        double wt[IR_MAX_RANK][IR_RESIZE_MAX_TAPS];
        int64_t ntaps[IR_MAX_RANK];
        unflatten(of, rg.out, r, oi);
        for (int d = 0; d < r; d++)
            ntaps[d] = ir_resize_taps(n, &rg, d, oi[d], idx[d], wt[d]);
        double acc = 0.0;
        int64_t combos = prod(ntaps, r);
        for (int64_t cf = 0; cf < combos; cf++) {
            int64_t ti[IR_MAX_RANK], off = 0;
            double weight = 1.0;
            unflatten(cf, ntaps, r, ti);
            for (int d = 0; d < r; d++) {
                off = off * rg.in[d] + idx[d][ti[d]];
                weight *= wt[d][ti[d]];
            }
            acc += weight * x[off];
        }
        y[of] = (float)acc;
    }
}
