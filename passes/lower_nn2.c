/* lower_nn2.c: Loop IR lowerings of log_softmax, hardmax, instance_norm,
 * lrn, conv_transpose and resize.
 *
 * Each op becomes one kernel of plain static loops in the style of
 * lower_nn.c: independent loops are LOOP_PARALLEL, loops carrying an
 * accumulator LOOP_REDUCTION, accumulators are kernel locals, and no loop is
 * emitted for an extent of 1.
 * Invariants: every load is in bounds. A tap that may miss the input (lrn's
 * channel window, conv_transpose's gather) is guarded by an ST_IF, never by
 * an EX_SELECT. conv_transpose and resize geometry comes from
 * ir_conv_transpose_geom / ir_resize_taps, shared with inference and the
 * reference. resize reads its per-dim source indices and weights from
 * constant tables computed here in double (BK_CONST buffers with no graph
 * value), so no backend recomputes float coordinates and rounds them
 * differently from the reference.
 */
#include "passes.h"

#include <assert.h>
#include <math.h>
#include <string.h>

/* ---------------------------------------------------------------- helpers */

/* `a && b`, either side possibly NULL (no condition). */
static Expr *and_cond(Program *p, Expr *a, Expr *b)
{
    return !a ? b : !b ? a : ex_bin(p, BIN_AND, a, b);
}

/* Appends `if (cond)` to body and returns its then-block; no cond, no if. */
static Stmt *guard(Program *p, Stmt *body, Expr *cond)
{
    if (!cond)
        return body;
    Stmt *then = st_block(p);
    st_append(p, body, st_if(p, cond, then, NULL));
    return then;
}

/* outer/len/inner loops around a softmax-style axis: returns the body of
 * the (outer, inner) loops and the row base index (stride `inner` along
 * the axis). */
static Stmt *open_rows(LowerCtx *lc, Kernel *k, const Node *n, int64_t *len, int64_t *inner,
                       Expr **row)
{
    Program *p = lc->p;
    const Type *xt = ir_in_type(lc->g, n, 0);
    int axis = (int)ir_attr_int(n, "axis");
    if (axis < 0)
        axis += xt->rank;
    assert(axis >= 0 && axis < xt->rank);
    int64_t outer = lower_prod(xt->dims, 0, axis);
    *len = xt->dims[axis];
    *inner = lower_prod(xt->dims, axis + 1, xt->rank);
    Expr *ov, *iv;
    Stmt *s = lower_loop(p, k, k->body, outer, LOOP_PARALLEL, &ov);
    s = lower_loop(p, k, s, *inner, LOOP_PARALLEL, &iv);
    *row = ex_add(p, ex_muli(p, ov, *len * *inner), iv);
    return s;
}

/* ------------------------------------------------------ log_softmax, hardmax */

/* Per row: the max, then sum exp(x - max), then y = x - (max + log(sum)). */
bool lower_log_softmax(LowerCtx *lc, const Node *n)
{
    if (!lower_check_f32(lc, n))
        return false;
    Program *p = lc->p;
    int x = lower_buf(lc, n->in[0]), y = lower_buf(lc, n->out[0]);
    Kernel *k = lower_kernel(lc, n);
    int64_t len, inner;
    Expr *row, *kv;
    Stmt *s = open_rows(lc, k, n, &len, &inner, &row);
    int mx = loop_new_local(p, k, DT_F32, "mx"), sum = loop_new_local(p, k, DT_F32, "sum");

    st_append(p, s, st_set(p, mx, ex_flt(p, -INFINITY)));
    Stmt *r = lower_loop(p, k, s, len, LOOP_REDUCTION, &kv);
    Expr *at = ex_add(p, row, ex_muli(p, kv, inner));
    st_append(p, r, lower_accumulate(p, k, mx, BIN_MAX, ex_load(p, x, at)));

    st_append(p, s, st_set(p, sum, ex_flt(p, 0.0)));
    r = lower_loop(p, k, s, len, LOOP_REDUCTION, &kv);
    at = ex_add(p, row, ex_muli(p, kv, inner));
    Expr *e = ex_un(p, UN_EXP, lower_sub(p, ex_load(p, x, at), ex_local(p, k, mx)));
    st_append(p, r, lower_accumulate(p, k, sum, BIN_ADD, e));

    /* mx becomes the log-sum-exp, subtracted from every element. */
    Expr *lse = lower_add(p, ex_local(p, k, mx), ex_un(p, UN_LOG, ex_local(p, k, sum)));
    st_append(p, s, st_set(p, mx, lse));
    r = lower_loop(p, k, s, len, LOOP_PARALLEL, &kv);
    at = ex_add(p, row, ex_muli(p, kv, inner));
    st_append(p, r, st_store(p, y, at, lower_sub(p, ex_load(p, x, at), ex_local(p, k, mx))));
    return true;
}

/* Per row: the index of the first maximum (a strict > keeps the first),
 * then y = (k == argmax). */
bool lower_hardmax(LowerCtx *lc, const Node *n)
{
    if (!lower_check_f32(lc, n))
        return false;
    Program *p = lc->p;
    int x = lower_buf(lc, n->in[0]), y = lower_buf(lc, n->out[0]);
    Kernel *k = lower_kernel(lc, n);
    int64_t len, inner;
    Expr *row, *kv;
    Stmt *s = open_rows(lc, k, n, &len, &inner, &row);
    int mx = loop_new_local(p, k, DT_F32, "mx"), am = loop_new_local(p, k, DT_INDEX, "am");

    st_append(p, s, st_set(p, mx, ex_flt(p, -INFINITY)));
    st_append(p, s, st_set(p, am, ex_int(p, 0)));
    Stmt *r = lower_loop(p, k, s, len, LOOP_REDUCTION, &kv);
    Expr *v = ex_load(p, x, ex_add(p, row, ex_muli(p, kv, inner)));
    Stmt *then = guard(p, r, ex_bin(p, BIN_GT, v, ex_local(p, k, mx)));
    st_append(p, then, st_set(p, mx, v));
    st_append(p, then, st_set(p, am, kv));

    r = lower_loop(p, k, s, len, LOOP_PARALLEL, &kv);
    Expr *at = ex_add(p, row, ex_muli(p, kv, inner));
    Expr *hot = ex_select(p, ex_bin(p, BIN_EQ, kv, ex_local(p, k, am)), ex_flt(p, 1.0),
                          ex_flt(p, 0.0));
    st_append(p, r, st_store(p, y, at, hot));
    return true;
}

/* ------------------------------------------------------- instance_norm, lrn */

/* Per (n, c) plane: mean, variance of x - mean, then with
 * a = scale[c] / sqrt(var + eps) and b = bias[c] - mean * a, y = x*a + b. */
bool lower_instance_norm(LowerCtx *lc, const Node *n)
{
    if (!lower_check_f32(lc, n))
        return false;
    Program *p = lc->p;
    const Type *xt = ir_in_type(lc->g, n, 0);
    int64_t chans = xt->dims[1], len = lower_prod(xt->dims, 2, xt->rank);
    double eps = ir_attr_float(n, "epsilon");
    int x = lower_buf(lc, n->in[0]), y = lower_buf(lc, n->out[0]);
    int scale = lower_buf(lc, n->in[1]), bias = lower_buf(lc, n->in[2]);
    Kernel *k = lower_kernel(lc, n);

    Expr *nv, *cv, *jv;
    Stmt *s = lower_loop(p, k, k->body, xt->dims[0], LOOP_PARALLEL, &nv);
    s = lower_loop(p, k, s, chans, LOOP_PARALLEL, &cv);
    Expr *base = ex_muli(p, ex_add(p, ex_muli(p, nv, chans), cv), len);
    int mean = loop_new_local(p, k, DT_F32, "mean"), var = loop_new_local(p, k, DT_F32, "var");
    Expr *mv = ex_local(p, k, mean);

    st_append(p, s, st_set(p, mean, ex_flt(p, 0.0)));
    Stmt *r = lower_loop(p, k, s, len, LOOP_REDUCTION, &jv);
    st_append(p, r, lower_accumulate(p, k, mean, BIN_ADD, ex_load(p, x, ex_add(p, base, jv))));
    st_append(p, s, st_set(p, mean, lower_div(p, mv, ex_flt(p, (double)len))));

    st_append(p, s, st_set(p, var, ex_flt(p, 0.0)));
    r = lower_loop(p, k, s, len, LOOP_REDUCTION, &jv);
    Expr *dev = lower_sub(p, ex_load(p, x, ex_add(p, base, jv)), mv);
    st_append(p, r, lower_accumulate(p, k, var, BIN_ADD, lower_mul(p, dev, dev)));

    int la = loop_new_local(p, k, DT_F32, "a"), lb = loop_new_local(p, k, DT_F32, "b");
    Expr *variance = lower_div(p, ex_local(p, k, var), ex_flt(p, (double)len));
    Expr *sd = ex_un(p, UN_SQRT, lower_add(p, variance, ex_flt(p, eps)));
    st_append(p, s, st_set(p, la, lower_div(p, ex_load(p, scale, cv), sd)));
    st_append(p, s, st_set(p, lb, lower_sub(p, ex_load(p, bias, cv), lower_mul(p, mv, ex_local(p, k, la)))));
    r = lower_loop(p, k, s, len, LOOP_PARALLEL, &jv);
    Expr *at = ex_add(p, base, jv);
    Expr *v = lower_add(p, lower_mul(p, ex_load(p, x, at), ex_local(p, k, la)), ex_local(p, k, lb));
    st_append(p, r, st_store(p, y, at, v));
    return true;
}

/* y = x / pow(bias + alpha/size * sum of x^2 over the channel window, beta);
 * the window's taps are a static loop of `size`, each guarded where it can
 * fall off the channel range. */
bool lower_lrn(LowerCtx *lc, const Node *n)
{
    if (!lower_check_f32(lc, n))
        return false;
    Program *p = lc->p;
    const Type *xt = ir_in_type(lc->g, n, 0);
    int64_t size = ir_attr_int(n, "size");
    double alpha = ir_attr_float(n, "alpha"), beta = ir_attr_float(n, "beta");
    double bias = ir_attr_float(n, "bias");
    int64_t before = (size - 1) / 2, after = size - 1 - before;
    int64_t chans = xt->dims[1], len = lower_prod(xt->dims, 2, xt->rank);
    int x = lower_buf(lc, n->in[0]), y = lower_buf(lc, n->out[0]);
    Kernel *k = lower_kernel(lc, n);

    Expr *nv, *cv, *iv, *tv;
    Stmt *s = lower_loop(p, k, k->body, xt->dims[0], LOOP_PARALLEL, &nv);
    s = lower_loop(p, k, s, chans, LOOP_PARALLEL, &cv);
    s = lower_loop(p, k, s, len, LOOP_PARALLEL, &iv);
    int acc = loop_new_local(p, k, DT_F32, "acc");
    st_append(p, s, st_set(p, acc, ex_flt(p, 0.0)));
    Stmt *r = lower_loop(p, k, s, size, LOOP_REDUCTION, &tv);
    Expr *ch = ex_bin(p, BIN_SUB, ex_add(p, cv, tv), ex_int(p, before));
    Expr *cond = NULL;
    if (before > 0)
        cond = ex_bin(p, BIN_GE, ch, ex_int(p, 0));
    if (after > 0)
        cond = and_cond(p, cond, ex_bin(p, BIN_LT, ch, ex_int(p, chans)));
    r = guard(p, r, cond);
    Expr *v = ex_load(p, x, ex_add(p, ex_muli(p, ex_add(p, ex_muli(p, nv, chans), ch), len), iv));
    st_append(p, r, lower_accumulate(p, k, acc, BIN_ADD, lower_mul(p, v, v)));

    Expr *at = ex_add(p, ex_muli(p, ex_add(p, ex_muli(p, nv, chans), cv), len), iv);
    Expr *den = lower_add(p, ex_flt(p, bias), lower_mul(p, ex_flt(p, alpha / (double)size), ex_local(p, k, acc)));
    den = ex_bin(p, BIN_POW, den, ex_flt(p, beta));
    st_append(p, s, st_store(p, y, at, lower_div(p, ex_load(p, x, at), den)));
    return true;
}

/* --------------------------------------------------------- conv_transpose */

/* The gather form of the scatter definition: output o receives tap t from
 * input i where i*stride = o + pad_begin - t*dilation, so per output and
 * tap q = o + pad_begin - t*dilation must be a non-negative multiple of the
 * stride with q/stride inside the input. Output channel m = g*M/group + mg
 * reads input channels g*C/group + ci with w[g*C/group + ci, mg, t...]. */
bool lower_conv_transpose(LowerCtx *lc, const Node *n)
{
    Geom geo;
    if (!lower_check_f32(lc, n) || !ir_conv_transpose_geom(lc->ctx, lc->g, n, &geo))
        return false;
    Program *p = lc->p;
    const Type *xt = ir_in_type(lc->g, n, 0), *wt = ir_in_type(lc->g, n, 1);
    const Type *yt = ir_out_type(lc->g, n, 0);
    int x = lower_buf(lc, n->in[0]), w = lower_buf(lc, n->in[1]);
    int b = n->nin > 2 && n->in[2] >= 0 ? lower_buf(lc, n->in[2]) : -1;
    int y = lower_buf(lc, n->out[0]);
    Kernel *k = lower_kernel(lc, n);
    int ns = geo.nspatial;
    int64_t groups = geo.group, mg_n = wt->dims[1], cg_n = xt->dims[1] / groups;

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
    for (int d = 0; d < ns; d++) {
        int64_t st = geo.stride[d], dil = geo.dilation[d], pb = geo.pad_begin[d];
        r = lower_loop(p, k, r, geo.kernel[d], LOOP_REDUCTION, &tap[d]);
        Expr *q = ex_bin(p, BIN_SUB, ex_add(p, o[d], ex_int(p, pb)), ex_muli(p, tap[d], dil));
        /* Guards only where some (o, t) can fail them. */
        int64_t qmin = pb - (geo.kernel[d] - 1) * dil, qmax = geo.out[d] - 1 + pb;
        Expr *cond = NULL;
        if (qmin < 0)
            cond = ex_bin(p, BIN_GE, q, ex_int(p, 0));
        if (st > 1)
            cond = and_cond(p, cond, ex_bin(p, BIN_EQ, ex_bin(p, BIN_MOD, q, ex_int(p, st)),
                                             ex_int(p, 0)));
        if (qmax >= geo.in[d] * st)
            cond = and_cond(p, cond, ex_bin(p, BIN_LT, q, ex_int(p, geo.in[d] * st)));
        r = guard(p, r, cond);
        pos[d] = st > 1 ? ex_bin(p, BIN_DIV, q, ex_int(p, st)) : q;
    }

    Expr *xi[IR_MAX_RANK], *wi[IR_MAX_RANK], *yi[IR_MAX_RANK];
    Expr *cin = ex_add(p, ex_muli(p, gv, cg_n), ci);
    xi[0] = yi[0] = nv;
    xi[1] = wi[0] = cin;
    wi[1] = mgv;
    yi[1] = m;
    for (int d = 0; d < ns; d++) {
        xi[2 + d] = pos[d];
        wi[2 + d] = tap[d];
        yi[2 + d] = o[d];
    }
    Expr *xw = lower_mul(p, ex_load(p, x, lower_index(p, xt, xi)), ex_load(p, w, lower_index(p, wt, wi)));
    st_append(p, r, lower_accumulate(p, k, acc, BIN_ADD, xw));
    st_append(p, s, st_store(p, y, lower_index(p, yt, yi), ex_local(p, k, acc)));
    return true;
}

/* ----------------------------------------------------------------- resize */

/* How one dim of a resize reads its input. */
typedef struct {
    enum { RD_IDENTITY, RD_GATHER, RD_WEIGHTED } kind;
    int ntaps;      /* RD_WEIGHTED: taps per output index */
    int idx_buf;    /* RD_GATHER, RD_WEIGHTED: i32 [out * ntaps] */
    int wt_buf;     /* RD_WEIGHTED: f32 [out * ntaps] */
} ResizeDim;

/* Resolves dim d: taps reading the same (clamped) index are merged and
 * zero weights dropped, so a dim that maps o to o is RD_IDENTITY, one that
 * reads a single input per output with weight 1 is RD_GATHER (nearest, and
 * linear at integer coordinates), and the rest RD_WEIGHTED with as many
 * taps as the busiest output needs (unused taps: weight 0, a valid index). */
static void resize_dim(Program *p, const Node *n, const ResizeGeom *rg, int d, int kid,
                       ResizeDim *rd)
{
    int64_t out = rg->out[d];
    int32_t *idx = arena_alloc(p->arena, (size_t)out * IR_RESIZE_MAX_TAPS * sizeof *idx);
    float *wts = arena_alloc(p->arena, (size_t)out * IR_RESIZE_MAX_TAPS * sizeof *wts);
    int maxt = 1;
    bool identity = rg->out[d] == rg->in[d], unit = true;
    for (int64_t o = 0; o < out; o++) {
        int64_t ti[IR_RESIZE_MAX_TAPS];
        double tw[IR_RESIZE_MAX_TAPS], mw[IR_RESIZE_MAX_TAPS];
        int64_t mi[IR_RESIZE_MAX_TAPS];
        int nt = ir_resize_taps(n, rg, d, o, ti, tw), nm = 0;
        for (int t = 0; t < nt; t++) {
            int j = 0;
            while (j < nm && mi[j] != ti[t])
                j++;
            if (j == nm) {
                mi[nm] = ti[t];
                mw[nm++] = 0.0;
            }
            mw[j] += tw[t];
        }
        int kept = 0;
        for (int j = 0; j < nm; j++)
            if (mw[j] != 0.0) {
                mi[kept] = mi[j];
                mw[kept++] = mw[j];
            }
        if (kept == 0) {
            /* Every weight cancelled: read anything, weigh it 0. */
            mi[0] = 0;
            mw[kept++] = 0.0;
        }
        for (int t = 0; t < IR_RESIZE_MAX_TAPS; t++) {
            idx[o * IR_RESIZE_MAX_TAPS + t] = (int32_t)mi[t < kept ? t : 0];
            wts[o * IR_RESIZE_MAX_TAPS + t] = t < kept ? (float)mw[t] : 0.0f;
        }
        maxt = kept > maxt ? kept : maxt;
        unit = unit && kept == 1 && mw[0] == 1.0;
        identity = identity && kept == 1 && mw[0] == 1.0 && mi[0] == o;
    }
    memset(rd, 0, sizeof *rd);
    if (identity && unit) {
        rd->kind = RD_IDENTITY;
        return;
    }
    /* Compact the tables to maxt taps per output. */
    int32_t *ci = arena_alloc(p->arena, (size_t)out * (size_t)maxt * sizeof *ci);
    float *cw = arena_alloc(p->arena, (size_t)out * (size_t)maxt * sizeof *cw);
    for (int64_t o = 0; o < out; o++)
        for (int t = 0; t < maxt; t++) {
            ci[o * maxt + t] = idx[o * IR_RESIZE_MAX_TAPS + t];
            cw[o * maxt + t] = wts[o * IR_RESIZE_MAX_TAPS + t];
        }
    rd->ntaps = maxt;
    rd->idx_buf = lower_table(p, arena_printf(p->arena, "rz%d_idx%d", kid, d), DT_I32,
                            out * maxt, ci);
    if (unit) {
        rd->kind = RD_GATHER;
        return;
    }
    rd->kind = RD_WEIGHTED;
    rd->wt_buf = lower_table(p, arena_printf(p->arena, "rz%d_wt%d", kid, d), DT_F32,
                           out * maxt, cw);
}

/* y[o...] = sum over the taps t_d of the weighted dims of
 * prod_d wt_d[o_d, t_d] * x[idx_d[o_d, t_d]...]; identity dims index with
 * o_d, gather dims with idx_d[o_d]. Without weighted dims it is a copy. */
bool lower_resize(LowerCtx *lc, const Node *n)
{
    ResizeGeom rg;
    if (!lower_check_f32(lc, n) || !ir_resize_geom(lc->ctx, lc->g, n, &rg))
        return false;
    Program *p = lc->p;
    const Type *xt = ir_in_type(lc->g, n, 0), *yt = ir_out_type(lc->g, n, 0);
    int x = lower_buf(lc, n->in[0]), y = lower_buf(lc, n->out[0]);
    Kernel *k = lower_kernel(lc, n);
    int kid = p->nkernels - 1, r = rg.rank;
    ResizeDim rd[IR_MAX_RANK];
    bool weighted = false;
    for (int d = 0; d < r; d++) {
        resize_dim(p, n, &rg, d, kid, &rd[d]);
        weighted = weighted || rd[d].kind == RD_WEIGHTED;
    }

    Expr *o[IR_MAX_RANK], *xi[IR_MAX_RANK];
    Stmt *s = k->body;
    for (int d = 0; d < r; d++)
        s = lower_loop(p, k, s, rg.out[d], LOOP_PARALLEL, &o[d]);
    Stmt *body = s;
    Expr *weight = NULL;
    int acc = -1;
    if (weighted) {
        acc = loop_new_local(p, k, DT_F32, "acc");
        st_append(p, s, st_set(p, acc, ex_flt(p, 0.0)));
    }
    for (int d = 0; d < r; d++) {
        if (rd[d].kind == RD_IDENTITY) {
            xi[d] = o[d];
            continue;
        }
        Expr *t = ex_int(p, 0);
        if (rd[d].kind == RD_WEIGHTED)
            body = lower_loop(p, k, body, rd[d].ntaps, LOOP_REDUCTION, &t);
        Expr *at = ex_add(p, ex_muli(p, o[d], rd[d].ntaps), t);
        xi[d] = ex_cast(p, DT_INDEX, ex_load(p, rd[d].idx_buf, at));
        if (rd[d].kind == RD_WEIGHTED) {
            Expr *wv = ex_load(p, rd[d].wt_buf, at);
            weight = weight ? lower_mul(p, weight, wv) : wv;
        }
    }
    Expr *v = ex_load(p, x, lower_index(p, xt, xi));
    if (!weighted) {
        st_append(p, s, st_store(p, y, lower_index(p, yt, o), v));
        return true;
    }
    st_append(p, body, lower_accumulate(p, k, acc, BIN_ADD, lower_mul(p, weight, v)));
    st_append(p, s, st_store(p, y, lower_index(p, yt, o), ex_local(p, k, acc)));
    return true;
}
