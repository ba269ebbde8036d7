/* ref_nn.c: reference implementations of the neural-network ops.
 *
 * Plain, obviously-correct loops over row-major f32 tensors: the oracle the
 * interpreter, constant folding and every backend test compare against, so
 * clarity beats speed. Sums accumulate in double and are stored as float.
 *
 * Invariants:
 *   - The node has passed inference: inputs are f32 and shapes agree, and
 *     out[0] is preallocated with the inferred type.
 *   - Window geometry comes from ir_window_geom, exactly as inference and
 *     the lowering see it.
 *   - An omitted optional input (conv's b, gemm's c, layer_norm's bias) has
 *     data == NULL.
 *   - Windows that hold no input element: max_pool yields -inf; average_pool
 *     yields 0 when its divisor would be 0 (count_include_pad = 0).
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

/* Row-major multi-index of `flat` within dims[0..nd). */
static void unflatten(int64_t flat, const int64_t *dims, int nd, int64_t *idx)
{
    for (int i = nd - 1; i >= 0; i--) {
        idx[i] = flat % dims[i];
        flat /= dims[i];
    }
}

static void window_geom(const Graph *g, const Node *n, Geom *geo)
{
    if (!ir_window_geom(NULL, g, n, geo))
        unreachable("window op reached the reference without passing inference");
}

/* Shared with ref_q.c (declared in ir.h). */
int64_t ref_window_tap(const Geom *geo, int64_t of, int64_t kf, bool *padded)
{
    int64_t oi[IR_MAX_RANK], ki[IR_MAX_RANK], off = 0;
    bool inside = true, in_pad = true;
    unflatten(of, geo->out, geo->nspatial, oi);
    unflatten(kf, geo->kernel, geo->nspatial, ki);
    for (int d = 0; d < geo->nspatial; d++) {
        int64_t p = oi[d] * geo->stride[d] - geo->pad_begin[d] + ki[d] * geo->dilation[d];
        if (p < 0 || p >= geo->in[d])
            inside = false;
        if (p >= geo->in[d] + geo->pad_end[d])
            in_pad = false;
        off = off * geo->in[d] + p;
    }
    if (padded)
        *padded = in_pad;
    return inside ? off : -1;
}

/* A fused activation's clamp, as compiled code does it (max then min, each
 * a plain compare with v first, so NaN becomes act_min). Its `act`, if any,
 * follows over the whole output (ref_act). */
static float act_clamp(const Node *n, float v)
{
    float lo = (float)ir_attr_float(n, "act_min"), hi = (float)ir_attr_float(n, "act_max");
    if (!isinf(lo) && !(v > lo))
        v = lo;
    if (!isinf(hi) && !(v < hi))
        v = hi;
    return v;
}

void ref_conv(const Graph *g, const Node *n, const Tensor *in, Tensor *out)
{
    Geom geo;
    window_geom(g, n, &geo);
    const float *x = in[0].data, *w = in[1].data;
    const float *b = n->nin > 2 && n->in[2] >= 0 ? in[2].data : NULL;
    const float *r = n->nin > 3 && n->in[3] >= 0 ? in[3].data : NULL; /* fused residual */
    float *y = out[0].data;
    int64_t N = in[0].type.dims[0], C = in[0].type.dims[1], M = in[1].type.dims[0];
    int64_t cg = C / geo.group, mg = M / geo.group;
    int64_t in_plane = prod(geo.in, geo.nspatial), out_plane = prod(geo.out, geo.nspatial);
    int64_t ktaps = prod(geo.kernel, geo.nspatial);
    for (int64_t nb = 0; nb < N; nb++)
        for (int64_t m = 0; m < M; m++) {
            int64_t grp = m / mg;
            for (int64_t of = 0; of < out_plane; of++) {
                double acc = b ? b[m] : 0.0;
                for (int64_t ci = 0; ci < cg; ci++) {
                    const float *xp = x + (nb * C + grp * cg + ci) * in_plane;
                    const float *wp = w + (m * cg + ci) * ktaps;
                    for (int64_t kf = 0; kf < ktaps; kf++) {
                        int64_t off = ref_window_tap(&geo, of, kf, NULL);
                        if (off >= 0)
                            acc += (double)xp[off] * wp[kf];
                    }
                }
                int64_t at = (nb * M + m) * out_plane + of;
                /* The conv's f32 value, then the add in f32: the unfused graph. */
                y[at] = act_clamp(n, r ? (float)acc + r[at] : (float)acc);
            }
        }
    ref_act(g, n, &out[0]);
}

/* Shared walk of max/average pooling over every (n, c) plane. */
static void pool(const Graph *g, const Node *n, const Tensor *in, Tensor *out, bool is_max)
{
    Geom geo;
    window_geom(g, n, &geo);
    bool include_pad = !is_max && ir_attr_int(n, "count_include_pad") != 0;
    const float *x = in[0].data;
    float *y = out[0].data;
    int64_t planes = in[0].type.dims[0] * in[0].type.dims[1];
    int64_t in_plane = prod(geo.in, geo.nspatial), out_plane = prod(geo.out, geo.nspatial);
    int64_t ktaps = prod(geo.kernel, geo.nspatial);
    for (int64_t pl = 0; pl < planes; pl++) {
        const float *xp = x + pl * in_plane;
        for (int64_t of = 0; of < out_plane; of++) {
            double acc = is_max ? -INFINITY : 0.0;
            int64_t count = 0;
            for (int64_t kf = 0; kf < ktaps; kf++) {
                bool padded;
                int64_t off = ref_window_tap(&geo, of, kf, &padded);
                if (off >= 0) {
                    if (is_max)
                        acc = xp[off] > acc ? xp[off] : acc;
                    else
                        acc += xp[off];
                }
                /* count_include_pad counts pad taps, but not the taps of a
                 * ceil_mode window hanging past the end padding. */
                if (off >= 0 || (include_pad && padded))
                    count++;
            }
            if (!is_max)
                acc = count ? acc / (double)count : 0.0;
            y[pl * out_plane + of] = (float)acc;
        }
    }
}

void ref_max_pool(const Graph *g, const Node *n, const Tensor *in, Tensor *out)
{
    pool(g, n, in, out, true);
}

void ref_average_pool(const Graph *g, const Node *n, const Tensor *in, Tensor *out)
{
    pool(g, n, in, out, false);
}

static void global_pool(const Tensor *in, Tensor *out, bool is_max)
{
    const float *x = in[0].data;
    float *y = out[0].data;
    int64_t planes = in[0].type.dims[0] * in[0].type.dims[1];
    int64_t size = prod(in[0].type.dims + 2, in[0].type.rank - 2);
    for (int64_t pl = 0; pl < planes; pl++) {
        double acc = is_max ? -INFINITY : 0.0;
        for (int64_t i = 0; i < size; i++) {
            double v = x[pl * size + i];
            acc = is_max ? (v > acc ? v : acc) : acc + v;
        }
        y[pl] = (float)(is_max ? acc : acc / (double)size);
    }
}

void ref_global_average_pool(const Graph *g, const Node *n, const Tensor *in, Tensor *out)
{
    (void)g;
    (void)n;
    global_pool(in, out, false);
}

void ref_global_max_pool(const Graph *g, const Node *n, const Tensor *in, Tensor *out)
{
    (void)g;
    (void)n;
    global_pool(in, out, true);
}

/* Index of c broadcast unidirectionally to [M, N] at (i, j). */
static int64_t bcast_2d(const Type *t, int64_t i, int64_t j)
{
    switch (t->rank) {
    case 0: return 0;
    case 1: return t->dims[0] == 1 ? 0 : j;
    case 2: return (t->dims[0] == 1 ? 0 : i) * t->dims[1] + (t->dims[1] == 1 ? 0 : j);
    default: unreachable("gemm c of rank > 2 passed inference");
    }
}

void ref_gemm(const Graph *g, const Node *n, const Tensor *in, Tensor *out)
{
    bool tra = ir_attr_int(n, "trans_a") != 0, trb = ir_attr_int(n, "trans_b") != 0;
    double alpha = ir_attr_float(n, "alpha"), beta = ir_attr_float(n, "beta");
    const float *a = in[0].data, *b = in[1].data;
    const float *cv = n->nin > 2 ? in[2].data : NULL;
    float *y = out[0].data;
    int64_t M = out[0].type.dims[0], N = out[0].type.dims[1];
    int64_t K = in[0].type.dims[tra ? 0 : 1];
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            double acc = 0.0;
            for (int64_t k = 0; k < K; k++) {
                double av = tra ? a[k * M + i] : a[i * K + k];
                double bv = trb ? b[j * K + k] : b[k * N + j];
                acc += av * bv;
            }
            /* The f32 product, then beta c added in f32 (a fused add's
             * value, bit for bit: fuse-residual). */
            float v = (float)(acc * alpha);
            if (cv)
                v += (float)(beta * cv[bcast_2d(&in[2].type, i, j)]);
            y[i * N + j] = act_clamp(n, v);
        }
    ref_act(g, n, &out[0]);
}

/* Offset of an operand's matrix for output batch index bidx[0..nb), the
 * operand's own batch dims right-aligned and broadcast where 1. */
static int64_t batch_offset(const int64_t *bidx, int nb, const int64_t *dims, int nbo,
                            int64_t mat)
{
    int64_t off = 0;
    for (int i = 0; i < nbo; i++) {
        int64_t d = dims[i], k = bidx[nb - nbo + i];
        off = off * d + (d == 1 ? 0 : k);
    }
    return off * mat;
}

/* The f32 product, then (as the unfused add, clamp and activation would,
 * bit for bit) its c, fused clamp and act. */
void ref_matmul(const Graph *g, const Node *n, const Tensor *in, Tensor *out)
{
    const Type *at = &in[0].type, *bt = &in[1].type;
    const float *a = in[0].data, *b = in[1].data;
    float *y = out[0].data;
    bool a1 = at->rank == 1, b1 = bt->rank == 1;
    int64_t M = a1 ? 1 : at->dims[at->rank - 2], K = at->dims[at->rank - 1];
    int64_t N = b1 ? 1 : bt->dims[bt->rank - 1];
    int nba = a1 ? 0 : at->rank - 2, nbb = b1 ? 0 : bt->rank - 2;
    int nb = nba > nbb ? nba : nbb;
    /* Output batch dims lead the output shape (the dropped 1-D dims are
     * trailing), so the flat batch index matches the output layout. */
    int64_t batches = prod(out[0].type.dims, nb);
    for (int64_t bf = 0; bf < batches; bf++) {
        int64_t bidx[IR_MAX_RANK];
        unflatten(bf, out[0].type.dims, nb, bidx);
        const float *ap = a + batch_offset(bidx, nb, at->dims, nba, M * K);
        const float *bp = b + batch_offset(bidx, nb, bt->dims, nbb, K * N);
        float *yp = y + bf * M * N;
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) {
                double acc = 0.0;
                for (int64_t k = 0; k < K; k++)
                    acc += (double)ap[i * K + k] * bp[k * N + j];
                yp[i * N + j] = (float)acc;
            }
    }
    const float *c = ir_has_input(n, 2) ? in[2].data : NULL;
    for (int64_t o = 0, count = type_numel(&out[0].type); o < count; o++)
        y[o] = act_clamp(n, c ? y[o] + c[ref_bcast_index(&in[2].type, &out[0].type, o)] : y[o]);
    ref_act(g, n, &out[0]);
}

void ref_batch_norm(const Graph *g, const Node *n, const Tensor *in, Tensor *out)
{
    (void)g;
    double eps = ir_attr_float(n, "epsilon");
    const float *x = in[0].data, *scale = in[1].data, *bias = in[2].data;
    const float *mean = in[3].data, *var = in[4].data;
    float *y = out[0].data;
    const Type *t = &in[0].type;
    int64_t N = t->dims[0], C = t->dims[1], inner = prod(t->dims + 2, t->rank - 2);
    for (int64_t nb = 0; nb < N; nb++)
        for (int64_t ch = 0; ch < C; ch++) {
            double inv = 1.0 / sqrt((double)var[ch] + eps);
            for (int64_t i = 0; i < inner; i++) {
                int64_t at = (nb * C + ch) * inner + i;
                y[at] = (float)(((double)x[at] - mean[ch]) * inv * scale[ch] + bias[ch]);
            }
        }
}

/* Index into a parameter broadcast to the normalized dims nd[0..nr) at
 * normalized flat index j; the parameter's dims align to the right. */
static int64_t bcast_trailing(const Type *p, const int64_t *nd, int nr, int64_t j)
{
    int64_t idx[IR_MAX_RANK], off = 0;
    unflatten(j, nd, nr, idx);
    for (int i = 0; i < p->rank; i++) {
        int64_t d = p->dims[i], k = idx[nr - p->rank + i];
        off = off * d + (d == 1 ? 0 : k);
    }
    return off;
}

void ref_layer_norm(const Graph *g, const Node *n, const Tensor *in, Tensor *out)
{
    (void)g;
    const Type *t = &in[0].type;
    int64_t ax = ir_attr_int(n, "axis");
    int axis = (int)(ax < 0 ? ax + t->rank : ax);
    double eps = ir_attr_float(n, "epsilon");
    const float *x = in[0].data, *scale = in[1].data;
    const float *bias = n->nin > 2 ? in[2].data : NULL;
    float *y = out[0].data;
    int64_t outer = prod(t->dims, axis), inner = prod(t->dims + axis, t->rank - axis);
    const int64_t *nd = t->dims + axis;
    int nr = t->rank - axis;
    for (int64_t o = 0; o < outer; o++) {
        const float *xr = x + o * inner;
        /* Two passes: the mean first, then squared deviations from it, so
         * large offsets do not cancel catastrophically. */
        double mean = 0.0, var = 0.0;
        for (int64_t j = 0; j < inner; j++)
            mean += xr[j];
        mean /= (double)inner;
        for (int64_t j = 0; j < inner; j++)
            var += (xr[j] - mean) * (xr[j] - mean);
        var /= (double)inner;
        double inv = 1.0 / sqrt(var + eps);
        for (int64_t j = 0; j < inner; j++) {
            double v = (xr[j] - mean) * inv * scale[bcast_trailing(&in[1].type, nd, nr, j)];
            if (bias)
                v += bias[bcast_trailing(&in[2].type, nd, nr, j)];
            y[o * inner + j] = (float)v;
        }
    }
}

void ref_softmax(const Graph *g, const Node *n, const Tensor *in, Tensor *out)
{
    (void)g;
    const Type *t = &in[0].type;
    int64_t ax = ir_attr_int(n, "axis");
    int axis = (int)(ax < 0 ? ax + t->rank : ax);
    const float *x = in[0].data;
    float *y = out[0].data;
    int64_t outer = prod(t->dims, axis), len = t->dims[axis];
    int64_t inner = prod(t->dims + axis + 1, t->rank - axis - 1);
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            const float *xr = x + o * len * inner + i;
            float *yr = y + o * len * inner + i;
            double mx = -INFINITY, sum = 0.0;
            for (int64_t k = 0; k < len; k++)
                mx = xr[k * inner] > mx ? xr[k * inner] : mx;
            for (int64_t k = 0; k < len; k++)
                sum += exp(xr[k * inner] - mx);
            for (int64_t k = 0; k < len; k++)
                yr[k * inner] = (float)(exp(xr[k * inner] - mx) / sum);
        }
}
