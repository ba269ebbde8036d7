/* test_quant.c: int8 quantization: the requantization arithmetic against
 * hand-computed cases for both roundings, and the int8 ops (qconv, qgemm,
 * qaverage_pool, qadd, qsoftmax, qmax_pool, qmul, qconcat, qlut) on random
 * shapes, attributes, zero points and data through the integer reference,
 * loop_eval, the emitted C, the LLVM backend, the scalar-target lowering
 * and Cortex-M4's (dot4, on the host), which must all agree exactly. The
 * newer ops also have hand-computed cases (*_hand), and fold-qdq's patterns
 * for them are checked against the QDQ graph they replace (fold_*: within
 * 1 LSB, qlut exactly), for what it must leave alone (fold_leaves) and in
 * the CLI's --print-after dump (fold_cli).
 * Replay a failure with ETCH_SEED=N etch_tests --filter 'quant/NAME'.
 */
#define _POSIX_C_SOURCE 200809L

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frontend/frontend.h"
#include "passes/passes.h"
#include "testutil.h"

/* -------------------------------------------------- the arithmetic */

Test(quant, multiplier)
{
    QMult q;
    cr_assert(quant_multiplier(0.5, &q));
    cr_expect(q.mult == 1 << 30 && q.shift == 0, "0.5: %d, %d", q.mult, q.shift);
    cr_assert(quant_multiplier(0.25, &q));
    cr_expect(q.mult == 1 << 30 && q.shift == -1, "0.25: %d, %d", q.mult, q.shift);
    cr_assert(quant_multiplier(1.0, &q));
    cr_expect(q.mult == 1 << 30 && q.shift == 1, "1.0: %d, %d", q.mult, q.shift);
    cr_assert(quant_multiplier(0.375, &q)); /* 0.75 * 2^-1 */
    cr_expect(q.mult == 1610612736 && q.shift == -1, "0.375: %d, %d", q.mult, q.shift);
    /* A mantissa rounding up to 2^31 moves to the next power of two. */
    cr_assert(quant_multiplier(1.0 - 1e-12, &q));
    cr_expect(q.mult == 1 << 30 && q.shift == 1, "1 - eps: %d, %d", q.mult, q.shift);
    cr_expect(!quant_multiplier(0.0, &q));
    cr_expect(!quant_multiplier(-0.5, &q));
    cr_expect(!quant_multiplier(INFINITY, &q));
    cr_expect(!quant_multiplier(NAN, &q));
    cr_expect(!quant_multiplier(2147483648.0, &q));
    /* Tiny multipliers scale everything to 0. */
    cr_assert(quant_multiplier(1e-12, &q));
    cr_expect(quant_scale(INT32_MAX, q, ROUND_SINGLE) == 0 && quant_scale(INT32_MIN, q, ROUND_TFLITE) == 0);
}

/* Hand-computed: single rounds acc * M once, half up; tflite rounds the
 * doubling high multiply (acc * mult / 2^31, its ties upward), then the
 * shift (half away from zero). */
Test(quant, roundings)
{
    QMult half = {1 << 30, 0}, m375 = {1610612736, -1}, m75 = {1610612736, 0};
    struct { int32_t acc; QMult q; int32_t single, tflite; } cases[] = {
        {3, half, 2, 2},       /* 1.5 */
        {-3, half, -1, -1},    /* -1.5: both round ties up here */
        {5, half, 3, 3},       /* 2.5 */
        {1, m375, 0, 1},       /* 0.375: tflite rounds 0.75 to 1, then 0.5 away to 1 */
        {-1, m375, 0, -1},     /* -0.375: -0.75 -> -1, then -0.5 away to -1 */
        {4, m375, 2, 2},       /* 1.5 */
        {-4, m375, -1, -2},    /* -1.5: single half up, tflite away from zero */
        {100, m75, 75, 75},
        {-7, m75, -5, -5},     /* -5.25 */
        {1000000, m375, 375000, 375000},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int32_t s = quant_scale(cases[i].acc, cases[i].q, ROUND_SINGLE);
        int32_t t = quant_scale(cases[i].acc, cases[i].q, ROUND_TFLITE);
        cr_expect(s == cases[i].single, "case %zu: single gives %d, want %d", i, s, cases[i].single);
        cr_expect(t == cases[i].tflite, "case %zu: tflite gives %d, want %d", i, t, cases[i].tflite);
    }
    /* A multiplier above 1 (shift > 0): tflite shifts left first. */
    QMult three = {1610612736, 2}; /* 0.75 * 4 */
    cr_expect(quant_scale(5, three, ROUND_SINGLE) == 15);
    cr_expect(quant_scale(5, three, ROUND_TFLITE) == 15);
    /* zero point and clamp */
    cr_expect(quant_requant(3, half, ROUND_SINGLE, -128, -128, 127) == -126);
    cr_expect(quant_requant(1000, half, ROUND_SINGLE, 10, -128, 127) == 127);
    cr_expect(quant_requant(-1000, half, ROUND_SINGLE, 10, 5, 127) == 5);
    cr_expect(quant_rounding_by_name("tflite") == ROUND_TFLITE);
    cr_expect(quant_rounding_by_name("single") == ROUND_SINGLE);
    cr_expect(quant_rounding_by_name("double") == -1);
}

/* Every multiplier against exact rational arithmetic: single is the exact
 * product rounded half up; tflite within one of it. */
Test(quant, against_exact)
{
    TuRng r;
    tu_rng_init(&r, tu_seed());
    for (int i = 0; i < 20000; i++) {
        double real = ldexp(tu_rng_float(&r, 0.5f, 1.0f), tu_rng_int(&r, -20, 3));
        QMult q;
        cr_assert(quant_multiplier(real, &q));
        int32_t acc = (int32_t)tu_rng_int(&r, -200000, 200000);
        long double exact = (long double)acc * q.mult * powl(2.0L, q.shift - 31);
        int32_t want = (int32_t)floorl(exact + 0.5L);
        int32_t s = quant_scale(acc, q, ROUND_SINGLE), t = quant_scale(acc, q, ROUND_TFLITE);
        cr_assert(s == want, "acc %d * %d * 2^(%d-31): single %d, exact %Lg (seed %llu)", acc, q.mult,
                  q.shift, s, exact, (unsigned long long)tu_seed());
        cr_assert(abs(t - want) <= 1, "tflite %d vs exact %Lg", t, exact);
    }
}

/* ------------------------------------------------- differential cases */

typedef struct {
    TuRng rng;
    char *workdir;
    TuStr text, report;
    TuData kinds[4];
    int ncases, nfail;
} QDiff;

static int rnd(QDiff *d, int lo, int hi) { return tu_rng_int(&d->rng, lo, hi); }

static float rscale(QDiff *d, float lo, float hi) { return tu_rng_float(&d->rng, lo, hi); }

static const char *rounding(QDiff *d)
{
    return rnd(d, 0, 1) ? "single" : "tflite";
}

static void ints(QDiff *d, int64_t n, int lo, int hi)
{
    tu_str_append(&d->text, "[");
    for (int64_t i = 0; i < n; i++)
        tu_str_printf(&d->text, "%s%d", i ? ", " : "", rnd(d, lo, hi));
    tu_str_append(&d->text, "]");
}

/* Runs the case in d->text through every backend, the scalar target and
 * Cortex-M4's lowering (dot4). */
static void run_case(QDiff *d)
{
    d->ncases++;
    bool ok = tu_diff_graph(d->text.s, &d->rng, d->kinds, 0.0, d->workdir, &d->report);
    ok = ok && tu_diff_graph_llvm(d->text.s, &d->rng, d->kinds, 0.0, d->workdir, &d->report);
    ok = ok && tu_diff_graph_scalar(d->text.s, &d->rng, d->kinds, 0.0, d->workdir, &d->report);
    for (int llvm = 0; llvm < 2; llvm++)
        ok = ok && tu_diff_graph_target("cortex-m4", llvm, d->text.s, &d->rng, d->kinds, 0.0, d->workdir,
                                        &d->report);
    if (!ok)
        d->nfail++;
}

static void qdiff_begin(QDiff *d)
{
    memset(d, 0, sizeof *d);
    tu_rng_init(&d->rng, tu_seed());
    d->workdir = tu_mkdtemp("quant");
    d->kinds[0] = d->kinds[1] = TU_DATA_INT8;
}

static void qdiff_end(QDiff *d, const char *what)
{
    if (d->nfail)
        fprintf(stderr, "\n==== quant/%s: %d of %d cases failed (ETCH_SEED=%llu) ====\n%s", what,
                d->nfail, d->ncases, (unsigned long long)tu_seed(), d->report.s);
    tu_rmtree(d->workdir);
    free(d->workdir);
    free(d->text.s);
    free(d->report.s);
    cr_assert(d->nfail == 0, "quant/%s: %d of %d cases failed", what, d->nfail, d->ncases);
}

Test(quant, qconv, .timeout = 600)
{
    QDiff d;
    qdiff_begin(&d);
    for (int c = 0; c < 10; c++) {
        bool depthwise = c % 3 == 2, one_d = c == 7;
        int cin = depthwise ? rnd(&d, 2, 5) : rnd(&d, 1, 4);
        int group = depthwise ? cin : (cin % 2 == 0 && rnd(&d, 0, 3) == 0 ? 2 : 1);
        int mout = depthwise ? cin * rnd(&d, 1, 2) : group * rnd(&d, 1, 5);
        int kh = one_d ? 1 : rnd(&d, 1, 3), kw = rnd(&d, 1, 3);
        int h = one_d ? 1 : rnd(&d, kh, 7), w = rnd(&d, kw, 8);
        int s = rnd(&d, 1, 2), p = rnd(&d, 0, 1), ph = one_d ? 0 : p;
        bool per_axis = rnd(&d, 0, 2) > 0, bias = rnd(&d, 0, 2) > 0;
        int oh = (h + 2 * ph - kh) / s + 1, ow = (w + 2 * p - kw) / s + 1;
        tu_str_clear(&d.text);
        tu_str_printf(&d.text, "graph qconv_%d {\n  input x : i8[1, %d, %d, %d] {scale = %.6g, zero = %d}\n",
                      c, cin, h, w, rscale(&d, 0.01f, 0.1f), rnd(&d, -20, 20));
        tu_str_printf(&d.text, "  const w : i8[%d, %d, %d, %d] {scale = ", mout, cin / group, kh, kw);
        if (per_axis) {
            tu_str_append(&d.text, "[");
            for (int m = 0; m < mout; m++)
                tu_str_printf(&d.text, "%s%.6g", m ? ", " : "", rscale(&d, 0.002f, 0.05f));
            tu_str_append(&d.text, "], zero = 0, axis = 0} = ");
        } else {
            tu_str_printf(&d.text, "%.6g, zero = 0} = ", rscale(&d, 0.002f, 0.05f));
        }
        ints(&d, (int64_t)mout * (cin / group) * kh * kw, -127, 127);
        if (bias) {
            tu_str_printf(&d.text, "\n  const b : i32[%d] = ", mout);
            ints(&d, mout, -3000, 3000);
        }
        const char *pads = one_d ? (p ? "[0, 1, 0, 1]" : "[0, 0, 0, 0]") : (p ? "[1, 1, 1, 1]" : "[0, 0, 0, 0]");
        tu_str_printf(&d.text, "\n  y : i8[1, %d, %d, %d] {scale = %.6g, zero = %d} = qconv(x, w%s, "
                      "strides = [%d, %d], pads = %s, group = %d, qmin = %d, rounding = \"%s\")\n"
                      "  output y\n}\n", mout, oh, ow, rscale(&d, 0.02f, 0.2f), rnd(&d, -10, 10),
                      bias ? ", b" : "", one_d ? 1 : s, s, pads, group, rnd(&d, 0, 1) ? -128 : -5,
                      rounding(&d));
        run_case(&d);
    }
    qdiff_end(&d, "qconv");
}

Test(quant, qgemm, .timeout = 600)
{
    QDiff d;
    qdiff_begin(&d);
    for (int c = 0; c < 10; c++) {
        int m = rnd(&d, 1, 3), k = rnd(&d, 1, 40), n = rnd(&d, 1, 19);
        bool per_axis = rnd(&d, 0, 1), bias = rnd(&d, 0, 2) > 0;
        tu_str_clear(&d.text);
        tu_str_printf(&d.text, "graph qgemm_%d {\n  input a : i8[%d, %d] {scale = %.6g, zero = %d}\n", c, m,
                      k, rscale(&d, 0.01f, 0.1f), rnd(&d, -128, 127));
        tu_str_printf(&d.text, "  const w : i8[%d, %d] {scale = ", n, k);
        if (per_axis) {
            tu_str_append(&d.text, "[");
            for (int j = 0; j < n; j++)
                tu_str_printf(&d.text, "%s%.6g", j ? ", " : "", rscale(&d, 0.002f, 0.05f));
            tu_str_append(&d.text, "], zero = 0, axis = 0} = ");
        } else {
            tu_str_printf(&d.text, "%.6g, zero = %d} = ", rscale(&d, 0.002f, 0.05f), rnd(&d, 0, 1) * 3);
        }
        ints(&d, (int64_t)n * k, -127, 127);
        if (bias) {
            tu_str_printf(&d.text, "\n  const b : i32[%d] = ", n);
            ints(&d, n, -5000, 5000);
        }
        tu_str_printf(&d.text, "\n  y : i8[%d, %d] {scale = %.6g, zero = %d} = qgemm(a, w%s, qmax = %d, "
                      "rounding = \"%s\")\n  output y\n}\n", m, n, rscale(&d, 0.05f, 0.3f), rnd(&d, -10, 10),
                      bias ? ", b" : "", rnd(&d, 0, 1) ? 127 : 60, rounding(&d));
        run_case(&d);
    }
    qdiff_end(&d, "qgemm");
}

Test(quant, qaverage_pool, .timeout = 600)
{
    QDiff d;
    qdiff_begin(&d);
    for (int c = 0; c < 8; c++) {
        int ch = rnd(&d, 1, 4), kh = rnd(&d, 1, 3), kw = rnd(&d, 1, 4);
        int h = rnd(&d, kh, 7), w = rnd(&d, kw, 7), s = rnd(&d, 1, 2);
        bool pad = c % 4 == 3; /* padded windows count the padding */
        int p = pad ? 1 : 0;
        int oh = (h + 2 * p - kh) / s + 1, ow = (w + 2 * p - kw) / s + 1;
        tu_str_clear(&d.text);
        tu_str_printf(&d.text,
                      "graph qpool_%d {\n  input x : i8[1, %d, %d, %d] {scale = %.6g, zero = %d}\n"
                      "  y : i8[1, %d, %d, %d] {scale = %.6g, zero = %d} = qaverage_pool(x, kernel_shape = "
                      "[%d, %d], strides = [%d, %d], pads = [%d, %d, %d, %d], count_include_pad = %d, "
                      "rounding = \"%s\")\n  output y\n}\n",
                      c, ch, h, w, rscale(&d, 0.01f, 0.1f), rnd(&d, -30, 30), ch, oh, ow,
                      rscale(&d, 0.01f, 0.1f), rnd(&d, -30, 30), kh, kw, s, s, p, p, p, p, pad,
                      rounding(&d));
        run_case(&d);
    }
    qdiff_end(&d, "qaverage_pool");
}

Test(quant, qadd, .timeout = 600)
{
    QDiff d;
    qdiff_begin(&d);
    for (int c = 0; c < 8; c++) {
        int a0 = rnd(&d, 1, 3), a1 = rnd(&d, 1, 13); /* up to 39: qfast4 pairs, a lone group, a tail */
        /* b broadcast over rows ([1, a1]) or, every fourth case, one
         * operand along them ([a0, 1], single rounding for the DSP
         * targets' qfast4 of one code: runs of 4 or more one by one, or
         * several rows walked as one stretch, groups crossing rows; case 7
         * in rows of 2 or 3): a, then b */
        bool bcast = c % 2, along = c % 4 == 3, one_a = c == 3;
        if (along)
            a0 = rnd(&d, c == 7 ? 2 : 1, 5), a1 = c == 7 ? rnd(&d, 2, 3) : rnd(&d, 2, 13);
        const char *rmode = along ? "single" : rounding(&d);
        tu_str_clear(&d.text);
        tu_str_printf(&d.text,
                      "graph qadd_%d {\n  input a : i8[%d, %d] {scale = %.6g, zero = %d}\n"
                      "  input b : i8[%d, %d] {scale = %.6g, zero = %d}\n"
                      "  y : i8[%d, %d] {scale = %.6g, zero = %d} = qadd(a, b, qmin = %d, rounding = \"%s\")\n"
                      "  output y\n}\n",
                      c, a0, one_a ? 1 : a1, rscale(&d, 0.01f, 0.2f), rnd(&d, -128, 127),
                      bcast && !along ? 1 : a0, along && !one_a ? 1 : a1, rscale(&d, 0.01f, 0.2f),
                      rnd(&d, -128, 127), a0, a1, rscale(&d, 0.02f, 0.3f), rnd(&d, -20, 20),
                      rnd(&d, 0, 1) ? -128 : 0, rmode);
        run_case(&d);
    }
    qdiff_end(&d, "qadd");
}

Test(quant, qsoftmax, .timeout = 600)
{
    QDiff d;
    qdiff_begin(&d);
    for (int c = 0; c < 6; c++) {
        int rows = rnd(&d, 1, 3), len = rnd(&d, 1, 40);
        bool u8 = c % 3 == 2;
        d.kinds[0] = u8 ? TU_DATA_UINT8 : TU_DATA_INT8;
        tu_str_clear(&d.text);
        tu_str_printf(&d.text,
                      "graph qsoftmax_%d {\n  input x : %s[%d, %d] {scale = %.6g, zero = %d}\n"
                      "  y : %s[%d, %d] {scale = %.6g, zero = %d} = qsoftmax(x)\n  output y\n}\n",
                      c, u8 ? "u8" : "i8", rows, len, rscale(&d, 0.01f, 0.5f), rnd(&d, u8 ? 0 : -128, u8 ? 255 : 127),
                      u8 ? "u8" : "i8", rows, len, c % 2 ? 1.0 / 256 : rscale(&d, 0.002f, 0.01f),
                      u8 ? 0 : -128);
        run_case(&d);
    }
    qdiff_end(&d, "qsoftmax");
}

/* The integer softmax against the float one, quantized: within one step. */
Test(quant, qsoftmax_matches_float)
{
    TuRng r;
    tu_rng_init(&r, tu_seed());
    for (int c = 0; c < 200; c++) {
        float sx = tu_rng_float(&r, 0.01f, 0.3f), sy = 1.0f / 256;
        int len = tu_rng_int(&r, 1, 20);
        int32_t x[20], table[256];
        quant_softmax_table(sx, table);
        int64_t r64 = quant_softmax_r(sy), sum = 0;
        int mx = -128;
        double fsum = 0;
        for (int i = 0; i < len; i++) {
            x[i] = tu_rng_int(&r, -128, 127);
            mx = x[i] > mx ? x[i] : mx;
        }
        for (int i = 0; i < len; i++) {
            sum += table[mx - x[i]];
            fsum += exp(sx * (x[i] - mx));
        }
        for (int i = 0; i < len; i++) {
            double want = fmin(127, fmax(-128, nearbyint(exp(sx * (x[i] - mx)) / fsum / sy) - 128));
            int32_t got = quant_softmax_out(table[mx - x[i]], sum, r64, -128, -128, 127);
            cr_assert(fabs(got - want) <= 1, "softmax %d of %d: %d vs float %g (seed %llu)", i, len, got,
                      want, (unsigned long long)tu_seed());
        }
    }
}

/* ------------------------------------------------------------ errors */

/* Parses `text` and returns the diagnostics (the parse must fail). */
static char *parse_error(const char *text)
{
    Ctx *c = ctx_new();
    char *buf = NULL;
    size_t len = 0;
    c->err = open_memstream(&buf, &len);
    Graph *g = fe_parse_string(c, "q.etch", text);
    fclose(c->err);
    cr_expect(g == NULL, "parsed, but should fail:\n%s", text);
    ctx_free(c);
    return buf;
}

static void expect_error(const char *text, const char *want)
{
    char *got = parse_error(text);
    cr_expect(strstr(got, want) != NULL, "want \"%s\" in:\n%s", want, got);
    free(got);
}

Test(quant, errors)
{
    const char *head = "graph e {\n  input x : i8[1, 1, 4, 4] {scale = 0.1, zero = 0}\n"
                       "  const w : i8[2, 1, 1, 1] {scale = [0.1, 0.2], zero = 0, axis = 0} = [1, 2]\n";
    char buf[1024];
    snprintf(buf, sizeof buf, "%s  y = qconv(x, w)\n  output y\n}\n", head);
    expect_error(buf, "the output needs quantization parameters");
    snprintf(buf, sizeof buf, "%s  y : i8[1, 2, 4, 4] {scale = 0.1} = qconv(x, w, rounding = \"up\")\n"
             "  output y\n}\n", head);
    expect_error(buf, "rounding \"up\" is not one of single, tflite");
    snprintf(buf, sizeof buf, "%s  y : i8[1, 2, 4, 4] {scale = 0.1} = qconv(x, w, qmin = 10, qmax = 5)\n"
             "  output y\n}\n", head);
    expect_error(buf, "leave no value of i8");
    snprintf(buf, sizeof buf, "%s  const b : f32[2] = [1, 2]\n  y : i8[1, 2, 4, 4] {scale = 0.1} = qconv(x, w, b)\n"
             "  output y\n}\n", head);
    expect_error(buf, "bias b must be i32[2]");
    expect_error("graph e {\n  input x : i8[1, 1, 4, 4]\n  const w : i8[2, 1, 1, 1] {scale = 0.1} = [1, 2]\n"
                 "  y : i8[1, 2, 4, 4] {scale = 0.1} = qconv(x, w)\n  output y\n}\n",
                 "x must be i8 or u8 with per-tensor quantization parameters, but x is i8[1, 1, 4, 4] (not quantized)");
    expect_error("graph e {\n  input x : i8[1, 1, 4, 4] {scale = 0.1}\n"
                 "  y : i8[1, 1, 3, 3] {scale = 0.1} = qaverage_pool(x, kernel_shape = [2, 2], pads = [1, 1, 0, 0])\n"
                 "  output y\n}\n", "windows of different sizes");
    expect_error("graph e {\n  input a : i8[2, 3] {scale = 0.1}\n  const w : i8[4, 5] {scale = 0.1} = "
                 "[1, 2, 3, 4, 5, 1, 2, 3, 4, 5, 1, 2, 3, 4, 5, 1, 2, 3, 4, 5]\n"
                 "  y : i8[2, 4] {scale = 0.1} = qgemm(a, w)\n  output y\n}\n",
                 "a must be [M, K] and w [N, K]");
    expect_error("graph e {\n  input a : i8[2, 3] {scale = 1e10}\n  const w : i8[1, 3] {scale = 1e10} = [1, 2, 3]\n"
                 "  y : i8[2, 1] {scale = 1e-10} = qgemm(a, w)\n  output y\n}\n",
                 "requantization multiplier");
}

/* ------------------------------------ qmax_pool, qmul, qconcat, qlut */

/* Runs graph `text` in the interpreter on integer inputs in[i] (codes of
 * each input's dtype) and returns output 0's codes in out. */
static void interp_codes(const char *text, const int32_t *const *in, int32_t *out, int64_t nout)
{
    Ctx *c = ctx_new();
    Graph *g = fe_parse_string(c, "q.etch", text);
    cr_assert(g && !c->nerrors, "does not parse:\n%s", text);
    Tensor ins[4], outs[4];
    for (int i = 0; i < g->ninputs; i++) {
        ins[i].type = ir_value(g, g->inputs[i])->type;
        ins[i].data = arena_alloc(c->arena, type_bytes(&ins[i].type) + 1);
        for (int64_t k = 0; k < type_numel(&ins[i].type); k++)
            ref_set_i(&ins[i], k, in[i][k]);
    }
    cr_assert(interp_run(c, g, ins, outs), "does not run:\n%s", text);
    cr_assert_eq(type_numel(&outs[0].type), nout);
    for (int64_t k = 0; k < nout; k++)
        out[k] = (int32_t)ref_get_i(&outs[0], k);
    ctx_free(c);
}

static void expect_codes(const char *what, const int32_t *got, const int32_t *want, int n)
{
    for (int i = 0; i < n; i++)
        cr_expect_eq(got[i], want[i], "%s: element %d is %d, want %d", what, i, got[i], want[i]);
}

/* Hand-computed: the max of the codes, then (max - zx) * sx / sy + zy. */
Test(quant, qmax_pool_hand)
{
    /* Equal parameters: the max itself, -128 included. */
    const int32_t x0[] = {-5, 7, 3, -128, -128, -128, -128, -128};
    int32_t got[8];
    interp_codes("graph m {\n  input x : i8[1, 2, 2, 2] {scale = 0.05, zero = -3}\n"
                 "  y : i8[1, 2, 1, 1] {scale = 0.05, zero = -3} = qmax_pool(x, kernel_shape = [2, 2])\n"
                 "  output y\n}\n", (const int32_t *const[]){x0}, got, 2);
    expect_codes("equal parameters", got, (const int32_t[]){7, -128}, 2);
    /* sx / sy = 1/4 (exact), zx = -3, zy = -10: max -9 -> -1.5 (single -1,
     * tflite -2); max 8 -> 2.75 -> 3 in both; qmin -10 clamps -11 and -12. */
    const int32_t x1[] = {-9, -20, 8, -9};
    const char *fmt = "graph m {\n  input x : i8[1, 1, 1, 4] {scale = 0.125, zero = -3}\n"
                      "  y : i8[1, 1, 1, 2] {scale = 0.5, zero = -10} = qmax_pool(x, kernel_shape = [1, 2], "
                      "strides = [1, 2], rounding = \"%s\"%s)\n  output y\n}\n";
    char text[512];
    snprintf(text, sizeof text, fmt, "single", "");
    interp_codes(text, (const int32_t *const[]){x1}, got, 2);
    expect_codes("single", got, (const int32_t[]){-11, -7}, 2);
    snprintf(text, sizeof text, fmt, "tflite", "");
    interp_codes(text, (const int32_t *const[]){x1}, got, 2);
    expect_codes("tflite", got, (const int32_t[]){-12, -7}, 2);
    snprintf(text, sizeof text, fmt, "tflite", ", qmin = -10");
    interp_codes(text, (const int32_t *const[]){x1}, got, 2);
    expect_codes("qmin", got, (const int32_t[]){-10, -7}, 2);
    /* Padding is not read: a window over [pad, -100] gives -100. */
    const int32_t x2[] = {-100, -90};
    interp_codes("graph m {\n  input x : i8[1, 1, 1, 2] {scale = 0.05}\n"
                 "  y : i8[1, 1, 1, 3] {scale = 0.05} = qmax_pool(x, kernel_shape = [1, 2], pads = [0, 1, 0, 1])\n"
                 "  output y\n}\n", (const int32_t *const[]){x2}, got, 3);
    expect_codes("padding", got, (const int32_t[]){-100, -90, -90}, 3);
}

/* Hand-computed, as TFLite's reference mul: (a - za) (b - zb) * sa sb / sy + zy. */
Test(quant, qmul_hand)
{
    const int32_t a[] = {10, -6, 127}, b[] = {-4, 3, -128};
    const char *fmt = "graph m {\n  input a : i8[3] {scale = 0.5}\n  input b : i8[3] {scale = 0.25, zero = 2}\n"
                      "  y : i8[3] {scale = %s, zero = 3} = qmul(a, b, rounding = \"%s\")\n  output y\n}\n";
    char text[512];
    int32_t got[3];
    /* M = 1: -60 + 3, -6 + 3, 127 * -130 saturates. */
    snprintf(text, sizeof text, fmt, "0.125", "single");
    interp_codes(text, (const int32_t *const[]){a, b}, got, 3);
    expect_codes("M = 1", got, (const int32_t[]){-57, -3, -128}, 3);
    /* M = 1/3: -20, -2. */
    snprintf(text, sizeof text, fmt, "0.375", "single");
    interp_codes(text, (const int32_t *const[]){a, b}, got, 3);
    expect_codes("M = 1/3", got, (const int32_t[]){-17, 1, -128}, 3);
    /* M = 1/4: -15, then -1.5: single rounds half up (-1), tflite away (-2). */
    snprintf(text, sizeof text, fmt, "0.5", "single");
    interp_codes(text, (const int32_t *const[]){a, b}, got, 3);
    expect_codes("M = 1/4 single", got, (const int32_t[]){-12, 2, -128}, 3);
    snprintf(text, sizeof text, fmt, "0.5", "tflite");
    interp_codes(text, (const int32_t *const[]){a, b}, got, 3);
    expect_codes("M = 1/4 tflite", got, (const int32_t[]){-12, 1, -128}, 3);
    /* Broadcasting: b [1] against a [3]. */
    const int32_t b1[] = {4};
    interp_codes("graph m {\n  input a : i8[3] {scale = 0.5}\n  input b : i8[1] {scale = 0.25, zero = 2}\n"
                 "  y : i8[3] {scale = 0.125} = qmul(a, b)\n  output y\n}\n",
                 (const int32_t *const[]){a, b1}, got, 3);
    expect_codes("broadcast", got, (const int32_t[]){20, -12, 127}, 3);
}

/* Hand-computed: qadd's QFast form, y = zy + sa/sy a + sb/sy (b - zb)
 * rounded once, half up (a multiply-add of the raw codes, zero points and
 * rounding folded into its constant); tflite keeps TFLite's two-step form,
 * which rounds the tie away from zero. Scales whose ratio leaves too few
 * multiplier bits (sa/sy = 64) take TFLite's form under single rounding
 * too, which gives the same codes here. */
Test(quant, qadd_hand)
{
    const int32_t a[] = {10, -6, 127, -128, 1}, b[] = {4, 3, -128, 100, 2};
    const char *fmt = "graph m {\n  input a : i8[5] {scale = 0.5}\n  input b : i8[5] {scale = 0.25, zero = 2}\n"
                      "  y : i8[5] {scale = %s, zero = 3} = qadd(a, b, qmin = %s, rounding = \"%s\")\n  output y\n}\n";
    char text[512];
    int32_t got[5];
    /* 5.5, -2.75, 31, -39.5, 0.5: half up to 6, -3, 31, -39, 1 */
    snprintf(text, sizeof text, fmt, "1", "-128", "single");
    interp_codes(text, (const int32_t *const[]){a, b}, got, 5);
    expect_codes("sy = 1 single", got, (const int32_t[]){9, 0, 34, -36, 4}, 5);
    snprintf(text, sizeof text, fmt, "1", "-128", "tflite");
    interp_codes(text, (const int32_t *const[]){a, b}, got, 5);
    expect_codes("sy = 1 tflite", got, (const int32_t[]){9, 0, 34, -37, 4}, 5);
    /* x4: 22, -11, 124, -158, 2; saturated at 127 and -128 after the zero point */
    snprintf(text, sizeof text, fmt, "0.25", "-128", "single");
    interp_codes(text, (const int32_t *const[]){a, b}, got, 5);
    expect_codes("sy = 1/4 saturates", got, (const int32_t[]){25, -8, 127, -128, 5}, 5);
    /* a fused relu: qmin = zy */
    snprintf(text, sizeof text, fmt, "0.25", "3", "single");
    interp_codes(text, (const int32_t *const[]){a, b}, got, 5);
    expect_codes("relu", got, (const int32_t[]){25, 3, 127, 3, 5}, 5);
    /* sa/sy = 64, sb/sy = 32: integers, nothing to round */
    const int32_t a2[] = {1, -1, 0, 0, 0}, b2[] = {2, 2, 3, 1, 2};
    snprintf(text, sizeof text, fmt, "0.0078125", "-128", "single");
    interp_codes(text, (const int32_t *const[]){a2, b2}, got, 5);
    expect_codes("sa/sy = 64", got, (const int32_t[]){67, -61, 35, -29, 3}, 5);
}

/* qfast4 with one code for lanes below k and another for the rest (an
 * operand broadcast along runs, four lanes across the end of one), every
 * k, through loop_eval: lane by lane quant_fast of its own code, for qadd
 * and qmul with zero points and a clamp. */
Test(quant, qfast4_split_lanes)
{
    TuRng r;
    tu_rng_init(&r, tu_seed());
    const QFast forms[] = {
        {.mul = false, .m0 = 16384, .m1 = 9830, .c = -360448 + 3000, .shift = 15, .lo = -128, .hi = 127},
        {.mul = true, .m0 = 1288490189, .z0 = 3, .z1 = -7, .c = -10, .shift = 0, .lo = -128, .hi = 127},
        {.mul = true, .m0 = 1503238554, .z0 = -20, .z1 = 5, .c = 4, .shift = 3, .lo = -40, .hi = 100},
    };
    for (size_t f = 0; f < sizeof forms / sizeof forms[0]; f++) {
        for (int k = 1; k <= 4; k++) {
            Arena *a = arena_new();
            Program *p = loop_new_program(a, "split");
            int x = loop_add_buffer(p, "x", BK_INPUT, DT_I8, 4), codes = loop_add_buffer(p, "codes", BK_INPUT, DT_I8, 2);
            int y = loop_add_buffer(p, "y", BK_OUTPUT, DT_I8, 4);
            VEC_PUSH(a, p->inputs, p->ninputs, p->capinputs) = x;
            VEC_PUSH(a, p->inputs, p->ninputs, p->capinputs) = codes;
            VEC_PUSH(a, p->outputs, p->noutputs, p->capoutputs) = y;
            Kernel *kk = loop_new_kernel(p, "k0_split", NULL, -1);
            Expr *b0 = ex_cast(p, DT_I32, ex_load(p, codes, ex_int(p, 0)));
            Expr *b1 = k < 4 ? ex_cast(p, DT_I32, ex_load(p, codes, ex_int(p, 1))) : NULL;
            st_append(p, kk->body, st_store(p, y, ex_int(p, 0),
                                             ex_qfast4_one(p, &forms[f], ex_load(p, x, ex_int(p, 0)), b0, b1, k)));
            for (int t = 0; t < 200; t++) {
                int8_t in[4], bc[2] = {(int8_t)tu_rng_int(&r, -128, 127), (int8_t)tu_rng_int(&r, -128, 127)}, out[4];
                for (int l = 0; l < 4; l++)
                    in[l] = (int8_t)tu_rng_int(&r, -128, 127);
                cr_assert(loop_eval(p, (const void *[]){in, bc}, (void *[]){out}, NULL));
                for (int l = 0; l < 4; l++) {
                    int32_t want = quant_fast(&forms[f], in[l], bc[k < 4 && l >= k]);
                    cr_assert_eq(out[l], want, "form %zu, k %d, lane %d: %d, want %d (seed %llu)", f, k, l, out[l],
                                 want, (unsigned long long)tu_seed());
                }
            }
            arena_free(a);
        }
    }
}

/* quant_fast_init picks the forms and bounds of QFast: qmul's multiplier
 * 2^32 M under 2^31 with k = 0 for M < 1/2, shifted up for larger M up to
 * 2^14; qadd's largest shift (<= 22) with 16-bit multipliers. */
Test(quant, qfast_forms)
{
    const char *fmt = "graph m {\n  input a : i8[4] {scale = %s}\n  input b : i8[4] {scale = %s}\n"
                      "  y : i8[4] {scale = %s} = %s(a, b, rounding = \"%s\")\n  output y\n}\n";
    struct { const char *sa, *sb, *sy, *op, *rounding; bool ok; int mul, m0, m1, shift; } cases[] = {
        {"0.5", "0.25", "0.5", "qmul", "single", true, 1, 1 << 30, 0, 0},     /* M = 1/4: 2^30 */
        {"0.5", "0.5", "0.5", "qmul", "single", true, 1, 1 << 30, 0, 1},      /* M = 1/2: k = 1 */
        {"4", "4", "0.001953125", "qmul", "single", true, 1, 1 << 30, 0, 15}, /* M = 2^13 */
        {"4", "4", "0.0009765625", "qmul", "single", false, 0, 0, 0, 0},      /* M = 2^14 */
        {"64", "64", "0.001", "qmul", "single", false, 0, 0, 0, 0},             /* M = 4096000 */
        {"0.5", "0.25", "1", "qmul", "tflite", false, 0, 0, 0, 0},
        {"0.5", "0.25", "1", "qadd", "single", true, 0, 16384, 8192, 15},
        {"0.5", "0.25", "4", "qadd", "single", true, 0, 16384, 8192, 17},       /* 1/8 */
        {"0.5", "0.25", "1024", "qadd", "single", true, 0, 2048, 1024, 22},     /* capped at 22 */
        {"0.5", "0.25", "0.0078125", "qadd", "single", false, 0, 0, 0, 0},     /* 64: shift 8 < 12 */
        {"0.5", "0.25", "1", "qadd", "tflite", false, 0, 0, 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[512];
        snprintf(text, sizeof text, fmt, cases[i].sa, cases[i].sb, cases[i].sy, cases[i].op, cases[i].rounding);
        Ctx *c = ctx_new();
        Graph *g = fe_parse_string(c, "q.etch", text);
        cr_assert(g && !c->nerrors, "case %zu does not parse", i);
        const Node *n = ir_node(g, 0);
        QFast f;
        bool ok = quant_fast_init(n, ir_in_type(g, n, 0), ir_in_type(g, n, 1), ir_out_type(g, n, 0), &f);
        cr_expect_eq(ok, cases[i].ok, "case %zu: %d", i, ok);
        if (ok) {
            cr_expect_eq(f.mul, cases[i].mul, "case %zu", i);
            cr_expect_eq(f.m0, cases[i].m0, "case %zu: m0 %d", i, f.m0);
            cr_expect_eq(f.m1, cases[i].m1, "case %zu: m1 %d", i, f.m1);
            cr_expect_eq(f.shift, cases[i].shift, "case %zu: shift %d", i, f.shift);
        }
        ctx_free(c);
    }
}

/* Hand-computed: an input with y's scale is copied, its zero point
 * shifted; another is requantized. */
Test(quant, qconcat_hand)
{
    const int32_t x0[] = {5, -5}, x1[] = {7, -5}, x2[] = {10};
    const char *fmt = "graph c {\n  input a : i8[1, 2] {scale = 0.25}\n"
                      "  input b : i8[1, 2] {scale = 0.0625, zero = 1}\n  input c : i8[1, 1] {scale = 0.25, zero = 4}\n"
                      "  y : i8[1, 5] {scale = 0.25} = qconcat(a, b, c, axis = 1, rounding = \"%s\"%s)\n"
                      "  output y\n}\n";
    char text[512];
    int32_t got[5];
    /* b: (7 - 1) / 4 = 1.5 -> 2, (-5 - 1) / 4 = -1.5 (single -1, tflite -2); c: 10 - 4. */
    snprintf(text, sizeof text, fmt, "single", "");
    interp_codes(text, (const int32_t *const[]){x0, x1, x2}, got, 5);
    expect_codes("single", got, (const int32_t[]){5, -5, 2, -1, 6}, 5);
    snprintf(text, sizeof text, fmt, "tflite", "");
    interp_codes(text, (const int32_t *const[]){x0, x1, x2}, got, 5);
    expect_codes("tflite", got, (const int32_t[]){5, -5, 2, -2, 6}, 5);
    /* The clamp holds for the copied input too. */
    snprintf(text, sizeof text, fmt, "single", ", qmin = -2, qmax = 5");
    interp_codes(text, (const int32_t *const[]){x0, x1, x2}, got, 5);
    expect_codes("clamped", got, (const int32_t[]){5, -2, 2, -1, 5}, 5);
    /* Along axis 0 of [2, 1] and [1, 1]. */
    const int32_t y0[] = {1, 2}, y1[] = {3};
    interp_codes("graph c {\n  input a : i8[2, 1] {scale = 0.1}\n  input b : i8[1, 1] {scale = 0.2}\n"
                 "  y : i8[3, 1] {scale = 0.1} = qconcat(a, b, axis = 0)\n  output y\n}\n",
                 (const int32_t *const[]){y0, y1}, got, 3);
    expect_codes("axis 0", got, (const int32_t[]){1, 2, 6}, 3);
}

/* `const NAME : DT[256] = [...]` of f(i) for i in 0..255. */
static void table_text(TuStr *t, const char *name, const char *dt, int (*f)(int))
{
    tu_str_printf(t, "  const %s : %s[256] = [", name, dt);
    for (int i = 0; i < 256; i++)
        tu_str_printf(t, "%s%d", i ? ", " : "", f(i));
    tu_str_append(t, "]\n");
}

static int half_down(int i) { return (i - 128) / 2; }
static int reversed(int i) { return 255 - i; }

/* The fold's sigmoid table, by hand: sx = 0.1, sy = 1/256, zy = -128:
 * code c -> round(sigmoid(0.1 c) * 256) - 128. */
static const char *const SIGMOID_QDQ =
    "graph s {\n  input x : i8[4]\n  const sx : f32[] = [0.1]\n  const sy : f32[] = [0.00390625]\n"
    "  const zy : i8[] = [-128]\n  y = quantize_linear(sigmoid(dequantize_linear(x, sx)), sy, zy)\n"
    "  output y\n}\n";

/* Hand-computed: y = table[x - min]; and the table fold-qdq computes. */
Test(quant, qlut_hand)
{
    TuStr t = {0};
    tu_str_append(&t, "graph l {\n  input x : i8[4] {scale = 0.1}\n");
    table_text(&t, "t", "i8", half_down);
    tu_str_append(&t, "  y : i8[4] {scale = 0.2} = qlut(x, t)\n  output y\n}\n");
    const int32_t x[] = {-128, 0, 127, 5};
    int32_t got[4];
    interp_codes(t.s, (const int32_t *const[]){x}, got, 4);
    expect_codes("i8", got, (const int32_t[]){-64, 0, 63, 2}, 4);
    /* u8 in, u8 out: no offset. */
    tu_str_clear(&t);
    tu_str_append(&t, "graph l {\n  input x : u8[3] {scale = 0.1, zero = 128}\n");
    table_text(&t, "t", "u8", reversed);
    tu_str_append(&t, "  y : u8[3] {scale = 0.2} = qlut(x, t)\n  output y\n}\n");
    const int32_t xu[] = {0, 200, 255};
    interp_codes(t.s, (const int32_t *const[]){xu}, got, 3);
    expect_codes("u8", got, (const int32_t[]){255, 55, 0}, 3);
    free(t.s);

    /* sigmoid(0) = 0.5 -> 0; sigmoid(1) = 0.7311 -> 187.15 -> 59;
     * sigmoid(12.7) * 256 = 255.9993 -> 256 -> 127 (saturated);
     * sigmoid(-12.8) * 256 = 0.0007 -> -128. */
    Ctx *c = ctx_new();
    Graph *g = fe_parse_string(c, "s.etch", SIGMOID_QDQ);
    cr_assert(g);
    Module m = {.graph = g};
    cr_assert(pass_fold_qdq(c, &m) && !c->nerrors);
    int v = ir_find_value(g, "y_lut");
    cr_assert(v >= 0, "fold-qdq made no table y_lut");
    Tensor tab = {ir_value(g, v)->type, ir_value(g, v)->data};
    const int codes[] = {0, 10, 127, -128}, want[] = {0, 59, 127, -128};
    for (int i = 0; i < 4; i++)
        cr_expect_eq(ref_get_i(&tab, codes[i] + 128), want[i], "table[%d] = %lld, want %d", codes[i],
                     (long long)ref_get_i(&tab, codes[i] + 128), want[i]);
    ctx_free(c);
}

Test(quant, qmax_pool, .timeout = 600)
{
    QDiff d;
    qdiff_begin(&d);
    for (int c = 0; c < 8; c++) {
        int ch = rnd(&d, 1, 3), kh = rnd(&d, 1, 3), kw = rnd(&d, 1, 3);
        int h = rnd(&d, kh, 7), w = rnd(&d, kw, 7), s = rnd(&d, 1, 2), p = rnd(&d, 0, 1);
        p = p < kh && p < kw ? p : 0;
        bool same = c % 2 == 0, u8 = c == 5, ceil = c == 3;
        d.kinds[0] = u8 ? TU_DATA_UINT8 : TU_DATA_INT8;
        int oh = (h + 2 * p - kh + (ceil ? s - 1 : 0)) / s + 1, ow = (w + 2 * p - kw + (ceil ? s - 1 : 0)) / s + 1;
        /* ONNX's ceil_mode: a last window must start inside the input or left padding. */
        if (ceil && (oh - 1) * s >= h + p)
            oh--;
        if (ceil && (ow - 1) * s >= w + p)
            ow--;
        float sx = rscale(&d, 0.01f, 0.1f);
        int zx = u8 ? rnd(&d, 0, 255) : rnd(&d, -30, 30);
        float sy = same ? sx : rscale(&d, 0.01f, 0.1f);
        int zy = same ? zx : u8 ? rnd(&d, 0, 255) : rnd(&d, -30, 30);
        const char *dt = u8 ? "u8" : "i8";
        tu_str_clear(&d.text);
        tu_str_printf(&d.text,
                      "graph qmaxpool_%d {\n  input x : %s[1, %d, %d, %d] {scale = %.6g, zero = %d}\n"
                      "  y : %s[1, %d, %d, %d] {scale = %.6g, zero = %d} = qmax_pool(x, kernel_shape = "
                      "[%d, %d], strides = [%d, %d], pads = [%d, %d, %d, %d], ceil_mode = %d, qmin = %d, "
                      "rounding = \"%s\")\n  output y\n}\n",
                      c, dt, ch, h, w, sx, zx, dt, ch, oh, ow, sy, zy, kh, kw, s, s, p, p, p, p, ceil,
                      rnd(&d, 0, 1) ? -128 : zy, rounding(&d));
        run_case(&d);
    }
    qdiff_end(&d, "qmax_pool");
}

Test(quant, qmul, .timeout = 600)
{
    QDiff d;
    qdiff_begin(&d);
    for (int c = 0; c < 8; c++) {
        int a0 = rnd(&d, 1, 3), a1 = rnd(&d, 1, 13);
        /* b broadcast over rows ([1, a1]) or one operand along them
         * ([a0, 1], single rounding as in qadd; case 7 in rows of 2 or
         * 3): a, then b */
        bool bcast = c % 2, u8 = c == 3, along = c == 5 || c == 7, one_a = c == 5;
        if (along)
            a0 = rnd(&d, c == 7 ? 2 : 1, 5), a1 = c == 7 ? rnd(&d, 2, 3) : rnd(&d, 2, 13);
        const char *rmode = along ? "single" : rounding(&d);
        const char *dt = u8 ? "u8" : "i8";
        d.kinds[0] = d.kinds[1] = u8 ? TU_DATA_UINT8 : TU_DATA_INT8;
        tu_str_clear(&d.text);
        tu_str_printf(&d.text,
                      "graph qmul_%d {\n  input a : %s[%d, %d] {scale = %.6g, zero = %d}\n"
                      "  input b : %s[%d, %d] {scale = %.6g, zero = %d}\n"
                      "  y : %s[%d, %d] {scale = %.6g, zero = %d} = qmul(a, b, qmax = %d, rounding = \"%s\")\n"
                      "  output y\n}\n",
                      c, dt, a0, one_a ? 1 : a1, rscale(&d, 0.01f, 0.2f), u8 ? rnd(&d, 0, 255) : rnd(&d, -128, 127),
                      dt, bcast && !along ? 1 : a0, along && !one_a ? 1 : a1, rscale(&d, 0.01f, 0.2f),
                      u8 ? rnd(&d, 0, 255) : rnd(&d, -128, 127), dt,
                      a0, a1, rscale(&d, 0.005f, 0.3f), u8 ? rnd(&d, 0, 255) : rnd(&d, -20, 20),
                      rnd(&d, 0, 1) ? 255 : 60, rmode);
        run_case(&d);
    }
    qdiff_end(&d, "qmul");
}

Test(quant, qconcat, .timeout = 600)
{
    QDiff d;
    qdiff_begin(&d);
    for (int c = 0; c < 8; c++) {
        int nin = rnd(&d, 1, 3), axis = rnd(&d, 0, 2), dims[3] = {rnd(&d, 1, 3), rnd(&d, 1, 4), rnd(&d, 1, 4)};
        float sy = rscale(&d, 0.01f, 0.1f);
        int zy = rnd(&d, -20, 20), total = 0;
        tu_str_clear(&d.text);
        tu_str_printf(&d.text, "graph qconcat_%d {\n", c);
        for (int i = 0; i < nin; i++) {
            int len = rnd(&d, 1, 3), kind = rnd(&d, 0, 2); /* y's parameters, y's scale, others */
            int dd[3] = {dims[0], dims[1], dims[2]};
            dd[axis] = len;
            total += len;
            tu_str_printf(&d.text, "  input x%d : i8[%d, %d, %d] {scale = %.6g, zero = %d}\n", i, dd[0], dd[1],
                          dd[2], kind < 2 ? sy : rscale(&d, 0.01f, 0.1f), kind == 0 ? zy : rnd(&d, -20, 20));
        }
        int yd[3] = {dims[0], dims[1], dims[2]};
        yd[axis] = total;
        tu_str_printf(&d.text, "  y : i8[%d, %d, %d] {scale = %.6g, zero = %d} = qconcat(", yd[0], yd[1], yd[2],
                      sy, zy);
        for (int i = 0; i < nin; i++)
            tu_str_printf(&d.text, "x%d, ", i);
        tu_str_printf(&d.text, "axis = %d, qmin = %d, rounding = \"%s\")\n  output y\n}\n",
                      rnd(&d, 0, 1) ? axis : axis - 3, rnd(&d, 0, 1) ? -128 : zy, rounding(&d));
        run_case(&d);
    }
    qdiff_end(&d, "qconcat");
}

static int rnd_table_entry(int i) { return (i * 37 + 11) % 256 - 128; }

Test(quant, qlut, .timeout = 600)
{
    QDiff d;
    qdiff_begin(&d);
    for (int c = 0; c < 4; c++) {
        bool u8 = c % 2;
        d.kinds[0] = u8 ? TU_DATA_UINT8 : TU_DATA_INT8;
        int rows = rnd(&d, 1, 3), cols = rnd(&d, 1, 40);
        tu_str_clear(&d.text);
        tu_str_printf(&d.text, "graph qlut_%d {\n  input x : %s[%d, %d] {scale = 0.05, zero = %d}\n", c,
                      u8 ? "u8" : "i8", rows, cols, u8 ? 128 : 0);
        table_text(&d.text, "t", "i8", rnd_table_entry);
        tu_str_printf(&d.text, "  y : i8[%d, %d] {scale = 0.1} = qlut(x, t)\n  output y\n}\n", rows, cols);
        run_case(&d);
    }
    qdiff_end(&d, "qlut");
}

/* ------------------------------------------- fold-qdq: the QDQ patterns */

/* The QDQ graph `text` (int8 inputs and outputs) as written, and after
 * fold-qdq: `op` made `want` times and no float value left; on random
 * codes the two agree within `tol` steps. Returns the worst difference. */
static int qdq_vs_folded(TuRng *r, const char *text, int op, int want, int tol)
{
    Ctx *c = ctx_new();
    Graph *qdq = fe_parse_string(c, "qdq.etch", text), *g = fe_parse_string(c, "qdq.etch", text);
    cr_assert(qdq && g && !c->nerrors, "does not parse:\n%s", text);
    Module m = {.graph = g};
    cr_assert(pass_fold_qdq(c, &m) && !c->nerrors, "fold-qdq changed nothing:\n%s", text);
    pass_dce(c, &m);
    cr_assert(ir_verify(c, g));
    int made = 0, floats = 0;
    for (int i = 0; i < g->nnodes; i++) {
        const Node *n = &g->nodes[i];
        made += !n->dead && n->op == op;
        floats += !n->dead && ir_value(g, n->out[0])->type.dtype == DT_F32;
    }
    cr_expect_eq(made, want, "%d %s made, want %d:\n%s", made, op_info(op)->name, want, text);
    cr_expect_eq(floats, 0, "%d float values left after fold-qdq:\n%s", floats, text);
    Tensor in[4], a[4], b[4];
    for (int i = 0; i < g->ninputs; i++) {
        in[i].type = ir_value(qdq, qdq->inputs[i])->type;
        in[i].data = arena_alloc(c->arena, type_bytes(&in[i].type) + 1);
        bool u8 = in[i].type.dtype == DT_U8;
        for (int64_t k = 0; k < type_numel(&in[i].type); k++)
            ref_set_i(&in[i], k, tu_rng_int(r, u8 ? 0 : -128, u8 ? 255 : 127));
    }
    cr_assert(interp_run(c, qdq, in, a) && interp_run(c, g, in, b));
    int worst = 0;
    for (int o = 0; o < g->noutputs; o++)
        for (int64_t k = 0; k < type_numel(&a[o].type); k++) {
            int diff = abs((int)(ref_get_i(&a[o], k) - ref_get_i(&b[o], k)));
            worst = diff > worst ? diff : worst;
        }
    cr_expect(worst <= tol, "folded differs from the QDQ graph by %d steps (> %d):\n%s", worst, tol, text);
    ctx_free(c);
    return worst;
}

static const char *dt_of(bool u8) { return u8 ? "u8" : "i8"; }

/* `const NAME_s : f32[] = [scale]` and `const NAME_z : DT[] = [zero]`. */
static void qparams(TuStr *t, const char *name, float scale, int zero, bool u8)
{
    tu_str_printf(t, "  const %s_s : f32[] = [%.6g]\n  const %s_z : %s[] = [%d]\n", name, scale, name,
                  dt_of(u8), zero);
}

Test(quant, fold_max_pool)
{
    TuRng r;
    tu_rng_init(&r, tu_seed());
    for (int c = 0; c < 12; c++) {
        bool same = c % 3 == 0, global = c % 4 == 1, act = c % 2, u8 = c == 5;
        int kh = tu_rng_int(&r, 1, 3), kw = tu_rng_int(&r, 2, 3), p = kh > 1 ? tu_rng_int(&r, 0, 1) : 0;
        float sx = tu_rng_float(&r, 0.01f, 0.1f);
        int zx = tu_rng_int(&r, u8 ? 0 : -20, u8 ? 255 : 20);
        TuStr t = {0};
        tu_str_printf(&t, "graph mp {\n  input x : %s[1, 2, 5, 6]\n", dt_of(u8));
        qparams(&t, "x", sx, zx, u8);
        qparams(&t, "y", same ? sx : tu_rng_float(&r, 0.01f, 0.1f),
                same ? zx : tu_rng_int(&r, u8 ? 0 : -20, u8 ? 255 : 20), u8);
        tu_str_append(&t, "  d = dequantize_linear(x, x_s, x_z)\n");
        if (global)
            tu_str_append(&t, "  m = global_max_pool(d)\n");
        else
            tu_str_printf(&t, "  m = max_pool(d, kernel_shape = [%d, %d], strides = [2, 2], pads = [%d, %d, %d, %d], "
                          "ceil_mode = %d)\n", kh, kw, p, p, p, p, c % 5 == 2);
        tu_str_printf(&t, "  y = quantize_linear(%s, y_s, y_z)\n  output y\n}\n",
                      act ? "clip(m, min = 0, max = 0.5)" : "m");
        /* Equal parameters and no clamp: the max itself, exact. */
        qdq_vs_folded(&r, t.s, OP_QMAX_POOL, 1, same && !act ? 0 : 1);
        free(t.s);
    }
}

Test(quant, fold_mul)
{
    TuRng r;
    tu_rng_init(&r, tu_seed());
    for (int c = 0; c < 12; c++) {
        bool u8 = c % 4 == 3, bcast = c % 2;
        TuStr t = {0};
        tu_str_printf(&t, "graph m {\n  input a : %s[2, 5]\n  input b : %s[%d, 5]\n", dt_of(u8), dt_of(u8),
                      bcast ? 1 : 2);
        int lo = u8 ? 0 : -128, hi = u8 ? 255 : 127;
        qparams(&t, "a", tu_rng_float(&r, 0.01f, 0.2f), tu_rng_int(&r, lo, hi), u8);
        qparams(&t, "b", tu_rng_float(&r, 0.01f, 0.2f), tu_rng_int(&r, lo, hi), u8);
        qparams(&t, "y", tu_rng_float(&r, 0.005f, 0.3f), tu_rng_int(&r, lo, hi), u8);
        const char *act = c % 3 == 0 ? "relu(%s)" : c % 3 == 1 ? "clip(%s, min = -1, max = 2)" : "%s";
        tu_str_append(&t, "  p = mul(dequantize_linear(a, a_s, a_z), dequantize_linear(b, b_s, b_z))\n  y = "
                          "quantize_linear(");
        tu_str_printf(&t, act, "p");
        tu_str_append(&t, ", y_s, y_z)\n  output y\n}\n");
        qdq_vs_folded(&r, t.s, OP_QMUL, 1, 1);
        free(t.s);
    }
    /* By an int8 constant of more than one element: still qmul. */
    const char *by_const = "graph m {\n  input a : i8[2, 3]\n  const k : i8[1, 3] = [-5, 90, 17]\n"
                           "  const s : f32[] = [0.04]\n  const ks : f32[] = [0.02]\n  const z : i8[] = [3]\n"
                           "  y = quantize_linear(mul(dequantize_linear(a, s, z), dequantize_linear(k, ks)), s, z)\n"
                           "  output y\n}\n";
    qdq_vs_folded(&r, by_const, OP_QMUL, 1, 1);
}

Test(quant, fold_concat)
{
    TuRng r;
    tu_rng_init(&r, tu_seed());
    for (int c = 0; c < 12; c++) {
        int nin = tu_rng_int(&r, 2, 3), axis = tu_rng_int(&r, 0, 2);
        float sy = tu_rng_float(&r, 0.01f, 0.1f);
        int zy = tu_rng_int(&r, -20, 20);
        TuStr t = {0}, args = {0};
        tu_str_append(&t, "graph c {\n");
        for (int i = 0; i < nin; i++) {
            int dims[3] = {2, 3, 4};
            dims[axis] = i + 1;
            char name[16];
            snprintf(name, sizeof name, "x%d", i);
            tu_str_printf(&t, "  input %s : i8[%d, %d, %d]\n", name, dims[0], dims[1], dims[2]);
            int kind = tu_rng_int(&r, 0, 2); /* y's parameters, y's scale, its own */
            qparams(&t, name, kind < 2 ? sy : tu_rng_float(&r, 0.01f, 0.1f), kind == 0 ? zy : tu_rng_int(&r, -20, 20),
                    false);
            tu_str_printf(&args, "dequantize_linear(%s, %s_s, %s_z), ", name, name, name);
        }
        qparams(&t, "y", sy, zy, false);
        tu_str_printf(&t, "  y = quantize_linear(concat(%saxis = %d), y_s, y_z)\n  output y\n}\n", args.s, axis);
        qdq_vs_folded(&r, t.s, OP_QCONCAT, 1, 1);
        free(t.s);
        free(args.s);
    }
}

/* Every unary op (and chains of elementwise ops on one int8 value) between
 * a DQ and a Q becomes one qlut whose table came from the ops' own
 * references: exactly the QDQ graph's codes. */
Test(quant, fold_lut)
{
    static const char *const exprs[] = {
        "sigmoid(d)", "tanh(d)", "hard_sigmoid(d, alpha = 0.3, beta = 0.4)", "hard_swish(d)",
        "leaky_relu(d, alpha = 0.1)", "elu(d, alpha = 0.7)", "gelu(d)", "gelu(d, approximate = \"tanh\")",
        "exp(d)", "softplus(d)", "softsign(d)", "selu(d)", "celu(d)", "erf(d)", "relu(d)", "abs(d)",
        "neg(d)", "clip(d, min = -0.5, max = 0.5)", "sqrt(abs(d))", "log(d)",
        /* chains and one-source regions: scalar constants and shared uses */
        "sigmoid(relu(d))", "div(mul(d, clip(add(d, three), min = 0, max = 6)), six)",
        "mul(d, sigmoid(d))", "where(greater(d, zero), d, mul(d, tenth))", "add(three, d)",
        /* add and mul of one value, or by a dequantized int8 scalar: a
         * table, not qadd/qmul */
        "mul(d, d)", "add(d, d)", "mul(d, dequantize_linear(c8, tenth, c8z))",
        "sigmoid(add(dequantize_linear(c8, tenth), d))",
    };
    TuRng r;
    tu_rng_init(&r, tu_seed());
    for (size_t e = 0; e < sizeof exprs / sizeof exprs[0]; e++) {
        bool u8 = e % 5 == 4;
        TuStr t = {0};
        tu_str_printf(&t, "graph l {\n  input x : %s[3, 7]\n  const three : f32[] = [3]\n"
                      "  const six : f32[] = [6]\n  const zero : f32[] = [0]\n  const tenth : f32[] = [0.1]\n"
                      "  const c8 : i8[] = [-37]\n  const c8z : i8[] = [5]\n",
                      dt_of(u8));
        qparams(&t, "x", tu_rng_float(&r, 0.01f, 0.1f), tu_rng_int(&r, u8 ? 0 : -128, u8 ? 255 : 127), u8);
        qparams(&t, "y", tu_rng_float(&r, 0.005f, 0.05f), tu_rng_int(&r, -128, 127), false);
        tu_str_printf(&t, "  d = dequantize_linear(x, x_s, x_z)\n  y = quantize_linear(%s, y_s, y_z)\n"
                      "  output y\n}\n", exprs[e]);
        qdq_vs_folded(&r, t.s, OP_QLUT, 1, 0);
        free(t.s);
    }
}

/* What must stay float: fold-qdq leaves these patterns alone. */
Test(quant, fold_leaves)
{
    static const char *const head = "graph n {\n  input x : i8[2, 4]\n  input u : u8[2, 4]\n"
                                    "  const s : f32[] = [0.05]\n  const z : i8[] = [3]\n  const zu : u8[] = [3]\n"
                                    "  const k : f32[4] = [1, 2, 3, 4]\n  d = dequantize_linear(x, s, z)\n"
                                    "  e = dequantize_linear(u, s, zu)\n";
    static const char *const bodies[] = {
        /* i8 times u8: no one dtype */
        "  y = quantize_linear(mul(d, e), s, z)\n  output y\n",
        /* a non-scalar constant: not one code per output */
        "  y = quantize_linear(mul(d, k), s, z)\n  output y\n",
        /* two sources */
        "  y = quantize_linear(sigmoid(add(d, e)), s, z)\n  output y\n",
        /* a value inside the region is also a graph output */
        "  t = exp(d)\n  y = quantize_linear(sigmoid(t), s, z)\n  output y, t\n",
        /* the float result is read by something else too */
        "  t = sigmoid(d)\n  y = quantize_linear(t, s, z)\n  w = quantize_linear(neg(t), s, z)\n  output y, w\n",
        /* a concat of an int8 value and a float constant */
        "  y = quantize_linear(concat(d, k2, axis = 0), s, z)\n  output y\n",
        /* a window in the padding alone */
        "  y = quantize_linear(max_pool(unsqueeze(d, axes = [0, 1]), kernel_shape = [1, 1], pads = [1, 1, 1, 1]), s, z)\n"
        "  output y\n",
    };
    for (size_t b = 0; b < sizeof bodies / sizeof bodies[0]; b++) {
        TuStr t = {0};
        tu_str_printf(&t, "%s%s%s}\n", head, b == 5 ? "  const k2 : f32[1, 4] = [1, 2, 3, 4]\n" : "", bodies[b]);
        Ctx *c = ctx_new();
        Graph *g = fe_parse_string(c, "n.etch", t.s);
        cr_assert(g && !c->nerrors, "does not parse:\n%s", t.s);
        Module m = {.graph = g};
        pass_fold_qdq(c, &m);
        cr_expect(!c->nerrors, "fold-qdq failed on:\n%s", t.s);
        for (int i = 0; i < g->nnodes; i++) {
            const Node *n = &g->nodes[i];
            int op = n->op;
            cr_expect(n->dead || (op != OP_QMUL && op != OP_QLUT && op != OP_QCONCAT && op != OP_QMAX_POOL),
                      "case %zu folded into %s:\n%s", b, op_info(op)->name, t.s);
        }
        ctx_free(c);
        free(t.s);
    }
}

/* `etch dump --print-after fold-qdq` shows the int8 kernels. */
Test(quant, fold_cli, .timeout = 120)
{
    static const char *const text =
        "graph f {\n  input x : i8[1, 2, 4, 4]\n  input b : i8[1, 2, 4, 4]\n"
        "  const sx : f32[] = [0.05]\n  const sb : f32[] = [0.02]\n  const sy : f32[] = [0.1]\n"
        "  const zy : i8[] = [-10]\n  xf = dequantize_linear(x, sx)\n  bf = dequantize_linear(b, sb)\n"
        "  m = quantize_linear(max_pool(xf, kernel_shape = [2, 2], strides = [2, 2]), sy, zy)\n"
        "  p = quantize_linear(mul(xf, bf), sy, zy)\n"
        "  c = quantize_linear(concat(xf, bf, axis = 1), sy, zy)\n"
        "  s = quantize_linear(tanh(xf), sy, zy)\n  output m, p, c, s\n}\n";
    char *dir = tu_mkdtemp("qfold");
    char *path = tu_path(dir, "f.etch");
    cr_assert(tu_write_file(path, text, strlen(text)));
    TuStr cmd = {0};
    tu_str_printf(&cmd, "'%s' dump '%s' --print-after fold-qdq", ETCH_EXE, path);
    char *out, *err;
    cr_assert_eq(tu_run(NULL, cmd.s, &out, &err), 0, "%s", err);
    static const char *const want[] = {
        "m : i8[1, 2, 2, 2] {scale = 0.1, zero = -10} = qmax_pool(x, kernel_shape = [2, 2], strides = [2, 2])",
        "p : i8[1, 2, 4, 4] {scale = 0.1, zero = -10} = qmul(x, b)",
        "c : i8[1, 4, 4, 4] {scale = 0.1, zero = -10} = qconcat(x, b, axis = 1)",
        "s : i8[1, 2, 4, 4] {scale = 0.1, zero = -10} = qlut(x, s_lut)", "const s_lut : i8[256] = [",
    };
    const char *after = strstr(out, "# after fold-qdq");
    cr_assert(after, "no fold-qdq dump:\n%s", out);
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        cr_expect(strstr(after, want[i]) != NULL, "the dump lacks '%s':\n%s", want[i], after);
    free(out);
    free(err);
    free(cmd.s);
    tu_rmtree(dir);
    free(path);
    free(dir);
}

Test(quant, errors_new_ops)
{
    expect_error("graph e {\n  input x : i8[1, 1, 2, 2] {scale = 0.1}\n"
                 "  y : i8[1, 1, 4, 4] {scale = 0.1} = qmax_pool(x, kernel_shape = [1, 1], pads = [1, 1, 1, 1])\n"
                 "  output y\n}\n", "a window lies in the padding alone");
    expect_error("graph e {\n  input x : i8[1, 1, 2, 2] {scale = 0.1}\n"
                 "  y = qmax_pool(x, kernel_shape = [2, 2])\n  output y\n}\n",
                 "the output needs quantization parameters");
    expect_error("graph e {\n  input x : i8[1, 1, 2, 2] {scale = 1e10}\n"
                 "  y : i8[1, 1, 1, 1] {scale = 1e-10} = qmax_pool(x, kernel_shape = [2, 2])\n  output y\n}\n",
                 "requantization multiplier sx / sy");
    expect_error("graph e {\n  input a : i8[2] {scale = 0.1}\n  input b : u8[2] {scale = 0.1}\n"
                 "  y : i8[2] {scale = 0.1} = qmul(a, b)\n  output y\n}\n", "a and b must have one dtype");
    expect_error("graph e {\n  input a : i8[2] {scale = 1e10}\n  input b : i8[2] {scale = 1e10}\n"
                 "  y : i8[2] {scale = 1e-10} = qmul(a, b)\n  output y\n}\n", "sa * sb / sy");
    expect_error("graph e {\n  input a : i8[2] {scale = 0.1}\n  input b : i8[3] {scale = 0.1}\n"
                 "  y : i8[2] {scale = 0.1} = qmul(a, b)\n  output y\n}\n", "broadcast");
    expect_error("graph e {\n  input a : i8[2] {scale = 0.1}\n  input b : i8[2]\n"
                 "  y : i8[4] {scale = 0.1} = qconcat(a, b, axis = 0)\n  output y\n}\n",
                 "input 1 must be i8 or u8 with per-tensor quantization parameters");
    expect_error("graph e {\n  input a : i8[2] {scale = 0.1}\n  input b : i8[2] {scale = 1e10}\n"
                 "  y : i8[4] {scale = 1e-10} = qconcat(a, b, axis = 0)\n  output y\n}\n",
                 "requantization multiplier s1 / sy = 1e+10 / 1e-10");
    expect_error("graph e {\n  input x : i8[2] {scale = 0.1}\n  const t : i8[4] = [1, 2, 3, 4]\n"
                 "  y : i8[2] {scale = 0.1} = qlut(x, t)\n  output y\n}\n", "table must be i8[256] or u8[256]");
    expect_error("graph e {\n  input x : f32[2]\n  const t : i8[4] = [1, 2, 3, 4]\n"
                 "  y : i8[2] {scale = 0.1} = qlut(x, t)\n  output y\n}\n", "x must be i8 or u8");
}
