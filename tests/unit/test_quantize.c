/* test_quantize.c: the `quantize` pass (post-training int8 into QDQ form).
 *
 *   params        a conv + relu + flatten + gemm graph on two samples: every
 *                 scale, zero point and quantized weight/bias against values
 *                 computed by hand (the conv and gemm ranges by plain loops
 *                 here), an all-zero weight channel, flatten sharing the
 *                 relu's parameters, the relu quantized after the conv
 *   shared_params pools share their input's parameters, concat and sigmoid
 *                 get their own
 *   percentile    the (100-P)-th / P-th percentile ranges, and min/max
 *   close         the quantized graph stays within a few output steps of the
 *                 float graph (interpreter), and the C backend runs it as the
 *                 interpreter does (the differential check)
 *   io_int8       --io int8: i8 graph input and output with their parameters
 *   int8_kernels  max_pool, mul + relu, concat, sigmoid, tanh quantized and
 *                 folded: all int8 kernels, near the float graph
 *   onnx_*        real ONNX models (depthwise CNN, dense autoencoder): the
 *                 weight form on every conv/gemm, int8 output near float
 *   digits        the example classifiers: int8 accuracy on the held-out
 *                 split within 1 point of float (both printed)
 *   cli_errors    bad --quantize/--calibrate use: clear errors, no crash
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

#define EXAMPLES_DIR ETCH_SOURCE_DIR "/examples"

static Ctx *C;

static void setup(void) { C = ctx_new(); }
static void teardown(void) { ctx_free(C); }

TestSuite(quantize, .init = setup, .fini = teardown);

/* The graph of tests/golden/ir/quantize.etch. */
static const char *const SMALL =
    "graph small {\n"
    "  input  x  : f32[1, 1, 3, 3]\n"
    "  const  w  : f32[2, 1, 2, 2] = [1.2, -2, 0.5, 0.3, 0, 0, 0, 0]\n"
    "  const  b  : f32[2]          = [0.5, -0.25]\n"
    "  const  g  : f32[8, 3]       = [0.5, -1, 0.25, 1, 0.5, -0.5, -0.25, 0.75, 1,\n"
    "                                 0.125, -0.5, 0.5, 2, -1, 0, 0.5, 0.5, 0.5,\n"
    "                                 -1, 1, -0.25, 0.25, 0, 1]\n"
    "  const  gb : f32[3]          = [0.1, -0.2, 0.3]\n"
    "  c = relu(conv(x, w, b))\n"
    "  f = flatten(c)\n"
    "  y = gemm(f, g, gb)\n"
    "  output y\n"
    "}\n";

static const float SMALL_W[8] = {1.2f, -2, 0.5f, 0.3f, 0, 0, 0, 0};
static const float SMALL_B[2] = {0.5f, -0.25f};
static const float SMALL_G[24] = {0.5f, -1, 0.25f, 1, 0.5f, -0.5f, -0.25f, 0.75f, 1,
                                  0.125f, -0.5f, 0.5f, 2, -1, 0, 0.5f, 0.5f, 0.5f,
                                  -1, 1, -0.25f, 0.25f, 0, 1};
static const float SMALL_GB[3] = {0.1f, -0.2f, 0.3f};

/* The small graph in plain loops: c = relu(conv) [2, 2, 2], y [3]. */
static void small_ref(const float *x, double *c, double *y)
{
    for (int m = 0; m < 2; m++)
        for (int i = 0; i < 2; i++)
            for (int j = 0; j < 2; j++) {
                double s = SMALL_B[m];
                for (int di = 0; di < 2; di++)
                    for (int dj = 0; dj < 2; dj++)
                        s += (double)SMALL_W[m * 4 + di * 2 + dj] * x[(i + di) * 3 + j + dj];
                c[m * 4 + i * 2 + j] = s > 0 ? s : 0;
            }
    for (int n = 0; n < 3; n++) {
        double s = SMALL_GB[n];
        for (int k = 0; k < 8; k++)
            s += c[k] * SMALL_G[k * 3 + n];
        y[n] = s;
    }
}

static Graph *parse(const char *text)
{
    Graph *g = fe_parse_string(C, "q.etch", text);
    cr_assert(g != NULL && C->nerrors == 0, "the test graph does not parse");
    return g;
}

/* Runs infer-shapes and quantize on g; false after a diagnostic. */
static bool quantize(Graph *g, const Tensor *samples, int n, double pct, QuantIo io)
{
    QuantizeOpts o = {.nsamples = n, .ninputs = g->ninputs, .samples = samples,
                      .percentile = pct, .io = io};
    Module m = {.graph = g, .quantize = &o};
    pass_infer_shapes(C, &m);
    bool changed = pass_quantize(C, &m);
    return changed && C->nerrors == 0 && ir_verify(C, g);
}

static const Value *val(const Graph *g, const char *name)
{
    int v = ir_find_value(g, name);
    cr_assert(v >= 0, "no live value '%s' after quantize", name);
    return ir_value(g, v);
}

static void expect_type(const Graph *g, const char *name, const char *want)
{
    char got[128];
    type_str(&val(g, name)->type, got, sizeof got);
    cr_expect_str_eq(got, want, "'%s' is %s, want %s", name, got, want);
}

static float f32_at(const Graph *g, const char *name, int i)
{
    const Value *v = val(g, name);
    cr_assert(v->kind == VK_CONST && v->type.dtype == DT_F32, "'%s' is not an f32 const", name);
    return ((const float *)v->data)[i];
}

static int64_t int_at(const Graph *g, const char *name, int i)
{
    const Value *v = val(g, name);
    cr_assert(v->kind == VK_CONST, "'%s' is not a const", name);
    Tensor t = {.type = v->type, .data = v->data};
    return ref_get_i(&t, i);
}

static int count_op(const Graph *g, int op)
{
    int n = 0;
    for (int i = 0; i < g->nnodes; i++)
        n += !g->nodes[i].dead && g->nodes[i].op == op;
    return n;
}

/* The two calibration samples of the golden test: x in [-1, 3]. */
static float SAMPLE0[9] = {-1, 0, 1, 2, 3, 0.5f, 0, 1, 2};
static float SAMPLE1[9] = {0.5f, 1, 1.5f, 2.5f, -0.5f, 0, 3, 2, 1};

static Tensor x_tensor(float *data)
{
    int64_t dims[4] = {1, 1, 3, 3};
    return (Tensor){.type = type_make(DT_F32, 4, dims), .data = data};
}

Test(quantize, params)
{
    Graph *g = parse(SMALL);
    Tensor s[2] = {x_tensor(SAMPLE0), x_tensor(SAMPLE1)};
    cr_assert(quantize(g, s, 2, 0, QUANT_IO_FLOAT), "quantize failed");

    /* Input: range [-1, 3] -> scale 4/255, zero round(-128 + 1/scale) = -64. */
    float sx = (float)(4.0 / 255.0);
    cr_expect_eq(f32_at(g, "x_scale", 0), sx);
    cr_expect_eq(int_at(g, "x_zero", 0), -64);
    expect_type(g, "x_zero", "i8[]");

    /* Weights per output channel: max|w| = 2 -> scale 2/127; channel 1 is all
     * zero -> scale 1, codes 0. 1.2 * 63.5 = 76.2, 0.5 * 63.5 = 31.75, 0.3 *
     * 63.5 = 19.05. */
    static const int wq[8] = {76, -127, 32, 19, 0, 0, 0, 0};
    for (int i = 0; i < 8; i++)
        cr_expect_eq(int_at(g, "w_q", i), wq[i], "w_q[%d]", i);
    expect_type(g, "w_q", "i8[2, 1, 2, 2]");
    expect_type(g, "w_scale", "f32[2, 1, 1, 1]");
    expect_type(g, "w_zero", "i8[2, 1, 1, 1]");
    float sw0 = 2.0f / 127.0f;
    cr_expect_eq(f32_at(g, "w_scale", 0), sw0);
    cr_expect_eq(f32_at(g, "w_scale", 1), 1.0f);
    cr_expect_eq(int_at(g, "w_zero", 0), 0);
    cr_expect_eq(int_at(g, "w_zero", 1), 0);

    /* Bias in i32 at sx * sw[m]: 0.5 / (sx * 2/127) = 2024.06, -0.25 / sx = -15.94. */
    expect_type(g, "b_q", "i32[2]");
    expect_type(g, "b_zero", "i32[2]");
    cr_expect_eq(f32_at(g, "b_scale", 0), sx * sw0);
    cr_expect_eq(f32_at(g, "b_scale", 1), sx);
    cr_expect_eq(int_at(g, "b_q", 0), 2024);
    cr_expect_eq(int_at(g, "b_q", 1), -16);

    /* Gemm weights per column, [1, 3]: max|g[:, n]| = 2, 1, 1. */
    expect_type(g, "g_scale", "f32[1, 3]");
    cr_expect_eq(f32_at(g, "g_scale", 0), 2.0f / 127.0f);
    cr_expect_eq(f32_at(g, "g_scale", 1), 1.0f / 127.0f);
    cr_expect_eq(int_at(g, "g_q", 12), 127); /* g[4, 0] = 2 */
    cr_expect_eq(int_at(g, "g_q", 13), -127); /* g[4, 1] = -1 */

    /* Activations: the relu output c (zero -128, its max / 255) and y, from
     * the plain-loop model on both samples. */
    double cmax = 0, ymin = 0, ymax = 0, c[8], y[3];
    float *xs[2] = {SAMPLE0, SAMPLE1};
    for (int k = 0; k < 2; k++) {
        small_ref(xs[k], c, y);
        for (int i = 0; i < 8; i++)
            cmax = fmax(cmax, c[i]);
        for (int i = 0; i < 3; i++) {
            ymin = fmin(ymin, y[i]);
            ymax = fmax(ymax, y[i]);
        }
    }
    cr_expect_float_eq(f32_at(g, "c_scale", 0), cmax / 255, 1e-6);
    cr_expect_eq(int_at(g, "c_zero", 0), -128);
    double sy = (ymax - ymin) / 255;
    cr_expect_float_eq(f32_at(g, "y_scale", 0), sy, 1e-6);
    cr_expect_eq(int_at(g, "y_zero", 0), (int64_t)rint(-128 - ymin / sy));

    /* The form: Qs of x, c, f, y; DQs of those four and of w, b, g, gb. The
     * relu's input (the conv output) has none; flatten keeps c's params. */
    cr_expect_eq(count_op(g, OP_QUANTIZE_LINEAR), 4);
    cr_expect_eq(count_op(g, OP_DEQUANTIZE_LINEAR), 8);
    const Value *fq = val(g, "f_q");
    const Node *qn = ir_node(g, fq->producer);
    cr_expect_eq(qn->in[1], ir_find_value(g, "c_scale"));
    cr_expect_eq(qn->in[2], ir_find_value(g, "c_zero"));
    const Node *relu = ir_node(g, val(g, "c")->producer);
    cr_expect_eq(relu->op, OP_RELU);
    const Node *conv = ir_node(g, ir_value(g, relu->in[0])->producer);
    cr_expect_eq(conv->op, OP_CONV);
    cr_expect_eq(conv->in[0], ir_find_value(g, "x_dq"));
    cr_expect_eq(conv->in[1], ir_find_value(g, "w_dq"));
    cr_expect_eq(conv->in[2], ir_find_value(g, "b_dq"));
    /* The graph output keeps its name, dequantized; the float value is y_f. */
    cr_expect_eq(g->outputs[0], ir_find_value(g, "y"));
    cr_expect_eq(ir_node(g, val(g, "y")->producer)->op, OP_DEQUANTIZE_LINEAR);
    cr_expect_eq(val(g, "y_f")->type.dtype, DT_F32);
}

/* Which scale const the quantize_linear of `name` uses. */
static int q_scale_of(const Graph *g, const char *name)
{
    const Node *n = ir_node(g, val(g, name)->producer);
    cr_assert_eq(n->op, OP_QUANTIZE_LINEAR, "'%s' is not made by quantize_linear", name);
    return n->in[1];
}

Test(quantize, shared_params)
{
    Graph *g = parse("graph sp {\n"
                     "  input x : f32[1, 2, 4, 4]\n"
                     "  r = relu(x)\n"
                     "  m = max_pool(r, kernel_shape = [2, 2], strides = [2, 2])\n"
                     "  a = average_pool(r, kernel_shape = [2, 2], strides = [2, 2])\n"
                     "  ga = global_average_pool(r)\n"
                     "  k = concat(m, a, axis = 1)\n"
                     "  s = sigmoid(k)\n"
                     "  output s, ga\n"
                     "}\n");
    static float x[32];
    for (int i = 0; i < 32; i++)
        x[i] = (float)(i % 7) - 2.5f;
    int64_t dims[4] = {1, 2, 4, 4};
    Tensor s = {type_make(DT_F32, 4, dims), x};
    cr_assert(quantize(g, &s, 1, 0, QUANT_IO_FLOAT));
    int r = q_scale_of(g, "r_q");
    cr_expect_eq(q_scale_of(g, "m_q"), r, "max_pool has its own scale");
    cr_expect_eq(q_scale_of(g, "a_q"), r, "average_pool has its own scale");
    cr_expect_eq(q_scale_of(g, "ga_q"), r, "global_average_pool has its own scale");
    cr_expect_neq(q_scale_of(g, "k_q"), r, "concat shares its input's scale");
    cr_expect_neq(q_scale_of(g, "s_q"), q_scale_of(g, "k_q"), "sigmoid shares its input's");
    cr_expect_eq(r, ir_find_value(g, "r_scale"));
}

static const char *const RELU =
    "graph p {\n"
    "  input x : f32[1, 100]\n"
    "  y = relu(x)\n"
    "  output y\n"
    "}\n";

Test(quantize, percentile)
{
    static float a[100], b[100];
    for (int i = 0; i < 100; i++) {
        a[i] = (float)(i - 100); /* -100 .. -1 */
        b[i] = (float)i;         /* 0 .. 99 */
    }
    int64_t dims[2] = {1, 100};
    Tensor s[2] = {{type_make(DT_F32, 2, dims), a}, {type_make(DT_F32, 2, dims), b}};

    /* 200 sorted values -100..99: numpy's 1st and 99th percentiles are at
     * positions 1.99 and 197.01: -98.01 and 97.01. */
    Graph *g = parse(RELU);
    cr_assert(quantize(g, s, 2, 99, QUANT_IO_FLOAT));
    double sx = (97.01 + 98.01) / 255;
    cr_expect_float_eq(f32_at(g, "x_scale", 0), sx, 1e-6);
    cr_expect_eq(int_at(g, "x_zero", 0), (int64_t)rint(-128 + 98.01 / sx)); /* 0 */
    /* relu(x): 101 zeros, then 1..99: the 99th percentile is 97.01 too. */
    cr_expect_float_eq(f32_at(g, "y_scale", 0), 97.01 / 255, 1e-6);
    cr_expect_eq(int_at(g, "y_zero", 0), -128);

    /* Without a percentile: min and max. */
    Graph *h = parse(RELU);
    cr_assert(quantize(h, s, 2, 0, QUANT_IO_FLOAT));
    cr_expect_float_eq(f32_at(h, "x_scale", 0), 199.0 / 255, 1e-7);
    cr_expect_eq(int_at(h, "x_zero", 0), (int64_t)rint(-128 + 100 / (199.0 / 255)));
    cr_expect_float_eq(f32_at(h, "y_scale", 0), 99.0 / 255, 1e-7);
}

static double max_abs_diff(const Tensor *a, const Tensor *b)
{
    double err = 0;
    for (int64_t i = 0; i < type_numel(&a->type); i++)
        err = fmax(err, fabs((double)tensor_getf(a, i) - tensor_getf(b, i)));
    return err;
}

Test(quantize, close, .timeout = 120)
{
    TuRng r;
    tu_rng_init(&r, 20261129);
    enum { NCAL = 16, NTEST = 32 };
    float *cal = malloc(sizeof(float) * 9 * NCAL), *tst = malloc(sizeof(float) * 9 * NTEST);
    Tensor s[NCAL];
    for (int k = 0; k < NCAL; k++) {
        for (int i = 0; i < 9; i++)
            cal[k * 9 + i] = tu_rng_float(&r, -1, 3);
        s[k] = x_tensor(cal + k * 9);
    }
    Graph *f = parse(SMALL), *g = parse(SMALL);
    cr_assert(quantize(g, s, NCAL, 0, QUANT_IO_FLOAT));
    double step = f32_at(g, "y_scale", 0), worst = 0;
    for (int k = 0; k < NTEST; k++) {
        for (int i = 0; i < 9; i++)
            tst[k * 9 + i] = tu_rng_float(&r, -1, 3);
        Tensor in = x_tensor(tst + k * 9), yf, yq;
        cr_assert(interp_run(C, f, &in, &yf) && interp_run(C, g, &in, &yq));
        worst = fmax(worst, max_abs_diff(&yf, &yq));
    }
    cr_log_info("quantize/close: worst |int8 - float| = %g = %.2f output steps", worst,
                worst / step);
    cr_expect(worst <= 3 * step, "int8 differs from float by %g, %.2f steps of %g", worst,
              worst / step, step);

    /* The QDQ graph through loop_eval and the emitted C: as the interpreter
     * runs it, up to an occasional one-step rounding flip. */
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    ir_print_graph(mem, g);
    fclose(mem);
    char *work = tu_mkdtemp("quant");
    TuStr report = {0};
    bool ok = tu_diff_graph(text, &r, NULL, 2 * step, work, &report);
    cr_expect(ok, "%s", report.s ? report.s : "");
    tu_rmtree(work);
    free(work);
    free(report.s);
    free(text);
    free(cal);
    free(tst);
}

Test(quantize, io_int8)
{
    Graph *g = parse(SMALL);
    Tensor s[2] = {x_tensor(SAMPLE0), x_tensor(SAMPLE1)};
    cr_assert(quantize(g, s, 2, 0, QUANT_IO_INT8));
    const Value *x = ir_value(g, g->inputs[0]), *y = ir_value(g, g->outputs[0]);
    cr_expect_str_eq(x->name, "x");
    cr_expect_str_eq(y->name, "y");
    cr_assert(x->type.dtype == DT_I8 && x->type.quant, "input x is not a quantized i8");
    cr_assert(y->type.dtype == DT_I8 && y->type.quant, "output y is not a quantized i8");
    cr_expect_eq(x->type.quant->scale[0], f32_at(g, "x_scale", 0));
    cr_expect_eq(x->type.quant->zero[0], int_at(g, "x_zero", 0));
    cr_expect_eq(y->type.quant->scale[0], f32_at(g, "y_scale", 0));
    cr_expect_eq(y->type.quant->zero[0], int_at(g, "y_zero", 0));
    cr_expect_eq(count_op(g, OP_QUANTIZE_LINEAR), 3); /* c, f, y */

    /* Fed Q(x), it gives the codes of the float run's output. */
    Graph *fl = parse(SMALL);
    cr_assert(quantize(fl, s, 2, 0, QUANT_IO_FLOAT));
    int8_t xq[9];
    float sx = x->type.quant->scale[0];
    for (int i = 0; i < 9; i++) {
        double q = rint((double)(SAMPLE1[i] / sx)) + x->type.quant->zero[0];
        xq[i] = (int8_t)(q < -128 ? -128 : q > 127 ? 127 : q);
    }
    Tensor in = {.type = x->type, .data = xq}, out, fin = x_tensor(SAMPLE1), fout;
    cr_assert(interp_run(C, g, &in, &out) && interp_run(C, fl, &fin, &fout));
    for (int i = 0; i < 3; i++) {
        double back = y->type.quant->scale[0] * (tensor_getf(&out, i) - y->type.quant->zero[0]);
        cr_expect_float_eq(back, tensor_getf(&fout, i), 1e-6, "y[%d]", i);
    }
}

/* max_pool, mul (with its relu), concat and the unary ops: after quantize
 * and fold-qdq every one is an int8 kernel (qmax_pool, qmul, qconcat,
 * qlut), nothing float is left between the input's Q and the output's DQ,
 * and the output stays within a few steps of the float graph's. */
static const char *const KERNELS =
    "graph k {\n"
    "  input x : f32[1, 2, 4, 4]\n"
    "  m = max_pool(x, kernel_shape = [2, 2], strides = [2, 2])\n"
    "  s = sigmoid(m)\n"
    "  p = relu(mul(m, s))\n"
    "  c = concat(p, m, axis = 1)\n"
    "  g = global_max_pool(c)\n"
    "  y = tanh(g)\n"
    "  output y\n"
    "}\n";

Test(quantize, int8_kernels, .timeout = 120)
{
    TuRng r;
    tu_rng_init(&r, 20261130);
    enum { NCAL = 16, NTEST = 16, N = 32 };
    static float cal[NCAL * N], tst[NTEST * N];
    int64_t dims[4] = {1, 2, 4, 4};
    Tensor s[NCAL];
    for (int k = 0; k < NCAL; k++) {
        for (int i = 0; i < N; i++)
            cal[k * N + i] = tu_rng_float(&r, -3, 3);
        s[k] = (Tensor){type_make(DT_F32, 4, dims), cal + k * N};
    }
    Graph *f = parse(KERNELS), *g = parse(KERNELS);
    cr_assert(quantize(g, s, NCAL, 0, QUANT_IO_FLOAT));
    Module m = {.graph = g};
    cr_assert(pass_fold_qdq(C, &m) && !C->nerrors);
    pass_dce(C, &m);
    cr_expect_eq(count_op(g, OP_QMAX_POOL), 2);
    cr_expect_eq(count_op(g, OP_QLUT), 2);
    cr_expect_eq(count_op(g, OP_QMUL), 1);
    cr_expect_eq(count_op(g, OP_QCONCAT), 1);
    cr_expect_eq(count_op(g, OP_RELU), 0, "the relu is qmul's clamp");
    int floats = 0;
    for (int i = 0; i < g->nnodes; i++) {
        const Node *n = &g->nodes[i];
        floats += !n->dead && n->op != OP_QUANTIZE_LINEAR && n->op != OP_DEQUANTIZE_LINEAR &&
                  ir_value(g, n->out[0])->type.dtype == DT_F32;
    }
    cr_expect_eq(floats, 0, "float ops left between the input's Q and the output's DQ");
    /* The max_pools keep their input's parameters: no requantization. */
    for (int i = 0; i < g->nnodes; i++) {
        const Node *n = &g->nodes[i];
        if (!n->dead && n->op == OP_QMAX_POOL) {
            const Quant *qx = ir_value(g, n->in[0])->type.quant, *qy = ir_value(g, n->out[0])->type.quant;
            cr_expect(qx->scale[0] == qy->scale[0] && qx->zero[0] == qy->zero[0]);
        }
    }
    double step = f32_at(g, "y_scale", 0), worst = 0;
    for (int k = 0; k < NTEST; k++) {
        for (int i = 0; i < N; i++)
            tst[k * N + i] = tu_rng_float(&r, -3, 3);
        Tensor in = {type_make(DT_F32, 4, dims), tst + k * N}, yf, yq;
        cr_assert(interp_run(C, f, &in, &yf) && interp_run(C, g, &in, &yq));
        worst = fmax(worst, max_abs_diff(&yf, &yq));
    }
    cr_log_info("quantize/int8_kernels: worst |int8 - float| = %.2f output steps", worst / step);
    cr_expect(worst <= 3 * step, "int8 differs from float by %g, %.2f steps of %g", worst, worst / step, step);
}

/* ---------------------------------------------------------------- digits */

static Tensor read_npy(const char *path)
{
    Tensor t;
    cr_assert(fe_read_npy(C, path, (Loc){path, 0, 0}, &t.type, &t.data), "cannot read %s", path);
    return t;
}

static int64_t argmax(const Tensor *t)
{
    int64_t best = 0;
    for (int64_t i = 1; i < type_numel(&t->type); i++)
        if (tensor_getf(t, i) > tensor_getf(t, best))
            best = i;
    return best;
}

/* Accuracy of g over the n images of xs (64 floats each) against labels. */
static double accuracy(const Graph *g, const Tensor *xs, const Tensor *labels)
{
    const Type *it = &ir_value(g, g->inputs[0])->type;
    int64_t n = xs->type.dims[0], right = 0;
    for (int64_t k = 0; k < n; k++) {
        Tensor in = {.type = *it, .data = (float *)xs->data + k * 64}, out;
        cr_assert(interp_run(C, g, &in, &out));
        right += argmax(&out) == ((const int64_t *)labels->data)[k];
    }
    return (double)right / (double)n;
}

/* Bytes of the live constants the graph's nodes read. */
static int64_t weight_bytes(const Graph *g)
{
    bool *seen = arena_alloc(C->arena, (size_t)g->nvalues + 1);
    int64_t bytes = 0;
    for (int i = 0; i < g->nnodes; i++)
        for (int k = 0; !g->nodes[i].dead && k < g->nodes[i].nin; k++) {
            int v = g->nodes[i].in[k];
            if (v >= 0 && !seen[v] && ir_value(g, v)->kind == VK_CONST) {
                seen[v] = true;
                bytes += (int64_t)type_bytes(&ir_value(g, v)->type);
            }
        }
    return bytes;
}

static void digits_case(const char *model)
{
    const char *path = arena_printf(C->arena, "%s/%s/%s.etch", EXAMPLES_DIR, model, model);
    Tensor xs = read_npy(EXAMPLES_DIR "/data/digits_test_x.npy");
    Tensor ys = read_npy(EXAMPLES_DIR "/data/digits_test_y.npy");
    Tensor cal = read_npy(EXAMPLES_DIR "/data/digits_calib_x.npy");
    cr_assert(xs.type.rank == 2 && xs.type.dims[1] == 64 && cal.type.dims[1] == 64);
    Graph *f = fe_parse_file(C, path), *g = fe_parse_file(C, path);
    cr_assert(f && g, "cannot load %s", path);
    const Type *it = &ir_value(g, g->inputs[0])->type;
    int n = (int)cal.type.dims[0];
    Tensor *s = arena_alloc(C->arena, (size_t)n * sizeof *s);
    for (int k = 0; k < n; k++)
        s[k] = (Tensor){.type = *it, .data = (float *)cal.data + k * 64};
    cr_assert(quantize(g, s, n, 0, QUANT_IO_FLOAT), "%s: quantize failed", model);
    cr_assert(count_op(g, OP_QUANTIZE_LINEAR) > 2, "%s: nothing was quantized", model);
    double af = accuracy(f, &xs, &ys), aq = accuracy(g, &xs, &ys);
    /* And as etch compiles it: fold-qdq's integer kernels. */
    Module m = {.graph = g};
    cr_assert(pass_fold_qdq(C, &m) && !C->nerrors, "%s: fold-qdq folded nothing", model);
    pass_dce(C, &m);
    cr_assert(count_op(g, OP_QGEMM) + count_op(g, OP_QCONV) > 0, "%s: no int8 kernel", model);
    double ak = accuracy(g, &xs, &ys);
    int64_t wf = weight_bytes(f), wq = weight_bytes(g);
    fprintf(stderr, "%s: float accuracy %.2f%%, int8 accuracy %.2f%% (QDQ graph) %.2f%% (int8 kernels) "
            "(%lld held-out images, %d calibration images); weights %lld B float, %lld B int8 (%.2fx)\n",
            model, 100 * af, 100 * aq, 100 * ak, (long long)xs.type.dims[0], n, (long long)wf,
            (long long)wq, (double)wf / (double)wq);
    cr_expect(wq * 3 < wf, "%s: int8 weights %lld B are not about 4x smaller than float's %lld B", model,
              (long long)wq, (long long)wf);
    cr_expect(fabs(af - aq) <= 0.01, "%s: int8 accuracy %.4f is more than 1 point from float %.4f",
              model, aq, af);
    cr_expect(fabs(af - ak) <= 0.01, "%s: int8 kernels' accuracy %.4f is more than 1 point from float %.4f",
              model, ak, af);
    cr_expect(af >= 0.95, "%s: float accuracy %.4f", model, af);
}

Test(quantize, digits_mlp, .timeout = 300) { digits_case("digits_mlp"); }
Test(quantize, digits_cnn, .timeout = 300) { digits_case("digits_cnn"); }

/* ------------------------------------------------------------ ONNX models */

/* Every conv and gemm of g reads its weights (input 1) through a
 * dequantize_linear of an i8 const with zero zero points and a scale shaped
 * to broadcast along the output-channel axis only. */
static void expect_weight_form(const Graph *g, const char *model)
{
    int checked = 0;
    for (int i = 0; i < g->nnodes; i++) {
        const Node *n = &g->nodes[i];
        if (n->dead || (n->op != OP_CONV && n->op != OP_GEMM))
            continue;
        const Value *w = ir_value(g, n->in[1]);
        cr_assert(w->kind == VK_NODE, "%s: a %s's weights are not dequantized", model,
                  op_info(n->op)->name);
        const Node *dq = ir_node(g, w->producer);
        cr_assert_eq(dq->op, OP_DEQUANTIZE_LINEAR, "%s: weights of %s", model, w->name);
        const Value *q = ir_value(g, dq->in[0]), *sc = ir_value(g, dq->in[1]);
        const Value *z = ir_value(g, dq->in[2]);
        cr_expect(q->kind == VK_CONST && q->type.dtype == DT_I8, "%s: %s", model, q->name);
        cr_expect(z->kind == VK_CONST && z->type.dtype == DT_I8, "%s: %s", model, z->name);
        int axis = n->op == OP_GEMM && !ir_attr_int(n, "trans_b") ? 1 : 0;
        cr_expect_eq(sc->type.rank, q->type.rank, "%s: %s", model, sc->name);
        for (int d = 0; d < sc->type.rank; d++)
            cr_expect_eq(sc->type.dims[d], d == axis ? q->type.dims[d] : 1, "%s: %s dim %d",
                         model, sc->name, d);
        for (int64_t k = 0; k < type_numel(&z->type); k++)
            cr_expect_eq(((const int8_t *)z->data)[k], 0);
        for (int64_t k = 0; k < type_numel(&q->type); k++)
            cr_expect(((const int8_t *)q->data)[k] >= -127, "%s: %s[%lld] is -128", model,
                      q->name, (long long)k);
        checked++;
    }
    cr_expect(checked > 0, "%s: no conv or gemm", model);
}

/* Real graphs (a depthwise-separable CNN, a dense autoencoder): the pass
 * runs, the form holds, and on an input like the calibration data the int8
 * output stays near the float one. */
static void onnx_case(const char *file, float lo, float hi, double tol)
{
    const char *path = arena_printf(C->arena, "%s/tests/models/mlperf-tiny/%s", ETCH_SOURCE_DIR,
                                    file);
    Graph *f = fe_load_model(C, path, NULL), *g = fe_load_model(C, path, NULL);
    cr_assert(f && g, "cannot load %s", path);
    const Type *it = &ir_value(g, g->inputs[0])->type;
    int64_t numel = type_numel(it);
    enum { NCAL = 8 };
    TuRng r;
    tu_rng_init(&r, 7);
    float *data = malloc(sizeof(float) * (size_t)(numel * (NCAL + 1)));
    for (int64_t i = 0; i < numel * (NCAL + 1); i++)
        data[i] = tu_rng_float(&r, lo, hi);
    Tensor s[NCAL];
    for (int k = 0; k < NCAL; k++)
        s[k] = (Tensor){.type = *it, .data = data + k * numel};
    cr_assert(quantize(g, s, NCAL, 0, QUANT_IO_FLOAT), "%s: quantize failed", file);
    expect_weight_form(g, file);
    Tensor in = {.type = *it, .data = data + NCAL * numel}, yf, yq;
    cr_assert(interp_run(C, f, &in, &yf) && interp_run(C, g, &in, &yq));
    double err = max_abs_diff(&yf, &yq), scale = 0;
    for (int64_t i = 0; i < type_numel(&yf.type); i++)
        scale = fmax(scale, fabs(tensor_getf(&yf, i)));
    cr_log_info("quantize/onnx %s: max |int8 - float| %g of max |float| %g", file, err, scale);
    cr_expect(err <= tol * scale, "%s: int8 differs from float by %g (max |float| %g)", file,
              err, scale);
    free(data);
}

Test(quantize, onnx_kws, .timeout = 300)
{
    onnx_case("kws_ref_model_float32.onnx", -30, 30, 0.02);
}

Test(quantize, onnx_ad01, .timeout = 300) { onnx_case("ad01_fp32.onnx", 0, 1, 0.1); }

/* ------------------------------------------------------------------- CLI */

typedef struct {
    const char *args;   /* after `etch` */
    int status;
    const char *stderr_has;
    const char *stdout_has;
} CliCase;

Test(quantize, cli_errors, .timeout = 300)
{
    char *tmp = tu_mkdtemp("qcli");
    /* Files: good batch, wrong shape, wrong dtype, an empty dir, a dir of
     * samples, a dir with a bad sample, a non-.npy file. */
    static float data[5 * 64];
    for (int i = 0; i < 5 * 64; i++)
        data[i] = (float)(i % 17) / 16.0f;
    int64_t good[2] = {5, 64}, bad[2] = {5, 63}, one[2] = {1, 64};
    char *p_good = tu_path(tmp, "good.npy"), *p_bad = tu_path(tmp, "bad.npy");
    char *p_int = tu_path(tmp, "int.npy"), *p_txt = tu_path(tmp, "notes.npy");
    char *d_empty = tu_path(tmp, "empty"), *d_ok = tu_path(tmp, "ok"), *d_bad = tu_path(tmp, "mixed");
    Type tg = type_make(DT_F32, 2, good), tb = type_make(DT_F32, 2, bad);
    Type ti = type_make(DT_I32, 2, good), t1 = type_make(DT_F32, 2, one);
    Type ti8 = type_make(DT_I8, 2, one);
    cr_assert(fe_write_npy(p_good, &tg, data) && fe_write_npy(p_bad, &tb, data) &&
              fe_write_npy(p_int, &ti, data));
    cr_assert(tu_write_file(p_txt, "not numpy", 9));
    TuStr mk = {0};
    tu_str_printf(&mk, "mkdir -p '%s' '%s' '%s'", d_empty, d_ok, d_bad);
    cr_assert(tu_run(NULL, mk.s, NULL, NULL) == 0);
    char *s1 = tu_path(d_ok, "a.npy"), *s2 = tu_path(d_ok, "b.npy");
    char *s3 = tu_path(d_bad, "a.npy"), *s4 = tu_path(d_bad, "b.npy");
    char *p_x8 = tu_path(tmp, "x8.npy");
    static int8_t x8[64];
    cr_assert(fe_write_npy(s1, &t1, data) && fe_write_npy(s2, &t1, data + 64) &&
              fe_write_npy(s3, &t1, data) && fe_write_npy(s4, &tg, data) &&
              fe_write_npy(p_x8, &ti8, x8));

    const char *mlp = EXAMPLES_DIR "/digits_mlp/digits_mlp.etch";
    TuStr a[20] = {{0}};
    CliCase cases[20];
    int n = 0;
#define CASE(st, errs, outs, ...)                         \
    do {                                                  \
        tu_str_printf(&a[n], __VA_ARGS__);                \
        cases[n] = (CliCase){a[n].s, st, errs, outs};     \
        n++;                                              \
    } while (0)
    CASE(2, "--calibrate needs --quantize int8", NULL, "dump '%s' --calibrate '%s'", mlp, p_good);
    CASE(2, "--io needs --quantize int8", NULL, "dump '%s' --io int8", mlp);
    CASE(2, "cannot quantize to 'int4' (supported: int8)", NULL,
         "dump '%s' --quantize int4 --calibrate '%s'", mlp, p_good);
    CASE(2, "--quantize needs calibration samples", NULL, "compile '%s' --quantize int8", mlp);
    CASE(2, "--calibrate-percentile wants a number in (50, 100]", NULL,
         "dump '%s' --quantize int8 --calibrate '%s' --calibrate-percentile 40", mlp, p_good);
    CASE(2, "--io wants float or int8", NULL,
         "dump '%s' --quantize int8 --calibrate '%s' --io int16", mlp, p_good);
    CASE(1, "cannot read calibration samples: No such file or directory", NULL,
         "dump '%s' --quantize int8 --calibrate '%s/missing'", mlp, tmp);
    CASE(1, "the calibration directory holds no .npy files", NULL,
         "dump '%s' --quantize int8 --calibrate '%s'", mlp, d_empty);
    CASE(1, "must be f32 [N, 1, 64] or [N, 64], but the file holds f32[5, 63]", NULL,
         "dump '%s' --quantize int8 --calibrate '%s'", mlp, p_bad);
    CASE(1, "but the file holds i32[5, 64]", NULL, "dump '%s' --quantize int8 --calibrate '%s'",
         mlp, p_int);
    CASE(1, "is f32[5, 64], but the input is f32[1, 64] (a directory holds one sample per file)",
         NULL, "dump '%s' --quantize int8 --calibrate '%s'", mlp, d_bad);
    CASE(1, "not a .npy file", NULL, "dump '%s' --quantize int8 --calibrate '%s'", mlp, p_txt);
    CASE(1, "--calibrate nosuch=x.npy: graph 'digits_mlp' has no input named 'nosuch'", NULL,
         "dump '%s' --quantize int8 --calibrate nosuch=x.npy --calibrate '%s'", mlp, p_good);
    CASE(0, NULL, "x_q : i8[1, 64] = quantize_linear(x, x_scale, x_zero)",
         "dump '%s' --quantize int8 --calibrate '%s'", mlp, d_ok);
    CASE(0, NULL, "# after quantize\n", "dump '%s' --quantize int8 --calibrate x='%s' "
         "--calibrate-percentile 99.9 --print-after quantize", mlp, p_good);
    CASE(0, NULL, "y i8[1, 10] {scale = ", "run '%s' --quantize int8 --calibrate '%s' --io int8 "
         "--input '%s' --output-dir '%s' --backend c", mlp, p_good, p_x8, tmp);
    CASE(1, "input 'x' expects i8[1, 64], but the file holds f32[1, 64]", NULL,
         "run '%s' --quantize int8 --calibrate '%s' --io int8 --input '%s' --output-dir '%s'",
         mlp, p_good, s1, tmp);
    CASE(0, NULL, NULL, "compile '%s' --quantize int8 --calibrate '%s' -o '%s/out'", mlp, p_good,
         tmp);
#undef CASE
    for (int i = 0; i < n; i++) {
        TuStr cmd = {0};
        tu_str_printf(&cmd, "'%s' %s", ETCH_EXE, cases[i].args);
        char *out, *err;
        int st = tu_run(NULL, cmd.s, &out, &err);
        cr_expect_eq(st, cases[i].status, "`%s` exited %d, want %d:\n%s", cmd.s, st,
                     cases[i].status, err);
        if (cases[i].stderr_has)
            cr_expect(strstr(err, cases[i].stderr_has) != NULL, "`%s`: stderr lacks '%s':\n%s",
                      cmd.s, cases[i].stderr_has, err);
        if (cases[i].stdout_has)
            cr_expect(strstr(out, cases[i].stdout_has) != NULL, "`%s`: stdout lacks '%s':\n%s",
                      cmd.s, cases[i].stdout_has, out);
        free(out);
        free(err);
        free(cmd.s);
        free(a[i].s);
    }
    cr_assert(tu_file_exists(arena_printf(C->arena, "%s/out/digits_mlp.c", tmp)));
    tu_rmtree(tmp);
    free(mk.s);
    char *ps[] = {tmp, p_good, p_bad, p_int, p_txt, d_empty, d_ok, d_bad, s1, s2, s3, s4, p_x8};
    for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++)
        free(ps[i]);
}
