/* test_lower_nn.c: the neural-network lowerings (passes/lower_nn.c) against
 * the reference interpreter.
 *
 * Each case builds a one-node graph with the builder API on random shapes,
 * attributes and data (a seeded PRNG; the seed is printed on failure),
 * lowers it with pass_lower, runs the Program with loop_eval and compares
 * with interp_run: max abs error <= 1e-5 * max(1, max |expected|).
 * loop_eval bounds-checks every load and store, so a window tap that
 * escapes its guard fails the case too. Structural checks pin down the
 * shape of the emitted loops: guards only where a tap can miss the input,
 * no selects, parallel and reduction flags.
 */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "passes/passes.h"
#include "testutil.h"

#define REL_TOL 1e-5

/* One graph under construction and what is needed to run it. */
typedef struct {
    Ctx *c;
    Graph *g;
    TuRng rng;
    uint64_t seed;
    float *in_data[8];
    int nin;
    Program *prog;  /* after run_case */
    const Target *target; /* NULL: the host */
} Case;

static void case_begin(Case *t, uint64_t seed)
{
    memset(t, 0, sizeof *t);
    t->c = ctx_new();
    t->g = ir_new_graph(t->c->arena, "g");
    t->seed = seed;
    tu_rng_init(&t->rng, seed);
}

static void case_end(Case *t)
{
    for (int i = 0; i < t->nin; i++)
        free(t->in_data[i]);
    ctx_free(t->c);
}

static Type shape_v(int rank, va_list ap)
{
    int64_t dims[IR_MAX_RANK];
    for (int i = 0; i < rank; i++)
        dims[i] = va_arg(ap, int);
    return type_make(DT_F32, rank, dims);
}

/* A graph input of shape (int dims...), filled with `kind` data. */
static int add_input(Case *t, TuData kind, int rank, ...)
{
    va_list ap;
    va_start(ap, rank);
    Type ty = shape_v(rank, ap);
    va_end(ap);
    const char *name = arena_printf(t->c->arena, "x%d", t->nin);
    int v = ir_add_input(t->c, t->g, name, ty, (Loc){"test", 1, 1});
    cr_assert_geq(v, 0);
    int64_t n = type_numel(&ty);
    t->in_data[t->nin] = malloc((size_t)(n ? n : 1) * sizeof(float));
    tu_fill(&t->rng, t->in_data[t->nin], n, kind);
    t->nin++;
    return v;
}

/* A const (weights) of shape (int dims...), filled with `kind` data. */
static int add_const(Case *t, TuData kind, int rank, ...)
{
    va_list ap;
    va_start(ap, rank);
    Type ty = shape_v(rank, ap);
    va_end(ap);
    int64_t n = type_numel(&ty);
    float *data = arena_alloc(t->c->arena, (size_t)(n ? n : 1) * sizeof(float));
    tu_fill(&t->rng, data, n, kind);
    const char *name = arena_printf(t->c->arena, "w%d", t->g->nvalues);
    int v = ir_add_const(t->c, t->g, name, ty, data, (Loc){"test", 1, 1});
    cr_assert_geq(v, 0);
    return v;
}

static int add_node(Case *t, int op, int nin, ...)
{
    int in[8];
    va_list ap;
    va_start(ap, nin);
    for (int i = 0; i < nin; i++)
        in[i] = va_arg(ap, int);
    va_end(ap);
    return ir_new_node(t->c, t->g, op, in, nin, 1, (Loc){"test", 2, 1});
}

static void set_attr(Case *t, int node, const char *name, Attr a)
{
    cr_assert(ir_set_attr(t->c, t->g, node, name, &a, (Loc){"test", 2, 1}),
              "setting %s (seed %llu)", name, (unsigned long long)t->seed);
}

static void set_int(Case *t, int node, const char *name, int64_t v)
{
    set_attr(t, node, name, (Attr){.type = AT_INT, .i = v});
}

static void set_float(Case *t, int node, const char *name, double v)
{
    set_attr(t, node, name, (Attr){.type = AT_FLOAT, .f = v});
}

static void set_str(Case *t, int node, const char *name, const char *s)
{
    set_attr(t, node, name, (Attr){.type = AT_STR, .s = s});
}

/* ints attribute from n int varargs. */
static void set_ints(Case *t, int node, const char *name, int n, ...)
{
    int64_t *v = arena_alloc(t->c->arena, (size_t)(n ? n : 1) * sizeof *v);
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < n; i++)
        v[i] = va_arg(ap, int);
    va_end(ap);
    set_attr(t, node, name, (Attr){.type = AT_INTS, .n = n, .ints = v});
}

static void set_ints_a(Case *t, int node, const char *name, int n, const int64_t *src)
{
    int64_t *v = arena_memdup(t->c->arena, src, (size_t)(n ? n : 1) * sizeof *v);
    set_attr(t, node, name, (Attr){.type = AT_INTS, .n = n, .ints = v});
}

/* Lays BK_TEMP buffers end to end (16-byte aligned), so the test does not
 * depend on the planner. */
static int64_t layout_temps(Program *p)
{
    int64_t off = 0;
    for (int i = 0; i < p->nbufs; i++) {
        Buffer *b = &p->bufs[i];
        if (b->kind != BK_TEMP)
            continue;
        b->offset = off;
        off += (b->numel * (int64_t)dtype_size(b->dtype) + 15) / 16 * 16;
    }
    p->workspace_size = off;
    return off;
}

/* Finishes the node, makes its output the graph's, lowers the graph and
 * compares loop_eval with interp_run. */
static void run_case(Case *t, int node, const char *what)
{
    unsigned long long seed = (unsigned long long)t->seed;
    cr_assert(ir_finish_node(t->c, t->g, node), "%s: inference failed (seed %llu)", what, seed);
    int out = t->g->nodes[node].out[0];
    cr_assert(ir_add_output(t->c, t->g, out, (Loc){"test", 3, 1}));

    Tensor ins[8], outs[1];
    for (int i = 0; i < t->nin; i++)
        ins[i] = (Tensor){.type = t->g->values[t->g->inputs[i]].type, .data = t->in_data[i]};
    cr_assert(interp_run(t->c, t->g, ins, outs), "%s: interp_run failed (seed %llu)", what, seed);

    Module m = {.graph = t->g, .target = t->target};
    cr_assert(pass_lower(t->c, &m) && t->c->nerrors == 0, "%s: lowering failed (seed %llu)", what,
              seed);
    t->prog = m.prog;
    int64_t ws = layout_temps(m.prog);
    const Type *yt = &t->g->values[out].type;
    int64_t n = type_numel(yt);
    float *got = malloc((size_t)(n ? n : 1) * sizeof *got);
    for (int64_t i = 0; i < n; i++)
        got[i] = 12345.0f; /* never the right answer: unwritten elements fail */
    void *work = calloc(1, (size_t)(ws ? ws : 16));
    const void *in_ptrs[8];
    for (int i = 0; i < t->nin; i++)
        in_ptrs[i] = t->in_data[i];
    void *out_ptrs[1] = {got};
    bool ok = loop_eval(m.prog, in_ptrs, out_ptrs, work);
    if (!ok)
        loop_print_program(stderr, m.prog);
    cr_assert(ok, "%s: loop_eval failed (seed %llu)", what, seed);

    double err;
    int64_t where;
    bool close = tu_close(got, outs[0].data, n, REL_TOL, &err, &where);
    if (!close) {
        char ty[96];
        fprintf(stderr, "%s: y %s, max abs err %g at %lld: got %g, expected %g (seed %llu)\n",
                what, type_str(yt, ty, sizeof ty), err, (long long)where, (double)got[where],
                (double)((float *)outs[0].data)[where], seed);
        loop_print_program(stderr, m.prog);
    }
    free(work);
    free(got);
    cr_assert(close, "%s: lowered result differs from the reference (seed %llu)", what, seed);
}

/* ------------------------------------------------- structural inspection */

typedef struct {
    int ifs, fors, parallel, reduction, selects;
    int muladds, vloads, shifts;    /* vector multiply-adds and loads, lane shifts */
    int unzips;
    int kernels, temps;             /* kernels; workspace buffers of no graph value */
    int64_t temp_elems;             /* the elements of those */
} Shape;

static void scan_expr(const Expr *e, Shape *s)
{
    if (!e)
        return;
    if (e->kind == EX_SELECT)
        s->selects++;
    s->muladds += e->kind == EX_MULADD && e->lanes > 1;
    s->vloads += e->kind == EX_LOAD && e->lanes > 1;
    s->shifts += e->kind == EX_SHIFT;
    s->unzips += e->kind == EX_UNZIP;
    scan_expr(e->a, s);
    scan_expr(e->b, s);
    scan_expr(e->c, s);
}

static void scan_stmt(const Stmt *st, Shape *s)
{
    if (!st)
        return;
    switch (st->kind) {
    case ST_BLOCK:
        for (int i = 0; i < st->n; i++)
            scan_stmt(st->items[i], s);
        break;
    case ST_FOR:
        s->fors++;
        s->parallel += (st->flags & LOOP_PARALLEL) != 0;
        s->reduction += (st->flags & LOOP_REDUCTION) != 0;
        scan_stmt(st->body, s);
        break;
    case ST_IF:
        s->ifs++;
        scan_expr(st->cond, s);
        scan_stmt(st->then, s);
        scan_stmt(st->els, s);
        break;
    case ST_STORE:
    case ST_SET:
        scan_expr(st->idx, s);
        scan_expr(st->val, s);
        break;
    }
}

static Shape program_shape(const Program *p)
{
    Shape s = {0};
    for (int i = 0; i < p->nkernels; i++)
        scan_stmt(p->kernels[i].body, &s);
    s.kernels = p->nkernels;
    for (int b = 0; b < p->nbufs; b++)
        if (p->bufs[b].kind == BK_TEMP && p->bufs[b].value < 0) {
            s.temps++;
            s.temp_elems += p->bufs[b].numel;
        }
    return s;
}

static uint64_t case_seed(int i)
{
    return tu_seed() + (uint64_t)i * 0x9e3779b97f4a7c15ull;
}

/* ------------------------------------------------------------------- conv */

typedef struct {
    int ns;             /* spatial dims */
    int stride_max;
    bool pads;
    int dilation;
    int groups;         /* 1, 2, or 0 for depthwise */
    const char *auto_pad;
    bool bias;
} ConvSpec;

/* A random conv of the spec; returns its program for structural checks. */
static Shape conv_case(uint64_t seed, ConvSpec s, const char *what)
{
    Case t;
    case_begin(&t, seed);
    TuRng *r = &t.rng;
    int64_t nb = tu_rng_int(r, 1, 2), cg = s.groups == 0 ? 1 : tu_rng_int(r, 1, 3);
    int64_t groups = s.groups == 0 ? tu_rng_int(r, 2, 4) : s.groups;
    int64_t mg = tu_rng_int(r, 1, 3), ch = groups * cg, m = groups * mg;
    int64_t xd[IR_MAX_RANK] = {nb, ch}, wd[IR_MAX_RANK] = {m, cg};
    int64_t strides[IR_MAX_RANK], dil[IR_MAX_RANK], pads[2 * IR_MAX_RANK];
    for (int d = 0; d < s.ns; d++) {
        int64_t k = tu_rng_int(r, 1, 3), ext = (k - 1) * s.dilation + 1;
        wd[2 + d] = k;
        xd[2 + d] = ext + tu_rng_int(r, 0, s.ns == 3 ? 2 : 5);
        strides[d] = tu_rng_int(r, 1, s.stride_max);
        dil[d] = s.dilation;
        pads[d] = s.pads ? tu_rng_int(r, 0, 2) : 0;
        pads[s.ns + d] = s.pads ? tu_rng_int(r, 0, 2) : 0;
    }
    Type xt = type_make(DT_F32, 2 + s.ns, xd), wt = type_make(DT_F32, 2 + s.ns, wd);
    int x = ir_add_input(t.c, t.g, "x", xt, (Loc){"test", 1, 1});
    t.in_data[0] = malloc((size_t)type_numel(&xt) * sizeof(float));
    tu_fill(r, t.in_data[0], type_numel(&xt), TU_DATA_SIGNED);
    t.nin = 1;
    float *wdata = arena_alloc(t.c->arena, (size_t)type_numel(&wt) * sizeof(float));
    tu_fill(r, wdata, type_numel(&wt), TU_DATA_SIGNED);
    int w = ir_add_const(t.c, t.g, "w", wt, wdata, (Loc){"test", 1, 1});
    int node;
    if (s.bias) {
        int b = add_const(&t, TU_DATA_SIGNED, 1, (int)m);
        node = add_node(&t, OP_CONV, 3, x, w, b);
    } else {
        node = add_node(&t, OP_CONV, 2, x, w);
    }
    set_ints_a(&t, node, "strides", s.ns, strides);
    if (s.dilation != 1)
        set_ints_a(&t, node, "dilations", s.ns, dil);
    if (s.pads)
        set_ints_a(&t, node, "pads", 2 * s.ns, pads);
    if (groups != 1)
        set_int(&t, node, "group", groups);
    if (s.auto_pad)
        set_str(&t, node, "auto_pad", s.auto_pad);
    run_case(&t, node, what);
    Shape sh = program_shape(t.prog);
    case_end(&t);
    return sh;
}

static void conv_cases(ConvSpec s, const char *what)
{
    for (int i = 0; i < 6; i++) {
        Shape sh = conv_case(case_seed(i), s, what);
        cr_expect_eq(sh.selects, 0, "%s: a select in conv", what);
        if (!s.pads && !s.auto_pad)
            cr_expect_eq(sh.ifs, 0, "%s: guard without padding", what);
    }
}

Test(lower_nn, conv_2d_stride1)
{
    conv_cases((ConvSpec){.ns = 2, .stride_max = 1, .dilation = 1, .groups = 1, .bias = true},
               "conv 2-D stride 1");
    conv_cases((ConvSpec){.ns = 2, .stride_max = 1, .dilation = 1, .groups = 1}, "conv 2-D no bias");
}

Test(lower_nn, conv_2d_stride2_pads)
{
    conv_cases((ConvSpec){.ns = 2, .stride_max = 2, .pads = true, .dilation = 1, .groups = 1,
                          .bias = true}, "conv 2-D stride 2 pads");
}

Test(lower_nn, conv_dilation2)
{
    conv_cases((ConvSpec){.ns = 2, .stride_max = 2, .pads = true, .dilation = 2, .groups = 1,
                          .bias = true}, "conv dilation 2");
}

Test(lower_nn, conv_groups2)
{
    conv_cases((ConvSpec){.ns = 2, .stride_max = 2, .pads = true, .dilation = 1, .groups = 2,
                          .bias = true}, "conv groups 2");
}

Test(lower_nn, conv_depthwise)
{
    conv_cases((ConvSpec){.ns = 2, .stride_max = 2, .pads = true, .dilation = 1, .groups = 0,
                          .bias = true}, "conv depthwise");
}

Test(lower_nn, conv_1d_3d)
{
    conv_cases((ConvSpec){.ns = 1, .stride_max = 2, .pads = true, .dilation = 1, .groups = 1,
                          .bias = true}, "conv 1-D");
    conv_cases((ConvSpec){.ns = 3, .stride_max = 2, .pads = true, .dilation = 1, .groups = 1},
               "conv 3-D");
}

Test(lower_nn, conv_auto_pad)
{
    conv_cases((ConvSpec){.ns = 2, .stride_max = 2, .dilation = 1, .groups = 1, .bias = true,
                          .auto_pad = "SAME_UPPER"}, "conv SAME_UPPER");
    conv_cases((ConvSpec){.ns = 2, .stride_max = 2, .dilation = 1, .groups = 1,
                          .auto_pad = "SAME_LOWER"}, "conv SAME_LOWER");
    conv_cases((ConvSpec){.ns = 2, .stride_max = 2, .dilation = 1, .groups = 1,
                          .auto_pad = "VALID"}, "conv VALID");
}

/* The host's conv tiles are Loop IR vectors: sums in vector locals
 * through a reduction loop whose body multiply-adds vectors. A 1x1 conv
 * without padding (a plain matrix product) reads x itself: one kernel, no
 * guard, no scratch. */
Test(lower_nn, conv_loop_structure)
{
    Case t;
    case_begin(&t, case_seed(0));
    int x = add_input(&t, TU_DATA_SIGNED, 4, 1, 3, 5, 5);
    int w = add_const(&t, TU_DATA_SIGNED, 4, 4, 3, 1, 1);
    int node = add_node(&t, OP_CONV, 2, x, w);
    run_case(&t, node, "conv 1x1");
    Shape sh = program_shape(t.prog);
    cr_expect_eq(sh.kernels, 1);
    cr_expect_eq(sh.ifs, 0);
    cr_expect_eq(sh.selects, 0);
    cr_expect_eq(sh.temps, 0, "no copy of x expected, got %d scratch buffers", sh.temps);
    cr_expect_gt(sh.reduction, 0);
    cr_expect_gt(sh.muladds, 0, "vector multiply-adds expected");
    case_end(&t);

    /* Padding over several input channels: the tiles read a padded copy
     * of row chunks, which the kernel makes itself; its one guard is
     * whether a copied row lies inside the input; no select anywhere. */
    case_begin(&t, case_seed(1));
    x = add_input(&t, TU_DATA_SIGNED, 4, 1, 2, 6, 20);
    w = add_const(&t, TU_DATA_SIGNED, 4, 2, 2, 3, 3);
    node = add_node(&t, OP_CONV, 2, x, w);
    set_ints(&t, node, "pads", 4, 1, 1, 1, 1);
    run_case(&t, node, "conv pads");
    sh = program_shape(t.prog);
    cr_expect_eq(sh.kernels, 1);
    cr_expect_eq(sh.temps, 1, "one scratch buffer for the copied rows, got %d", sh.temps);
    cr_expect_eq(sh.ifs, 1, "one guard (the copied row) expected, got %d", sh.ifs);
    cr_expect_eq(sh.selects, 0);
    case_end(&t);

    /* A padded depthwise conv reads x itself: its tiles at the edges load
     * whole vectors inside the row and shift them (zeros into the
     * padding); rows outside the input are taps left out. */
    case_begin(&t, case_seed(2));
    x = add_input(&t, TU_DATA_SIGNED, 4, 1, 3, 9, 20);
    w = add_const(&t, TU_DATA_SIGNED, 4, 3, 1, 3, 3);
    node = add_node(&t, OP_CONV, 2, x, w);
    set_ints(&t, node, "pads", 4, 1, 1, 1, 1);
    set_int(&t, node, "group", 3);
    run_case(&t, node, "conv depthwise pads");
    sh = program_shape(t.prog);
    cr_expect_eq(sh.temps, 0, "no copy of x expected, got %d scratch buffers", sh.temps);
    cr_expect_eq(sh.ifs, 0);
    cr_expect_eq(sh.selects, 0);
    cr_expect_gt(sh.shifts, 0, "shifted edge vectors expected");
    case_end(&t);

    /* A strided conv reads a copy split by the phase of the column stride:
     * every tap a plain vector load. */
    case_begin(&t, case_seed(3));
    x = add_input(&t, TU_DATA_SIGNED, 4, 1, 2, 7, 40);
    w = add_const(&t, TU_DATA_SIGNED, 4, 4, 2, 3, 3);
    node = add_node(&t, OP_CONV, 2, x, w);
    set_ints(&t, node, "strides", 2, 2, 2);
    run_case(&t, node, "conv stride 2");
    sh = program_shape(t.prog);
    cr_expect_eq(sh.temps, 1);
    cr_expect_eq(sh.shifts, 0);
    cr_expect_gt(sh.vloads, 0);
    cr_expect_gt(sh.unzips, 0, "the copy's columns unzipped from vectors expected");
    case_end(&t);

    /* A strided depthwise conv (MobileNet's) copies one channel at a time,
     * just before its tiles, not every channel's rows: a scratch buffer
     * smaller than two input planes. */
    case_begin(&t, case_seed(4));
    x = add_input(&t, TU_DATA_SIGNED, 4, 1, 16, 48, 48);
    w = add_const(&t, TU_DATA_SIGNED, 4, 16, 1, 3, 3);
    node = add_node(&t, OP_CONV, 2, x, w);
    set_ints(&t, node, "strides", 2, 2, 2);
    set_ints(&t, node, "pads", 4, 0, 0, 1, 1);
    set_int(&t, node, "group", 16);
    run_case(&t, node, "conv depthwise stride 2");
    sh = program_shape(t.prog);
    cr_expect_eq(sh.temps, 1);
    cr_expect_lt(sh.temp_elems, 2 * 48 * 48, "a copy of one channel expected, got %lld elements",
                 (long long)sh.temp_elems);
    cr_expect_gt(sh.unzips, 0);
    case_end(&t);
}

/* ------------------------------------------------------------------- gemm */

/* c shapes: 0 none, 1 scalar, 2 [N], 3 [M, 1], 4 [M, N], 5 [1, N]. On
 * the host (b constant) the vector tile form (lower_mm.c); for `generic`,
 * no vector unit, the scalar forms. */
static void gemm_case_on(uint64_t seed, const char *target, bool ta, bool tb, int cshape, double alpha,
                         double beta)
{
    Case t;
    case_begin(&t, seed);
    t.target = target_find(target);
    int m = tu_rng_int(&t.rng, 1, 7), k = tu_rng_int(&t.rng, 1, 9), n = tu_rng_int(&t.rng, 1, 7);
    int a = ta ? add_input(&t, TU_DATA_SIGNED, 2, k, m) : add_input(&t, TU_DATA_SIGNED, 2, m, k);
    int b = tb ? add_const(&t, TU_DATA_SIGNED, 2, n, k) : add_const(&t, TU_DATA_SIGNED, 2, k, n);
    int c = -1;
    switch (cshape) {
    case 1: c = add_const(&t, TU_DATA_SIGNED, 0); break;
    case 2: c = add_const(&t, TU_DATA_SIGNED, 1, n); break;
    case 3: c = add_input(&t, TU_DATA_SIGNED, 2, m, 1); break;
    case 4: c = add_input(&t, TU_DATA_SIGNED, 2, m, n); break;
    case 5: c = add_const(&t, TU_DATA_SIGNED, 2, 1, n); break;
    default: break;
    }
    int node = c >= 0 ? add_node(&t, OP_GEMM, 3, a, b, c) : add_node(&t, OP_GEMM, 2, a, b);
    if (ta)
        set_int(&t, node, "trans_a", 1);
    if (tb)
        set_int(&t, node, "trans_b", 1);
    if (alpha != 1.0)
        set_float(&t, node, "alpha", alpha);
    if (beta != 1.0)
        set_float(&t, node, "beta", beta);
    char what[96];
    snprintf(what, sizeof what, "gemm on %s ta=%d tb=%d c#%d alpha=%g beta=%g", target, ta, tb, cshape,
             alpha, beta);
    run_case(&t, node, what);
    Shape sh = program_shape(t.prog);
    if (t.target->vector_bytes > 0) {
        cr_expect(sh.vloads > 0 && sh.muladds > 0, "%s: vector tiles expected", what);
        cr_expect_eq(sh.reduction > 0, k > 1, "%s: reduction loops %d", what, sh.reduction);
    } else {
        /* The dot form (trans_b) runs blocks of columns (the target's
         * gemm block), then the remaining columns, each with its
         * reduction loop. */
        int blk = lower_dot_block(t.target, n);
        int ranges = tb ? 1 + (n % blk != 0) : 1;
        cr_expect_eq(sh.reduction, k > 1 ? ranges : 0, "%s: reduction loops %d", what, sh.reduction);
    }
    case_end(&t);
}

static void gemm_case(uint64_t seed, bool ta, bool tb, int cshape, double alpha, double beta)
{
    gemm_case_on(seed, "host", ta, tb, cshape, alpha, beta);
    gemm_case_on(seed, "generic", ta, tb, cshape, alpha, beta);
}

Test(lower_nn, gemm_transposes)
{
    int i = 0;
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++)
            for (int rep = 0; rep < 3; rep++)
                gemm_case(case_seed(i++), ta, tb, 4, 1.0, 1.0);
}

Test(lower_nn, gemm_c_shapes)
{
    int i = 0;
    for (int cs = 0; cs < 6; cs++)
        for (int rep = 0; rep < 3; rep++)
            gemm_case(case_seed(i++), rep == 1, rep == 2, cs, 1.0, 1.0);
}

Test(lower_nn, gemm_alpha_beta)
{
    int i = 0;
    for (int cs = 0; cs < 6; cs++) {
        gemm_case(case_seed(i++), false, true, cs, 0.75, -1.5);
        gemm_case(case_seed(i++), true, false, cs, -2.0, 0.0);
        gemm_case(case_seed(i++), true, true, cs, 1.0, 0.5);
    }
}

/* ----------------------------------------------------------------- matmul */

static void matmul_case(uint64_t seed, int ra, const int *ad, int rb, const int *bd, const char *what)
{
    Case t;
    case_begin(&t, seed);
    int64_t a64[IR_MAX_RANK], b64[IR_MAX_RANK];
    for (int i = 0; i < ra; i++)
        a64[i] = ad[i];
    for (int i = 0; i < rb; i++)
        b64[i] = bd[i];
    Type at = type_make(DT_F32, ra, a64), bt = type_make(DT_F32, rb, b64);
    int a = ir_add_input(t.c, t.g, "a", at, (Loc){"test", 1, 1});
    int b = ir_add_input(t.c, t.g, "b", bt, (Loc){"test", 1, 1});
    t.in_data[0] = malloc((size_t)type_numel(&at) * sizeof(float));
    t.in_data[1] = malloc((size_t)type_numel(&bt) * sizeof(float));
    tu_fill(&t.rng, t.in_data[0], type_numel(&at), TU_DATA_SIGNED);
    tu_fill(&t.rng, t.in_data[1], type_numel(&bt), TU_DATA_SIGNED);
    t.nin = 2;
    int node = add_node(&t, OP_MATMUL, 2, a, b);
    run_case(&t, node, what);
    case_end(&t);
}

Test(lower_nn, matmul_shapes)
{
    for (int i = 0; i < 4; i++) {
        uint64_t seed = case_seed(i);
        TuRng r;
        tu_rng_init(&r, seed);
        int m = tu_rng_int(&r, 1, 6), k = tu_rng_int(&r, 2, 8), n = tu_rng_int(&r, 1, 6);
        int bt = tu_rng_int(&r, 2, 3);
        matmul_case(seed, 2, (int[]){m, k}, 2, (int[]){k, n}, "matmul 2-D");
        matmul_case(seed, 3, (int[]){bt, m, k}, 3, (int[]){bt, k, n}, "matmul batched");
        matmul_case(seed, 4, (int[]){2, 1, m, k}, 3, (int[]){bt, k, n}, "matmul broadcast batch");
        matmul_case(seed, 2, (int[]){m, k}, 3, (int[]){bt, k, n}, "matmul 2-D x batched");
        matmul_case(seed, 3, (int[]){bt, m, k}, 2, (int[]){k, n}, "matmul batched x 2-D");
        matmul_case(seed, 1, (int[]){k}, 2, (int[]){k, n}, "matmul 1-D x 2-D");
        matmul_case(seed, 2, (int[]){m, k}, 1, (int[]){k}, "matmul 2-D x 1-D");
        matmul_case(seed, 1, (int[]){k}, 1, (int[]){k}, "matmul 1-D x 1-D");
        matmul_case(seed, 1, (int[]){k}, 3, (int[]){bt, k, n}, "matmul 1-D x batched");
        matmul_case(seed, 3, (int[]){bt, m, k}, 1, (int[]){k}, "matmul batched x 1-D");
    }
}

/* ------------------------------------------------------------------ pools */

typedef struct {
    int op;             /* OP_MAX_POOL or OP_AVERAGE_POOL */
    int ns;
    int stride_max;
    bool pads;
    bool ceil_mode;
    bool include_pad;
    int dilation;
    const char *auto_pad;
} PoolSpec;

static Shape pool_case(uint64_t seed, PoolSpec s, const char *what)
{
    Case t;
    case_begin(&t, seed);
    TuRng *r = &t.rng;
    int64_t xd[IR_MAX_RANK] = {tu_rng_int(r, 1, 2), tu_rng_int(r, 1, 3)};
    int64_t ks[IR_MAX_RANK], strides[IR_MAX_RANK], dil[IR_MAX_RANK], pads[2 * IR_MAX_RANK];
    for (int d = 0; d < s.ns; d++) {
        ks[d] = tu_rng_int(r, 1, 3);
        /* ONNX pools want each pad smaller than the kernel. */
        pads[d] = s.pads ? tu_rng_int(r, 0, (int)ks[d] - 1) : 0;
        pads[s.ns + d] = s.pads ? tu_rng_int(r, 0, (int)ks[d] - 1) : 0;
        strides[d] = tu_rng_int(r, 1, s.stride_max);
        dil[d] = s.dilation;
        xd[2 + d] = (ks[d] - 1) * s.dilation + 1 + tu_rng_int(r, 0, 5);
    }
    Type xt = type_make(DT_F32, 2 + s.ns, xd);
    int x = ir_add_input(t.c, t.g, "x", xt, (Loc){"test", 1, 1});
    t.in_data[0] = malloc((size_t)type_numel(&xt) * sizeof(float));
    tu_fill(r, t.in_data[0], type_numel(&xt), TU_DATA_SIGNED);
    t.nin = 1;
    int node = add_node(&t, s.op, 1, x);
    set_ints_a(&t, node, "kernel_shape", s.ns, ks);
    set_ints_a(&t, node, "strides", s.ns, strides);
    if (s.dilation != 1)
        set_ints_a(&t, node, "dilations", s.ns, dil);
    if (s.pads)
        set_ints_a(&t, node, "pads", 2 * s.ns, pads);
    if (s.ceil_mode)
        set_int(&t, node, "ceil_mode", 1);
    if (s.include_pad)
        set_int(&t, node, "count_include_pad", 1);
    if (s.auto_pad)
        set_str(&t, node, "auto_pad", s.auto_pad);
    run_case(&t, node, what);
    Shape sh = program_shape(t.prog);
    case_end(&t);
    return sh;
}

static void pool_cases(PoolSpec s, const char *what)
{
    for (int i = 0; i < 8; i++) {
        Shape sh = pool_case(case_seed(i), s, what);
        cr_expect_eq(sh.selects, 0, "%s: a select in a pool", what);
        if (!s.pads && !s.ceil_mode && !s.auto_pad)
            cr_expect_eq(sh.ifs, 0, "%s: guard without padding", what);
    }
}

Test(lower_nn, max_pool)
{
    pool_cases((PoolSpec){.op = OP_MAX_POOL, .ns = 2, .stride_max = 1, .dilation = 1}, "max_pool");
    pool_cases((PoolSpec){.op = OP_MAX_POOL, .ns = 2, .stride_max = 2, .pads = true, .dilation = 1},
               "max_pool strides pads");
    pool_cases((PoolSpec){.op = OP_MAX_POOL, .ns = 2, .stride_max = 3, .pads = true,
                          .ceil_mode = true, .dilation = 1}, "max_pool ceil_mode");
    pool_cases((PoolSpec){.op = OP_MAX_POOL, .ns = 2, .stride_max = 2, .pads = true, .dilation = 2},
               "max_pool dilation 2");
    pool_cases((PoolSpec){.op = OP_MAX_POOL, .ns = 1, .stride_max = 2, .pads = true,
                          .ceil_mode = true, .dilation = 1}, "max_pool 1-D");
    pool_cases((PoolSpec){.op = OP_MAX_POOL, .ns = 2, .stride_max = 2, .dilation = 1,
                          .auto_pad = "SAME_UPPER"}, "max_pool SAME_UPPER");
}

Test(lower_nn, average_pool)
{
    pool_cases((PoolSpec){.op = OP_AVERAGE_POOL, .ns = 2, .stride_max = 1, .dilation = 1},
               "average_pool");
    pool_cases((PoolSpec){.op = OP_AVERAGE_POOL, .ns = 2, .stride_max = 2, .pads = true,
                          .dilation = 1}, "average_pool pads exclude");
    pool_cases((PoolSpec){.op = OP_AVERAGE_POOL, .ns = 2, .stride_max = 2, .pads = true,
                          .include_pad = true, .dilation = 1}, "average_pool pads include");
    pool_cases((PoolSpec){.op = OP_AVERAGE_POOL, .ns = 2, .stride_max = 3, .pads = true,
                          .ceil_mode = true, .dilation = 1}, "average_pool ceil exclude");
    pool_cases((PoolSpec){.op = OP_AVERAGE_POOL, .ns = 2, .stride_max = 3, .pads = true,
                          .ceil_mode = true, .include_pad = true, .dilation = 1},
               "average_pool ceil include");
    pool_cases((PoolSpec){.op = OP_AVERAGE_POOL, .ns = 1, .stride_max = 3, .pads = true,
                          .ceil_mode = true, .include_pad = true, .dilation = 2},
               "average_pool 1-D dilation 2");
    pool_cases((PoolSpec){.op = OP_AVERAGE_POOL, .ns = 3, .stride_max = 2, .pads = true,
                          .include_pad = true, .dilation = 1}, "average_pool 3-D");
}

/* ceil_mode windows that run past the end: the divisor varies per output
 * position, in both count_include_pad modes. Hand-picked so it does. */
Test(lower_nn, average_pool_ceil_tail)
{
    for (int inc = 0; inc < 2; inc++) {
        Case t;
        case_begin(&t, case_seed(inc));
        int x = add_input(&t, TU_DATA_SIGNED, 4, 1, 2, 6, 7);
        int node = add_node(&t, OP_AVERAGE_POOL, 1, x);
        set_ints(&t, node, "kernel_shape", 2, 3, 3);
        set_ints(&t, node, "strides", 2, 2, 2);
        set_ints(&t, node, "pads", 4, 1, 0, 1, 0);
        set_int(&t, node, "ceil_mode", 1);
        set_int(&t, node, "count_include_pad", inc);
        run_case(&t, node, inc ? "average_pool tail include" : "average_pool tail exclude");
        case_end(&t);
    }
}

Test(lower_nn, global_pools)
{
    for (int i = 0; i < 6; i++) {
        for (int op = 0; op < 2; op++) {
            Case t;
            case_begin(&t, case_seed(i));
            TuRng *r = &t.rng;
            int nb = tu_rng_int(r, 1, 2), ch = tu_rng_int(r, 1, 4);
            int x = (i % 2) ? add_input(&t, TU_DATA_SIGNED, 3, nb, ch, tu_rng_int(r, 1, 9))
                            : add_input(&t, TU_DATA_SIGNED, 4, nb, ch, tu_rng_int(r, 1, 5),
                                        tu_rng_int(r, 1, 5));
            int node = add_node(&t, op ? OP_GLOBAL_MAX_POOL : OP_GLOBAL_AVERAGE_POOL, 1, x);
            run_case(&t, node, op ? "global_max_pool" : "global_average_pool");
            case_end(&t);
        }
    }
}

/* --------------------------------------------------------- normalization */

Test(lower_nn, batch_norm)
{
    for (int i = 0; i < 8; i++) {
        Case t;
        case_begin(&t, case_seed(i));
        TuRng *r = &t.rng;
        int nb = tu_rng_int(r, 1, 3), ch = tu_rng_int(r, 1, 5);
        int x;
        switch (i % 3) {
        case 0: x = add_input(&t, TU_DATA_SIGNED, 2, nb, ch); break;
        case 1: x = add_input(&t, TU_DATA_SIGNED, 3, nb, ch, tu_rng_int(r, 1, 6)); break;
        default:
            x = add_input(&t, TU_DATA_SIGNED, 4, nb, ch, tu_rng_int(r, 1, 4), tu_rng_int(r, 1, 4));
            break;
        }
        int scale = add_const(&t, TU_DATA_SIGNED, 1, ch);
        int bias = add_const(&t, TU_DATA_SIGNED, 1, ch);
        int mean = add_const(&t, TU_DATA_SIGNED, 1, ch);
        int var = add_const(&t, TU_DATA_POSITIVE, 1, ch);
        int node = add_node(&t, OP_BATCH_NORM, 5, x, scale, bias, mean, var);
        if (i % 2)
            set_float(&t, node, "epsilon", 0.01);
        run_case(&t, node, "batch_norm");
        case_end(&t);
    }
}

static void layer_norm_case(uint64_t seed, int rank, int axis, int scale_mode, bool bias,
                            const char *what)
{
    Case t;
    case_begin(&t, seed);
    TuRng *r = &t.rng;
    int d[4];
    for (int i = 0; i < rank; i++)
        d[i] = tu_rng_int(r, 2, 5);
    int x = rank == 2 ? add_input(&t, TU_DATA_SIGNED, 2, d[0], d[1])
                      : add_input(&t, TU_DATA_SIGNED, 3, d[0], d[1], d[2]);
    int na = axis < 0 ? axis + rank : axis;
    /* scale_mode 0: the full normalized shape; 1: only the last dim (a
     * broadcast when more than one dim is normalized); 2: a scalar [1]. */
    int s;
    if (scale_mode == 0 && rank - na == 2)
        s = add_const(&t, TU_DATA_SIGNED, 2, d[rank - 2], d[rank - 1]);
    else if (scale_mode == 2)
        s = add_const(&t, TU_DATA_SIGNED, 1, 1);
    else
        s = add_const(&t, TU_DATA_SIGNED, 1, d[rank - 1]);
    int node;
    if (bias) {
        int b = add_const(&t, TU_DATA_SIGNED, 1, d[rank - 1]);
        node = add_node(&t, OP_LAYER_NORM, 3, x, s, b);
    } else {
        node = add_node(&t, OP_LAYER_NORM, 2, x, s);
    }
    set_int(&t, node, "axis", axis);
    run_case(&t, node, what);
    case_end(&t);
}

Test(lower_nn, layer_norm)
{
    for (int i = 0; i < 4; i++) {
        layer_norm_case(case_seed(i), 2, -1, 0, true, "layer_norm [a, b] axis -1");
        layer_norm_case(case_seed(i), 3, -1, 0, i % 2, "layer_norm rank 3 axis -1");
        layer_norm_case(case_seed(i), 2, 1, 0, true, "layer_norm [a, b] axis 1");
        layer_norm_case(case_seed(i), 3, 1, 0, true, "layer_norm rank 3 axis 1");
        layer_norm_case(case_seed(i), 3, 1, 1, i % 2, "layer_norm axis 1 broadcast scale");
        layer_norm_case(case_seed(i), 3, 1, 2, false, "layer_norm axis 1 scalar scale");
    }
}

/* ----------------------------------------------------------------- softmax */

Test(lower_nn, softmax)
{
    static const int axes[] = {0, 1, -1};
    for (int i = 0; i < 4; i++) {
        for (int a = 0; a < 3; a++) {
            for (int rank = 2; rank <= 3; rank++) {
                Case t;
                case_begin(&t, case_seed(i));
                TuRng *r = &t.rng;
                int x = rank == 2 ? add_input(&t, TU_DATA_SIGNED, 2, tu_rng_int(r, 1, 4),
                                              tu_rng_int(r, 1, 9))
                                  : add_input(&t, TU_DATA_SIGNED, 3, tu_rng_int(r, 1, 3),
                                              tu_rng_int(r, 1, 5), tu_rng_int(r, 1, 5));
                int node = add_node(&t, OP_SOFTMAX, 1, x);
                if (axes[a] != -1 || i % 2)
                    set_int(&t, node, "axis", axes[a]);
                char what[64];
                snprintf(what, sizeof what, "softmax rank %d axis %d", rank, axes[a]);
                run_case(&t, node, what);
                case_end(&t);
            }
        }
    }
}

/* Values far from 0 overflow exp unless the max is subtracted first. */
Test(lower_nn, softmax_large_values)
{
    Case t;
    case_begin(&t, case_seed(0));
    int x = add_input(&t, TU_DATA_SIGNED, 2, 3, 7);
    for (int i = 0; i < 21; i++)
        t.in_data[0][i] = t.in_data[0][i] * 50.0f + 100.0f;
    int node = add_node(&t, OP_SOFTMAX, 1, x);
    set_int(&t, node, "axis", 1);
    run_case(&t, node, "softmax large values");
    case_end(&t);
}
