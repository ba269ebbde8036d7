/* test_fast_math.c: the fast-math pass's exp, tanh and sigmoid against
 * libm in double, and the ops built on them against the interpreter.
 *
 * suite fast_math:
 *   - sweep_c / sweep_llvm / sweep_loop_eval: one graph computing exp,
 *     tanh and sigmoid of every 2^16-th float bit pattern, dense runs of
 *     consecutive floats where the code changes regime (around 0, 1, the
 *     tanh switch at 0.625, ln FLT_MAX, ln FLT_MIN, the underflow to 0) and
 *     the special values, compiled with --math fast through each backend;
 *     every result must be within the bounds docs/fast-math.md states
 *     (ulps of the exact result, rounded from double) and the special
 *     values exact (inf, 0, -0, NaN);
 *   - the pass leaves no exp or tanh call in the program and changes
 *     nothing under --math exact;
 *   - ops: every op that lowers to exp or tanh (and a fused chain, and exp
 *     in a select arm) on random shapes and data, interpreter (libm-exact)
 *     vs loop_eval vs C vs LLVM with --math fast, within FAST_TOL;
 *   - the CLI: --math fast runs, an unknown mode is a usage error.
 * Data comes from the seeded PRNG of testutil.h (ETCH_SEED replays).
 */
#define _POSIX_C_SOURCE 200809L

#include <criterion/criterion.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frontend/frontend.h"
#include "passes/passes.h"
#include "testutil.h"

/* The documented bounds (docs/fast-math.md), in ulps of the exact result. */
#define EXP_ULP 1.5
#define TANH_ULP 1.5
#define SIGMOID_ULP 3.0
/* Ops against the interpreter: each computes one exp or tanh per element
 * and a few more roundings (softmax: a sum and a division), so 8 times the
 * largest bound, in ulps of 1, bounds its error relative to max(1, |y|). */
#define FAST_TOL (8 * SIGMOID_ULP * FLT_EPSILON)

/* ------------------------------------------------------------- the sweep */

static int push(float *x, int n, float v)
{
    x[n] = v;
    return n + 1;
}

/* `count` consecutive floats from bit pattern `bits` (upward in magnitude). */
static int run_of(float *x, int n, uint32_t bits, int count)
{
    for (int i = 0; i < count; i++) {
        uint32_t b = bits + (uint32_t)i;
        memcpy(&x[n++], &b, sizeof b);
    }
    return n;
}

static uint32_t bits_of(float v)
{
    uint32_t b;
    memcpy(&b, &v, sizeof b);
    return b;
}

/* `count` consecutive floats centred on v. */
static int around(float *x, int n, float v, int count)
{
    return run_of(x, n, bits_of(v) - (uint32_t)count / 2, count);
}

enum { SWEEP_MAX = 1 << 19 };

/* The sweep's inputs; returns how many. */
static int sweep_inputs(float *x)
{
    int n = 0;
    for (uint64_t b = 0; b < (1ull << 32); b += 1u << 16) {
        uint32_t b32 = (uint32_t)b;
        float v;
        memcpy(&v, &b32, sizeof v);
        if (!isnan(v))
            n = push(x, n, v);
    }
    static const float centres[] = {
        1.0f, -1.0f, 0.625f, -0.625f, 0.3466f, -0.3466f, /* tanh switch, exp's |r| limit */
        88.72283935546875f, 88.0f, 89.0f, 9.0f, -9.0f,   /* ln FLT_MAX, tanh reaching 1 */
        -87.33654022216797f, -103.97208f, -104.0f,       /* ln FLT_MIN, 2^-150 */
        20.0f, -20.0f, 2.0f, -16.6f,
    };
    for (size_t i = 0; i < sizeof centres / sizeof centres[0]; i++)
        n = around(x, n, centres[i], 4096);
    n = run_of(x, n, 0, 8192);             /* +0 and the smallest subnormals */
    n = run_of(x, n, 0x80000000u, 8192);   /* -0 and negative subnormals */
    n = run_of(x, n, bits_of(FLT_MIN), 4096);
    n = run_of(x, n, bits_of(1e-4f), 4096);
    static const float specials[] = {INFINITY, -INFINITY, NAN, -NAN, FLT_MAX, -FLT_MAX,
                                     FLT_TRUE_MIN, -FLT_TRUE_MIN, 0.0f, -0.0f};
    for (size_t i = 0; i < sizeof specials / sizeof specials[0]; i++)
        n = push(x, n, specials[i]);
    cr_assert(n <= SWEEP_MAX);
    return n;
}

/* |got - exact| in ulps of the exact value rounded to float (subnormals:
 * ulps of 2^-149). */
static double ulps(float got, double exact)
{
    double a = fabs(exact);
    int e;
    frexp(a < FLT_MIN ? FLT_MIN : a, &e);
    return fabs((double)got - exact) / ldexp(1.0, e - 24);
}

typedef struct {
    const char *fn;
    double worst;
    float at;
    int bad;
    char first[256];
} Check;

static void fail_at(Check *c, const char *fmt, float x, float got, double exact)
{
    if (c->bad++ == 0)
        snprintf(c->first, sizeof c->first, fmt, c->fn, (double)x, (double)got, exact);
}

/* got = fn(x) within `bound` ulps, special values exact. */
static void check_value(Check *c, float x, float got, double exact, double bound)
{
    if (isnan(exact)) {
        if (!isnan(got))
            fail_at(c, "%s(%a) = %a, want NaN (%g)", x, got, exact);
        return;
    }
    if (fabs(exact) > FLT_MAX || (float)exact == 0.0f || isinf(x)) {
        /* overflow, a result that rounds to 0, or an infinite input: the
         * float result exactly (sign of zero included) */
        float want = (float)exact;
        if (got != want || signbit(got) != signbit(want))
            fail_at(c, "%s(%a) = %a, want %a", x, got, exact);
        return;
    }
    double u = ulps(got, exact);
    if (!(u <= bound))
        fail_at(c, "%s(%a) = %a, exact %.17g: beyond the bound", x, got, exact);
    if (u > c->worst) {
        c->worst = u;
        c->at = x;
    }
}

static const char *sweep_graph =
    "graph fm {\n"
    "  input x : f32[%d]\n"
    "  e = exp(x)\n"
    "  t = tanh(x)\n"
    "  s = sigmoid(x)\n"
    "  output e\n"
    "  output t\n"
    "  output s\n"
    "}\n";

static Program *lower_fast(Ctx *c, const char *text, MathMode math)
{
    Graph *g = fe_parse_string(c, "fm.etch", text);
    cr_assert(g, "parse failed");
    Module m = {.graph = g, .math = math};
    cr_assert(pipeline_run(c, &m, NULL) && m.prog, "pipeline failed");
    return m.prog;
}

typedef enum { RUN_C, RUN_LLVM, RUN_LOOP_EVAL } Runner;

static void sweep(Runner how)
{
    float *x = malloc(SWEEP_MAX * sizeof *x);
    int n = sweep_inputs(x);
    char text[512];
    snprintf(text, sizeof text, sweep_graph, n);
    Ctx *c = ctx_new();
    Program *p = lower_fast(c, text, MATH_FAST);
    float *out[3];
    for (int i = 0; i < 3; i++)
        out[i] = calloc((size_t)n, sizeof *out[i]);
    const void *ins[1] = {x};
    void *outs[3] = {out[0], out[1], out[2]};
    if (how == RUN_LOOP_EVAL) {
        void *ws = calloc(1, (size_t)p->workspace_size + 1);
        cr_assert(loop_eval(p, ins, outs, ws), "loop_eval failed");
        free(ws);
    } else {
        char *dir = tu_mkdtemp("fastmath");
        TuStr why = {0};
        bool ok = tu_run_program(c, p, dir, how == RUN_LLVM, ins, outs, &why);
        cr_assert(ok, "%s", why.s ? why.s : "");
        free(why.s);
        tu_rmtree(dir);
        free(dir);
    }
    /* outputs in the order the graph declares them */
    Check ck[3] = {{.fn = "exp"}, {.fn = "tanh"}, {.fn = "sigmoid"}};
    for (int i = 0; i < n; i++) {
        double xd = x[i];
        check_value(&ck[0], x[i], out[0][i], exp(xd), EXP_ULP);
        check_value(&ck[1], x[i], out[1][i], tanh(xd), TANH_ULP);
        double s = 1.0 / (1.0 + exp(-xd));
        /* Below FLT_MIN the sigmoid, like 1 / (1 + expf(-x)) with libm,
         * gives a subnormal or 0 (exp(-x) overflows): absolute error. */
        if (!isnan(xd) && s < FLT_MIN && s > 0) {
            if (!(fabs((double)out[2][i] - s) <= FLT_MIN))
                fail_at(&ck[2], "%s(%a) = %a, exact %g: beyond FLT_MIN", x[i], out[2][i], s);
        } else {
            check_value(&ck[2], x[i], out[2][i], s, SIGMOID_ULP);
        }
    }
    for (int f = 0; f < 3; f++) {
        cr_log_info("fast %s over %d inputs: max %.3f ulp at %a", ck[f].fn, n, ck[f].worst,
                    (double)ck[f].at);
        cr_expect(ck[f].bad == 0, "%d of %d inputs out of bounds; first: %s", ck[f].bad, n,
                  ck[f].first);
        /* a sweep that never reached the bound's neighbourhood would not
         * show a bound too tight: the worst case is near 1 ulp */
        cr_expect(ck[f].worst > 0.5, "%s: worst %.3f ulp, suspiciously exact", ck[f].fn,
                  ck[f].worst);
    }
    for (int i = 0; i < 3; i++)
        free(out[i]);
    free(x);
    ctx_free(c);
}

Test(fast_math, sweep_c, .timeout = 120) { sweep(RUN_C); }
Test(fast_math, sweep_llvm, .timeout = 120) { sweep(RUN_LLVM); }
Test(fast_math, sweep_loop_eval, .timeout = 240) { sweep(RUN_LOOP_EVAL); }

/* ------------------------------------------------------------ the pass */

static char *program_text(const Program *p)
{
    char *s = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&s, &len);
    loop_print_program(f, p);
    fclose(f);
    return s;
}

Test(fast_math, expands_every_call)
{
    static const char *text =
        "graph calls {\n"
        "  input x : f32[3, 5]\n"
        "  a = softmax(x, axis = 1)\n"
        "  b = gelu(x, approximate = \"tanh\")\n"
        "  c = elu(x)\n"
        "  d = reduce_log_sum_exp(x, axes = [1])\n"
        "  output a\n  output b\n  output c\n  output d\n"
        "}\n";
    Ctx *c = ctx_new();
    Program *pf = lower_fast(c, text, MATH_FAST), *pe = lower_fast(c, text, MATH_EXACT);
    /* the C backend's cue for GCC's no-trapping-math */
    cr_expect(pf->fast_math && !pe->fast_math);
    char *fast = program_text(pf);
    char *exact = program_text(pe);
    cr_expect(!strstr(fast, "exp(") && !strstr(fast, "tanh("), "a call is left:\n%s", fast);
    cr_expect(strstr(fast, "bits_f32("), "no 2^n in:\n%s", fast);
    cr_expect(strstr(exact, "exp(") && strstr(exact, "tanh(") && !strstr(exact, "bits_"),
              "--math exact changed the program:\n%s", exact);
    free(fast);
    free(exact);
    ctx_free(c);
}

/* -------------------------------------------------- ops vs the interpreter */

static void ops_case(bool llvm)
{
    static const char *ops[] = {
        "sigmoid(x)", "tanh(x)", "exp(x)", "gelu(x, approximate = \"tanh\")", "elu(x, alpha = 0.7)",
        "selu(x)", "celu(x, alpha = 1.3)", "softplus(x)", "softmax(x, axis = -1)",
        "log_softmax(x, axis = -1)", "reduce_log_sum_exp(x, axes = [-1])",
        /* a fused chain, and exp in a select arm (where's) */
        "mul(tanh(x), sigmoid(add(x, x)))", "where(greater(x, x2), exp(x), tanh(x2))",
    };
    TuRng r;
    tu_rng_init(&r, tu_seed());
    char *dir = tu_mkdtemp("fastops");
    TuStr report = {0};
    int nfail = 0, ncases = 0;
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        for (int rep = 0; rep < 2; rep++) {
            int d0 = tu_rng_int(&r, 1, 4), d1 = tu_rng_int(&r, 1, 40);
            char text[1024];
            snprintf(text, sizeof text,
                     "graph fo_%d_%d {\n  input x : f32[%d, %d]\n  input x2 : f32[%d, %d]\n"
                     "  y = %s\n  z = add(y, x2)\n  output y\n  output z\n}\n",
                     (int)i, rep, d0, d1, d0, d1, ops[i]);
            TuData kinds[2] = {rep ? TU_DATA_WIDE : TU_DATA_SIGNED, TU_DATA_SIGNED};
            ncases++;
            if (!tu_diff_graph_fast(llvm, text, &r, kinds, FAST_TOL, dir, &report))
                nfail++;
        }
    }
    if (nfail)
        fprintf(stderr, "%s", report.s);
    free(report.s);
    tu_rmtree(dir);
    free(dir);
    cr_assert(nfail == 0, "%d of %d cases failed; replay with ETCH_SEED=%llu", nfail, ncases,
              (unsigned long long)tu_seed());
}

Test(fast_math, ops_c, .timeout = 120) { ops_case(false); }
Test(fast_math, ops_llvm, .timeout = 120) { ops_case(true); }

/* ------------------------------------------------------------- the CLI */

Test(fast_math, cli)
{
    char *dir = tu_mkdtemp("fastcli");
    char *model = tu_path(dir, "m.etch");
    const char *text = "graph m {\n  input x : f32[4]\n  y = tanh(x)\n  output y\n}\n";
    cr_assert(tu_write_file(model, text, strlen(text)));
    char cmd[1024], *out = NULL, *err = NULL;
    snprintf(cmd, sizeof cmd, "%s dump m.etch --math fast --print-after fast-math", ETCH_EXE);
    cr_expect(tu_run(dir, cmd, &out, &err) == 0, "%s", err);
    cr_expect(strstr(out, "# after fast-math\n") && strstr(out, "bits_f32("), "%s", out);
    free(out);
    free(err);
    snprintf(cmd, sizeof cmd, "%s compile m.etch --math quick", ETCH_EXE);
    cr_expect(tu_run(dir, cmd, &out, &err) == 2);
    cr_expect(strstr(err, "etch: error: unknown math mode 'quick' (modes: exact, fast)"), "%s", err);
    free(out);
    free(err);
    tu_rmtree(dir);
    free(dir);
    free(model);
}
