/* test_ew.c: inference rules and reference implementations of the
 * elementwise ops in ir/infer_ew.c and ir/ref_ew.c (plus the n-ary
 * broadcast of infer_broadcast).
 *
 * Each test writes a small graph in the graph language whose inputs are
 * consts, runs it through the interpreter and compares the output with
 * values worked out by hand (or with numpy where noted), including the
 * edge cases ONNX pins down: round half to even, the sign of mod in both
 * fmod modes, cast truncation and bool, NaN and inf. Error tests check
 * that the diagnostic names the node and the offending types.
 */
#define _POSIX_C_SOURCE 200809L

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frontend/frontend.h"
#include "ir/ir.h"

static Ctx *C;
static char *diag_buf;
static size_t diag_len;

static void setup(void)
{
    C = ctx_new();
    C->err = open_memstream(&diag_buf, &diag_len);
}

static void teardown(void)
{
    fclose(C->err);
    free(diag_buf);
    diag_buf = NULL;
    ctx_free(C);
}

TestSuite(ew, .init = setup, .fini = teardown);

static const char *diags(void)
{
    fflush(C->err);
    return diag_buf ? diag_buf : "";
}

/* Parses `body` as a graph with output y and runs it; returns y. */
static Tensor run(const char *body)
{
    char *text = arena_printf(C->arena, "graph t {\n%s\n  output y\n}\n", body);
    Graph *g = fe_parse_string(C, "t.etch", text);
    cr_assert(g, "parse failed:\n%s\n%s", diags(), text);
    Tensor out[1];
    cr_assert(interp_run(C, g, NULL, out), "interp failed:\n%s", diags());
    return out[0];
}

/* Exact match, NaN matching NaN; floats within 1e-6 relative. */
static void expect_f(const Tensor *t, const float *want, int n)
{
    cr_assert_eq(t->type.dtype, DT_F32, "output is %s", dtype_name(t->type.dtype));
    cr_assert_eq(type_numel(&t->type), n);
    const float *got = t->data;
    for (int i = 0; i < n; i++) {
        if (isnan(want[i])) {
            cr_expect(isnan(got[i]), "[%d]: expected nan, got %.9g", i, (double)got[i]);
            continue;
        }
        double tol = 1e-6 * (fabs((double)want[i]) > 1 ? fabs((double)want[i]) : 1);
        cr_expect(fabs((double)got[i] - (double)want[i]) <= tol || got[i] == want[i],
                  "[%d]: expected %.9g, got %.9g", i, (double)want[i], (double)got[i]);
    }
}

static void expect_i(const Tensor *t, DType dt, const int64_t *want, int n)
{
    cr_assert_eq(t->type.dtype, dt, "output is %s, expected %s", dtype_name(t->type.dtype),
                 dtype_name(dt));
    cr_assert_eq(type_numel(&t->type), n);
    for (int i = 0; i < n; i++)
        cr_expect_eq(ref_get_i(t, i), want[i], "[%d]: expected %lld, got %lld", i,
                     (long long)want[i], (long long)ref_get_i(t, i));
}

/* The graph must be rejected with a diagnostic containing every `want`. */
static void expect_error(const char *body, const char *want1, const char *want2)
{
    char *text = arena_printf(C->arena, "graph t {\n%s\n  output y\n}\n", body);
    Graph *g = fe_parse_string(C, "t.etch", text);
    cr_assert_null(g, "accepted:\n%s", text);
    cr_expect(strstr(diags(), want1), "missing '%s' in:\n%s", want1, diags());
    if (want2)
        cr_expect(strstr(diags(), want2), "missing '%s' in:\n%s", want2, diags());
}

/* ------------------------------------------------------------ unary math */

Test(ew, round_half_to_even)
{
    Tensor y = run("  const x : f32[10] = [0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 2.3, -4.5, 0.9, -inf]\n"
                   "  y = round(x)");
    expect_f(&y, (float[]){0, 2, 2, -0.0f, -2, -2, 2, -4, 1, -INFINITY}, 10);
    cr_expect(signbit(((float *)y.data)[3]), "round(-0.5) is -0");
}

Test(ew, floor_ceil)
{
    const char *x = "  const x : f32[6] = [-1.5, 1.5, -0.0, 2, -2.0001, nan]\n";
    Tensor f = run(arena_printf(C->arena, "%s  y = floor(x)", x));
    expect_f(&f, (float[]){-2, 1, -0.0f, 2, -3, NAN}, 6);
    Tensor c = run(arena_printf(C->arena, "%s  y = ceil(x)", x));
    expect_f(&c, (float[]){-1, 2, -0.0f, 2, -2, NAN}, 6);
}

Test(ew, reciprocal_erf)
{
    Tensor r = run("  const x : f32[4] = [4, -0.5, 0, -inf]\n  y = reciprocal(x)");
    expect_f(&r, (float[]){0.25f, -2, INFINITY, -0.0f}, 4);
    Tensor e = run("  const x : f32[4] = [0, 0.5, -0.5, inf]\n  y = erf(x)");
    expect_f(&e, (float[]){0, 0.5204998778f, -0.5204998778f, 1}, 4);
}

Test(ew, trig)
{
    const char *x = "  const x : f32[3] = [0, 1, -1]\n";
    struct { const char *op; float want[3]; } t[] = {
        {"sin", {0, 0.8414709848f, -0.8414709848f}},
        {"cos", {1, 0.5403023059f, 0.5403023059f}},
        {"tan", {0, 1.5574077247f, -1.5574077247f}},
        {"asin", {0, 1.5707963268f, -1.5707963268f}},
        {"acos", {1.5707963268f, 0, 3.1415926536f}},
        {"atan", {0, 0.7853981634f, -0.7853981634f}},
        {"sinh", {0, 1.1752011936f, -1.1752011936f}},
        {"cosh", {1, 1.5430806348f, 1.5430806348f}},
        {"asinh", {0, 0.8813735870f, -0.8813735870f}},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        Tensor y = run(arena_printf(C->arena, "%s  y = %s(x)", x, t[i].op));
        expect_f(&y, t[i].want, 3);
    }
}

/* Outside their domains the inverse functions give NaN (or inf at the
 * poles of atanh), as numpy does. */
Test(ew, inverse_domains)
{
    Tensor a = run("  const x : f32[4] = [1, 2, 0.5, 10]\n  y = acosh(x)");
    expect_f(&a, (float[]){0, 1.3169578969f, NAN, 2.9932228461f}, 4);
    Tensor t = run("  const x : f32[4] = [0.5, 1, -1, 2]\n  y = atanh(x)");
    expect_f(&t, (float[]){0.5493061443f, INFINITY, -INFINITY, NAN}, 4);
    Tensor s = run("  const x : f32[2] = [2, -1.5]\n  y = asin(x)");
    expect_f(&s, (float[]){NAN, NAN}, 2);
}

Test(ew, sign)
{
    Tensor f = run("  const x : f32[5] = [-3, 0, 2.5, nan, -inf]\n  y = sign(x)");
    expect_f(&f, (float[]){-1, 0, 1, NAN, -1}, 5);
    Tensor i = run("  const x : i32[3] = [-7, 0, 9]\n  y = sign(x)");
    expect_i(&i, DT_I32, (int64_t[]){-1, 0, 1}, 3);
    Tensor u = run("  const x : u8[2] = [0, 200]\n  y = sign(x)");
    expect_i(&u, DT_U8, (int64_t[]){0, 1}, 2);
}

/* ----------------------------------------------------------- activations */

Test(ew, softplus_softsign)
{
    Tensor p = run("  const x : f32[4] = [0, 1, 100, -100]\n  y = softplus(x)");
    expect_f(&p, (float[]){0.6931471806f, 1.3132616875f, 100, 0}, 4);
    Tensor s = run("  const x : f32[3] = [1, -3, 0]\n  y = softsign(x)");
    expect_f(&s, (float[]){0.5f, -0.75f, 0}, 3);
}

Test(ew, elu_selu_celu)
{
    Tensor e = run("  const x : f32[3] = [-1, 0, 2]\n  y = elu(x, alpha = 2)");
    expect_f(&e, (float[]){2 * (0.3678794412f - 1), 0, 2}, 3);
    /* The ONNX example's defaults: alpha 1.67326..., gamma 1.05070... */
    Tensor s = run("  const x : f32[3] = [-1, 0, 1]\n  y = selu(x)");
    expect_f(&s, (float[]){-1.1113307378f, 0, 1.0507009874f}, 3);
    Tensor c = run("  const x : f32[3] = [-1, 1, 0]\n  y = celu(x, alpha = 2)");
    expect_f(&c, (float[]){-0.7869386806f, 1, 0}, 3);
}

Test(ew, hard_sigmoid_swish)
{
    Tensor h = run("  const x : f32[4] = [-2, 0, 1, 0.5]\n"
                   "  y = hard_sigmoid(x, alpha = 0.5, beta = 0.6)");
    expect_f(&h, (float[]){0, 0.6f, 1, 0.85f}, 4);
    Tensor w = run("  const x : f32[5] = [-4, -1, 0, 1, 4]\n  y = hard_swish(x)");
    expect_f(&w, (float[]){0, -1.0f / 3, 0, 2.0f / 3, 4}, 5);
}

Test(ew, thresholded_relu_shrink)
{
    Tensor t = run("  const x : f32[4] = [0.5, 1, 2, -3]\n  y = thresholded_relu(x)");
    expect_f(&t, (float[]){0, 0, 2, 0}, 4); /* strictly above alpha */
    Tensor hard = run("  const x : f32[5] = [-2, -1, 0, 1, 2]\n  y = shrink(x, lambd = 1.5)");
    expect_f(&hard, (float[]){-2, 0, 0, 0, 2}, 5);
    Tensor soft = run("  const x : f32[5] = [-2, -1.5, 0, 1.5, 2]\n"
                      "  y = shrink(x, lambd = 1.5, bias = 1.5)");
    expect_f(&soft, (float[]){-0.5f, 0, 0, 0, 0.5f}, 5);
}

/* ------------------------------------------------------------ logic, cast */

Test(ew, logic_truth_tables)
{
    const char *ab = "  const a : bool[2, 2] = [0, 0, 1, 1]\n"
                     "  const b : bool[2, 2] = [0, 1, 0, 1]\n";
    Tensor y = run(arena_printf(C->arena, "%s  y = and(a, b)", ab));
    expect_i(&y, DT_BOOL, (int64_t[]){0, 0, 0, 1}, 4);
    y = run(arena_printf(C->arena, "%s  y = or(a, b)", ab));
    expect_i(&y, DT_BOOL, (int64_t[]){0, 1, 1, 1}, 4);
    y = run(arena_printf(C->arena, "%s  y = xor(a, b)", ab));
    expect_i(&y, DT_BOOL, (int64_t[]){0, 1, 1, 0}, 4);
    y = run(arena_printf(C->arena, "%s  y = not(a)", ab));
    expect_i(&y, DT_BOOL, (int64_t[]){1, 1, 0, 0}, 4);
    /* broadcast: [2, 1] with [3] */
    y = run("  const a : bool[2, 1] = [0, 1]\n  const b : bool[3] = [1, 0, 1]\n  y = or(a, b)");
    expect_i(&y, DT_BOOL, (int64_t[]){1, 0, 1, 1, 1, 1}, 6);
    cr_assert_eq(y.type.rank, 2);
}

Test(ew, cast_float_to_int_truncates)
{
    Tensor y = run("  const x : f32[6] = [2.7, -2.7, 0, -0.5, 300, 1e10]\n"
                   "  y = cast(x, to = \"i32\")");
    /* 1e10 is outside int32: it saturates to int64 and then wraps. */
    expect_i(&y, DT_I32, (int64_t[]){2, -2, 0, 0, 300, (int32_t)(uint32_t)10000000000LL}, 6);
    y = run("  const x : f32[3] = [127.9, -128.9, 3.5]\n  y = cast(x, to = \"i8\")");
    expect_i(&y, DT_I8, (int64_t[]){127, -128, 3}, 3);
}

Test(ew, cast_bool_and_ints)
{
    Tensor y = run("  const x : f32[4] = [2.7, 0, -0.5, nan]\n  y = cast(x, to = \"bool\")");
    expect_i(&y, DT_BOOL, (int64_t[]){1, 0, 1, 1}, 4); /* NaN != 0, as numpy */
    y = run("  const x : i64[3] = [200, -1, 256]\n  y = cast(x, to = \"i8\")");
    expect_i(&y, DT_I8, (int64_t[]){-56, -1, 0}, 3);
    y = run("  const x : i16[3] = [256, 0, -3]\n  y = cast(x, to = \"bool\")");
    expect_i(&y, DT_BOOL, (int64_t[]){1, 0, 1}, 3); /* not truncated to the low byte */
    y = run("  const x : u8[2] = [255, 7]\n  y = cast(x, to = \"i8\")");
    expect_i(&y, DT_I8, (int64_t[]){-1, 7}, 2);
    Tensor f = run("  const x : bool[2] = [1, 0]\n  y = cast(x, to = \"f32\")");
    expect_f(&f, (float[]){1, 0}, 2);
    f = run("  const x : i64[2] = [-123456, 16777217]\n  y = cast(x, to = \"f32\")");
    expect_f(&f, (float[]){-123456, 16777216}, 2);
}

/* ---------------------------------------------------------- pow, mod, prelu */

Test(ew, pow_dtypes)
{
    Tensor y = run("  const x : f32[3] = [2, 4, -2]\n  const e : f32[3] = [3, 0.5, 2]\n"
                   "  y = pow(x, e)");
    expect_f(&y, (float[]){8, 2, 4}, 3);
    y = run("  const x : f32[2] = [3, 2]\n  const e : i32[2] = [2, -1]\n  y = pow(x, e)");
    expect_f(&y, (float[]){9, 0.5f}, 2);
    Tensor i = run("  const x : i32[3] = [1, 2, 3]\n  const e : f32[3] = [4, 5, 6]\n"
                   "  y = pow(x, e)");
    expect_i(&i, DT_I32, (int64_t[]){1, 32, 729}, 3);
    i = run("  const x : i64[2] = [3, -2]\n  const e : i64[] = [5]\n  y = pow(x, e)");
    expect_i(&i, DT_I64, (int64_t[]){243, -32}, 2);
}

/* numpy: mod (sign of the divisor) and fmod (sign of the dividend). */
Test(ew, mod_signs)
{
    const char *ints = "  const a : i32[6] = [-4, 7, 5, 4, -7, 8]\n"
                       "  const b : i32[6] = [2, -3, 8, -2, 3, 5]\n";
    Tensor y = run(arena_printf(C->arena, "%s  y = mod(a, b)", ints));
    expect_i(&y, DT_I32, (int64_t[]){0, -2, 5, 0, 2, 3}, 6);
    y = run(arena_printf(C->arena, "%s  y = mod(a, b, fmod = 1)", ints));
    expect_i(&y, DT_I32, (int64_t[]){0, 1, 5, 0, -1, 3}, 6);
    const char *fl = "  const a : f32[6] = [-4.3, 7.2, 5.0, 4.3, -7.2, 8.0]\n"
                     "  const b : f32[6] = [2.1, -3.4, 8.0, -2.1, 3.4, 5.0]\n";
    Tensor f = run(arena_printf(C->arena, "%s  y = mod(a, b, fmod = 1)", fl));
    expect_f(&f, (float[]){-0.10000038f, 0.39999962f, 5, 0.10000038f, -0.39999962f, 3}, 6);
    f = run(arena_printf(C->arena, "%s  y = mod(a, b)", fl));
    expect_f(&f, (float[]){1.9999995f, -3.0000005f, 5, -1.9999995f, 3.0000005f, 3}, 6);
}

Test(ew, mod_by_zero_and_unsigned)
{
    Tensor y = run("  const a : i64[3] = [5, -9223372036854775807, 7]\n"
                   "  const b : i64[3] = [0, -1, -1]\n  y = mod(a, b)");
    expect_i(&y, DT_I64, (int64_t[]){0, 0, 0}, 3);
    Tensor f = run("  const a : f32[2] = [5, -1]\n  const b : f32[2] = [0, 0]\n"
                   "  y = mod(a, b, fmod = 1)");
    expect_f(&f, (float[]){0, 0}, 2);
    y = run("  const a : u8[3] = [250, 7, 9]\n  const b : u8[] = [8]\n  y = mod(a, b)");
    expect_i(&y, DT_U8, (int64_t[]){2, 7, 1}, 3);
}

Test(ew, prelu_broadcast)
{
    Tensor y = run("  const x : f32[2, 2] = [-2, 3, -1, 4]\n  const s : f32[2] = [0.5, 2]\n"
                   "  y = prelu(x, s)");
    expect_f(&y, (float[]){-1, 3, -0.5f, 4}, 4);
    Tensor i = run("  const x : i32[3] = [-2, 3, -5]\n  const s : i32[] = [3]\n"
                   "  y = prelu(x, s)");
    expect_i(&i, DT_I32, (int64_t[]){-6, 3, -15}, 3);
}

/* ------------------------------------------------------------- compare */

Test(ew, compare_nan_and_broadcast)
{
    const char *ab = "  const a : f32[2, 3] = [1, nan, 3, -inf, 0, 2]\n"
                     "  const b : f32[3] = [1, nan, 2]\n";
    struct { const char *op; int64_t want[6]; } t[] = {
        {"equal", {1, 0, 0, 0, 0, 1}},
        {"less", {0, 0, 0, 1, 0, 0}},
        {"less_or_equal", {1, 0, 0, 1, 0, 1}},
        {"greater", {0, 0, 1, 0, 0, 0}},
        {"greater_or_equal", {1, 0, 1, 0, 0, 1}},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        Tensor y = run(arena_printf(C->arena, "%s  y = %s(a, b)", ab, t[i].op));
        expect_i(&y, DT_BOOL, t[i].want, 6);
    }
    /* 2^53 + 1 and 2^53 are one double: int64 must not go through it. */
    Tensor y = run("  const a : i64[3] = [9007199254740993, 5, 9223372036854775807]\n"
                   "  const b : i64[] = [9007199254740992]\n  y = greater(a, b)");
    expect_i(&y, DT_BOOL, (int64_t[]){1, 0, 1}, 3);
    y = run("  const a : bool[2] = [1, 0]\n  const b : bool[2] = [1, 1]\n  y = equal(a, b)");
    expect_i(&y, DT_BOOL, (int64_t[]){1, 0}, 2);
}

/* ------------------------------------------------------------ variadic */

Test(ew, variadic_broadcast)
{
    const char *abc = "  const a : f32[2, 1] = [1, -5]\n  const b : f32[3] = [0, 2, -1]\n"
                      "  const c : f32[] = [0.5]\n";
    Tensor y = run(arena_printf(C->arena, "%s  y = max(a, b, c)", abc));
    expect_f(&y, (float[]){1, 2, 1, 0.5f, 2, 0.5f}, 6);
    cr_expect_eq(y.type.rank, 2);
    y = run(arena_printf(C->arena, "%s  y = min(a, b, c)", abc));
    expect_f(&y, (float[]){0, 0.5f, -1, -5, -5, -5}, 6);
    y = run(arena_printf(C->arena, "%s  y = sum(a, b, c)", abc));
    expect_f(&y, (float[]){1.5f, 3.5f, 0.5f, -4.5f, -2.5f, -5.5f}, 6);
    y = run(arena_printf(C->arena, "%s  y = mean(a, b, c)", abc));
    expect_f(&y, (float[]){0.5f, 3.5f / 3, 0.5f / 3, -1.5f, -2.5f / 3, -5.5f / 3}, 6);
    y = run("  const a : f32[2] = [3, -1]\n  y = mean(a)");
    expect_f(&y, (float[]){3, -1}, 2);
}

Test(ew, variadic_nan_and_ints)
{
    Tensor y = run("  const a : f32[3] = [nan, 1, 2]\n  const b : f32[3] = [0, nan, 1]\n"
                   "  y = max(a, b)");
    expect_f(&y, (float[]){NAN, NAN, 2}, 3);
    Tensor i = run("  const a : i8[3] = [-128, 5, 100]\n  const b : i8[3] = [127, -6, 100]\n"
                   "  y = min(a, b)");
    expect_i(&i, DT_I8, (int64_t[]){-128, -6, 100}, 3);
    i = run("  const a : i8[2] = [100, -100]\n  const b : i8[2] = [100, -100]\n"
            "  const c : i8[2] = [1, 1]\n  y = sum(a, b, c)");
    expect_i(&i, DT_I8, (int64_t[]){-55, 57}, 2); /* wraps like numpy */
}

Test(ew, where_broadcast)
{
    Tensor y = run("  const c : bool[2, 1] = [1, 0]\n  const x : i64[3] = [1, 2, 3]\n"
                   "  const z : i64[] = [-9]\n  y = where(c, x, z)");
    expect_i(&y, DT_I64, (int64_t[]){1, 2, 3, -9, -9, -9}, 6);
    Tensor f = run("  const c : bool[3] = [0, 1, 0]\n  const x : f32[3] = [1, 2, 3]\n"
                   "  const z : f32[3] = [nan, 5, inf]\n  y = where(c, x, z)");
    expect_f(&f, (float[]){NAN, 2, INFINITY}, 3);
}

/* ------------------------------------------------------------- errors */

Test(ew, error_cast_unknown_dtype)
{
    expect_error("  const x : f32[2] = [1, 2]\n  y = cast(x, to = \"f64\")",
                 "unknown dtype \"f64\"", "(cast)");
}

Test(ew, error_logical_needs_bool)
{
    expect_error("  const a : f32[2] = [1, 2]\n  const b : bool[2] = [1, 0]\n  y = and(a, b)",
                 "input 0 is f32[2]", "needs bool inputs");
}

Test(ew, error_compare_dtypes)
{
    expect_error("  const a : f32[2] = [1, 2]\n  const b : i32[2] = [1, 2]\n  y = less(a, b)",
                 "f32[2] and i32[2]", "(less)");
}

Test(ew, error_where)
{
    expect_error("  const c : f32[2] = [1, 0]\n  const a : f32[2] = [1, 2]\n  y = where(c, a, a)",
                 "condition is f32[2]", NULL);
    expect_error("  const c : bool[2] = [1, 0]\n  const a : f32[2] = [1, 2]\n"
                 "  const b : i8[2] = [1, 2]\n  y = where(c, a, b)",
                 "x and y types differ", "i8[2]");
    expect_error("  const c : bool[3] = [1, 0, 1]\n  const a : f32[2] = [1, 2]\n"
                 "  y = where(c, a, a)", "do not broadcast", NULL);
}

Test(ew, error_variadic)
{
    expect_error("  const a : f32[2] = [1, 2]\n  const b : f32[2] = [1, 2]\n"
                 "  const c : i32[2] = [1, 2]\n  y = sum(a, b, c)", "i32[2] (input 2)", NULL);
    expect_error("  const a : f32[2] = [1, 2]\n  const b : f32[3] = [1, 2, 3]\n"
                 "  y = max(a, a, b)", "do not broadcast", NULL);
    expect_error("  const a : i32[2] = [1, 2]\n  y = mean(a, a)", "needs a float tensor", NULL);
}

Test(ew, error_pow_prelu_float_only)
{
    expect_error("  const a : f32[2] = [1, 2]\n  const b : bool[2] = [1, 0]\n  y = pow(a, b)",
                 "not bool", NULL);
    expect_error("  const x : f32[2] = [1, 2]\n  const s : f32[3, 1] = [1, 2, 3]\n"
                 "  y = prelu(x, s)", "without changing its shape", "f32[3, 1]");
    expect_error("  const x : i32[2] = [1, 2]\n  y = sin(x)", "needs a float tensor", "(sin)");
}

/* ------------------------------------------------------- (de)quantization */

Test(ew, quantize_rounds_half_to_even_and_saturates)
{
    /* x / 0.5 = 0.5, 1.5, -0.5, -1.5, 2.5, 200, -200, 0.4: ties go to even,
     * then + zero, then saturation. */
    const char *x = "  const x : f32[8] = [0.25, 0.75, -0.25, -0.75, 1.25, 100, -100, 0.2]\n"
                    "  const s : f32[] = [0.5]\n";
    Tensor y = run(arena_printf(C->arena, "%s  const z : i8[] = [-3]\n"
                                          "  y = quantize_linear(x, s, z)", x));
    expect_i(&y, DT_I8, (int64_t[]){-3, -1, -3, -5, -1, 127, -128, -3}, 8);
    y = run(arena_printf(C->arena, "%s  const z : u8[] = [10]\n  y = quantize_linear(x, s, z)", x));
    expect_i(&y, DT_U8, (int64_t[]){10, 12, 10, 8, 12, 210, 0, 10}, 8);
    /* No zero point: u8 with zero 0. */
    y = run(arena_printf(C->arena, "%s  y = quantize_linear(x, s)", x));
    expect_i(&y, DT_U8, (int64_t[]){0, 2, 0, 0, 2, 200, 0, 0}, 8);
    y = run("  const x : f32[2] = [nan, 1]\n  const s : f32[] = [1]\n  const z : i8[] = [5]\n"
            "  y = quantize_linear(x, s, z)");
    expect_i(&y, DT_I8, (int64_t[]){-128, 6}, 2); /* NaN saturates low, as compiled code */
}

Test(ew, quantize_per_axis)
{
    /* axis 1 of [2, 3, 2]: scale and zero shaped [3, 1]. */
    Tensor y = run("  const x : f32[2, 3, 2] = [1, 2, 1, 2, 1, 2, -1, -2, -1, -2, -1, -2]\n"
                   "  const s : f32[3, 1] = [1, 0.5, 0.25]\n"
                   "  const z : i8[3, 1] = [0, 1, -1]\n"
                   "  y = quantize_linear(x, s, z)");
    expect_i(&y, DT_I8, (int64_t[]){1, 2, 3, 5, 3, 7, -1, -2, -1, -3, -5, -9}, 12);
}

Test(ew, dequantize_dtypes)
{
    Tensor y = run("  const x : i8[4] = [-128, 127, 0, 5]\n  const s : f32[] = [0.5]\n"
                   "  const z : i8[] = [-128]\n  y = dequantize_linear(x, s, z)");
    expect_f(&y, (float[]){0, 127.5f, 64, 66.5f}, 4); /* 127 - (-128) does not wrap */
    y = run("  const x : u8[3] = [0, 255, 10]\n  const s : f32[] = [2]\n"
            "  y = dequantize_linear(x, s)");
    expect_f(&y, (float[]){0, 510, 20}, 3);
    y = run("  const x : i32[3] = [-1000000, 7, 0]\n  const s : f32[3] = [0.001, 2, 3]\n"
            "  y = dequantize_linear(x, s)");
    expect_f(&y, (float[]){-1000, 14, 0}, 3);
}

Test(ew, error_quantize_types)
{
    expect_error("  const x : i32[2] = [1, 2]\n  const s : f32[] = [1]\n"
                 "  y = quantize_linear(x, s)", "x is i32[2]", "takes f32");
    expect_error("  const x : f32[2] = [1, 2]\n  const s : f32[] = [1]\n"
                 "  const z : i32[] = [0]\n  y = quantize_linear(x, s, z)",
                 "zero point is i32[]", "i8 or u8");
    expect_error("  const x : i8[2] = [1, 2]\n  const s : f32[] = [1]\n"
                 "  const z : u8[] = [0]\n  y = dequantize_linear(x, s, z)",
                 "zero point is u8[]", "must be i8");
    expect_error("  const x : i8[2] = [1, 2]\n  const s : i8[] = [1]\n"
                 "  y = dequantize_linear(x, s)", "scale is i8[]", "must be f32");
    expect_error("  const x : f32[2] = [1, 2]\n  const s : f32[3, 1] = [1, 2, 3]\n"
                 "  y = quantize_linear(x, s)", "must broadcast to x f32[2]", NULL);
}
