/* test_plan.c: the memory planner on hand-built Loop IR programs.
 *
 * Each kernel touches buffers through stores and loads only, so a program
 * whose kernel k writes buffer k+1 from buffer k is a chain with known
 * liveness. Randomized programs check the planner's invariants: buffers
 * live at the same time never share bytes, and the arena is at least the
 * lower bound (and not much above it on chains).
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <time.h>

#include "passes/passes.h"

/* A kernel that reads `src` (or nothing when src < 0) and writes `dst`. */
static void add_copy_kernel(Program *p, int src, int dst)
{
    Kernel *k = loop_new_kernel(p, arena_printf(p->arena, "k%d", p->nkernels), NULL, -1);
    int v = loop_new_var(k);
    Stmt *loop = st_for_n(p, v, p->bufs[dst].numel, LOOP_PARALLEL);
    Expr *val = src >= 0 ? ex_load(p, src, ex_var(p, v)) : ex_flt(p, 1.0);
    st_append(p, loop->body, st_store(p, dst, ex_var(p, v), val));
    st_append(p, k->body, loop);
}

static bool live_together(const Program *p, int a, int b, int *first, int *last)
{
    (void)p;
    return first[a] <= last[b] && first[b] <= last[a];
}

static Program *plan(Arena *a, Program *p)
{
    Ctx *c = ctx_new();
    Module m = {.prog = p};
    pass_plan_memory(c, &m);
    cr_assert_eq(c->nerrors, 0);
    ctx_free(c);
    (void)a;
    return p;
}

Test(plan, chain_reuses_memory)
{
    Arena *a = arena_new();
    Program *p = loop_new_program(a, "chain");
    int in = loop_add_buffer(p, "x", BK_INPUT, DT_F32, 64);
    int t1 = loop_add_buffer(p, "t1", BK_TEMP, DT_F32, 100);
    int t2 = loop_add_buffer(p, "t2", BK_TEMP, DT_F32, 200);
    int t3 = loop_add_buffer(p, "t3", BK_TEMP, DT_F32, 100);
    int out = loop_add_buffer(p, "y", BK_OUTPUT, DT_F32, 100);
    add_copy_kernel(p, in, t1);
    add_copy_kernel(p, t1, t2);
    add_copy_kernel(p, t2, t3);
    add_copy_kernel(p, t3, out);
    plan(a, p);
    /* t1 and t3 are never live together: t3 can reuse t1's bytes. The peak
     * is t1+t2 or t2+t3: 1200 bytes. */
    cr_expect_eq(p->workspace_lower_bound, 1200);
    cr_expect_eq(p->workspace_size, 1200);
    cr_expect_neq(p->bufs[t1].offset, p->bufs[t2].offset);
    cr_expect_eq(p->bufs[t1].offset % 16, 0);
    cr_expect_eq(p->bufs[t2].offset % 16, 0);
    cr_expect_eq(p->bufs[t3].offset % 16, 0);
    arena_free(a);
}

/* AD's shape: 128-wide layers around an 8-wide bottleneck. Best-fit at the
 * start of gaps puts the small buffer at the bottom of the free half, so
 * the next wide one no longer fits below the live one (1056 bytes);
 * placed at the top of its gap it leaves the half whole: the bound. */
Test(plan, bottleneck_meets_the_bound)
{
    Arena *a = arena_new();
    Program *p = loop_new_program(a, "bottleneck");
    int64_t widths[] = {128, 128, 128, 128, 8, 128, 128, 128, 128};
    int n = (int)(sizeof widths / sizeof widths[0]);
    int prev = loop_add_buffer(p, "x", BK_INPUT, DT_F32, 640);
    for (int i = 0; i < n; i++) {
        int t = loop_add_buffer(p, arena_printf(a, "t%d", i), BK_TEMP, DT_F32, widths[i]);
        add_copy_kernel(p, prev, t);
        prev = t;
    }
    add_copy_kernel(p, prev, loop_add_buffer(p, "y", BK_OUTPUT, DT_F32, 640));
    plan(a, p);
    cr_expect_eq(p->workspace_lower_bound, 1024);
    cr_expect_eq(p->workspace_size, 1024);
    arena_free(a);
}

/* A kernel's in-place pair (Kernel.inplace_*) shares one place when the
 * input dies there; not when the input is read again later. */
Test(plan, in_place_pairs)
{
    for (int later = 0; later < 2; later++) {
        Arena *a = arena_new();
        Program *p = loop_new_program(a, "inplace");
        int in = loop_add_buffer(p, "x", BK_INPUT, DT_F32, 64);
        int t1 = loop_add_buffer(p, "t1", BK_TEMP, DT_F32, 100);
        int t2 = loop_add_buffer(p, "t2", BK_TEMP, DT_F32, 100);
        int t3 = loop_add_buffer(p, "t3", BK_TEMP, DT_F32, 100);
        int out = loop_add_buffer(p, "y", BK_OUTPUT, DT_F32, 100);
        add_copy_kernel(p, in, t1);
        add_copy_kernel(p, t1, t2);
        p->kernels[1].inplace_in = t1;
        p->kernels[1].inplace_out = t2;
        add_copy_kernel(p, later ? t1 : t2, t3);
        add_copy_kernel(p, t3, out);
        if (later) /* t2 must still be read: a kernel that reads it last */
            add_copy_kernel(p, t2, out);
        plan(a, p);
        if (later) {
            cr_expect_neq(p->bufs[t1].offset, p->bufs[t2].offset, "t1 is read after t2 is written");
            cr_expect_eq(p->workspace_size, 1200);
        } else {
            cr_expect_eq(p->bufs[t1].offset, p->bufs[t2].offset);
            cr_expect_eq(p->workspace_lower_bound, 800, "the pair counts once");
            cr_expect_eq(p->workspace_size, 800);
        }
        arena_free(a);
    }
}

Test(plan, sizes_are_aligned)
{
    Arena *a = arena_new();
    Program *p = loop_new_program(a, "odd");
    int t1 = loop_add_buffer(p, "t1", BK_TEMP, DT_I8, 3);
    int t2 = loop_add_buffer(p, "t2", BK_TEMP, DT_I8, 5);
    int out = loop_add_buffer(p, "y", BK_OUTPUT, DT_I8, 5);
    add_copy_kernel(p, -1, t1);
    add_copy_kernel(p, t1, t2);
    add_copy_kernel(p, t2, out);
    plan(a, p);
    cr_expect_eq(p->workspace_size, 32);
    cr_expect_eq(p->workspace_lower_bound, 32);
    cr_expect_eq(p->bufs[t1].offset + p->bufs[t2].offset, 16);
    arena_free(a);
}

Test(plan, unused_temp_takes_no_space)
{
    Arena *a = arena_new();
    Program *p = loop_new_program(a, "unused");
    loop_add_buffer(p, "dead", BK_TEMP, DT_F32, 1000);
    int t = loop_add_buffer(p, "t", BK_TEMP, DT_F32, 4);
    int out = loop_add_buffer(p, "y", BK_OUTPUT, DT_F32, 4);
    add_copy_kernel(p, -1, t);
    add_copy_kernel(p, t, out);
    plan(a, p);
    cr_expect_eq(p->workspace_size, 16);
    arena_free(a);
}

/* Random DAG-ish programs: kernel k writes temp k from one or two earlier
 * temps chosen at random; every pair of buffers live at once must be
 * disjoint in the arena. */
Test(plan, random_programs_never_overlap_live_buffers)
{
    unsigned seed = (unsigned)time(NULL);
    if (getenv("ETCH_SEED"))
        seed = (unsigned)strtoul(getenv("ETCH_SEED"), NULL, 10);
    srand(seed);
    for (int trial = 0; trial < 200; trial++) {
        Arena *a = arena_new();
        Program *p = loop_new_program(a, "random");
        int n = 2 + rand() % 20;
        int *bufs = arena_alloc(a, (size_t)n * sizeof *bufs);
        for (int i = 0; i < n; i++) {
            bufs[i] = loop_add_buffer(p, arena_printf(a, "t%d", i), BK_TEMP, DT_F32,
                                      1 + rand() % 300);
            int src = i ? bufs[rand() % i] : -1;
            add_copy_kernel(p, src, bufs[i]);
            if (i > 1 && rand() % 2) /* a second, longer-lived use */
                add_copy_kernel(p, bufs[rand() % i], bufs[i]);
        }
        int out = loop_add_buffer(p, "y", BK_OUTPUT, DT_F32, 1);
        add_copy_kernel(p, bufs[n - 1], out);
        plan(a, p);

        /* Recompute liveness independently: first/last kernel touching each. */
        int *first = arena_alloc(a, (size_t)p->nbufs * sizeof *first);
        int *last = arena_alloc(a, (size_t)p->nbufs * sizeof *last);
        for (int b = 0; b < p->nbufs; b++)
            first[b] = -1;
        for (int k = 0; k < p->nkernels; k++) {
            const Stmt *loop = p->kernels[k].body->items[0];
            const Stmt *st = loop->body->items[0];
            int touched[2] = {st->buf, st->val->kind == EX_LOAD ? st->val->buf : -1};
            for (int j = 0; j < 2; j++) {
                int b = touched[j];
                if (b < 0)
                    continue;
                if (first[b] < 0)
                    first[b] = k;
                last[b] = k;
            }
        }
        int64_t max_end = 0;
        for (int i = 0; i < n; i++) {
            const Buffer *bi = &p->bufs[bufs[i]];
            int64_t end_i = bi->offset + bi->numel * 4;
            if (end_i > max_end)
                max_end = end_i;
            for (int j = i + 1; j < n; j++) {
                const Buffer *bj = &p->bufs[bufs[j]];
                if (!live_together(p, bufs[i], bufs[j], first, last))
                    continue;
                int64_t end_j = bj->offset + bj->numel * 4;
                cr_assert(end_i <= bj->offset || end_j <= bi->offset,
                          "seed %u trial %d: %s [%lld, %lld) and %s [%lld, %lld) overlap", seed,
                          trial, bi->name, (long long)bi->offset, (long long)end_i, bj->name,
                          (long long)bj->offset, (long long)end_j);
            }
        }
        cr_assert_geq(p->workspace_size, max_end, "seed %u", seed);
        cr_assert_geq(p->workspace_size, p->workspace_lower_bound, "seed %u", seed);
        arena_free(a);
    }
}

/* For a bare-metal target the inputs and outputs get workspace offsets too:
 * an input is live from before the first kernel to its last use, an output
 * from its first write to after the last kernel, and neither shares bytes
 * with anything live at the same time; the bound counts them. On the host
 * they stay the caller's. */
Test(plan, io_in_arena_for_bare_metal)
{
    for (int bare = 0; bare < 2; bare++) {
        Arena *a = arena_new();
        Program *p = loop_new_program(a, "io");
        int x = loop_add_buffer(p, "x", BK_INPUT, DT_F32, 100);
        int t0 = loop_add_buffer(p, "t0", BK_TEMP, DT_F32, 100);
        int t1 = loop_add_buffer(p, "t1", BK_TEMP, DT_F32, 100);
        int t2 = loop_add_buffer(p, "t2", BK_TEMP, DT_F32, 100);
        int y = loop_add_buffer(p, "y", BK_OUTPUT, DT_F32, 100);
        add_copy_kernel(p, x, t0);  /* k0: x dies here */
        add_copy_kernel(p, t0, t1); /* k1 */
        add_copy_kernel(p, t1, y);  /* k2: y born */
        add_copy_kernel(p, t1, t2); /* k3: y must survive past the end */
        Ctx *c = ctx_new();
        Module m = {.prog = p, .target = target_find(bare ? "cortex-m4" : "host")};
        pass_plan_memory(c, &m);
        cr_assert_eq(c->nerrors, 0);
        ctx_free(c);
        cr_assert_eq(p->io_in_arena, bare);
        const int64_t sz = 400;
        if (!bare) {
            /* Temps only: t0/t1 together, then t1/t2. */
            cr_expect_eq(p->workspace_lower_bound, 2 * sz);
            cr_expect_eq(p->workspace_size, 2 * sz);
            arena_free(a);
            continue;
        }
        /* k0: x, t0; k1: t0, t1; k2: t1, y; k3: t1, t2, y. */
        cr_expect_eq(p->workspace_lower_bound, 3 * sz);
        const Buffer *b = p->bufs;
        int together[][2] = {{x, t0}, {t1, y}, {t2, y}, {t1, t2}, {t0, t1}};
        for (size_t i = 0; i < sizeof together / sizeof together[0]; i++) {
            const Buffer *u = &b[together[i][0]], *v = &b[together[i][1]];
            cr_expect(u->offset + sz <= v->offset || v->offset + sz <= u->offset,
                      "%s @%lld and %s @%lld overlap", u->name, (long long)u->offset, v->name,
                      (long long)v->offset);
        }
        for (int i = 0; i < p->nbufs; i++)
            cr_expect(b[i].offset >= 0 && b[i].offset + sz <= p->workspace_size);
        arena_free(a);
    }
}
