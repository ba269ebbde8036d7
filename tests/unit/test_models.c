/* test_models.c: real models, etch's compiled C against ONNX Runtime.
 *
 * For each model: load it (with its --shape, if any) to learn the inputs,
 * write fresh seeded random inputs as .npy (never all zero; each input in
 * its own dtype), run `etch run MODEL --backend c` and `etch run --backend
 * interp`, run ONNX Runtime through tests/onnx/ort_run.js (node +
 * onnxruntime-node from bench/node_modules, one thread), and compare every
 * output: float outputs must agree within REL of the output scale, that is
 * max|a - b| <= REL * max(1, max|ort|); integer outputs exactly. A
 * QDQ-quantized model (`qdq`) runs as etch's int8 kernels (fold-qdq) and is
 * compared with ORT's evaluation of the graph as written (graph
 * optimizations off): integer outputs within 1 LSB on >= 99% of the
 * elements (the kernels round in fixed point, ORT in float: they may part
 * at exact ties). With --disable-pass fold-qdq, etch runs the QDQ float
 * graph itself; on the QOperator models (`qop`, onnxruntime's com.microsoft
 * ops, which ORT runs with its own integer kernels rather than as their QDQ
 * meaning) it is held to the same 1 LSB on >= 99%. On the deep QDQ models it
 * is reported only: it matches ORT exactly on most inputs, but a sum within
 * an f32 rounding of a .5 tie quantizes either way by accumulation order,
 * and the flip carries through the later layers (ad01_int8, one input of
 * many: up to 2 LSB on 273 of 640 outputs, while etch's int8 kernels
 * matched ORT exactly on it). --rounding tflite (TFLite
 * Micro's double rounding) is reported: it rounds differently from ORT by
 * design, and the differences can add up over layers. ORT's optimized run is
 * reported only: its graph transforms change the model's numerics (on
 * kws_ref_model its intermediates part from its own unoptimized run by
 * tens of LSB), so it is no reference. The C
 * backend is also held to the interpreter, exactly, so the test still
 * checks something when ONNX Runtime is missing; that case is reported
 * loudly on stderr and in the table row, never passed silently.
 *
 * The LLVM backend runs too and must agree with the C backend within
 * LLVM_REL of the output scale (the table's "LLVM vs C" column).
 * Each test prints one row of the comparison table on stdout;
 * tests/onnx/compare.sh runs the suite in order and prints the table.
 * The suite also checks --shape (parsing, errors, the resulting shapes).
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frontend/frontend.h"
#include "passes/passes.h"
#include "testutil.h"

#define REL 1e-4
#define LLVM_REL 1e-5 /* the two backends agree more tightly than with ORT */
#define ORT_RUN ETCH_SOURCE_DIR "/tests/onnx/ort_run.js"
#define ORT_PACKAGE ETCH_SOURCE_DIR "/bench/node_modules/onnxruntime-node/package.json"

typedef struct {
    const char *name;    /* table row */
    const char *path;    /* under ETCH_SOURCE_DIR */
    const char *shape;   /* a --shape argument, or NULL */
    bool qdq;            /* compare with ORT's unoptimized run (see above) */
    bool qop;            /* QOperator ops (com.microsoft): ORT runs its own
                            integer kernels, so the QDQ float graph too is
                            held to 1 LSB on >= 99%, not to exactness */
} ModelCase;

static const ModelCase models[] = {
    {"ad01_fp32", "tests/models/mlperf-tiny/ad01_fp32.onnx", NULL, 0, false},
    {"kws_ref_model_float32", "tests/models/mlperf-tiny/kws_ref_model_float32.onnx", NULL, 0, false},
    {"ic", "tests/models/mlperf-tiny/ic.onnx", NULL, 0, false},
    {"vww_96_float", "tests/models/mlperf-tiny/vww_96_float.onnx", NULL, 0, false},
    {"transformer_encoder", "tests/onnx/models/transformer_encoder.onnx", "src=1,8,32", 0, false},
    {"old_opset8", "tests/onnx/models/old_opset8.onnx", NULL, 0, false},
    {"ic_batch2", "tests/models/mlperf-tiny/ic.onnx", "input_1=2,32,32,3", 0, false},
    {"ad01_int8", "tests/models/mlperf-tiny/ad01_int8.onnx", NULL, true, false},
    {"kws_ref_model", "tests/models/mlperf-tiny/kws_ref_model.onnx", NULL, true, false},
    /* onnxruntime's QOperator contrib ops (tests/onnx/models/make_qoperator.py) */
    {"qop_binary", "tests/onnx/models/qop_binary.onnx", NULL, true, true},
    {"qop_pool", "tests/onnx/models/qop_pool.onnx", NULL, true, true},
    {"qop_activation", "tests/onnx/models/qop_activation.onnx", NULL, true, true},
    {"qop_softmax", "tests/onnx/models/qop_softmax.onnx", NULL, true, true},
    {"qop_concat", "tests/onnx/models/qop_concat.onnx", NULL, true, true},
    {"qop_dynamic", "tests/onnx/models/qop_dynamic.onnx", NULL, true, true},
    {"qop_nhwc", "tests/onnx/models/qop_nhwc.onnx", NULL, true, true},
    {"qop_gemm", "tests/onnx/models/qop_gemm.onnx", NULL, true, true},
    {"qop_net", "tests/onnx/models/qop_net.onnx", NULL, true, true},
    /* MatMulInteger and ConvInteger: int32 sums past 2^24, held exactly */
    {"qop_integer", "tests/onnx/models/qop_integer.onnx", NULL, false, false},
};

static const ModelCase *find_case(const char *name)
{
    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++)
        if (strcmp(models[i].name, name) == 0)
            return &models[i];
    cr_assert_fail("no model case '%s'", name);
    return NULL;
}

/* "NAME=D0,D1,..." into an FeShape whose name points into `buf`. */
static FeShape parse_shape(const char *arg, char *buf, size_t size)
{
    FeShape sh = {0};
    snprintf(buf, size, "%s", arg);
    char *eq = strchr(buf, '=');
    cr_assert_not_null(eq, "bad shape '%s'", arg);
    *eq = '\0';
    sh.name = buf;
    for (char *p = eq + 1; *p && sh.rank < IR_MAX_RANK;) {
        char *end;
        sh.dims[sh.rank++] = strtoll(p, &end, 10);
        p = *end ? end + 1 : end;
    }
    return sh;
}

/* Diagnostics of a failed load, read back from c->err. */
static char *read_diags(FILE *f)
{
    fflush(f);
    long n = ftell(f);
    char *s = calloc(1, (size_t)(n > 0 ? n : 0) + 1);
    rewind(f);
    if (n > 0 && fread(s, 1, (size_t)n, f) != (size_t)n)
        s[0] = '\0';
    return s;
}

static void fill_input(TuRng *r, const Type *t, void *data)
{
    int64_t n = type_numel(t);
    switch (t->dtype) {
    case DT_F32: tu_fill(r, data, n, TU_DATA_SIGNED); break;
    case DT_I8:
        for (int64_t i = 0; i < n; i++)
            ((int8_t *)data)[i] = (int8_t)tu_rng_int(r, -128, 127);
        break;
    case DT_U8:
        for (int64_t i = 0; i < n; i++)
            ((uint8_t *)data)[i] = (uint8_t)tu_rng_int(r, 0, 255);
        break;
    case DT_BOOL:
        for (int64_t i = 0; i < n; i++)
            ((uint8_t *)data)[i] = tu_rng_bool(r);
        break;
    case DT_I16:
    case DT_I32:
    case DT_I64:
        /* Small non-negative values: integer inputs are usually indices. */
        for (int64_t i = 0; i < n; i++) {
            int v = tu_rng_int(r, 0, 3);
            if (t->dtype == DT_I16)
                ((int16_t *)data)[i] = (int16_t)v;
            else if (t->dtype == DT_I32)
                ((int32_t *)data)[i] = v;
            else
                ((int64_t *)data)[i] = v;
        }
        break;
    default: cr_assert_fail("input dtype %s", dtype_name(t->dtype));
    }
}

/* A loud note on stderr. Not cr_log_warn: Criterion 2.4 exits non-zero
 * after any warning (unless --ignore-warnings), which would turn an
 * expected, reported gap (no ONNX Runtime on the machine) into a failed
 * suite. */
static void warn(const char *fmt, ...) IR_PRINTF(1, 2);

static void warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "[WARN] etch models: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    fflush(stderr);
}

/* True when node and onnxruntime-node are there; else says so loudly. */
static bool have_ort(void)
{
    if (tu_run(NULL, "node --version", NULL, NULL) != 0) {
        warn("ONNX Runtime comparison SKIPPED: `node` is not installed "
                    "(apt-get install nodejs; then cd bench && npm ci --ignore-scripts)");
        return false;
    }
    if (!tu_file_exists(ORT_PACKAGE)) {
        warn("ONNX Runtime comparison SKIPPED: bench/node_modules has no "
                    "onnxruntime-node (cd bench && npm ci --ignore-scripts)");
        return false;
    }
    return true;
}

/* Reads `path` as .npy into *t (a fresh context's arena owns the data). */
static void *load_npy(Ctx *c, const char *path, Type *t)
{
    void *data = NULL;
    cr_assert(fe_read_npy(c, path, (Loc){.file = path}, t, &data), "cannot read %s", path);
    return data;
}

typedef struct {
    double abs_err, rel_err;  /* worst over the outputs */
    bool ok;
    bool lsb;                 /* integers: within 1 on >= 99% of elements */
    double over_frac;         /* with lsb: the worst fraction off by more */
} Cmp;

#define LSB_FRAC 0.01

/* Compares `got` with reference `ref` (same shape and dtype required);
 * with `report_only` a difference is recorded in cmp but fails nothing. */
static void compare(const char *what, const char *out_name, const Type *gt, const void *gd,
                    const Type *rt, const void *rd, bool report_only, uint64_t seed, Cmp *cmp)
{
    char a[128], b[128];
    cr_expect(type_equal(gt, rt), "%s: output '%s' is %s, the reference's is %s (seed %llu)",
              what, out_name, type_str(gt, a, sizeof a), type_str(rt, b, sizeof b),
              (unsigned long long)seed);
    if (!type_equal(gt, rt)) {
        cmp->ok = false;
        return;
    }
    Tensor g = {.type = *gt, .data = (void *)gd}, r = {.type = *rt, .data = (void *)rd};
    int64_t n = type_numel(gt), where = 0, over = 0;
    double err = 0.0, scale = 1.0;
    for (int64_t i = 0; i < n; i++) {
        double x = tensor_getf(&g, i), y = tensor_getf(&r, i), d = fabs(x - y);
        scale = fmax(scale, fabs(y));
        over += d > 1.0;
        if (!(d <= err)) {  /* NaN counts as the worst */
            err = isnan(d) ? INFINITY : d;
            where = i;
        }
    }
    double rel = err / scale, tol = dtype_is_float(gt->dtype) ? REL : 0.0;
    cmp->abs_err = fmax(cmp->abs_err, err);
    cmp->rel_err = fmax(cmp->rel_err, rel);
    if (cmp->lsb && !dtype_is_float(gt->dtype)) {
        double frac = n ? (double)over / (double)n : 0.0;
        cmp->over_frac = fmax(cmp->over_frac, frac);
        if (frac > LSB_FRAC && !report_only) {
            cmp->ok = false;
            cr_expect(frac <= LSB_FRAC, "%s: output '%s': %lld of %lld elements differ by more than 1 "
                      "(max %g; seed %llu)", what, out_name, (long long)over, (long long)n, err,
                      (unsigned long long)seed);
        }
        return;
    }
    if (rel > tol && !report_only) {
        cmp->ok = false;
        cr_expect(rel <= tol,
                  "%s: output '%s' differs at %lld: %g vs reference %g (max abs err %g, "
                  "scale %g, relative %g > %g; seed %llu)",
                  what, out_name, (long long)where, (double)tensor_getf(&g, where),
                  (double)tensor_getf(&r, where), err, scale, rel, tol, (unsigned long long)seed);
    }
}

static void run_model(const char *case_name)
{
    const ModelCase *mc = find_case(case_name);
    char model[1024], shape_arg[256] = "", shape_buf[128];
    snprintf(model, sizeof model, "%s/%s", ETCH_SOURCE_DIR, mc->path);
    uint64_t seed = tu_seed();
    for (const char *p = mc->name; *p; p++)
        seed = seed * 31 + (unsigned char)*p;

    /* The inputs as etch sees them (symbolic dims 1, or the --shape). */
    Ctx *c = ctx_new();
    c->err = tmpfile();
    FeShape sh;
    FeOptions fo = {0};
    if (mc->shape) {
        sh = parse_shape(mc->shape, shape_buf, sizeof shape_buf);
        fo = (FeOptions){.shapes = &sh, .nshapes = 1};
        snprintf(shape_arg, sizeof shape_arg, "--shape %s", mc->shape);
    }
    Graph *g = fe_load_model(c, model, &fo);
    if (!g) {
        char *diags = read_diags(c->err);
        const char *why = strstr(diags, "error: ") ? strstr(diags, "error: ") + 7 : diags;
        printf("| %-22s | %-28s | %9s | %9s | %9s | import fails: %.*s |\n", mc->name, "-", "-", "-", "-",
               (int)strcspn(why, ";\n"), why);
        fflush(stdout);
        /* Criterion 2.4 exits non-zero on a skipped test, so a pending
         * model passes while its failure is the known one (and says so). */
        cr_assert_fail("%s does not import:\n%s", mc->name, diags);
    }

    char *dir = tu_mkdtemp("models");
    TuStr etch_cmd = {0}, ort_cmd = {0}, fused_cmd = {0}, in_desc = {0};
    TuRng rng;
    tu_rng_init(&rng, seed);
    tu_str_printf(&ort_cmd, "node %s %s%s %s/ort", ORT_RUN, mc->qdq ? "--no-opt " : "", model,
                  dir);
    tu_str_printf(&fused_cmd, "node %s %s %s/fused", ORT_RUN, model, dir);
    for (int j = 0; j < g->ninputs; j++) {
        const Value *v = ir_value(g, g->inputs[j]);
        void *data = calloc(1, type_bytes(&v->type) + 1);
        fill_input(&rng, &v->type, data);
        char name[32], ty[128];
        snprintf(name, sizeof name, "in%d.npy", j);
        char *path = tu_path(dir, name);
        cr_assert(fe_write_npy(path, &v->type, data), "cannot write %s", path);
        tu_str_printf(&etch_cmd, " --input %s", path);
        tu_str_printf(&ort_cmd, " %s", path);
        tu_str_printf(&fused_cmd, " %s", path);
        tu_str_printf(&in_desc, "%s%s %s", j ? ", " : "", v->name,
                      type_str(&v->type, ty, sizeof ty));
        free(path);
        free(data);
    }

    /* etch: the compiled C, the interpreter as a second reference, and the
     * LLVM backend, held to the C backend's output. */
    /* QDQ models also run as the float QDQ graph (qdq) and with TFLite's
     * rounding (tflite). */
    static const char *const runs[][2] = {
        {"c", "--backend c"}, {"interp", "--backend interp"}, {"llvm", "--backend llvm"},
        {"qdq", "--backend c --disable-pass fold-qdq"}, {"tflite", "--backend c --rounding tflite"},
    };
    for (int b = 0; b < (mc->qdq ? 5 : 3); b++) {
        char cmd[8192];
        snprintf(cmd, sizeof cmd, "%s run %s %s %s --output-dir %s/%s%s", ETCH_EXE,
                 model, shape_arg, runs[b][1], dir, runs[b][0], etch_cmd.s);
        char *err = NULL;
        int rc = tu_run(NULL, cmd, NULL, &err);
        if (rc != 0)
            printf("| %-22s | etch run %s fails: %.120s |\n", mc->name, runs[b][1], err);
        cr_assert_eq(rc, 0, "%s: `%s` failed (%d):\n%s", mc->name, cmd, rc, err);
        free(err);
    }

    bool ort = have_ort();
    char *ort_err = NULL;
    if (ort) {
        int rc = tu_run(NULL, ort_cmd.s, NULL, &ort_err);
        cr_assert(rc == 0 || rc == 3, "%s: `%s` failed (%d):\n%s", mc->name, ort_cmd.s, rc,
                  ort_err);
        if (rc == 3) {
            warn("ONNX Runtime comparison SKIPPED: onnxruntime-node does not load:\n%s",
                        ort_err);
            ort = false;
        }
        if (ort && mc->qdq) {
            free(ort_err);
            ort_err = NULL;
            rc = tu_run(NULL, fused_cmd.s, NULL, &ort_err);
            cr_assert(rc == 0, "%s: `%s` failed (%d):\n%s", mc->name, fused_cmd.s, rc, ort_err);
        }
    }

    Cmp vs_ort = {.ok = true}, vs_interp = {.ok = true}, vs_fused = {.ok = true};
    Cmp vs_llvm = {.ok = true}, vs_qdq = {.ok = true, .lsb = mc->qop};
    Cmp vs_tflite = {.ok = true, .lsb = true};
    vs_ort.lsb = mc->qdq;
    for (int j = 0; j < g->noutputs; j++) {
        const char *oname = ir_value(g, g->outputs[j])->name;
        char file[256], num[32];
        snprintf(file, sizeof file, "c/%s.npy", oname);
        char *cpath = tu_path(dir, file);
        snprintf(file, sizeof file, "interp/%s.npy", oname);
        char *ipath = tu_path(dir, file);
        snprintf(file, sizeof file, "llvm/%s.npy", oname);
        char *lpath = tu_path(dir, file);
        Type ct, it, lt;
        void *cd = load_npy(c, cpath, &ct), *id = load_npy(c, ipath, &it);
        void *ld = load_npy(c, lpath, &lt);
        compare("C vs interpreter", oname, &ct, cd, &it, id, false, seed, &vs_interp);
        compare("LLVM vs C", oname, &lt, ld, &ct, cd, false, seed, &vs_llvm);
        free(lpath);
        if (ort) {
            snprintf(num, sizeof num, "ort/out%d.npy", j);
            char *opath = tu_path(dir, num);
            Type ot;
            void *od = load_npy(c, opath, &ot);
            compare("C vs ONNX Runtime", oname, &ct, cd, &ot, od, false, seed, &vs_ort);
            for (int k = 0; mc->qdq && k < 2; k++) {
                snprintf(file, sizeof file, "%s/%s.npy", k ? "tflite" : "qdq", oname);
                char *path = tu_path(dir, file);
                Type xt;
                void *xd = load_npy(c, path, &xt);
                compare(k ? "C (--rounding tflite) vs ONNX Runtime" : "QDQ float graph vs ONNX Runtime",
                        oname, &xt, xd, &ot, od, k == 1 || !mc->qop, seed, k ? &vs_tflite : &vs_qdq);
                free(path);
            }
            free(opath);
        }
        if (ort && mc->qdq) {
            snprintf(num, sizeof num, "fused/out%d.npy", j);
            char *opath = tu_path(dir, num);
            Type ot;
            void *od = load_npy(c, opath, &ot);
            compare("C vs fused ONNX Runtime", oname, &ct, cd, &ot, od, true, seed, &vs_fused);
            free(opath);
        }
        free(cpath);
        free(ipath);
    }
    if (vs_llvm.rel_err > LLVM_REL)
        vs_llvm.ok = false;
    cr_expect(vs_llvm.rel_err <= LLVM_REL, "%s: LLVM and C backends differ by %g of the scale",
              mc->name, vs_llvm.rel_err);
    bool ok = vs_interp.ok && vs_llvm.ok && vs_ort.ok && vs_qdq.ok;
    char note[256] = "", qdq_frac[64] = "";
    if (mc->qop)
        snprintf(qdq_frac, sizeof qdq_frac, ", %.2g%% off by > 1", 100 * vs_qdq.over_frac);
    if (ort && mc->qdq)
        snprintf(note, sizeof note, " (int8 kernels vs ORT unoptimized: %.2g%% off by > 1; "
                 "rounding tflite: %.2g%%; QDQ float graph: max %g%s; ORT optimized: max %g)",
                 100 * vs_ort.over_frac, 100 * vs_tflite.over_frac, vs_qdq.abs_err, qdq_frac,
                 vs_fused.abs_err);
    if (ort)
        printf("| %-22s | %-28s | %9.3g | %9.3g | %9.3g | %s%s |\n", mc->name, in_desc.s,
               vs_ort.abs_err, vs_ort.rel_err, vs_llvm.rel_err, ok ? "pass" : "FAIL", note);
    else
        printf("| %-22s | %-28s | %9s | %9s | %9.3g | %s (C vs interp only: rel %.3g) |\n",
               mc->name, in_desc.s, "-", "-", vs_llvm.rel_err, ok ? "no ORT" : "FAIL",
               vs_interp.rel_err);
    fflush(stdout);

    free(ort_err);
    free(etch_cmd.s);
    free(ort_cmd.s);
    free(fused_cmd.s);
    free(in_desc.s);
    fclose(c->err);
    ctx_free(c);
    if (ok)
        tu_rmtree(dir);
    else
        warn("%s: inputs and outputs kept in %s", mc->name, dir);
    free(dir);
}

Test(models, ad01_fp32, .timeout = 300) { run_model("ad01_fp32"); }
Test(models, kws_ref_model_float32, .timeout = 300) { run_model("kws_ref_model_float32"); }
Test(models, ic, .timeout = 300) { run_model("ic"); }
Test(models, vww_96_float, .timeout = 300) { run_model("vww_96_float"); }
Test(models, transformer_encoder, .timeout = 300) { run_model("transformer_encoder"); }
Test(models, old_opset8, .timeout = 300) { run_model("old_opset8"); }
Test(models, ic_batch2, .timeout = 300) { run_model("ic_batch2"); }
Test(models, ad01_int8, .timeout = 300) { run_model("ad01_int8"); }
Test(models, kws_ref_model, .timeout = 300) { run_model("kws_ref_model"); }
Test(models, qop_binary, .timeout = 300) { run_model("qop_binary"); }
Test(models, qop_pool, .timeout = 300) { run_model("qop_pool"); }
Test(models, qop_activation, .timeout = 300) { run_model("qop_activation"); }
Test(models, qop_softmax, .timeout = 300) { run_model("qop_softmax"); }
Test(models, qop_concat, .timeout = 300) { run_model("qop_concat"); }
Test(models, qop_dynamic, .timeout = 300) { run_model("qop_dynamic"); }
Test(models, qop_nhwc, .timeout = 300) { run_model("qop_nhwc"); }
Test(models, qop_gemm, .timeout = 300) { run_model("qop_gemm"); }
Test(models, qop_net, .timeout = 300) { run_model("qop_net"); }
Test(models, qop_integer, .timeout = 300) { run_model("qop_integer"); }

/* ------------------------------------------------------------- --shape */

static int etch(const char *args, char **err)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s %s", ETCH_EXE, args);
    return tu_run(ETCH_SOURCE_DIR, cmd, NULL, err);
}

Test(models, shape_sets_the_input_shape)
{
    Ctx *c = ctx_new();
    FeShape sh = {.name = "input_1", .rank = 4, .dims = {3, 32, 32, 3}};
    FeOptions fo = {.shapes = &sh, .nshapes = 1};
    Graph *g = fe_load_model(c, ETCH_SOURCE_DIR "/tests/models/mlperf-tiny/ic.onnx", &fo);
    cr_assert_not_null(g);
    const Value *in = ir_value(g, g->inputs[0]);
    char ty[128];
    cr_assert_str_eq(type_str(&in->type, ty, sizeof ty), "f32[3, 32, 32, 3]");
    /* Without it, the symbolic batch is 1. */
    g = fe_load_model(c, ETCH_SOURCE_DIR "/tests/models/mlperf-tiny/ic.onnx", NULL);
    cr_assert_not_null(g);
    cr_assert_str_eq(type_str(&ir_value(g, g->inputs[0])->type, ty, sizeof ty),
                     "f32[1, 32, 32, 3]");
    ctx_free(c);

    char *out = NULL;
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s dump tests/models/mlperf-tiny/ad01_fp32.onnx --shape input_1=2,640",
             ETCH_EXE);
    cr_assert_eq(tu_run(ETCH_SOURCE_DIR, cmd, &out, NULL), 0);
    cr_assert_not_null(strstr(out, "input input_1 : f32[2, 640]"), "%s", out);
    free(out);
}

Test(models, shape_errors)
{
    static const struct {
        const char *args;
        int status;
        const char *msg;
    } cases[] = {
        {"dump tests/models/mlperf-tiny/ic.onnx --shape input_2=1,32,32,3", 1,
         "--shape input_2: graph 'ic' has no input named 'input_2' (inputs: input_1)"},
        {"dump tests/models/mlperf-tiny/ic.onnx --shape input_1=1,32,32", 1,
         "--shape input_1 has rank 3, the model's input has rank 4"},
        {"dump tests/models/mlperf-tiny/ic.onnx --shape input_1=1,0,32,3", 2,
         "--shape input_1: '1,0,32,3' is not a list of positive dimensions"},
        {"dump tests/models/mlperf-tiny/ic.onnx --shape input_1", 2,
         "--shape wants NAME=D0,D1,..., not 'input_1'"},
        {"dump tests/models/mlperf-tiny/ic.onnx --shape input_1=1,32,32,3 --shape input_1=1", 2,
         "--shape input_1 is given twice"},
        {"dump examples/digits_mlp/digits_mlp.etch --shape x=1,64", 1,
         "--shape applies to ONNX models"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *err = NULL;
        int rc = etch(cases[i].args, &err);
        cr_expect_eq(rc, cases[i].status, "etch %s: status %d, want %d\n%s", cases[i].args, rc,
                     cases[i].status, err);
        cr_expect_not_null(strstr(err, cases[i].msg), "etch %s: want '%s' in:\n%s",
                           cases[i].args, cases[i].msg, err);
        free(err);
    }
}

/* ------------------------------------------------------------- --const */

Test(models, const_freezes_an_input)
{
    char *dir = tu_mkdtemp("const");
    char *ok = tu_path(dir, "s.npy"), *wide = tu_path(dir, "s8.npy"), *i32 = tu_path(dir, "s32.npy");
    Type t = {.dtype = DT_I64, .rank = 1, .dims = {2}};
    cr_assert(fe_write_npy(ok, &t, (int64_t[]){3, 2}));
    cr_assert(fe_write_npy(wide, &t, (int64_t[]){4, 2}));
    Type t32 = {.dtype = DT_I32, .rank = 1, .dims = {2}};
    cr_assert(fe_write_npy(i32, &t32, (int32_t[]){3, 2}));
    const char *model = "tests/onnx/import/err_dynamic_shape.onnx"; /* y = Reshape(x, s) */
    char args[1024];
    char *out = NULL, *err = NULL;
    snprintf(args, sizeof args, "%s dump %s --const s=%s", ETCH_EXE, model, ok);
    cr_assert_eq(tu_run(ETCH_SOURCE_DIR, args, &out, &err), 0, "%s", err);
    cr_expect_not_null(strstr(out, "reshape(x, shape = [3, 2])"), "%s", out);
    free(out);
    free(err);
    static const struct {
        const char *fmt;
        int status;
        const char *msg;
    } cases[] = {
        {"dump %s --const s=%s", 1, "cannot reshape [2, 3] (6 elements) to [4, 2]"},
        {"dump %s --const s=%s", 1, "--const s: the file holds i32[2], which does not fit"},
        {"dump %s --const s", 2, "--const wants NAME=FILE.npy, not 's'"},
        {"dump %s --const s=%s/missing.npy", 1, "cannot open"},
    };
    const char *files[] = {wide, i32, NULL, dir};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char sub[1024];
        snprintf(sub, sizeof sub, cases[i].fmt, model, files[i]);
        err = NULL;
        int rc = etch(sub, &err);
        cr_expect_eq(rc, cases[i].status, "etch %s: status %d\n%s", sub, rc, err);
        cr_expect_not_null(strstr(err, cases[i].msg), "etch %s: want '%s' in:\n%s", sub,
                           cases[i].msg, err);
        free(err);
    }
    /* Without it the importer says how to freeze the input. */
    err = NULL;
    snprintf(args, sizeof args, "dump %s", model);
    cr_expect_eq(etch(args, &err), 1);
    cr_expect_not_null(strstr(err, "freeze it with --const"), "%s", err);
    free(err);
    snprintf(args, sizeof args, "dump examples/digits_mlp/digits_mlp.etch --const x=%s", ok);
    err = NULL;
    cr_expect_eq(etch(args, &err), 1);
    cr_expect_not_null(strstr(err, "--const applies to ONNX models"), "%s", err);
    free(err);
    tu_rmtree(dir);
    free(ok);
    free(wide);
    free(i32);
    free(dir);
}

/* ------------------------------------------------------- memory plan */

/* Issue 5's target for the planner: the arena is within 5% of its lower
 * bound on every MLPerf Tiny float model and example, on the host and on an
 * MCU (where the inputs and outputs are planned too). The QDQ int8 models
 * are not held to it yet: their float path alternates f32 and i8 tensors,
 * which best-fit places at up to 1.125x (kws_ref_model on cortex-m4); their
 * int8 kernels (issue 7) will replace that path. */
Test(models, arena_within_five_percent_of_bound, .timeout = 120)
{
    const char *paths[] = {
        "tests/models/mlperf-tiny/ad01_fp32.onnx", "tests/models/mlperf-tiny/kws_ref_model_float32.onnx",
        "tests/models/mlperf-tiny/ic.onnx", "tests/models/mlperf-tiny/vww_96_float.onnx",
        "examples/digits_mlp/digits_mlp.etch", "examples/digits_cnn/digits_cnn.etch",
    };
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++)
        for (int bare = 0; bare < 2; bare++) {
            char path[1024];
            snprintf(path, sizeof path, "%s/%s", ETCH_SOURCE_DIR, paths[i]);
            Ctx *c = ctx_new();
            Module m = {.target = target_find(bare ? "cortex-m4" : "host")};
            m.graph = fe_load_model(c, path, NULL);
            cr_assert_not_null(m.graph, "%s does not load", paths[i]);
            cr_assert(pipeline_run(c, &m, NULL) && m.prog, "%s does not compile", paths[i]);
            const Program *p = m.prog;
            cr_expect_leq(p->workspace_size * 100, p->workspace_lower_bound * 105,
                          "%s (%s): arena %lld > 1.05 x lower bound %lld", paths[i],
                          bare ? "cortex-m4" : "host", (long long)p->workspace_size,
                          (long long)p->workspace_lower_bound);
            ctx_free(c);
        }
}
