/* lower_nn.c: Loop IR lowerings of the neural-network ops (conv, gemm,
 * matmul, pools, batch_norm, layer_norm, softmax).
 *
 * Each op becomes one kernel of plain static loops: independent loops are
 * marked LOOP_PARALLEL, loops that carry an accumulator LOOP_REDUCTION; the
 * accumulators are kernel locals. This is the baseline the loop passes
 * tile and vectorize, so the nests stay simple: no loop is emitted for an
 * extent of 1 (its index is the constant 0).
 * Invariants: conv and pool geometry comes from ir_window_geom, so lowering,
 * inference and the reference agree; a window tap that may fall outside
 * the input is guarded by an ST_IF, never by an EX_SELECT (a backend may
 * evaluate both sides of a select), and no load is ever out of bounds.
 * Only f32 tensors are lowered here; the int8 ops are lower_q.c's. On
 * targets with a vector unit, conv's register tiles are lower_conv_vec.c's
 * and those of gemm and matmul by a constant lower_mm.c's.
 */
#include "passes.h"

#include <assert.h>
#include <math.h>

/* ---------------------------------------------------------------- helpers */

/* Row-major linear index of idx[0..n) into dims[0..n) (passes.h). */
Expr *lower_flat_index(Program *p, int n, Expr **idx, const int64_t *dims)
{
    Expr *e = ex_int(p, 0);
    for (int d = 0; d < n; d++)
        e = ex_add(p, ex_muli(p, e, dims[d]), idx[d]);
    return e;
}

static Expr *type_index(Program *p, const Type *t, Expr **idx)
{
    return lower_flat_index(p, t->rank, idx, t->dims);
}


/* v clamped to the node's fused activation (act_min/act_max of conv and
 * gemm, set by fuse-activation), max then min as ref_nn.c's act_clamp. */
static Expr *act_clamp(Program *p, const Node *n, Expr *v)
{
    double lo = ir_attr_float(n, "act_min"), hi = ir_attr_float(n, "act_max");
    if (!isinf(lo))
        v = ex_bin(p, BIN_MAX, v, ex_flt(p, lo));
    if (!isinf(hi))
        v = ex_bin(p, BIN_MIN, v, ex_flt(p, hi));
    return v;
}

static bool has_act(const Node *n)
{
    return !isinf(ir_attr_float(n, "act_min")) || !isinf(ir_attr_float(n, "act_max"));
}

int lower_conv_residual(LowerCtx *lc, const Node *n)
{
    return n->op == OP_CONV && ir_has_input(n, 3) ? lower_buf(lc, n->in[3]) : -1;
}

/* What a conv stores at y[yi] for its sum v: v plus the residual r[yi]
 * (r >= 0), then the fused activation. */
static Expr *conv_out_value(Program *p, const Node *n, int r, Expr *yi, Expr *v)
{
    if (r >= 0)
        v = lower_add(p, v, ex_load(p, r, yi));
    return act_clamp(p, n, v);
}

void lower_conv_inplace(Kernel *k, int r, int x, int y)
{
    if (r >= 0 && r != x) {
        k->inplace_in = r;
        k->inplace_out = y;
    }
}

/* Whether a form whose sums accumulate in y needs a pass over it after. */
static bool needs_epilogue(const Node *n, int r)
{
    return has_act(n) || r >= 0;
}

/* y[base + i] = conv_out_value(y[base + i]) for i in [0, n): the residual
 * and activation of a form whose sums accumulate in y itself (never in
 * place: y is written before r is read). */
static void clamp_range(Program *p, Kernel *k, Stmt *into, const Node *n, int y, int r, Expr *base,
                        int64_t count)
{
    Expr *i;
    Stmt *l = lower_loop(p, k, into, count, LOOP_PARALLEL | LOOP_VECTOR, &i);
    Expr *at = ex_add(p, base, i);
    st_append(p, l, st_store(p, y, at, conv_out_value(p, n, r, at, ex_load(p, y, at))));
}

/* ------------------------------------------------------- window geometry */

/* Opens the reduction loops over the window taps of output position o[]
 * (one per spatial dim) and returns the innermost body, guarded so every
 * tap it runs for is inside the input; tap[] gets the tap indices and
 * pos[] the input spatial indices. A dim is guarded only when some tap of
 * some output can miss the input (pads, or ceil_mode windows running past
 * the end), and its guard sits right inside its own tap loop. */
Stmt *lower_open_window(Program *p, Kernel *k, Stmt *into, const Geom *geo, Expr **o,
                        Expr **tap, Expr **pos)
{
    Stmt *body = into;
    for (int d = 0; d < geo->nspatial; d++) {
        body = lower_loop(p, k, body, geo->kernel[d], LOOP_REDUCTION, &tap[d]);
        Expr *at = ex_add(p, ex_muli(p, o[d], geo->stride[d]), ex_muli(p, tap[d], geo->dilation[d]));
        pos[d] = ex_bin(p, BIN_SUB, at, ex_int(p, geo->pad_begin[d]));
        int64_t last = (geo->out[d] - 1) * geo->stride[d] +
                       (geo->kernel[d] - 1) * geo->dilation[d] - geo->pad_begin[d];
        Expr *cond = NULL;
        if (geo->pad_begin[d] > 0)
            cond = ex_bin(p, BIN_GE, pos[d], ex_int(p, 0));
        if (last >= geo->in[d]) {
            Expr *c = ex_bin(p, BIN_LT, pos[d], ex_int(p, geo->in[d]));
            cond = cond ? ex_bin(p, BIN_AND, cond, c) : c;
        }
        if (cond) {
            Stmt *then = st_block(p);
            st_append(p, body, st_if(p, cond, then, NULL));
            body = then;
        }
    }
    return body;
}

/* Number of taps t in [0, kernel) of output o in dim d whose input
 * position o*stride + t*dilation - pad_begin lies in [lo, hi). */
static int64_t count_taps(const Geom *geo, int d, int64_t o, int64_t lo, int64_t hi)
{
    int64_t n = 0;
    for (int64_t t = 0; t < geo->kernel[d]; t++) {
        int64_t at = o * geo->stride[d] + t * geo->dilation[d] - geo->pad_begin[d];
        n += at >= lo && at < hi;
    }
    return n;
}

/* The same count as an index expression of the output position o:
 * #{t in [0,K) : lo <= a + t*dil < hi} with a = o*stride - pad_begin is
 * min(ceil(max(hi - a, 0) / dil), K) - min(ceil(max(lo - a, 0) / dil), K);
 * the numerators are non-negative, so C's truncating division is a floor. */
static Expr *count_taps_expr(Program *p, const Geom *geo, int d, Expr *o, int64_t lo, int64_t hi)
{
    Expr *ends[2];
    int64_t bounds[2] = {hi, lo};
    for (int i = 0; i < 2; i++) {
        Expr *rem = ex_bin(p, BIN_SUB, ex_int(p, bounds[i] + geo->pad_begin[d]),
                           ex_muli(p, o, geo->stride[d]));
        rem = ex_bin(p, BIN_MAX, rem, ex_int(p, 0));
        int64_t dil = geo->dilation[d];
        if (dil > 1)
            rem = ex_bin(p, BIN_DIV, ex_add(p, rem, ex_int(p, dil - 1)), ex_int(p, dil));
        ends[i] = ex_bin(p, BIN_MIN, rem, ex_int(p, geo->kernel[d]));
    }
    return ex_bin(p, BIN_SUB, ends[0], ends[1]);
}

/* The average pool's divisor at output position o[] as an f32 expression:
 * the taps inside the input (count_include_pad = 0) or inside the padded
 * input (1): a product of per-dim counts, folded to a constant in every
 * dim where it does not depend on the position. */
static Expr *pool_divisor(Program *p, const Geom *geo, bool include_pad, Expr **o)
{
    int64_t constant = 1;
    Expr *varying = NULL;
    for (int d = 0; d < geo->nspatial; d++) {
        int64_t lo = include_pad ? -geo->pad_begin[d] : 0;
        int64_t hi = geo->in[d] + (include_pad ? geo->pad_end[d] : 0);
        int64_t first = count_taps(geo, d, 0, lo, hi);
        bool same = true;
        for (int64_t i = 1; i < geo->out[d] && same; i++)
            same = count_taps(geo, d, i, lo, hi) == first;
        /* A window without a tap in the input sums to 0 and yields 0, as in
         * the reference: a divisor of 1 keeps 0/0 out. */
        if (same) {
            constant *= first ? first : 1;
            continue;
        }
        Expr *e = ex_bin(p, BIN_MAX, count_taps_expr(p, geo, d, o[d], lo, hi), ex_int(p, 1));
        varying = varying ? ex_mul(p, varying, e) : e;
    }
    if (!varying)
        return ex_flt(p, (double)constant);
    return ex_cast(p, DT_F32, ex_muli(p, varying, constant));
}

/* ------------------------------------------------------------------- conv */

/* y[n, m, o...] = b[m] + sum over ci < C/group and taps t of
 * x[n, g*C/group + ci, o*s + t*dil - pad] * w[m, ci, t...], where the
 * output channel m = g*M/group + mg: looping over (g, mg) keeps every
 * index affine, and depthwise conv (C/group = 1) gets no ci loop at all. */
static bool lower_conv_nd(LowerCtx *lc, const Node *n, const Geom *gp)
{
    Geom geo = *gp;
    Program *p = lc->p;
    const Type *xt = ir_in_type(lc->g, n, 0), *wt = ir_in_type(lc->g, n, 1);
    const Type *yt = ir_out_type(lc->g, n, 0);
    int x = lower_buf(lc, n->in[0]), w = lower_buf(lc, n->in[1]);
    int b = ir_has_input(n, 2) ? lower_buf(lc, n->in[2]) : -1;
    int y = lower_buf(lc, n->out[0]), res = lower_conv_residual(lc, n);
    Kernel *k = lower_kernel(lc, n);
    lower_conv_inplace(k, res, x, y);
    int ns = geo.nspatial;
    int64_t groups = geo.group, mg_n = wt->dims[0] / groups, cg_n = wt->dims[1];

    Expr *nv, *gv, *mgv, *ci, *o[IR_MAX_RANK], *tap[IR_MAX_RANK], *pos[IR_MAX_RANK];
    Stmt *s = lower_loop(p, k, k->body, yt->dims[0], LOOP_PARALLEL, &nv);
    s = lower_loop(p, k, s, groups, LOOP_PARALLEL, &gv);
    s = lower_loop(p, k, s, mg_n, LOOP_PARALLEL, &mgv);
    for (int d = 0; d < ns; d++)
        s = lower_loop(p, k, s, geo.out[d], LOOP_PARALLEL, &o[d]);
    Expr *m = ex_add(p, ex_muli(p, gv, mg_n), mgv);

    int acc = loop_new_local(p, k, DT_F32, "acc");
    st_append(p, s, st_set(p, acc, b >= 0 ? ex_load(p, b, m) : ex_flt(p, 0.0)));
    Stmt *r = lower_loop(p, k, s, cg_n, LOOP_REDUCTION, &ci);
    r = lower_open_window(p, k, r, &geo, o, tap, pos);

    Expr *xi[IR_MAX_RANK], *wi[IR_MAX_RANK], *yi[IR_MAX_RANK];
    xi[0] = nv;
    xi[1] = ex_add(p, ex_muli(p, gv, cg_n), ci);
    wi[0] = yi[1] = m;
    wi[1] = ci;
    yi[0] = nv;
    for (int d = 0; d < ns; d++) {
        xi[2 + d] = pos[d];
        wi[2 + d] = tap[d];
        yi[2 + d] = o[d];
    }
    Expr *xw = lower_mul(p, ex_load(p, x, type_index(p, xt, xi)), ex_load(p, w, type_index(p, wt, wi)));
    st_append(p, r, lower_accumulate(p, k, acc, BIN_ADD, xw));
    Expr *at = type_index(p, yt, yi);
    st_append(p, s, st_store(p, y, at, conv_out_value(p, n, res, at, ex_local(p, k, acc))));
    return true;
}

/* The output positions o in [lo, hi) of one spatial dim whose tap t reads
 * inside the input: 0 <= o*s + t*dil - pad < in. Both bounds are index
 * expressions of the tap (a loop variable); the numerators are kept
 * non-negative so C's truncating division is a floor. */
static void tap_range(Program *p, const Geom *geo, int d, Expr *t, Expr **lo, Expr **hi)
{
    int64_t s = geo->stride[d], pad = geo->pad_begin[d];
    Expr *td = ex_muli(p, t, geo->dilation[d]);
    /* lo = max(0, ceil((pad - t*dil) / s)) */
    Expr *a = ex_bin(p, BIN_SUB, ex_int(p, pad + s - 1), td);
    a = ex_bin(p, BIN_MAX, a, ex_int(p, 0));
    *lo = s == 1 ? a : ex_bin(p, BIN_DIV, a, ex_int(p, s));
    if (pad == 0)
        *lo = ex_int(p, 0);
    /* hi = min(out, floor((in - 1 + pad - t*dil) / s) + 1) */
    Expr *b = ex_bin(p, BIN_SUB, ex_int(p, geo->in[d] - 1 + pad + s), td);
    b = ex_bin(p, BIN_MAX, b, ex_int(p, 0));
    if (s > 1)
        b = ex_bin(p, BIN_DIV, b, ex_int(p, s));
    *hi = ex_bin(p, BIN_MIN, b, ex_int(p, geo->out[d]));
    int64_t last = (geo->out[d] - 1) * s + (geo->kernel[d] - 1) * geo->dilation[d] - pad;
    if (last < geo->in[d])
        *hi = ex_int(p, geo->out[d]); /* no tap of any output runs past the end */
}

/* Output channels computed together by a pointwise conv: each loaded input
 * element feeds CONV_MBLOCK accumulator rows, cutting input traffic by that
 * factor while the rows stay in L1. */
enum { CONV_MBLOCK = 4 };

/* The largest register tile of the host conv form (conv_tile). */
enum { TILE_MAX_M = 8, TILE_MAX_W = 32 };

/* Outputs computed together by the dot forms of gemm and conv (passes.h):
 * that many accumulators share each load of the other operand. Cortex-M4's
 * 32 single registers hold 8 of them with room for the operands; 16
 * registers, 4; fewer, 2. Small dims take the largest power of two that
 * fits. */
int lower_dot_block(const Target *t, int64_t cols)
{
    int block = t->float_regs >= 32 ? 8 : t->float_regs >= 16 ? 4 : 2;
    while (block > 1 && cols < block)
        block /= 2;
    return block;
}

/* The taps t in [lo, hi) of output position o in dim d (dilation 1) whose
 * input position o*stride + t - pad_begin lies inside the input: all of
 * them, as constants, for an output in the interior (`inside`). */
void lower_out_taps(Program *p, const Geom *geo, int d, Expr *o, bool inside, Expr **lo,
                    Expr **hi)
{
    int64_t s = geo->stride[d], pad = geo->pad_begin[d], kn = geo->kernel[d];
    Expr *os = ex_muli(p, o, s);
    *lo = !inside && pad > 0
              ? ex_bin(p, BIN_MAX, ex_bin(p, BIN_SUB, ex_int(p, pad), os), ex_int(p, 0))
              : ex_int(p, 0);
    int64_t last = (geo->out[d] - 1) * s + kn - 1 - pad;
    *hi = !inside && last >= geo->in[d]
              ? ex_bin(p, BIN_MIN, ex_bin(p, BIN_SUB, ex_int(p, geo->in[d] + pad), os), ex_int(p, kn))
              : ex_int(p, kn);
}

/* The outputs of dim d whose whole window lies inside the input: [*lo, *hi). */
static void lower_interior(const Geom *geo, int d, int64_t *lo, int64_t *hi)
{
    int64_t s = geo->stride[d], pad = geo->pad_begin[d], out = geo->out[d];
    int64_t span = geo->in[d] + pad - geo->kernel[d];
    *lo = (pad + s - 1) / s;
    *lo = *lo < out ? *lo : out;
    *hi = span >= 0 ? span / s + 1 : *lo;
    *hi = *hi < out ? *hi : out;
    *hi = *hi > *lo ? *hi : *lo;
}

void lower_plane_regions(const Geom *geo, int64_t rows[4], int64_t cols[4])
{
    int64_t lo, hi;
    lower_interior(geo, 0, &lo, &hi);
    rows[0] = 0, rows[1] = lo, rows[2] = hi, rows[3] = geo->out[0];
    lower_interior(geo, 1, &lo, &hi);
    cols[0] = 0, cols[1] = lo, cols[2] = hi, cols[3] = geo->out[1];
}

/* A loop over [a, b) (b > a) appended to `into`, or the constant a alone. */
Stmt *lower_range_loop(Program *p, Kernel *k, Stmt *into, int64_t a, int64_t b, Expr **var)
{
    if (b - a == 1) {
        *var = ex_int(p, a);
        return into;
    }
    int v = loop_new_var(k);
    Stmt *l = st_for(p, v, ex_int(p, a), ex_int(p, b), 1, LOOP_PARALLEL);
    st_append(p, into, l);
    *var = ex_var(p, v);
    return l->body;
}

typedef struct {
    const Node *n;
    int x, w, b, y, r;          /* buffers; b < 0 without a bias, r without a residual */
    const Geom *geo;
    int64_t mg_n, cg_n, chans, mchans;
    Expr *nv, *gv;
} ConvDot;

/* Output pixel (ohv, owv) of `block` output channels from mgv: the sums
 * stay in locals over the in-bounds taps, and each input element loaded
 * feeds all of them. inside[d]: the window lies inside the input in dim d,
 * so the tap loops have constant bounds (and unroll). */
static void conv_dot_pixel(Program *p, Kernel *k, Stmt *s, const ConvDot *c, Expr *mgv, int block,
                           Expr *ohv, Expr *owv, const bool *inside)
{
    const Geom *geo = c->geo;
    int acc[DOT_MAX_BLOCK];
    Expr *m[DOT_MAX_BLOCK];
    assert(block >= 1 && block <= DOT_MAX_BLOCK);
    for (int j = 0; j < block; j++) {
        acc[j] = loop_new_local(p, k, DT_F32, "acc");
        st_append(p, s, st_set(p, acc[j], ex_flt(p, 0.0)));
        m[j] = ex_add(p, ex_add(p, ex_muli(p, c->gv, c->mg_n), mgv), ex_int(p, j));
    }
    Expr *ci, *tap[2];
    Stmt *r = lower_loop(p, k, s, c->cg_n, LOOP_REDUCTION, &ci);
    Expr *o[2] = {ohv, owv};
    for (int d = 0; d < 2; d++) {
        Expr *lo, *hi;
        lower_out_taps(p, geo, d, o[d], inside[d], &lo, &hi);
        if (lo->kind == EX_INT && hi->kind == EX_INT && lo->i == 0) {
            r = lower_loop(p, k, r, hi->i, LOOP_REDUCTION, &tap[d]);
            continue;
        }
        int v = loop_new_var(k);
        Stmt *l = st_for(p, v, lo, hi, 1, LOOP_REDUCTION);
        st_append(p, r, l);
        r = l->body;
        tap[d] = ex_var(p, v);
    }
    Expr *pos[2];
    for (int d = 0; d < 2; d++)
        pos[d] = ex_add(p, ex_muli(p, o[d], geo->stride[d]),
                        ex_bin(p, BIN_SUB, tap[d], ex_int(p, geo->pad_begin[d])));
    Expr *xc = ex_add(p, ex_muli(p, c->nv, c->chans), ex_add(p, ex_muli(p, c->gv, c->cg_n), ci));
    Expr *xi = ex_add(p, ex_muli(p, ex_add(p, ex_muli(p, xc, geo->in[0]), pos[0]), geo->in[1]), pos[1]);
    Expr *xv = ex_load(p, c->x, xi);
    if (block > 1) { /* one load of x for the whole block */
        int xl = loop_new_local(p, k, DT_F32, "xv");
        st_append(p, r, st_set(p, xl, xv));
        xv = ex_local(p, k, xl);
    }
    for (int j = 0; j < block; j++) {
        Expr *wi = ex_add(p, ex_muli(p, ex_add(p, ex_muli(p, ex_add(p, ex_muli(p, m[j], c->cg_n), ci),
                                                         geo->kernel[0]), tap[0]), geo->kernel[1]), tap[1]);
        st_append(p, r, lower_accumulate(p, k, acc[j], BIN_ADD, lower_mul(p, xv, ex_load(p, c->w, wi))));
    }
    for (int j = 0; j < block; j++) {
        Expr *yc = ex_add(p, ex_muli(p, c->nv, c->mchans), m[j]);
        Expr *yi = ex_add(p, ex_muli(p, ex_add(p, ex_muli(p, yc, geo->out[0]), ohv), geo->out[1]), owv);
        Expr *out = ex_local(p, k, acc[j]);
        if (c->b >= 0)
            out = lower_add(p, out, ex_load(p, c->b, m[j]));
        st_append(p, s, st_store(p, c->y, yi, conv_out_value(p, c->n, c->r, yi, out)));
    }
}

/* Output channels [m0, m1) of group gv, `block` at a time, over the output
 * plane split into the interior (windows inside the input: constant tap
 * bounds) and the border rows and columns around it. */
static void conv_dot_channels(Program *p, Kernel *k, Stmt *into, const ConvDot *c, int64_t m0,
                              int64_t m1, int block)
{
    if (m0 >= m1)
        return;
    const Geom *geo = c->geo;
    Expr *mgv;
    Stmt *s = into;
    if (m1 - m0 == 1) {
        mgv = ex_int(p, m0);
    } else {
        int v = loop_new_var(k);
        Stmt *l = st_for(p, v, ex_int(p, m0), ex_int(p, m1), block, LOOP_PARALLEL);
        st_append(p, s, l);
        s = l->body;
        mgv = ex_var(p, v);
    }
    int64_t hr[4], wr[4];
    lower_plane_regions(geo, hr, wr);
    for (int i = 0; i < 3; i++) {
        if (hr[i] >= hr[i + 1])
            continue;
        Expr *ohv;
        Stmt *rows = lower_range_loop(p, k, s, hr[i], hr[i + 1], &ohv);
        for (int j = 0; j < 3; j++) {
            if (wr[j] >= wr[j + 1])
                continue;
            Expr *owv;
            Stmt *px = lower_range_loop(p, k, rows, wr[j], wr[j + 1], &owv);
            bool inside[2] = {i == 1, j == 1};
            conv_dot_pixel(p, k, px, c, mgv, block, ohv, owv, inside);
        }
    }
}

/* 2-D conv (dilation 1) for targets without a vector unit: output-
 * stationary, so partial sums never go through memory, and blocked over
 * output channels (lower_dot_block) so each input element is loaded once per
 * block. Vector targets keep lower_conv's plane form, whose inner loop over
 * output pixels vectorizes. */
static bool lower_conv_dot(LowerCtx *lc, const Node *n, const Geom *geo)
{
    Program *p = lc->p;
    const Type *wt = ir_in_type(lc->g, n, 1), *yt = ir_out_type(lc->g, n, 0);
    ConvDot c = {
        .n = n, .x = lower_buf(lc, n->in[0]), .w = lower_buf(lc, n->in[1]),
        .b = ir_has_input(n, 2) ? lower_buf(lc, n->in[2]) : -1, .y = lower_buf(lc, n->out[0]),
        .r = lower_conv_residual(lc, n),
        .geo = geo, .mg_n = wt->dims[0] / geo->group, .cg_n = wt->dims[1],
        .chans = ir_in_type(lc->g, n, 0)->dims[1], .mchans = yt->dims[1],
    };
    Kernel *k = lower_kernel(lc, n);
    lower_conv_inplace(k, c.r, c.x, c.y);
    Stmt *s = lower_loop(p, k, k->body, yt->dims[0], LOOP_PARALLEL, &c.nv);
    s = lower_loop(p, k, s, geo->group, LOOP_PARALLEL, &c.gv);
    int block = lower_dot_block(lc->target, c.mg_n);
    int64_t full = c.mg_n / block * block;
    conv_dot_channels(p, k, s, &c, 0, full, block);
    conv_dot_channels(p, k, s, &c, full, c.mg_n, 1);
    return true;
}

/* ------------------------------------------------ conv, register tiles */

/* The scalar-tile form of 2-D conv (dilation 1) on targets with a vector
 * unit, for the convs lower_conv_vec's tiles do not fit (rows narrower
 * than 4 lanes, kernels wider than 64 taps): an
 * output-stationary register tile of `mb` output channels x `vw` output
 * pixels contiguous along the row. The sums stay in locals for the whole
 * reduction; each tap loads mb weights and vw inputs once and does mb*vw
 * multiply-adds, laid out so the compiler packs the vw sums of a channel
 * into vector registers (SLP). The kw taps are unrolled in the body, the
 * kh taps are a loop (constant bounds in the interior rows, clipped in the
 * border rows), and the loop over input channels carries LOOP_SLP: its
 * body is the vector code already. Tiles at the row's edges read 0 for
 * the taps that fall in the padding (conv_tile_cols). */
typedef struct {
    ConvDot c;
    int mb, vw;     /* tile: output channels x output pixels along the row */
} ConvTile;

/* Output channels mgv + [0, mb) at row ohv, columns ow0 + [0, vw), every
 * column's window inside the input along the row; `inside` says whether
 * the row's is too (constant kh bounds). */
static void conv_tile(Program *p, Kernel *k, Stmt *s, const ConvDot *c, Expr *mgv, int mb,
                      Expr *ohv, Expr *ow0, int vw, bool inside)
{
    /* A tile at a constant column may reach past the input's edges: the
     * taps that would read outside it are left out, tap by tap. */
    int64_t col = ow0->kind == EX_INT ? ow0->i : -1;
    const Geom *geo = c->geo;
    int64_t kh_n = geo->kernel[0], kw_n = geo->kernel[1], s0 = geo->stride[0], s1 = geo->stride[1];
    int acc[TILE_MAX_M][TILE_MAX_W], wl[TILE_MAX_M], xl[TILE_MAX_W];
    Expr *m[TILE_MAX_M];
    assert(mb >= 1 && mb <= TILE_MAX_M && vw >= 1 && vw <= TILE_MAX_W);
    for (int j = 0; j < mb; j++) {
        m[j] = ex_add(p, ex_add(p, ex_muli(p, c->gv, c->mg_n), mgv), ex_int(p, j));
        wl[j] = loop_new_local(p, k, DT_F32, "wv");
        Expr *init = c->b >= 0 ? ex_load(p, c->b, m[j]) : ex_flt(p, 0.0);
        for (int v = 0; v < vw; v++) {
            acc[j][v] = loop_new_local(p, k, DT_F32, "acc");
            st_append(p, s, st_set(p, acc[j][v], init));
        }
    }
    for (int v = 0; v < vw; v++)
        xl[v] = loop_new_local(p, k, DT_F32, "xv");
    Expr *ci, *khv, *lo, *hi;
    Stmt *r = lower_loop(p, k, s, c->cg_n, LOOP_REDUCTION | LOOP_SLP, &ci);
    lower_out_taps(p, geo, 0, ohv, inside, &lo, &hi);
    if (lo->kind == EX_INT && hi->kind == EX_INT && lo->i == 0) {
        r = lower_loop(p, k, r, hi->i, LOOP_REDUCTION | LOOP_SLP, &khv);
    } else {
        int v = loop_new_var(k);
        Stmt *l = st_for(p, v, lo, hi, 1, LOOP_REDUCTION | LOOP_SLP);
        st_append(p, r, l);
        r = l->body;
        khv = ex_var(p, v);
    }
    Expr *xc = ex_add(p, ex_muli(p, c->nv, c->chans), ex_add(p, ex_muli(p, c->gv, c->cg_n), ci));
    Expr *ih = ex_add(p, ex_muli(p, ohv, s0), ex_bin(p, BIN_SUB, khv, ex_int(p, geo->pad_begin[0])));
    Expr *xrow = ex_muli(p, ex_add(p, ex_muli(p, xc, geo->in[0]), ih), geo->in[1]);
    /* Indices as base + constant, the constant outermost, so a C compiler
     * sees the tile's loads and stores as runs of consecutive elements. */
    Expr *iw0 = ex_add(p, xrow, ex_muli(p, ow0, s1));
    for (int64_t t = 0; t < kw_n; t++) {
        for (int j = 0; j < mb; j++) {
            Expr *wi = ex_add(p, ex_muli(p, ex_add(p, ex_muli(p, ex_add(p, ex_muli(p, m[j], c->cg_n), ci),
                                                             kh_n), khv), kw_n), ex_int(p, t));
            st_append(p, r, st_set(p, wl[j], ex_load(p, c->w, wi)));
        }
        for (int v = 0; v < vw; v++) {
            int64_t iw = (col + v) * s1 + t - geo->pad_begin[1];
            Expr *xv = ex_load(p, c->x, ex_add(p, iw0, ex_int(p, v * s1 + t - geo->pad_begin[1])));
            if (col >= 0 && (iw < 0 || iw >= geo->in[1]))
                xv = ex_flt(p, 0.0); /* the padding, so every lane does the same */
            st_append(p, r, st_set(p, xl[v], xv));
        }
        for (int j = 0; j < mb; j++)
            for (int v = 0; v < vw; v++)
                st_append(p, r, lower_accumulate(p, k, acc[j][v], BIN_ADD,
                                                 lower_mul(p, ex_local(p, k, wl[j]), ex_local(p, k, xl[v]))));
    }
    for (int j = 0; j < mb; j++) {
        Expr *yc = ex_add(p, ex_muli(p, c->nv, c->mchans), m[j]);
        Expr *yrow = ex_muli(p, ex_add(p, ex_muli(p, yc, geo->out[0]), ohv), geo->out[1]);
        for (int v = 0; v < vw; v++)
            st_append(p, s, st_store(p, c->y, ex_add(p, ex_add(p, yrow, ow0), ex_int(p, v)),
                                     ex_local(p, k, acc[j][v])));
    }
}

/* Row ohv, all its columns: tiles of t->vw from column 0, and when the
 * row is not a multiple of vw, one more tile ending at the row's end. It
 * overlaps the one before and stores the same sums again, which is
 * harmless since a tile only ever writes finished sums, and costs less
 * than narrower tiles for the rest. The tiles whose windows all lie inside
 * the input run as a loop; the others sit at constant columns, where
 * conv_tile drops the taps that fall outside. */
static void conv_tile_cols(Program *p, Kernel *k, Stmt *s, const ConvTile *t, Expr *mgv, int mb,
                           Expr *ohv, bool inside)
{
    const Geom *geo = t->c.geo;
    int64_t width = geo->out[1], vw = t->vw, lo, hi;
    lower_interior(geo, 1, &lo, &hi);
    int64_t n = width / vw;
    /* Full tiles [f0, f1) lie inside: columns f*vw .. f*vw + vw in [lo, hi). */
    int64_t f0 = (lo + vw - 1) / vw, f1 = hi / vw;
    if (f1 > n)
        f1 = n;
    if (f0 > f1)
        f0 = f1;
    for (int64_t f = 0; f < f0; f++)
        conv_tile(p, k, s, &t->c, mgv, mb, ohv, ex_int(p, f * vw), (int)vw, inside);
    if (f1 - f0 == 1) {
        conv_tile(p, k, s, &t->c, mgv, mb, ohv, ex_int(p, f0 * vw), (int)vw, inside);
    } else if (f1 > f0) {
        int v = loop_new_var(k);
        Stmt *l = st_for(p, v, ex_int(p, f0 * vw), ex_int(p, f1 * vw), vw, LOOP_PARALLEL);
        st_append(p, s, l);
        conv_tile(p, k, l->body, &t->c, mgv, mb, ohv, ex_var(p, v), (int)vw, inside);
    }
    for (int64_t f = f1; f < n; f++)
        conv_tile(p, k, s, &t->c, mgv, mb, ohv, ex_int(p, f * vw), (int)vw, inside);
    if (n * vw < width)
        conv_tile(p, k, s, &t->c, mgv, mb, ohv, ex_int(p, width - vw), (int)vw, inside);
}

/* Output channels [m0, m1) of group gv, `mb` at a time: rows split into
 * the interior and the border above and below (kh bounds). */
static void conv_tile_channels(Program *p, Kernel *k, Stmt *into, const ConvTile *t, int64_t m0,
                               int64_t m1, int mb)
{
    if (m0 >= m1)
        return;
    const Geom *geo = t->c.geo;
    Expr *mgv;
    Stmt *s = into;
    if (m1 - m0 == mb) {
        mgv = ex_int(p, m0);
    } else {
        int v = loop_new_var(k);
        Stmt *l = st_for(p, v, ex_int(p, m0), ex_int(p, m1), mb, LOOP_PARALLEL);
        st_append(p, s, l);
        s = l->body;
        mgv = ex_var(p, v);
    }
    int64_t lo, hi;
    lower_interior(geo, 0, &lo, &hi);
    int64_t hr[4] = {0, lo, hi, geo->out[0]};
    for (int i = 0; i < 3; i++) {
        if (hr[i] >= hr[i + 1])
            continue;
        Expr *ohv;
        Stmt *rows = lower_range_loop(p, k, s, hr[i], hr[i + 1], &ohv);
        conv_tile_cols(p, k, rows, t, mgv, mb, ohv, i == 1);
    }
}

/* The tile of a conv whose output rows are `width` long: 2 vectors of
 * pixels, or the whole row when it is no longer (a last, partial vector
 * costs less than a second, overlapping tile), and as many output
 * channels as keep the accumulators in 3/4 of the vector registers (the
 * rest hold an input vector, a broadcast weight and a product: 4 x 16 on
 * AVX2 measured slower than 6 x 16 with LLVM, and the same with GCC). */
static void tile_shape(const Target *tg, int64_t width, int64_t mchans, int *mb, int *vw)
{
    int lanes = tg->vector_bytes / 4;
    int w = width >= 2 * lanes ? 2 * lanes : (int)width;
    int vecs = (w + lanes - 1) / lanes, m = tg->float_regs * 3 / 4 / vecs;
    m = m < TILE_MAX_M ? m : TILE_MAX_M;
    m = m < mchans ? m : (int)mchans;
    *mb = m > 1 ? m : 1;
    *vw = w < TILE_MAX_W ? w : TILE_MAX_W;
}

static bool lower_conv_tile(LowerCtx *lc, const Node *n, const Geom *gp)
{
    Program *p = lc->p;
    Geom geo = *gp;
    const Type *xt = ir_in_type(lc->g, n, 0), *wt = ir_in_type(lc->g, n, 1);
    const Type *yt = ir_out_type(lc->g, n, 0);
    /* A pointwise conv is one row of out[0] * out[1] pixels. */
    if (geo.kernel[0] == 1 && geo.kernel[1] == 1 && geo.stride[0] == 1 && geo.stride[1] == 1 &&
        geo.pad_begin[0] == 0 && geo.pad_begin[1] == 0 && geo.out[0] == geo.in[0] &&
        geo.out[1] == geo.in[1]) {
        geo.out[1] = geo.in[1] = geo.out[0] * geo.out[1];
        geo.out[0] = geo.in[0] = 1;
        geo.pad_end[0] = geo.pad_end[1] = 0;
    }
    ConvTile t = {.c = {
        .n = n, .x = lower_buf(lc, n->in[0]), .w = lower_buf(lc, n->in[1]),
        .b = ir_has_input(n, 2) ? lower_buf(lc, n->in[2]) : -1, .y = lower_buf(lc, n->out[0]),
        .r = -1, /* the residual is in the epilogue kernel below */
        .geo = &geo, .mg_n = wt->dims[0] / geo.group, .cg_n = wt->dims[1],
        .chans = xt->dims[1], .mchans = yt->dims[1],
    }};
    tile_shape(lc->target, geo.out[1], t.c.mg_n, &t.mb, &t.vw);
    Kernel *k = lower_kernel(lc, n);
    Stmt *s = lower_loop(p, k, k->body, yt->dims[0], LOOP_PARALLEL, &t.c.nv);
    s = lower_loop(p, k, s, geo.group, LOOP_PARALLEL, &t.c.gv);
    int64_t full = t.c.mg_n / t.mb * t.mb;
    conv_tile_channels(p, k, s, &t, 0, full, t.mb);
    conv_tile_channels(p, k, s, &t, full, t.c.mg_n, (int)(t.c.mg_n - full));
    /* The fused residual and activation, as a kernel of its own over the
     * output: a clamp in the tile's stores is a branch per sum in C (a > b ?
     * a : b for floats), and GCC's SLP vectorizer, which packs the tile,
     * works within one basic block. */
    int r = lower_conv_residual(lc, n);
    if (needs_epilogue(n, r)) {
        Kernel *ka = lower_kernel(lc, n);
        clamp_range(p, ka, ka->body, n, t.c.y, r, ex_int(p, 0), type_numel(yt));
    }
    return true;
}

/* 1-D and 2-D conv for vector targets, as a nest whose innermost loop runs
 * over the contiguous output width: per output plane (n, m) the plane is set
 * to the bias, then every tap (ci, kh, kw) adds w * x over the output
 * positions whose input lies inside the padded image (tap_range), so no
 * guard sits in the inner loop and it vectorizes. A 1x1, stride-1, unpadded
 * conv (pointwise) runs over the flattened plane and blocks CONV_MBLOCK
 * output channels per pass. Depthwise conv (C/group = 1) has no ci loop.
 * Targets without a vector unit take lower_conv_dot instead, and with
 * dilation 1 vector targets take lower_conv_vec (or, where its tiles do
 * not fit, lower_conv_tile): this form is left for dilated convs. */
static bool lower_conv_forms(LowerCtx *lc, const Node *n)
{
    Geom geo;
    if (!lower_check_f32(lc, n) || !ir_window_geom(lc->ctx, lc->g, n, &geo))
        return false;
    if (geo.nspatial > 2 || geo.nspatial < 1)
        return lower_conv_nd(lc, n, &geo);
    if (geo.nspatial == 1) {
        /* As 2-D with a height of 1. */
        int d = 1;
        geo.kernel[d] = geo.kernel[0], geo.stride[d] = geo.stride[0];
        geo.dilation[d] = geo.dilation[0], geo.pad_begin[d] = geo.pad_begin[0];
        geo.pad_end[d] = geo.pad_end[0], geo.in[d] = geo.in[0], geo.out[d] = geo.out[0];
        geo.kernel[0] = geo.stride[0] = geo.dilation[0] = geo.in[0] = geo.out[0] = 1;
        geo.pad_begin[0] = geo.pad_end[0] = 0;
    }
    if (lc->target->vector_bytes == 0 && geo.dilation[0] == 1 && geo.dilation[1] == 1)
        return lower_conv_dot(lc, n, &geo);
    if (geo.dilation[0] == 1 && geo.dilation[1] == 1)
        return lower_conv_vec(lc, n, &geo) || lower_conv_tile(lc, n, &geo);
    Program *p = lc->p;
    const Type *wt = ir_in_type(lc->g, n, 1), *yt = ir_out_type(lc->g, n, 0);
    const Type *xt = ir_in_type(lc->g, n, 0);
    int x = lower_buf(lc, n->in[0]), w = lower_buf(lc, n->in[1]);
    int b = ir_has_input(n, 2) ? lower_buf(lc, n->in[2]) : -1;
    int y = lower_buf(lc, n->out[0]);
    Kernel *k = lower_kernel(lc, n);
    int64_t groups = geo.group, mg_n = wt->dims[0] / groups, cg_n = wt->dims[1];
    int64_t chans = xt->dims[1], mchans = yt->dims[1];
    int64_t ih_n = geo.in[0], iw_n = geo.in[1], oh_n = geo.out[0], ow_n = geo.out[1];
    int64_t kh_n = geo.kernel[0], kw_n = geo.kernel[1], plane = oh_n * ow_n;
    bool pointwise = kh_n == 1 && kw_n == 1 && geo.stride[0] == 1 && geo.stride[1] == 1 &&
                     geo.pad_begin[0] == 0 && geo.pad_begin[1] == 0 && oh_n == ih_n && ow_n == iw_n;
    int mb = pointwise && mg_n % CONV_MBLOCK == 0 ? CONV_MBLOCK : 1;

    Expr *nv, *gv, *mgv, *ci, *khv, *kwv, *ohv, *owv, *pv;
    Stmt *s = lower_loop(p, k, k->body, yt->dims[0], LOOP_PARALLEL, &nv);
    s = lower_loop(p, k, s, groups, LOOP_PARALLEL, &gv);
    if (mb > 1) {
        int v = loop_new_var(k);
        Stmt *l = st_for(p, v, ex_int(p, 0), ex_int(p, mg_n), mb, LOOP_PARALLEL);
        st_append(p, s, l);
        s = l->body;
        mgv = ex_var(p, v);
    } else {
        s = lower_loop(p, k, s, mg_n, LOOP_PARALLEL, &mgv);
    }
    Expr *m0 = ex_add(p, ex_muli(p, gv, mg_n), mgv);
    Expr *m[CONV_MBLOCK], *ybase[CONV_MBLOCK];
    for (int j = 0; j < mb; j++) {
        m[j] = ex_add(p, m0, ex_int(p, j));
        ybase[j] = ex_muli(p, ex_add(p, ex_muli(p, nv, mchans), m[j]), plane);
    }
    /* The plane(s) start at the bias. */
    Stmt *init = lower_loop(p, k, s, plane, LOOP_PARALLEL | LOOP_VECTOR, &pv);
    for (int j = 0; j < mb; j++)
        st_append(p, init, st_store(p, y, ex_add(p, ybase[j], pv),
                                    b >= 0 ? ex_load(p, b, m[j]) : ex_flt(p, 0.0)));

    Stmt *r = lower_loop(p, k, s, cg_n, LOOP_REDUCTION, &ci);
    Expr *xbase = ex_muli(p, ex_add(p, ex_muli(p, nv, chans),
                                    ex_add(p, ex_muli(p, gv, cg_n), ci)), ih_n * iw_n);
    r = lower_loop(p, k, r, kh_n, LOOP_REDUCTION, &khv);
    r = lower_loop(p, k, r, kw_n, LOOP_REDUCTION, &kwv);
    int wl[CONV_MBLOCK];
    for (int j = 0; j < mb; j++) {
        wl[j] = loop_new_local(p, k, DT_F32, "wv");
        Expr *wi = ex_add(p, ex_muli(p, ex_add(p, ex_muli(p, ex_add(p, ex_muli(p, m[j], cg_n), ci),
                                                          kh_n), khv), kw_n), kwv);
        st_append(p, r, st_set(p, wl[j], ex_load(p, w, wi)));
    }
    Expr *yoff, *xoff;
    if (pointwise) {
        r = lower_loop(p, k, r, plane, LOOP_PARALLEL | LOOP_VECTOR, &pv);
        yoff = xoff = pv;
    } else {
        Expr *lo, *hi;
        tap_range(p, &geo, 0, khv, &lo, &hi);
        int v = loop_new_var(k);
        Stmt *l = st_for(p, v, lo, hi, 1, LOOP_PARALLEL);
        st_append(p, r, l);
        ohv = ex_var(p, v);
        tap_range(p, &geo, 1, kwv, &lo, &hi);
        v = loop_new_var(k);
        Stmt *l2 = st_for(p, v, lo, hi, 1, LOOP_PARALLEL | LOOP_VECTOR);
        st_append(p, l->body, l2);
        owv = ex_var(p, v);
        r = l2->body;
        Expr *ih = ex_add(p, ex_muli(p, ohv, geo.stride[0]),
                          ex_bin(p, BIN_SUB, ex_muli(p, khv, geo.dilation[0]), ex_int(p, geo.pad_begin[0])));
        Expr *iw = ex_add(p, ex_muli(p, owv, geo.stride[1]),
                          ex_bin(p, BIN_SUB, ex_muli(p, kwv, geo.dilation[1]), ex_int(p, geo.pad_begin[1])));
        yoff = ex_add(p, ex_muli(p, ohv, ow_n), owv);
        xoff = ex_add(p, ex_muli(p, ih, iw_n), iw);
    }
    Expr *xv = ex_load(p, x, ex_add(p, xbase, xoff));
    for (int j = 0; j < mb; j++) {
        Expr *at = ex_add(p, ybase[j], yoff);
        st_append(p, r, st_store(p, y, at, lower_add(p, ex_load(p, y, at),
                                                 lower_mul(p, ex_local(p, k, wl[j]), xv))));
    }
    /* The sums are final once every tap is in: the residual and clamp. */
    int res = lower_conv_residual(lc, n);
    for (int j = 0; j < mb && needs_epilogue(n, res); j++)
        clamp_range(p, k, s, n, y, res, ybase[j], plane);
    return true;
}

/* Every conv form, then its fused act (lower_act) over the whole output. */
bool lower_conv(LowerCtx *lc, const Node *n)
{
    return lower_conv_forms(lc, n) && lower_act(lc, n);
}

/* ------------------------------------------------------------------ pools */

Stmt *lower_pool_outputs(Program *p, Kernel *k, const Geom *geo, const Type *xt, PoolNest *pn)
{
    pn->xdims[0] = pn->ydims[0] = xt->dims[0] * xt->dims[1];
    Stmt *s = lower_loop(p, k, k->body, pn->xdims[0], LOOP_PARALLEL, &pn->xi[0]);
    pn->yi[0] = pn->xi[0];
    for (int d = 0; d < geo->nspatial; d++) {
        s = lower_loop(p, k, s, geo->out[d], LOOP_PARALLEL, &pn->yi[1 + d]);
        pn->xdims[1 + d] = geo->in[d];
        pn->ydims[1 + d] = geo->out[d];
    }
    return s;
}

/* Max and average pooling over [N*C, spatial...]: the batch and channel
 * dims are one parallel loop since a window never crosses them. */
bool lower_pool(LowerCtx *lc, const Node *n)
{
    Geom geo;
    if (!lower_check_f32(lc, n) || !ir_window_geom(lc->ctx, lc->g, n, &geo))
        return false;
    bool is_max = n->op == OP_MAX_POOL;
    assert(is_max || n->op == OP_AVERAGE_POOL);
    Program *p = lc->p;
    const Type *xt = ir_in_type(lc->g, n, 0);
    int x = lower_buf(lc, n->in[0]), y = lower_buf(lc, n->out[0]);
    Kernel *k = lower_kernel(lc, n);
    int ns = geo.nspatial;

    PoolNest pn;
    Stmt *s = lower_pool_outputs(p, k, &geo, xt, &pn);
    int acc = loop_new_local(p, k, DT_F32, "acc");
    st_append(p, s, st_set(p, acc, ex_flt(p, is_max ? -INFINITY : 0.0)));
    Stmt *r = lower_open_window(p, k, s, &geo, pn.yi + 1, pn.tap, pn.xi + 1);
    Expr *v = ex_load(p, x, lower_flat_index(p, 1 + ns, pn.xi, pn.xdims));
    st_append(p, r, lower_accumulate(p, k, acc, is_max ? BIN_MAX : BIN_ADD, v));

    Expr *out = ex_local(p, k, acc);
    if (!is_max) {
        bool include_pad = ir_attr_int(n, "count_include_pad") != 0;
        out = lower_div(p, out, pool_divisor(p, &geo, include_pad, pn.yi + 1));
    }
    st_append(p, s, st_store(p, y, lower_flat_index(p, 1 + ns, pn.yi, pn.ydims), out));
    return true;
}

/* Global pools reduce each contiguous [N*C] row of H*W*... elements. */
bool lower_global_pool(LowerCtx *lc, const Node *n)
{
    if (!lower_check_f32(lc, n))
        return false;
    bool is_max = n->op == OP_GLOBAL_MAX_POOL;
    assert(is_max || n->op == OP_GLOBAL_AVERAGE_POOL);
    Program *p = lc->p;
    const Type *xt = ir_in_type(lc->g, n, 0);
    int x = lower_buf(lc, n->in[0]), y = lower_buf(lc, n->out[0]);
    Kernel *k = lower_kernel(lc, n);
    int64_t rows = xt->dims[0] * xt->dims[1], len = lower_prod(xt->dims, 2, xt->rank);

    Expr *row, *i;
    Stmt *s = lower_loop(p, k, k->body, rows, LOOP_PARALLEL, &row);
    int acc = loop_new_local(p, k, DT_F32, "acc");
    st_append(p, s, st_set(p, acc, ex_flt(p, is_max ? -INFINITY : 0.0)));
    Stmt *r = lower_loop(p, k, s, len, LOOP_REDUCTION, &i);
    Expr *v = ex_load(p, x, ex_add(p, ex_muli(p, row, len), i));
    st_append(p, r, lower_accumulate(p, k, acc, is_max ? BIN_MAX : BIN_ADD, v));
    Expr *out = ex_local(p, k, acc);
    if (!is_max)
        out = lower_div(p, out, ex_flt(p, (double)len));
    st_append(p, s, st_store(p, y, row, out));
    return true;
}

/* ---------------------------------------------------------- gemm, matmul */

/* The dot form of gemm (B stored [N, K], trans_b = 1): y[i, j] = alpha *
 * sum_k a[i, k] b[j, k] + beta c[i, j], each sum in a local accumulator. */
typedef struct {
    const Node *n;
    int a, b, c, y;         /* buffers; c < 0 without a bias */
    bool ta;
    int64_t rows, cols, depth;
    double alpha, beta;
    const Type *ct, *yt;
} GemmDot;

/* Columns [j0, j1) of row i, `block` at a time ((j1 - j0) % block == 0). */
static void gemm_dot_cols(Program *p, Kernel *k, Stmt *into, Expr *i, int64_t j0, int64_t j1,
                          int block, const GemmDot *d)
{
    if (j0 >= j1)
        return;
    Expr *jv;
    Stmt *s;
    if (j1 - j0 == 1) {
        jv = ex_int(p, j0);
        s = into;
    } else {
        int v = loop_new_var(k);
        Stmt *loop = st_for(p, v, ex_int(p, j0), ex_int(p, j1), block, LOOP_PARALLEL);
        st_append(p, into, loop);
        jv = ex_var(p, v);
        s = loop->body;
    }
    int acc[DOT_MAX_BLOCK];
    assert(block >= 1 && block <= DOT_MAX_BLOCK);
    for (int r = 0; r < block; r++) {
        acc[r] = loop_new_local(p, k, DT_F32, "acc");
        st_append(p, s, st_set(p, acc[r], ex_flt(p, 0.0)));
    }
    Expr *kv;
    Stmt *red = lower_loop(p, k, s, d->depth, LOOP_REDUCTION, &kv);
    Expr *ai = d->ta ? ex_add(p, ex_muli(p, kv, d->rows), i) : ex_add(p, ex_muli(p, i, d->depth), kv);
    Expr *aval = ex_load(p, d->a, ai);
    if (block > 1) { /* one load of a for the whole block */
        int av = loop_new_local(p, k, DT_F32, "av");
        st_append(p, red, st_set(p, av, aval));
        aval = ex_local(p, k, av);
    }
    for (int r = 0; r < block; r++) {
        Expr *bi = ex_add(p, ex_muli(p, ex_add(p, jv, ex_int(p, r)), d->depth), kv);
        st_append(p, red, lower_accumulate(p, k, acc[r], BIN_ADD, lower_mul(p, aval, ex_load(p, d->b, bi))));
    }
    for (int r = 0; r < block; r++) {
        Expr *ij[2] = {i, ex_add(p, jv, ex_int(p, r))};
        Expr *out = ex_local(p, k, acc[r]);
        if (d->alpha != 1.0)
            out = lower_mul(p, ex_flt(p, d->alpha), out);
        if (d->c >= 0) {
            Expr *cv = ex_load(p, d->c, lower_bcast_index(p, d->ct, d->yt, ij));
            out = lower_add(p, out, d->beta != 1.0 ? lower_mul(p, ex_flt(p, d->beta), cv) : cv);
        }
        st_append(p, s, st_store(p, d->y, ex_add(p, ex_muli(p, i, d->cols), ij[1]),
                                 act_clamp(p, d->n, out)));
    }
}

/* y[i, j] = alpha * sum_k op(a)[i, k] * op(b)[k, j] + beta * c[bcast(i, j)],
 * as rank-1 updates so the innermost loop runs over the contiguous output
 * row: each row starts at beta * c (or 0), then for every k the row gets
 * alpha * a[i, k] * b[k, :]. With trans_b the row of b is strided; the dot
 * product form (k innermost, gemm_dot_cols) reads both operands contiguously
 * there, and the layout pass picks trans_b by target. */
static bool lower_gemm_forms(LowerCtx *lc, const Node *n)
{
    if (!lower_check_f32(lc, n))
        return false;
    if (lower_mm_vec(lc, n))
        return true;
    Program *p = lc->p;
    const Type *at = ir_in_type(lc->g, n, 0), *yt = ir_out_type(lc->g, n, 0);
    bool ta = ir_attr_int(n, "trans_a") != 0, tb = ir_attr_int(n, "trans_b") != 0;
    double alpha = ir_attr_float(n, "alpha"), beta = ir_attr_float(n, "beta");
    int64_t rows = yt->dims[0], cols = yt->dims[1], depth = at->dims[ta ? 0 : 1];
    int a = lower_buf(lc, n->in[0]), b = lower_buf(lc, n->in[1]);
    int c = ir_has_input(n, 2) && beta != 0.0 ? lower_buf(lc, n->in[2]) : -1;
    int y = lower_buf(lc, n->out[0]);
    Kernel *k = lower_kernel(lc, n);

    Expr *ij[2], *kv;
    Stmt *s = lower_loop(p, k, k->body, rows, LOOP_PARALLEL, &ij[0]);
    Expr *bias = NULL;
    if (tb) {
        GemmDot d = {.n = n, .a = a, .b = b, .c = c, .y = y, .ta = ta, .rows = rows, .cols = cols,
                     .depth = depth, .alpha = alpha, .beta = beta,
                     .ct = c >= 0 ? ir_in_type(lc->g, n, 2) : NULL, .yt = yt};
        int block = lower_dot_block(lc->target, cols);
        int64_t full = cols / block * block;
        gemm_dot_cols(p, k, s, ij[0], 0, full, block, &d);
        gemm_dot_cols(p, k, s, ij[0], full, cols, 1, &d);
        return true;
    }
    Stmt *init = lower_loop(p, k, s, cols, LOOP_PARALLEL | LOOP_VECTOR, &ij[1]);
    if (c >= 0) {
        Expr *cv = ex_load(p, c, lower_bcast_index(p, ir_in_type(lc->g, n, 2), yt, ij));
        bias = beta != 1.0 ? lower_mul(p, ex_flt(p, beta), cv) : cv;
    }
    Expr *row = ex_muli(p, ij[0], cols);
    st_append(p, init, st_store(p, y, ex_add(p, row, ij[1]), bias ? bias : ex_flt(p, 0.0)));
    Stmt *r = lower_loop(p, k, s, depth, LOOP_REDUCTION, &kv);
    int av = loop_new_local(p, k, DT_F32, "av");
    Expr *ai = ta ? ex_add(p, ex_muli(p, kv, rows), ij[0]) : ex_add(p, ex_muli(p, ij[0], depth), kv);
    Expr *aval = ex_load(p, a, ai);
    st_append(p, r, st_set(p, av, alpha != 1.0 ? lower_mul(p, ex_flt(p, alpha), aval) : aval));
    Expr *jv;
    r = lower_loop(p, k, r, cols, LOOP_PARALLEL | LOOP_VECTOR, &jv);
    Expr *yi = ex_add(p, row, jv);
    Expr *upd = lower_mul(p, ex_local(p, k, av), ex_load(p, b, ex_add(p, ex_muli(p, kv, cols), jv)));
    st_append(p, r, st_store(p, y, yi, lower_add(p, ex_load(p, y, yi), upd)));
    if (has_act(n))
        clamp_range(p, k, s, n, y, -1, row, cols);
    return true;
}

/* The gemm, then its fused act (lower_act) over the whole output. */
bool lower_gemm(LowerCtx *lc, const Node *n)
{
    return lower_gemm_forms(lc, n) && lower_act(lc, n);
}

/* Index into a matmul operand t at batch position bv[0..nb) (the output's
 * batch dims, numpy-broadcast: t's batch dims align right and a size-1 dim
 * stays at 0), row r and column col (NULL: the dim a 1-D operand lacks). */
static Expr *matmul_index(Program *p, const Type *t, Expr **bv, int nb, Expr *r, Expr *col)
{
    int64_t strides[IR_MAX_RANK];
    type_strides(t, strides);
    int mat = (r != NULL) + (col != NULL), tb = t->rank - mat;
    Expr *e = ex_int(p, 0);
    for (int d = 0; d < tb; d++)
        if (t->dims[d] != 1)
            e = ex_add(p, e, ex_muli(p, bv[nb - tb + d], strides[d]));
    int d = tb;
    if (r)
        e = ex_add(p, e, ex_muli(p, r, strides[d++]));
    if (col)
        e = ex_add(p, e, ex_muli(p, col, strides[d]));
    return e;
}

/* numpy matmul: y[batch..., i, j] = sum_k a[batch..., i, k] * b[batch..., k, j],
 * batch dims broadcast; a 1-D a has no i (a row), a 1-D b no j (a column).
 * A fused c (bias or residual, broadcast to y) starts each row, as gemm's;
 * the clamp follows the row's sums. */
static bool lower_matmul_forms(LowerCtx *lc, const Node *n)
{
    if (!lower_check_f32(lc, n))
        return false;
    if (lower_mm_vec(lc, n))
        return true;
    Program *p = lc->p;
    const Type *at = ir_in_type(lc->g, n, 0), *bt = ir_in_type(lc->g, n, 1);
    const Type *yt = ir_out_type(lc->g, n, 0);
    bool a1 = at->rank == 1, b1 = bt->rank == 1;
    int64_t rows = a1 ? 1 : at->dims[at->rank - 2], depth = at->dims[at->rank - 1];
    int64_t cols = b1 ? 1 : bt->dims[bt->rank - 1];
    int nb = yt->rank - !a1 - !b1;
    int a = lower_buf(lc, n->in[0]), b = lower_buf(lc, n->in[1]), y = lower_buf(lc, n->out[0]);
    Kernel *k = lower_kernel(lc, n);

    /* Rank-1 updates, as gemm: the innermost loop runs over the row of y. */
    Expr *yi[IR_MAX_RANK], *iv, *jv, *kv;
    Stmt *s = k->body;
    for (int d = 0; d < nb; d++)
        s = lower_loop(p, k, s, yt->dims[d], LOOP_PARALLEL, &yi[d]);
    s = lower_loop(p, k, s, rows, LOOP_PARALLEL, &iv);
    int d = nb;
    if (!a1)
        yi[d++] = iv;
    Expr *ybase = NULL;
    {
        /* The row's first element: the j index at 0. */
        Expr *tmp[IR_MAX_RANK];
        for (int e = 0; e < d; e++)
            tmp[e] = yi[e];
        if (!b1)
            tmp[d] = ex_int(p, 0);
        ybase = type_index(p, yt, tmp);
    }
    Stmt *init = lower_loop(p, k, s, cols, LOOP_PARALLEL | LOOP_VECTOR, &jv);
    Expr *start = ex_flt(p, 0.0);
    if (ir_has_input(n, 2)) {
        if (!b1)
            yi[d] = jv;
        start = ex_load(p, lower_buf(lc, n->in[2]), lower_bcast_index(p, ir_in_type(lc->g, n, 2), yt, yi));
    }
    st_append(p, init, st_store(p, y, ex_add(p, ybase, jv), start));
    Stmt *r = lower_loop(p, k, s, depth, LOOP_REDUCTION, &kv);
    int av = loop_new_local(p, k, DT_F32, "av");
    st_append(p, r, st_set(p, av, ex_load(p, a, matmul_index(p, at, yi, nb, a1 ? NULL : iv, kv))));
    r = lower_loop(p, k, r, cols, LOOP_PARALLEL | LOOP_VECTOR, &jv);
    Expr *bv = ex_load(p, b, matmul_index(p, bt, yi, nb, kv, b1 ? NULL : jv));
    Expr *at_y = ex_add(p, ybase, jv);
    st_append(p, r, st_store(p, y, at_y, lower_add(p, ex_load(p, y, at_y), lower_mul(p, ex_local(p, k, av), bv))));
    if (has_act(n))
        clamp_range(p, k, s, n, y, -1, ybase, cols);
    return true;
}

/* The matmul, then its fused act (lower_act) over the whole output. */
bool lower_matmul(LowerCtx *lc, const Node *n)
{
    return lower_matmul_forms(lc, n) && lower_act(lc, n);
}

/* ---------------------------------------------------------- normalization */

/* Per channel c: a = scale/sqrt(var + eps), b = bias - mean*a once, then
 * y = x*a + b over every batch and spatial element of the channel. */
bool lower_batch_norm(LowerCtx *lc, const Node *n)
{
    if (!lower_check_f32(lc, n))
        return false;
    Program *p = lc->p;
    const Type *xt = ir_in_type(lc->g, n, 0);
    int x = lower_buf(lc, n->in[0]), y = lower_buf(lc, n->out[0]);
    int scale = lower_buf(lc, n->in[1]), bias = lower_buf(lc, n->in[2]);
    int mean = lower_buf(lc, n->in[3]), var = lower_buf(lc, n->in[4]);
    Kernel *k = lower_kernel(lc, n);
    int64_t chans = xt->dims[1], len = lower_prod(xt->dims, 2, xt->rank);
    double eps = ir_attr_float(n, "epsilon");

    Expr *cv, *nv, *iv;
    Stmt *s = lower_loop(p, k, k->body, chans, LOOP_PARALLEL, &cv);
    int la = loop_new_local(p, k, DT_F32, "a"), lb = loop_new_local(p, k, DT_F32, "b");
    Expr *sd = ex_un(p, UN_SQRT, lower_add(p, ex_load(p, var, cv), ex_flt(p, eps)));
    st_append(p, s, st_set(p, la, lower_div(p, ex_load(p, scale, cv), sd)));
    Expr *shift = lower_sub(p, ex_load(p, bias, cv), lower_mul(p, ex_load(p, mean, cv), ex_local(p, k, la)));
    st_append(p, s, st_set(p, lb, shift));
    s = lower_loop(p, k, s, xt->dims[0], LOOP_PARALLEL, &nv);
    s = lower_loop(p, k, s, len, LOOP_PARALLEL, &iv);
    Expr *at = ex_add(p, ex_muli(p, ex_add(p, ex_muli(p, nv, chans), cv), len), iv);
    Expr *v = lower_add(p, lower_mul(p, ex_load(p, x, at), ex_local(p, k, la)), ex_local(p, k, lb));
    st_append(p, s, st_store(p, y, at, v));
    return true;
}

/* Opens the loops over the normalized dims [axis, rank) of a layer_norm and
 * returns the body; *flat gets the offset within the row, *sidx / *bidx
 * the (broadcast) indices of scale and bias. A scale and bias of the full
 * normalized shape need one flat loop; others a loop per dim. */
static Stmt *open_norm_loops(LowerCtx *lc, Kernel *k, Stmt *into, const Node *n, int axis,
                             Expr **flat, Expr **sidx, Expr **bidx)
{
    Program *p = lc->p;
    const Type *xt = ir_in_type(lc->g, n, 0), *st = ir_in_type(lc->g, n, 1);
    const Type *bt = ir_has_input(n, 2) ? ir_in_type(lc->g, n, 2) : NULL;
    int64_t len = lower_prod(xt->dims, axis, xt->rank);
    if (type_numel(st) == len && (!bt || type_numel(bt) == len)) {
        Stmt *s = lower_loop(p, k, into, len, LOOP_PARALLEL, flat);
        *sidx = *bidx = *flat;
        return s;
    }
    Type nt = type_make(DT_F32, xt->rank - axis, xt->dims + axis);
    Expr *vars[IR_MAX_RANK];
    Stmt *s = into;
    for (int d = 0; d < nt.rank; d++)
        s = lower_loop(p, k, s, nt.dims[d], LOOP_PARALLEL, &vars[d]);
    *flat = type_index(p, &nt, vars);
    *sidx = lower_bcast_index(p, st, &nt, vars);
    *bidx = bt ? lower_bcast_index(p, bt, &nt, vars) : NULL;
    return s;
}

/* Per row of the dims before `axis`: mean, then variance of x - mean, then
 * y = (x - mean) * rsqrt(var + eps) * scale + bias. */
bool lower_layer_norm(LowerCtx *lc, const Node *n)
{
    if (!lower_check_f32(lc, n))
        return false;
    Program *p = lc->p;
    const Type *xt = ir_in_type(lc->g, n, 0);
    int axis = (int)ir_attr_int(n, "axis");
    if (axis < 0)
        axis += xt->rank;
    assert(axis >= 0 && axis < xt->rank);
    int64_t rows = lower_prod(xt->dims, 0, axis), len = lower_prod(xt->dims, axis, xt->rank);
    double eps = ir_attr_float(n, "epsilon");
    int x = lower_buf(lc, n->in[0]), y = lower_buf(lc, n->out[0]);
    int scale = lower_buf(lc, n->in[1]), bias = ir_has_input(n, 2) ? lower_buf(lc, n->in[2]) : -1;
    Kernel *k = lower_kernel(lc, n);

    Expr *rv, *jv;
    Stmt *s = lower_loop(p, k, k->body, rows, LOOP_PARALLEL, &rv);
    Expr *base = ex_muli(p, rv, len);
    int mean = loop_new_local(p, k, DT_F32, "mean"), var = loop_new_local(p, k, DT_F32, "var");
    Expr *mv = ex_local(p, k, mean);

    st_append(p, s, st_set(p, mean, ex_flt(p, 0.0)));
    Stmt *r = lower_loop(p, k, s, len, LOOP_REDUCTION, &jv);
    st_append(p, r, lower_accumulate(p, k, mean, BIN_ADD, ex_load(p, x, ex_add(p, base, jv))));
    st_append(p, s, st_set(p, mean, lower_div(p, mv, ex_flt(p, (double)len))));

    /* The corrected two-pass algorithm: the float mean is off by up to half
     * an ulp, which x - mean turns into a large relative error when a row's
     * spread is small next to its mean. sum(x - mean) / len measures that
     * error; the deviations subtract it, and the variance drops its square. */
    int corr = loop_new_local(p, k, DT_F32, "corr");
    st_append(p, s, st_set(p, var, ex_flt(p, 0.0)));
    st_append(p, s, st_set(p, corr, ex_flt(p, 0.0)));
    r = lower_loop(p, k, s, len, LOOP_REDUCTION, &jv);
    Expr *dev = lower_sub(p, ex_load(p, x, ex_add(p, base, jv)), mv);
    st_append(p, r, lower_accumulate(p, k, var, BIN_ADD, lower_mul(p, dev, dev)));
    st_append(p, r, lower_accumulate(p, k, corr, BIN_ADD, dev));
    Expr *cv = ex_local(p, k, corr);
    st_append(p, s, st_set(p, corr, lower_div(p, cv, ex_flt(p, (double)len))));
    st_append(p, s, st_set(p, var, lower_sub(p, ex_local(p, k, var),
                                              lower_mul(p, cv, lower_mul(p, cv, ex_flt(p, (double)len))))));
    /* One division per row; the last pass multiplies. */
    int rstd = loop_new_local(p, k, DT_F32, "rstd");
    Expr *variance = lower_div(p, ex_local(p, k, var), ex_flt(p, (double)len));
    Expr *sd = ex_un(p, UN_SQRT, lower_add(p, variance, ex_flt(p, eps)));
    st_append(p, s, st_set(p, rstd, lower_div(p, ex_flt(p, 1.0), sd)));

    Expr *off, *si, *bi;
    r = open_norm_loops(lc, k, s, n, axis, &off, &si, &bi);
    Expr *at = ex_add(p, base, off);
    Expr *v = lower_mul(p, lower_sub(p, lower_sub(p, ex_load(p, x, at), mv), cv),
                        ex_local(p, k, rstd));
    v = lower_mul(p, v, ex_load(p, scale, si));
    if (bias >= 0)
        v = lower_add(p, v, ex_load(p, bias, bi));
    st_append(p, r, st_store(p, y, at, v));
    return true;
}

/* Along `axis`, for each (outer, inner) position: the max, then
 * y = exp(x - max), then the sum of y, then y *= 1/sum. The exps are a
 * loop of their own, with no accumulator: once --math fast makes exp
 * arithmetic, both backends vectorize it, where a float sum in the same
 * loop (no reassociation) kept LLVM's loop scalar. */
bool lower_softmax(LowerCtx *lc, const Node *n)
{
    if (!lower_check_f32(lc, n))
        return false;
    Program *p = lc->p;
    const Type *xt = ir_in_type(lc->g, n, 0);
    int axis = (int)ir_attr_int(n, "axis");
    if (axis < 0)
        axis += xt->rank;
    assert(axis >= 0 && axis < xt->rank);
    int64_t outer = lower_prod(xt->dims, 0, axis), len = xt->dims[axis];
    int64_t inner = lower_prod(xt->dims, axis + 1, xt->rank);
    int x = lower_buf(lc, n->in[0]), y = lower_buf(lc, n->out[0]);
    Kernel *k = lower_kernel(lc, n);

    Expr *ov, *iv, *kv;
    Stmt *s = lower_loop(p, k, k->body, outer, LOOP_PARALLEL, &ov);
    s = lower_loop(p, k, s, inner, LOOP_PARALLEL, &iv);
    int mx = loop_new_local(p, k, DT_F32, "mx"), sum = loop_new_local(p, k, DT_F32, "sum");
    Expr *row = ex_add(p, ex_muli(p, ov, len * inner), iv);

    st_append(p, s, st_set(p, mx, ex_flt(p, -INFINITY)));
    Stmt *r = lower_loop(p, k, s, len, LOOP_REDUCTION, &kv);
    Expr *at = ex_add(p, row, ex_muli(p, kv, inner));
    st_append(p, r, lower_accumulate(p, k, mx, BIN_MAX, ex_load(p, x, at)));

    r = lower_loop(p, k, s, len, LOOP_PARALLEL, &kv);
    at = ex_add(p, row, ex_muli(p, kv, inner));
    st_append(p, r, st_store(p, y, at, ex_un(p, UN_EXP, lower_sub(p, ex_load(p, x, at), ex_local(p, k, mx)))));
    st_append(p, s, st_set(p, sum, ex_flt(p, 0.0)));
    r = lower_loop(p, k, s, len, LOOP_REDUCTION, &kv);
    at = ex_add(p, row, ex_muli(p, kv, inner));
    st_append(p, r, lower_accumulate(p, k, sum, BIN_ADD, ex_load(p, y, at)));

    /* One division per row; the last pass multiplies. */
    st_append(p, s, st_set(p, sum, lower_div(p, ex_flt(p, 1.0), ex_local(p, k, sum))));
    r = lower_loop(p, k, s, len, LOOP_PARALLEL, &kv);
    at = ex_add(p, row, ex_muli(p, kv, inner));
    st_append(p, r, st_store(p, y, at, lower_mul(p, ex_load(p, y, at), ex_local(p, k, sum))));
    return true;
}
