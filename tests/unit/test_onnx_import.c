/* test_onnx_import.c: the ONNX importer on small generated models.
 *
 * The models come from tests/onnx/import/make_models.py (committed with
 * it). Each test imports one, checks the graph's structure (which etch ops,
 * which attributes the constant inputs became, that folded shape chains
 * left no node behind) and runs it through the reference interpreter on
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

Test(onnx_import, truncated_and_corrupted_models_give_diagnostics, .timeout = 120)
{
    uint64_t seed = tu_seed();
    TuRng r;
    tu_rng_init(&r, seed);
    size_t len;
    char *model = tu_read_file(MODELS "small_cnn.onnx", &len);
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
    cr_expect_geq(rejected, 100, "only %d of %d corrupt models rejected", rejected, trials);
    tu_rmtree(dir);
    free(path);
    free(dir);
    free(model);
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
    cr_expect(off * 100 <= n, "%lld of %lld elements differ", (long long)off, (long long)n);
    cap_close(&k);
}
