/* test_onnx_import.c: the ONNX importer on small generated models.
 *
 * The models come from tests/onnx/import/make_models.py (committed with
 * it); the QOperator tests also read tests/onnx/models/qop_*.onnx
 * (make_qoperator.py there). Each test imports one, checks the graph's
 * structure (which etch ops, which attributes the constant inputs became,
 * that folded shape chains left no node behind) and runs it through the
 * reference interpreter on
 * seeded random data against expectations computed here. Error tests check
 * that the diagnostic names the op, the node, the opset and what etch
 * supports; the corruption test feeds truncated and byte-flipped copies of
 * a real model and requires a diagnostic (or a valid graph), never a crash.
 */
#define _GNU_SOURCE /* open_memstream */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frontend/frontend.h"
#include "passes/passes.h"
#include "testutil.h"

#define MODELS ETCH_SOURCE_DIR "/tests/onnx/import/"

typedef struct {
    Ctx *c;
    char *diag;
    size_t len;
} Capture;

static void cap_open(Capture *k)
{
    k->c = ctx_new();
    k->diag = NULL;
    k->len = 0;
    k->c->err = open_memstream(&k->diag, &k->len);
}

static void cap_close(Capture *k)
{
    fclose(k->c->err);
    free(k->diag);
    ctx_free(k->c);
}

static const char *cap_text(Capture *k)
{
    fflush(k->c->err);
    return k->diag ? k->diag : "";
}

static Graph *load(Capture *k, const char *name)
{
    Graph *g = fe_load_onnx(k->c, name, NULL);
    cr_assert(g, "importing %s failed:\n%s", name, cap_text(k));
    return g;
}

static int count_nodes(const Graph *g, int op)
{
    int n = 0;
    for (int i = 0; i < g->nnodes; i++)
        if (!g->nodes[i].dead && (op < 0 || g->nodes[i].op == op))
            n++;
    return n;
}

static const Node *only_node(const Graph *g, int op)
{
    cr_assert_eq(count_nodes(g, -1), 1, "expected one node, got %d", count_nodes(g, -1));
    const Node *n = &g->nodes[0];
    cr_assert_eq(n->op, op, "expected %s, got %s", op_info(op)->name, op_info(n->op)->name);
    return n;
}

static void expect_ints(const Node *n, const char *attr, const int64_t *want, int nwant)
{
    int cnt;
    const int64_t *got = ir_attr_ints(n, attr, &cnt);
    cr_assert_eq(cnt, nwant, "%s: %d values, expected %d", attr, cnt, nwant);
    for (int i = 0; i < cnt; i++)
        cr_expect_eq(got[i], want[i], "%s[%d] = %lld, expected %lld", attr, i,
                     (long long)got[i], (long long)want[i]);
}

/* Random input data for graph input 0, seeded and reported on failure. */
static Tensor random_input(const Graph *g, TuRng *r)
{
    const Type *t = &ir_value(g, g->inputs[0])->type;
    float *x = malloc((size_t)type_numel(t) * sizeof *x);
    tu_fill(r, x, type_numel(t), TU_DATA_WIDE);
    return (Tensor){*t, x};
}

static Tensor *run(Capture *k, const Graph *g, const Tensor *in)
{
    Tensor *out = arena_alloc(k->c->arena, (size_t)(g->noutputs + 1) * sizeof *out);
    cr_assert(interp_run(k->c, g, in, out), "interpreter failed:\n%s", cap_text(k));
    return out;
}

/* ---------------------------------------------------------- folding */

Test(onnx_import, shape_gather_concat_reshape_folds_to_static_reshape)
{
    Capture k;
    cap_open(&k);
    Graph *g = load(&k, MODELS "fold_reshape.onnx");
    const Node *n = only_node(g, OP_RESHAPE);
    expect_ints(n, "shape", (const int64_t[]){2, -1}, 2);
    const Type *yt = ir_out_type(g, n, 0);
    cr_expect(yt->rank == 2 && yt->dims[0] == 2 && yt->dims[1] == 12, "y is not [2, 12]");
    cr_expect_eq(g->nnodes, 1, "folded nodes left %d node entries", g->nnodes);
    cr_expect(ir_verify(k.c, g), "%s", cap_text(&k));
    cap_close(&k);
}

Test(onnx_import, constant_forms_constant_of_shape_and_range_fold)
{
    Capture k;
    cap_open(&k);
    Graph *g = load(&k, MODELS "const_forms.onnx");
    const Node *n = only_node(g, OP_ADD);
    const Value *kv = ir_value(g, n->in[1]);
    cr_assert_eq(kv->kind, VK_CONST, "the folded operand is not a constant");
    const float want[] = {1.5f, 2.5f, 3.5f, 1.5f, 2.5f, 3.5f};
    for (int i = 0; i < 6; i++)
        cr_expect_float_eq(((const float *)kv->data)[i], want[i], 1e-6, "k[%d]", i);
    cap_close(&k);
}

/* ------------------------------------------------ inputs -> attributes */

Test(onnx_import, squeeze_axes_attribute_before_13_and_input_from_13)
{
    const char *files[] = {MODELS "squeeze11.onnx", MODELS "squeeze13.onnx"};
    for (int f = 0; f < 2; f++) {
        Capture k;
        cap_open(&k);
        Graph *g = load(&k, files[f]);
        const Node *n = only_node(g, OP_SQUEEZE);
        expect_ints(n, "axes", (const int64_t[]){1}, 1);
        const Type *t = ir_out_type(g, n, 0);
        cr_expect(t->rank == 2 && t->dims[0] == 3 && t->dims[1] == 4, "%s: not [3, 4]", files[f]);
        cap_close(&k);
    }
}

Test(onnx_import, slice_attributes_opset9_and_inputs_opset13)
{
    uint64_t seed = tu_seed();
    TuRng r;
    tu_rng_init(&r, seed);
    /* slice9: x[:, 1:3]; slice13: x[:, 4:0:-2] = columns 4, 2. */
    const char *files[] = {MODELS "slice9.onnx", MODELS "slice13.onnx"};
    const int cols[2][2] = {{1, 2}, {4, 2}};
    for (int f = 0; f < 2; f++) {
        Capture k;
        cap_open(&k);
        Graph *g = load(&k, files[f]);
        only_node(g, OP_SLICE);
        Tensor x = random_input(g, &r);
        Tensor *y = run(&k, g, &x);
        cr_assert(y[0].type.rank == 2 && y[0].type.dims[1] == 2, "%s: wrong shape", files[f]);
        const float *xd = x.data, *yd = y[0].data;
        for (int i = 0; i < 2; i++)
            for (int j = 0; j < 2; j++)
                cr_expect_eq(yd[i * 2 + j], xd[i * 5 + cols[f][j]], "%s: y[%d][%d] (seed %llu)",
                             files[f], i, j, (unsigned long long)seed);
        free(x.data);
        cap_close(&k);
    }
}

Test(onnx_import, clip_bounds_inputs_and_cast_type_code)
{
    Capture k;
    cap_open(&k);
    Graph *g = load(&k, MODELS "clip_cast.onnx");
    cr_assert_eq(count_nodes(g, -1), 2);
    const Node *clip = &g->nodes[0], *cast = &g->nodes[1];
    cr_assert_eq(clip->op, OP_CLIP);
    cr_expect_float_eq(ir_attr_float(clip, "min"), -1.5, 1e-9);
    cr_expect_float_eq(ir_attr_float(clip, "max"), 2.5, 1e-9);
    cr_assert_eq(cast->op, OP_CAST);
    cr_expect_str_eq(ir_attr_str(cast, "to"), "i32");
    float xs[6] = {-3.0f, -1.2f, 0.7f, 1.9f, 2.2f, 9.0f};
    Tensor x = {ir_value(g, g->inputs[0])->type, xs};
    Tensor *y = run(&k, g, &x);
    cr_assert_eq(y[0].type.dtype, DT_I32);
    for (int i = 0; i < 6; i++) {
        float c = xs[i] < -1.5f ? -1.5f : xs[i] > 2.5f ? 2.5f : xs[i];
        cr_expect_eq(((const int32_t *)y[0].data)[i], (int32_t)c, "y[%d]", i);
    }
    cap_close(&k);
}

Test(onnx_import, upsample9_becomes_asymmetric_floor_resize)
{
    Capture k;
    cap_open(&k);
    Graph *g = load(&k, MODELS "upsample9.onnx");
    const Node *n = only_node(g, OP_RESIZE);
    cr_expect_str_eq(ir_attr_str(n, "coordinate_transformation_mode"), "asymmetric");
    cr_expect_str_eq(ir_attr_str(n, "nearest_mode"), "floor");
    float xs[4] = {1, 2, 3, 4};
    Tensor x = {ir_value(g, g->inputs[0])->type, xs};
    Tensor *y = run(&k, g, &x);
    cr_assert(y[0].type.dims[2] == 4 && y[0].type.dims[3] == 6, "not [1, 1, 4, 6]");
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 6; j++)
            cr_expect_eq(((const float *)y[0].data)[i * 6 + j], xs[(i / 2) * 2 + j / 3],
                         "y[%d][%d]", i, j);
    cap_close(&k);
}

Test(onnx_import, softmax_before_13_flattens_at_axis)
{
    uint64_t seed = tu_seed();
    TuRng r;
    tu_rng_init(&r, seed);
    Capture k;
    cap_open(&k);
    Graph *g = load(&k, MODELS "softmax11.onnx");
    cr_expect_eq(count_nodes(g, OP_SOFTMAX), 1);
    Tensor x = random_input(g, &r);
    Tensor *y = run(&k, g, &x);
    const float *xd = x.data, *yd = y[0].data;
    for (int b = 0; b < 2; b++) { /* softmax over the 12 values of each batch row */
        double mx = -INFINITY, sum = 0;
        for (int i = 0; i < 12; i++)
            mx = fmax(mx, xd[b * 12 + i]);
        for (int i = 0; i < 12; i++)
            sum += exp(xd[b * 12 + i] - mx);
        for (int i = 0; i < 12; i++)
            cr_expect_float_eq(yd[b * 12 + i], exp(xd[b * 12 + i] - mx) / sum, 1e-5,
                               "y[%d] (seed %llu)", b * 12 + i, (unsigned long long)seed);
    }
    free(x.data);
    cap_close(&k);
}

/* ------------------------------------------------------ outputs */

Test(onnx_import, split_three_outputs_by_input_and_by_num_outputs)
{
    uint64_t seed = tu_seed();
    TuRng r;
    tu_rng_init(&r, seed);
    const char *files[] = {MODELS "split13.onnx", MODELS "split18.onnx"};
    const int widths[2][3] = {{1, 2, 3}, {2, 2, 2}};
    for (int f = 0; f < 2; f++) {
        Capture k;
        cap_open(&k);
        Graph *g = load(&k, files[f]);
        const Node *n = only_node(g, OP_SPLIT);
        cr_assert_eq(n->nout, 3);
        cr_assert_eq(g->noutputs, 3);
        Tensor x = random_input(g, &r);
        Tensor *y = run(&k, g, &x);
        int col = 0;
        for (int o = 0; o < 3; o++) {
            cr_assert_eq(y[o].type.dims[1], widths[f][o], "%s: output %d width", files[f], o);
            for (int i = 0; i < 2; i++)
                for (int j = 0; j < widths[f][o]; j++)
                    cr_expect_eq(((const float *)y[o].data)[i * widths[f][o] + j],
                                 ((const float *)x.data)[i * 6 + col + j],
                                 "%s: output %d [%d][%d] (seed %llu)", files[f], o, i, j,
                                 (unsigned long long)seed);
            col += widths[f][o];
        }
        free(x.data);
        cap_close(&k);
    }
}

Test(onnx_import, unused_optional_output_is_fine_used_one_is_an_error)
{
    Capture k;
    cap_open(&k);
    Graph *g = load(&k, MODELS "maxpool_indices_unused.onnx");
    only_node(g, OP_MAX_POOL);
    cr_expect_eq(k.c->nerrors, 0);
    cr_expect_null(fe_load_onnx(k.c, MODELS "maxpool_indices_used.onnx", NULL));
    const char *d = cap_text(&k);
    cr_expect(strstr(d, "'idx'") && strstr(d, "node 'pool' (MaxPool)") && strstr(d, "opset 12"),
              "diagnostic: %s", d);
    cap_close(&k);
}

/* ------------------------------------------------------ errors */

static void expect_error(const char *file, const char *const *parts)
{
    Capture k;
    cap_open(&k);
    cr_expect_null(fe_load_onnx(k.c, file, NULL), "%s imported", file);
    const char *d = cap_text(&k);
    cr_expect(strstr(d, "error: "), "%s: no error printed: %s", file, d);
    for (int i = 0; parts[i]; i++)
        cr_expect(strstr(d, parts[i]), "%s: the diagnostic lacks '%s':\n%s", file, parts[i], d);
    cap_close(&k);
}

Test(onnx_import, unsupported_op_names_op_node_opset_and_supported_list)
{
    expect_error(MODELS "err_unknown_op.onnx",
                 (const char *[]){"node 'foo' (FooBar)", "'FooBar'", "opset 13", "Conv, Gemm", NULL});
}

Test(onnx_import, unsupported_opset_and_op_opset_name_the_range)
{
    expect_error(MODELS "err_opset.onnx", (const char *[]){"opset 19", "up to 18", NULL});
    expect_error(MODELS "err_resize_opset9.onnx",
                 (const char *[]){"node 'rs' (Resize)", "opset 9", "opsets 10-18", NULL});
}

Test(onnx_import, unsupported_attribute_value_and_dynamic_input)
{
    expect_error(MODELS "err_cast_f16.onnx",
                 (const char *[]){"node 'c' (Cast)", "FLOAT16", "not supported", "int64", NULL});
    expect_error(MODELS "err_dynamic_shape.onnx",
                 (const char *[]){"node 'rs' (Reshape)", "'s'", "must be a constant", NULL});
}

/* 100 truncations and 300 random byte flips of `file`. */
static void fuzz_model(const char *file)
{
    uint64_t seed = tu_seed();
    TuRng r;
    tu_rng_init(&r, seed);
    size_t len;
    char *model = tu_read_file(file, &len);
    cr_assert(model && len > 100);
    char *dir = tu_mkdtemp("onnx-fuzz");
    char *path = tu_path(dir, "m.onnx");
    int rejected = 0, trials = 0;
    for (int t = 0; t < 400; t++, trials++) {
        char *buf = malloc(len);
        memcpy(buf, model, len);
        size_t n = len;
        if (t < 100) {
            n = (size_t)t * (len - 1) / 100; /* truncations, including empty */
        } else {
            int flips = tu_rng_int(&r, 1, 4);
            for (int i = 0; i < flips; i++)
                buf[tu_rng_int(&r, 0, (int)len - 1)] ^= (char)(1u << tu_rng_int(&r, 0, 7));
        }
        cr_assert(tu_write_file(path, buf, n));
        Capture k;
        cap_open(&k);
        Graph *g = fe_load_onnx(k.c, path, NULL);
        /* A flip may leave a valid model (a changed weight); otherwise the
         * importer must have said why. */
        if (!g) {
            rejected++;
            cr_expect(k.c->nerrors > 0 && strstr(cap_text(&k), "error: "),
                      "trial %d (seed %llu): rejected without a diagnostic", t,
                      (unsigned long long)seed);
        } else {
            cr_expect(ir_verify(k.c, g), "trial %d (seed %llu): invalid graph accepted:\n%s", t,
                      (unsigned long long)seed, cap_text(&k));
        }
        cap_close(&k);
        free(buf);
    }
    cr_expect_geq(rejected, 100, "%s: only %d of %d corrupt models rejected", file, rejected, trials);
    tu_rmtree(dir);
    free(path);
    free(dir);
    free(model);
}

Test(onnx_import, truncated_and_corrupted_models_give_diagnostics, .timeout = 120)
{
    fuzz_model(MODELS "small_cnn.onnx");
}

/* The same for a QOperator model: flips land in com.microsoft domains,
 * attributes (channels_last, opset, axis) and quantization parameters. */
Test(onnx_import, truncated_and_corrupted_qoperator_models_give_diagnostics, .timeout = 120)
{
    fuzz_model(ETCH_SOURCE_DIR "/tests/onnx/models/qop_net.onnx");
    fuzz_model(ETCH_SOURCE_DIR "/tests/onnx/models/qop_pool.onnx");
    fuzz_model(ETCH_SOURCE_DIR "/tests/onnx/models/qop_softmax.onnx");
}

/* ---------------------------------------------------------- QOperator */

/* QLinearConv imports as dequantize -> conv -> quantize, runs so in the
 * interpreter, and with constant parameters fold-qdq makes it one qconv:
 * the integer kernel and the float QDQ graph agree within 1 (they round
 * ties differently), on every element. */
Test(onnx_import, qlinearconv_imports_as_qdq_and_folds_to_qconv)
{
    Capture k;
    cap_open(&k);
    Graph *g = load(&k, MODELS "qlinearconv.onnx");
    cr_expect_eq(count_nodes(g, OP_CONV), 1, "no conv in the QDQ form");
    cr_expect_eq(count_nodes(g, OP_QUANTIZE_LINEAR), 1, "no quantize in the QDQ form");
    TuRng r;
    tu_rng_init(&r, tu_seed());
    const Type *xt = &ir_value(g, g->inputs[0])->type;
    Tensor in = {*xt, arena_alloc(k.c->arena, type_bytes(xt))};
    for (int64_t i = 0; i < type_numel(xt); i++)
        ((int8_t *)in.data)[i] = (int8_t)tu_rng_int(&r, -128, 127);
    Tensor *qdq = run(&k, g, &in);
    Module m = {.graph = g};
    cr_assert(pipeline_run(k.c, &m, NULL), "pipeline failed:\n%s", cap_text(&k));
    cr_expect_eq(count_nodes(g, OP_QCONV), 1, "fold-qdq made no qconv");
    cr_expect_eq(count_nodes(g, -1), 1, "nodes left besides the qconv: %d", count_nodes(g, -1));
    Tensor *folded = run(&k, g, &in);
    int64_t n = type_numel(&qdq[0].type), off = 0;
    for (int64_t i = 0; i < n; i++) {
        int d = abs(((int8_t *)qdq[0].data)[i] - ((int8_t *)folded[0].data)[i]);
        cr_expect(d <= 1, "element %lld: QDQ %d, qconv %d (seed %llu)", (long long)i,
                  ((int8_t *)qdq[0].data)[i], ((int8_t *)folded[0].data)[i], (unsigned long long)tu_seed());
        off += d > 0;
    }
    /* Off by one only at ties of the two roundings (about 0.5% of values);
     * 3% keeps a 100-element sample from failing on two (seeds 24, 236). */
    cr_expect(off * 100 <= 3 * n, "%lld of %lld elements differ", (long long)off, (long long)n);
    cap_close(&k);
}

/* ------------------------------------------- com.microsoft QOperator ops */

#define QOP_MODELS ETCH_SOURCE_DIR "/tests/onnx/models/"

/* Seeded random int8/uint8 data (and scales in [0.01, 0.1) for f32) for
 * every graph input. */
static Tensor *random_q_inputs(Capture *k, const Graph *g, TuRng *r)
{
    Tensor *in = arena_alloc(k->c->arena, (size_t)(g->ninputs + 1) * sizeof *in);
    for (int i = 0; i < g->ninputs; i++) {
        const Type *t = &ir_value(g, g->inputs[i])->type;
        in[i] = (Tensor){*t, arena_alloc(k->c->arena, type_bytes(t) + 1)};
        for (int64_t e = 0; e < type_numel(t); e++) {
            if (t->dtype == DT_I8)
                ((int8_t *)in[i].data)[e] = (int8_t)tu_rng_int(r, -128, 127);
            else if (t->dtype == DT_U8)
                ((uint8_t *)in[i].data)[e] = (uint8_t)tu_rng_int(r, 0, 255);
            else if (t->dtype == DT_F32)
                ((float *)in[i].data)[e] = 0.01f + 0.0009f * (float)tu_rng_int(r, 0, 99);
            else
                cr_assert_fail("input dtype %s", dtype_name(t->dtype));
        }
    }
    return in;
}

/* Output-by-output: the int8 kernels against the QDQ graph within 1, on
 * >= 99% of the elements (they round ties differently). */
static void expect_within_one(const Graph *g, const Tensor *qdq, const Tensor *folded, const char *what)
{
    for (int o = 0; o < g->noutputs; o++) {
        int64_t n = type_numel(&qdq[o].type), over = 0;
        cr_expect(type_equal(&qdq[o].type, &folded[o].type), "%s: output %d changed type", what, o);
        for (int64_t i = 0; i < n; i++)
            over += fabs(tensor_getf(&qdq[o], i) - tensor_getf(&folded[o], i)) > 1;
        cr_expect(over * 100 <= n, "%s: output %d: %lld of %lld elements differ by more than 1 (seed %llu)",
                  what, o, (long long)over, (long long)n, (unsigned long long)tu_seed());
    }
}

/* The per-tensor QLinear ops import as dequantize -> float op -> quantize
 * (int8 tensors moved by transposes, flattens and reshapes for
 * channels_last and softmax axes), and fold-qdq turns the ones etch has
 * kernels for into qadd, qaverage_pool (global too) and qsoftmax, which
 * agree with the QDQ graph. Their numbers against ONNX Runtime are
 * test_models.c's (models/qop_*). */
Test(onnx_import, qlinear_ops_import_as_qdq_and_fold_to_int8_kernels)
{
    static const struct {
        const char *file;
        int qadd, qpool, qsoftmax, qconv, qgemm;
    } cases[] = {
        {"qop_binary.onnx", 2, 0, 0, 0, 0},  /* QLinearMul stays float: no qmul yet */
        {"qop_pool.onnx", 0, 4, 0, 0, 0},    /* the two padded pools stay float */
        {"qop_softmax.onnx", 0, 0, 3, 0, 0},
        {"qop_nhwc.onnx", 0, 2, 0, 1, 0},    /* channels_last: transposes of the int8 tensors */
        {"qop_net.onnx", 1, 1, 1, 2, 1},     /* QLinearMatMul 2-D: a gemm, so a qgemm */
        {"qop_gemm.onnx", 0, 0, 0, 0, 1},    /* the float-output QGemm stays float */
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        Capture k;
        cap_open(&k);
        char path[1024];
        snprintf(path, sizeof path, QOP_MODELS "%s", cases[c].file);
        Graph *g = load(&k, path);
        cr_expect_gt(count_nodes(g, OP_QUANTIZE_LINEAR), 0, "%s: no quantize", cases[c].file);
        cr_expect_gt(count_nodes(g, OP_DEQUANTIZE_LINEAR), 0, "%s: no dequantize", cases[c].file);
        TuRng r;
        tu_rng_init(&r, tu_seed());
        Tensor *in = random_q_inputs(&k, g, &r);
        Tensor *qdq = run(&k, g, in);
        Module m = {.graph = g};
        cr_assert(pipeline_run(k.c, &m, NULL), "%s: pipeline failed:\n%s", cases[c].file, cap_text(&k));
        cr_expect_eq(count_nodes(g, OP_QADD), cases[c].qadd, "%s: %d qadd", cases[c].file, count_nodes(g, OP_QADD));
        cr_expect_eq(count_nodes(g, OP_QAVERAGE_POOL), cases[c].qpool, "%s: %d qaverage_pool",
                     cases[c].file, count_nodes(g, OP_QAVERAGE_POOL));
        cr_expect_eq(count_nodes(g, OP_QSOFTMAX), cases[c].qsoftmax, "%s: %d qsoftmax",
                     cases[c].file, count_nodes(g, OP_QSOFTMAX));
        cr_expect_eq(count_nodes(g, OP_QCONV), cases[c].qconv, "%s: %d qconv", cases[c].file,
                     count_nodes(g, OP_QCONV));
        cr_expect_eq(count_nodes(g, OP_QGEMM), cases[c].qgemm, "%s: %d qgemm", cases[c].file,
                     count_nodes(g, OP_QGEMM));
        expect_within_one(g, qdq, run(&k, g, in), cases[c].file);
        cap_close(&k);
    }
}

static int8_t sat_i8(float v)
{
    float q = rintf(v);
    return (int8_t)(q < -128 ? -128 : q > 127 ? 127 : q);
}

/* Absent zero points are 0, and an absent output zero point keeps the
 * op's int8 (QuantizeLinear without one would make uint8):
 * y = QLinearMul(a, 0.05, b, 0.05, 0.1), r = QLinearLeakyRelu(y, 0.1, 0.05, alpha 0.5). */
Test(onnx_import, qlinear_absent_zero_points_are_zero_and_keep_the_type)
{
    Capture k;
    cap_open(&k);
    Graph *g = load(&k, MODELS "qlinear_no_zero_points.onnx");
    cr_assert_eq(ir_value(g, g->outputs[0])->type.dtype, DT_I8, "the output is %s, not i8",
                 dtype_name(ir_value(g, g->outputs[0])->type.dtype));
    TuRng r;
    tu_rng_init(&r, tu_seed());
    Tensor *in = random_q_inputs(&k, g, &r);
    Tensor *out = run(&k, g, in);
    const int8_t *a = in[0].data, *b = in[1].data, *got = out[0].data;
    for (int i = 0; i < 6; i++) {
        int8_t y = sat_i8((a[i] * 0.05f) * (b[i] * 0.05f) / 0.1f);
        float dy = y * 0.1f;
        int8_t want = sat_i8((dy < 0 ? dy * 0.5f : dy) / 0.05f);
        cr_expect(abs(got[i] - want) <= 1, "element %d: a %d, b %d: %d, expected %d (seed %llu)", i,
                  a[i], b[i], got[i], want, (unsigned long long)tu_seed());
    }
    cap_close(&k);
}

/* A scale that is a graph input (not a constant): the QDQ form imports
 * and runs in float; fold-qdq leaves it (it needs constant parameters). */
Test(onnx_import, qlinear_non_constant_scale_runs_in_float)
{
    Capture k;
    cap_open(&k);
    Graph *g = load(&k, MODELS "qlinear_input_scale.onnx");
    TuRng r;
    tu_rng_init(&r, tu_seed());
    Tensor *in = random_q_inputs(&k, g, &r);
    Tensor *qdq = run(&k, g, in);
    const int8_t *a = in[0].data, *b = in[1].data, *got = qdq[0].data;
    float sa = *(const float *)in[2].data;
    for (int i = 0; i < 6; i++) {
        int8_t want = sat_i8(((float)(a[i] - 3) * sa + (float)(b[i] - 3) * 0.05f) / 0.1f - 4);
        cr_expect(abs(got[i] - want) <= 1, "element %d: %d, expected %d (seed %llu)", i, got[i],
                  want, (unsigned long long)tu_seed());
    }
    Module m = {.graph = g};
    cr_assert(pipeline_run(k.c, &m, NULL), "pipeline failed:\n%s", cap_text(&k));
    cr_expect_eq(count_nodes(g, OP_QADD), 0, "a qadd from a non-constant scale");
    Tensor *after = run(&k, g, in);
    for (int i = 0; i < 6; i++)
        cr_expect_eq(((int8_t *)after[0].data)[i], got[i], "element %d changed by the pipeline", i);
    cap_close(&k);
}

Test(onnx_import, qlinear_without_ms_opset_import_is_operator_set_1)
{
    Capture k;
    cap_open(&k);
    Graph *g = load(&k, MODELS "qlinear_no_ms_opset.onnx");
    cr_expect_eq(count_nodes(g, OP_SIGMOID), 1);
    cap_close(&k);
}

Test(onnx_import, qlinear_malformed_nodes_name_input_and_op)
{
    expect_error(MODELS "err_qlinear_count.onnx",
                 (const char *[]){"node 'add' (QLinearAdd)", "takes 7 to 8 inputs, not 5", NULL});
    expect_error(MODELS "err_qlinear_scale_shape.onnx",
                 (const char *[]){"node 'sig' (QLinearSigmoid)", "input 1 (X_scale)", "f32[2]",
                                  "single value", NULL});
    expect_error(MODELS "err_qlinear_zero_dtype.onnx",
                 (const char *[]){"input 2 (X_zero_point)", "u8[]", "must be i8", NULL});
    expect_error(MODELS "err_qlinear_float_input.onnx",
                 (const char *[]){"input 0 (X)", "f32[4]", "int8 or uint8", NULL});
    expect_error(MODELS "err_qlinear_gap_zero.onnx",
                 (const char *[]){"input 2 (x_zero_point) of QLinearGlobalAveragePool is required", NULL});
    expect_error(MODELS "err_qlinear_softmax_opset.onnx",
                 (const char *[]){"node 'sm' (QLinearSoftmax)", "opset attribute", NULL});
    expect_error(MODELS "err_qlinear_concat_count.onnx",
                 (const char *[]){"node 'cat' (QLinearConcat)", "2 + 3k inputs", "not 7", NULL});
    expect_error(MODELS "err_convinteger_group.onnx",
                 (const char *[]){"node 'ci' (ConvInteger)", "300-term sums", "2^24", "group is 2", NULL});
}

Test(onnx_import, unsupported_domains_and_com_microsoft_ops_are_named)
{
    expect_error(MODELS "err_ms_unknown_op.onnx",
                 (const char *[]){"node 'fg' (FusedGemm)", "com.microsoft op 'FusedGemm'",
                                  "QLinearAdd", "QLinearSoftmax", NULL});
    expect_error(MODELS "err_ms_opset.onnx", (const char *[]){"com.microsoft opset 2", NULL});
    expect_error(MODELS "err_qlinear_default_domain.onnx",
                 (const char *[]){"node 'sig' (QLinearSigmoid)", "give it domain 'com.microsoft'", NULL});
    expect_error(MODELS "err_unknown_domain.onnx",
                 (const char *[]){"node 'sc' (Scaler)", "domain 'ai.onnx.ml' are not supported", NULL});
    /* The conformance runner's question: which ops can etch not import. */
    Ctx *c = ctx_new();
    const char *s = fe_onnx_unsupported_ops(c, QOP_MODELS "qop_net.onnx");
    cr_expect(s && strcmp(s, "") == 0, "qop_net: unsupported '%s'", s ? s : "(null)");
    s = fe_onnx_unsupported_ops(c, MODELS "err_ms_unknown_op.onnx");
    cr_expect(s && strcmp(s, "FusedGemm") == 0, "unsupported '%s'", s ? s : "(null)");
    s = fe_onnx_unsupported_ops(c, MODELS "err_unknown_domain.onnx");
    cr_expect(s && strcmp(s, "Scaler") == 0, "unsupported '%s'", s ? s : "(null)");
    ctx_free(c);
}
