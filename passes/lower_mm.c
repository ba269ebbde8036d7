/* lower_mm.c: gemm and matmul by a constant matrix as register-tiled
 * vector kernels, on targets with a vector unit (the host).
 *
 *   y[i, j] = alpha * sum_k op(a)[i, k] op(b)[k, j] + beta * c[i, j]
 *
 * op(b) is constant, so it is laid out at compile time in panels of NR
 * columns (nv vectors of L lanes): table[panel][k][NR], the last panel
 * padded with zeros. A tile of MR rows by one panel keeps its MR x nv sums
 * in vector locals through the whole reduction; each k loads nv vectors
 * of the panel (consecutive, whatever b's layout was), broadcasts MR
 * elements of a and issues MR * nv multiply-adds. Panels are the outer
 * loop, so a panel (K * NR floats) is read from the cache by every row
 * tile of a while it stays there.
 * The tile's shape comes from the target's float registers R: the sums,
 * the panel's vectors and one broadcast must fit (MR * nv + nv + 1 <= R),
 * and of those shapes the one with the most multiply-adds per load
 * (MR * nv / (MR + nv)) wins: on AVX2 4 rows x 3 vectors (measured 10%
 * faster than 6 x 2 on a 256 x 512 x 512 gemm), 3 x 3 for three rows, a
 * single row (a GEMV) 7 vectors across, enough independent sums in flight
 * to hide the multiply-add latency.
 * A matmul of a [..., M, K] by a 2-D b is one gemm over a's rows.
 * Each sum then gets alpha, c (a vector of its row, a vector per column,
 * or one value broadcast) and the clamp of a fused activation, and stores
 * as a whole vector; the last panel's columns that do not fill a vector
 * store lane by lane (rows of at most half a vector take narrower
 * vectors, down to 4 lanes). Other gemm and matmul shapes (b not constant, a
 * batched b, c broadcast otherwise) keep the forms in lower_nn.c.
 */
#include "passes.h"

#include <assert.h>

enum { MM_MAX_ACC = 32, MM_MAX_ROWS = 8, MM_MAX_NV = 8 };

typedef struct {
    const Node *n;
    int a, tab, c, y;       /* buffers; c < 0 without one */
    bool ta;                /* a is op(a) transposed ([K, M]) */
    int64_t M, K, N;
    int L, nv, NR;          /* lanes, vectors a panel, columns a panel */
    double alpha, beta;
    /* c[i, j] at i * c_row + j * c_col (c_row 0: one row for all; c_col 0:
     * one value a row). */
    int64_t c_row, c_col;
} Mm;

/* How c (type ct) broadcasts over y viewed as [M, N] rows: false when its
 * index is not i * c_row + j * c_col. */
static bool c_strides(const Type *ct, const Type *yt, int64_t N, Mm *m)
{
    int64_t last = ct->rank ? ct->dims[ct->rank - 1] : 1;
    m->c_col = last == N && N > 1 ? 1 : 0;
    if (last != N && last != 1)
        return false;
    bool ones = true, same = ct->rank == yt->rank;
    for (int d = 0; d + 1 < ct->rank; d++) {
        ones &= ct->dims[d] == 1;
        same &= ct->dims[d] == yt->dims[d];
    }
    if (ones) {
        m->c_row = 0;
        return true;
    }
    m->c_row = m->c_col ? N : 1;
    return same;
}

/* op(b) in panels of m->NR columns (see the file comment). */
static int panel_table(LowerCtx *lc, const Mm *m, const float *b, bool tb)
{
    int64_t np = (m->N + m->NR - 1) / m->NR, n = np * m->K * m->NR;
    float *t = arena_alloc(lc->p->arena, sizeof *t * (size_t)n + 1);
    for (int64_t j = 0; j < m->N; j++)
        for (int64_t k = 0; k < m->K; k++)
            t[((j / m->NR) * m->K + k) * m->NR + j % m->NR] = b[tb ? j * m->K + k : k * m->N + j];
    return lower_table(lc->p, "bp", DT_F32, n, t);
}

/* y's value for the sum v (a vector, or a lane) at row i, column j. */
static Expr *mm_out(Program *p, const Mm *m, Expr *i, Expr *j, Expr *v)
{
    if (m->alpha != 1.0)
        v = ex_bin(p, BIN_MUL, v, ex_bcast(p, ex_flt(p, m->alpha), v->lanes));
    if (m->c >= 0) {
        Expr *ci = ex_add(p, ex_muli(p, i, m->c_row), ex_muli(p, j, m->c_col));
        Expr *cv = m->c_col && v->lanes > 1 ? ex_vload(p, m->c, ci, v->lanes)
                                             : ex_bcast(p, ex_load(p, m->c, ci), v->lanes);
        if (m->beta != 1.0)
            cv = ex_bin(p, BIN_MUL, cv, ex_bcast(p, ex_flt(p, m->beta), v->lanes));
        v = ex_bin(p, BIN_ADD, v, cv);
    }
    return lower_vact(p, m->n, v);
}

/* The tile of rows i0 + [0, mr) by panel jp, whose first `cols` columns
 * are inside y. */
static void mm_tile(Program *p, Kernel *k, Stmt *s, const Mm *m, Expr *i0, int mr, Expr *jp, int64_t cols)
{
    int L = m->L, nv = (int)((cols + L - 1) / L), acc[MM_MAX_ACC], bv[MM_MAX_ACC];
    assert(mr * nv <= MM_MAX_ACC && nv <= m->nv);
    for (int t = 0; t < mr * nv; t++) {
        acc[t] = loop_new_vlocal(p, k, "acc", L);
        st_append(p, s, st_set(p, acc[t], ex_bcast(p, ex_flt(p, 0.0), L)));
    }
    for (int u = 0; u < nv; u++)
        bv[u] = loop_new_vlocal(p, k, "bv", L);
    int av = loop_new_vlocal(p, k, "av", L);
    Expr *kv;
    Stmt *r = lower_loop(p, k, s, m->K, LOOP_REDUCTION, &kv);
    Expr *row = ex_add(p, ex_muli(p, jp, m->K), kv);
    for (int u = 0; u < nv; u++)
        st_append(p, r, st_set(p, bv[u], ex_vload(p, m->tab, ex_add(p, ex_muli(p, row, m->NR), ex_int(p, u * L)), L)));
    for (int i = 0; i < mr; i++) {
        Expr *ri = ex_add(p, i0, ex_int(p, i));
        Expr *ai = m->ta ? ex_add(p, ex_muli(p, kv, m->M), ri) : ex_add(p, ex_muli(p, ri, m->K), kv);
        st_append(p, r, st_set(p, av, ex_bcast(p, ex_load(p, m->a, ai), L)));
        for (int u = 0; u < nv; u++) {
            int t = i * nv + u;
            st_append(p, r, st_set(p, acc[t], ex_muladd(p, ex_local(p, k, bv[u]), ex_local(p, k, av),
                                                        ex_local(p, k, acc[t]))));
        }
    }
    for (int i = 0; i < mr; i++) {
        Expr *ri = ex_add(p, i0, ex_int(p, i));
        for (int u = 0; u < nv; u++) {
            Expr *sum = ex_local(p, k, acc[i * nv + u]);
            Expr *j = ex_add(p, ex_muli(p, jp, m->NR), ex_int(p, u * L));
            if ((u + 1) * L <= cols) {
                st_append(p, s, st_store(p, m->y, ex_add(p, ex_muli(p, ri, m->N), j), mm_out(p, m, ri, j, sum)));
                continue;
            }
            for (int l = 0; u * L + l < cols; l++) {
                Expr *jl = ex_add(p, j, ex_int(p, l));
                st_append(p, s, st_store(p, m->y, ex_add(p, ex_muli(p, ri, m->N), jl),
                                         mm_out(p, m, ri, jl, ex_lane(p, sum, l))));
            }
        }
    }
}

/* Every row tile of panel jp (whose first `cols` columns are inside y):
 * tiles of nr rows in a loop, then the rows left. */
static void mm_panel(Program *p, Kernel *k, Stmt *s, const Mm *m, int nr, Expr *jp, int64_t cols)
{
    Expr *it;
    int64_t full = m->M / nr;
    if (full > 0) {
        Stmt *t = lower_loop(p, k, s, full, LOOP_PARALLEL, &it);
        mm_tile(p, k, t, m, ex_muli(p, it, nr), nr, jp, cols);
    }
    if (m->M % nr)
        mm_tile(p, k, s, m, ex_int(p, full * nr), (int)(m->M % nr), jp, cols);
}

bool lower_mm_vec(LowerCtx *lc, const Node *n)
{
    const Target *tg = lc->target;
    int L = tg->vector_bytes / 4, R = tg->float_regs;
    if (L < 4 || L > ETCH_MAX_LANES || R < 8)
        return false;
    const Type *at = ir_in_type(lc->g, n, 0), *bt = ir_in_type(lc->g, n, 1), *yt = ir_out_type(lc->g, n, 0);
    const Value *bval = ir_value(lc->g, n->in[1]);
    if (bval->kind != VK_CONST || !bval->data || bt->dtype != DT_F32 || bt->rank != 2 ||
        at->dtype != DT_F32 || yt->dtype != DT_F32)
        return false;
    bool gemm = n->op == OP_GEMM, tb = gemm && ir_attr_int(n, "trans_b") != 0;
    Mm m = {.n = n, .c = -1, .alpha = 1.0, .beta = 1.0};
    m.ta = gemm && ir_attr_int(n, "trans_a") != 0;
    m.K = bt->dims[tb ? 1 : 0];
    m.N = bt->dims[tb ? 0 : 1];
    m.M = m.N ? type_numel(yt) / m.N : 0;
    if (gemm) {
        m.alpha = ir_attr_float(n, "alpha");
        m.beta = ir_attr_float(n, "beta");
    }
    if (m.M == 0 || m.K == 0 || m.N == 0)
        return false;
    bool has_c = ir_has_input(n, 2) && m.beta != 0.0;
    if (has_c && !c_strides(ir_in_type(lc->g, n, 2), yt, m.N, &m))
        return false;

    /* Rows narrower than a vector take narrower vectors (down to 4 lanes);
     * then the tile (the file comment). */
    while (L > 4 && m.N <= L / 2)
        L /= 2;
    m.L = L;
    int64_t vecs = (m.N + L - 1) / L;
    int nr = 0, nv = 0;
    double best = 0.0;
    for (int v = 1; v <= vecs && v <= MM_MAX_NV; v++) {
        int r = (R - v - 1) / v;
        r = r > MM_MAX_ROWS ? MM_MAX_ROWS : r;
        r = r > m.M ? (int)m.M : r;
        double fmas_per_load = (double)(r * v) / (r + v);
        if (r >= 1 && fmas_per_load > best) {
            best = fmas_per_load;
            nr = r;
            nv = v;
        }
    }
    if (nv < 1 || nr < 1 || nr * nv > MM_MAX_ACC)
        return false;
    m.nv = nv;
    m.NR = nv * L;

    Program *p = lc->p;
    m.a = lower_buf(lc, n->in[0]);
    m.y = lower_buf(lc, n->out[0]);
    m.c = has_c ? lower_buf(lc, n->in[2]) : -1;
    m.tab = panel_table(lc, &m, bval->data, tb);
    Kernel *k = lower_kernel(lc, n);
    int64_t panels = m.N / m.NR;
    if (panels > 0) {
        Expr *jp;
        Stmt *s = lower_loop(p, k, k->body, panels, LOOP_PARALLEL, &jp);
        mm_panel(p, k, s, &m, nr, jp, m.NR);
    }
    if (m.N % m.NR)
        mm_panel(p, k, k->body, &m, nr, ex_int(p, panels), m.N % m.NR);
    return true;
}
