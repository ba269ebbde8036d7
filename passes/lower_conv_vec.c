/* lower_conv_vec.c: the host form of 2-D conv (dilation 1), register
 * tiles of Loop IR vectors (the comment below); lower_nn.c's conv lowering
 * calls lower_conv_vec first on targets with a vector unit.
 */
#include "passes.h"

#include <assert.h>
#include <math.h>

/* The host form of 2-D conv (dilation 1) on targets with a vector unit,
 * built from Loop IR vectors (struct Expr) so no C compiler has to find the
 * vectors itself. Two register tiles, whose sums stay in vector locals for
 * the whole reduction over input channels and taps:
 *   - pixel lanes: `mb` output channels x `rb` output rows x `pv` vectors
 *     of output pixels along a row. Each tap loads rb*pv input vectors and
 *     broadcasts mb weights, consecutive in a table laid out at compile
 *     time when the weights are constants; the sums store as whole vectors
 *     (NCHW rows are contiguous). Depthwise convs take this form (mb = 1),
 *     their few weights held in registers (vdw_tile).
 *   - channel lanes: `u` vectors of output channels x `q` output pixels,
 *     the classic GEMM micro-kernel: each tap loads u weight vectors from a
 *     table laid out at compile time ([g][ci][kh][kw][m], m padded to whole
 *     vectors with zeros) and broadcasts q input values. A pixel's vector
 *     of channels stores lane by lane (strided in NCHW), a cost paid once
 *     per tile after the whole reduction. Needs constant weights; it serves
 *     small planes of many channels. With padding it reads a padded copy
 *     of the whole input, made at the kernel's start.
 * The padding: a pixel tile of a padded conv over several input channels,
 * or of a strided one, reads a copy of its input rows: chunks of output
 * rows, whose input rows (of every input channel, sized to stay in the L1
 * cache) the kernel copies into a scratch buffer, zeros in the padding,
 * each row split by the phase of the column stride, so that every tile
 * loads plain vectors, the same code at every edge, and every tile of the
 * chunk reuses the copy. A depthwise conv of stride 1, whose tiles would
 * barely reuse a copy, reads x itself: its tiles at the edges sit at
 * constant positions, leave out the taps of rows outside the input and
 * shift the vectors that reach past a row's ends (vx_vec).
 * Partial tiles (channels, rows or pixels that do not fill a tile) are
 * tiles of their own, narrower; only a row whose width is not a whole
 * number of vectors ends in a vector that overlaps the one before it;
 * rows narrower than a vector take narrower vectors (down to 4 lanes).
 * The tile is chosen per conv by vconv_plan's cost model, from the
 * target's vector width, float registers and L1 size. Each sum gets the
 * fused residual and activation before its store (vout). */
typedef struct {
    const Node *n;
    Geom geo;                   /* 2-D, dilation 1 */
    int x, w, b, y, r;          /* graph buffers; b < 0 without a bias, r without a residual */
    int wt;                     /* the weight table, or -1 (pixel form: w) */
    int64_t N, C, M, G, Cg, Mg, KH, KW, SH, SW, OH, OW, P;
    int L;                      /* lanes of a tile's vectors */
    int VL;                     /* lanes of the target's vectors (copies) */
    int R;                      /* the target's float registers */
    /* With `copy`, the tiles read the scratch buffer src, which the kernel
     * fills with the input rows of rc output rows at a time (the pixel
     * form's chunks; the channel form copies whole planes): per input
     * channel of the group, sh rows of nph phases of sw elements, phased
     * (column c at element c / SW of phase c % SW) in the pixel form of a
     * strided conv. Without a copy the tiles read x (src = x, sh and sw
     * its plane, nph 1). The pixel form of a grouped conv copies one
     * group's channels at a time (vcopy_chans), just before its tiles. */
    bool copy, phased;
    int src;
    int64_t rc, sh, sw, nph;
    int64_t mgv, mgp;           /* channel lanes: vectors and padded channels per group */
} VConv;

enum { VFORM_NONE, VFORM_PIX, VFORM_CHAN };

typedef struct {
    int form;
    int a, b, c;                /* pixel: mb, rb, pv; channel: u, q */
    int64_t rc;                 /* pixel form with a copy: output rows per chunk */
    double cost;
} VPlan;

/* Index of the source element in plane `plane` at source row rp and output
 * column ow, tap kw: column ow*SW + kw, or in the phase-split copy column
 * ow + kw / SW of phase kw % SW. */
static Expr *vsrc_index(Program *p, const VConv *v, Expr *plane, Expr *rp, Expr *ow, int64_t kw)
{
    Expr *row = ex_add(p, ex_muli(p, plane, v->sh), rp);
    if (v->phased) {
        row = ex_add(p, ex_muli(p, row, v->nph), ex_int(p, kw % v->SW));
        return ex_add(p, ex_muli(p, row, v->sw), ex_add(p, ow, ex_int(p, kw / v->SW)));
    }
    return ex_add(p, ex_muli(p, row, v->sw), ex_add(p, ex_muli(p, ow, v->SW), ex_int(p, kw)));
}

Expr *lower_vact(Program *p, const Node *n, Expr *v)
{
    double lo = ir_attr_float(n, "act_min"), hi = ir_attr_float(n, "act_max");
    if (!isinf(lo))
        v = ex_bin(p, BIN_MAX, v, ex_bcast(p, ex_flt(p, lo), v->lanes));
    if (!isinf(hi))
        v = ex_bin(p, BIN_MIN, v, ex_bcast(p, ex_flt(p, hi), v->lanes));
    return v;
}

/* What a tile stores at y[yi] for its sum v (a vector, or a lane): v plus
 * the fused residual r[yi] (as many lanes), then the activation. */
static Expr *vout(Program *p, const VConv *v, Expr *yi, Expr *sum)
{
    if (v->r >= 0)
        sum = ex_bin(p, BIN_ADD, sum, sum->lanes > 1 ? ex_vload(p, v->r, yi, sum->lanes) : ex_load(p, v->r, yi));
    return lower_vact(p, v->n, sum);
}

/* The reduction over input channels and its taps (kh, kw): the taps all
 * unrolled in the channel loop's body when they are few, else a loop over
 * kh with kw unrolled. Fills bodies[i]/taps[i] for each unrolled tap. */
typedef struct {
    Expr *ci, *kh;
    int64_t kw;
} VTap;

enum { VCONV_UNROLL_TAPS = 16, VCONV_MAX_ACC = 32, VCONV_MAX_TAPS = 64 };

static int vtaps(Program *p, Kernel *k, Stmt *s, const VConv *v, Stmt **bodies, VTap *taps)
{
    Expr *ci;
    int n = 0;
    int64_t kk = v->KH * v->KW;
    if (kk <= VCONV_UNROLL_TAPS) {
        /* A body of one or two taps also takes the next input channels
         * (up to 4 taps), so the loop's own work is not a third of it. */
        int64_t uf = 1;
        while (uf < 4 && kk * uf * 2 <= 4 && v->Cg % (uf * 2) == 0)
            uf *= 2;
        Stmt *r;
        if (uf > 1) {
            int var = loop_new_var(k);
            Stmt *l = st_for(p, var, ex_int(p, 0), ex_int(p, v->Cg), uf, LOOP_REDUCTION);
            st_append(p, s, l);
            r = l->body;
            ci = ex_var(p, var);
        } else {
            r = lower_loop(p, k, s, v->Cg, LOOP_REDUCTION, &ci);
        }
        for (int64_t u = 0; u < uf; u++)
            for (int64_t kh = 0; kh < v->KH; kh++)
                for (int64_t kw = 0; kw < v->KW; kw++) {
                    bodies[n] = r;
                    taps[n++] = (VTap){ex_add(p, ci, ex_int(p, u)), ex_int(p, kh), kw};
                }
        return n;
    }
    Stmt *r = lower_loop(p, k, s, v->Cg, LOOP_REDUCTION, &ci);
    Expr *khv;
    Stmt *rk = lower_loop(p, k, r, v->KH, LOOP_REDUCTION, &khv);
    for (int64_t kw = 0; kw < v->KW; kw++) {
        bodies[n] = rk;
        taps[n++] = (VTap){ci, khv, kw};
    }
    return n;
}

/* The input vector a pixel tile multiplies for output columns ow + [0, L)
 * at tap kw and source row rp (padded coordinates, oh*SH + kh) of plane
 * `plane`. From the copy, a plain load. From x itself (stride 1 along the
 * row), the padding resolves at constant positions: NULL for a row outside
 * the input or a vector all in the padding (the tap adds nothing there),
 * a load moved by the lanes it reaches past an edge (zeros shifted in)
 * for a vector partly in it; anywhere else a plain load. */
static Expr *vx_vec(Program *p, const VConv *v, Expr *plane, Expr *rp, Expr *ow, int64_t kw)
{
    if (v->copy)
        return ex_vload(p, v->src, vsrc_index(p, v, plane, rp, ow, kw), v->L);
    const Geom *g = &v->geo;
    int64_t H = g->in[0], W = g->in[1], L = v->L;
    Expr *ih = ex_add(p, rp, ex_int(p, -g->pad_begin[0]));
    if (ih->kind == EX_INT && (ih->i < 0 || ih->i >= H))
        return NULL;
    Expr *row = ex_muli(p, ex_add(p, ex_muli(p, plane, H), ih), W);
    Expr *iw = ex_add(p, ow, ex_int(p, kw - g->pad_begin[1]));
    if (iw->kind == EX_INT) {
        int64_t c = iw->i;
        if (c + L <= 0 || c >= W)
            return NULL;
        if (c < 0)
            return ex_vshift(p, ex_vload(p, v->x, row, (int)L), (int)-c);
        if (c + L > W)
            return ex_vshift(p, ex_vload(p, v->x, ex_add(p, row, ex_int(p, W - L)), (int)L),
                             (int)(W - L - c));
    }
    return ex_vload(p, v->x, ex_add(p, row, iw), (int)L);
}

/* Whether a pixel tile of one channel of a depthwise conv keeps the
 * channel's weights in registers (vdw_tile): the taps are few enough to
 * sit beside the sums and one input vector. */
static bool vdw_form(const VConv *v, int mb, int rb, int pv)
{
    int64_t kk = v->KH * v->KW;
    return v->Cg == 1 && mb == 1 && kk <= VCONV_UNROLL_TAPS && kk + rb * pv + 2 <= v->R;
}

/* The depthwise pixel tile (vdw_form): the channel's kk weights broadcast
 * once into registers, then each input vector of the tile's source rows
 * loaded once and multiplied into every sum whose window holds it (up to
 * KH of the tile's rows), rather than loaded again per tap. */
static void vdw_tile(Program *p, Kernel *k, Stmt *s, const VConv *v, Expr *nv, Expr *gv,
                     Expr *m0, Expr *oh0, int rb, Expr *plane0, Expr *row0, Expr **ow, int pv)
{
    int L = v->L, acc[VCONV_MAX_ACC], wl[VCONV_UNROLL_TAPS];
    int64_t kk = v->KH * v->KW;
    Expr *m = ex_add(p, ex_muli(p, gv, v->Mg), m0);
    Expr *init = v->b >= 0 ? ex_bcast(p, ex_load(p, v->b, m), L) : ex_bcast(p, ex_flt(p, 0.0), L);
    for (int i = 0; i < rb * pv; i++) {
        acc[i] = loop_new_vlocal(p, k, "acc", L);
        st_append(p, s, st_set(p, acc[i], init));
    }
    for (int64_t t = 0; t < kk; t++) {
        wl[t] = loop_new_vlocal(p, k, "wv", L);
        st_append(p, s, st_set(p, wl[t], ex_bcast(p, ex_load(p, v->w, ex_add(p, ex_muli(p, m, kk),
                                                                            ex_int(p, t))), L)));
    }
    int xl = loop_new_vlocal(p, k, "xv", L);
    int64_t rows = (rb - 1) * v->SH + v->KH;
    for (int64_t rr = 0; rr < rows; rr++)
        for (int64_t kw = 0; kw < v->KW; kw++)
            for (int vi = 0; vi < pv; vi++) {
                Expr *xv = vx_vec(p, v, plane0, ex_add(p, row0, ex_int(p, rr)), ow[vi], kw);
                if (!xv)
                    continue;
                st_append(p, s, st_set(p, xl, xv));
                for (int ri = 0; ri < rb; ri++) {
                    int64_t kh = rr - ri * v->SH;
                    if (kh < 0 || kh >= v->KH)
                        continue;
                    int a = acc[ri * pv + vi];
                    st_append(p, s, st_set(p, a, ex_muladd(p, ex_local(p, k, wl[kh * v->KW + kw]),
                                                           ex_local(p, k, xl), ex_local(p, k, a))));
                }
            }
    Expr *ym = ex_add(p, ex_muli(p, nv, v->M), m);
    for (int ri = 0; ri < rb; ri++) {
        Expr *row = ex_muli(p, ex_add(p, ex_muli(p, ym, v->OH), ex_add(p, oh0, ex_int(p, ri))), v->OW);
        for (int vi = 0; vi < pv; vi++) {
            Expr *yi = ex_add(p, row, ow[vi]);
            st_append(p, s, st_store(p, v->y, yi, vout(p, v, yi, ex_local(p, k, acc[ri * pv + vi]))));
        }
    }
}

/* Pixel lanes: channels gv*Mg + m0 + [0, mb), rows oh0 + [0, rb) (source
 * row row0 + ri*SH + kh, plane plane0 + ci), vectors at columns ow[0..pv).
 * The weight table (vpix_weight_table) holds blocks of tb channels; mb is
 * a whole number of them, or the one block of the rest. */
static void vpix_tile(Program *p, Kernel *k, Stmt *s, const VConv *v, Expr *nv, Expr *gv,
                      Expr *m0, int mb, int tb, Expr *oh0, int rb, Expr *plane0, Expr *row0,
                      Expr **ow, int pv)
{
    if (vdw_form(v, mb, rb, pv)) {
        vdw_tile(p, k, s, v, nv, gv, m0, oh0, rb, plane0, row0, ow, pv);
        return;
    }
    int L = v->L, acc[VCONV_MAX_ACC], xl[VCONV_MAX_ACC];
    assert(mb * rb * pv <= VCONV_MAX_ACC && rb * pv <= VCONV_MAX_ACC);
    Expr *mbase = ex_add(p, ex_muli(p, gv, v->Mg), m0);
    for (int j = 0; j < mb; j++) {
        Expr *init = v->b >= 0 ? ex_bcast(p, ex_load(p, v->b, ex_add(p, mbase, ex_int(p, j))), L)
                               : ex_bcast(p, ex_flt(p, 0.0), L);
        for (int i = 0; i < rb * pv; i++) {
            acc[j * rb * pv + i] = loop_new_vlocal(p, k, "acc", L);
            st_append(p, s, st_set(p, acc[j * rb * pv + i], init));
        }
    }
    for (int i = 0; i < rb * pv; i++)
        xl[i] = loop_new_vlocal(p, k, "xv", L);
    int wl = loop_new_vlocal(p, k, "wv", L);
    Stmt *bodies[VCONV_MAX_TAPS];
    VTap taps[VCONV_MAX_TAPS];
    int nt = vtaps(p, k, s, v, bodies, taps), kk = (int)(v->KH * v->KW);
    for (int t = 0; t < nt; t++) {
        Stmt *r = bodies[t];
        Expr *plane = ex_add(p, plane0, taps[t].ci);
        bool have[VCONV_MAX_ACC], any = false;
        for (int ri = 0; ri < rb; ri++) {
            Expr *rp = ex_add(p, ex_add(p, row0, ex_int(p, ri * v->SH)), taps[t].kh);
            for (int vi = 0; vi < pv; vi++) {
                Expr *xv = vx_vec(p, v, plane, rp, ow[vi], taps[t].kw);
                have[ri * pv + vi] = xv != NULL;
                any |= xv != NULL;
                if (xv)
                    st_append(p, r, st_set(p, xl[ri * pv + vi], xv));
            }
        }
        if (!any)
            continue;
        /* The tap's weights: runs of tb consecutive floats of the blocked
         * table, or rows of w apart. */
        Expr *tap = ex_add(p, ex_muli(p, ex_add(p, ex_muli(p, taps[t].ci, v->KH), taps[t].kh), v->KW),
                           ex_int(p, taps[t].kw));
        for (int j = 0; j < mb; j++) {
            Expr *wi;
            int bs = mb < tb ? mb : tb; /* the block's channels */
            if (v->wt >= 0)
                wi = ex_add(p, ex_add(p, ex_muli(p, ex_add(p, mbase, ex_int(p, j / bs * bs)), v->Cg * kk),
                                      ex_muli(p, tap, bs)), ex_int(p, j % bs));
            else
                wi = ex_add(p, ex_muli(p, ex_add(p, mbase, ex_int(p, j)), v->Cg * kk), tap);
            st_append(p, r, st_set(p, wl, ex_bcast(p, ex_load(p, v->wt >= 0 ? v->wt : v->w, wi), L)));
            for (int i = 0; i < rb * pv; i++) {
                if (!have[i])
                    continue;
                int a = acc[j * rb * pv + i];
                st_append(p, r, st_set(p, a, ex_muladd(p, ex_local(p, k, wl), ex_local(p, k, xl[i]),
                                                       ex_local(p, k, a))));
            }
        }
    }
    for (int j = 0; j < mb; j++) {
        Expr *ym = ex_add(p, ex_muli(p, nv, v->M), ex_add(p, mbase, ex_int(p, j)));
        for (int ri = 0; ri < rb; ri++) {
            Expr *row = ex_muli(p, ex_add(p, ex_muli(p, ym, v->OH), ex_add(p, oh0, ex_int(p, ri))), v->OW);
            for (int vi = 0; vi < pv; vi++) {
                Expr *yi = ex_add(p, row, ow[vi]);
                Expr *val = vout(p, v, yi, ex_local(p, k, acc[(j * rb + ri) * pv + vi]));
                st_append(p, s, st_store(p, v->y, yi, val));
            }
        }
    }
}

/* Channel lanes: channel vectors mv0 + [0, u) of group gv, pixels p0 +
 * [0, q) of the flattened output plane. */
static void vchan_tile(Program *p, Kernel *k, Stmt *s, const VConv *v, Expr *nv, Expr *gv,
                       Expr *mv0, int u, Expr *p0, int q)
{
    int L = v->L, acc[VCONV_MAX_ACC], wl[VCONV_MAX_ACC], xq[VCONV_MAX_ACC];
    assert(u * q <= VCONV_MAX_ACC);
    /* A vector of channels all inside the group (all of them in a loop)
     * starts at its bias vector and is activated whole; a partial one
     * (at a constant position) adds its bias lane by lane. */
    bool whole[VCONV_MAX_ACC];
    for (int i = 0; i < u; i++)
        whole[i] = mv0->kind != EX_INT || (mv0->i + i + 1) * L <= v->Mg;
    for (int i = 0; i < u * q; i++) {
        acc[i] = loop_new_vlocal(p, k, "acc", L);
        Expr *m = ex_add(p, ex_muli(p, gv, v->Mg), ex_muli(p, ex_add(p, mv0, ex_int(p, i / q)), L));
        Expr *init = v->b >= 0 && whole[i / q] ? ex_vload(p, v->b, m, L) : ex_bcast(p, ex_flt(p, 0.0), L);
        st_append(p, s, st_set(p, acc[i], init));
    }
    for (int i = 0; i < u; i++)
        wl[i] = loop_new_vlocal(p, k, "wv", L);
    int xb = loop_new_vlocal(p, k, "xv", L);
    /* Each pixel's first element (channel 0 of the group, tap 0), once per
     * tile. */
    Expr *plane0 = v->copy ? ex_muli(p, gv, v->Cg)
                           : ex_add(p, ex_muli(p, nv, v->C), ex_muli(p, gv, v->Cg));
    for (int j = 0; j < q; j++) {
        Expr *pix = ex_add(p, p0, ex_int(p, j));
        Expr *oh = ex_bin(p, BIN_DIV, pix, ex_int(p, v->OW));
        Expr *ow = ex_bin(p, BIN_MOD, pix, ex_int(p, v->OW));
        xq[j] = loop_new_local(p, k, DT_INDEX, "xq");
        st_append(p, s, st_set(p, xq[j], vsrc_index(p, v, plane0, ex_muli(p, oh, v->SH), ow, 0)));
    }
    Stmt *bodies[VCONV_MAX_TAPS];
    VTap taps[VCONV_MAX_TAPS];
    int nt = vtaps(p, k, s, v, bodies, taps);
    for (int t = 0; t < nt; t++) {
        Stmt *r = bodies[t];
        Expr *tap = ex_add(p, ex_muli(p, ex_add(p, ex_muli(p, ex_add(p, ex_muli(p, gv, v->Cg),
                                                                     taps[t].ci), v->KH),
                                                taps[t].kh), v->KW), ex_int(p, taps[t].kw));
        for (int i = 0; i < u; i++) {
            Expr *wi = ex_add(p, ex_muli(p, tap, v->mgp), ex_muli(p, ex_add(p, mv0, ex_int(p, i)), L));
            st_append(p, r, st_set(p, wl[i], ex_vload(p, v->wt, wi, L)));
        }
        /* The tap's offset from a pixel's first element: ci planes, kh rows, kw. */
        Expr *off = ex_add(p, ex_muli(p, ex_add(p, ex_muli(p, taps[t].ci, v->sh), taps[t].kh), v->sw),
                           ex_int(p, taps[t].kw));
        for (int j = 0; j < q; j++) {
            Expr *xi = ex_add(p, ex_local(p, k, xq[j]), off);
            st_append(p, r, st_set(p, xb, ex_bcast(p, ex_load(p, v->src, xi), L)));
            for (int i = 0; i < u; i++) {
                int a = acc[i * q + j];
                st_append(p, r, st_set(p, a, ex_muladd(p, ex_local(p, k, wl[i]), ex_local(p, k, xb),
                                                       ex_local(p, k, a))));
            }
        }
    }
    /* Lane by lane: channel m of pixel p0 + j. Lanes past the group's
     * channels (a partial last vector, whose weights are zeros) are not
     * stored; only a tile at a constant position holds them. */
    /* Activated whole unless a residual, one per lane, comes first. */
    for (int i = 0; i < u * q; i++)
        if (whole[i / q] && v->r < 0)
            st_append(p, s, st_set(p, acc[i], lower_vact(p, v->n, ex_local(p, k, acc[i]))));
    for (int i = 0; i < u; i++)
        for (int l = 0; l < L; l++) {
            Expr *m = ex_add(p, ex_muli(p, ex_add(p, mv0, ex_int(p, i)), L), ex_int(p, l));
            if (m->kind == EX_INT && m->i >= v->Mg)
                continue;
            Expr *ym = ex_add(p, ex_muli(p, gv, v->Mg), m);
            for (int j = 0; j < q; j++) {
                Expr *val = ex_lane(p, ex_local(p, k, acc[i * q + j]), l);
                Expr *yi = ex_add(p, ex_muli(p, ex_add(p, ex_muli(p, nv, v->M), ym), v->P),
                                  ex_add(p, p0, ex_int(p, j)));
                if (!whole[i] || v->r >= 0) {
                    if (!whole[i] && v->b >= 0)
                        val = lower_add(p, val, ex_load(p, v->b, ym));
                    val = vout(p, v, yi, val);
                }
                st_append(p, s, st_store(p, v->y, yi, val));
            }
        }
}

/* ------------------------------------------------------ the tile's plan */

/* The cost of one tile, in multiply-add issue slots: per tap, one slot per
 * vector sum, one per load (a vector of x, aligned to nothing, often spans
 * two cache lines: 2), and no fewer than half the float registers: a chain
 * of dependent multiply-adds needs about that many independent sums in
 * flight to issue one per slot (an FMA's latency times the FMA units).
 * Then `stores` slots after the reduction, and a few for the tile's loop. */
static double vtile_cost(const Target *tg, int64_t taps, int acc, double loads, double stores)
{
    double step = acc > loads ? acc : loads;
    double floor_acc = tg->float_regs / 2.0;
    step = step > floor_acc ? step : floor_acc;
    return (double)taps * step + stores + 4.0;
}

/* Whether some tap reads outside the input (padding, or a window past the
 * end): the pixel form then reads a copy, the channel form is not used. */
static bool vneeds_pad(const VConv *v)
{
    const Geom *g = &v->geo;
    return g->pad_begin[0] > 0 || g->pad_begin[1] > 0 || (v->OH - 1) * v->SH + v->KH > g->in[0] ||
           (v->OW - 1) * v->SW + v->KW > g->in[1];
}

/* Whether the pixel form reads a copy of its input rows: a strided conv
 * (the copy splits the columns by phase), and a padded one unless it is
 * depthwise with rows of at least a vector and its taps unrolled (vx_vec
 * then resolves the padding tap by tap; it needs each tap's source row as a
 * constant, which a loop over kh does not give). A depthwise conv does 9
 * multiply-adds per element
 * it would copy, and the copy took 40% of its time (32 planes of 24 x
 * 24); a conv over many input channels reuses the copy across every
 * output channel, and its tiles ran 25% slower on x itself (16 planes of
 * 32 x 32: the edge tiles' shifts cost registers). */
static bool vpix_copies(const VConv *v)
{
    return v->SW > 1 || (vneeds_pad(v) && (v->Cg > 1 || v->geo.in[1] < v->L ||
                                            v->KH * v->KW > VCONV_UNROLL_TAPS));
}

/* The input channels the pixel form's copy holds: a grouped conv's tiles
 * read their group's alone, so it copies those just before them (all of a
 * depthwise conv's channels overflowed the L1 cache: its 16 planes of 48
 * x 48, stride 2, in chunks of 11 rows took 35 KB, and ran at half the
 * speed of a copy per channel); other convs copy every channel. */
static int64_t vcopy_chans(const VConv *v)
{
    return v->G > 1 ? v->Cg : v->C;
}

/* The pixel form's copy layout (sw, nph) for v, and the output rows per
 * chunk for tiles of rb rows: as many as keep a chunk's rows of the copied
 * channels in half the L1 cache, a whole number of tiles. */
static int64_t vchunk_rows(const Target *tg, const VConv *v, int rb, int64_t *sw, int64_t *nph)
{
    int64_t wp = (v->OW - 1) * v->SW + v->KW;
    *nph = v->SW > 1 ? (v->SW < v->KW ? v->SW : v->KW) : 1;
    *sw = (wp + v->SW - 1) / v->SW;
    int64_t budget = (tg->l1_bytes > 0 ? tg->l1_bytes : 32768) / 2;
    int64_t rows = budget / (4 * vcopy_chans(v) * *nph * *sw); /* input rows that fit */
    int64_t rc = rows >= v->KH ? (rows - v->KH) / v->SH + 1 : 1;
    rc = rc / rb * rb;
    rc = rc > rb ? rc : rb;
    return rc < v->OH ? rc : v->OH;
}

/* What a load of `lanes` weights costs, in load slots: one from a table
 * that the L1 cache holds; from one it does not, four more per 32 bytes,
 * since every tile streams its channels' weights again from further out
 * (a 256 -> 256 channel pointwise conv of 3 x 3 pixels ran at half the
 * speed of the 6 x 6 ones, its 256 KB of weights read once per tile of 3
 * pixels; the channel form of a 64-channel 3 x 3 conv of 8 x 8 pixels,
 * reading its 144 KB once per 4 pixels, at 75% of the pixel form's). */
static double vweight_load(const Target *tg, const VConv *v, int lanes)
{
    int64_t bytes = 4 * v->M * v->Cg * v->KH * v->KW;
    return bytes <= (tg->l1_bytes > 0 ? tg->l1_bytes : 32768) ? 1.0 : 1.0 + lanes / 2.0;
}

/* How many blocks of mb channels the tiles of a row's last vectors (after
 * its tiles of pv vectors) take together: those vectors are fewer, and a
 * tile of mb channels x fewer vectors holds too few sums to hide the
 * multiply-add latency (4 x 1 vectors of a 128-channel 6 x 6 pointwise
 * conv beside its 4 x 2 tiles). As many blocks as keep the sums within a
 * whole tile's, dividing the group's whole blocks; 1 when no tile of pv
 * vectors fits in a row. */
static int vtail_blocks(const VConv *v, int mb, int rb, int pv)
{
    int64_t ntw = v->OW / v->L / pv, wv = (v->OW + v->L - 1) / v->L, nb = v->Mg / mb;
    int64_t pvt = wv - ntw * pv;
    if (ntw == 0 || pvt <= 0)
        return 1;
    for (int64_t f = pv / pvt; f > 1; f--)
        if (nb % f == 0 && f * mb * rb * pvt <= VCONV_MAX_ACC)
            return (int)f;
    return 1;
}

static double vpix_cost(const Target *tg, const VConv *v, int mb, int rb, int pv)
{
    int L = v->L;
    /* As vpix_kernel: channels and rows in whole tiles then the rest; along
     * a row, whole vectors in tiles of pv, then the rest with any partial
     * vector (a whole load) in one tile. */
    int64_t fm = v->Mg / mb, rm = v->Mg % mb, fr = v->OH / rb, rr = v->OH % rb;
    int64_t fw = v->OW / L / pv, rw = (v->OW + L - 1) / L - fw * pv;
    int64_t taps = v->Cg * v->KH * v->KW;
    double cost = 0;
    int64_t cm[2] = {fm, rm ? 1 : 0}, cr[2] = {fr, rr ? 1 : 0}, cw[2] = {fw, rw ? 1 : 0};
    int sm[2] = {mb, (int)rm}, sr[2] = {rb, (int)rr}, sw[2] = {pv, (int)rw};
    int tf = vtail_blocks(v, mb, rb, pv);
    for (int a = 0; a < 2; a++)
        for (int b = 0; b < 2; b++)
            for (int c = 0; c < 2; c++) {
                int f = a == 0 && c == 1 ? tf : 1; /* blocks a tile takes (vpix_chunk) */
                int64_t count = cm[a] / f * cr[b] * cw[c];
                if (!count)
                    continue;
                int acc = f * sm[a] * sr[b] * sw[c];
                double loads = 2.0 * sr[b] * sw[c] + f * sm[a] * vweight_load(tg, v, 1);
                if (vdw_form(v, f * sm[a], sr[b], sw[c])) /* each input vector once, weights once */
                    loads = (2.0 * (double)(((sr[b] - 1) * v->SH + v->KH) * v->KW * sw[c]) +
                             (double)taps) / (double)taps;
                cost += (double)count * vtile_cost(tg, taps, acc, loads, acc);
            }
    /* The copy: a load and a store per element, in vectors along a
     * contiguous row (stride 1), one by one across phases. */
    if (vpix_copies(v)) {
        int64_t cw_, nph, rc = vchunk_rows(tg, v, rb, &cw_, &nph);
        int64_t chunks = (v->OH + rc - 1) / rc;
        double rows = (double)((rc - 1) * v->SH + v->KH);
        double elems = (double)chunks * rows * (double)(v->C * nph * cw_);
        cost += elems * (v->SW > 1 ? 1.0 : 2.0 / L) / (double)v->G;
    }
    return cost * (double)(v->N * v->G);
}

static double vchan_cost(const Target *tg, const VConv *v, int u, int q)
{
    int64_t fu = v->Mg / v->L / u * u; /* as vchan_kernel: whole blocks of full vectors */
    int64_t cu[2] = {fu / u, v->mgv > fu ? 1 : 0}, cq[2] = {v->P / q, v->P % q ? 1 : 0};
    int su[2] = {u, (int)(v->mgv - fu)}, sq[2] = {q, (int)(v->P % q)};
    int64_t taps = v->Cg * v->KH * v->KW;
    double cost = 0;
    for (int a = 0; a < 2; a++)
        for (int b = 0; b < 2; b++) {
            int64_t count = cu[a] * cq[b];
            if (!count)
                continue;
            int acc = su[a] * sq[b];
            /* A stored lane is an extract and a scalar store, to a line of
             * its own: 1.5 cycles (a 16 -> 32 channel conv of 16 x 16
             * pixels, stride 2, ran 20% slower in this form than in the
             * pixel form, which a cycle per lane rated as fast). */
            double loads = su[a] * vweight_load(tg, v, v->L) + sq[b];
            cost += (double)count * vtile_cost(tg, taps, acc, loads, 3.0 * acc * v->L);
        }
    return cost * (double)(v->N * v->G);
}

/* The cheapest tile over both forms whose sums, the input vectors a tap
 * keeps and a broadcast leave a float register spare, with at most half
 * the float registers in sums: that many already hide the multiply-add
 * latency (vtile_cost), and GCC spilled bigger tiles' sums in some convs
 * (a 6 x 2 x 1 tile of a 64-channel 8 x 8 conv at 60% of 4 x 2 x 1, which
 * LLVM ran at the same speed). */
static VPlan vconv_plan(const Target *tg, const VConv *v, bool chan_ok)
{
    VPlan best = {.form = VFORM_NONE};
    int R = tg->float_regs, L = v->L;
    int64_t wvec = (v->OW + L - 1) / L;
    if (v->OW >= L) {
        bool copy = vpix_copies(v);
        for (int mb = 1; mb <= v->Mg && mb < R; mb++)
            for (int rb = 1; rb <= v->OH && rb < R; rb++)
                for (int pv = 1; pv <= wvec && pv < R; pv++) {
                    int acc = mb * rb * pv;
                    if ((!vdw_form(v, mb, rb, pv) && acc + rb * pv + 2 > R) || acc > R / 2 ||
                        acc > VCONV_MAX_ACC)
                        continue;
                    double c = vpix_cost(tg, v, mb, rb, pv);
                    if (best.form == VFORM_NONE || c < best.cost) {
                        int64_t sw, nph;
                        best = (VPlan){VFORM_PIX, mb, rb, pv, 0, c};
                        best.rc = copy ? vchunk_rows(tg, v, rb, &sw, &nph) : 0;
                    }
                }
    }
    if (chan_ok) {
        /* The copy of whole padded planes: vectors of a load and a store. */
        double copy = 0;
        if (vneeds_pad(v))
            copy = (double)(v->N * v->C * ((v->OH - 1) * v->SH + v->KH) *
                            ((v->OW - 1) * v->SW + v->KW)) * 2.0 / L;
        for (int u = 1; u <= v->mgv && u < R; u++)
            for (int q = 1; q <= v->P && q < R; q++) {
                int acc = u * q;
                /* One vector of weights a tap keeps no GCC spill of the
                 * sums seen: up to a register spare. */
                if (acc + u + 3 > R || (u > 1 && acc > R / 2) || acc > VCONV_MAX_ACC)
                    continue;
                double c = vchan_cost(tg, v, u, q) + copy;
                if (best.form == VFORM_NONE || c < best.cost)
                    best = (VPlan){VFORM_CHAN, u, q, 0, 0, c};
            }
    }
    return best;
}

/* ---------------------------------------------------------- the kernels */

/* The vl elements src[s0 + 2j + 2l] (l < vl), loaded as two vectors from
 * s0 + 2j - back (back 0 or 1) and unzipped from lane `back`. */
static Expr *vload_stride2(Program *p, int src, Expr *s0, Expr *j, int back, int vl)
{
    Expr *at = ex_add(p, ex_add(p, s0, ex_muli(p, j, 2)), ex_int(p, -back));
    return ex_vunzip(p, ex_vload(p, src, at, vl), ex_vload(p, src, ex_add(p, at, ex_int(p, vl)), vl), back);
}

/* dst[d0 + j] = src[s0 + j*step] (src < 0: 0) for j in [0, n): whole
 * vectors of vl lanes where contiguous or of step 2 (two loads unzipped),
 * the last one overlapping the one before it, else one element at a time.
 * `over`: how many elements of src past the last one copied may be read
 * (a vector of step 2 reads one past its last element; without that, the
 * run's last vector reads one before its first instead). */
static void vcopy_run(Program *p, Kernel *k, Stmt *into, int dst, Expr *d0, int src, Expr *s0,
                      int64_t n, int64_t step, int64_t over, int vl)
{
    if (n <= 0)
        return;
    bool unzip = step == 2 && src >= 0;
    if ((step == 1 || src < 0 || (unzip && (over > 0 || n > vl))) && n >= vl) {
        Expr *j;
        /* The vectors of the loop; with step 2 and nothing to read past
         * the end, none that reaches the last element. */
        int64_t whole = unzip && over <= 0 ? (n - 1) / vl * vl : n / vl * vl;
        for (int part = 0; part < 2; part++) {
            Stmt *b = into;
            if (part == 0 && whole > 0) {
                b = lower_step_loop(p, k, into, 0, whole, vl, LOOP_PARALLEL, &j);
            } else if (part == 1 && whole < n) {
                j = ex_int(p, n - vl);
            } else {
                continue;
            }
            Expr *val;
            if (src < 0)
                val = ex_bcast(p, ex_flt(p, 0.0), vl);
            else if (unzip)
                val = vload_stride2(p, src, s0, j, part == 1 && over <= 0, vl);
            else
                val = ex_vload(p, src, ex_add(p, s0, j), vl);
            st_append(p, b, st_store(p, dst, ex_add(p, d0, j), val));
        }
        return;
    }
    Expr *j;
    Stmt *l = lower_loop(p, k, into, n, LOOP_PARALLEL, &j);
    Expr *val = src >= 0 ? ex_load(p, src, ex_add(p, s0, ex_muli(p, j, step))) : ex_flt(p, 0.0);
    st_append(p, l, st_store(p, dst, ex_add(p, d0, j), val));
}

/* Copies the input rows of output rows oc + [0, cs) of image nv into the
 * scratch: the input channels of group gv, or every one (gv NULL). Source
 * row r is input row oc*SH + r - pad_top, and element j of phase ph input
 * column j*SW + ph - pad_left (phased; else j - pad_left); zeros outside
 * the input. */
static void vpix_copy(Program *p, Kernel *k, Stmt *s, const VConv *v, Expr *nv, Expr *gv, Expr *oc,
                      int64_t cs)
{
    const Geom *g = &v->geo;
    int64_t H = g->in[0], W = g->in[1], pt = g->pad_begin[0], pl = g->pad_begin[1];
    int64_t rows = (cs - 1) * v->SH + v->KH, step = v->phased ? v->SW : 1;
    Expr *c, *r;
    Stmt *sc = lower_loop(p, k, s, gv ? v->Cg : v->C, LOOP_PARALLEL, &c);
    Stmt *sr = lower_loop(p, k, sc, rows, LOOP_PARALLEL, &r);
    Expr *plane = ex_add(p, ex_muli(p, nv, v->C), gv ? ex_add(p, ex_muli(p, gv, v->Cg), c) : c);
    Expr *ih = ex_add(p, ex_muli(p, oc, v->SH), ex_add(p, r, ex_int(p, -pt)));
    Expr *inside = ex_bin(p, BIN_AND, ex_bin(p, BIN_GE, ih, ex_int(p, 0)),
                          ex_bin(p, BIN_LT, ih, ex_int(p, H)));
    Stmt *data = st_block(p), *zero = st_block(p);
    st_append(p, sr, st_if(p, inside, data, zero));
    Expr *srow = ex_muli(p, ex_add(p, ex_muli(p, plane, H), ih), W);
    for (int64_t ph = 0; ph < v->nph; ph++) {
        Expr *row = ex_muli(p, ex_add(p, ex_muli(p, ex_add(p, ex_muli(p, c, v->sh), r), v->nph),
                                      ex_int(p, ph)), v->sw);
        /* The elements j of this phase inside the input: [jlo, jhi). */
        int64_t jlo = pl - ph > 0 ? (pl - ph + step - 1) / step : 0;
        int64_t jhi = W + pl - ph > 0 ? (W + pl - ph + step - 1) / step : 0;
        jlo = jlo < v->sw ? jlo : v->sw;
        jhi = jhi < v->sw ? jhi : v->sw;
        jhi = jhi > jlo ? jhi : jlo;
        /* Input columns past the last one copied, in the row. */
        int64_t over = W - 1 - ((jhi - 1) * step + ph - pl);
        vcopy_run(p, k, data, v->src, row, -1, NULL, jlo, 1, 0, v->VL);
        vcopy_run(p, k, data, v->src, ex_add(p, row, ex_int(p, jlo)), v->x,
                  ex_add(p, srow, ex_int(p, jlo * step + ph - pl)), jhi - jlo, step, over, v->VL);
        vcopy_run(p, k, data, v->src, ex_add(p, row, ex_int(p, jhi)), -1, NULL, v->sw - jhi, 1, 0, v->VL);
        vcopy_run(p, k, zero, v->src, row, -1, NULL, v->sw, 1, 0, v->VL);
    }
}

/* The weight table of the channel form: wt[((g*Cg + ci)*KH + kh)*KW + kw]
 * [m] = w[g*Mg + m][ci][kh][kw], m padded to mgp with zeros. */
static int vchan_weight_table(LowerCtx *lc, const VConv *v, const float *w)
{
    int64_t taps = v->G * v->Cg * v->KH * v->KW, kk = v->KH * v->KW;
    float *t = arena_alloc(lc->p->arena, sizeof *t * (size_t)(taps * v->mgp) + 1);
    for (int64_t g = 0; g < v->G; g++)
        for (int64_t m = 0; m < v->Mg; m++)
            for (int64_t ci = 0; ci < v->Cg; ci++)
                for (int64_t tk = 0; tk < kk; tk++) {
                    int64_t row = (g * v->Cg + ci) * kk + tk;
                    t[row * v->mgp + m] = w[((g * v->Mg + m) * v->Cg + ci) * kk + tk];
                }
    return lower_table(lc->p, "wt", DT_F32, taps * v->mgp, t);
}

/* The weight table of the pixel form: output channels in blocks of mb (the
 * last block of a group the rest), each block [ci][kh][kw][its channels],
 * at the offset of its first channel times Cg*KH*KW: a tile's weights for
 * a tap are consecutive. */
static int vpix_weight_table(LowerCtx *lc, const VConv *v, const float *w, int mb)
{
    int64_t per = v->Cg * v->KH * v->KW;
    float *t = arena_alloc(lc->p->arena, sizeof *t * (size_t)(v->M * per) + 1);
    for (int64_t g = 0; g < v->G; g++)
        for (int64_t m0 = 0; m0 < v->Mg; m0 += mb) {
            int64_t n = v->Mg - m0 < mb ? v->Mg - m0 : mb, base = (g * v->Mg + m0) * per;
            for (int64_t j = 0; j < n; j++)
                for (int64_t i = 0; i < per; i++)
                    t[base + i * n + j] = w[(g * v->Mg + m0 + j) * per + i];
        }
    return lower_table(lc->p, "wp", DT_F32, v->M * per, t);
}

/* The tiles of output rows oc + [0, cs) (a chunk, after its copy). */
/* Tiles t in [0, n) start at t*step; *t0 and *t1 bound the run of them
 * whose windows lie inside the input (always all of them when the tiles
 * read a copy): those run as a loop, the others at constant positions,
 * where vx_vec resolves the padding tap by tap. */
static void vinterior(const VConv *v, int dim, int64_t n, int64_t step, int64_t size, int64_t *t0,
                      int64_t *t1)
{
    *t0 = 0, *t1 = n;
    if (v->copy)
        return;
    const Geom *g = &v->geo;
    int64_t s = dim ? v->SW : v->SH, k = dim ? v->KW : v->KH, pad = g->pad_begin[dim];
    while (*t0 < n && *t0 * step * s - pad < 0)
        (*t0)++;
    while (*t1 > *t0 && ((*t1 - 1) * step + size - 1) * s + k - 1 - pad >= g->in[dim])
        (*t1)--;
    if (*t1 <= *t0)
        *t0 = *t1 = n;
}

/* Runs `emit` for tiles [0, n): the interior run (vinterior) as a loop,
 * the rest one by one. Returns the statements' blocks and tile starts. */
typedef struct {
    Stmt *body;
    Expr *start;
} VSite;

static int vsites(Program *p, Kernel *k, Stmt *s, const VConv *v, int dim, int64_t base, int64_t n,
                  int64_t step, int64_t size, VSite *out)
{
    int64_t t0, t1;
    vinterior(v, dim, n, step, size, &t0, &t1);
    int m = 0;
    for (int64_t t = 0; t < n; t++) {
        if (t == t0 && t1 > t0) {
            Expr *var;
            Stmt *body = lower_step_loop(p, k, s, base + t0 * step, base + t1 * step, step, LOOP_PARALLEL,
                                         &var);
            out[m++] = (VSite){body, var};
            t = t1 - 1;
            continue;
        }
        out[m++] = (VSite){s, ex_int(p, base + t * step)};
    }
    return m;
}

/* The tiles of output rows oc + [0, cs) (a chunk, after its copy). */
static void vpix_chunk(Program *p, Kernel *k, Stmt *s, const VConv *v, const VPlan *pl, Expr *nv,
                       Expr *gv, Expr *oc, int64_t cs)
{
    int L = v->L;
    int64_t fm = v->Mg / pl->a * pl->a;
    int64_t fullv = v->OW / L, wv = (v->OW + L - 1) / L;
    int64_t ntw = fullv / pl->c; /* column tiles of whole vectors; the rest after them */
    int tf = vtail_blocks(v, pl->a, pl->b, pl->c);
    /* Passes over the channels: whole blocks of pl->a (the last vectors
     * of a row too, unless tf blocks take them together after), the rest
     * of the channels, and the last vectors of tf blocks at a time. */
    struct {
        int64_t lo, hi;
        int mb;
        bool full, last;
    } ps[3] = {{0, fm, pl->a, true, tf == 1},
               {fm, v->Mg, (int)(v->Mg - fm), true, true},
               {0, tf > 1 ? fm : 0, tf * pl->a, false, true}};
    /* The row tiles of a chunk: whole tiles, then the rest. Sites at
     * constant rows only in a chunk at a constant row (without a copy the
     * whole plane is the one chunk). */
    int64_t ntr = cs / pl->b, rest = cs % pl->b;
    VSite *rows = arena_alloc(p->arena, sizeof *rows * (size_t)(ntr + 2));
    VSite *cols = arena_alloc(p->arena, sizeof *cols * (size_t)(ntw + 2));
    for (int a = 0; a < 3; a++) {
        if (ps[a].lo >= ps[a].hi || (!ps[a].last && ntw == 0) || (!ps[a].full && wv == ntw * pl->c))
            continue;
        int mb = ps[a].mb;
        Expr *m0;
        Stmt *sm = lower_step_loop(p, k, s, ps[a].lo, ps[a].hi, mb, LOOP_PARALLEL, &m0);
        int nr = vsites(p, k, sm, v, 0, 0, ntr, pl->b, pl->b, rows);
        if (rest)
            rows[nr++] = (VSite){sm, ex_int(p, ntr * pl->b)};
        for (int i = 0; i < nr; i++) {
            int rb = i == nr - 1 && rest ? (int)rest : pl->b;
            Expr *r0 = rows[i].start; /* the tile's first row in the chunk */
            Expr *oh0 = ex_add(p, oc, r0), *plane0, *row0;
            if (v->copy) {
                /* The copy holds the group's channels, or all of them. */
                plane0 = vcopy_chans(v) < v->C ? ex_int(p, 0) : ex_muli(p, gv, v->Cg);
                row0 = ex_muli(p, r0, v->SH);
            } else {
                plane0 = ex_add(p, ex_muli(p, nv, v->C), ex_muli(p, gv, v->Cg));
                row0 = ex_muli(p, oh0, v->SH);
            }
            Expr *ow[VCONV_MAX_ACC];
            if (ps[a].full) {
                int nc = vsites(p, k, rows[i].body, v, 1, 0, ntw, (int64_t)pl->c * L, (int64_t)pl->c * L,
                                cols);
                for (int j = 0; j < nc; j++) {
                    for (int c = 0; c < pl->c; c++)
                        ow[c] = ex_add(p, cols[j].start, ex_int(p, (int64_t)c * L));
                    vpix_tile(p, k, cols[j].body, v, nv, gv, m0, mb, pl->a, oh0, rb, plane0, row0, ow,
                              pl->c);
                }
            }
            if (ps[a].last && wv > ntw * pl->c) {
                /* The last vectors; a partial one ends at the row's end,
                 * overlapping the vector before it. */
                int pv = (int)(wv - ntw * pl->c);
                for (int c = 0; c < pv; c++)
                    ow[c] = ex_int(p, c == pv - 1 ? v->OW - L : (ntw * pl->c + c) * L);
                vpix_tile(p, k, rows[i].body, v, nv, gv, m0, mb, pl->a, oh0, rb, plane0, row0, ow, pv);
            }
        }
    }
}

static void vpix_kernel(LowerCtx *lc, const VConv *v, const VPlan *pl)
{
    Program *p = lc->p;
    Kernel *k = lower_kernel(lc, v->n);
    /* Each output stored once, r read there (vout): y may take r's place,
     * unless a row's last vector overlaps the one before (stored twice,
     * r read again after its first store). */
    if (v->OW % v->L == 0)
        lower_conv_inplace(k, v->r, v->x, v->y);
    Expr *nv, *gv = NULL;
    Stmt *s = lower_loop(p, k, k->body, v->N, LOOP_PARALLEL, &nv);
    /* A copy per group (vcopy_chans): the group loop outside the chunks. */
    bool gcopy = v->copy && vcopy_chans(v) < v->C;
    if (gcopy)
        s = lower_loop(p, k, s, v->G, LOOP_PARALLEL, &gv);
    int64_t rc = v->copy ? v->rc : v->OH, fc = v->OH / rc * rc;
    int64_t cr[3] = {0, fc, v->OH};
    for (int c = 0; c < 2; c++) {
        if (cr[c] >= cr[c + 1])
            continue;
        int64_t cs = c ? cr[2] - cr[1] : rc;
        Expr *oc;
        Stmt *sc = lower_step_loop(p, k, s, cr[c], cr[c + 1], cs, LOOP_PARALLEL, &oc);
        if (v->copy)
            vpix_copy(p, k, sc, v, nv, gv, oc, cs);
        Stmt *sg = sc;
        if (!gcopy)
            sg = lower_loop(p, k, sc, v->G, LOOP_PARALLEL, &gv);
        vpix_chunk(p, k, sg, v, pl, nv, gv, oc, cs);
    }
}

static void vchan_kernel(LowerCtx *lc, const VConv *v, const VPlan *pl)
{
    Program *p = lc->p;
    Kernel *k = lower_kernel(lc, v->n);
    lower_conv_inplace(k, v->r, v->x, v->y); /* each output stored once, r read there (vout) */
    Expr *nv, *gv;
    Stmt *s = lower_loop(p, k, k->body, v->N, LOOP_PARALLEL, &nv);
    if (v->copy)
        vpix_copy(p, k, s, v, nv, NULL, ex_int(p, 0), v->OH);
    s = lower_loop(p, k, s, v->G, LOOP_PARALLEL, &gv);
    /* Channel vectors: whole blocks of u full vectors in a loop, the rest
     * (with any partial vector) at a constant position. */
    int64_t fu = v->Mg / v->L / pl->a * pl->a;
    int64_t ur[3] = {0, fu, v->mgv}, pr[3] = {0, v->P / pl->b * pl->b, v->P};
    for (int a = 0; a < 2; a++) {
        if (ur[a] >= ur[a + 1])
            continue;
        Stmt *su = s;
        Expr *mv0;
        int u = pl->a;
        if (a == 0) {
            su = lower_step_loop(p, k, s, ur[0], ur[1], u, LOOP_PARALLEL, &mv0);
        } else {
            mv0 = ex_int(p, ur[1]);
            u = (int)(ur[2] - ur[1]);
        }
        for (int b = 0; b < 2; b++) {
            if (pr[b] >= pr[b + 1])
                continue;
            int q = b ? (int)(pr[2] - pr[1]) : pl->b;
            Expr *p0;
            Stmt *sp = lower_step_loop(p, k, su, pr[b], pr[b + 1], q, LOOP_PARALLEL, &p0);
            vchan_tile(p, k, sp, v, nv, gv, mv0, u, p0, q);
        }
    }
}

/* The vector form, when the target has vectors and a tile fits; false
 * (nothing emitted) otherwise. */
bool lower_conv_vec(LowerCtx *lc, const Node *n, const Geom *gp)
{
    const Target *tg = lc->target;
    int L = tg->vector_bytes / 4;
    if (L < 4 || L > ETCH_MAX_LANES || tg->float_regs < 8)
        return false;
    const Type *xt = ir_in_type(lc->g, n, 0), *wt = ir_in_type(lc->g, n, 1);
    const Type *yt = ir_out_type(lc->g, n, 0);
    VConv v = {.n = n, .geo = *gp, .L = L, .VL = L, .R = tg->float_regs, .b = -1, .r = -1, .wt = -1};
    const Geom *g = &v.geo;
    v.N = xt->dims[0], v.C = xt->dims[1], v.M = yt->dims[1], v.G = g->group;
    v.Cg = wt->dims[1], v.Mg = v.M / v.G, v.KH = g->kernel[0], v.KW = g->kernel[1];
    v.SH = g->stride[0], v.SW = g->stride[1], v.OH = g->out[0], v.OW = g->out[1];
    /* A pointwise conv is one row of OH * OW pixels. */
    if (v.KH == 1 && v.KW == 1 && v.SH == 1 && v.SW == 1 && g->pad_begin[0] == 0 &&
        g->pad_begin[1] == 0 && v.OH == g->in[0] && v.OW == g->in[1]) {
        v.geo.in[1] = v.geo.out[1] = v.OW = v.OH * v.OW;
        v.geo.in[0] = v.geo.out[0] = v.OH = 1;
        v.geo.pad_end[0] = v.geo.pad_end[1] = 0;
    }
    v.P = v.OH * v.OW;
    if (v.Cg * v.KH * v.KW == 0 || v.P == 0 || v.M == 0 || v.KW > VCONV_MAX_TAPS)
        return false;
    v.mgv = (v.Mg + L - 1) / L;
    v.mgp = v.mgv * L;
    const Value *wval = ir_value(lc->g, n->in[1]);
    bool wconst = wval->kind == VK_CONST && wval->data && wval->type.dtype == DT_F32;
    VPlan pl = vconv_plan(tg, &v, wconst && v.Mg >= L / 2);
    /* Rows narrower than a vector: the pixel form in narrower vectors (the
     * same issue slots, fewer lanes), when that is cheaper; not below 4
     * lanes, where lower_conv_tile's scalar tiles did better (a depthwise
     * conv of 256 planes of 3 x 3: 4.5 us against 11 in pairs). */
    int lanes = L;
    for (int l = L / 2; l >= 4 && v.OW < 2 * l; l /= 2) {
        VConv t = v;
        t.L = l;
        VPlan q = v.OW >= l ? vconv_plan(tg, &t, false) : (VPlan){.form = VFORM_NONE};
        if (q.form != VFORM_NONE && (pl.form == VFORM_NONE || q.cost < pl.cost)) {
            pl = q;
            lanes = l;
        }
    }
    v.L = lanes;
    if (pl.form == VFORM_NONE)
        return false;

    Program *p = lc->p;
    v.x = lower_buf(lc, n->in[0]);
    v.w = lower_buf(lc, n->in[1]);
    v.b = ir_has_input(n, 2) ? lower_buf(lc, n->in[2]) : -1;
    v.y = lower_buf(lc, n->out[0]);
    v.r = lower_conv_residual(lc, n);
    v.src = v.x, v.sh = g->in[0], v.sw = g->in[1], v.nph = 1;
    const char *scratch = arena_printf(p->arena, "rows_%s", p->bufs[v.x].name);
    if (pl.form == VFORM_CHAN) {
        if (vneeds_pad(&v)) {
            v.copy = true;
            v.sh = (v.OH - 1) * v.SH + v.KH;
            v.sw = (v.OW - 1) * v.SW + v.KW;
            v.src = lower_scratch(p, scratch, DT_F32, v.C * v.sh * v.sw);
        }
        v.wt = vchan_weight_table(lc, &v, wval->data);
        vchan_kernel(lc, &v, &pl);
        return true;
    }
    if (vpix_copies(&v)) {
        v.copy = true;
        v.phased = v.SW > 1;
        v.rc = pl.rc;
        v.sh = (v.rc - 1) * v.SH + v.KH;
        vchunk_rows(tg, &v, pl.b, &v.sw, &v.nph);
        v.src = lower_scratch(p, scratch, DT_F32, vcopy_chans(&v) * v.sh * v.nph * v.sw);
    }
    if (wconst && v.Mg > 1)
        v.wt = vpix_weight_table(lc, &v, wval->data, pl.a);
    vpix_kernel(lc, &v, &pl);
    return true;
}
