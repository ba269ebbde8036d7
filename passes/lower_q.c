/* lower_q.c: Loop IR lowerings of the int8 ops (qconv, qgemm,
 * qaverage_pool, qadd, qsoftmax, qmax_pool, qconcat, qmul, qlut).
 *
 * Integer-only kernels: operands are loaded as i32 with their zero point
 * subtracted, products accumulate in i32 locals, and each output is
 * requantized by requant_expr, which spells out in Loop IR exactly the
 * arithmetic of quant.c (the reference's), so compiled code is bit-exact
 * with the interpreter. No float appears anywhere, which is what lets a
 * target without an FPU (cortex-m0) run int8 models.
 * conv and gemm use the output-stationary dot forms of lower_nn.c on every
 * target: a block of output channels shares each loaded input element, and
 * conv's output plane is split into an interior (constant tap bounds; the
 * input's zero point folded into the bias, so x is used as loaded) and a
 * border (tap bounds from the position; padding reads the zero point,
 * which contributes nothing once subtracted, so out-of-bounds taps are
 * skipped). Depthwise conv has a form of its own; on scalar targets the
 * interior pairs output pixels and 1x1 convs take two channels a step.
 * qmax_pool and qconcat requantize only where the scales differ (else a
 * zero-point shift, or a plain max or copy); qlut is a table load.
 */
#include "passes.h"

#include <assert.h>
#include <string.h>


static Expr *i32(Program *p, int64_t v) { return ex_int_t(p, DT_I32, v); }
static Expr *i64(Program *p, int64_t v) { return ex_int_t(p, DT_I64, v); }

/* ------------------------------------------------------ requantization */

/* The multipliers of one requantization: one per output channel, or one
 * shared (then inlined as constants instead of read from tables). */
typedef struct {
    Rounding rounding;
    int n;                  /* entries in q */
    QMult *q;
    int mult_buf, shift_buf; /* tables when n > 1 and they differ, else -1 */
    int round_buf;          /* single rounding, all M < 1/2: 2^(s-1) per channel */
    int32_t zero, lo, hi;   /* output zero point and clamp */
} Requant;

static bool all_same(const QMult *q, int n)
{
    for (int i = 1; i < n; i++)
        if (q[i].mult != q[0].mult || q[i].shift != q[0].shift)
            return false;
    return true;
}

/* Single rounding with every M below 1/2 (shift <= -1, so s = 31 - shift
 * >= 32): v >> s is (v >> 32) >> (s - 32), the high word of the 64-bit
 * product shifted in 32 bits, and the result needs no saturation. */
static bool split_shift(const Requant *rq)
{
    if (rq->rounding != ROUND_SINGLE)
        return false;
    for (int i = 0; i < rq->n; i++)
        if (rq->q[i].shift > -1 && rq->q[i].mult != 0)
            return false;
    return true;
}

/* Builds the tables of rq (when the channels differ). `tag` names them. */
static void requant_tables(LowerCtx *lc, Requant *rq, const char *tag)
{
    rq->mult_buf = rq->shift_buf = rq->round_buf = -1;
    if (rq->n <= 1 || all_same(rq->q, rq->n)) {
        rq->n = 1;
        return;
    }
    Program *p = lc->p;
    bool split = split_shift(rq);
    int32_t *mult = arena_alloc(p->arena, (size_t)rq->n * sizeof *mult);
    int32_t *shift = arena_alloc(p->arena, (size_t)rq->n * sizeof *shift);
    int64_t *round = arena_alloc(p->arena, (size_t)rq->n * sizeof *round);
    for (int i = 0; i < rq->n; i++) {
        mult[i] = rq->q[i].mult;
        bool zero = rq->q[i].mult == 0; /* scales everything to 0 */
        shift[i] = split ? (zero ? 0 : -rq->q[i].shift - 1) : rq->q[i].shift; /* s - 32 */
        round[i] = zero ? 0 : (int64_t)1 << (30 - rq->q[i].shift);          /* 2^(s-1) */
    }
    rq->mult_buf = lower_table(p, arena_printf(p->arena, "%s_mult", tag), DT_I32, rq->n, mult);
    rq->shift_buf = lower_table(p, arena_printf(p->arena, "%s_shift", tag), DT_I32, rq->n, shift);
    if (split)
        rq->round_buf = lower_table(p, arena_printf(p->arena, "%s_round", tag), DT_I64, rq->n, round);
}

/* acc (i32) * M rounded as quant_scale does, as an i32 expression; ch is
 * the channel index (ignored when the multiplier is shared). Locals keep
 * the intermediate 64-bit values, set in `into`. */
static Expr *scale_expr(Program *p, Kernel *k, Stmt *into, const Requant *rq, Expr *acc, Expr *ch)
{
    bool shared = rq->mult_buf < 0;
    if (shared && rq->q[0].mult == 0)
        return i32(p, 0);
    Expr *mult = shared ? i64(p, rq->q[0].mult) : ex_cast(p, DT_I64, ex_load(p, rq->mult_buf, ch));
    Expr *shift = shared ? NULL : ex_cast(p, DT_I64, ex_load(p, rq->shift_buf, ch));
    if (rq->rounding == ROUND_SINGLE && (shared ? rq->q[0].shift <= -1 : rq->round_buf >= 0)) {
        /* split_shift: ((acc * mult + 2^(s-1)) >> 32) >> (s - 32) */
        Expr *round = shared ? i64(p, (int64_t)1 << (30 - rq->q[0].shift)) : ex_load(p, rq->round_buf, ch);
        Expr *rs = shared ? i32(p, -rq->q[0].shift - 1) : ex_load(p, rq->shift_buf, ch);
        Expr *v = ex_bin(p, BIN_ADD, ex_bin(p, BIN_MUL, ex_cast(p, DT_I64, acc), mult), round);
        Expr *hi = ex_cast(p, DT_I32, ex_bin(p, BIN_SHR, v, i64(p, 32)));
        return rs->kind == EX_INT && rs->i == 0 ? hi : ex_bin(p, BIN_SHR, hi, rs);
    }
    if (rq->rounding == ROUND_SINGLE) {
        /* (acc * mult + 2^(s-1)) >> s with s = 31 - shift in [1, 62] */
        Expr *prod = ex_bin(p, BIN_MUL, ex_cast(p, DT_I64, acc), mult);
        Expr *s, *round;
        if (shared) {
            int sv = 31 - rq->q[0].shift;
            s = i64(p, sv);
            round = i64(p, (int64_t)1 << (sv - 1));
        } else {
            s = ex_bin(p, BIN_SUB, i64(p, 31), shift);
            round = ex_bin(p, BIN_SHL, i64(p, 1), ex_bin(p, BIN_SUB, s, i64(p, 1)));
        }
        Expr *v = ex_bin(p, BIN_SHR, ex_bin(p, BIN_ADD, prod, round), s);
        v = ex_bin(p, BIN_MIN, ex_bin(p, BIN_MAX, v, i64(p, INT32_MIN)), i64(p, INT32_MAX));
        return ex_cast(p, DT_I32, v);
    }
    /* tflite: x = sat32(acc << left); t = srdhm(x, mult); rdbpot(t, right). */
    Expr *left, *right;
    if (shared) {
        left = i64(p, rq->q[0].shift > 0 ? rq->q[0].shift : 0);
        right = i64(p, rq->q[0].shift > 0 ? 0 : -rq->q[0].shift);
    } else {
        left = ex_bin(p, BIN_MAX, shift, i64(p, 0));
        right = ex_bin(p, BIN_MAX, ex_bin(p, BIN_SUB, i64(p, 0), shift), i64(p, 0));
    }
    Expr *x = ex_cast(p, DT_I64, acc);
    if (!(left->kind == EX_INT && left->i == 0)) {
        x = ex_bin(p, BIN_MUL, x, ex_bin(p, BIN_SHL, i64(p, 1), left));
        x = ex_bin(p, BIN_MIN, ex_bin(p, BIN_MAX, x, i64(p, INT32_MIN)), i64(p, INT32_MAX));
    }
    int ab = loop_new_local(p, k, DT_I64, "ab");
    st_append(p, into, st_set(p, ab, ex_bin(p, BIN_MUL, x, mult)));
    Expr *abv = ex_local(p, k, ab);
    Expr *nudge = ex_select(p, ex_bin(p, BIN_GE, abv, i64(p, 0)), i64(p, 1 << 30), i64(p, 1 - (1 << 30)));
    int t = loop_new_local(p, k, DT_I64, "hi");
    st_append(p, into, st_set(p, t, ex_bin(p, BIN_DIV, ex_bin(p, BIN_ADD, abv, nudge),
                                           i64(p, (int64_t)1 << 31))));
    Expr *tv = ex_local(p, k, t);
    if (right->kind == EX_INT && right->i == 0)
        return ex_cast(p, DT_I32, tv);
    /* x / 2^e half away from zero = (x + 2^(e-1) - (x < 0)) >> e for e >= 1;
     * e == 0 leaves x (the adjustment is then 0 too). */
    Expr *half = ex_bin(p, BIN_SHR, ex_bin(p, BIN_SHL, i64(p, 1), right), i64(p, 1));
    Expr *neg = ex_select(p, ex_bin(p, BIN_AND, ex_bin(p, BIN_LT, tv, i64(p, 0)),
                                    ex_bin(p, BIN_GT, right, i64(p, 0))),
                          i64(p, 1), i64(p, 0));
    Expr *v = ex_bin(p, BIN_SHR, ex_bin(p, BIN_SUB, ex_bin(p, BIN_ADD, tv, half), neg), right);
    return ex_cast(p, DT_I32, v);
}

/* zero + scale(acc), clamped to [lo, hi], cast to the output dtype. */
static Expr *requant_expr(Program *p, Kernel *k, Stmt *into, const Requant *rq, Expr *acc, Expr *ch,
                          DType out)
{
    Expr *v = scale_expr(p, k, into, rq, acc, ch);
    if (rq->zero != 0)
        v = ex_bin(p, BIN_ADD, v, i32(p, rq->zero));
    v = ex_bin(p, BIN_MIN, ex_bin(p, BIN_MAX, v, i32(p, rq->lo)), i32(p, rq->hi));
    return ex_cast(p, out, v);
}

/* The per-output-channel requantization of a qconv/qgemm node. */
static Requant node_requant(LowerCtx *lc, const Node *n, int64_t channels, const char *tag)
{
    const Type *x = ir_in_type(lc->g, n, 0), *w = ir_in_type(lc->g, n, 1);
    const Type *y = ir_out_type(lc->g, n, 0);
    Requant rq = {.rounding = quant_node_rounding(n), .n = (int)channels,
                  .zero = quant_zero_at(y->quant, 0)};
    rq.q = arena_alloc(lc->p->arena, (size_t)channels * sizeof *rq.q);
    for (int64_t m = 0; m < channels; m++)
        quant_out_mult(x, w, m, y, &rq.q[m]);
    quant_bounds(n, y->dtype, &rq.lo, &rq.hi);
    requant_tables(lc, &rq, tag);
    return rq;
}

/* One requantization by q shared by every output of node n. */
static Requant shared_requant(const Node *n, QMult *q, int32_t zero, DType out)
{
    Requant rq = {.rounding = quant_node_rounding(n), .n = 1, .q = q, .mult_buf = -1, .shift_buf = -1,
                  .round_buf = -1, .zero = zero};
    quant_bounds(n, out, &rq.lo, &rq.hi);
    return rq;
}

/* The reduction loop of a dot form over [0, n): two iterations per step
 * when `pair` allows and n is even (>= 4), so a short body pays the loop's
 * own instructions (a fifth of a pointwise conv's) half as often. *unroll
 * gets 1 or 2; iteration u of a step is *var + u. */
static Stmt *dot_loop(Program *p, Kernel *k, Stmt *into, int64_t n, bool pair, Expr **var, int *unroll)
{
    *unroll = pair && n % 2 == 0 && n >= 4 ? 2 : 1;
    if (*unroll == 1)
        return lower_loop(p, k, into, n, LOOP_REDUCTION, var);
    int v = loop_new_var(k);
    Stmt *l = st_for(p, v, ex_int(p, 0), ex_int(p, n), 2, LOOP_REDUCTION);
    st_append(p, into, l);
    *var = ex_var(p, v);
    return l->body;
}

/* (i32)buf[idx] - zero. */
static Expr *load_centered(Program *p, int buf, Expr *idx, int32_t zero)
{
    Expr *v = ex_cast(p, DT_I32, ex_load(p, buf, idx));
    return zero ? ex_bin(p, BIN_SUB, v, i32(p, zero)) : v;
}

/* w's zero point: none (0), one shared, or per channel (a table). */
typedef struct {
    int32_t shared;
    int buf;        /* i32 table per channel, or -1 */
} WZero;

static WZero weight_zero(LowerCtx *lc, const Type *w, const char *tag)
{
    const Quant *q = w->quant;
    WZero z = {.shared = q->zero[0], .buf = -1};
    bool same = true;
    for (int i = 1; i < q->nzero; i++)
        same = same && q->zero[i] == q->zero[0];
    if (!same) {
        int32_t *t = arena_memdup(lc->p->arena, q->zero, (size_t)q->nzero * sizeof *t);
        z.buf = lower_table(lc->p, arena_printf(lc->p->arena, "%s_wzero", tag), DT_I32, q->nzero, t);
    }
    return z;
}

static Expr *load_weight(Program *p, int buf, Expr *idx, const WZero *z, Expr *ch)
{
    Expr *v = ex_cast(p, DT_I32, ex_load(p, buf, idx));
    if (z->buf >= 0)
        return ex_bin(p, BIN_SUB, v, ex_load(p, z->buf, ch));
    return z->shared ? ex_bin(p, BIN_SUB, v, i32(p, z->shared)) : v;
}

/* The weights as the dot forms read them: in every full block of `block`
 * rows (output channels), the rows are interleaved, so the block's weights
 * for one reduction index d are adjacent:
 *   packed[r0 * depth + d * block + j] = w[(r0 + j) * depth + d].
 * With `quad` (the dot4 form), runs of four reduction indices stay
 * together per row: for d < depth4 = depth / 4 * 4,
 *   packed[r0 * depth + (d / 4) * 4 * block + 4 * j + d % 4] = w[(r0 + j) * depth + d],
 * and the tail d >= depth4 is laid out as above.
 * Rows of the partial block at the end of each group keep their place, and
 * so does every row when block is 1. The kernel then addresses the block
 * from one running index with constant offsets, where separate rows cost a
 * pointer (a register) each. */
static int packed_weights(LowerCtx *lc, int value, int64_t groups, int64_t rows, int64_t depth,
                          int block, bool quad, const char *tag)
{
    const Value *v = ir_value(lc->g, value);
    if (block == 1)
        return lower_buf(lc, value);
    size_t es = dtype_size(v->type.dtype);
    int64_t n = type_numel(&v->type), full = rows / block * block, depth4 = quad ? depth / 4 * 4 : 0;
    unsigned char *out = arena_memdup(lc->p->arena, v->data, (size_t)n * es + 1);
    const unsigned char *in = v->data;
    for (int64_t g = 0; g < groups; g++)
        for (int64_t r0 = 0; r0 < full; r0 += block)
            for (int64_t j = 0; j < block; j++)
                for (int64_t d = 0; d < depth; d++) {
                    int64_t row = g * rows + r0;
                    int64_t at = d < depth4 ? (d - d % 4) * block + 4 * j + d % 4 : d * block + j;
                    memcpy(out + (size_t)(row * depth + at) * es, in + (size_t)((row + j) * depth + d) * es, es);
                }
    return lower_table(lc->p, arena_printf(lc->p->arena, "%s_w", tag), v->type.dtype, n, out);
}

/* ------------------------------------------------------------------ qconv */

typedef struct {
    const Node *n;
    int x, w, b, y;     /* w: packed_weights for the block size */
    bool pairs;         /* scalar target: pixel pairs and 2-channel steps pay */
    const Geom *geo;
    int64_t mg_n, cg_n, chans, mchans;
    int32_t zx;
    WZero zw;
    const Requant *rq;
    DType ydt;
    Expr *nv, *gv;
} QConv;

/* Tap loops of at most this many iterations unroll (qconv_pixel). */
enum { QCONV_UNROLL_TAPS = 5 };

/* Which outputs one qconv_pixel call computes: `nch` channels from mblock +
 * j0 (mblock: the first row of the packed weight block of `wblock` rows),
 * at `npx` adjacent output columns from (ohv, owv). */
typedef struct {
    Expr *mblock;
    int wblock, j0, nch, npx;
    Expr *ohv, *owv;
    const bool *inside;     /* the window lies inside the input, per dim */
    int bfold;              /* interior: bias with the zero point folded in, or -1 */
} QTile;

/* One tile of outputs: the sums stay in locals over the in-bounds taps,
 * each loaded x feeds nch channels and each loaded weight npx pixels (see
 * conv_dot_pixel in lower_nn.c, of which this is the integer form). With
 * bfold (every tap inside the input) x is used as loaded: sum (x - zx) w =
 * sum x w - zx sum w, and the second sum is in bfold. */
static void qconv_pixel(Program *p, Kernel *k, Stmt *s, const QConv *c, const QTile *t)
{
    const Geom *geo = c->geo;
    int acc[DOT_MAX_BLOCK][DOT_MAX_BLOCK];
    Expr *m[DOT_MAX_BLOCK];
    assert(t->nch >= 1 && t->npx >= 1 && t->nch * t->npx <= DOT_MAX_BLOCK);
    Expr *mfirst = ex_add(p, ex_muli(p, c->gv, c->mg_n), t->mblock);
    for (int j = 0; j < t->nch; j++) {
        m[j] = ex_add(p, mfirst, ex_int(p, t->j0 + j));
        Expr *init = t->bfold >= 0 ? ex_load(p, t->bfold, m[j]) : c->b >= 0 ? ex_load(p, c->b, m[j]) : i32(p, 0);
        for (int q = 0; q < t->npx; q++) {
            acc[q][j] = loop_new_local(p, k, DT_I32, "acc");
            st_append(p, s, st_set(p, acc[q][j], init));
        }
    }
    /* A pointwise (1x1) tile takes two input channels per step. */
    Expr *ci0, *tap[2], *o[2] = {t->ohv, t->owv};
    int unroll;
    Stmt *r = dot_loop(p, k, s, c->cg_n, c->pairs && geo->kernel[0] * geo->kernel[1] == 1, &ci0, &unroll);
    for (int d = 0; d < 2; d++) {
        Expr *lo, *hi;
        lower_out_taps(p, geo, d, o[d], t->inside[d], &lo, &hi);
        /* Short constant tap loops unroll: a 3x3 window is then one straight
         * run per input channel, its loop overhead paid once (a border
         * output at a constant position has constant bounds too). */
        bool fixed = lo->kind == EX_INT && hi->kind == EX_INT;
        unsigned fl = LOOP_REDUCTION | (fixed && hi->i - lo->i <= QCONV_UNROLL_TAPS ? LOOP_UNROLL : 0);
        if (fixed && lo->i == 0) {
            r = lower_loop(p, k, r, hi->i, fl, &tap[d]);
            continue;
        }
        int v = loop_new_var(k);
        Stmt *l = st_for(p, v, lo, hi, 1, fl);
        st_append(p, r, l);
        r = l->body;
        tap[d] = ex_var(p, v);
    }
    for (int u = 0; u < unroll; u++) {
        Expr *ci = ex_add(p, ci0, ex_int(p, u));
        Expr *ih = ex_add(p, ex_muli(p, t->ohv, geo->stride[0]), ex_bin(p, BIN_SUB, tap[0], ex_int(p, geo->pad_begin[0])));
        Expr *xc = ex_add(p, ex_muli(p, c->nv, c->chans), ex_add(p, ex_muli(p, c->gv, c->cg_n), ci));
        Expr *xrow = ex_muli(p, ex_add(p, ex_muli(p, xc, geo->in[0]), ih), geo->in[1]);
        Expr *xv[DOT_MAX_BLOCK];
        for (int q = 0; q < t->npx; q++) {
            Expr *iw = ex_add(p, ex_muli(p, ex_add(p, t->owv, ex_int(p, q)), geo->stride[1]),
                              ex_bin(p, BIN_SUB, tap[1], ex_int(p, geo->pad_begin[1])));
            Expr *xi = ex_add(p, xrow, iw);
            xv[q] = t->bfold >= 0 ? ex_cast(p, DT_I32, ex_load(p, c->x, xi)) : load_centered(p, c->x, xi, c->zx);
            if (t->nch > 1 || xv[q]->kind != EX_CAST) { /* one load of x for all channels */
                int xl = loop_new_local(p, k, DT_I32, "xv");
                st_append(p, r, st_set(p, xl, xv[q]));
                xv[q] = ex_local(p, k, xl);
            }
        }
        /* Block-interleaved weights (packed_weights): the block's first row,
         * then the reduction index times the block, plus the row in it. */
        Expr *red = ex_add(p, ex_muli(p, ex_add(p, ex_muli(p, ci, geo->kernel[0]), tap[0]), geo->kernel[1]), tap[1]);
        Expr *wbase = ex_add(p, ex_muli(p, mfirst, c->cg_n * geo->kernel[0] * geo->kernel[1]),
                             ex_muli(p, red, t->wblock));
        for (int j = 0; j < t->nch; j++) {
            Expr *wv = load_weight(p, c->w, ex_add(p, wbase, ex_int(p, t->j0 + j)), &c->zw, m[j]);
            if (t->npx > 1) {
                int wl = loop_new_local(p, k, DT_I32, "wv");
                st_append(p, r, st_set(p, wl, wv));
                wv = ex_local(p, k, wl);
            }
            for (int q = 0; q < t->npx; q++)
                st_append(p, r, lower_accumulate(p, k, acc[q][j], BIN_ADD, ex_bin(p, BIN_MUL, xv[q], wv)));
    }
    }
    for (int j = 0; j < t->nch; j++)
        for (int q = 0; q < t->npx; q++) {
            Expr *yc = ex_add(p, ex_muli(p, c->nv, c->mchans), m[j]);
            Expr *yi = ex_add(p, ex_muli(p, ex_add(p, ex_muli(p, yc, geo->out[0]), t->ohv), geo->out[1]),
                              ex_add(p, t->owv, ex_int(p, q)));
            Expr *out = requant_expr(p, k, s, c->rq, ex_local(p, k, acc[q][j]), m[j], c->ydt);
            st_append(p, s, st_store(p, c->y, yi, out));
        }
}

/* Channels [m0, m1) of group gv, `block` at a time, over the output plane
 * split into interior and border (conv_dot_channels' integer form). In the
 * interior, with a blocked channel loop and bfold, pairs of adjacent
 * columns take two half-block tiles of 2 pixels each: per reduction step 2
 * loads of x and block loads of w feed 2 * block multiply-adds, and x is
 * used as loaded. */
static void qconv_channels(Program *p, Kernel *k, Stmt *into, const QConv *c, int64_t m0, int64_t m1,
                           int block, int bfold)
{
    if (m0 >= m1)
        return;
    const Geom *geo = c->geo;
    Expr *mgv;
    Stmt *s = lower_step_loop(p, k, into, m0, m1, block, LOOP_PARALLEL, &mgv);
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
            bool inside[2] = {i == 1, j == 1};
            QTile t = {.mblock = mgv, .wblock = block, .nch = block, .npx = 1, .ohv = ohv,
                       .inside = inside, .bfold = inside[0] && inside[1] ? bfold : -1};
            int64_t a = wr[j], pairs = 0;
            if (t.bfold >= 0 && block >= 2 && c->pairs)
                pairs = (wr[j + 1] - a) / 2;
            if (pairs > 0) {
                Stmt *l = lower_step_loop(p, k, rows, a, a + 2 * pairs, 2, LOOP_PARALLEL, &t.owv);
                QTile h = t;
                h.nch = block / 2;
                h.npx = 2;
                for (h.j0 = 0; h.j0 < block; h.j0 += h.nch)
                    qconv_pixel(p, k, l, c, &h);
                a += 2 * pairs;
            }
            if (a < wr[j + 1]) {
                Stmt *px = lower_range_loop(p, k, rows, a, wr[j + 1], &t.owv);
                qconv_pixel(p, k, px, c, &t);
            }
        }
    }
}

/* `cols` interior output pixels of one depthwise channel from (ohv, owv),
 * their windows inside the input: each weight is loaded once for all of
 * them, and the zero point is folded into the bias (bfold = b - zx * sum w),
 * so a tap costs a load of x and a multiply-add. */
static void qconv_dw_block(Program *p, Kernel *k, Stmt *s, const QConv *c, int bfold, Expr *ohv,
                           Expr *owv, int cols)
{
    const Geom *geo = c->geo;
    int acc[DOT_MAX_BLOCK];
    assert(cols >= 1 && cols <= DOT_MAX_BLOCK);
    for (int j = 0; j < cols; j++) {
        acc[j] = loop_new_local(p, k, DT_I32, "acc");
        st_append(p, s, st_set(p, acc[j], ex_load(p, bfold, c->gv)));
    }
    Expr *th, *tw;
    Stmt *r = lower_loop(p, k, s, geo->kernel[0], LOOP_REDUCTION | LOOP_UNROLL, &th);
    r = lower_loop(p, k, r, geo->kernel[1], LOOP_REDUCTION | LOOP_UNROLL, &tw);
    int wl = loop_new_local(p, k, DT_I32, "wv");
    Expr *wi = ex_add(p, ex_muli(p, ex_add(p, ex_muli(p, c->gv, geo->kernel[0]), th), geo->kernel[1]), tw);
    st_append(p, r, st_set(p, wl, ex_cast(p, DT_I32, ex_load(p, c->w, wi))));
    Expr *xc = ex_add(p, ex_muli(p, c->nv, c->chans), c->gv);
    Expr *ih = ex_add(p, ex_muli(p, ohv, geo->stride[0]), ex_bin(p, BIN_SUB, th, ex_int(p, geo->pad_begin[0])));
    Expr *xrow = ex_muli(p, ex_add(p, ex_muli(p, xc, geo->in[0]), ih), geo->in[1]);
    for (int j = 0; j < cols; j++) {
        Expr *iw = ex_add(p, ex_muli(p, ex_add(p, owv, ex_int(p, j)), geo->stride[1]),
                          ex_bin(p, BIN_SUB, tw, ex_int(p, geo->pad_begin[1])));
        Expr *xv = ex_cast(p, DT_I32, ex_load(p, c->x, ex_add(p, xrow, iw)));
        st_append(p, r, lower_accumulate(p, k, acc[j], BIN_ADD, ex_bin(p, BIN_MUL, xv, ex_local(p, k, wl))));
    }
    Expr *yc = ex_add(p, ex_muli(p, c->nv, c->mchans), c->gv);
    for (int j = 0; j < cols; j++) {
        Expr *yi = ex_add(p, ex_muli(p, ex_add(p, ex_muli(p, yc, geo->out[0]), ohv), geo->out[1]),
                          ex_add(p, owv, ex_int(p, j)));
        st_append(p, s, st_store(p, c->y, yi, requant_expr(p, k, s, c->rq, ex_local(p, k, acc[j]), c->gv,
                                                          c->ydt)));
    }
}

/* b - zx * (the sum of each output channel's `depth` weights): the bias of
 * an output whose taps all lie inside the input, where x can be used as
 * loaded. -1 (no table) unless w and b are constants and w's zero point is
 * 0. */
static int folded_bias(LowerCtx *lc, const Kernel *k, const Node *n, int32_t zx, const WZero *zw,
                       int64_t chans, int64_t depth)
{
    const Value *wv = ir_value(lc->g, n->in[1]);
    const Value *bv = ir_has_input(n, 2) ? ir_value(lc->g, n->in[2]) : NULL;
    if (wv->kind != VK_CONST || (bv && bv->kind != VK_CONST) || zw->buf >= 0 || zw->shared != 0)
        return -1;
    Tensor w = {wv->type, wv->data}, b = {bv ? bv->type : wv->type, bv ? bv->data : NULL};
    int32_t *bf = arena_alloc(lc->p->arena, (size_t)chans * sizeof *bf);
    for (int64_t m = 0; m < chans; m++) {
        int64_t sum = 0;
        for (int64_t t = 0; t < depth; t++)
            sum += ref_get_i(&w, m * depth + t);
        int64_t v = (bv ? ref_get_i(&b, m) : 0) - (int64_t)zx * sum;
        bf[m] = v > INT32_MAX ? INT32_MAX : v < INT32_MIN ? INT32_MIN : (int32_t)v;
    }
    return lower_table(lc->p, arena_printf(lc->p->arena, "%s_bfold", k->name), DT_I32, chans, bf);
}

/* Depthwise qconv (one input and one output channel per group, weight
 * zero point 0, constant weights and bias): the interior blocked over output columns
 * (qconv_dw_block), the border pixel by pixel with the zero point
 * subtracted from each loaded x (qconv_pixel). */
static void qconv_depthwise(LowerCtx *lc, Kernel *k, Stmt *s, const QConv *c, int bfold)
{
    Program *p = lc->p;
    const Geom *geo = c->geo;
    int64_t hr[4], wr[4];
    lower_plane_regions(geo, hr, wr);
    int block = lower_dot_block(lc->target, wr[2] - wr[1]);
    for (int i = 0; i < 3; i++) {
        if (hr[i] >= hr[i + 1])
            continue;
        Expr *ohv;
        Stmt *rows = lower_range_loop(p, k, s, hr[i], hr[i + 1], &ohv);
        for (int j = 0; j < 3; j++) {
            if (wr[j] >= wr[j + 1])
                continue;
            bool inside[2] = {i == 1, j == 1};
            if (!inside[0] || !inside[1]) {
                Expr *owv;
                Stmt *px = lower_range_loop(p, k, rows, wr[j], wr[j + 1], &owv);
                QTile t = {.mblock = ex_int(p, 0), .wblock = 1, .nch = 1, .npx = 1, .ohv = ohv,
                           .owv = owv, .inside = inside, .bfold = -1};
                qconv_pixel(p, k, px, c, &t);
                continue;
            }
            int64_t full = (wr[2] - wr[1]) / block * block;
            if (full > 0) {
                Expr *owv;
                Stmt *l = lower_step_loop(p, k, rows, wr[1], wr[1] + full, block, LOOP_PARALLEL, &owv);
                qconv_dw_block(p, k, l, c, bfold, ohv, owv, block);
            }
            if (wr[1] + full < wr[2]) {
                Expr *owv;
                Stmt *px = lower_range_loop(p, k, rows, wr[1] + full, wr[2], &owv);
                qconv_dw_block(p, k, px, c, bfold, ohv, owv, 1);
            }
        }
    }
}

/* 1-D and 2-D qconv with dilation 1 (the forms etch's int8 path emits). */
bool lower_qconv(LowerCtx *lc, const Node *n)
{
    Geom geo;
    if (!ir_window_geom(lc->ctx, lc->g, n, &geo))
        return false;
    if (geo.nspatial == 1) { /* as 2-D with a height of 1 */
        int d = 1;
        geo.kernel[d] = geo.kernel[0], geo.stride[d] = geo.stride[0];
        geo.dilation[d] = geo.dilation[0], geo.pad_begin[d] = geo.pad_begin[0];
        geo.pad_end[d] = geo.pad_end[0], geo.in[d] = geo.in[0], geo.out[d] = geo.out[0];
        geo.kernel[0] = geo.stride[0] = geo.dilation[0] = geo.in[0] = geo.out[0] = 1;
        geo.pad_begin[0] = geo.pad_end[0] = 0;
    }
    char desc[160];
    if (geo.nspatial > 2 || geo.dilation[0] != 1 || geo.dilation[1] != 1) {
        diag_error(lc->ctx, n->loc, "%s: int8 conv is lowered for 1-D and 2-D windows without "
                   "dilation only", ir_node_desc(lc->g, n, desc, sizeof desc));
        return false;
    }
    Program *p = lc->p;
    const Type *xt = ir_in_type(lc->g, n, 0), *wt = ir_in_type(lc->g, n, 1);
    const Type *yt = ir_out_type(lc->g, n, 0);
    Kernel *k = lower_kernel(lc, n);
    const char *tag = k->name;
    Requant rq = node_requant(lc, n, wt->dims[0], tag);
    QConv c = {
        .n = n, .x = lower_buf(lc, n->in[0]), .w = -1,
        .b = ir_has_input(n, 2) ? lower_buf(lc, n->in[2]) : -1, .y = lower_buf(lc, n->out[0]),
        .geo = &geo, .mg_n = wt->dims[0] / geo.group, .cg_n = wt->dims[1],
        .chans = xt->dims[1], .mchans = yt->dims[1], .zx = quant_zero_at(xt->quant, 0),
        .zw = weight_zero(lc, wt, tag), .rq = &rq, .ydt = yt->dtype,
        /* Measured on Cortex-M4 (KWS 3.22 -> 2.82 per MAC); on the host they
         * made GCC's code slower, whose vectorizer prefers the plain form. */
        .pairs = lc->target->vector_bytes == 0,
    };
    Stmt *s = lower_loop(p, k, k->body, yt->dims[0], LOOP_PARALLEL, &c.nv);
    s = lower_loop(p, k, s, geo.group, LOOP_PARALLEL, &c.gv);
    int64_t depth = c.cg_n * geo.kernel[0] * geo.kernel[1];
    int bfold = folded_bias(lc, k, n, c.zx, &c.zw, wt->dims[0], depth);
    if (c.cg_n == 1 && c.mg_n == 1 && bfold >= 0) {
        c.w = lower_buf(lc, n->in[1]);
        qconv_depthwise(lc, k, s, &c, bfold);
        return true;
    }
    /* Blocks read packed weights, which need them constant. */
    bool packable = ir_value(lc->g, n->in[1])->kind == VK_CONST;
    int block = packable ? lower_dot_block(lc->target, c.mg_n) : 1;
    /* One table serves both loops: a partial block's rows keep their place. */
    c.w = packed_weights(lc, n->in[1], geo.group, c.mg_n, depth, block, false, tag);
    int64_t full = c.mg_n / block * block;
    qconv_channels(p, k, s, &c, 0, full, block, bfold);
    qconv_channels(p, k, s, &c, full, c.mg_n, 1, bfold);
    return true;
}

/* ------------------------------------------------------------------ qgemm */

/* Columns per step of the dot4 form: one accumulator each in an integer
 * register, beside the 8 every step needs (the activation word's two
 * halves, a weight word and its two halves, the a and w pointers and the
 * loop's end), rounded down to a power of two. Cortex-M4 (14): 4, which
 * measured 1.64 instructions per MAC on AD against 1.77 / 1.85 / 1.92 for
 * 5 / 6 / 8 columns (spills) and 2.15 for 2. */
static int dot4_block(const Target *t, int64_t cols)
{
    int block = 1;
    while (block * 2 <= t->int_regs - 8 && block * 2 <= cols)
        block *= 2;
    return block;
}

/* y[i, j] = requant(b[j] + sum_k (a[i, k] - za) (w[j, k] - zw)): the dot
 * form, `block` columns sharing each loaded a. On a dot4 target with i8
 * operands, weight zero point 0 and za folded into the bias, the reduction
 * takes four k per step (EX_DOT4: SMLAD on Cortex-M4) over k < depth4, the
 * rest one at a time. */
bool lower_qgemm(LowerCtx *lc, const Node *n)
{
    Program *p = lc->p;
    const Type *at = ir_in_type(lc->g, n, 0), *wt = ir_in_type(lc->g, n, 1);
    const Type *yt = ir_out_type(lc->g, n, 0);
    int64_t rows = at->dims[0], depth = at->dims[1], cols = wt->dims[0];
    int a = lower_buf(lc, n->in[0]);
    int b = ir_has_input(n, 2) ? lower_buf(lc, n->in[2]) : -1, y = lower_buf(lc, n->out[0]);
    Kernel *k = lower_kernel(lc, n);
    bool packable = ir_value(lc->g, n->in[1])->kind == VK_CONST; /* packed_weights */
    Requant rq = node_requant(lc, n, cols, k->name);
    WZero zw = weight_zero(lc, wt, k->name);
    int32_t za = quant_zero_at(at->quant, 0);
    /* No padding: every output can use a as loaded, za folded in the bias. */
    int bfold = za != 0 ? folded_bias(lc, k, n, za, &zw, cols, depth) : -1;
    if (bfold >= 0) {
        b = bfold;
        za = 0;
    }
    bool quad = lc->target->dot4 && packable && at->dtype == DT_I8 && wt->dtype == DT_I8 && za == 0 &&
                zw.shared == 0 && zw.buf < 0 && depth >= 4;
    int64_t depth4 = quad ? depth / 4 * 4 : 0;
    int block = packable ? quad ? dot4_block(lc->target, cols) : lower_dot_block(lc->target, cols) : 1;
    int w = packed_weights(lc, n->in[1], 1, cols, depth, block, quad, k->name);

    Expr *iv;
    Stmt *s0 = lower_loop(p, k, k->body, rows, LOOP_PARALLEL, &iv);
    int64_t full = cols / block * block;
    for (int part = 0; part < 2; part++) {
        int64_t j0 = part ? full : 0, j1 = part ? cols : full;
        int bl = part ? 1 : block;
        if (j0 >= j1)
            continue;
        Expr *jv;
        Stmt *s = lower_step_loop(p, k, s0, j0, j1, bl, LOOP_PARALLEL, &jv);
        int acc[DOT_MAX_BLOCK];
        Expr *col[DOT_MAX_BLOCK];
        for (int r = 0; r < bl; r++) {
            acc[r] = loop_new_local(p, k, DT_I32, "acc");
            col[r] = ex_add(p, jv, ex_int(p, r));
            st_append(p, s, st_set(p, acc[r], b >= 0 ? ex_load(p, b, col[r]) : i32(p, 0)));
        }
        Expr *wrow = ex_muli(p, jv, depth), *arow = ex_muli(p, iv, depth);
        if (depth4 > 0) {
            Expr *kv;
            Stmt *l = lower_step_loop(p, k, s, 0, depth4, 4, LOOP_REDUCTION, &kv);
            Expr *av = ex_load(p, a, ex_add(p, arow, kv));
            Expr *wbase = ex_add(p, wrow, ex_muli(p, kv, bl)); /* packed_weights, quad */
            for (int r = 0; r < bl; r++) {
                Expr *wv = ex_load(p, w, ex_add(p, wbase, ex_int(p, 4 * r)));
                st_append(p, l, st_set(p, acc[r], ex_dot4(p, av, wv, ex_local(p, k, acc[r]))));
            }
        }
        Expr *kv0;
        int unroll = 1;
        Stmt *red;
        if (depth4 > 0) {
            red = depth4 < depth ? lower_step_loop(p, k, s, depth4, depth, 1, LOOP_REDUCTION, &kv0) : NULL;
        } else {
            /* Pairs only for narrow blocks: at 8 accumulators a second a and
             * its weights spill on Cortex-M4 (AD: 2.67 -> 2.86 per MAC). */
            red = dot_loop(p, k, s, depth, bl <= DOT_MAX_BLOCK / 2 && lc->target->vector_bytes == 0, &kv0,
                           &unroll);
        }
        for (int u = 0; red && u < unroll; u++) {
            Expr *kv = ex_add(p, kv0, ex_int(p, u));
            Expr *av = load_centered(p, a, ex_add(p, arow, kv), za);
            if (bl > 1 || za != 0) {
                int l = loop_new_local(p, k, DT_I32, "av");
                st_append(p, red, st_set(p, l, av));
                av = ex_local(p, k, l);
            }
            Expr *wbase = ex_add(p, wrow, ex_muli(p, kv, bl)); /* packed_weights */
            for (int r = 0; r < bl; r++) {
                Expr *wv = load_weight(p, w, ex_add(p, wbase, ex_int(p, r)), &zw, col[r]);
                st_append(p, red, lower_accumulate(p, k, acc[r], BIN_ADD, ex_bin(p, BIN_MUL, av, wv)));
            }
        }
        for (int r = 0; r < bl; r++) {
            Expr *out = requant_expr(p, k, s, &rq, ex_local(p, k, acc[r]), col[r], yt->dtype);
            st_append(p, s, st_store(p, y, ex_add(p, ex_muli(p, iv, cols), col[r]), out));
        }
    }
    return true;
}

/* ---------------------------------------------------------- qaverage_pool */

/* The window sum of (x - zx) over the in-bounds taps, rescaled by
 * sx / (sy * count) (every window counts the same taps: inference). */
bool lower_qaverage_pool(LowerCtx *lc, const Node *n)
{
    Geom geo;
    if (!ir_window_geom(lc->ctx, lc->g, n, &geo))
        return false;
    Program *p = lc->p;
    const Type *xt = ir_in_type(lc->g, n, 0), *yt = ir_out_type(lc->g, n, 0);
    int x = lower_buf(lc, n->in[0]), y = lower_buf(lc, n->out[0]);
    Kernel *k = lower_kernel(lc, n);
    int ns = geo.nspatial;
    int64_t count = 1;
    for (int d = 0; d < ns; d++)
        count *= geo.kernel[d];
    QMult q;
    quant_multiplier((double)quant_scale_at(xt->quant, 0) /
                     ((double)quant_scale_at(yt->quant, 0) * (double)count), &q);
    Requant rq = shared_requant(n, &q, quant_zero_at(yt->quant, 0), yt->dtype);
    int32_t zx = quant_zero_at(xt->quant, 0);

    PoolNest pn;
    Stmt *s = lower_pool_outputs(p, k, &geo, xt, &pn);
    int acc = loop_new_local(p, k, DT_I32, "acc");
    st_append(p, s, st_set(p, acc, i32(p, 0)));
    Stmt *r = lower_open_window(p, k, s, &geo, pn.yi + 1, pn.tap, pn.xi + 1);
    Expr *xe = lower_flat_index(p, 1 + ns, pn.xi, pn.xdims), *ye = lower_flat_index(p, 1 + ns, pn.yi, pn.ydims);
    /* Without padding every window reads `count` elements: zx comes off
     * once, as the constant count * zx; with padding (counted, reading zx)
     * each element read comes off by itself. */
    bool padded = false;
    for (int d = 0; d < ns; d++)
        padded |= geo.pad_begin[d] > 0 || geo.pad_end[d] > 0;
    st_append(p, r, lower_accumulate(p, k, acc, BIN_ADD, padded ? load_centered(p, x, xe, zx)
                                                               : ex_cast(p, DT_I32, ex_load(p, x, xe))));
    Expr *sum = ex_local(p, k, acc);
    if (!padded)
        sum = ex_bin(p, BIN_SUB, sum, i32(p, (int64_t)zx * count));
    st_append(p, s, st_store(p, y, ye, requant_expr(p, k, s, &rq, sum, NULL, yt->dtype)));
    return true;
}

/* --------------------------------------------------- qadd, qmul: QFast */

/* quant_fast(f, a, b) of two codes (i32) as an expression of dtype out:
 * qadd all in i32 (quant_fast_init keeps the sum in range), qmul's
 * high multiply in i64. */
static Expr *fast_expr(Program *p, const QFast *f, Expr *a, Expr *b, DType out)
{
    Expr *v;
    if (f->mul) {
        Expr *pr = ex_bin(p, BIN_MUL, f->z0 ? ex_bin(p, BIN_SUB, a, i32(p, f->z0)) : a,
                          f->z1 ? ex_bin(p, BIN_SUB, b, i32(p, f->z1)) : b);
        v = ex_bin(p, BIN_MUL, ex_cast(p, DT_I64, pr), i64(p, (int64_t)f->m0 << f->shift));
        v = ex_bin(p, BIN_SHR, ex_bin(p, BIN_ADD, v, i64(p, (int64_t)1 << 31)), i64(p, 32));
        v = ex_bin(p, BIN_ADD, ex_cast(p, DT_I32, v), i32(p, f->c));
    } else {
        v = ex_bin(p, BIN_ADD, ex_bin(p, BIN_MUL, a, i32(p, f->m0)), ex_bin(p, BIN_MUL, b, i32(p, f->m1)));
        v = ex_bin(p, BIN_SHR, ex_bin(p, BIN_ADD, v, i32(p, f->c)), i32(p, f->shift));
    }
    v = ex_bin(p, BIN_MIN, ex_bin(p, BIN_MAX, v, i32(p, f->lo)), i32(p, f->hi));
    return ex_cast(p, out, v);
}

/* y's dim d as operand t has it (numpy broadcasting: 1 where t has none). */
static int64_t bcast_dim(const Type *t, const Type *y, int d)
{
    int e = d - (y->rank - t->rank);
    return e >= 0 ? t->dims[e] : 1;
}

/* How operand t covers y's last nd dims: 1 when it has them all (a run of
 * consecutive elements), 0 when it is 1 on all of them (one value for the
 * run), -1 otherwise. */
static int run_cover(const Type *t, const Type *y, int nd)
{
    bool full = true, one = true;
    for (int d = y->rank - nd; d < y->rank; d++) {
        full &= bcast_dim(t, y, d) == y->dims[d];
        one &= bcast_dim(t, y, d) == 1;
    }
    return full ? 1 : one ? 0 : -1;
}

/* A stretch's loop step holds lcm(run, 4) / 4 groups: unrolled, except
 * that more than QFAST_SPAN_UNROLLED consecutive groups inside one run
 * (runs of 21 and longer) are a loop of two groups a step (four from 8
 * groups). Runs longer than QFAST_STRETCH_MAX_RUN that are a multiple of
 * 4 have no groups across their ends: they go run by run, up to 8 groups
 * a step. A chunk of a stretch (a step, lcm(run, 4) elements, or less)
 * touches at most QFAST_CHUNK_RUNS runs. */
enum { QFAST_STRETCH_MAX_RUN = 16, QFAST_SPAN_UNROLLED = 4, QFAST_CHUNK_RUNS = 4 };

/* A qadd or qmul broadcast along runs (lower_qfast_runs): the operand
 * `one` (-1: none) is one value a run, read as qfast4's code b; `cons`
 * the other, consecutive. */
typedef struct {
    Program *p;
    Kernel *k;
    const QFast *fo; /* the node's QFast with the one-value operand as b */
    int buf[2], y, one, cons;
    Expr *base[2], *ybase; /* where the run (or stretch) starts */
    int64_t run;
    DType out;
} QRuns;

/* y[at .. at + 4) from the consecutive operand there, lanes below k with
 * code b, the rest with c (k = 4: b alone). */
static Stmt *qfast_group(const QRuns *r, Expr *at, Expr *b, Expr *c, int k)
{
    Program *p = r->p;
    Expr *val = ex_qfast4_one(p, r->fo, ex_load(p, r->buf[r->cons], ex_add(p, r->base[r->cons], at)), b, c, k);
    return st_store(p, r->y, ex_add(p, r->ybase, at), val);
}

/* Elements [e0, e0 + n) of a stretch of runs along which r->cons is
 * consecutive and r->one steps by one a run, into block s: off (elements)
 * and roff (runs, off / run) where the chunk starts, e0 a multiple of the
 * run. The codes of the runs it touches are read first into the locals
 * code[], then each group of four goes through qfast4, lanes in one run
 * with one code and lanes across the end of a run with the code of each
 * (at most two runs: run >= 2), and the last n % 4 elements one by one.
 * Groups never overlap, and each reads its own a before storing: y may be
 * a. */
static void qfast_chunk(const QRuns *r, Stmt *s, const int *code, Expr *off, Expr *roff, int64_t e0, int64_t n)
{
    Program *p = r->p;
    int64_t r0 = e0 / r->run, nruns = (e0 + n - 1) / r->run - r0 + 1;
    for (int64_t i = 0; i < nruns; i++) {
        Expr *at = ex_add(p, ex_add(p, r->base[r->one], roff), ex_int(p, r0 + i));
        st_append(p, s, st_set(p, code[i], ex_cast(p, DT_I32, ex_load(p, r->buf[r->one], at))));
    }
    for (int64_t e = e0; e < e0 + n; e += 4) {
        Expr *at = ex_add(p, off, ex_int(p, e)), *val;
        int64_t run = e / r->run - r0;
        Expr *b = ex_local(p, r->k, code[run]);
        if (e + 4 <= e0 + n) {
            int64_t left = (run + r0 + 1) * r->run - e; /* elements of b's run from e */
            int64_t span = (left < e0 + n - e ? left : e0 + n - e) / 4; /* groups wholly in it */
            if (span > QFAST_SPAN_UNROLLED) {
                int per = span >= 2 * QFAST_SPAN_UNROLLED ? 4 : 2; /* groups a loop step */
                Expr *g;
                Stmt *body = lower_loop(p, r->k, s, span / per, LOOP_PARALLEL, &g);
                for (int u = 0; u < per; u++)
                    st_append(p, body, qfast_group(r, ex_add(p, at, ex_add(p, ex_muli(p, g, 4 * per), ex_int(p, 4 * u))),
                                                   b, NULL, 4));
                e += span / per * 4 * per - 4; /* the groups left go next */
                continue;
            }
            int k = left < 4 ? (int)left : 4;
            st_append(p, s, qfast_group(r, at, b, k < 4 ? ex_local(p, r->k, code[run + 1]) : NULL, k));
            continue;
        }
        for (int64_t i = e; i < e0 + n; i++) {
            at = ex_add(p, off, ex_int(p, i));
            Expr *va = ex_cast(p, DT_I32, ex_load(p, r->buf[r->cons], ex_add(p, r->base[r->cons], at)));
            val = fast_expr(p, r->fo, va, ex_local(p, r->k, code[i / r->run - r0]), r->out);
            st_append(p, s, st_store(p, r->y, ex_add(p, r->ybase, at), val));
        }
    }
}

/* A stretch of len elements, whole runs (see qfast_chunk), into s: a loop
 * over steps of lcm(run, 4) elements (8 for runs of 2 and 4: one group a
 * step left the loop's overhead to too few elements, four spilled), the
 * groups unrolled so each has its lanes' codes fixed, then what remains
 * of the stretch straight. */
static void qfast_stretch(const QRuns *r, Stmt *s, int64_t len)
{
    Program *p = r->p;
    int64_t g = r->run, four = 4;
    while (four) { /* g = gcd(run, 4) */
        int64_t t = g % four;
        g = four, four = t;
    }
    int64_t groups = r->run / g; /* the period, in groups of four */
    if (groups == 1)
        groups = 2;
    int64_t step = 4 * groups, steps = len / step, rest = len - steps * step;
    /* the most runs a chunk touches: the loop's step / run, the rest's
     * ceil(rest / run) (every local is used: no unused variable in C) */
    int64_t nruns = (rest + r->run - 1) / r->run;
    if (steps > 0 && step / r->run > nruns)
        nruns = step / r->run;
    int code[QFAST_CHUNK_RUNS];
    assert(nruns <= QFAST_CHUNK_RUNS);
    for (int64_t i = 0; i < nruns; i++)
        code[i] = loop_new_local(p, r->k, DT_I32, "b");
    if (steps > 0) {
        Expr *j;
        Stmt *body = lower_loop(p, r->k, s, steps, LOOP_PARALLEL, &j);
        qfast_chunk(r, body, code, ex_muli(p, j, step), ex_muli(p, j, step / r->run), 0, step);
    }
    if (rest > 0)
        qfast_chunk(r, s, code, ex_int(p, 0), ex_int(p, 0), steps * step, rest);
}

/* qadd or qmul of broadcasting i8 operands, on a DSP target: y's last nd
 * dims are runs along which each operand is consecutive or one value, one
 * at least consecutive. A run goes through qfast4, a one-value operand as
 * qfast4's one code b (the operands swapped in f if it is a; both forms
 * are symmetric), read once a run: a bias-like [1, C, 16] + [1, C, 1] on
 * Cortex-M4 takes qadd 4.2 instructions an element, qmul 4.8 (float add
 * and mul 5.4). Runs from 2 to QFAST_STRETCH_MAX_RUN long, and longer
 * ones that are not a multiple of 4, where both operands are whole over
 * the dims before them (the one-value operand then steps by one a run,
 * [1, C, 3] * [1, C, 1]) are walked as one stretch (qfast_stretch), so
 * groups of four cross the ends of runs and only the stretch's last
 * len % 4 elements are scalar: runs of 2, qadd 5.0 and qmul 5.4 (float
 * 5.5); of 3, 4.8 and 5.3 (float 7.4); of 19, 3.9 and 4.6 (float 5.4;
 * run by run, qmul was 6.9). False when neither applies (runs shorter
 * than 4 and no stretch): the scalar form. */
static bool lower_qfast_runs(LowerCtx *lc, const Node *n, const QFast *f, Kernel **kp)
{
    Program *p = lc->p;
    const Type *t[2] = {ir_in_type(lc->g, n, 0), ir_in_type(lc->g, n, 1)}, *yt = ir_out_type(lc->g, n, 0);
    int nd = 0, cover[2] = {0, 0};
    for (int d = yt->rank; d >= 1 && !nd; d--) {
        cover[0] = run_cover(t[0], yt, d), cover[1] = run_cover(t[1], yt, d);
        if (cover[0] >= 0 && cover[1] >= 0 && cover[0] + cover[1] >= 1)
            nd = d;
    }
    int64_t run = 1;
    for (int d = yt->rank - nd; d < yt->rank; d++)
        run *= yt->dims[d];
    int one = nd == 0 ? -1 : cover[0] == 0 ? 0 : cover[1] == 0 ? 1 : -1; /* the one-value operand */
    /* The stretch: dims before the runs on which both operands are whole. */
    int ns = 0;
    int64_t runs = 1;
    if (one >= 0 && run >= 2 && (run <= QFAST_STRETCH_MAX_RUN || run % 4 != 0))
        for (int d = yt->rank - nd - 1; d >= 0; d--, ns++) {
            if (bcast_dim(t[0], yt, d) != yt->dims[d] || bcast_dim(t[1], yt, d) != yt->dims[d])
                break;
            runs *= yt->dims[d];
        }
    bool stretch = runs >= 2;
    if (nd == 0 || (run < 4 && !stretch))
        return false;
    if (!stretch)
        ns = 0;
    Kernel *k = *kp = lower_kernel(lc, n);
    QRuns r = {p, k, f, {lower_buf(lc, n->in[0]), lower_buf(lc, n->in[1])}, lower_buf(lc, n->out[0]),
               one, one >= 0 ? 1 - one : 0, {NULL, NULL}, NULL, run, yt->dtype};
    Type outer = *yt;
    outer.rank = yt->rank - nd - ns;
    int vars[IR_MAX_RANK];
    Stmt *s = lower_nest(p, k, k->body, &outer, vars);
    Expr *idx[IR_MAX_RANK];
    for (int d = 0; d < yt->rank; d++)
        idx[d] = d < outer.rank ? ex_var(p, vars[d]) : ex_int(p, 0);
    r.base[0] = lower_bcast_index(p, t[0], yt, idx), r.base[1] = lower_bcast_index(p, t[1], yt, idx);
    r.ybase = lower_index(p, yt, idx);
    QFast fo = *f; /* the one-value operand as b */
    if (one == 0 && fo.mul)
        fo.z0 = f->z1, fo.z1 = f->z0;
    else if (one == 0)
        fo.m0 = f->m1, fo.m1 = f->m0;
    r.fo = &fo;
    if (stretch) {
        qfast_stretch(&r, s, runs * run);
        return true;
    }
    int v = -1;
    if (one >= 0) {
        v = loop_new_local(p, k, DT_I8, "b");
        st_append(p, s, st_set(p, v, ex_load(p, r.buf[one], r.base[one])));
    }
    /* The groups unrolled up to 8 a step (a short run takes no loop). */
    int64_t groups = run / 4, per = groups <= 8 ? groups : groups % 4 == 0 ? 4 : groups % 2 == 0 ? 2 : 1;
    Expr *j;
    Stmt *body = lower_loop(p, k, s, groups / per, LOOP_PARALLEL, &j);
    for (int64_t g = 0; g < per; g++) {
        Expr *off = ex_add(p, ex_muli(p, j, 4 * per), ex_int(p, 4 * g));
        if (one >= 0) {
            st_append(p, body, qfast_group(&r, off, ex_cast(p, DT_I32, ex_local(p, k, v)), NULL, 4));
            continue;
        }
        Expr *q4 = ex_qfast4(p, f, ex_load(p, r.buf[0], ex_add(p, r.base[0], off)),
                             ex_load(p, r.buf[1], ex_add(p, r.base[1], off)));
        st_append(p, body, st_store(p, r.y, ex_add(p, r.ybase, off), q4));
    }
    if (run % 4) {
        body = lower_loop(p, k, s, run % 4, LOOP_PARALLEL, &j);
        Expr *off = ex_add(p, j, ex_int(p, run / 4 * 4)), *va[2];
        for (int i = 0; i < 2; i++) {
            Expr *e = i == one ? ex_local(p, k, v) : ex_load(p, r.buf[i], ex_add(p, r.base[i], off));
            va[i] = ex_cast(p, DT_I32, e);
        }
        st_append(p, body, st_store(p, r.y, ex_add(p, r.ybase, off), fast_expr(p, f, va[0], va[1], yt->dtype)));
    }
    return true;
}

/* qadd or qmul in its QFast form. On a target with ARM's DSP SIMD (dot4),
 * with a, b and y of one shape and all i8, groups of four consecutive
 * elements go through qfast4 (two word loads, SIMD steps and one word
 * store), the last count % 4 one by one; one operand broadcast along runs
 * of y takes lower_qfast_runs; otherwise (uint8, other targets, other
 * broadcasts) each element of y's nest in scalar code, which is the
 * faster form without the DSP instructions (Cortex-M0: qadd 17
 * instructions an element, against 29 for qfast4's portable loop). */
static bool lower_qfast(LowerCtx *lc, const Node *n, const QFast *f)
{
    Program *p = lc->p;
    const Type *at = ir_in_type(lc->g, n, 0), *bt = ir_in_type(lc->g, n, 1);
    const Type *yt = ir_out_type(lc->g, n, 0);
    bool i8 = yt->dtype == DT_I8 && at->dtype == DT_I8 && bt->dtype == DT_I8;
    Kernel *k;
    if (lc->target->dot4 && i8 && !(type_equal(at, yt) && type_equal(bt, yt)) &&
        lower_qfast_runs(lc, n, f, &k))
        return true;
    int a = lower_buf(lc, n->in[0]), b = lower_buf(lc, n->in[1]), y = lower_buf(lc, n->out[0]);
    k = lower_kernel(lc, n);
    Expr *i;
    if (lc->target->dot4 && yt->dtype == DT_I8 && type_equal(at, yt) && type_equal(bt, yt)) {
        /* Two groups a step (the loop's add, compare and branch spread over
         * eight elements), then a lone group, then the tail. */
        int64_t count = type_numel(yt), groups = count / 4;
        for (int64_t done = 0, per = 2; per > 0; per--) {
            int64_t steps = (groups - done) / per;
            if (steps == 0)
                continue;
            Stmt *s = lower_loop(p, k, k->body, steps, LOOP_PARALLEL, &i);
            for (int64_t g = 0; g < per; g++) {
                Expr *at4 = ex_add(p, ex_muli(p, i, 4 * per), ex_int(p, 4 * (done + g)));
                st_append(p, s, st_store(p, y, at4, ex_qfast4(p, f, ex_load(p, a, at4), ex_load(p, b, at4))));
            }
            done += steps * per;
        }
        if (count > groups * 4) {
            Stmt *s = lower_loop(p, k, k->body, count - groups * 4, LOOP_PARALLEL, &i);
            Expr *at4 = ex_add(p, i, ex_int(p, groups * 4));
            Expr *va = ex_cast(p, DT_I32, ex_load(p, a, at4)), *vb = ex_cast(p, DT_I32, ex_load(p, b, at4));
            st_append(p, s, st_store(p, y, at4, fast_expr(p, f, va, vb, yt->dtype)));
        }
        return true;
    }
    int vars[IR_MAX_RANK];
    Stmt *s = lower_nest(p, k, k->body, yt, vars);
    Expr *idx[IR_MAX_RANK];
    for (int d = 0; d < yt->rank; d++)
        idx[d] = ex_var(p, vars[d]);
    Expr *va = ex_cast(p, DT_I32, ex_load(p, a, lower_bcast_index(p, at, yt, idx)));
    Expr *vb = ex_cast(p, DT_I32, ex_load(p, b, lower_bcast_index(p, bt, yt, idx)));
    st_append(p, s, st_store(p, y, lower_index(p, yt, idx), fast_expr(p, f, va, vb, yt->dtype)));
    return true;
}

/* ------------------------------------------------------------------- qadd */

/* TFLite's fixed-point add (quant_add_mults): both inputs shifted left
 * QADD_SHIFT bits and scaled to a common scale, summed, scaled to y. */
bool lower_qadd(LowerCtx *lc, const Node *n)
{
    Program *p = lc->p;
    const Type *at = ir_in_type(lc->g, n, 0), *bt = ir_in_type(lc->g, n, 1);
    const Type *yt = ir_out_type(lc->g, n, 0);
    QFast f;
    if (quant_fast_init(n, at, bt, yt, &f))
        return lower_qfast(lc, n, &f);
    int a = lower_buf(lc, n->in[0]), b = lower_buf(lc, n->in[1]), y = lower_buf(lc, n->out[0]);
    Kernel *k = lower_kernel(lc, n);
    QMult qa, qb, qy;
    quant_add_mults(at, bt, yt, &qa, &qb, &qy);
    /* The input scalings have no zero point or clamp of their own (sum
     * clamps only in ry); scale_expr reads neither. */
    Requant ra = shared_requant(n, &qa, 0, yt->dtype), rb = shared_requant(n, &qb, 0, yt->dtype);
    Requant ry = shared_requant(n, &qy, quant_zero_at(yt->quant, 0), yt->dtype);

    int vars[IR_MAX_RANK];
    Stmt *s = lower_nest(p, k, k->body, yt, vars);
    Expr *idx[IR_MAX_RANK];
    for (int d = 0; d < yt->rank; d++)
        idx[d] = ex_var(p, vars[d]);
    Expr *av = load_centered(p, a, lower_bcast_index(p, at, yt, idx), quant_zero_at(at->quant, 0));
    Expr *bv = load_centered(p, b, lower_bcast_index(p, bt, yt, idx), quant_zero_at(bt->quant, 0));
    Expr *sa = scale_expr(p, k, s, &ra, ex_bin(p, BIN_MUL, av, i32(p, 1 << QADD_SHIFT)), NULL);
    Expr *sb = scale_expr(p, k, s, &rb, ex_bin(p, BIN_MUL, bv, i32(p, 1 << QADD_SHIFT)), NULL);
    int sum = loop_new_local(p, k, DT_I32, "sum");
    st_append(p, s, st_set(p, sum, ex_bin(p, BIN_ADD, sa, sb)));
    st_append(p, s, st_store(p, y, lower_index(p, yt, idx),
                             requant_expr(p, k, s, &ry, ex_local(p, k, sum), NULL, yt->dtype)));
    return true;
}

/* ---------------------------------------------------------------- qsoftmax */

/* Per row of the last axis: the max, the sum of table[max - x] in 64 bits,
 * then each output zero + table[max - x] * r / (sum * 2^RBITS), rounded half
 * up (quant_softmax_out): integers only, the exp from a 256-entry table. */
bool lower_qsoftmax(LowerCtx *lc, const Node *n)
{
    Program *p = lc->p;
    const Type *xt = ir_in_type(lc->g, n, 0), *yt = ir_out_type(lc->g, n, 0);
    int x = lower_buf(lc, n->in[0]), y = lower_buf(lc, n->out[0]);
    Kernel *k = lower_kernel(lc, n);
    int32_t *table = arena_alloc(p->arena, 256 * sizeof *table);
    quant_softmax_table(quant_scale_at(xt->quant, 0), table);
    int tb = lower_table(p, arena_printf(p->arena, "%s_exp", k->name), DT_I32, 256, table);
    int64_t r = quant_softmax_r(quant_scale_at(yt->quant, 0));
    int32_t zy = quant_zero_at(yt->quant, 0), lo = yt->dtype == DT_U8 ? 0 : -128, hi = yt->dtype == DT_U8 ? 255 : 127;
    int64_t len = xt->dims[xt->rank - 1], rows = type_numel(xt) / (len ? len : 1);

    Expr *row, *i;
    Stmt *s = lower_loop(p, k, k->body, rows, LOOP_PARALLEL, &row);
    int mx = loop_new_local(p, k, DT_I32, "mx"), sum = loop_new_local(p, k, DT_I64, "sum");
    st_append(p, s, st_set(p, mx, i32(p, INT32_MIN)));
    Stmt *l = lower_loop(p, k, s, len, LOOP_REDUCTION, &i);
    st_append(p, l, lower_accumulate(p, k, mx, BIN_MAX, ex_cast(p, DT_I32, ex_load(p, x, ex_add(p, ex_muli(p, row, len), i)))));
    st_append(p, s, st_set(p, sum, i64(p, 0)));
    /* table[max - x], x at index i of the row */
    #define TAB(iv) ex_load(p, tb, ex_cast(p, DT_INDEX, ex_bin(p, BIN_SUB, ex_local(p, k, mx), \
                        ex_cast(p, DT_I32, ex_load(p, x, ex_add(p, ex_muli(p, row, len), (iv)))))))
    l = lower_loop(p, k, s, len, LOOP_REDUCTION, &i);
    st_append(p, l, lower_accumulate(p, k, sum, BIN_ADD, ex_cast(p, DT_I64, TAB(i))));
    int den = loop_new_local(p, k, DT_I64, "den");
    st_append(p, s, st_set(p, den, ex_bin(p, BIN_MUL, ex_local(p, k, sum), i64(p, (int64_t)1 << QSOFTMAX_RBITS))));
    l = lower_loop(p, k, s, len, LOOP_PARALLEL, &i);
    Expr *dv = ex_local(p, k, den);
    Expr *num = ex_bin(p, BIN_MUL, ex_cast(p, DT_I64, TAB(i)), i64(p, r));
    Expr *v = ex_bin(p, BIN_DIV, ex_bin(p, BIN_ADD, num, ex_bin(p, BIN_DIV, dv, i64(p, 2))), dv);
    v = ex_bin(p, BIN_ADD, v, i64(p, zy));
    v = ex_bin(p, BIN_MIN, ex_bin(p, BIN_MAX, v, i64(p, lo)), i64(p, hi));
    #undef TAB
    st_append(p, l, st_store(p, y, ex_add(p, ex_muli(p, row, len), i), ex_cast(p, yt->dtype, v)));
    return true;
}

/* ------------------------------------------------------ qmax_pool, qconcat */

/* The code v (i32, of dtype `in`) as a code of y: quant_rescale. With equal
 * scales only the zero-point shift remains, and only the clamps that shift
 * and [lo, hi] make needed: with equal parameters and no clamp, v itself. */
static Expr *rescale_expr(Program *p, Kernel *k, Stmt *into, const QRescale *rs, const Requant *rq,
                          Expr *v, DType in, DType out)
{
    if (!rs->same)
        return requant_expr(p, k, into, rq, rs->zx ? ex_bin(p, BIN_SUB, v, i32(p, rs->zx)) : v, NULL, out);
    int32_t shift = rs->zy - rs->zx, dlo = in == DT_U8 ? 0 : -128, dhi = in == DT_U8 ? 255 : 127;
    if (shift)
        v = ex_bin(p, BIN_ADD, v, i32(p, shift));
    if (dlo + shift < rq->lo)
        v = ex_bin(p, BIN_MAX, v, i32(p, rq->lo));
    if (dhi + shift > rq->hi)
        v = ex_bin(p, BIN_MIN, v, i32(p, rq->hi));
    return ex_cast(p, out, v);
}

/* The max of the codes over the in-bounds taps (every window has one:
 * inference), then rescaled once. */
bool lower_qmax_pool(LowerCtx *lc, const Node *n)
{
    Geom geo;
    if (!ir_window_geom(lc->ctx, lc->g, n, &geo))
        return false;
    Program *p = lc->p;
    const Type *xt = ir_in_type(lc->g, n, 0), *yt = ir_out_type(lc->g, n, 0);
    int x = lower_buf(lc, n->in[0]), y = lower_buf(lc, n->out[0]);
    Kernel *k = lower_kernel(lc, n);
    int ns = geo.nspatial;
    QRescale rs;
    quant_rescale_init(xt, yt, &rs);
    Requant rq = shared_requant(n, &rs.m, rs.zy, yt->dtype);

    PoolNest pn;
    Stmt *s = lower_pool_outputs(p, k, &geo, xt, &pn);
    int acc = loop_new_local(p, k, DT_I32, "mx");
    st_append(p, s, st_set(p, acc, i32(p, xt->dtype == DT_U8 ? 0 : -128)));
    Stmt *r = lower_open_window(p, k, s, &geo, pn.yi + 1, pn.tap, pn.xi + 1);
    Expr *xe = lower_flat_index(p, 1 + ns, pn.xi, pn.xdims), *ye = lower_flat_index(p, 1 + ns, pn.yi, pn.ydims);
    st_append(p, r, lower_accumulate(p, k, acc, BIN_MAX, ex_cast(p, DT_I32, ex_load(p, x, xe))));
    st_append(p, s, st_store(p, y, ye, rescale_expr(p, k, s, &rs, &rq, ex_local(p, k, acc), xt->dtype,
                                                    yt->dtype)));
    return true;
}

/* Each input's elements stored at their place in y, rescaled to y's
 * parameters (a copy when they are y's, as concat's). */
bool lower_qconcat(LowerCtx *lc, const Node *n)
{
    Program *p = lc->p;
    const Type *yt = ir_out_type(lc->g, n, 0);
    int64_t axis = ir_attr_int(n, "axis");
    if (axis < 0)
        axis += yt->rank;
    Kernel *k = lower_kernel(lc, n);
    int y = lower_buf(lc, n->out[0]);
    int64_t offset = 0;
    for (int i = 0; i < n->nin; i++) {
        const Type *xt = ir_in_type(lc->g, n, i);
        QRescale rs;
        quant_rescale_init(xt, yt, &rs);
        Requant rq = shared_requant(n, &rs.m, rs.zy, yt->dtype);
        int vars[IR_MAX_RANK];
        Stmt *s = lower_nest(p, k, k->body, xt, vars);
        Expr *xi[IR_MAX_RANK], *yi[IR_MAX_RANK];
        for (int d = 0; d < xt->rank; d++)
            xi[d] = yi[d] = ex_var(p, vars[d]);
        yi[axis] = ex_add(p, xi[axis], ex_int(p, offset));
        Expr *v = ex_cast(p, DT_I32, ex_load(p, lower_buf(lc, n->in[i]), lower_index(p, xt, xi)));
        st_append(p, s, st_store(p, y, lower_index(p, yt, yi), rescale_expr(p, k, s, &rs, &rq, v, xt->dtype,
                                                                             yt->dtype)));
        offset += xt->dims[axis];
    }
    return true;
}

/* ------------------------------------------------------------------- qmul */

/* TFLite's reference mul: (a - za) (b - zb), at most 255^2 in magnitude,
 * requantized by sa sb / sy. */
bool lower_qmul(LowerCtx *lc, const Node *n)
{
    Program *p = lc->p;
    const Type *at = ir_in_type(lc->g, n, 0), *bt = ir_in_type(lc->g, n, 1);
    const Type *yt = ir_out_type(lc->g, n, 0);
    QFast f;
    if (quant_fast_init(n, at, bt, yt, &f))
        return lower_qfast(lc, n, &f);
    int a = lower_buf(lc, n->in[0]), b = lower_buf(lc, n->in[1]), y = lower_buf(lc, n->out[0]);
    Kernel *k = lower_kernel(lc, n);
    QMult m;
    quant_out_mult(at, bt, 0, yt, &m);
    Requant rq = shared_requant(n, &m, quant_zero_at(yt->quant, 0), yt->dtype);

    int vars[IR_MAX_RANK];
    Stmt *s = lower_nest(p, k, k->body, yt, vars);
    Expr *idx[IR_MAX_RANK];
    for (int d = 0; d < yt->rank; d++)
        idx[d] = ex_var(p, vars[d]);
    Expr *av = load_centered(p, a, lower_bcast_index(p, at, yt, idx), quant_zero_at(at->quant, 0));
    Expr *bv = load_centered(p, b, lower_bcast_index(p, bt, yt, idx), quant_zero_at(bt->quant, 0));
    st_append(p, s, st_store(p, y, lower_index(p, yt, idx),
                             requant_expr(p, k, s, &rq, ex_bin(p, BIN_MUL, av, bv), NULL, yt->dtype)));
    return true;
}

/* ------------------------------------------------------------------- qlut */

/* y[i] = table[x[i] - min]: one load of x and one of the table (a constant
 * array, in flash on a microcontroller) per element. */
bool lower_qlut(LowerCtx *lc, const Node *n)
{
    Program *p = lc->p;
    const Type *xt = ir_in_type(lc->g, n, 0), *yt = ir_out_type(lc->g, n, 0);
    int x = lower_buf(lc, n->in[0]), t = lower_buf(lc, n->in[1]), y = lower_buf(lc, n->out[0]);
    Kernel *k = lower_kernel(lc, n);
    Expr *i;
    Stmt *s = lower_loop(p, k, k->body, type_numel(yt), LOOP_PARALLEL, &i);
    Expr *code = ex_cast(p, DT_I32, ex_load(p, x, i));
    if (xt->dtype != DT_U8)
        code = ex_bin(p, BIN_ADD, code, i32(p, 128));
    st_append(p, s, st_store(p, y, i, ex_load(p, t, ex_cast(p, DT_INDEX, code))));
    return true;
}
