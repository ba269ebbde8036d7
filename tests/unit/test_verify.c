/* test_verify.c: the IR verifier (ir/verify.c) and the reference
 * interpreter (ir/interp.c) on whole graphs built with the builder API.
 *
 * suite verify: a valid graph passes; then each test breaks one invariant
 * (bad id, use before definition, tampered type, dead input, ...) and
 * checks that the verifier rejects it with a diagnostic naming the node.
 * suite interp: multi-node graphs run end to end against hand-computed
 * numbers, input checking, and the dtype conversions of tensor_getf/setf.
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
    G = ir_new_graph(C->arena, "g");
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

static int input(const char *name, int rank, const int64_t *dims)
{
    int v = ir_add_input(C, G, name, type_make(DT_F32, rank, dims), (Loc){"g.etch", 2, 3});
    cr_assert(v >= 0);
    return v;
}

static int cst(const char *name, int rank, const int64_t *dims, const float *data)
{
    Type t = type_make(DT_F32, rank, dims);
    int v = ir_add_const(C, G, name, t, arena_memdup(C->arena, data, type_bytes(&t)),
                         (Loc){"g.etch", 3, 3});
    cr_assert(v >= 0);
    return v;
}

/* Adds op(in...) at a distinct source line; returns the node id. */
static int node(int op, const int *in, int nin)
{
    int n = ir_new_node(C, G, op, in, nin, 1, (Loc){"g.etch", 10 + G->nnodes, 5});
    cr_assert(n >= 0);
    return n;
}

static int finish(int n, const char *name)
{
    cr_assert(ir_finish_node(C, G, n), "inference failed: %s", diags());
    int v = ir_node(G, n)->out[0];
    cr_assert(ir_rename_value(C, G, v, name, ir_node(G, n)->loc));
    return v;
}

static void set_ints(int n, const char *name, const int64_t *v, int count)
{
    Attr a = {.type = AT_INTS, .n = count, .ints = arena_memdup(C->arena, v, (size_t)count * 8)};
    cr_assert(ir_set_attr(C, G, n, name, &a, (Loc){0}));
}

static void set_int(int n, const char *name, int64_t v)
{
    Attr a = {.type = AT_INT, .i = v};
    cr_assert(ir_set_attr(C, G, n, name, &a, (Loc){0}));
}

/* The graph every verify test starts from:
 *   x : f32[2, 3]; w : f32[3] = [...]
 *   s = add(x, w); r = relu(s); f = reshape(r, shape=[3, 2]);
 *   m = reduce_sum(f, axes=[1], keepdims=0); output m
 * Node ids 0..3 produce s, r, f, m. */
static int X, W, S, R, F, M;

static void build_valid(void)
{
    X = input("x", 2, (int64_t[]){2, 3});
    W = cst("w", 1, (int64_t[]){3}, (float[]){0.5f, -1, 2});
    S = finish(node(OP_ADD, (int[]){X, W}, 2), "s");
    R = finish(node(OP_RELU, &S, 1), "r");
    int n = node(OP_RESHAPE, &R, 1);
    set_ints(n, "shape", (int64_t[]){3, 2}, 2);
    F = finish(n, "f");
    n = node(OP_REDUCE_SUM, &F, 1);
    set_ints(n, "axes", (int64_t[]){1}, 1);
    set_int(n, "keepdims", 0);
    M = finish(n, "m");
    cr_assert(ir_add_output(C, G, M, (Loc){0}));
}

static void expect_rejected(const char *s1, const char *s2)
{
    int before = C->nerrors;
    cr_assert_not(ir_verify(C, G), "verifier accepted a broken graph");
    cr_assert(C->nerrors > before);
    const char *d = diags();
    cr_assert(strstr(d, s1), "diagnostic lacks '%s':\n%s", s1, d);
    if (s2)
        cr_assert(strstr(d, s2), "diagnostic lacks '%s':\n%s", s2, d);
}

TestSuite(verify, .init = setup, .fini = teardown);

Test(verify, valid_graph_passes)
{
    build_valid();
    cr_assert(ir_verify(C, G), "%s", diags());
    cr_assert_eq(C->nerrors, 0);
    cr_assert_str_empty(diags());
}

Test(verify, valid_after_dce_marks)
{
    build_valid();
    /* A dead side branch (node and its value both dead) is fine. */
    int n = node(OP_NEG, &X, 1);
    int v = finish(n, "side");
    ir_node(G, n)->dead = true;
    ir_value(G, v)->dead = true;
    cr_assert(ir_verify(C, G), "%s", diags());
}

Test(verify, input_id_out_of_range)
{
    build_valid();
    ir_node(G, 1)->in[0] = 999;
    expect_rejected("node 'r' (relu)", "out of range");
}

Test(verify, use_before_def)
{
    build_valid();
    /* relu (node 1) now reads f, which node 2 defines after it. */
    ir_node(G, 1)->in[0] = F;
    expect_rejected("node 'r' (relu)", "before it is defined");
}

Test(verify, type_tampered)
{
    build_valid();
    ir_value(G, F)->type.dims[0] = 6;
    ir_value(G, F)->type.dims[1] = 1;
    expect_rejected("node 'f' (reshape)", "f32[6, 1]");
    cr_assert(strstr(diags(), "f32[3, 2]"), "%s", diags());
}

Test(verify, dead_input)
{
    build_valid();
    ir_value(G, R)->dead = true;
    ir_node(G, 1)->dead = true;
    expect_rejected("node 'f' (reshape)", "dead value 'r'");
}

Test(verify, live_value_of_dead_node)
{
    build_valid();
    ir_node(G, 0)->dead = true;
    expect_rejected("'s'", "dead");
}

Test(verify, arity_out_of_bounds)
{
    build_valid();
    Node *n = ir_node(G, 1);
    int *in = arena_alloc(C->arena, 2 * sizeof *in);
    in[0] = S;
    in[1] = X;
    n->in = in;
    n->nin = 2;
    expect_rejected("node 'r' (relu)", "2 inputs");
}

Test(verify, const_without_data)
{
    build_valid();
    ir_value(G, W)->data = NULL;
    expect_rejected("constant 'w'", "no data");
}

Test(verify, broken_producer_link)
{
    build_valid();
    ir_value(G, R)->producer = 0;
    expect_rejected("'r'", "producer");
}

Test(verify, dead_output)
{
    build_valid();
    ir_value(G, M)->dead = true;
    ir_node(G, 3)->dead = true;
    expect_rejected("graph output 'm'", "dead");
}

Test(verify, several_problems_all_reported)
{
    build_valid();
    ir_value(G, W)->data = NULL;
    ir_node(G, 3)->in[0] = -5;
    expect_rejected("constant 'w'", "node 'm' (reduce_sum)");
}

/* ------------------------------------------------------------- interp */

TestSuite(interp, .init = setup, .fini = teardown);

Test(interp, graph_end_to_end)
{
    build_valid();
    /* x = [[1, 2, 3], [-4, 5, -6]]; s = x + [0.5, -1, 2] = [[1.5, 1, 5], [-3.5, 4, -4]];
     * r = [[1.5, 1, 5], [0, 4, 0]]; f = [[1.5, 1], [5, 0], [4, 0]]; m = [2.5, 5, 4]. */
    float x[6] = {1, 2, 3, -4, 5, -6};
    Tensor in = {.type = ir_value(G, X)->type, .data = x};
    Tensor out;
    cr_assert(interp_run(C, G, &in, &out), "%s", diags());
    Type want = type_make(DT_F32, 1, (int64_t[]){3});
    cr_assert(type_equal(&out.type, &want));
    float expect[3] = {2.5f, 5, 4};
    for (int i = 0; i < 3; i++)
        cr_assert_float_eq(((float *)out.data)[i], expect[i], 1e-6, "m[%d] = %g", i,
                           ((float *)out.data)[i]);
    cr_assert_eq(x[3], -4, "the interpreter wrote into its input");
}

Test(interp, two_outputs_and_shared_values)
{
    int a = input("a", 2, (int64_t[]){2, 2});
    int b = input("b", 0, NULL);
    int p = finish(node(OP_MUL, (int[]){a, b}, 2), "p");
    int q = finish(node(OP_SUB, (int[]){p, a}, 2), "q");
    int n = node(OP_TRANSPOSE, &q, 1);
    int t = finish(n, "t");
    int cat = node(OP_CONCAT, (int[]){t, p}, 2);
    set_int(cat, "axis", 0);
    int c = finish(cat, "c");
    cr_assert(ir_add_output(C, G, c, (Loc){0}));
    cr_assert(ir_add_output(C, G, p, (Loc){0}));
    cr_assert(ir_verify(C, G), "%s", diags());

    /* p = 3a = [[3, 6], [-9, 12]]; q = 2a = [[2, 4], [-6, 8]];
     * t = [[2, -6], [4, 8]]; c = [[2, -6], [4, 8], [3, 6], [-9, 12]]. */
    float av[4] = {1, 2, -3, 4}, bv[1] = {3};
    Tensor in[2] = {{.type = ir_value(G, a)->type, .data = av},
                    {.type = ir_value(G, b)->type, .data = bv}};
    Tensor out[2];
    cr_assert(interp_run(C, G, in, out), "%s", diags());
    float wc[8] = {2, -6, 4, 8, 3, 6, -9, 12}, wp[4] = {3, 6, -9, 12};
    cr_assert_eq(type_numel(&out[0].type), 8);
    for (int i = 0; i < 8; i++)
        cr_assert_eq(((float *)out[0].data)[i], wc[i], "c[%d]", i);
    for (int i = 0; i < 4; i++)
        cr_assert_eq(((float *)out[1].data)[i], wp[i], "p[%d]", i);
}

/* Random data through exp(neg(x)) * x + x against the formula, with a
 * printed seed. */
Test(interp, random_chain)
{
    int x = input("x", 2, (int64_t[]){3, 5});
    int ng = finish(node(OP_NEG, &x, 1), "n");
    int e = finish(node(OP_EXP, &ng, 1), "e");
    int m = finish(node(OP_MUL, (int[]){e, x}, 2), "m");
    int y = finish(node(OP_ADD, (int[]){m, x}, 2), "y");
    cr_assert(ir_add_output(C, G, y, (Loc){0}));
    unsigned seed = (unsigned)time(NULL);
    srand(seed);
    float xv[15];
    for (int i = 0; i < 15; i++)
        xv[i] = (float)rand() / (float)RAND_MAX * 4 - 2;
    Tensor in = {.type = ir_value(G, x)->type, .data = xv}, out;
    cr_assert(interp_run(C, G, &in, &out), "%s", diags());
    for (int i = 0; i < 15; i++) {
        float want = (float)((float)exp(-(double)xv[i]) * xv[i]) + xv[i];
        cr_assert(fabsf(((float *)out.data)[i] - want) <= 1e-6f * (1 + fabsf(want)),
                  "seed %u: y[%d] = %g, expected %g", seed, i, ((float *)out.data)[i], want);
    }
}

Test(interp, input_shape_mismatch)
{
    build_valid();
    float x[4] = {1, 2, 3, 4};
    Tensor in = {.type = type_make(DT_F32, 2, (int64_t[]){2, 2}), .data = x}, out;
    cr_assert_not(interp_run(C, G, &in, &out));
    const char *d = diags();
    cr_assert(strstr(d, "'x'") && strstr(d, "f32[2, 3]") && strstr(d, "f32[2, 2]"), "%s", d);
    Tensor none = {.type = ir_value(G, X)->type};
    cr_assert_not(interp_run(C, G, &none, &out));
    cr_assert(strstr(diags(), "not given"), "%s", diags());
}

Test(interp, tensor_get_set)
{
    int8_t i8[3];
    Tensor t = {.type = type_make(DT_I8, 1, (int64_t[]){3}), .data = i8};
    tensor_setf(&t, 0, 300.0f);
    tensor_setf(&t, 1, -2.5f);
    tensor_setf(&t, 2, -3.5f);
    cr_assert(i8[0] == 127 && i8[1] == -2 && i8[2] == -4, "%d %d %d", i8[0], i8[1], i8[2]);
    cr_assert_eq(tensor_getf(&t, 2), -4.0f);
    uint8_t u8[2];
    t = (Tensor){.type = type_make(DT_U8, 1, (int64_t[]){2}), .data = u8};
    tensor_setf(&t, 0, -7.0f);
    tensor_setf(&t, 1, 254.6f);
    cr_assert(u8[0] == 0 && u8[1] == 255);
    int64_t i64[1];
    t = (Tensor){.type = type_make(DT_I64, 1, (int64_t[]){1}), .data = i64};
    tensor_setf(&t, 0, -123456.0f);
    cr_assert_eq(i64[0], -123456);
    cr_assert_eq(tensor_getf(&t, 0), -123456.0f);
    uint8_t b[2];
    t = (Tensor){.type = type_make(DT_BOOL, 1, (int64_t[]){2}), .data = b};
    tensor_setf(&t, 0, 0.25f);
    tensor_setf(&t, 1, 0.0f);
    cr_assert(b[0] == 1 && b[1] == 0);
    float f[1];
    t = (Tensor){.type = type_make(DT_F32, 1, (int64_t[]){1}), .data = f};
    tensor_setf(&t, 0, 1.75f);
    cr_assert_eq(tensor_getf(&t, 0), 1.75f);
}
