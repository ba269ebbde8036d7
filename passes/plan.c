/* plan.c: memory planning for the workspace arena.
 *
 * Liveness: every BK_TEMP buffer lives from the first kernel that touches it
 * to the last (kernels run in order, one at a time). For a bare-metal
 * target the inputs and outputs are placed too (io_in_arena), so the app
 * needs no I/O buffers of its own: an input lives from before the first
 * kernel (the caller fills it) to its last use, an output from its first
 * write to after the last kernel (the caller reads it). The lower bound is the
 * largest total size of buffers live at one kernel: no placement can use
 * less. Placement is greedy best-fit: buffers in some order, each put in the
 * smallest free gap among the already-placed buffers whose lifetimes
 * overlap its own, at the gap's start or its end; three orders (decreasing
 * size, first use, decreasing size x lifetime) times the two ends are
 * tried and the smallest arena kept. An in-place pair a kernel declares
 * (Kernel.inplace_*) shares one place when the input dies there; the bound
 * counts the pair once, as it is one buffer. Sizes and
 * offsets are rounded to PLAN_ALIGN bytes, and the bound is computed on the
 * rounded sizes, so the two are comparable.
 */
#include "passes.h"

#include <stdlib.h>
#include <string.h>

enum { PLAN_ALIGN = 16 };

typedef struct {
    int buf;
    int first, last;    /* kernel indices; first = -1 when never used */
    int64_t size;
    int64_t offset;
    bool placed;
    int root;           /* the buffer whose bytes this one takes (in place), or itself */
} Interval;

static void touch(Interval *iv, int buf, int kernel)
{
    Interval *t = &iv[buf];
    if (t->first < 0)
        t->first = kernel;
    t->last = kernel;
}

static void scan_expr(Interval *iv, const Expr *e, int kernel)
{
    if (!e)
        return;
    if (e->kind == EX_LOAD)
        touch(iv, e->buf, kernel);
    scan_expr(iv, e->a, kernel);
    scan_expr(iv, e->b, kernel);
    scan_expr(iv, e->c, kernel);
}

static void scan_stmt(Interval *iv, const Stmt *s, int kernel)
{
    if (!s)
        return;
    switch (s->kind) {
    case ST_BLOCK:
        for (int i = 0; i < s->n; i++)
            scan_stmt(iv, s->items[i], kernel);
        break;
    case ST_FOR:
        scan_expr(iv, s->lo, kernel);
        scan_expr(iv, s->hi, kernel);
        scan_stmt(iv, s->body, kernel);
        break;
    case ST_IF:
        scan_expr(iv, s->cond, kernel);
        scan_stmt(iv, s->then, kernel);
        scan_stmt(iv, s->els, kernel);
        break;
    case ST_STORE:
        touch(iv, s->buf, kernel);
        scan_expr(iv, s->idx, kernel);
        scan_expr(iv, s->val, kernel);
        break;
    case ST_SET:
        scan_expr(iv, s->val, kernel);
        break;
    }
}

static int64_t align_up(int64_t n)
{
    return (n + PLAN_ALIGN - 1) / PLAN_ALIGN * PLAN_ALIGN;
}

static bool overlaps(const Interval *a, const Interval *b)
{
    return a->first <= b->last && b->first <= a->last;
}

/* Decreasing size, then buffer id, so placement is deterministic. */
static int by_size(const void *pa, const void *pb)
{
    const Interval *a = *(const Interval *const *)pa, *b = *(const Interval *const *)pb;
    if (a->size != b->size)
        return a->size < b->size ? 1 : -1;
    return (a->buf > b->buf) - (a->buf < b->buf);
}

/* First use, then decreasing size: the schedule's order. */
static int by_first(const void *pa, const void *pb)
{
    const Interval *a = *(const Interval *const *)pa, *b = *(const Interval *const *)pb;
    if (a->first != b->first)
        return a->first - b->first;
    return by_size(pa, pb);
}

/* Decreasing size x lifetime: the buffers hardest to fit first. */
static int by_area(const void *pa, const void *pb)
{
    const Interval *a = *(const Interval *const *)pa, *b = *(const Interval *const *)pb;
    int64_t ea = a->size * (a->last - a->first + 1), eb = b->size * (b->last - b->first + 1);
    if (ea != eb)
        return ea < eb ? 1 : -1;
    return by_size(pa, pb);
}

static int by_offset(const void *pa, const void *pb)
{
    const Interval *a = *(const Interval *const *)pa, *b = *(const Interval *const *)pb;
    return (a->offset > b->offset) - (a->offset < b->offset);
}

/* In-place pairs (Kernel.inplace_*): where the input's last use is the
 * kernel that first writes the output, both workspace buffers of one size,
 * the output takes the input's place: one interval from the input's first
 * use to the output's last (chains follow the first buffer). Returns the
 * number of intervals left to place. */
static int merge_in_place(const Program *p, Interval *iv, Interval **temps, int ntemps)
{
    for (int k = 0; k < p->nkernels; k++) {
        int in = p->kernels[k].inplace_in, out = p->kernels[k].inplace_out;
        if (in < 0 || out < 0 || p->bufs[in].kind != BK_TEMP || p->bufs[out].kind != BK_TEMP)
            continue;
        Interval *root = &iv[iv[in].root], *o = &iv[out];
        if (root->last != k || o->first != k || o->root != out || root->size != o->size)
            continue;
        root->last = o->last;
        o->root = root->buf;
    }
    int n = 0;
    for (int i = 0; i < ntemps; i++)
        if (temps[i]->root == temps[i]->buf)
            temps[n++] = temps[i];
    return n;
}

/* The best-fit offset for `t` among the placed, overlapping intervals: the
 * start of the smallest gap it fits, or (high) the end of that gap. */
static int64_t best_fit(Interval *t, Interval **placed, int nplaced, Interval **scratch, bool high)
{
    int n = 0;
    for (int i = 0; i < nplaced; i++)
        if (overlaps(t, placed[i]))
            scratch[n++] = placed[i];
    qsort(scratch, (size_t)n, sizeof *scratch, by_offset);
    int64_t best = -1, best_gap = INT64_MAX, cursor = 0;
    for (int i = 0; i < n; i++) {
        int64_t gap = scratch[i]->offset - cursor;
        if (gap >= t->size && gap < best_gap) {
            best = cursor;
            best_gap = gap;
        }
        if (scratch[i]->offset + scratch[i]->size > cursor)
            cursor = scratch[i]->offset + scratch[i]->size;
    }
    if (best < 0)
        return cursor;
    return high ? best + best_gap - t->size : best;
}

bool pass_plan_memory(Ctx *c, Module *m)
{
    (void)c;
    Program *p = m->prog;
    if (!p)
        unreachable("plan-memory runs after lower");
    Arena *a = p->arena;
    Interval *iv = arena_alloc(a, (size_t)(p->nbufs + 1) * sizeof *iv);
    for (int b = 0; b < p->nbufs; b++) {
        iv[b].buf = b;
        iv[b].root = b;
        iv[b].first = -1;
        iv[b].size = align_up(p->bufs[b].numel * (int64_t)dtype_size(p->bufs[b].dtype));
    }
    for (int k = 0; k < p->nkernels; k++)
        scan_stmt(iv, p->kernels[k].body, k);

    Interval **temps = arena_alloc(a, (size_t)(p->nbufs + 1) * sizeof *temps);
    Interval **placed = arena_alloc(a, (size_t)(p->nbufs + 1) * sizeof *placed);
    Interval **scratch = arena_alloc(a, (size_t)(p->nbufs + 1) * sizeof *scratch);
    p->io_in_arena = module_target(m)->bare_metal;
    int last_kernel = p->nkernels > 0 ? p->nkernels - 1 : 0;
    int ntemps = 0;
    for (int b = 0; b < p->nbufs; b++) {
        BufKind kind = p->bufs[b].kind;
        if (p->io_in_arena && kind == BK_INPUT) {
            iv[b].first = 0;
            iv[b].last = iv[b].last > 0 ? iv[b].last : 0;
        } else if (p->io_in_arena && kind == BK_OUTPUT) {
            iv[b].first = iv[b].first >= 0 ? iv[b].first : 0;
            iv[b].last = last_kernel;
        } else if (kind != BK_TEMP || iv[b].first < 0) {
            continue;
        }
        temps[ntemps++] = &iv[b];
    }
    ntemps = merge_in_place(p, iv, temps, ntemps);

    int64_t bound = 0;
    for (int k = 0; k < p->nkernels; k++) {
        int64_t live = 0;
        for (int i = 0; i < ntemps; i++)
            if (temps[i]->first <= k && k <= temps[i]->last)
                live += temps[i]->size;
        if (live > bound)
            bound = live;
    }

    /* Best-fit is a heuristic whose result depends on the order buffers are
     * placed in, and on where in a larger gap a buffer goes; a few tries cost
     * microseconds, so keep the best. A small buffer at the top of its gap
     * leaves the bottom whole for a large one later (AD's 8-wide bottleneck
     * between 128-wide layers: 1056 -> 1024 bytes, the bound). */
    static int (*const orders[])(const void *, const void *) = {by_size, by_first, by_area};
    int norders = (int)(sizeof orders / sizeof orders[0]);
    int64_t total = -1;
    int64_t *best = arena_alloc(a, (size_t)(p->nbufs + 1) * sizeof *best);
    for (int o = 0; o < 2 * norders && total != bound; o++) {
        qsort(temps, (size_t)ntemps, sizeof *temps, orders[o % norders]);
        int64_t end = 0;
        for (int i = 0; i < ntemps; i++) {
            Interval *t = temps[i];
            t->offset = best_fit(t, placed, i, scratch, o >= norders);
            placed[i] = t;
            if (t->offset + t->size > end)
                end = t->offset + t->size;
        }
        if (total < 0 || end < total) {
            total = end;
            for (int i = 0; i < ntemps; i++)
                best[temps[i]->buf] = temps[i]->offset;
        }
    }
    for (int i = 0; i < ntemps; i++)
        p->bufs[temps[i]->buf].offset = best[temps[i]->buf];
    for (int b = 0; b < p->nbufs; b++)
        if (iv[b].root != b)
            p->bufs[b].offset = p->bufs[iv[b].root].offset;
    total = total < 0 ? 0 : total;
    bool changed = p->workspace_size != total || p->workspace_lower_bound != bound;
    p->workspace_size = total;
    p->workspace_lower_bound = bound;
    return changed;
}
