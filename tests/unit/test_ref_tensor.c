/* test_ref_tensor.c: inference rules and reference implementations of the
 * elementwise and data-movement ops (ir/infer_tensor.c, ir/ref_tensor.c).
 *
 * Graphs are built with the builder API; each reference op runs directly
 * through its op-table entry on constant inputs and is compared with hand
 * computed numbers (or, for the randomized cases, with a naive loop written
 * independently here). Error cases check that the diagnostic names the
 * node and both shapes.
 */
#define _POSIX_C_SOURCE 200809L

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ir/ir.h"

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

static Type ty(DType dt, int rank, const int64_t *dims) { return type_make(dt, rank, dims); }

static int in_f32(const char *name, int rank, const int64_t *dims)
{
    int v = ir_add_input(C, G, name, ty(DT_F32, rank, dims), (Loc){0});
    cr_assert(v >= 0);
    return v;
}

static int cst(const char *name, DType dt, int rank, const int64_t *dims, const void *data)
{
    Type t = ty(dt, rank, dims);
    int v = ir_add_const(C, G, name, t, arena_memdup(C->arena, data, type_bytes(&t)), (Loc){0});
    cr_assert(v >= 0);
    return v;
}

static int cst_f(const char *name, int rank, const int64_t *dims, const float *data)
{
    return cst(name, DT_F32, rank, dims, data);
}

static int new_node(int op, const int *in, int nin)
{
    return ir_new_node(C, G, op, in, nin, 1, (Loc){"t.etch", 1, 1});
}

static void set_ints(int n, const char *name, const int64_t *v, int count)
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

static void set_float(int n, const char *name, double v)
{
    Attr a = {.type = AT_FLOAT, .f = v};
    cr_assert(ir_set_attr(C, G, n, name, &a, (Loc){0}));
}

static void set_str(int n, const char *name, const char *s)
{
    Attr a = {.type = AT_STR, .s = s};
    cr_assert(ir_set_attr(C, G, n, name, &a, (Loc){0}));
}

/* Finishes node n; returns its output type, or NULL after a diagnostic. */
static const Type *finish(int n)
{
    if (!ir_finish_node(C, G, n))
        return NULL;
    return ir_out_type(G, ir_node(G, n), 0);
}

static const Type *node1(int op, int a) { return finish(new_node(op, &a, 1)); }
static const Type *node2(int op, int a, int b)
{
    int in[2] = {a, b};
    return finish(new_node(op, in, 2));
}

static void expect_shape(const Type *t, int rank, const int64_t *dims)
{
    cr_assert(t, "inference failed: %s", diags());
    char got[256], want[256];
    Type w = type_make(t->dtype, rank, dims);
    cr_assert(type_equal(t, &w), "shape %s, expected %s", shape_str(t, got, sizeof got),
              shape_str(&w, want, sizeof want));
}

static void expect_error(const Type *t, const char *s1, const char *s2)
{
    cr_assert_null(t, "inference should fail");
    const char *d = diags();
    cr_assert(C->nerrors > 0);
    cr_assert(strstr(d, s1), "diagnostic lacks '%s': %s", s1, d);
    if (s2)
        cr_assert(strstr(d, s2), "diagnostic lacks '%s': %s", s2, d);
    cr_assert(strstr(d, "t.etch:1:1: error:"), "no location: %s", d);
}

/* Runs node n's reference implementation on its (constant) inputs. */
static Tensor run(int n)
{
    const Node *nd = ir_node(G, n);
    Tensor in[8];
    for (int i = 0; i < nd->nin; i++)
        in[i] = (Tensor){.type = ir_value(G, nd->in[i])->type, .data = ir_value(G, nd->in[i])->data};
    Tensor out = {.type = *ir_out_type(G, nd, 0)};
    out.data = arena_alloc(C->arena, type_bytes(&out.type) + 1);
    op_info(nd->op)->ref(G, nd, in, &out);
    return out;
}

static void expect_f(const Tensor *t, const float *want, int64_t n, double tol)
{
    cr_assert_eq(type_numel(&t->type), n);
    for (int64_t i = 0; i < n; i++) {
        float got = ((const float *)t->data)[i];
        cr_assert(fabs((double)got - want[i]) <= tol, "element %lld: got %.7g, expected %.7g",
                  (long long)i, got, want[i]);
    }
}

/* Builds op(inputs) with attributes already set by the caller on node n. */
static Tensor run_checked(int n)
{
    cr_assert(finish(n), "inference failed: %s", diags());
    return run(n);
}

static uint64_t rng_state;
static float rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (float)((rng_state >> 11) % 20001) / 5000.0f - 2.0f; /* [-2, 2] */
}

TestSuite(ref_tensor, .init = setup, .fini = teardown);

/* ---------------------------------------------------------- inference */

Test(ref_tensor, infer_broadcast_shapes)
{
    int a = in_f32("a", 2, (int64_t[]){2, 3}), b = in_f32("b", 1, (int64_t[]){3});
    expect_shape(node2(OP_ADD, a, b), 2, (int64_t[]){2, 3});
    int c = in_f32("c", 2, (int64_t[]){2, 1}), d = in_f32("d", 2, (int64_t[]){1, 3});
    expect_shape(node2(OP_SUB, c, d), 2, (int64_t[]){2, 3});
    int s = in_f32("s", 0, NULL);
    expect_shape(node2(OP_MUL, s, a), 2, (int64_t[]){2, 3});
    expect_shape(node2(OP_DIV, s, s), 0, NULL);
    int e = in_f32("e", 3, (int64_t[]){4, 1, 5}), f = in_f32("f", 3, (int64_t[]){1, 3, 1});
    expect_shape(node2(OP_MUL, e, f), 3, (int64_t[]){4, 3, 5});
}

Test(ref_tensor, infer_broadcast_errors)
{
    int a = in_f32("a", 2, (int64_t[]){2, 3}), b = in_f32("b", 1, (int64_t[]){4});
    expect_error(node2(OP_ADD, a, b), "[2, 3]", "[4]");
    cr_assert(strstr(diags(), "(add)"), "%s", diags());
    int i = ir_add_input(C, G, "i", ty(DT_I32, 2, (int64_t[]){2, 3}), (Loc){0});
    expect_error(node2(OP_MUL, a, i), "f32[2, 3]", "i32[2, 3]");
}

Test(ref_tensor, infer_axis_helper)
{
    int a = in_f32("a", 1, (int64_t[]){3});
    int n = new_node(OP_RELU, &a, 1);
    int ax = 99;
    cr_assert(infer_axis(C, ir_node(G, n), -1, 3, &ax));
    cr_assert_eq(ax, 2);
    cr_assert(infer_axis(C, ir_node(G, n), 0, 3, &ax));
    cr_assert_eq(ax, 0);
    cr_assert_not(infer_axis(C, ir_node(G, n), 3, 3, &ax));
    cr_assert_not(infer_axis(C, ir_node(G, n), -4, 3, &ax));
    cr_assert(strstr(diags(), "axis -4"), "%s", diags());
}

Test(ref_tensor, infer_same_and_dtypes)
{
    int a = in_f32("a", 3, (int64_t[]){1, 2, 3});
    expect_shape(node1(OP_SIGMOID, a), 3, (int64_t[]){1, 2, 3});
    int i = ir_add_input(C, G, "i", ty(DT_I8, 1, (int64_t[]){4}), (Loc){0});
    const Type *t = node1(OP_RELU, i);
    expect_shape(t, 1, (int64_t[]){4});
    cr_assert_eq(t->dtype, DT_I8);
    expect_error(node1(OP_EXP, i), "i8[4]", "exp");
}

Test(ref_tensor, infer_clip_bounds)
{
    int a = in_f32("a", 1, (int64_t[]){4});
    int n = new_node(OP_CLIP, &a, 1);
    set_float(n, "min", 3);
    set_float(n, "max", 1);
    expect_error(finish(n), "min 3", "max 1");
}

Test(ref_tensor, infer_reshape)
{
    int a = in_f32("a", 3, (int64_t[]){2, 3, 4});
    int n = new_node(OP_RESHAPE, &a, 1);
    set_ints(n, "shape", (int64_t[]){0, -1}, 2);
    expect_shape(finish(n), 2, (int64_t[]){2, 12});
    n = new_node(OP_RESHAPE, &a, 1);
    set_ints(n, "shape", (int64_t[]){4, 3, 2}, 3);
    expect_shape(finish(n), 3, (int64_t[]){4, 3, 2});
    n = new_node(OP_RESHAPE, &a, 1);
    set_ints(n, "shape", (int64_t[]){-1}, 1);
    expect_shape(finish(n), 1, (int64_t[]){24});
    /* allowzero: a 0 is a real zero-sized dim, so numel must be 0. */
    int z = in_f32("z", 2, (int64_t[]){0, 3});
    n = new_node(OP_RESHAPE, &z, 1);
    set_ints(n, "shape", (int64_t[]){3, 0}, 2);
    set_int(n, "allowzero", 1);
    expect_shape(finish(n), 2, (int64_t[]){3, 0});
}

Test(ref_tensor, infer_reshape_errors)
{
    int a = in_f32("a", 2, (int64_t[]){2, 3});
    int n = new_node(OP_RESHAPE, &a, 1);
    set_ints(n, "shape", (int64_t[]){4, 2}, 2);
    expect_error(finish(n), "[2, 3]", "[4, 2]");
    n = new_node(OP_RESHAPE, &a, 1);
    set_ints(n, "shape", (int64_t[]){-1, -1}, 2);
    expect_error(finish(n), "more than one -1", NULL);
    n = new_node(OP_RESHAPE, &a, 1);
    set_ints(n, "shape", (int64_t[]){-1, 4}, 2);
    expect_error(finish(n), "[2, 3]", "[-1, 4]");
    n = new_node(OP_RESHAPE, &a, 1);
    set_ints(n, "shape", (int64_t[]){1, 1, 0}, 3);
    expect_error(finish(n), "[1, 1, 0]", "[2, 3]");
}

Test(ref_tensor, infer_flatten)
{
    int a = in_f32("a", 3, (int64_t[]){2, 3, 4});
    int axes[] = {0, 1, 2, 3, -1, -3};
    int64_t want[][2] = {{1, 24}, {2, 12}, {6, 4}, {24, 1}, {6, 4}, {1, 24}};
    for (int i = 0; i < 6; i++) {
        int n = new_node(OP_FLATTEN, &a, 1);
        set_int(n, "axis", axes[i]);
        expect_shape(finish(n), 2, want[i]);
    }
    int n = new_node(OP_FLATTEN, &a, 1);
    set_int(n, "axis", 4);
    expect_error(finish(n), "axis 4", "[2, 3, 4]");
}

Test(ref_tensor, infer_transpose)
{
    int a = in_f32("a", 3, (int64_t[]){2, 3, 4});
    expect_shape(node1(OP_TRANSPOSE, a), 3, (int64_t[]){4, 3, 2});
    int n = new_node(OP_TRANSPOSE, &a, 1);
    set_ints(n, "perm", (int64_t[]){1, 2, 0}, 3);
    expect_shape(finish(n), 3, (int64_t[]){3, 4, 2});
    n = new_node(OP_TRANSPOSE, &a, 1);
    set_ints(n, "perm", (int64_t[]){0, 0, 1}, 3);
    expect_error(finish(n), "not a permutation", "[2, 3, 4]");
    n = new_node(OP_TRANSPOSE, &a, 1);
    set_ints(n, "perm", (int64_t[]){1, 0}, 2);
    expect_error(finish(n), "2 entries", "[2, 3, 4]");
}

Test(ref_tensor, infer_concat)
{
    int a = in_f32("a", 2, (int64_t[]){2, 3}), b = in_f32("b", 2, (int64_t[]){2, 4});
    int in[3] = {a, b, a};
    int n = new_node(OP_CONCAT, in, 3);
    set_int(n, "axis", -1);
    expect_shape(finish(n), 2, (int64_t[]){2, 10});
    n = new_node(OP_CONCAT, in, 2);
    set_int(n, "axis", 0);
    expect_error(finish(n), "[2, 4]", "[2, 3]");
    n = new_node(OP_CONCAT, in, 2);
    set_int(n, "axis", 2);
    expect_error(finish(n), "axis 2", NULL);
    int i = ir_add_input(C, G, "i", ty(DT_I32, 2, (int64_t[]){2, 3}), (Loc){0});
    int in2[2] = {a, i};
    n = new_node(OP_CONCAT, in2, 2);
    set_int(n, "axis", 0);
    expect_error(finish(n), "i32[2, 3]", "f32[2, 3]");
}

Test(ref_tensor, infer_pad)
{
    int a = in_f32("a", 2, (int64_t[]){2, 3});
    int n = new_node(OP_PAD, &a, 1);
    set_ints(n, "pads", (int64_t[]){1, 0, 1, 2}, 4);
    expect_shape(finish(n), 2, (int64_t[]){4, 5});
    n = new_node(OP_PAD, &a, 1);
    set_ints(n, "pads", (int64_t[]){0, -1, 0, -1}, 4);
    expect_shape(finish(n), 2, (int64_t[]){2, 1});
    n = new_node(OP_PAD, &a, 1);
    set_ints(n, "pads", (int64_t[]){0, 3, 0, 0}, 4);
    set_str(n, "mode", "reflect");
    expect_error(finish(n), "reflect", "[2, 3]");
    n = new_node(OP_PAD, &a, 1);
    set_ints(n, "pads", (int64_t[]){0, 0, 0, 0}, 4);
    set_str(n, "mode", "wrap");
    expect_error(finish(n), "\"wrap\"", NULL);
    n = new_node(OP_PAD, &a, 1);
    set_ints(n, "pads", (int64_t[]){1, 1}, 2);
    expect_error(finish(n), "2 entries", "[2, 3]");
    n = new_node(OP_PAD, &a, 1);
    set_ints(n, "pads", (int64_t[]){0, -2, 0, -2}, 4);
    expect_error(finish(n), "negative size", "[2, 3]");
}

Test(ref_tensor, infer_reduce)
{
    int a = in_f32("a", 3, (int64_t[]){2, 3, 4});
    int n = new_node(OP_REDUCE_MEAN, &a, 1);
    set_ints(n, "axes", (int64_t[]){1}, 1);
    expect_shape(finish(n), 3, (int64_t[]){2, 1, 4});
    n = new_node(OP_REDUCE_SUM, &a, 1);
    set_ints(n, "axes", (int64_t[]){1}, 1);
    set_int(n, "keepdims", 0);
    expect_shape(finish(n), 2, (int64_t[]){2, 4});
    n = new_node(OP_REDUCE_MAX, &a, 1);
    set_ints(n, "axes", (int64_t[]){-1, 0}, 2);
    set_int(n, "keepdims", 0);
    expect_shape(finish(n), 1, (int64_t[]){3});
    expect_shape(node1(OP_REDUCE_SUM, a), 3, (int64_t[]){1, 1, 1});
    n = new_node(OP_REDUCE_SUM, &a, 1);
    set_int(n, "keepdims", 0);
    expect_shape(finish(n), 0, NULL);
    n = new_node(OP_REDUCE_SUM, &a, 1);
    set_int(n, "noop_with_empty_axes", 1);
    expect_shape(finish(n), 3, (int64_t[]){2, 3, 4});

    bool red[IR_MAX_RANK];
    n = new_node(OP_REDUCE_SUM, &a, 1);
    set_ints(n, "axes", (int64_t[]){-2}, 1);
    cr_assert(finish(n));
    ir_reduce_axes(G, ir_node(G, n), red);
    cr_assert(!red[0] && red[1] && !red[2]);
}

Test(ref_tensor, infer_reduce_errors)
{
    int a = in_f32("a", 3, (int64_t[]){2, 3, 4});
    int n = new_node(OP_REDUCE_SUM, &a, 1);
    set_ints(n, "axes", (int64_t[]){1, -2}, 2);
    expect_error(finish(n), "listed twice", NULL);
    n = new_node(OP_REDUCE_MEAN, &a, 1);
    set_ints(n, "axes", (int64_t[]){3}, 1);
    expect_error(finish(n), "axis 3", "rank-3");
}

/* --------------------------------------------------------- references */

Test(ref_tensor, ref_add_broadcast_row)
{
    int a = cst_f("a", 2, (int64_t[]){2, 3}, (float[]){1, 2, 3, 4, 5, 6});
    int b = cst_f("b", 1, (int64_t[]){3}, (float[]){10, 20, 30});
    int in[2] = {a, b};
    Tensor t = run_checked(new_node(OP_ADD, in, 2));
    expect_f(&t, (float[]){11, 22, 33, 14, 25, 36}, 6, 0);
}

Test(ref_tensor, ref_sub_broadcast_outer)
{
    int a = cst_f("a", 2, (int64_t[]){2, 1}, (float[]){1, 2});
    int b = cst_f("b", 2, (int64_t[]){1, 3}, (float[]){10, 20, 30});
    int in[2] = {a, b};
    Tensor t = run_checked(new_node(OP_SUB, in, 2));
    expect_f(&t, (float[]){-9, -19, -29, -8, -18, -28}, 6, 0);
    int in2[2] = {b, a};
    t = run_checked(new_node(OP_SUB, in2, 2));
    expect_f(&t, (float[]){9, 19, 29, 8, 18, 28}, 6, 0);
}

Test(ref_tensor, ref_mul_div_scalar)
{
    int s = cst_f("s", 0, NULL, (float[]){2.5f});
    int a = cst_f("a", 1, (int64_t[]){4}, (float[]){1, -2, 4, 0.5f});
    int in[2] = {a, s};
    Tensor t = run_checked(new_node(OP_MUL, in, 2));
    expect_f(&t, (float[]){2.5f, -5, 10, 1.25f}, 4, 0);
    int in2[2] = {s, a};
    t = run_checked(new_node(OP_DIV, in2, 2));
    expect_f(&t, (float[]){2.5f, -1.25f, 0.625f, 5}, 4, 0);
    int in3[2] = {s, s};
    t = run_checked(new_node(OP_MUL, in3, 2));
    cr_assert_eq(t.type.rank, 0);
    expect_f(&t, (float[]){6.25f}, 1, 0);
}

Test(ref_tensor, ref_int_arith)
{
    int a = cst("a", DT_I8, 1, (int64_t[]){4}, (int8_t[]){100, -7, 7, 5});
    int b = cst("b", DT_I8, 1, (int64_t[]){4}, (int8_t[]){100, 2, -2, 0});
    int in[2] = {a, b};
    Tensor t = run_checked(new_node(OP_ADD, in, 2));
    int8_t *r = t.data;
    cr_assert(r[0] == -56 && r[1] == -5 && r[2] == 5 && r[3] == 5, "%d %d %d %d", r[0], r[1],
              r[2], r[3]);
    t = run_checked(new_node(OP_DIV, in, 2));
    r = t.data;
    /* Division truncates toward zero; x / 0 is defined as 0. */
    cr_assert(r[0] == 1 && r[1] == -3 && r[2] == -3 && r[3] == 0, "%d %d %d %d", r[0], r[1],
              r[2], r[3]);
}

/* A random [3, 1, 4] * [2, 1] against a loop written out by hand. */
Test(ref_tensor, ref_broadcast_random)
{
    rng_state = 0x9e3779b97f4a7c15ULL ^ (uint64_t)time(NULL);
    uint64_t seed = rng_state;
    float a[12], b[2];
    for (int i = 0; i < 12; i++)
        a[i] = rnd();
    for (int i = 0; i < 2; i++)
        b[i] = rnd();
    int va = cst_f("a", 3, (int64_t[]){3, 1, 4}, a), vb = cst_f("b", 2, (int64_t[]){2, 1}, b);
    int in[2] = {va, vb};
    Tensor t = run_checked(new_node(OP_MUL, in, 2));
    expect_shape(&t.type, 3, (int64_t[]){3, 2, 4});
    const float *r = t.data;
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 2; j++)
            for (int k = 0; k < 4; k++)
                cr_assert_eq(r[(i * 2 + j) * 4 + k], a[i * 4 + k] * b[j], "seed %llu",
                             (unsigned long long)seed);
}

Test(ref_tensor, ref_unary_math)
{
    float x[] = {-2, -0.5f, 0, 1, 2};
    int a = cst_f("a", 1, (int64_t[]){5}, x);
    struct { int op; float want[5]; } cases[] = {
        {OP_RELU, {0, 0, 0, 1, 2}},
        {OP_NEG, {2, 0.5f, 0, -1, -2}},
        {OP_ABS, {2, 0.5f, 0, 1, 2}},
        {OP_IDENTITY, {-2, -0.5f, 0, 1, 2}},
        {OP_LEAKY_RELU, {-0.02f, -0.005f, 0, 1, 2}},
        {OP_SIGMOID, {0.11920292f, 0.37754067f, 0.5f, 0.73105858f, 0.88079708f}},
        {OP_TANH, {-0.96402758f, -0.46211716f, 0, 0.76159416f, 0.96402758f}},
        {OP_EXP, {0.13533528f, 0.60653066f, 1, 2.71828183f, 7.3890561f}},
        {OP_GELU, {-0.04550026f, -0.15426877f, 0, 0.84134475f, 1.95449974f}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        Tensor t = run_checked(new_node(cases[i].op, &a, 1));
        cr_log_info("op %s", op_info(cases[i].op)->name);
        expect_f(&t, cases[i].want, 5, 1e-6);
    }
}

Test(ref_tensor, ref_gelu_tanh_and_attrs)
{
    int a = cst_f("a", 1, (int64_t[]){3}, (float[]){-1, 0.5f, 2});
    int n = new_node(OP_GELU, &a, 1);
    set_str(n, "approximate", "tanh");
    Tensor t = run_checked(n);
    expect_f(&t, (float[]){-0.15880801f, 0.34571401f, 1.95459769f}, 3, 1e-6);
    n = new_node(OP_LEAKY_RELU, &a, 1);
    set_float(n, "alpha", 0.25);
    t = run_checked(n);
    expect_f(&t, (float[]){-0.25f, 0.5f, 2}, 3, 0);
    n = new_node(OP_CLIP, &a, 1);
    set_float(n, "min", 0);
    set_float(n, "max", 1);
    t = run_checked(n);
    expect_f(&t, (float[]){0, 0.5f, 1}, 3, 0);
}

Test(ref_tensor, ref_log_sqrt)
{
    int a = cst_f("a", 2, (int64_t[]){2, 2}, (float[]){1, 2, 4, 10});
    Tensor t = run_checked(new_node(OP_LOG, &a, 1));
    expect_f(&t, (float[]){0, 0.69314718f, 1.38629436f, 2.30258509f}, 4, 1e-6);
    t = run_checked(new_node(OP_SQRT, &a, 1));
    expect_f(&t, (float[]){1, 1.41421356f, 2, 3.16227766f}, 4, 1e-6);
}

Test(ref_tensor, ref_int_unary)
{
    int a = cst("a", DT_I8, 1, (int64_t[]){4}, (int8_t[]){-9, -1, 3, 8});
    int n = new_node(OP_CLIP, &a, 1);
    set_float(n, "min", -2.5);
    set_float(n, "max", 6);
    Tensor t = run_checked(n);
    int8_t *r = t.data;
    cr_assert(r[0] == -2 && r[1] == -1 && r[2] == 3 && r[3] == 6, "%d %d %d %d", r[0], r[1], r[2],
              r[3]);
    t = run_checked(new_node(OP_RELU, &a, 1));
    r = t.data;
    cr_assert(r[0] == 0 && r[1] == 0 && r[2] == 3 && r[3] == 8);
    t = run_checked(new_node(OP_ABS, &a, 1));
    r = t.data;
    cr_assert(r[0] == 9 && r[1] == 1 && r[2] == 3 && r[3] == 8);
}

Test(ref_tensor, ref_reshape_flatten_copy)
{
    float x[6] = {1, 2, 3, 4, 5, 6};
    int a = cst_f("a", 3, (int64_t[]){1, 2, 3}, x);
    int n = new_node(OP_RESHAPE, &a, 1);
    set_ints(n, "shape", (int64_t[]){3, -1}, 2);
    Tensor t = run_checked(n);
    expect_shape(&t.type, 2, (int64_t[]){3, 2});
    expect_f(&t, x, 6, 0);
    n = new_node(OP_FLATTEN, &a, 1);
    set_int(n, "axis", 2);
    t = run_checked(n);
    expect_shape(&t.type, 2, (int64_t[]){2, 3});
    expect_f(&t, x, 6, 0);
}

Test(ref_tensor, ref_transpose)
{
    int a = cst_f("a", 2, (int64_t[]){2, 3}, (float[]){1, 2, 3, 4, 5, 6});
    Tensor t = run_checked(new_node(OP_TRANSPOSE, &a, 1));
    expect_f(&t, (float[]){1, 4, 2, 5, 3, 6}, 6, 0);

    /* i8 [2, 3, 4] with perm [1, 2, 0]: out[j][k][i] = in[i][j][k]. */
    int8_t x[24];
    for (int i = 0; i < 24; i++)
        x[i] = (int8_t)(i * 5 - 60);
    int b = cst("b", DT_I8, 3, (int64_t[]){2, 3, 4}, x);
    int n = new_node(OP_TRANSPOSE, &b, 1);
    set_ints(n, "perm", (int64_t[]){1, 2, 0}, 3);
    t = run_checked(n);
    const int8_t *r = t.data;
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 3; j++)
            for (int k = 0; k < 4; k++)
                cr_assert_eq(r[(j * 4 + k) * 2 + i], x[(i * 3 + j) * 4 + k]);
}

Test(ref_tensor, ref_concat)
{
    int a = cst_f("a", 2, (int64_t[]){2, 2}, (float[]){1, 2, 3, 4});
    int b = cst_f("b", 2, (int64_t[]){2, 1}, (float[]){5, 6});
    int c = cst_f("c", 2, (int64_t[]){1, 2}, (float[]){7, 8});
    int in[2] = {a, b};
    int n = new_node(OP_CONCAT, in, 2);
    set_int(n, "axis", 1);
    Tensor t = run_checked(n);
    expect_f(&t, (float[]){1, 2, 5, 3, 4, 6}, 6, 0);
    int in2[3] = {c, a, c};
    n = new_node(OP_CONCAT, in2, 3);
    set_int(n, "axis", -2);
    t = run_checked(n);
    expect_shape(&t.type, 2, (int64_t[]){4, 2});
    expect_f(&t, (float[]){7, 8, 1, 2, 3, 4, 7, 8}, 8, 0);
}

Test(ref_tensor, ref_pad_constant)
{
    int a = cst_f("a", 2, (int64_t[]){2, 2}, (float[]){1, 2, 3, 4});
    int n = new_node(OP_PAD, &a, 1);
    set_ints(n, "pads", (int64_t[]){1, 0, 0, 1}, 4);
    set_float(n, "value", -1);
    Tensor t = run_checked(n);
    expect_shape(&t.type, 2, (int64_t[]){3, 3});
    expect_f(&t, (float[]){-1, -1, -1, 1, 2, -1, 3, 4, -1}, 9, 0);
}

Test(ref_tensor, ref_pad_reflect_edge)
{
    int a = cst_f("a", 2, (int64_t[]){2, 3}, (float[]){1, 2, 3, 4, 5, 6});
    int n = new_node(OP_PAD, &a, 1);
    set_ints(n, "pads", (int64_t[]){0, 2, 0, 1}, 4);
    set_str(n, "mode", "reflect");
    Tensor t = run_checked(n);
    expect_f(&t, (float[]){3, 2, 1, 2, 3, 2, 6, 5, 4, 5, 6, 5}, 12, 0);
    n = new_node(OP_PAD, &a, 1);
    set_ints(n, "pads", (int64_t[]){1, 1, 0, 0}, 4);
    set_str(n, "mode", "edge");
    t = run_checked(n);
    expect_shape(&t.type, 2, (int64_t[]){3, 4});
    expect_f(&t, (float[]){1, 1, 2, 3, 1, 1, 2, 3, 4, 4, 5, 6}, 12, 0);
}

Test(ref_tensor, ref_pad_negative)
{
    int a = cst_f("a", 2, (int64_t[]){2, 3}, (float[]){1, 2, 3, 4, 5, 6});
    int n = new_node(OP_PAD, &a, 1);
    set_ints(n, "pads", (int64_t[]){0, -1, -1, 0}, 4);
    Tensor t = run_checked(n);
    expect_shape(&t.type, 2, (int64_t[]){1, 2});
    expect_f(&t, (float[]){2, 3}, 2, 0);
    /* Crop one side, pad the other. */
    n = new_node(OP_PAD, &a, 1);
    set_ints(n, "pads", (int64_t[]){0, -2, 0, 1}, 4);
    set_str(n, "mode", "reflect");
    t = run_checked(n);
    expect_f(&t, (float[]){3, 2, 6, 5}, 4, 0);
}

Test(ref_tensor, ref_reduce_keepdims_axes)
{
    /* [2, 3]: rows {1, 2, 3}, {4, 5, 6}. */
    int a = cst_f("a", 2, (int64_t[]){2, 3}, (float[]){1, 2, 3, 4, 5, 6});
    int n = new_node(OP_REDUCE_SUM, &a, 1);
    set_ints(n, "axes", (int64_t[]){-1}, 1);
    Tensor t = run_checked(n);
    expect_shape(&t.type, 2, (int64_t[]){2, 1});
    expect_f(&t, (float[]){6, 15}, 2, 0);
    n = new_node(OP_REDUCE_MEAN, &a, 1);
    set_ints(n, "axes", (int64_t[]){0}, 1);
    set_int(n, "keepdims", 0);
    t = run_checked(n);
    expect_shape(&t.type, 1, (int64_t[]){3});
    expect_f(&t, (float[]){2.5f, 3.5f, 4.5f}, 3, 0);
    n = new_node(OP_REDUCE_MAX, &a, 1);
    set_ints(n, "axes", (int64_t[]){-2}, 1);
    t = run_checked(n);
    expect_f(&t, (float[]){4, 5, 6}, 3, 0);
    t = run_checked(new_node(OP_REDUCE_MEAN, &a, 1));
    expect_shape(&t.type, 2, (int64_t[]){1, 1});
    expect_f(&t, (float[]){3.5f}, 1, 0);
}

Test(ref_tensor, ref_reduce_3d)
{
    float x[24];
    for (int i = 0; i < 24; i++)
        x[i] = (float)((i * 7) % 11) - 5;
    int a = cst_f("a", 3, (int64_t[]){2, 3, 4}, x);
    int n = new_node(OP_REDUCE_MAX, &a, 1);
    set_ints(n, "axes", (int64_t[]){0, 2}, 2);
    set_int(n, "keepdims", 0);
    Tensor t = run_checked(n);
    expect_shape(&t.type, 1, (int64_t[]){3});
    for (int j = 0; j < 3; j++) {
        float m = -INFINITY;
        for (int i = 0; i < 2; i++)
            for (int k = 0; k < 4; k++)
                m = fmaxf(m, x[(i * 3 + j) * 4 + k]);
        cr_assert_eq(((float *)t.data)[j], m);
    }
    n = new_node(OP_REDUCE_SUM, &a, 1);
    set_int(n, "noop_with_empty_axes", 1);
    t = run_checked(n);
    expect_f(&t, x, 24, 0);
}
