/* test_quant.c: int8 quantization: the requantization arithmetic against
 * hand-computed cases for both roundings, and the int8 ops (qconv, qgemm,
 * qaverage_pool, qadd) on random shapes, attributes, zero points and data
 * through the integer reference, loop_eval, the emitted C, the LLVM
 * backend, the scalar-target lowering and Cortex-M4's (dot4, on the host),
 * which must all agree exactly.
 * Replay a failure with ETCH_SEED=N etch_tests --filter 'quant/NAME'.
 */
#define _POSIX_C_SOURCE 200809L

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frontend/frontend.h"
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
        int a0 = rnd(&d, 1, 3), a1 = rnd(&d, 1, 6);
        bool bcast = c % 2;
        tu_str_clear(&d.text);
        tu_str_printf(&d.text,
                      "graph qadd_%d {\n  input a : i8[%d, %d] {scale = %.6g, zero = %d}\n"
                      "  input b : i8[%d, %d] {scale = %.6g, zero = %d}\n"
                      "  y : i8[%d, %d] {scale = %.6g, zero = %d} = qadd(a, b, qmin = %d, rounding = \"%s\")\n"
                      "  output y\n}\n",
                      c, a0, a1, rscale(&d, 0.01f, 0.2f), rnd(&d, -128, 127), bcast ? 1 : a0, a1,
                      rscale(&d, 0.01f, 0.2f), rnd(&d, -128, 127), a0, a1, rscale(&d, 0.02f, 0.3f),
                      rnd(&d, -20, 20), rnd(&d, 0, 1) ? -128 : 0, rounding(&d));
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
