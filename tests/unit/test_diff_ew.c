/* test_diff_ew.c: differential tests of the elementwise ops of ref_ew.c /
 * lower_ew.c: interpreter vs loop_eval vs the emitted C (tu_diff_graph).
 *
 * Every case is a graph in the graph language with random shapes (rank 0
 * to 4), random broadcasting and fresh random data from the seeded PRNG;
 * inputs that an op's domain restricts get a fitting data kind (|x| < 0.5
 * for asin/acos/atanh, x >= 1.1 for acosh via x + 1). To keep the suite
 * fast, a case often computes several ops of a group on the same inputs as
 * separate outputs (one compile per case); a failure names the output, i.e.
 * the op. NaN cannot be compared directly (tu_close fails on NaN), so NaN
 * handling is checked through equal(v, v), which is false exactly where v
 * is NaN. A failure prints the seed: ETCH_SEED=N replays it.
 */
#define _POSIX_C_SOURCE 200809L

#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frontend/frontend.h"
#include "passes/passes.h"
#include "testutil.h"

#define TOL 1e-5

typedef struct {
    const char *name;
    TuRng rng;
    char *workdir;
    int ncases, nfail;
    TuStr report, text;
    TuData kinds[16];
    int nin;
} Case;

static void begin(Case *k, const char *name)
{
    memset(k, 0, sizeof *k);
    k->name = name;
    tu_rng_init(&k->rng, tu_seed());
    k->workdir = tu_mkdtemp("diffew");
}

static void end(Case *k)
{
    if (k->nfail)
        fprintf(stderr, "\n==== diff_ew/%s: %d of %d cases failed (ETCH_SEED=%llu) ====\n%s",
                k->name, k->nfail, k->ncases, (unsigned long long)tu_seed(), k->report.s);
    tu_rmtree(k->workdir);
    free(k->workdir);
    free(k->report.s);
    free(k->text.s);
    cr_assert(k->ncases > 0);
    cr_assert(k->nfail == 0, "diff_ew/%s: %d of %d cases failed; replay with ETCH_SEED=%llu",
              k->name, k->nfail, k->ncases, (unsigned long long)tu_seed());
}

static int rnd(Case *k, int lo, int hi) { return tu_rng_int(&k->rng, lo, hi); }

static void g_begin(Case *k)
{
    tu_str_clear(&k->text);
    k->nin = 0;
    tu_str_printf(&k->text, "graph e_%s_%d {\n", k->name, k->ncases);
}

static void g_type(Case *k, const char *dt, int rank, const int64_t *dims)
{
    tu_str_printf(&k->text, "%s[", dt);
    for (int i = 0; i < rank; i++)
        tu_str_printf(&k->text, "%s%lld", i ? ", " : "", (long long)dims[i]);
    tu_str_append(&k->text, "]");
}

static void g_input(Case *k, const char *name, const char *dt, int rank, const int64_t *dims,
                    TuData kind)
{
    tu_str_printf(&k->text, "  input %s : ", name);
    g_type(k, dt, rank, dims);
    tu_str_append(&k->text, "\n");
    k->kinds[k->nin++] = kind;
}

static void g_line(Case *k, const char *fmt, ...) IR_PRINTF(2, 3);
static void g_line(Case *k, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    tu_str_printf(&k->text, "  %s\n", buf);
}

static void g_run(Case *k)
{
    tu_str_append(&k->text, "}\n");
    k->ncases++;
    if (getenv("ETCH_DIFF_VERBOSE"))
        fprintf(stderr, "%s", k->text.s);
    if (!tu_diff_graph(k->text.s, &k->rng, k->kinds, TOL, k->workdir, &k->report)) {
        k->nfail++;
        tu_str_printf(&k->report, "---- (case %d of diff_ew/%s)\n\n", k->ncases - 1, k->name);
    }
}

/* A random output shape of rank 0..4 (case 0: rank 0). */
static int rand_shape(Case *k, int c, int64_t *dims)
{
    int r = c == 0 ? 0 : rnd(k, 1, 4);
    for (int i = 0; i < r; i++)
        dims[i] = rnd(k, 1, 5);
    return r;
}

/* An operand shape that broadcasts to out: a random suffix of it, with
 * random dims set to 1 (equal to out when `full`). */
static int bcast_from(Case *k, int ro, const int64_t *out, int64_t *dims, bool full)
{
    int r = full ? ro : rnd(k, 0, ro);
    for (int i = 0; i < r; i++)
        dims[i] = !full && rnd(k, 0, 2) == 0 ? 1 : out[ro - r + i];
    return r;
}

/* ------------------------------------------------------------ unary ops */

typedef struct {
    const char *op, *attrs;
    TuData kind;
    const char *pre; /* a wrapper making the operand valid, "%s" = input */
} Unary;

/* One graph per case: every op of `ops` on its own input x<i>. */
static void unary_group(const char *name, const Unary *ops, int nops, int ncases)
{
    Case k;
    begin(&k, name);
    for (int c = 0; c < ncases; c++) {
        int64_t dims[4];
        int r = rand_shape(&k, c, dims);
        g_begin(&k);
        g_line(&k, "const one : f32[] = [1]");
        for (int i = 0; i < nops; i++) {
            char x[16];
            snprintf(x, sizeof x, "x%d", i);
            g_input(&k, x, "f32", r, dims, ops[i].kind);
        }
        for (int i = 0; i < nops; i++) {
            char x[16], arg[64];
            snprintf(x, sizeof x, "x%d", i);
            snprintf(arg, sizeof arg, ops[i].pre ? ops[i].pre : "%s", x);
            g_line(&k, "%s = %s(%s%s%s)", ops[i].op, ops[i].op, arg, *ops[i].attrs ? ", " : "",
                   ops[i].attrs);
            g_line(&k, "output %s", ops[i].op);
        }
        g_run(&k);
    }
    end(&k);
}

Test(diff_ew, unary_math, .timeout = 120)
{
    static const Unary ops[] = {
        {"floor", "", TU_DATA_WIDE, NULL},      {"ceil", "", TU_DATA_WIDE, NULL},
        {"round", "", TU_DATA_WIDE, NULL},      {"reciprocal", "", TU_DATA_AWAY, NULL},
        {"erf", "", TU_DATA_SIGNED, NULL},      {"sin", "", TU_DATA_WIDE, NULL},
        {"cos", "", TU_DATA_WIDE, NULL},        {"tan", "", TU_DATA_SIGNED, NULL},
        {"asin", "", TU_DATA_SMALL, NULL},      {"acos", "", TU_DATA_SMALL, NULL},
        {"atan", "", TU_DATA_WIDE, NULL},       {"sinh", "", TU_DATA_SIGNED, NULL},
        {"cosh", "", TU_DATA_SIGNED, NULL},     {"asinh", "", TU_DATA_WIDE, NULL},
        {"acosh", "", TU_DATA_POSITIVE, "add(%s, one)"},
        {"atanh", "", TU_DATA_SMALL, NULL},
    };
    unary_group("unary_math", ops, (int)(sizeof ops / sizeof ops[0]), 4);
}

Test(diff_ew, activations, .timeout = 120)
{
    static const Unary ops[] = {
        {"softplus", "", TU_DATA_WIDE, NULL},
        {"softsign", "", TU_DATA_WIDE, NULL},
        {"elu", "alpha = 0.7", TU_DATA_SIGNED, NULL},
        {"selu", "", TU_DATA_SIGNED, NULL},
        {"celu", "alpha = 1.3", TU_DATA_SIGNED, NULL},
        {"hard_sigmoid", "alpha = 0.3, beta = 0.4", TU_DATA_WIDE, NULL},
        {"hard_swish", "", TU_DATA_WIDE, NULL},
        {"thresholded_relu", "alpha = 0.25", TU_DATA_SIGNED, NULL},
        {"shrink", "lambd = 0.6, bias = 0.2", TU_DATA_SIGNED, NULL},
        {"sign", "", TU_DATA_SIGNED, NULL},
    };
    unary_group("activations", ops, (int)(sizeof ops / sizeof ops[0]), 4);
}

/* round must send halves to the even neighbour in every backend: exact
 * halves (h + x * 0 keeps them out of reach of constant folding). */
Test(diff_ew, round_halves)
{
    Case k;
    begin(&k, "round_halves");
    int64_t d[1] = {8};
    g_begin(&k);
    g_input(&k, "x", "f32", 1, d, TU_DATA_SIGNED);
    g_line(&k, "const h : f32[8] = [0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 3.5, -4.5]");
    g_line(&k, "const z : f32[] = [0]");
    g_line(&k, "y = round(add(h, mul(x, z)))");
    g_line(&k, "output y");
    g_run(&k);
    end(&k);
}

/* --------------------------------------------------- binary and n-ary ops */

static const char *const int_dts[] = {"i8", "u8", "i16", "i32", "i64"};

/* Random shapes for n operands broadcasting to one output (whose rank is
 * returned, dims in out). Case 0: all equal; case 1: operand 0 full. */
static int nary_shapes(Case *k, int c, int n, int *rk, int64_t (*dims)[4], int64_t *out)
{
    int ro = rand_shape(k, c == 0 ? 1 : c, out);
    for (int i = 0; i < n; i++)
        rk[i] = bcast_from(k, ro, out, dims[i], c == 0 || (c == 1 && i == 0));
    return ro;
}

/* Comparisons on f32 and on a random integer dtype, in one graph. */
Test(diff_ew, compare, .timeout = 120)
{
    static const char *const ops[] = {"equal", "less", "less_or_equal", "greater",
                                      "greater_or_equal"};
    Case k;
    begin(&k, "compare");
    for (int c = 0; c < 4; c++) {
        int rk[2];
        int64_t dims[2][4], out[4];
        nary_shapes(&k, c, 2, rk, dims, out);
        const char *idt = int_dts[rnd(&k, 0, 4)];
        g_begin(&k);
        g_input(&k, "a", "f32", rk[0], dims[0], TU_DATA_SIGNED);
        g_input(&k, "b", "f32", rk[1], dims[1], TU_DATA_SIGNED);
        g_input(&k, "ia", idt, rk[0], dims[0], TU_DATA_SIGNED);
        g_input(&k, "ib", idt, rk[1], dims[1], TU_DATA_SIGNED);
        for (int i = 0; i < 5; i++) {
            /* a vs a exercises equality, which random floats never hit. */
            g_line(&k, "f_%s = %s(a, %s)", ops[i], ops[i], c == 3 ? "a" : "b");
            g_line(&k, "i_%s = %s(ia, ib)", ops[i], ops[i]);
            g_line(&k, "output f_%s", ops[i]);
            g_line(&k, "output i_%s", ops[i]);
        }
        g_run(&k);
    }
    end(&k);
}

/* Bools come from comparisons: an input filled from random floats would be
 * all true. */
Test(diff_ew, logic, .timeout = 120)
{
    Case k;
    begin(&k, "logic");
    for (int c = 0; c < 4; c++) {
        int rk[2];
        int64_t dims[2][4], out[4];
        nary_shapes(&k, c, 2, rk, dims, out);
        g_begin(&k);
        g_input(&k, "fa", "f32", rk[0], dims[0], TU_DATA_SIGNED);
        g_input(&k, "b", "f32", rk[1], dims[1], TU_DATA_SIGNED);
        g_line(&k, "const z : f32[] = [0]");
        g_line(&k, "a = less(fa, z)");
        g_line(&k, "p = greater(b, z)");
        g_line(&k, "y_and = and(a, p)");
        g_line(&k, "y_or = or(a, p)");
        g_line(&k, "y_xor = xor(a, p)");
        g_line(&k, "y_not = not(p)");
        g_line(&k, "y_eq = equal(a, p)");
        g_line(&k, "output y_and\n  output y_or\n  output y_xor\n  output y_not\n  output y_eq");
        g_run(&k);
    }
    end(&k);
}

Test(diff_ew, variadic, .timeout = 120)
{
    Case k;
    begin(&k, "variadic");
    for (int c = 0; c < 5; c++) {
        int n = c == 4 ? 1 : rnd(&k, 2, 4);
        int rk[4];
        int64_t dims[4][4], out[4];
        nary_shapes(&k, c, n, rk, dims, out);
        const char *idt = int_dts[rnd(&k, 0, 4)];
        g_begin(&k);
        TuStr fa = {0}, ia = {0};
        for (int i = 0; i < n; i++) {
            char nm[16];
            snprintf(nm, sizeof nm, "a%d", i);
            g_input(&k, nm, "f32", rk[i], dims[i], TU_DATA_SIGNED);
            tu_str_printf(&fa, "%s%s", i ? ", " : "", nm);
            snprintf(nm, sizeof nm, "b%d", i);
            g_input(&k, nm, idt, rk[i], dims[i], TU_DATA_WIDE);
            tu_str_printf(&ia, "%s%s", i ? ", " : "", nm);
        }
        static const char *const ops[] = {"max", "min", "sum", "mean"};
        for (int i = 0; i < 4; i++) {
            g_line(&k, "f_%s = %s(%s)", ops[i], ops[i], fa.s);
            g_line(&k, "output f_%s", ops[i]);
            if (i < 3) {
                g_line(&k, "i_%s = %s(%s)", ops[i], ops[i], ia.s);
                g_line(&k, "output i_%s", ops[i]);
            }
        }
        free(fa.s);
        free(ia.s);
        g_run(&k);
    }
    end(&k);
}

/* max/min with a NaN operand are NaN: equal(m, m) is false exactly there. */
Test(diff_ew, minmax_nan)
{
    Case k;
    begin(&k, "minmax_nan");
    int64_t d[1] = {4};
    g_begin(&k);
    g_input(&k, "x", "f32", 1, d, TU_DATA_SIGNED);
    g_line(&k, "const c : f32[4] = [nan, 1, nan, -1]");
    g_line(&k, "mx = max(x, c)");
    g_line(&k, "mn = min(c, x, x)");
    g_line(&k, "y_max = equal(mx, mx)");
    g_line(&k, "y_min = equal(mn, mn)");
    g_line(&k, "output y_max\n  output y_min");
    g_run(&k);
    end(&k);
}

Test(diff_ew, mod_pow_prelu, .timeout = 120)
{
    Case k;
    begin(&k, "mod_pow_prelu");
    for (int c = 0; c < 4; c++) {
        int rk[2];
        int64_t dims[2][4], out[4];
        int ro = nary_shapes(&k, c, 2, rk, dims, out);
        const char *idt = int_dts[rnd(&k, 0, 4)];
        g_begin(&k);
        g_input(&k, "a", "f32", rk[0], dims[0], TU_DATA_WIDE);
        g_input(&k, "b", "f32", rk[1], dims[1], TU_DATA_AWAY);
        g_input(&k, "ia", idt, rk[0], dims[0], TU_DATA_WIDE);
        g_input(&k, "ib", idt, rk[1], dims[1], TU_DATA_WIDE); /* zeros test the guard */
        g_input(&k, "p", "f32", rk[0], dims[0], TU_DATA_POSITIVE);
        g_input(&k, "ie", "i32", rk[1], dims[1], TU_DATA_SIGNED);
        g_input(&k, "ip", c % 2 ? "i64" : "i32", rk[0], dims[0], TU_DATA_POSITIVE);
        g_input(&k, "x", "f32", ro, out, TU_DATA_SIGNED);
        g_line(&k, "mod_f1 = mod(a, b, fmod = 1)");
        g_line(&k, "mod_f0 = mod(a, b)");
        g_line(&k, "mod_i0 = mod(ia, ib)");
        g_line(&k, "mod_i1 = mod(ia, ib, fmod = 1)");
        g_line(&k, "pow_ff = pow(p, b)");
        g_line(&k, "pow_fi = pow(a, ie)");
        g_line(&k, "pow_if = pow(ip, p)");
        g_line(&k, "output mod_f1\n  output mod_f0\n  output mod_i0\n  output mod_i1");
        g_line(&k, "output pow_ff\n  output pow_fi\n  output pow_if");
        g_line(&k, "pr = prelu(x, b)"); /* b broadcasts to x's (the full) shape */
        g_line(&k, "output pr");
        g_run(&k);
    }
    end(&k);
}

Test(diff_ew, where_cast, .timeout = 120)
{
    Case k;
    begin(&k, "where_cast");
    for (int c = 0; c < 4; c++) {
        int rk[3];
        int64_t dims[3][4], out[4];
        nary_shapes(&k, c, 3, rk, dims, out);
        const char *idt = int_dts[rnd(&k, 0, 4)];
        g_begin(&k);
        g_input(&k, "fc", "f32", rk[0], dims[0], TU_DATA_SIGNED);
        g_input(&k, "x", "f32", rk[1], dims[1], TU_DATA_WIDE);
        g_input(&k, "y", "f32", rk[2], dims[2], TU_DATA_WIDE);
        g_input(&k, "ix", idt, rk[1], dims[1], TU_DATA_WIDE);
        g_input(&k, "iy", "i64", rk[2], dims[2], TU_DATA_WIDE);
        g_input(&k, "px", "f32", rk[1], dims[1], TU_DATA_POSITIVE);
        g_line(&k, "const z : f32[] = [0]");
        g_line(&k, "cond = less(fc, z)");
        g_line(&k, "w_f = where(cond, x, y)");
        g_line(&k, "w_i = where(cond, ix, cast(iy, to = \"%s\"))", idt);
        g_line(&k, "c_fi = cast(x, to = \"i32\")");
        g_line(&k, "c_fi8 = cast(x, to = \"i8\")");
        g_line(&k, "c_fu8 = cast(px, to = \"u8\")");
        g_line(&k, "c_fb = cast(x, to = \"bool\")");
        g_line(&k, "c_if = cast(ix, to = \"f32\")");
        g_line(&k, "c_ib = cast(ix, to = \"bool\")");
        g_line(&k, "c_bi = cast(cond, to = \"i16\")");
        g_line(&k, "c_i8 = cast(iy, to = \"i8\")");
        g_line(&k, "output w_f\n  output w_i\n  output c_fi\n  output c_fi8\n  output c_fu8");
        g_line(&k, "output c_fb\n  output c_if\n  output c_ib\n  output c_bi\n  output c_i8");
        g_run(&k);
    }
    end(&k);
}

/* quantize_linear / dequantize_linear, per tensor and per axis (scale and
 * zero shaped [C, 1, ...] for a random axis), i8 and u8, and dequantizing
 * i32. WIDE data saturates some elements; SIGNED data hits the mid range. */
Test(diff_ew, quantize_dequantize, .timeout = 120)
{
    Case k;
    begin(&k, "qdq");
    for (int c = 0; c < 6; c++) {
        int64_t dims[4];
        int r = rand_shape(&k, c, dims);
        bool per_axis = r > 0 && c % 2 == 1;
        int axis = per_axis ? rnd(&k, 0, r - 1) : 0;
        int64_t sdims[4] = {per_axis ? dims[axis] : 1, 1, 1, 1};
        int srank = per_axis ? r - axis : 0;
        int64_t ns = per_axis ? dims[axis] : 1;
        const char *zdt = c % 3 == 0 ? "u8" : "i8";
        g_begin(&k);
        g_input(&k, "x", "f32", r, dims, c < 3 ? TU_DATA_WIDE : TU_DATA_SIGNED);
        tu_str_append(&k.text, "  const s : ");
        g_type(&k, "f32", srank, sdims);
        tu_str_append(&k.text, " = [");
        for (int64_t i = 0; i < ns; i++)
            tu_str_printf(&k.text, "%s%g", i ? ", " : "", 0.01 * rnd(&k, 1, 40));
        tu_str_append(&k.text, "]\n  const z : ");
        g_type(&k, zdt, srank, sdims);
        tu_str_append(&k.text, " = [");
        for (int64_t i = 0; i < ns; i++)
            tu_str_printf(&k.text, "%s%d", i ? ", " : "",
                          strcmp(zdt, "u8") == 0 ? rnd(&k, 0, 255) : rnd(&k, -128, 127));
        tu_str_append(&k.text, "]\n");
        g_line(&k, "q = quantize_linear(x, s, z)");
        g_line(&k, "dq = dequantize_linear(q, s, z)");
        g_line(&k, "qu = quantize_linear(x, s)");
        g_line(&k, "d32 = dequantize_linear(cast(q, to = \"i32\"), s)");
        g_line(&k, "output q\n  output dq\n  output qu\n  output d32");
        g_run(&k);
    }
    end(&k);
}

/* ------------------------------------------------------- fused chains */

/* The pipeline on the case's graph must fuse its chain into one kernel,
 * and the interpreter must run the fused graph to the same bits as the
 * unfused one (it runs the graph after the pipeline for `etch run`). */
static void check_fused(Case *k)
{
    Ctx *c = ctx_new();
    char *diag = NULL;
    size_t len = 0;
    c->err = open_memstream(&diag, &len);
    TuStr text = {0};
    tu_str_printf(&text, "%s}\n", k->text.s); /* g_run closes the graph later */
    Graph *before = fe_parse_string(c, "chain.etch", text.s);
    Graph *g = fe_parse_string(c, "chain.etch", text.s);
    Module m = {.graph = g};
    bool ok = before && g && pipeline_run(c, &m, NULL);
    fflush(c->err);
    if (!ok) {
        tu_str_printf(&k->report, "pipeline failed:\n%s\n%s", diag ? diag : "", text.s);
        k->nfail++;
    } else if (m.prog->nkernels != 1) {
        tu_str_printf(&k->report, "the chain is %d kernels, not one:\n%s", m.prog->nkernels,
                      text.s);
        k->nfail++;
    } else {
        Tensor *in = arena_alloc(c->arena, (size_t)(g->ninputs + 1) * sizeof *in);
        for (int i = 0; i < g->ninputs; i++) {
            in[i].type = ir_value(g, g->inputs[i])->type;
            in[i].data = arena_alloc(c->arena, type_bytes(&in[i].type) + 4);
            tu_fill(&k->rng, in[i].data, type_numel(&in[i].type), k->kinds[i]);
        }
        Tensor a, b;
        if (!interp_run(c, before, in, &a) || !interp_run(c, g, in, &b) ||
            memcmp(a.data, b.data, type_bytes(&a.type)) != 0) {
            tu_str_printf(&k->report, "the fused graph interprets differently:\n%s", text.s);
            k->nfail++;
        }
    }
    fclose(c->err);
    free(diag);
    free(text.s);
    ctx_free(c);
}

/* Random chains of 2 to 6 elementwise ops with one result: each op reads
 * the chain so far and, if binary, an input broadcast to the chain's shape
 * or an earlier value of the chain (a DAG whose intermediates are read
 * twice), so fuse-elementwise makes it one fused node; compared with the
 * interpreter through loop_eval and the emitted code. */
Test(diff_ew, fused_chains, .timeout = 240)
{
    static const char *const unary[] = {
        "relu(%s)", "neg(%s)", "abs(%s)", "tanh(%s)", "sigmoid(%s)", "gelu(%s)",
        "gelu(%s, approximate = \"tanh\")", "leaky_relu(%s, alpha = 0.1)",
        "clip(%s, min = -1, max = 1.5)", "exp(tanh(%s))", "sqrt(abs(%s))", "erf(%s)",
        "hard_swish(%s)", "softsign(%s)",
    };
    static const char *const binary[] = {"add", "sub", "mul", "div", "max", "min", "prelu"};
    const int nun = (int)(sizeof unary / sizeof unary[0]);
    const int nbin = (int)(sizeof binary / sizeof binary[0]);
    Case k;
    begin(&k, "fused_chains");
    for (int c = 0; c < 24; c++) {
        int64_t out[4];
        int ro = rnd(&k, 1, 4);
        for (int i = 0; i < ro; i++)
            out[i] = rnd(&k, 1, 5);
        g_begin(&k);
        g_input(&k, "x", "f32", ro, out, TU_DATA_SIGNED);
        int nops = rnd(&k, 2, 6);
        for (int j = 0; j < nops; j++) {
            char cur[16], prev[16];
            snprintf(cur, sizeof cur, j ? "v%d" : "x", j - 1);
            snprintf(prev, sizeof prev, j > 1 ? "v%d" : "x", rnd(&k, 0, j - 2 < 0 ? 0 : j - 2));
            if (rnd(&k, 0, 1) == 0) {
                char expr[128];
                snprintf(expr, sizeof expr, unary[rnd(&k, 0, nun - 1)], cur);
                g_line(&k, "v%d = %s", j, expr);
                continue;
            }
            const char *op = binary[rnd(&k, 0, nbin - 1)];
            int pick = rnd(&k, 0, 3);
            if (pick == 0 && strcmp(op, "div") != 0) {
                /* an earlier value of the chain: read twice inside it */
                g_line(&k, "v%d = %s(%s, %s)", j, op, cur, prev);
            } else {
                char y[16];
                int64_t dims[4];
                snprintf(y, sizeof y, "y%d", j);
                int r = strcmp(op, "prelu") == 0 ? bcast_from(&k, ro, out, dims, false)
                                                  : bcast_from(&k, ro, out, dims, pick == 1);
                g_input(&k, y, "f32", r, dims,
                        strcmp(op, "div") == 0 ? TU_DATA_AWAY : TU_DATA_SIGNED);
                bool swap = strcmp(op, "prelu") != 0 && strcmp(op, "div") != 0 && pick == 3;
                g_line(&k, "v%d = %s(%s, %s)", j, op, swap ? y : cur, swap ? cur : y);
            }
        }
        g_line(&k, "output v%d", nops - 1);
        check_fused(&k);
        g_run(&k);
    }
    end(&k);
}
