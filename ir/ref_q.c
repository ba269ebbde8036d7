/* ref_q.c: integer reference implementations of the int8 ops.
 *
 * Plain loops in integer arithmetic only: sums of (x - zx) * (w - zw) in
 * int64 (inference bounds them to int32, as compiled code keeps them), then
 * quant_requant, the one requantization definition the lowering emits too.
 * Compiled int8 kernels must match these bit for bit.
 * Invariant: the node has passed inference (infer_q.c): dtypes, quantization
 * parameters and multipliers are valid; out[0] is preallocated.
 */
#include "ir.h"

static int64_t prod(const int64_t *dims, int n)
{
    int64_t p = 1;
    for (int i = 0; i < n; i++)
        p *= dims[i];
    return p;
}

static int32_t zero_of(const Type *t)
{
    return quant_zero_at(t->quant, 0);
}

static int32_t sat32(int64_t v)
{
    return v > INT32_MAX ? INT32_MAX : v < INT32_MIN ? INT32_MIN : (int32_t)v;
}

void ref_qconv(const Graph *g, const Node *n, const Tensor *in, Tensor *out)
{
    Geom geo;
    if (!ir_window_geom(NULL, g, n, &geo))
        unreachable("qconv reached the reference without passing inference");
    const Type *xt = &in[0].type, *wt = &in[1].type, *yt = &out[0].type;
    int64_t N = xt->dims[0], C = xt->dims[1], M = wt->dims[0];
    int64_t cg = C / geo.group, mg = M / geo.group;
    int64_t in_plane = prod(geo.in, geo.nspatial), out_plane = prod(geo.out, geo.nspatial);
    int64_t ktaps = prod(geo.kernel, geo.nspatial);
    int32_t zx = zero_of(xt), zy = zero_of(yt), lo, hi;
    quant_bounds(n, yt->dtype, &lo, &hi);
    Rounding r = quant_node_rounding(n);
    bool has_b = n->nin > 2 && in[2].data;
    for (int64_t m = 0; m < M; m++) {
        QMult q;
        quant_out_mult(xt, wt, m, yt, &q);
        int32_t zw = quant_zero_at(wt->quant, m);
        int64_t grp = m / mg;
        for (int64_t nb = 0; nb < N; nb++)
            for (int64_t of = 0; of < out_plane; of++) {
                int64_t acc = has_b ? ref_get_i(&in[2], m) : 0;
                for (int64_t ci = 0; ci < cg; ci++) {
                    int64_t xbase = (nb * C + grp * cg + ci) * in_plane, wbase = (m * cg + ci) * ktaps;
                    for (int64_t kf = 0; kf < ktaps; kf++) {
                        int64_t off = ref_window_tap(&geo, of, kf, NULL);
                        if (off >= 0) /* padding reads zx: (zx - zx) * w adds nothing */
                            acc += (ref_get_i(&in[0], xbase + off) - zx) *
                                   (ref_get_i(&in[1], wbase + kf) - zw);
                    }
                }
                ref_set_i(out, (nb * M + m) * out_plane + of, quant_requant(sat32(acc), q, r, zy, lo, hi));
            }
    }
}

void ref_qgemm(const Graph *g, const Node *n, const Tensor *in, Tensor *out)
{
    (void)g;
    const Type *at = &in[0].type, *wt = &in[1].type, *yt = &out[0].type;
    int64_t M = at->dims[0], K = at->dims[1], N = wt->dims[0];
    int32_t za = zero_of(at), zy = zero_of(yt), lo, hi;
    quant_bounds(n, yt->dtype, &lo, &hi);
    Rounding r = quant_node_rounding(n);
    bool has_b = n->nin > 2 && in[2].data;
    for (int64_t j = 0; j < N; j++) {
        QMult q;
        quant_out_mult(at, wt, j, yt, &q);
        int32_t zw = quant_zero_at(wt->quant, j);
        for (int64_t i = 0; i < M; i++) {
            int64_t acc = has_b ? ref_get_i(&in[2], j) : 0;
            for (int64_t k = 0; k < K; k++)
                acc += (ref_get_i(&in[0], i * K + k) - za) * (ref_get_i(&in[1], j * K + k) - zw);
            ref_set_i(out, i * N + j, quant_requant(sat32(acc), q, r, zy, lo, hi));
        }
    }
}

void ref_qaverage_pool(const Graph *g, const Node *n, const Tensor *in, Tensor *out)
{
    Geom geo;
    if (!ir_window_geom(NULL, g, n, &geo))
        unreachable("qaverage_pool reached the reference without passing inference");
    const Type *xt = &in[0].type, *yt = &out[0].type;
    int64_t planes = xt->dims[0] * xt->dims[1];
    int64_t in_plane = prod(geo.in, geo.nspatial), out_plane = prod(geo.out, geo.nspatial);
    int64_t ktaps = prod(geo.kernel, geo.nspatial);
    int32_t zx = zero_of(xt), zy = zero_of(yt), lo, hi;
    quant_bounds(n, yt->dtype, &lo, &hi);
    QMult q;
    quant_multiplier((double)quant_scale_at(xt->quant, 0) /
                     ((double)quant_scale_at(yt->quant, 0) * (double)ktaps), &q);
    Rounding r = quant_node_rounding(n);
    for (int64_t pl = 0; pl < planes; pl++)
        for (int64_t of = 0; of < out_plane; of++) {
            int64_t acc = 0;
            for (int64_t kf = 0; kf < ktaps; kf++) {
                int64_t off = ref_window_tap(&geo, of, kf, NULL);
                if (off >= 0)
                    acc += ref_get_i(&in[0], pl * in_plane + off) - zx;
            }
            ref_set_i(out, pl * out_plane + of, quant_requant(sat32(acc), q, r, zy, lo, hi));
        }
}

/* qadd or qmul in its QFast form (single rounding, enough multiplier
 * bits), element by element with numpy broadcasting. */
static void ref_qfast(const QFast *f, const Tensor *in, const Type *yt, Tensor *out)
{
    int64_t count = type_numel(yt);
    for (int64_t o = 0; o < count; o++) {
        int32_t a = (int32_t)ref_get_i(&in[0], ref_bcast_index(&in[0].type, yt, o));
        int32_t b = (int32_t)ref_get_i(&in[1], ref_bcast_index(&in[1].type, yt, o));
        ref_set_i(out, o, quant_fast(f, a, b));
    }
}

/* TFLite's fixed-point add, or its QFast form. */
void ref_qadd(const Graph *g, const Node *n, const Tensor *in, Tensor *out)
{
    (void)g;
    const Type *at = &in[0].type, *bt = &in[1].type, *yt = &out[0].type;
    int64_t count = type_numel(yt);
    QFast f;
    if (quant_fast_init(n, at, bt, yt, &f)) {
        ref_qfast(&f, in, yt, out);
        return;
    }
    QMult ma, mb, my;
    quant_add_mults(at, bt, yt, &ma, &mb, &my);
    int32_t za = zero_of(at), zb = zero_of(bt), zy = zero_of(yt), lo, hi;
    quant_bounds(n, yt->dtype, &lo, &hi);
    Rounding r = quant_node_rounding(n);
    for (int64_t o = 0; o < count; o++) {
        int32_t a = (int32_t)(ref_get_i(&in[0], ref_bcast_index(at, yt, o)) - za);
        int32_t b = (int32_t)(ref_get_i(&in[1], ref_bcast_index(bt, yt, o)) - zb);
        int32_t sum = quant_scale(a * (1 << QADD_SHIFT), ma, r) + quant_scale(b * (1 << QADD_SHIFT), mb, r);
        ref_set_i(out, o, quant_requant(sum, my, r, zy, lo, hi));
    }
}

void ref_qsoftmax(const Graph *g, const Node *n, const Tensor *in, Tensor *out)
{
    (void)g;
    const Type *xt = &in[0].type, *yt = &out[0].type;
    int32_t table[256];
    quant_softmax_table(quant_scale_at(xt->quant, 0), table);
    int64_t r = quant_softmax_r(quant_scale_at(yt->quant, 0));
    int32_t zy = zero_of(yt), lo = yt->dtype == DT_U8 ? 0 : -128, hi = yt->dtype == DT_U8 ? 255 : 127;
    (void)n;
    int64_t len = xt->dims[xt->rank - 1], rows = type_numel(xt) / (len ? len : 1);
    for (int64_t row = 0; row < rows; row++) {
        int64_t mx = INT64_MIN, sum = 0;
        for (int64_t i = 0; i < len; i++) {
            int64_t v = ref_get_i(&in[0], row * len + i);
            mx = v > mx ? v : mx;
        }
        for (int64_t i = 0; i < len; i++)
            sum += table[mx - ref_get_i(&in[0], row * len + i)];
        for (int64_t i = 0; i < len; i++)
            ref_set_i(out, row * len + i,
                      quant_softmax_out(table[mx - ref_get_i(&in[0], row * len + i)], sum, r, zy, lo, hi));
    }
}

void ref_qmax_pool(const Graph *g, const Node *n, const Tensor *in, Tensor *out)
{
    Geom geo;
    if (!ir_window_geom(NULL, g, n, &geo))
        unreachable("qmax_pool reached the reference without passing inference");
    const Type *xt = &in[0].type, *yt = &out[0].type;
    int64_t planes = xt->dims[0] * xt->dims[1];
    int64_t in_plane = prod(geo.in, geo.nspatial), out_plane = prod(geo.out, geo.nspatial);
    int64_t ktaps = prod(geo.kernel, geo.nspatial);
    QRescale rs;
    quant_rescale_init(xt, yt, &rs);
    int32_t lo, hi;
    quant_bounds(n, yt->dtype, &lo, &hi);
    Rounding r = quant_node_rounding(n);
    for (int64_t pl = 0; pl < planes; pl++)
        for (int64_t of = 0; of < out_plane; of++) {
            int64_t mx = INT64_MIN; /* every window reads an element (inference) */
            for (int64_t kf = 0; kf < ktaps; kf++) {
                int64_t off = ref_window_tap(&geo, of, kf, NULL);
                if (off >= 0 && ref_get_i(&in[0], pl * in_plane + off) > mx)
                    mx = ref_get_i(&in[0], pl * in_plane + off);
            }
            ref_set_i(out, pl * out_plane + of, quant_rescale((int32_t)mx, &rs, r, lo, hi));
        }
}

/* TFLite's reference int8 mul: the centered product, requantized once
 * (its QFast form where that applies). */
void ref_qmul(const Graph *g, const Node *n, const Tensor *in, Tensor *out)
{
    (void)g;
    const Type *at = &in[0].type, *bt = &in[1].type, *yt = &out[0].type;
    QFast f;
    if (quant_fast_init(n, at, bt, yt, &f)) {
        ref_qfast(&f, in, yt, out);
        return;
    }
    QMult m;
    quant_out_mult(at, bt, 0, yt, &m);
    int32_t za = zero_of(at), zb = zero_of(bt), zy = zero_of(yt), lo, hi;
    quant_bounds(n, yt->dtype, &lo, &hi);
    Rounding r = quant_node_rounding(n);
    int64_t count = type_numel(yt);
    for (int64_t o = 0; o < count; o++) {
        int32_t a = (int32_t)(ref_get_i(&in[0], ref_bcast_index(at, yt, o)) - za);
        int32_t b = (int32_t)(ref_get_i(&in[1], ref_bcast_index(bt, yt, o)) - zb);
        ref_set_i(out, o, quant_requant(a * b, m, r, zy, lo, hi));
    }
}

void ref_qconcat(const Graph *g, const Node *n, const Tensor *in, Tensor *out)
{
    (void)g;
    const Type *yt = &out[0].type;
    int ax = (int)ir_attr_int(n, "axis");
    if (ax < 0)
        ax += yt->rank;
    int32_t lo, hi;
    quant_bounds(n, yt->dtype, &lo, &hi);
    Rounding r = quant_node_rounding(n);
    /* Output element (outer, offset + j, inner) reads input k's (outer, j, inner). */
    int64_t outer = prod(yt->dims, ax), inner = prod(yt->dims + ax + 1, yt->rank - ax - 1);
    int64_t offset = 0;
    for (int k = 0; k < n->nin; k++) {
        const Type *xt = &in[k].type;
        QRescale rs;
        quant_rescale_init(xt, yt, &rs);
        int64_t len = xt->dims[ax];
        for (int64_t o = 0; o < outer; o++)
            for (int64_t j = 0; j < len * inner; j++) {
                int64_t v = ref_get_i(&in[k], o * len * inner + j);
                ref_set_i(out, (o * yt->dims[ax] + offset) * inner + j, quant_rescale((int32_t)v, &rs, r, lo, hi));
            }
        offset += len;
    }
}

void ref_qlut(const Graph *g, const Node *n, const Tensor *in, Tensor *out)
{
    (void)g;
    (void)n;
    int64_t base = in[0].type.dtype == DT_U8 ? 0 : -128, count = type_numel(&out[0].type);
    for (int64_t i = 0; i < count; i++)
        ref_set_i(out, i, ref_get_i(&in[1], ref_get_i(&in[0], i) - base));
}
