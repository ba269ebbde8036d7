/* test_mcu.c: Cortex-M targets, end to end under QEMU (suite mcu).
 *
 * - The target table: cortex-m4/cortex-m0 rows carry the triple, CPU, FPU
 *   and flags the backends use; unknown names are refused.
 * - `etch run --target cortex-m4|cortex-m0` on the examples and on the
 *   MLPerf Tiny float models: the QEMU outputs match a host reference to
 *   1e-4 of the output's scale (built by the C backend, one case by the
 *   LLVM backend; reference for the examples: the host C backend; MLPerf: the
 *   reference interpreter, the oracle, which is also far quicker than
 *   compiling the models' weights for the host a second time), and the
 *   --stats report is self-consistent (instructions at least one per MAC,
 *   the model's flash inside the program's, RAM holding the arena).
 * - Generated model code for MCU targets, cross-compiled, leaves no
 *   malloc/stdio/double-math symbol undefined (arm-none-eabi-nm -u).
 * - A missing toolchain is an error naming the Debian packages.
 * Inputs of the MLPerf models are fresh seeded random data (seed printed
 * on failure; ETCH_SEED reproduces it). The arm toolchain and QEMU are
 * required, not optional: scripts/install-deps.sh installs them.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codegen/codegen.h"
#include "frontend/frontend.h"
#include "testutil.h"

#define MODELS_DIR ETCH_SOURCE_DIR "/tests/models/mlperf-tiny"
#define EXAMPLES_DIR ETCH_SOURCE_DIR "/examples"
#define MCU_PACKAGES "gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm"

/* ------------------------------------------------------------ helpers */

/* The integer after "key: " on its own line of `text`, or -1. */
static long long stat_of(const char *text, const char *key)
{
    size_t n = strlen(key);
    for (const char *s = strstr(text, key); s; s = strstr(s + 1, key))
        if ((s == text || s[-1] == '\n') && s[n] == ':')
            return strtoll(s + n + 1, NULL, 10);
    return -1;
}

/* Output `name` of a run written under dir, as floats in c's arena; NULL
 * on failure. */
static float *read_output(Ctx *c, const char *dir, const char *name, int64_t *n)
{
    TuStr file = {0};
    tu_str_printf(&file, "%s/%s.npy", dir, name);
    Type t;
    void *data = NULL;
    bool ok = fe_read_npy(c, file.s, (Loc){file.s, 0, 0}, &t, &data);
    free(file.s);
    *n = ok ? type_numel(&t) : 0;
    if (!ok || t.dtype == DT_F32)
        return ok ? data : NULL;
    /* Integer outputs (int8 models) as floats: compared exactly all the same. */
    float *f = arena_alloc(c->arena, (size_t)(*n ? *n : 1) * sizeof *f);
    Tensor tt = {t, data};
    for (int64_t i = 0; i < *n; i++)
        f[i] = tensor_getf(&tt, i);
    return f;
}

typedef struct {
    const char *model;          /* path */
    const char *input;          /* .npy path, or NULL: random, written under tmp */
    const char *target;         /* cortex-m4 or cortex-m0 */
    const char *reference;      /* host backend: c or interp */
    const char *backend;        /* the MCU build's backend: NULL (c) or llvm */
} McuCase;

/* Runs one case; appends failures to report. */
static bool run_case(const McuCase *k, TuStr *report)
{
    bool ok = false;
    Ctx *c = ctx_new();
    char *tmp = tu_mkdtemp("mcu");
    char *mcu_dir = tu_path(tmp, "mcu"), *ref_dir = tu_path(tmp, "ref");
    char *out = NULL, *err = NULL, *rout = NULL, *rerr = NULL;
    TuStr cmd = {0}, rcmd = {0};
    uint64_t seed = tu_seed();
    Graph *g = fe_load_model(c, k->model, NULL);
    if (!g || g->ninputs != 1 || g->noutputs < 1) {
        tu_str_printf(report, "%s: does not load as one input and some outputs\n", k->model);
        goto done;
    }
    const char *input = k->input;
    char *rand_path = tu_path(tmp, "input.npy");
    if (!input) {
        const Type *t = &g->values[g->inputs[0]].type;
        int64_t n = type_numel(t);
        float *x = malloc(sizeof *x * (size_t)n);
        Tensor tt = {*t, calloc(1, type_bytes(t) + 1)};
        TuRng r;
        tu_rng_init(&r, seed);
        tu_fill(&r, x, n, t->dtype == DT_I8 ? TU_DATA_INT8 : TU_DATA_SIGNED);
        for (int64_t i = 0; i < n; i++)
            tensor_setf(&tt, i, x[i]);
        bool w = fe_write_npy(rand_path, t, tt.data);
        free(tt.data);
        free(x);
        if (!w) {
            tu_str_printf(report, "cannot write %s\n", rand_path);
            goto done;
        }
        input = rand_path;
    }
    tu_str_printf(&cmd, "'%s' run '%s' --target %s --backend %s --input '%s' --output-dir '%s' "
                        "--stats", ETCH_EXE, k->model, k->target, k->backend ? k->backend : "c",
                  input, mcu_dir);
    tu_str_printf(&rcmd, "'%s' run '%s' --backend %s --input '%s' --output-dir '%s'", ETCH_EXE,
                  k->model, k->reference, input, ref_dir);
    int st = tu_run(NULL, cmd.s, &out, &err), rst = tu_run(NULL, rcmd.s, &rout, &rerr);
    if (st != 0 || rst != 0) {
        tu_str_printf(report, "`%s` exited %d:\n%s%s\n`%s` exited %d:\n%s%s\n", cmd.s, st, out,
                      err, rcmd.s, rst, rout, rerr);
        goto done;
    }
    ok = true;
    for (int j = 0; j < g->noutputs; j++) {
        const char *name = g->values[g->outputs[j]].name;
        int64_t n, rn;
        float *got = read_output(c, mcu_dir, name, &n), *ref = read_output(c, ref_dir, name, &rn);
        double e;
        int64_t at;
        if (!got || !ref || n != rn) {
            tu_str_printf(report, "%s: output '%s' missing or of the wrong size\n", k->model, name);
            ok = false;
        } else if (tu_max_abs(ref, n) == 0.0) {
            tu_str_printf(report, "%s: output '%s' is all zero: the test cannot fail\n", k->model,
                          name);
            ok = false;
        } else if (!tu_close(got, ref, n, 1e-4, &e, &at)) {
            tu_str_printf(report, "%s on %s: output '%s' max abs err %.3g at %lld (%s %.9g, %s %.9g)\n",
                          k->model, k->target, name, e, (long long)at, k->reference,
                          (double)ref[at], k->target, (double)got[at]);
            ok = false;
        }
    }
    /* The --stats report must hang together. */
    long long instr = stat_of(out, "instructions"), macs = stat_of(out, "macs");
    long long flash = stat_of(out, "flash_bytes"), mflash = stat_of(out, "model_flash_bytes");
    long long ram = stat_of(out, "ram_bytes"), stack = stat_of(out, "stack_bytes");
    long long arena = stat_of(out, "arena_bytes"), lb = stat_of(out, "arena_lower_bound");
    if (!(macs > 0 && instr >= macs && mflash > 0 && flash > mflash && stack > 0 &&
          arena >= lb && lb >= 0 && ram >= arena + stack)) {
        tu_str_printf(report, "%s on %s: inconsistent --stats:\n%s\n", k->model, k->target, out);
        ok = false;
    }
done:
    if (!ok)
        tu_str_printf(report, "(seed %llu; rerun with ETCH_SEED=%llu)\n", (unsigned long long)seed,
                      (unsigned long long)seed);
    free(cmd.s);
    free(rcmd.s);
    free(out);
    free(err);
    free(rout);
    free(rerr);
    free(mcu_dir);
    free(ref_dir);
    tu_rmtree(tmp);
    free(tmp);
    ctx_free(c);
    return ok;
}

static void check_case(McuCase k)
{
    TuStr report = {0};
    bool ok = run_case(&k, &report);
    cr_assert(ok, "%s", report.s ? report.s : "");
    free(report.s);
}

/* ------------------------------------------------------------ targets */

Test(mcu, targets_are_data)
{
    const Target *m4 = target_find("cortex-m4"), *m0 = target_find("cortex-m0");
    cr_assert(m4 && m0 && target_find("host") && target_find("generic"));
    cr_assert_eq(target_find(NULL), target_find("host"), "no --target means host");
    cr_assert_null(target_find("cortex-m7x"));
    cr_assert_str_eq(m4->triple, "thumbv7em-none-eabihf");
    cr_assert_str_eq(m0->triple, "thumbv6m-none-eabi");
    cr_assert(m4->has_fpu && !m0->has_fpu && m4->bare_metal && m0->bare_metal);
    cr_assert(strstr(m4->cflags, "-mfpu=fpv4-sp-d16") && strstr(m4->cflags, "-mfloat-abi=hard"));
    cr_assert(strstr(m0->cflags, "-mfloat-abi=soft") && !strstr(m0->features, "vfp"));
    cr_assert_eq(m4->pointer_bytes, 4);
    cr_assert(strstr(target_names(), "cortex-m0"));
}

/* A bare-metal build reserves room for the I/O in the workspace and says
 * where (the app keeps no buffers of its own); a host build does not. */
Test(mcu, io_offsets_in_the_header)
{
    for (int bare = 0; bare < 2; bare++) {
        char *dir = tu_mkdtemp("mcu-hdr");
        TuStr cmd = {0};
        tu_str_printf(&cmd, "'%s' compile '%s/digits_mlp/digits_mlp.etch' --target %s -o '%s'",
                      ETCH_EXE, EXAMPLES_DIR, bare ? "cortex-m4" : "host", dir);
        char *out, *err;
        int st = tu_run(NULL, cmd.s, &out, &err);
        cr_assert_eq(st, 0, "%s", err);
        char *h = tu_path(dir, "digits_mlp.h");
        char *text = tu_read_file(h, NULL);
        cr_assert(text);
        bool has = strstr(text, "#define digits_mlp_INPUT0_OFFSET ") &&
                   strstr(text, "#define digits_mlp_OUTPUT0_OFFSET ");
        cr_expect_eq(has, bare, "%s", text);
        if (bare) {
            char *app = tu_path(dir, "model_app.c");
            char *atext = tu_read_file(app, NULL);
            cr_assert(atext);
            cr_expect(strstr(atext, "workspace + digits_mlp_INPUT0_OFFSET"), "%s", atext);
            free(atext);
            free(app);
        }
        free(text);
        free(h);
        free(out);
        free(err);
        free(cmd.s);
        tu_rmtree(dir);
        free(dir);
    }
}

Test(mcu, unknown_target_is_usage_error)
{
    TuStr cmd = {0};
    tu_str_printf(&cmd, "'%s' compile '%s/digits_mlp/digits_mlp.etch' --target bogus -o /dev/null",
                  ETCH_EXE, EXAMPLES_DIR);
    char *out, *err;
    int st = tu_run(NULL, cmd.s, &out, &err);
    cr_assert_eq(st, 2, "exit %d:\n%s", st, err);
    cr_assert(strstr(err, "unknown target 'bogus'") && strstr(err, "cortex-m4"), "%s", err);
    free(out);
    free(err);
    free(cmd.s);
}

Test(mcu, missing_toolchain_names_packages)
{
    char *tmp = tu_mkdtemp("mcu-path");
    TuStr cmd = {0};
    /* An empty PATH: neither the cross compiler nor QEMU can be found. */
    tu_str_printf(&cmd, "PATH='%s' '%s' run '%s/digits_mlp/digits_mlp.etch' --target cortex-m4 "
                        "--input '%s/digits_mlp/inputs/digit_1.npy' --output-dir '%s'",
                  tmp, ETCH_EXE, EXAMPLES_DIR, EXAMPLES_DIR, tmp);
    char *out, *err;
    int st = tu_run(NULL, cmd.s, &out, &err);
    cr_assert_eq(st, 1, "exit %d:\n%s", st, err);
    cr_assert(strstr(err, MCU_PACKAGES) && strstr(err, "arm-none-eabi-gcc"), "%s", err);
    free(out);
    free(err);
    free(cmd.s);
    tu_rmtree(tmp);
    free(tmp);
}

/* ---------------------------------------------- no libc in model code */

/* Single-precision math and soft-float helpers: what an int8 model must
 * not need at all (cortex-m0 has no FPU). */
static bool float_symbol(const char *s)
{
    static const char *const math[] = {"expf", "logf", "sqrtf", "powf", "tanhf", "erff", "floorf",
                                       "ceilf", "roundf", "rintf", "fmodf", "fabsf", "nearbyintf"};
    for (size_t i = 0; i < sizeof math / sizeof math[0]; i++)
        if (strcmp(s, math[i]) == 0)
            return true;
    if (strncmp(s, "__aeabi_", 8) != 0)
        return false;
    const char *op = s + 8;
    size_t n = strlen(op);
    return op[0] == 'f' || (n >= 2 && strcmp(op + n - 2, "2f") == 0) || strstr(op, "f2") != NULL;
}

/* Undefined symbols generated model code must not have on an MCU: heap,
 * stdio, and double-precision math or soft-double helpers. */
static bool forbidden_symbol(const char *s)
{
    static const char *const exact[] = {
        "malloc", "calloc", "realloc", "free", "printf", "fprintf", "sprintf", "snprintf",
        "puts", "putchar", "fopen", "fwrite", "fread", "abort", "exit",
        "exp", "log", "sqrt", "pow", "tanh", "sin", "cos", "fabs", "floor", "ceil", "round",
        "erf", "fmod", "atan", "tan", "fmin", "fmax", "lround", "rint", "nearbyint", "exp2",
        "log2", "cbrt", "trunc", "asin", "acos", "sinh", "cosh", "asinh", "acosh", "atanh",
    };
    for (size_t i = 0; i < sizeof exact / sizeof exact[0]; i++)
        if (strcmp(s, exact[i]) == 0)
            return true;
    /* __aeabi_dadd, __aeabi_dcmplt, __aeabi_f2d, __aeabi_i2d, ... */
    if (strncmp(s, "__aeabi_", 8) == 0) {
        const char *op = s + 8;
        size_t n = strlen(op);
        return op[0] == 'd' || (n >= 2 && strcmp(op + n - 2, "2d") == 0);
    }
    return false;
}

/* int8: no float symbol either, and the object may need none at all. */
static void check_undefined_symbols_of(const char *model, const char *target, bool int8)
{
    const Target *t = target_find(target);
    char *tmp = tu_mkdtemp("mcu-nm");
    TuStr cmd = {0}, report = {0};
    char *out, *err;
    tu_str_printf(&cmd, "'%s' compile '%s' --target %s --name m -o '%s' && %s %s -c m.c -o m.o && "
                        "%snm -u m.o", ETCH_EXE, model, target, tmp, t->cc, t->cflags,
                  t->objdump_prefix);
    /* The compile step writes into tmp; the compiler runs there too. */
    int st = tu_run(tmp, cmd.s, &out, &err);
    cr_assert_eq(st, 0, "`%s` exited %d:\n%s%s", cmd.s, st, out, err);
    int nsyms = 0;
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
        char sym[256];
        if (sscanf(line, " U %255s", sym) != 1)
            continue;
        nsyms++;
        if (forbidden_symbol(sym) || (int8 && float_symbol(sym)))
            tu_str_printf(&report, "%s for %s: the model object needs '%s'\n", model, target, sym);
    }
    /* A float model with softmax needs expf: no undefined symbols at all
     * would mean nm printed nothing useful. */
    cr_assert(int8 || nsyms > 0, "nm -u printed no symbols for %s:\n%s", model, err);
    cr_assert(!report.s, "%s", report.s);
    free(out);
    free(err);
    free(cmd.s);
    tu_rmtree(tmp);
    free(tmp);
}

static void check_undefined_symbols(const char *model, const char *target)
{
    check_undefined_symbols_of(model, target, false);
}

Test(mcu, model_code_has_no_libc_m4)
{
    check_undefined_symbols(EXAMPLES_DIR "/digits_cnn/digits_cnn.etch", "cortex-m4");
    check_undefined_symbols(MODELS_DIR "/kws_ref_model_float32.onnx", "cortex-m4");
}

Test(mcu, model_code_has_no_libc_m0)
{
    check_undefined_symbols(EXAMPLES_DIR "/digits_cnn/digits_cnn.etch", "cortex-m0");
    check_undefined_symbols(MODELS_DIR "/ad01_fp32.onnx", "cortex-m0");
}

/* The pre-quantized models run int8 throughout (fold-qdq): on cortex-m0
 * their code needs no float at all, and the MCU run matches the host's
 * integer reference exactly. */
Test(mcu, int8_models_have_no_float_m0)
{
    check_undefined_symbols_of(MODELS_DIR "/kws_ref_model.onnx", "cortex-m0", true);
    check_undefined_symbols_of(MODELS_DIR "/ad01_int8.onnx", "cortex-m0", true);
}

/* A QDQ graph of the int8 kernels beyond conv and gemm (qmax_pool, qmul,
 * qconcat, qlut from sigmoid and from hard_swish written out, a global
 * qmax_pool): no float on cortex-m0, and the QEMU run matches the host's
 * integer reference exactly. */
static const char *const INT8_OPS =
    "graph q8ops {\n"
    "  input x : i8[1, 2, 6, 6]\n"
    "  const sx : f32[] = [0.05]\n  const zx : i8[] = [-3]\n"
    "  const w : i8[4, 2, 1, 1] = [10, -20, 30, 40, -50, 60, 70, -80]\n  const sw : f32[] = [0.01]\n"
    "  const sy : f32[] = [0.02]\n  const zy : i8[] = [-10]\n"
    "  const s2 : f32[] = [0.01]\n  const z2 : i8[] = [5]\n"
    "  const three : f32[] = [3]\n  const six : f32[] = [6]\n"
    "  c = quantize_linear(conv(dequantize_linear(x, sx, zx), dequantize_linear(w, sw)), sy, zy)\n"
    "  m = quantize_linear(max_pool(dequantize_linear(c, sy, zy), kernel_shape = [2, 2], strides = [2, 2]), sy, zy)\n"
    "  mf = dequantize_linear(m, sy, zy)\n"
    "  h = quantize_linear(div(mul(mf, clip(add(mf, three), min = 0, max = 6)), six), s2, z2)\n"
    "  s = quantize_linear(sigmoid(mf), s2, z2)\n"
    "  p = quantize_linear(mul(dequantize_linear(h, s2, z2), dequantize_linear(s, s2, z2)), sy, zy)\n"
    "  k = quantize_linear(concat(mf, dequantize_linear(p, sy, zy), dequantize_linear(h, s2, z2), axis = 1), s2, z2)\n"
    "  g = quantize_linear(global_max_pool(dequantize_linear(k, s2, z2)), sy, zy)\n"
    "  output k, g\n"
    "}\n";

Test(mcu, int8_ops_m0, .timeout = 300)
{
    char *tmp = tu_mkdtemp("mcu-q8");
    char *path = tu_path(tmp, "q8ops.etch");
    cr_assert(tu_write_file(path, INT8_OPS, strlen(INT8_OPS)));
    check_undefined_symbols_of(path, "cortex-m0", true);
    check_case((McuCase){path, NULL, "cortex-m0", "interp", NULL});
    tu_rmtree(tmp);
    free(path);
    free(tmp);
}

/* qadd and qmul in their QFast forms over 39 elements: on Cortex-M4 four
 * pairs of qfast4 groups, a lone group and a tail of three; qmul with
 * M = 1/11 (the USAT16 packing) and M = 1.2 (k = 2, SSAT, saturating), qadd
 * plain and with a fused relu (qmin = -20); a qmul of a row for every row
 * (broadcast runs of 13); a value per row as either operand (qfast4's one
 * code b, swapped in when it is a; the three rows of 13 one stretch, its
 * groups across the ends of rows): qadd plain (bc) and with a relu (ba),
 * qmul with M = 0.05 (bn, USAT16) and M = 1.17 (bs, k = 2); each its own
 * constant (fold-qdq leaves a constant read by two dequantizes in float).
 * Cortex-M0 takes the scalar form. The QEMU runs match the host's integer reference
 * exactly. */
static const char *const QFAST_OPS =
    "graph qfast {\n"
    "  input x : i8[1, 1, 3, 13]\n"
    "  const sx : f32[] = [0.05]\n  const zx : i8[] = [-3]\n"
    "  const w : i8[1, 1, 1, 1] = [-90]\n  const w2 : i8[1, 1, 1, 1] = [70]\n  const sw : f32[] = [0.01]\n"
    "  const sc : f32[] = [0.02]\n  const zc : i8[] = [7]\n"
    "  const sd : f32[] = [0.03]\n  const zd : i8[] = [-9]\n"
    "  const ss : f32[] = [0.06]\n  const zs : i8[] = [-5]\n"
    "  const sr : f32[] = [0.04]\n  const zr : i8[] = [-20]\n"
    "  const sm : f32[] = [0.011]\n  const zm : i8[] = [4]\n"
    "  const sm2 : f32[] = [0.0005]\n  const zm2 : i8[] = [0]\n"
    "  const k : i8[1, 1, 3, 1] = [-100, 5, 120]\n  const sk : f32[] = [0.07]\n  const zk : i8[] = [2]\n"
    "  const sq : f32[] = [0.003]\n"
    "  const k2 : i8[1, 1, 3, 1] = [90, -128, 17]\n  const k3 : i8[1, 1, 3, 1] = [-60, 33, 127]\n"
    "  const k4 : i8[1, 1, 3, 1] = [-7, 25, -110]\n"
    "  const kr : i8[1, 1, 1, 13] = [-128, -90, -41, -7, 0, 3, 19, 44, 65, 88, 101, 120, 127]\n"
    "  xf = dequantize_linear(x, sx, zx)\n"
    "  c = quantize_linear(conv(xf, dequantize_linear(w, sw)), sc, zc)\n"
    "  d = quantize_linear(conv(xf, dequantize_linear(w2, sw)), sd, zd)\n"
    "  s = quantize_linear(add(xf, dequantize_linear(c, sc, zc)), ss, zs)\n"
    "  r = quantize_linear(relu(add(xf, dequantize_linear(d, sd, zd))), sr, zr)\n"
    "  m = quantize_linear(mul(xf, dequantize_linear(c, sc, zc)), sm, zm)\n"
    "  m2 = quantize_linear(mul(dequantize_linear(d, sd, zd), dequantize_linear(c, sc, zc)), sm2, zm2)\n"
    "  bc = quantize_linear(add(xf, dequantize_linear(k, sk, zk)), ss, zs)\n"
    "  bm = quantize_linear(mul(dequantize_linear(kr, sk, zk), xf), sm, zm)\n"
    "  ba = quantize_linear(relu(add(dequantize_linear(k2, sk, zk), xf)), sr, zr)\n"
    "  bn = quantize_linear(mul(dequantize_linear(k3, sm, zk), xf), sm, zm)\n"
    "  bs = quantize_linear(mul(xf, dequantize_linear(k4, sk, zm2)), sq, zm2)\n"
    "  output s, r, m, m2, bc, bm, ba, bn, bs\n"
    "}\n";

/* Runs of other lengths: x, one code a row of 30, against a constant
 * [1, 30, R] (the consecutive operand) as either operand. Rows of R = 2, 3,
 * 4, 5 and 7 are one stretch on Cortex-M4 (groups of four across the ends
 * of rows, each lane with its row's code: every split lane 1..3 occurs; the
 * stretch's last 30 R % 4 elements one by one): qadd plain, swapped and
 * with a relu; qmul with M < 1/2 (USAT16) and above (k = 1, SSAT), swapped,
 * and with a clamp (relu). Rows of 17, 23 and 37 are a stretch too, the
 * groups inside a row of 23 a loop of two a step, of 37 four a step; rows
 * of 20 (a multiple of 4, no group across a row's end) go row by row. The
 * codes of rows over 16 come from a 1-D qconv of x. */
static char *qfast_runs_graph(void)
{
    static const struct { const char *name, *op; int run; bool swap, relu; const char *sk, *sy; } ops[] = {
        {"a2", "add", 2, false, false, "0.05", "0.1"},  {"r3", "add", 3, true, true, "0.04", "0.08"},
        {"a5", "add", 5, true, false, "0.02", "0.06"},  {"a7", "add", 7, false, true, "0.05", "0.1"},
        {"m2", "mul", 2, false, false, "0.03", "0.05"}, {"m3", "mul", 3, true, false, "0.05", "0.002"},
        {"m5", "mul", 5, false, true, "0.04", "0.01"},  {"m7", "mul", 7, true, false, "0.02", "0.04"},
        {"m4", "mul", 4, false, false, "0.05", "0.03"}, {"a20", "add", 20, false, false, "0.03", "0.07"},
        {"m17", "mul", 17, true, true, "0.05", "0.004"}, {"m23", "mul", 23, false, false, "0.04", "0.02"},
        {"a37", "add", 37, true, true, "0.02", "0.05"},
    };
    TuStr t = {0};
    tu_str_append(&t, "graph qruns {\n  input x : i8[1, 30, 1]\n  const sx : f32[] = [0.05]\n"
                      "  const zx : i8[] = [-3]\n  const zk : i8[] = [6]\n  const zy : i8[] = [-9]\n"
                      "  const sw : f32[] = [0.01]\n  const sc : f32[] = [0.04]\n  const kw : i8[30, 30, 1] = [");
    for (int e = 0; e < 900; e++)
        tu_str_printf(&t, "%s%d", e ? ", " : "", (e * 41 + 7) % 255 - 127);
    /* a qconv's codes (the --stats check wants MACs) as the one-value
     * operand of the last two */
    tu_str_append(&t, "]\n  xf = dequantize_linear(x, sx, zx)\n"
                      "  cf = dequantize_linear(quantize_linear(conv(xf, dequantize_linear(kw, sw)), sc, zy), sc, zy)\n");
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        int n = 30 * ops[i].run;
        tu_str_printf(&t, "  const k%s : i8[1, 30, %d] = [", ops[i].name, ops[i].run);
        for (int e = 0; e < n; e++)
            tu_str_printf(&t, "%s%d", e ? ", " : "", (e * 73 + (int)i * 29 + 11) % 256 - 128);
        tu_str_printf(&t, "]\n  const s%s : f32[] = [%s]\n  const y%s : f32[] = [%s]\n", ops[i].name, ops[i].sk,
                      ops[i].name, ops[i].sy);
        TuStr k = {0}, e = {0};
        tu_str_printf(&k, "dequantize_linear(k%s, s%s, zk)", ops[i].name, ops[i].name);
        const char *x = ops[i].run > 16 ? "cf" : "xf";
        tu_str_printf(&e, "%s(%s, %s)", ops[i].op, ops[i].swap ? x : k.s, ops[i].swap ? k.s : x);
        tu_str_printf(&t, "  %s = quantize_linear(%s%s%s, y%s, zy)\n", ops[i].name, ops[i].relu ? "relu(" : "", e.s,
                      ops[i].relu ? ")" : "", ops[i].name);
        free(k.s);
        free(e.s);
    }
    tu_str_append(&t, "  output ");
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        tu_str_printf(&t, "%s%s", i ? ", " : "", ops[i].name);
    tu_str_append(&t, "\n}\n");
    return t.s;
}

static void check_qfast(const char *text, const char *target, const char *backend)
{
    char *tmp = tu_mkdtemp("mcu-qfast");
    char *path = tu_path(tmp, "qfast.etch");
    cr_assert(tu_write_file(path, text, strlen(text)));
    check_case((McuCase){path, NULL, target, "interp", backend});
    tu_rmtree(tmp);
    free(path);
    free(tmp);
}

static void check_qfast_runs(const char *target, const char *backend)
{
    char *text = qfast_runs_graph();
    check_qfast(text, target, backend);
    free(text);
}

Test(mcu, qfast_m4, .timeout = 300) { check_qfast(QFAST_OPS, "cortex-m4", NULL); }
/* The LLVM backend's qfast4: llvm.arm intrinsics and SMMLAR as inline assembly. */
Test(mcu, qfast_m4_llvm, .timeout = 300) { check_qfast(QFAST_OPS, "cortex-m4", "llvm"); }
Test(mcu, qfast_m0, .timeout = 300) { check_qfast(QFAST_OPS, "cortex-m0", NULL); }
Test(mcu, qfast_runs_m4, .timeout = 300) { check_qfast_runs("cortex-m4", NULL); }
Test(mcu, qfast_runs_m4_llvm, .timeout = 300) { check_qfast_runs("cortex-m4", "llvm"); }

Test(mcu, kws_int8_m0, .timeout = 300)
{
    check_case((McuCase){MODELS_DIR "/kws_ref_model.onnx", NULL, "cortex-m0", "interp", NULL});
}

Test(mcu, ad01_int8_m4, .timeout = 300)
{
    check_case((McuCase){MODELS_DIR "/ad01_int8.onnx", NULL, "cortex-m4", "c", NULL});
}

/* The LLVM backend's dot4 is the llvm.arm SMLAD form on Cortex-M4. */
Test(mcu, ad01_int8_m4_llvm, .timeout = 300)
{
    check_case((McuCase){MODELS_DIR "/ad01_int8.onnx", NULL, "cortex-m4", "c", "llvm"});
}

/* ------------------------------------------------- runs under QEMU */

Test(mcu, digits_mlp_m4)
{
    check_case((McuCase){EXAMPLES_DIR "/digits_mlp/digits_mlp.etch",
                         EXAMPLES_DIR "/digits_mlp/inputs/digit_2.npy", "cortex-m4", "c", NULL});
}

Test(mcu, digits_cnn_m4)
{
    check_case((McuCase){EXAMPLES_DIR "/digits_cnn/digits_cnn.etch",
                         EXAMPLES_DIR "/digits_cnn/inputs/digit_3.npy", "cortex-m4", "c", NULL});
}

Test(mcu, digits_cnn_m4_llvm)
{
    check_case((McuCase){EXAMPLES_DIR "/digits_cnn/digits_cnn.etch",
                         EXAMPLES_DIR "/digits_cnn/inputs/digit_0.npy", "cortex-m4", "c", "llvm"});
}

Test(mcu, digits_cnn_m0_soft_float)
{
    check_case((McuCase){EXAMPLES_DIR "/digits_cnn/digits_cnn.etch",
                         EXAMPLES_DIR "/digits_cnn/inputs/digit_1.npy", "cortex-m0", "c", NULL});
}

Test(mcu, mlperf_ad01_m4, .timeout = 300)
{
    check_case((McuCase){MODELS_DIR "/ad01_fp32.onnx", NULL, "cortex-m4", "interp", NULL});
}

Test(mcu, mlperf_kws_m4, .timeout = 300)
{
    check_case((McuCase){MODELS_DIR "/kws_ref_model_float32.onnx", NULL, "cortex-m4", "interp", NULL});
}

Test(mcu, mlperf_ic_m4, .timeout = 300)
{
    check_case((McuCase){MODELS_DIR "/ic.onnx", NULL, "cortex-m4", "interp", NULL});
}

Test(mcu, mlperf_vww_m4, .timeout = 300)
{
    check_case((McuCase){MODELS_DIR "/vww_96_float.onnx", NULL, "cortex-m4", "interp", NULL});
}
