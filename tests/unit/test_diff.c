/* test_diff.c: the differential test of the backends against the reference
 * interpreter, for every op in ir/ops.def.
 *
 * Each case is a small graph written as graph-language text with random
 * shapes and attributes, run on fresh random data (never all zeros) through
 * interp_run, loop_eval and the emitted C (see tu_diff_graph). Outputs must
 * agree within 1e-5 of the output's scale. The seed comes from the clock
 * (ETCH_SEED overrides it); a failure prints the seed and the graph text,
 * so ETCH_SEED=N etch_tests --filter 'diff/OP' replays it exactly
 * (ETCH_DIFF_VERBOSE=1 prints every case's graph as it runs). One
 * Criterion test per op batches its cases so the suite stays fast.
 */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define DIFF_TOL 1e-5

typedef struct {
    const char *op;
    TuRng rng;
    char *workdir;
    int ncases, nfail;
    TuStr report;
    /* the case being built */
    TuStr text;
    TuData kinds[16];
    int nin;
} Diff;

static void diff_begin(Diff *d, const char *op)
{
    memset(d, 0, sizeof *d);
    d->op = op;
    tu_rng_init(&d->rng, tu_seed());
    d->workdir = tu_mkdtemp("diff");
}

static void diff_end(Diff *d)
{
    if (d->nfail)
        fprintf(stderr, "\n==== diff/%s: %d of %d cases failed (ETCH_SEED=%llu) ====\n%s",
                d->op, d->nfail, d->ncases, (unsigned long long)tu_seed(), d->report.s);
    tu_rmtree(d->workdir);
    free(d->workdir);
    free(d->report.s);
    free(d->text.s);
    cr_assert(d->ncases > 0, "diff/%s ran no cases", d->op);
    cr_assert(d->nfail == 0, "diff/%s: %d of %d cases failed; replay with ETCH_SEED=%llu",
              d->op, d->nfail, d->ncases, (unsigned long long)tu_seed());
}

static int rnd(Diff *d, int lo, int hi)
{
    return tu_rng_int(&d->rng, lo, hi);
}

static bool coin(Diff *d)
{
    return tu_rng_bool(&d->rng);
}

/* Starts a graph named after the op and the case number. */
static void g_begin(Diff *d)
{
    tu_str_clear(&d->text);
    d->nin = 0;
    tu_str_printf(&d->text, "graph d_%s_%d {\n", d->op, d->ncases);
}

static void g_type(Diff *d, int rank, const int64_t *dims)
{
    tu_str_append(&d->text, "f32[");
    for (int i = 0; i < rank; i++)
        tu_str_printf(&d->text, "%s%lld", i ? ", " : "", (long long)dims[i]);
    tu_str_append(&d->text, "]");
}

static void g_input(Diff *d, const char *name, int rank, const int64_t *dims, TuData kind)
{
    tu_str_printf(&d->text, "  input %s : ", name);
    g_type(d, rank, dims);
    tu_str_append(&d->text, "\n");
    d->kinds[d->nin++] = kind;
}

static void g_const(Diff *d, const char *name, int rank, const int64_t *dims, TuData kind)
{
    int64_t n = 1;
    for (int i = 0; i < rank; i++)
        n *= dims[i];
    tu_str_printf(&d->text, "  const %s : ", name);
    g_type(d, rank, dims);
    tu_str_append(&d->text, " = ");
    tu_str_data(&d->text, &d->rng, n, kind);
    tu_str_append(&d->text, "\n");
}

/* An input or, on a coin flip, a const with inline data: both buffer kinds. */
static void g_operand(Diff *d, const char *name, int rank, const int64_t *dims, TuData kind)
{
    if (coin(d))
        g_const(d, name, rank, dims, kind);
    else
        g_input(d, name, rank, dims, kind);
}

static void g_line(Diff *d, const char *fmt, ...) IR_PRINTF(2, 3);
static void g_line(Diff *d, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char buf[2048];
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    tu_str_printf(&d->text, "  %s\n", buf);
}

/* ", name = [a, b]" into s. */
static void attr_ints(TuStr *s, const char *name, int n, const int64_t *v)
{
    tu_str_printf(s, ", %s = [", name);
    for (int i = 0; i < n; i++)
        tu_str_printf(s, "%s%lld", i ? ", " : "", (long long)v[i]);
    tu_str_append(s, "]");
}

/* Closes the graph (output y) and runs it. */
static void g_run(Diff *d)
{
    tu_str_append(&d->text, "  output y\n}\n");
    d->ncases++;
    if (getenv("ETCH_DIFF_VERBOSE"))
        fprintf(stderr, "%s", d->text.s);
    if (!tu_diff_graph(d->text.s, &d->rng, d->kinds, DIFF_TOL, d->workdir, &d->report)) {
        d->nfail++;
        tu_str_printf(&d->report, "---- (case %d of diff/%s)\n\n", d->ncases - 1, d->op);
    }
}

static void rand_dims(Diff *d, int rank, int64_t *dims, int lo, int hi)
{
    for (int i = 0; i < rank; i++)
        dims[i] = rnd(d, lo, hi);
}

/* ------------------------------------------------------- elementwise */

/* Two shapes that broadcast (numpy rules) to a random output shape. Case
 * 0: equal shapes; 1: b is rank 0; 2: a is rank 0; else random. */
static void bcast_shapes(Diff *d, int which, int *ra, int64_t *da, int *rb, int64_t *db)
{
    int64_t out[4];
    int ro = rnd(d, 1, 4);
    rand_dims(d, ro, out, 1, 5);
    int *rk[2] = {ra, rb};
    int64_t *dm[2] = {da, db};
    for (int k = 0; k < 2; k++) {
        int r = which == 0 ? ro : rnd(d, 0, ro);
        if ((which == 1 && k == 1) || (which == 2 && k == 0))
            r = 0;
        *rk[k] = r;
        for (int i = 0; i < r; i++) {
            int64_t full = out[ro - r + i];
            dm[k][i] = (which != 0 && rnd(d, 0, 2) == 0) ? 1 : full;
        }
    }
}

static void binary_cases(const char *op, TuData bkind)
{
    Diff d;
    diff_begin(&d, op);
    for (int c = 0; c < 7; c++) {
        int ra, rb;
        int64_t da[4], db[4];
        bcast_shapes(&d, c, &ra, da, &rb, db);
        g_begin(&d);
        g_input(&d, "a", ra, da, TU_DATA_SIGNED);
        if (c == 6)
            g_const(&d, "b", rb, db, bkind);
        else
            g_input(&d, "b", rb, db, bkind);
        g_line(&d, "y = %s(a, b)", op);
        g_run(&d);
    }
    diff_end(&d);
}

Test(diff, add) { binary_cases("add", TU_DATA_SIGNED); }
Test(diff, sub) { binary_cases("sub", TU_DATA_SIGNED); }
Test(diff, mul) { binary_cases("mul", TU_DATA_SIGNED); }
Test(diff, div) { binary_cases("div", TU_DATA_AWAY); }

/* Unary ops on shapes of rank 0..4; `attrs` (may be empty) per case. */
static void unary_cases(const char *op, TuData kind, const char *const *attrs, int nattrs)
{
    Diff d;
    diff_begin(&d, op);
    int ncases = nattrs > 4 ? nattrs : 4;
    for (int c = 0; c < ncases; c++) {
        int64_t dims[4];
        int r = c == 0 ? 0 : rnd(&d, 1, 4);
        rand_dims(&d, r, dims, 1, 6);
        g_begin(&d);
        g_input(&d, "x", r, dims, kind);
        const char *a = nattrs ? attrs[c % nattrs] : "";
        g_line(&d, "y = %s(x%s%s)", op, *a ? ", " : "", a);
        g_run(&d);
    }
    diff_end(&d);
}

Test(diff, relu) { unary_cases("relu", TU_DATA_WIDE, NULL, 0); }
Test(diff, sigmoid) { unary_cases("sigmoid", TU_DATA_SIGNED, NULL, 0); }
Test(diff, tanh) { unary_cases("tanh", TU_DATA_SIGNED, NULL, 0); }
Test(diff, exp) { unary_cases("exp", TU_DATA_SIGNED, NULL, 0); }
Test(diff, log) { unary_cases("log", TU_DATA_POSITIVE, NULL, 0); }
Test(diff, sqrt) { unary_cases("sqrt", TU_DATA_POSITIVE, NULL, 0); }
Test(diff, neg) { unary_cases("neg", TU_DATA_SIGNED, NULL, 0); }
Test(diff, abs) { unary_cases("abs", TU_DATA_SIGNED, NULL, 0); }
Test(diff, identity) { unary_cases("identity", TU_DATA_SIGNED, NULL, 0); }

Test(diff, clip)
{
    static const char *const a[] = {
        "min = -0.5, max = 0.75", "min = 0, max = 6", "min = 0.25", "max = -0.1", "",
    };
    unary_cases("clip", TU_DATA_SIGNED, a, 5);
}

Test(diff, leaky_relu)
{
    static const char *const a[] = {"", "alpha = 0.2", "alpha = 1.5", "alpha = -0.3"};
    unary_cases("leaky_relu", TU_DATA_SIGNED, a, 4);
}

Test(diff, gelu)
{
    static const char *const a[] = {"", "approximate = \"tanh\"", "approximate = \"none\"",
                                    "approximate = \"tanh\""};
    unary_cases("gelu", TU_DATA_SIGNED, a, 4);
}

/* Chains of elementwise ops, which lowering may fuse into one loop. */
Test(diff, eltwise_chain)
{
    Diff d;
    diff_begin(&d, "chain");
    for (int c = 0; c < 4; c++) {
        int ra, rb;
        int64_t da[4], db[4];
        bcast_shapes(&d, 3, &ra, da, &rb, db);
        g_begin(&d);
        g_input(&d, "a", ra, da, TU_DATA_SIGNED);
        g_input(&d, "b", rb, db, TU_DATA_AWAY);
        if (c % 2 == 0) {
            g_line(&d, "t = relu(add(mul(a, b), a))");
            g_line(&d, "y = sigmoid(sub(t, div(a, b)))");
        } else {
            g_line(&d, "y = clip(gelu(neg(abs(div(a, b))), approximate = \"tanh\"), min = -0.1)");
        }
        g_run(&d);
    }
    diff_end(&d);
}

/* ------------------------------------------------------------ nn ops */

/* Most cases carry a fused activation, as the fuse-activation pass sets
 * them: a clamp (act_min/act_max: relu, relu6-like clip, or one straddling
 * zero) or an `act` (after a clamp or alone), so every kernel form's clamp
 * and act are checked. */
static void fused_activation(Diff *d, TuStr *a)
{
    switch (rnd(d, 0, 8)) {
    case 0: tu_str_append(a, ", act_min = 0"); break;
    case 1: tu_str_append(a, ", act_min = 0, act_max = 1.5"); break;
    case 2: tu_str_append(a, ", act_min = -0.75, act_max = 0.5"); break;
    case 3: tu_str_append(a, ", act = \"sigmoid($0)\""); break;
    case 4: tu_str_append(a, ", act_min = -1, act = \"tanh($0)\""); break;
    case 5: tu_str_append(a, ", act = \"leaky_relu($0, alpha = 0.1)\""); break;
    case 6: tu_str_append(a, ", act = \"gelu($0)\""); break;
    default: break;
    }
}

/* One conv case; `kind`: 0 plain 2-D, 1 strides+pads, 2 dilations,
 * 3 groups, 4 depthwise, 5 1-D, 6 auto_pad, 7 everything random. */
static void conv_case(Diff *d, int kind)
{
    int nsp = kind == 5 ? 1 : (kind == 7 ? rnd(d, 1, 2) : 2);
    int64_t n = rnd(d, 1, 2), group = 1;
    int64_t cpg = rnd(d, 1, 3), mpg = rnd(d, 1, 2);
    if (kind == 3 || (kind == 7 && coin(d)))
        group = rnd(d, 2, 3);
    if (kind == 4) {
        group = rnd(d, 2, 4);
        cpg = 1;
    }
    int64_t ch = group * cpg, m = group * mpg;
    int64_t k[2], s[2], dil[2], pb[2], pe[2], in[2];
    const char *autopad = NULL;
    static const char *const modes[] = {"SAME_UPPER", "SAME_LOWER", "VALID"};
    if (kind == 6 || (kind == 7 && rnd(d, 0, 3) == 0))
        autopad = modes[rnd(d, 0, 2)];
    bool any = kind == 7 || kind == 6;
    for (int i = 0; i < nsp; i++) {
        k[i] = rnd(d, 1, 3);
        s[i] = (kind == 1 || any) ? rnd(d, 1, 2) : 1;
        dil[i] = (kind == 2 || (kind == 7 && !autopad)) ? rnd(d, 1, 2) : 1;
        pb[i] = (kind == 1 || kind == 4 || any) ? rnd(d, 0, 2) : 0;
        pe[i] = (kind == 1 || kind == 4 || any) ? rnd(d, 0, 2) : 0;
        int64_t span = (k[i] - 1) * dil[i] + 1;
        in[i] = span + rnd(d, 0, 5);
    }
    int64_t xd[4] = {n, ch}, wd[4] = {m, cpg}, bd[1] = {m};
    for (int i = 0; i < nsp; i++) {
        xd[2 + i] = in[i];
        wd[2 + i] = k[i];
    }
    bool bias = kind != 0 && coin(d);
    g_begin(d);
    g_input(d, "x", 2 + nsp, xd, TU_DATA_SIGNED);
    g_operand(d, "w", 2 + nsp, wd, TU_DATA_SIGNED);
    if (bias)
        g_operand(d, "b", 1, bd, TU_DATA_SIGNED);
    TuStr a = {0};
    if (group != 1)
        tu_str_printf(&a, ", group = %lld", (long long)group);
    if (s[0] != 1 || (nsp > 1 && s[1] != 1))
        attr_ints(&a, "strides", nsp, s);
    if (dil[0] != 1 || (nsp > 1 && dil[1] != 1))
        attr_ints(&a, "dilations", nsp, dil);
    if (autopad) {
        tu_str_printf(&a, ", auto_pad = \"%s\"", autopad);
    } else if (pb[0] || pe[0] || (nsp > 1 && (pb[1] || pe[1]))) {
        int64_t pads[4];
        for (int i = 0; i < nsp; i++) {
            pads[i] = pb[i];
            pads[nsp + i] = pe[i];
        }
        attr_ints(&a, "pads", 2 * nsp, pads);
    }
    if (coin(d))
        attr_ints(&a, "kernel_shape", nsp, k);
    fused_activation(d, &a);
    g_line(d, "y = conv(x, w%s%s)", bias ? ", b" : "", a.s ? a.s : "");
    free(a.s);
    g_run(d);
}

Test(diff, conv, .timeout = 120)
{
    Diff d;
    diff_begin(&d, "conv");
    for (int c = 0; c < 12; c++)
        conv_case(&d, c < 8 ? c : 7);
    diff_end(&d);
}

/* Shapes for the vector register tiles of the host form (lower_conv_vec
 * in lower_nn.c): rows wider than several tiles, so there are tiles in a
 * loop, tiles at the edges (whose vectors reach into the padding, or read
 * a padded copy in row chunks) and a last vector that overlaps the one
 * before it; rows narrower than a vector; output channels and rows that
 * leave smaller last tiles; 1x1 convs (one row of pixels, the reduction
 * unrolled by input channels); strides (the phase-split copy), pads,
 * groups, depthwise (weights held in registers) and a fused activation;
 * many channels over few pixels (the channel-lane tiles, with their
 * weight table and partial last vector of channels); kernels of more taps
 * than the tiles unroll (a loop over kh); depthwise convs of stride 2
 * (a copy per channel, its columns unzipped from pairs of vectors: rows
 * of 18 and 16 without left padding end a phase at the row's last element,
 * which the phase's last vector, of 8 lanes, reaches from one element
 * before it, or covers alone, one by one) and of a few output pixels
 * (3 x 3); pointwise convs of 32 and 34 channels over 6 x 6 pixels, whose
 * rows' last vector takes two blocks of channels at once (vtail_blocks),
 * beside a block of the rest. */
static void conv_tile_case(Diff *d, int c)
{
    int kind = c % 8;
    int64_t group = kind == 2 ? rnd(d, 2, 3) : 1, cpg = rnd(d, 1, 5), mpg = rnd(d, 1, 11);
    if (kind == 3 || kind >= 6) { /* depthwise */
        group = rnd(d, 2, 5);
        cpg = 1;
        mpg = 1;
    }
    if (kind == 4) { /* many channels, few pixels: the channel-lane tiles */
        cpg = rnd(d, 4, 12);
        mpg = rnd(d, 6, 20);
    }
    bool pointwise = kind == 1;
    /* The first case of kind 5: one input channel, stride 1, padded, wide
     * rows, which the pixel tiles read from x directly, under a loop over kh
     * (a case that once loaded rows above the input). */
    bool direct = kind == 5 && c < 6;
    if (pointwise && c < 16) {
        cpg = rnd(d, 1, 16);
        mpg = c < 8 ? 34 : 32;
    }
    if (direct)
        cpg = 1;
    int64_t k[2], s[2], pb[2], pe[2], in[2];
    for (int i = 0; i < 2; i++) {
        k[i] = pointwise ? 1 : kind == 5 ? rnd(d, 4, 5) : rnd(d, 1, 3); /* 5: a loop over kh */
        s[i] = pointwise || direct ? 1 : rnd(d, 1, 2);
        pb[i] = pointwise ? 0 : rnd(d, direct, 2);
        pe[i] = pointwise ? 0 : rnd(d, direct, 2);
        in[i] = i == 0 ? rnd(d, k[i], 6) : rnd(d, 1, 3) == 1 && !direct ? rnd(d, k[i], 9) : rnd(d, 17, 53);
        if (pointwise && c < 16)
            in[i] = 6;
        if (kind == 4) {
            in[i] = rnd(d, k[i], 6);
            pb[i] = pe[i] = rnd(d, 1, 4) == 1;
        }
        if (kind == 6) { /* stride 2, as MobileNet's */
            k[i] = 3;
            s[i] = 2;
            pb[i] = rnd(d, 0, 1);
            pe[i] = rnd(d, 0, 1);
            in[i] = i == 0 ? rnd(d, 3, 12) : c < 16 ? 18 - 2 * (c / 8) : rnd(d, 17, 53);
            if (i == 1 && c < 16)
                pb[i] = 0;
        }
        if (kind == 7) { /* 3 x 3 outputs */
            k[i] = 3;
            s[i] = rnd(d, 1, 2);
            pb[i] = pe[i] = rnd(d, 0, 1);
            in[i] = (3 - 1) * s[i] + k[i] - pb[i] - pe[i];
        }
    }
    int64_t xd[4] = {1, group * cpg, in[0], in[1]}, wd[4] = {group * mpg, cpg, k[0], k[1]};
    int64_t bd[1] = {group * mpg};
    bool bias = coin(d);
    g_begin(d);
    g_input(d, "x", 4, xd, TU_DATA_SIGNED);
    g_operand(d, "w", 4, wd, TU_DATA_SIGNED);
    if (bias)
        g_operand(d, "b", 1, bd, TU_DATA_SIGNED);
    TuStr a = {0};
    if (group != 1)
        tu_str_printf(&a, ", group = %lld", (long long)group);
    if (s[0] != 1 || s[1] != 1)
        attr_ints(&a, "strides", 2, s);
    if (pb[0] || pe[0] || pb[1] || pe[1]) {
        int64_t pads[4] = {pb[0], pb[1], pe[0], pe[1]};
        attr_ints(&a, "pads", 4, pads);
    }
    fused_activation(d, &a);
    g_line(d, "y = conv(x, w%s%s)", bias ? ", b" : "", a.s ? a.s : "");
    free(a.s);
    g_run(d);
}

Test(diff, conv_tiles, .timeout = 240)
{
    Diff d;
    diff_begin(&d, "conv_tiles");
    for (int c = 0; c < 24; c++)
        conv_tile_case(&d, c);
    diff_end(&d);
}

/* ResNet's block tail: a conv whose result is added to a tensor of its
 * shape (the residual fuse-residual folds into the conv, in place where the
 * form allows), sometimes with a relu after, the residual on either side.
 * Every fourth case adds the conv's own input (same shape: 3x3, pads 1,
 * stride 1), which must not be overwritten in place. The residual and the
 * sum are intermediates, the buffers plan-memory may merge. */
static void conv_residual_case(Diff *d, int c)
{
    bool self = c % 4 == 3;
    int64_t group = !self && c % 3 == 2 ? 2 : 1, cpg = rnd(d, 1, 3);
    int64_t mpg = self ? cpg : rnd(d, 1, 4);
    int64_t k[2], s[2], pb[2], pe[2], in[2], out[2];
    for (int i = 0; i < 2; i++) {
        k[i] = self ? 3 : rnd(d, 1, 3);
        s[i] = self ? 1 : rnd(d, 1, 2);
        pb[i] = self ? 1 : rnd(d, 0, 1);
        pe[i] = self ? 1 : rnd(d, 0, 1);
        in[i] = rnd(d, k[i], i == 1 ? 19 : 6);
        out[i] = (in[i] + pb[i] + pe[i] - k[i]) / s[i] + 1;
    }
    int64_t xd[4] = {1, group * cpg, in[0], in[1]}, wd[4] = {group * mpg, cpg, k[0], k[1]};
    int64_t bd[1] = {group * mpg}, rd[4] = {1, group * mpg, out[0], out[1]};
    bool bias = coin(d);
    g_begin(d);
    g_input(d, "x", 4, xd, TU_DATA_SIGNED);
    g_operand(d, "w", 4, wd, TU_DATA_SIGNED);
    if (bias)
        g_operand(d, "b", 1, bd, TU_DATA_SIGNED);
    if (!self)
        g_input(d, "r0", 4, rd, TU_DATA_SIGNED);
    /* Intermediates, not graph inputs or outputs: only workspace buffers
     * share bytes in place. */
    g_line(d, self ? "xt = neg(x)" : "r = neg(r0)");
    int64_t pads[4] = {pb[0], pb[1], pe[0], pe[1]};
    TuStr a = {0};
    if (group != 1)
        tu_str_printf(&a, ", group = %lld", (long long)group);
    attr_ints(&a, "strides", 2, s);
    attr_ints(&a, "pads", 4, pads);
    g_line(d, "c = conv(%s, w%s%s)", self ? "xt" : "x", bias ? ", b" : "", a.s);
    free(a.s);
    const char *r = self ? "xt" : "r";
    char sum[32];
    snprintf(sum, sizeof sum, c % 2 ? "add(c, %s)" : "add(%s, c)", r);
    g_line(d, c % 4 >= 2 ? "t = relu(%s)" : "t = %s", sum);
    g_line(d, "y = neg(t)");
    g_run(d);
}

Test(diff, conv_residual, .timeout = 240)
{
    Diff d;
    diff_begin(&d, "conv_residual");
    for (int c = 0; c < 8; c++)
        conv_residual_case(&d, c);
    diff_end(&d);
}

static void gemm_case(Diff *d, int c)
{
    int64_t m = rnd(d, 1, 6), k = rnd(d, 1, 7), n = rnd(d, 1, 6);
    bool ta = c % 2 == 1 || (c > 5 && coin(d)), tb = c % 4 >= 2 || (c > 5 && coin(d));
    int64_t ad[2] = {ta ? k : m, ta ? m : k}, bd[2] = {tb ? n : k, tb ? k : n};
    /* c shapes: none, [N], [1, N], [M, 1], [M, N], scalar, [1]; from case 11
     * none, and an add of [M, N] after the gemm instead */
    int cs = c < 7 ? c : c < 11 ? rnd(d, 0, 6) : 0;
    int64_t cd[2];
    int cr = 0;
    switch (cs) {
    case 1: cr = 1; cd[0] = n; break;
    case 2: cr = 2; cd[0] = 1; cd[1] = n; break;
    case 3: cr = 2; cd[0] = m; cd[1] = 1; break;
    case 4: cr = 2; cd[0] = m; cd[1] = n; break;
    case 5: cr = 0; break;
    case 6: cr = 1; cd[0] = 1; break;
    default: break;
    }
    g_begin(d);
    g_input(d, "a", 2, ad, TU_DATA_SIGNED);
    g_operand(d, "b", 2, bd, TU_DATA_SIGNED);
    if (cs != 0)
        g_operand(d, "c", cr, cd, TU_DATA_SIGNED);
    TuStr a = {0};
    if (ta)
        tu_str_append(&a, ", trans_a = 1");
    if (tb)
        tu_str_append(&a, ", trans_b = 1");
    if (c >= 3)
        tu_str_printf(&a, ", alpha = %.4g", (double)tu_rng_float(&d->rng, -2, 2));
    if (c >= 4 && cs != 0)
        tu_str_printf(&a, ", beta = %.4g", (double)tu_rng_float(&d->rng, -2, 2));
    if (c >= 11) { /* an add after it, which fuse-residual makes its c */
        int64_t rd[2] = {m, n};
        g_operand(d, "r", 2, rd, TU_DATA_SIGNED);
        g_line(d, "t = gemm(a, b%s)", a.s ? a.s : "");
        g_line(d, coin(d) ? "y = relu(add(t, r))" : "y = add(r, t)");
    } else {
        fused_activation(d, &a);
        g_line(d, "y = gemm(a, b%s%s)", cs ? ", c" : "", a.s ? a.s : "");
    }
    free(a.s);
    g_run(d);
}

Test(diff, gemm)
{
    Diff d;
    diff_begin(&d, "gemm");
    for (int c = 0; c < 14; c++)
        gemm_case(&d, c);
    diff_end(&d);
}

/* The register-tiled form of a gemm or matmul by a constant matrix
 * (lower_mm.c), at sizes past one tile: row tiles and the rows left,
 * whole panels and the last one's columns lane by lane, narrow rows,
 * every c it reads as a vector or a broadcast, alpha, beta, activations.
 * Even cases are gemms, odd ones matmuls of a batched (or 1-D) a. */
static void mm_tile_case(Diff *d, int c)
{
    int64_t m = rnd(d, 1, 20), k = rnd(d, 1, 40), n = c % 3 == 0 ? rnd(d, 1, 5) : rnd(d, 6, 70);
    TuStr a = {0};
    g_begin(d);
    if (c % 2 == 0) {
        bool ta = coin(d), tb = coin(d);
        int64_t ad[2] = {ta ? k : m, ta ? m : k}, bd[2] = {tb ? n : k, tb ? k : n};
        g_input(d, "a", 2, ad, TU_DATA_SIGNED);
        g_const(d, "b", 2, bd, TU_DATA_SIGNED);
        int64_t cd[2] = {m, n};
        int cs = rnd(d, 0, 4);
        bool has_c = cs != 0;
        switch (cs) {
        case 0: break;
        case 1: g_operand(d, "c", 1, cd + 1, TU_DATA_SIGNED); break;
        case 2: cd[1] = 1; g_operand(d, "c", 2, cd, TU_DATA_SIGNED); break;
        case 3: g_operand(d, "c", 2, cd, TU_DATA_SIGNED); break;
        default: g_operand(d, "c", 0, cd, TU_DATA_SIGNED); break;
        }
        tu_str_printf(&a, "%s%s, alpha = %.4g", ta ? ", trans_a = 1" : "", tb ? ", trans_b = 1" : "",
                      (double)tu_rng_float(&d->rng, -2, 2));
        if (has_c)
            tu_str_printf(&a, ", beta = %.4g", (double)tu_rng_float(&d->rng, -2, 2));
        fused_activation(d, &a);
        g_line(d, "y = gemm(a, b%s%s)", has_c ? ", c" : "", a.s);
    } else {
        int64_t ad[3] = {rnd(d, 1, 3), m, k}, bd[2] = {k, n}, yd[3] = {ad[0], m, n};
        int ra = c % 4 == 3 ? 1 : 3;
        g_input(d, "a", ra, ra == 1 ? ad + 2 : ad, TU_DATA_SIGNED);
        g_const(d, "b", 2, bd, TU_DATA_SIGNED);
        bool full = coin(d) && ra == 3;
        g_operand(d, "c", full ? 3 : 1, full ? yd : yd + 2, TU_DATA_SIGNED);
        fused_activation(d, &a);
        g_line(d, "y = matmul(a, b, c%s)", a.s ? a.s : "");
    }
    free(a.s);
    g_run(d);
}

Test(diff, mm_tiles, .timeout = 240)
{
    Diff d;
    diff_begin(&d, "mm_tiles");
    for (int c = 0; c < 16; c++)
        mm_tile_case(&d, c);
    diff_end(&d);
}

/* matmul's output dims for a [da, ra] and b [db, rb] (numpy rules). */
static int matmul_out_dims(const int64_t *da, int ra, const int64_t *db, int rb, int64_t *yd)
{
    int nba = ra > 1 ? ra - 2 : 0, nbb = rb > 1 ? rb - 2 : 0, nb = nba > nbb ? nba : nbb, r = 0;
    for (int i = 0; i < nb; i++) {
        int ia = i - (nb - nba), ib = i - (nb - nbb);
        int64_t x = ia >= 0 ? da[ia] : 1, y = ib >= 0 ? db[ib] : 1;
        yd[r++] = x > y ? x : y;
    }
    if (ra > 1)
        yd[r++] = da[ra - 2];
    if (rb > 1)
        yd[r++] = db[rb - 1];
    return r;
}

/* Cases 0..7 each matmul form; from 8 on, the same forms with a c (a
 * suffix of y's dims, some 1) and a fused activation, written fused
 * (matmul(a, b, c, ...)) or as the add and activation fuse-residual and
 * fuse-activation fold. */
Test(diff, matmul)
{
    Diff d;
    diff_begin(&d, "matmul");
    for (int c = 0; c < 16; c++) {
        int64_t m = rnd(&d, 1, 5), k = rnd(&d, 1, 6), n = rnd(&d, 1, 5), b = rnd(&d, 2, 3);
        int ra, rb;
        int64_t da[4], db[4];
        switch (c) {
        case 0: ra = rb = 2; da[0] = m; da[1] = k; db[0] = k; db[1] = n; break;
        case 1: /* batched, same batch */
            ra = rb = 3;
            da[0] = db[0] = b;
            da[1] = m; da[2] = k; db[1] = k; db[2] = n;
            break;
        case 2: /* [2, 1, M, K] x [3, K, N] broadcasts to [2, 3, M, N] */
            ra = 4; rb = 3;
            da[0] = 2; da[1] = 1; da[2] = m; da[3] = k;
            db[0] = b; db[1] = k; db[2] = n;
            break;
        case 3: ra = 1; rb = 2; da[0] = k; db[0] = k; db[1] = n; break;
        case 4: ra = 2; rb = 1; da[0] = m; da[1] = k; db[0] = k; break;
        case 5: ra = rb = 1; da[0] = k; db[0] = k; break;
        case 6: /* batched a, plain b */
            ra = 3; rb = 2;
            da[0] = b; da[1] = m; da[2] = k; db[0] = k; db[1] = n;
            break;
        case 7: /* 1-D a against batched b */
            ra = 1; rb = 3;
            da[0] = k; db[0] = b; db[1] = k; db[2] = n;
            break;
        default: /* batched a, plain b: a dense layer over a sequence */
            ra = rnd(&d, 2, 3); rb = 2;
            da[0] = b; da[ra - 2] = m; da[ra - 1] = k; db[0] = k; db[1] = n;
            break;
        }
        g_begin(&d);
        g_input(&d, "a", ra, da, TU_DATA_SIGNED);
        g_operand(&d, "b", rb, db, TU_DATA_SIGNED);
        if (c < 8) {
            g_line(&d, "y = matmul(a, b)");
        } else {
            int64_t yd[IR_MAX_RANK], cd[IR_MAX_RANK];
            int yr = matmul_out_dims(da, ra, db, rb, yd), cr = rnd(&d, 0, yr);
            for (int i = 0; i < cr; i++)
                cd[i] = coin(&d) ? yd[yr - cr + i] : 1;
            g_operand(&d, "c", cr, cd, TU_DATA_SIGNED);
            TuStr a = {0};
            fused_activation(&d, &a);
            if (c % 2)
                g_line(&d, "y = matmul(a, b, c%s)", a.s ? a.s : "");
            else
                g_line(&d, c % 4 ? "y = relu(add(matmul(a, b), c))" : "y = add(c, matmul(a, b))");
            free(a.s);
        }
        g_run(&d);
    }
    diff_end(&d);
}

/* One pool case; `kind`: 0 plain, 1 strides+pads, 2 ceil_mode, 3 1-D,
 * 4 dilations, 5 auto_pad, 6 count_include_pad (average), 7 random. */
static void pool_case(Diff *d, const char *op, int kind)
{
    bool avg = strcmp(op, "average_pool") == 0;
    int nsp = kind == 3 ? 1 : (kind == 7 ? rnd(d, 1, 2) : 2);
    int64_t k[2], s[2], dil[2], pb[2], pe[2], xd[4] = {rnd(d, 1, 2), rnd(d, 1, 3)};
    bool any = kind == 7;
    for (int i = 0; i < nsp; i++) {
        k[i] = rnd(d, 1, 3);
        s[i] = (kind == 1 || kind == 2 || kind == 5 || any) ? rnd(d, 1, 3) : 1;
        dil[i] = (kind == 4 || (any && !avg)) ? rnd(d, 1, 2) : 1;
        /* ONNX wants pads smaller than the kernel. */
        pb[i] = (kind == 1 || kind == 2 || kind == 6 || any) ? rnd(d, 0, (int)k[i] - 1) : 0;
        pe[i] = (kind == 1 || kind == 2 || kind == 6 || any) ? rnd(d, 0, (int)k[i] - 1) : 0;
        xd[2 + i] = (k[i] - 1) * dil[i] + 1 + rnd(d, 0, 5);
    }
    g_begin(d);
    g_input(d, "x", 2 + nsp, xd, TU_DATA_SIGNED);
    TuStr a = {0};
    attr_ints(&a, "kernel_shape", nsp, k);
    if (s[0] != 1 || (nsp > 1 && s[1] != 1))
        attr_ints(&a, "strides", nsp, s);
    if (dil[0] != 1 || (nsp > 1 && dil[1] != 1))
        attr_ints(&a, "dilations", nsp, dil);
    if (kind == 5) {
        tu_str_printf(&a, ", auto_pad = \"%s\"", coin(d) ? "SAME_UPPER" : "VALID");
    } else if (pb[0] || pe[0] || (nsp > 1 && (pb[1] || pe[1]))) {
        int64_t pads[4];
        for (int i = 0; i < nsp; i++) {
            pads[i] = pb[i];
            pads[nsp + i] = pe[i];
        }
        attr_ints(&a, "pads", 2 * nsp, pads);
    }
    if (kind == 2 || (any && coin(d)))
        tu_str_append(&a, ", ceil_mode = 1");
    if (avg && (kind == 6 || (any && coin(d))))
        tu_str_append(&a, ", count_include_pad = 1");
    g_line(d, "y = %s(x%s)", op, a.s);
    free(a.s);
    g_run(d);
}

static void pool_cases(const char *op)
{
    Diff d;
    diff_begin(&d, op);
    for (int c = 0; c < 11; c++)
        pool_case(&d, op, c < 8 ? c : 7);
    diff_end(&d);
}

Test(diff, max_pool) { pool_cases("max_pool"); }
Test(diff, average_pool) { pool_cases("average_pool"); }

static void global_pool_cases(const char *op)
{
    Diff d;
    diff_begin(&d, op);
    for (int c = 0; c < 4; c++) {
        int r = 3 + c % 3;
        int64_t xd[5];
        rand_dims(&d, r, xd, 1, 5);
        g_begin(&d);
        g_input(&d, "x", r, xd, TU_DATA_SIGNED);
        g_line(&d, "y = %s(x)", op);
        g_run(&d);
    }
    diff_end(&d);
}

Test(diff, global_average_pool) { global_pool_cases("global_average_pool"); }
Test(diff, global_max_pool) { global_pool_cases("global_max_pool"); }

Test(diff, batch_norm)
{
    Diff d;
    diff_begin(&d, "batch_norm");
    for (int c = 0; c < 5; c++) {
        int r = 2 + c % 3;
        int64_t xd[4], cd[1];
        rand_dims(&d, r, xd, 1, 5);
        cd[0] = xd[1];
        g_begin(&d);
        g_input(&d, "x", r, xd, TU_DATA_SIGNED);
        g_operand(&d, "s", 1, cd, TU_DATA_SIGNED);
        g_operand(&d, "b", 1, cd, TU_DATA_SIGNED);
        g_operand(&d, "mean", 1, cd, TU_DATA_SIGNED);
        g_operand(&d, "var", 1, cd, TU_DATA_POSITIVE);
        if (c >= 3)
            g_line(&d, "y = batch_norm(x, s, b, mean, var, epsilon = %.3g)",
                   (double)tu_rng_float(&d.rng, 1e-4f, 1e-2f));
        else
            g_line(&d, "y = batch_norm(x, s, b, mean, var)");
        g_run(&d);
    }
    diff_end(&d);
}

Test(diff, layer_norm)
{
    Diff d;
    diff_begin(&d, "layer_norm");
    for (int c = 0; c < 7; c++) {
        int r = rnd(&d, 1, 4);
        int64_t xd[4];
        rand_dims(&d, r, xd, 1, 6);
        int axis = rnd(&d, -r, r - 1), pos = axis < 0 ? axis + r : axis;
        g_begin(&d);
        g_input(&d, "x", r, xd, TU_DATA_SIGNED);
        g_operand(&d, "s", r - pos, xd + pos, TU_DATA_SIGNED);
        bool bias = c % 2 == 0;
        if (bias)
            g_operand(&d, "b", r - pos, xd + pos, TU_DATA_SIGNED);
        TuStr a = {0};
        if (c != 1 || axis != -1)
            tu_str_printf(&a, ", axis = %d", axis);
        if (c >= 5)
            tu_str_printf(&a, ", epsilon = %.3g", (double)tu_rng_float(&d.rng, 1e-4f, 1e-1f));
        g_line(&d, "y = layer_norm(x, s%s%s)", bias ? ", b" : "", a.s ? a.s : "");
        free(a.s);
        g_run(&d);
    }
    diff_end(&d);
}

Test(diff, softmax)
{
    Diff d;
    diff_begin(&d, "softmax");
    for (int c = 0; c < 7; c++) {
        int r = rnd(&d, 1, 4);
        int64_t xd[4];
        rand_dims(&d, r, xd, 1, 6);
        g_begin(&d);
        g_input(&d, "x", r, xd, c == 6 ? TU_DATA_POSITIVE : c == 5 ? TU_DATA_WIDE : TU_DATA_SIGNED);
        if (c == 0)
            g_line(&d, "y = softmax(x)");
        else
            g_line(&d, "y = softmax(x, axis = %d)", rnd(&d, -r, r - 1));
        g_run(&d);
    }
    diff_end(&d);
}

/* --------------------------------------------------- shape movement */

/* A target shape for reshape: input dims regrouped, then some dims written
 * as 0 (copy the input dim at that index) or -1 (inferred). */
static int reshape_target(Diff *d, int r, const int64_t *in, int64_t *out)
{
    int n = 0;
    for (int i = 0; i < r; i++) {
        if (n > 0 && coin(d)) {
            out[n - 1] *= in[i];
        } else if (in[i] % 2 == 0 && in[i] > 2 && coin(d) && n < 6) {
            out[n++] = 2;
            out[n++] = in[i] / 2;
        } else {
            out[n++] = in[i];
        }
    }
    if (n < 6 && coin(d))
        out[n++] = 1;
    for (int i = 0; i < n; i++)
        if (i < r && out[i] == in[i] && coin(d))
            out[i] = 0;
    if (coin(d)) {
        int i = rnd(d, 0, n - 1);
        out[i] = -1;
    }
    return n;
}

Test(diff, reshape)
{
    Diff d;
    diff_begin(&d, "reshape");
    for (int c = 0; c < 8; c++) {
        int r = rnd(&d, 1, 4);
        int64_t xd[4], sh[8];
        rand_dims(&d, r, xd, 1, 6);
        int n = reshape_target(&d, r, xd, sh);
        g_begin(&d);
        g_input(&d, "x", r, xd, TU_DATA_SIGNED);
        TuStr a = {0};
        if (c == 0) {
            sh[0] = -1;
            n = 1;
        }
        attr_ints(&a, "shape", n, sh);
        /* A reshape of an intermediate, and one of an input straight out. */
        if (c % 2)
            g_line(&d, "y = reshape(neg(x)%s)", a.s);
        else
            g_line(&d, "y = reshape(x%s)", a.s);
        free(a.s);
        g_run(&d);
    }
    diff_end(&d);
}

Test(diff, flatten)
{
    Diff d;
    diff_begin(&d, "flatten");
    for (int c = 0; c < 6; c++) {
        int r = rnd(&d, 1, 4);
        int64_t xd[4];
        rand_dims(&d, r, xd, 1, 5);
        g_begin(&d);
        g_input(&d, "x", r, xd, TU_DATA_SIGNED);
        if (c == 0)
            g_line(&d, "y = flatten(x)");
        else
            g_line(&d, "y = flatten(x, axis = %d)", rnd(&d, -r, r));
        g_run(&d);
    }
    diff_end(&d);
}

Test(diff, transpose)
{
    Diff d;
    diff_begin(&d, "transpose");
    for (int c = 0; c < 7; c++) {
        int r = rnd(&d, 1, 5);
        int64_t xd[5], perm[5];
        rand_dims(&d, r, xd, 1, 4);
        for (int i = 0; i < r; i++)
            perm[i] = i;
        for (int i = r - 1; i > 0; i--) {
            int j = rnd(&d, 0, i);
            int64_t t = perm[i];
            perm[i] = perm[j];
            perm[j] = t;
        }
        g_begin(&d);
        g_input(&d, "x", r, xd, TU_DATA_SIGNED);
        if (c == 0) {
            g_line(&d, "y = transpose(x)");
        } else {
            TuStr a = {0};
            attr_ints(&a, "perm", r, perm);
            g_line(&d, "y = transpose(x%s)", a.s);
            free(a.s);
        }
        g_run(&d);
    }
    diff_end(&d);
}

Test(diff, concat)
{
    Diff d;
    diff_begin(&d, "concat");
    for (int c = 0; c < 7; c++) {
        int r = rnd(&d, 1, 4), k = c == 0 ? 1 : rnd(&d, 2, 4);
        int axis = rnd(&d, -r, r - 1), pos = axis < 0 ? axis + r : axis;
        int64_t xd[4];
        rand_dims(&d, r, xd, 1, 4);
        g_begin(&d);
        TuStr args = {0};
        for (int i = 0; i < k; i++) {
            char name[16];
            snprintf(name, sizeof name, "x%d", i);
            xd[pos] = rnd(&d, 1, 4);
            if (i == 0)
                g_input(&d, name, r, xd, TU_DATA_SIGNED);
            else
                g_operand(&d, name, r, xd, TU_DATA_SIGNED);
            tu_str_printf(&args, "%s%s", i ? ", " : "", name);
        }
        g_line(&d, "y = concat(%s, axis = %d)", args.s, axis);
        free(args.s);
        g_run(&d);
    }
    diff_end(&d);
}

Test(diff, pad)
{
    static const char *const modes[] = {"constant", "reflect", "edge"};
    Diff d;
    diff_begin(&d, "pad");
    for (int c = 0; c < 9; c++) {
        int r = rnd(&d, 1, 4), mode = c % 3;
        int64_t xd[4], pads[8];
        rand_dims(&d, r, xd, 2, 5);
        for (int i = 0; i < r; i++) {
            /* reflect needs pads below the dim */
            int hi = mode == 1 ? (int)xd[i] - 1 : 3;
            pads[i] = rnd(&d, 0, hi < 2 ? hi : 2);
            pads[r + i] = rnd(&d, 0, hi < 3 ? hi : 3);
        }
        g_begin(&d);
        g_input(&d, "x", r, xd, TU_DATA_SIGNED);
        TuStr a = {0};
        attr_ints(&a, "pads", 2 * r, pads);
        if (c != 0)
            tu_str_printf(&a, ", mode = \"%s\"", modes[mode]);
        if (mode == 0 && c != 0)
            tu_str_printf(&a, ", value = %.4g", (double)tu_rng_float(&d.rng, -3, 3));
        g_line(&d, "y = pad(x%s)", a.s);
        free(a.s);
        g_run(&d);
    }
    diff_end(&d);
}

/* Reduce cases: random axes (some negative), none (all axes), keepdims 0/1,
 * and noop_with_empty_axes. */
static void reduce_cases(const char *op)
{
    Diff d;
    diff_begin(&d, op);
    for (int c = 0; c < 8; c++) {
        int r = rnd(&d, 1, 4);
        int64_t xd[4], axes[4];
        rand_dims(&d, r, xd, 1, 6);
        int na = 0;
        for (int i = 0; i < r; i++)
            if (coin(&d))
                axes[na++] = coin(&d) ? i : i - r;
        if (c == 0 || c == 6)
            na = 0; /* all axes; with noop_with_empty_axes in case 6, none */
        else if (na == 0)
            axes[na++] = rnd(&d, 0, r - 1);
        g_begin(&d);
        g_input(&d, "x", r, xd, TU_DATA_SIGNED);
        TuStr a = {0};
        if (na)
            attr_ints(&a, "axes", na, axes);
        if (c % 2)
            tu_str_append(&a, ", keepdims = 0");
        if (c == 6)
            tu_str_append(&a, ", noop_with_empty_axes = 1");
        g_line(&d, "y = %s(x%s)", op, a.s ? a.s : "");
        free(a.s);
        g_run(&d);
    }
    diff_end(&d);
}

Test(diff, reduce_mean) { reduce_cases("reduce_mean"); }
Test(diff, reduce_sum) { reduce_cases("reduce_sum"); }
Test(diff, reduce_max) { reduce_cases("reduce_max"); }

/* ------------------------------------------------- whole small models */

Test(diff, models, .timeout = 120)
{
    Diff d;
    diff_begin(&d, "models");
    for (int c = 0; c < 3; c++) {
        int64_t in = rnd(&d, 4, 16), hid = rnd(&d, 3, 12), out = rnd(&d, 2, 10);
        int64_t xd[2] = {rnd(&d, 1, 3), in}, w1[2] = {in, hid}, b1[1] = {hid};
        int64_t w2[2] = {hid, out}, b2[1] = {out};
        g_begin(&d);
        g_input(&d, "x", 2, xd, TU_DATA_SIGNED);
        g_const(&d, "w1", 2, w1, TU_DATA_SIGNED);
        g_const(&d, "b1", 1, b1, TU_DATA_SIGNED);
        g_const(&d, "w2", 2, w2, TU_DATA_SIGNED);
        g_const(&d, "b2", 1, b2, TU_DATA_SIGNED);
        g_line(&d, "h = relu(gemm(x, w1, b1))");
        g_line(&d, "y = softmax(gemm(h, w2, b2), axis = 1)");
        g_run(&d);
    }
    for (int c = 0; c < 3; c++) {
        int64_t ch = rnd(&d, 1, 3), m = rnd(&d, 2, 4), hw = rnd(&d, 5, 9);
        int64_t xd[4] = {1, ch, hw, hw}, wd[4] = {m, ch, 3, 3}, cd[1] = {m};
        g_begin(&d);
        g_input(&d, "x", 4, xd, TU_DATA_SIGNED);
        g_const(&d, "w", 4, wd, TU_DATA_SIGNED);
        g_const(&d, "s", 1, cd, TU_DATA_SIGNED);
        g_const(&d, "b", 1, cd, TU_DATA_SIGNED);
        g_const(&d, "mu", 1, cd, TU_DATA_SIGNED);
        g_const(&d, "var", 1, cd, TU_DATA_POSITIVE);
        g_line(&d, "c = conv(x, w, pads = [1, 1, 1, 1])");
        g_line(&d, "r = relu(batch_norm(c, s, b, mu, var))");
        g_line(&d, "p = max_pool(r, kernel_shape = [2, 2], strides = [2, 2])");
        g_line(&d, "y = flatten(global_average_pool(p))");
        g_run(&d);
    }
    diff_end(&d);
}
