/* test_shape_ops.c: inference rules and reference implementations of the
 * reduce_* family, argmax/argmin, squeeze/unsqueeze, split, slice, gather,
 * expand, tile, depth_to_space and space_to_depth, against hand-checked
 * numbers (ONNX's documented examples where there is one).
 *
 * Graphs are built with the builder API, inputs as consts, and run through
 * interp_run; cases the graph language cannot spell (slice's INT64_MIN
 * sentinel) also run lowered, through loop_eval. Error cases check that
 * the diagnostic names the node and the shapes involved.
 */
#define _POSIX_C_SOURCE 200809L

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "passes/passes.h"

/* ------------------------------------------------------------ harness */

static Ctx *C;
static Graph *G;
static char *diag_buf;
static size_t diag_len;

static void setup(void)
{
    C = ctx_new();
    C->err = open_memstream(&diag_buf, &diag_len);
    G = ir_new_graph(C->arena, "t");
}

static void teardown(void)
{
    fclose(C->err);
    free(diag_buf);
    ctx_free(C);
}

static const char *diags(void)
{
    fflush(C->err);
    return diag_buf ? diag_buf : "";
}

static int cst(DType dt, int rank, const int64_t *dims, const void *data)
{
    Type t = type_make(dt, rank, dims);
    int v = ir_add_const(C, G, ir_fresh_name(G), t,
                         arena_memdup(C->arena, data, type_bytes(&t) ? type_bytes(&t) : 1),
                         (Loc){0});
    cr_assert(v >= 0);
    return v;
}

static int new_node(int op, const int *in, int nin, int nout)
{
    int n = ir_new_node(C, G, op, in, nin, nout, (Loc){"t.etch", 3, 5});
    cr_assert(n >= 0);
    return n;
}

static void set_ints(int n, const char *name, int count, const int64_t *v)
{
    Attr a = {.type = AT_INTS, .n = count,
              .ints = arena_memdup(C->arena, v, (size_t)(count ? count : 1) * sizeof *v)};
    cr_assert(ir_set_attr(C, G, n, name, &a, (Loc){0}));
}

static void set_int(int n, const char *name, int64_t v)
{
    Attr a = {.type = AT_INT, .i = v};
    cr_assert(ir_set_attr(C, G, n, name, &a, (Loc){0}));
}

static void set_str(int n, const char *name, const char *s)
{
    Attr a = {.type = AT_STR, .s = s};
    cr_assert(ir_set_attr(C, G, n, name, &a, (Loc){0}));
}

/* Marks every output of node n as a graph output and runs the graph. */
static Tensor *run(int n)
{
    cr_assert(ir_finish_node(C, G, n), "inference failed: %s", diags());
    Node *node = ir_node(G, n);
    for (int o = 0; o < node->nout; o++)
        cr_assert(ir_add_output(C, G, node->out[o], (Loc){0}));
    Tensor *out = arena_alloc(C->arena, (size_t)G->noutputs * sizeof *out);
    cr_assert(interp_run(C, G, NULL, out), "interp failed: %s", diags());
    return out;
}

static void expect_shape(const Tensor *t, int rank, const int64_t *dims)
{
    char s[128];
    cr_assert_eq(t->type.rank, rank, "rank %d, want %d (%s)", t->type.rank, rank,
                 shape_str(&t->type, s, sizeof s));
    for (int i = 0; i < rank; i++)
        cr_assert_eq(t->type.dims[i], dims[i], "dim %d is %lld, want %lld (%s)", i,
                     (long long)t->type.dims[i], (long long)dims[i],
                     shape_str(&t->type, s, sizeof s));
}

static void expect_f(const Tensor *t, int64_t n, const float *want)
{
    cr_assert_eq(type_numel(&t->type), n);
    for (int64_t i = 0; i < n; i++)
        cr_assert_float_eq(tensor_getf(t, i), want[i], 1e-5 * fmax(1.0, fabs(want[i])),
                           "element %lld: %g, want %g", (long long)i,
                           (double)tensor_getf(t, i), (double)want[i]);
}

static void expect_i64(const Tensor *t, int64_t n, const int64_t *want)
{
    cr_assert_eq(t->type.dtype, DT_I64);
    cr_assert_eq(type_numel(&t->type), n);
    for (int64_t i = 0; i < n; i++)
        cr_assert_eq(((const int64_t *)t->data)[i], want[i], "element %lld: %lld, want %lld",
                     (long long)i, (long long)((const int64_t *)t->data)[i], (long long)want[i]);
}

/* Lowers the graph (already run by run()) and checks loop_eval's outputs
 * equal the interpreter's bit for bit. */
static void expect_lowered_same(const Tensor *ref)
{
    Module m = {.graph = G};
    cr_assert(pipeline_run(C, &m, NULL) && m.prog, "pipeline failed: %s", diags());
    Program *p = m.prog;
    void *outs[8];
    cr_assert(p->noutputs <= 8);
    for (int i = 0; i < p->noutputs; i++)
        outs[i] = calloc((size_t)p->bufs[p->outputs[i]].numel + 1, 8);
    void *ws = calloc((size_t)p->workspace_size + 1, 1);
    cr_assert(loop_eval(p, NULL, outs, ws));
    for (int i = 0; i < p->noutputs; i++) {
        size_t bytes = type_bytes(&ref[i].type);
        cr_assert(memcmp(outs[i], ref[i].data, bytes) == 0, "output %d differs from the interpreter", i);
        free(outs[i]);
    }
    free(ws);
}

/* Expects inference of node n to fail with a diagnostic containing every
 * given fragment (NULL-terminated). */
static void expect_error(int n, ...)
{
    cr_assert(!ir_finish_node(C, G, n), "inference unexpectedly succeeded");
    const char *d = diags();
    va_list ap;
    va_start(ap, n);
    for (const char *frag; (frag = va_arg(ap, const char *));)
        cr_assert(strstr(d, frag), "diagnostic lacks \"%s\":\n%s", frag, d);
    va_end(ap);
    cr_assert(strstr(d, "t.etch:3:5: error:"), "diagnostic lacks the location:\n%s", d);
}

static const int64_t D2x2[2] = {2, 2}, D2x3[2] = {2, 3}, D1[1] = {1};

/* ------------------------------------------------------------ reduce */

TestSuite(shape_ops, .init = setup, .fini = teardown);

Test(shape_ops, reduce_kinds_keepdims)
{
    static const float x[6] = {1, -2, 3, 4, 0.5f, -6};
    struct { int op; float want[2]; } cases[] = {
        {OP_REDUCE_MIN, {-2, -6}},
        {OP_REDUCE_PROD, {-6, -12}},
        {OP_REDUCE_L1, {6, 10.5f}},
        {OP_REDUCE_L2, {3.7416574f, 7.2284161f}},
        {OP_REDUCE_SUM_SQUARE, {14, 52.25f}},
        {OP_REDUCE_LOG_SUM_EXP, {3.1328452f, 4.0297945f}},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        teardown();
        setup();
        int in = cst(DT_F32, 2, D2x3, x);
        int n = new_node(cases[k].op, &in, 1, 1);
        int64_t axes[1] = {-1};
        set_ints(n, "axes", 1, axes);
        set_int(n, "keepdims", (int64_t)(k % 2));
        Tensor *y = run(n);
        int64_t kept[2] = {2, 1};
        expect_shape(y, k % 2 ? 2 : 1, kept);
        expect_f(y, 2, cases[k].want);
    }
}

Test(shape_ops, reduce_log_sum_all_axes)
{
    static const float x[4] = {1, 2, 3, 4};
    int in = cst(DT_F32, 2, D2x2, x);
    int n = new_node(OP_REDUCE_LOG_SUM, &in, 1, 1);
    set_int(n, "keepdims", 0);
    Tensor *y = run(n);
    expect_shape(y, 0, NULL);
    float want = (float)log(10.0);
    expect_f(y, 1, &want);
}

Test(shape_ops, reduce_log_sum_exp_large_values)
{
    /* Naively exp(1000) overflows; subtracting the max does not. */
    static const float x[2] = {1000, 1000};
    int in = cst(DT_F32, 1, (int64_t[]){2}, x);
    int n = new_node(OP_REDUCE_LOG_SUM_EXP, &in, 1, 1);
    Tensor *y = run(n);
    float want = 1000 + (float)log(2.0);
    expect_f(y, 1, &want);
    expect_lowered_same(y);
}

Test(shape_ops, reduce_min_prod_int)
{
    static const int32_t x[6] = {3, -7, 2, 5, 5, -1};
    int in = cst(DT_I32, 2, D2x3, x);
    int n = new_node(OP_REDUCE_MIN, &in, 1, 1);
    int64_t axes[1] = {0};
    set_ints(n, "axes", 1, axes);
    Tensor *y = run(n);
    int64_t dims[2] = {1, 3};
    expect_shape(y, 2, dims);
    const int32_t *v = y->data;
    cr_assert(v[0] == 3 && v[1] == -7 && v[2] == -1);
    int p = new_node(OP_REDUCE_PROD, &in, 1, 1);
    set_int(p, "keepdims", 0);
    cr_assert(ir_finish_node(C, G, p));
    cr_assert(ir_add_output(C, G, ir_node(G, p)->out[0], (Loc){0}));
    Tensor out[2];
    cr_assert(interp_run(C, G, NULL, out));
    cr_assert_eq(*(const int32_t *)out[1].data, 3 * -7 * 2 * 5 * 5 * -1);
}

Test(shape_ops, reduce_log_sum_rejects_int)
{
    static const int32_t x[6] = {1, 2, 3, 4, 5, 6};
    int in = cst(DT_I32, 2, D2x3, x);
    int n = new_node(OP_REDUCE_LOG_SUM, &in, 1, 1);
    expect_error(n, "reduce_log_sum", "i32[2, 3]", "float", NULL);
}

/* ------------------------------------------------------ argmax/argmin */

Test(shape_ops, argmax_select_last_index)
{
    static const float x[6] = {2, 5, 5, 7, 1, 7};
    int in = cst(DT_F32, 2, D2x3, x);
    int first = new_node(OP_ARGMAX, &in, 1, 1);
    set_int(first, "axis", 1);
    Tensor *y = run(first);
    int64_t kd[2] = {2, 1};
    expect_shape(y, 2, kd);
    expect_i64(y, 2, (int64_t[]){1, 0});

    int last = new_node(OP_ARGMAX, &in, 1, 1);
    set_int(last, "axis", -1);
    set_int(last, "keepdims", 0);
    set_int(last, "select_last_index", 1);
    cr_assert(ir_finish_node(C, G, last));
    cr_assert(ir_add_output(C, G, ir_node(G, last)->out[0], (Loc){0}));
    Tensor out[2];
    cr_assert(interp_run(C, G, NULL, out));
    expect_shape(&out[1], 1, (int64_t[]){2});
    expect_i64(&out[1], 2, (int64_t[]){2, 2});
    expect_lowered_same(out);
}

Test(shape_ops, argmin_axis0_int)
{
    static const int8_t x[6] = {4, -1, 3, 4, -1, 0};
    int in = cst(DT_I8, 2, D2x3, x);
    int n = new_node(OP_ARGMIN, &in, 1, 1);
    set_int(n, "select_last_index", 1);
    Tensor *y = run(n);
    expect_shape(y, 2, (int64_t[]){1, 3});
    expect_i64(y, 3, (int64_t[]){1, 1, 1});
}

Test(shape_ops, argmax_bad_axis)
{
    static const float x[6] = {1, 2, 3, 4, 5, 6};
    int in = cst(DT_F32, 2, D2x3, x);
    int n = new_node(OP_ARGMAX, &in, 1, 1);
    set_int(n, "axis", 2);
    expect_error(n, "argmax", "axis 2", NULL);
}

/* -------------------------------------------------- squeeze/unsqueeze */

Test(shape_ops, unsqueeze_and_squeeze_shapes)
{
    static const float x[6] = {1, 2, 3, 4, 5, 6};
    int in = cst(DT_F32, 2, D2x3, x);
    int u = new_node(OP_UNSQUEEZE, &in, 1, 1);
    set_ints(u, "axes", 2, (int64_t[]){-1, 0});
    Tensor *y = run(u);
    expect_shape(y, 4, (int64_t[]){1, 2, 3, 1});
    expect_f(y, 6, x);
    int uo = ir_node(G, u)->out[0];
    int s = new_node(OP_SQUEEZE, &uo, 1, 1);
    cr_assert(ir_finish_node(C, G, s));
    expect_shape(&(Tensor){.type = *ir_out_type(G, ir_node(G, s), 0)}, 2, D2x3);
}

Test(shape_ops, squeeze_non_one_dim)
{
    static const float x[6] = {1, 2, 3, 4, 5, 6};
    int in = cst(DT_F32, 2, D2x3, x);
    int n = new_node(OP_SQUEEZE, &in, 1, 1);
    set_ints(n, "axes", 1, (int64_t[]){1});
    expect_error(n, "squeeze", "[2, 3]", "dim 1", "not 1", NULL);
}

Test(shape_ops, unsqueeze_repeated_axis)
{
    static const float x[6] = {1, 2, 3, 4, 5, 6};
    int in = cst(DT_F32, 2, D2x3, x);
    int n = new_node(OP_UNSQUEEZE, &in, 1, 1);
    set_ints(n, "axes", 2, (int64_t[]){3, -1});
    expect_error(n, "unsqueeze", "twice", NULL);
}

/* -------------------------------------------------------------- split */

Test(shape_ops, split_uneven_equal_parts)
{
    static const float x[5] = {1, 2, 3, 4, 5};
    int in = cst(DT_F32, 1, (int64_t[]){5}, x);
    int n = new_node(OP_SPLIT, &in, 1, 2);
    Tensor *y = run(n);
    expect_shape(&y[0], 1, (int64_t[]){3});
    expect_shape(&y[1], 1, (int64_t[]){2});
    expect_f(&y[0], 3, x);
    expect_f(&y[1], 2, x + 3);
    expect_lowered_same(y);
}

Test(shape_ops, split_explicit_sizes_axis1)
{
    static const int64_t x[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    int in = cst(DT_I64, 2, (int64_t[]){2, 4}, x);
    int n = new_node(OP_SPLIT, &in, 1, 3);
    set_int(n, "axis", -1);
    set_ints(n, "split", 3, (int64_t[]){1, 0, 3});
    Tensor *y = run(n);
    expect_shape(&y[0], 2, (int64_t[]){2, 1});
    expect_shape(&y[1], 2, (int64_t[]){2, 0});
    expect_shape(&y[2], 2, (int64_t[]){2, 3});
    expect_i64(&y[0], 2, (int64_t[]){1, 5});
    expect_i64(&y[2], 6, (int64_t[]){2, 3, 4, 6, 7, 8});
}

Test(shape_ops, split_sizes_do_not_sum)
{
    static const float x[5] = {1, 2, 3, 4, 5};
    int in = cst(DT_F32, 1, (int64_t[]){5}, x);
    int n = new_node(OP_SPLIT, &in, 1, 2);
    set_ints(n, "split", 2, (int64_t[]){2, 2});
    expect_error(n, "split", "[2, 2]", "sums to 4", "[5]", NULL);
}

/* -------------------------------------------------------------- slice */

Test(shape_ops, slice_onnx_example)
{
    /* ONNX Slice doc: data [[1,2,3,4],[5,6,7,8]], axes [0,1], starts [1,0],
     * ends [2,3], steps [1,2] -> [[5,7]]. */
    static const float x[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    int in = cst(DT_F32, 2, (int64_t[]){2, 4}, x);
    int n = new_node(OP_SLICE, &in, 1, 1);
    set_ints(n, "axes", 2, (int64_t[]){0, 1});
    set_ints(n, "starts", 2, (int64_t[]){1, 0});
    set_ints(n, "ends", 2, (int64_t[]){2, 3});
    set_ints(n, "steps", 2, (int64_t[]){1, 2});
    Tensor *y = run(n);
    expect_shape(y, 2, (int64_t[]){1, 2});
    expect_f(y, 2, (float[]){5, 7});
}

Test(shape_ops, slice_negative_step_int64_min_end)
{
    /* starts -1, ends INT64_MIN, step -3 over 10 elements: 9, 6, 3, 0. */
    static const int16_t x[10] = {0, 10, 20, 30, 40, 50, 60, 70, 80, 90};
    int in = cst(DT_I16, 1, (int64_t[]){10}, x);
    int n = new_node(OP_SLICE, &in, 1, 1);
    set_ints(n, "starts", 1, (int64_t[]){-1});
    set_ints(n, "ends", 1, (int64_t[]){INT64_MIN});
    set_ints(n, "steps", 1, (int64_t[]){-3});
    Tensor *y = run(n);
    expect_shape(y, 1, (int64_t[]){4});
    expect_f(y, 4, (float[]){90, 60, 30, 0});
    expect_lowered_same(y);
}

Test(shape_ops, slice_clamps_and_empty)
{
    static const float x[6] = {1, 2, 3, 4, 5, 6};
    int in = cst(DT_F32, 2, D2x3, x);
    /* ends past the dim clamp; INT64_MAX is "to the end". */
    int a = new_node(OP_SLICE, &in, 1, 1);
    set_ints(a, "starts", 2, (int64_t[]){-100, 1});
    set_ints(a, "ends", 2, (int64_t[]){INT64_MAX, 1000});
    Tensor *y = run(a);
    expect_shape(y, 2, (int64_t[]){2, 2});
    expect_f(y, 4, (float[]){2, 3, 5, 6});
    /* A start beyond the end gives an empty dim, not an error. */
    int b = new_node(OP_SLICE, &in, 1, 1);
    set_ints(b, "axes", 1, (int64_t[]){1});
    set_ints(b, "starts", 1, (int64_t[]){1000});
    set_ints(b, "ends", 1, (int64_t[]){1001});
    cr_assert(ir_finish_node(C, G, b));
    Type t = *ir_out_type(G, ir_node(G, b), 0);
    cr_assert(t.rank == 2 && t.dims[0] == 2 && t.dims[1] == 0);
}

Test(shape_ops, slice_zero_step)
{
    static const float x[6] = {1, 2, 3, 4, 5, 6};
    int in = cst(DT_F32, 2, D2x3, x);
    int n = new_node(OP_SLICE, &in, 1, 1);
    set_ints(n, "starts", 1, (int64_t[]){0});
    set_ints(n, "ends", 1, (int64_t[]){2});
    set_ints(n, "steps", 1, (int64_t[]){0});
    expect_error(n, "slice", "0 step", NULL);
}

/* ------------------------------------------------------------- gather */

Test(shape_ops, gather_negative_indices)
{
    static const float x[6] = {1, 2, 3, 4, 5, 6};
    int in[2] = {cst(DT_F32, 2, (int64_t[]){3, 2}, x),
                 cst(DT_I64, 1, (int64_t[]){3}, (int64_t[]){-1, 0, -3})};
    int n = new_node(OP_GATHER, in, 2, 1);
    Tensor *y = run(n);
    expect_shape(y, 2, (int64_t[]){3, 2});
    expect_f(y, 6, (float[]){5, 6, 1, 2, 1, 2});
    expect_lowered_same(y);
}

Test(shape_ops, gather_axis1_i32_indices_int8_data)
{
    static const int8_t x[6] = {1, 2, 3, 4, 5, 6};
    int in[2] = {cst(DT_I8, 2, D2x3, x),
                 cst(DT_I32, 2, (int64_t[]){2, 2}, (int32_t[]){2, -3, -1, 1})};
    int n = new_node(OP_GATHER, in, 2, 1);
    set_int(n, "axis", -1);
    Tensor *y = run(n);
    expect_shape(y, 3, (int64_t[]){2, 2, 2});
    cr_assert_eq(y->type.dtype, DT_I8);
    expect_f(y, 8, (float[]){3, 1, 3, 2, 6, 4, 6, 5});
}

Test(shape_ops, gather_const_index_out_of_range)
{
    static const float x[6] = {1, 2, 3, 4, 5, 6};
    int in[2] = {cst(DT_F32, 2, D2x3, x), cst(DT_I64, 1, D1, (int64_t[]){3})};
    int n = new_node(OP_GATHER, in, 2, 1);
    set_int(n, "axis", 1);
    expect_error(n, "gather", "index 3", "[-3, 2]", "[2, 3]", NULL);
}

Test(shape_ops, gather_float_indices)
{
    static const float x[6] = {1, 2, 3, 4, 5, 6};
    int in[2] = {cst(DT_F32, 2, D2x3, x), cst(DT_F32, 1, D1, (float[]){1})};
    int n = new_node(OP_GATHER, in, 2, 1);
    expect_error(n, "gather", "f32[1]", "i32 or i64", NULL);
}

/* ------------------------------------------------------ expand and tile */

Test(shape_ops, expand_bidirectional)
{
    static const float x[3] = {1, 2, 3};
    int in = cst(DT_F32, 2, (int64_t[]){3, 1}, x);
    int n = new_node(OP_EXPAND, &in, 1, 1);
    set_ints(n, "shape", 3, (int64_t[]){2, 1, 2});
    Tensor *y = run(n);
    expect_shape(y, 3, (int64_t[]){2, 3, 2});
    expect_f(y, 12, (float[]){1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3});
}

Test(shape_ops, expand_incompatible)
{
    static const float x[3] = {1, 2, 3};
    int in = cst(DT_F32, 1, (int64_t[]){3}, x);
    int n = new_node(OP_EXPAND, &in, 1, 1);
    set_ints(n, "shape", 2, (int64_t[]){2, 4});
    expect_error(n, "expand", "[3]", "[2, 4]", NULL);
}

Test(shape_ops, tile_repeats)
{
    static const float x[4] = {1, 2, 3, 4};
    int in = cst(DT_F32, 2, D2x2, x);
    int n = new_node(OP_TILE, &in, 1, 1);
    set_ints(n, "repeats", 2, (int64_t[]){2, 2});
    Tensor *y = run(n);
    expect_shape(y, 2, (int64_t[]){4, 4});
    expect_f(y, 16, (float[]){1, 2, 1, 2, 3, 4, 3, 4, 1, 2, 1, 2, 3, 4, 3, 4});
    expect_lowered_same(y);
}

Test(shape_ops, tile_wrong_repeats)
{
    static const float x[4] = {1, 2, 3, 4};
    int in = cst(DT_F32, 2, D2x2, x);
    int n = new_node(OP_TILE, &in, 1, 1);
    set_ints(n, "repeats", 1, (int64_t[]){2});
    expect_error(n, "tile", "repeats [2]", "[2, 2]", "rank 2", NULL);
}

/* ------------------------------------------ depth_to_space, space_to_depth */

static const float D2S_DCR[48] = {
    0, 12, 1, 13, 2, 14, 24, 36, 25, 37, 26, 38, 3, 15, 4, 16, 5, 17, 27, 39, 28, 40, 29, 41,
    6, 18, 7, 19, 8, 20, 30, 42, 31, 43, 32, 44, 9, 21, 10, 22, 11, 23, 33, 45, 34, 46, 35, 47};
static const float D2S_CRD[48] = {
    0, 6, 1, 7, 2, 8, 12, 18, 13, 19, 14, 20, 3, 9, 4, 10, 5, 11, 15, 21, 16, 22, 17, 23,
    24, 30, 25, 31, 26, 32, 36, 42, 37, 43, 38, 44, 27, 33, 28, 34, 29, 35, 39, 45, 40, 46, 41, 47};

/* ONNX DepthToSpace doc example: x = arange(48).reshape(1, 8, 2, 3), blocksize 2. */
static void d2s_case(const char *mode, const float *want)
{
    float x[48];
    for (int i = 0; i < 48; i++)
        x[i] = (float)i;
    int in = cst(DT_F32, 4, (int64_t[]){1, 8, 2, 3}, x);
    int n = new_node(OP_DEPTH_TO_SPACE, &in, 1, 1);
    set_int(n, "blocksize", 2);
    set_str(n, "mode", mode);
    Tensor *y = run(n);
    expect_shape(y, 4, (int64_t[]){1, 2, 4, 6});
    expect_f(y, 48, want);
    expect_lowered_same(y);
}

Test(shape_ops, depth_to_space_dcr) { d2s_case("DCR", D2S_DCR); }
Test(shape_ops, depth_to_space_crd) { d2s_case("CRD", D2S_CRD); }

Test(shape_ops, space_to_depth_inverts_dcr)
{
    int in = cst(DT_F32, 4, (int64_t[]){1, 2, 4, 6}, D2S_DCR);
    int n = new_node(OP_SPACE_TO_DEPTH, &in, 1, 1);
    set_int(n, "blocksize", 2);
    Tensor *y = run(n);
    expect_shape(y, 4, (int64_t[]){1, 8, 2, 3});
    float x[48];
    for (int i = 0; i < 48; i++)
        x[i] = (float)i;
    expect_f(y, 48, x);
    expect_lowered_same(y);
}

Test(shape_ops, depth_to_space_bad_channels)
{
    float x[12] = {1};
    int in = cst(DT_F32, 4, (int64_t[]){1, 3, 2, 2}, x);
    int n = new_node(OP_DEPTH_TO_SPACE, &in, 1, 1);
    set_int(n, "blocksize", 2);
    expect_error(n, "depth_to_space", "[1, 3, 2, 2]", "blocksize^2 = 4", NULL);
}
