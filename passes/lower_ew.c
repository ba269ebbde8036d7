/* lower_ew.c: expression templates of the elementwise math, logic,
 * comparison, cast, pow, mod, prelu, variadic and where ops.
 *
 * Each ExprFn turns its operands' expressions (args[i], one per input,
 * already loaded with broadcast indexing by lower_eltwise) into the op's
 * value, built only from ex_* constructors: no statements, no locals, so a
 * fusion pass can compose a chain of them in one loop. Constants are typed
 * like their operand (lower_const_like). lower_eltwise casts the result to
 * the output dtype when it stores it.
 *
 * The templates match ref_ew.c exactly where the reference makes a choice
 * ONNX leaves open: mod by zero is 0, max/min of anything with a NaN is NaN,
 * an integer pow is computed in float and truncated. Guards that keep the
 * generated code from trapping (integer % by 0 or -1) are selects, which
 * evaluate only the chosen side in both backends. Operands are shared
 * subtrees (an Expr is immutable), so a template that uses x twice costs a
 * second load, never a second evaluation of anything with side effects.
 */
#include "passes.h"

#include <assert.h>
#include <math.h>

static Expr *cst(Program *p, const Expr *x, double v) { return lower_const_like(p, x, v); }
static Expr *un(LowerCtx *lc, UnOp op, Expr *a) { return ex_un(lc->p, op, a); }
static Expr *bin(LowerCtx *lc, BinOp op, Expr *a, Expr *b) { return ex_bin(lc->p, op, a, b); }
static Expr *sel(LowerCtx *lc, Expr *c, Expr *a, Expr *b) { return ex_select(lc->p, c, a, b); }

/* Dtypes that cannot be negative: comparisons with 0 would be constant
 * (and warned about by C compilers), so templates skip them. */
static bool is_unsigned(DType dt) { return dt == DT_U8 || dt == DT_BOOL; }

/* ------------------------------------------------------------- unary math */

#define EXPR_UNOP(name, op)                                            \
    Expr *expr_##name(LowerCtx *lc, const Node *n, Expr **args)        \
    {                                                                  \
        (void)n;                                                       \
        return un(lc, op, args[0]);                                    \
    }

EXPR_UNOP(floor, UN_FLOOR)
EXPR_UNOP(ceil, UN_CEIL)
EXPR_UNOP(round, UN_ROUND) /* half to even in both backends */
EXPR_UNOP(erf, UN_ERF)
EXPR_UNOP(sin, UN_SIN)
EXPR_UNOP(cos, UN_COS)
EXPR_UNOP(tan, UN_TAN)
EXPR_UNOP(asin, UN_ASIN)
EXPR_UNOP(acos, UN_ACOS)
EXPR_UNOP(atan, UN_ATAN)
EXPR_UNOP(sinh, UN_SINH)
EXPR_UNOP(cosh, UN_COSH)
EXPR_UNOP(asinh, UN_ASINH)
EXPR_UNOP(acosh, UN_ACOSH)
EXPR_UNOP(atanh, UN_ATANH)
EXPR_UNOP(not, UN_NOT)

Expr *expr_reciprocal(LowerCtx *lc, const Node *n, Expr **args)
{
    (void)n;
    return bin(lc, BIN_DIV, cst(lc->p, args[0], 1), args[0]);
}

/* x > 0 ? 1 : x < 0 ? -1 : x, so 0 and NaN come back unchanged. */
Expr *expr_sign(LowerCtx *lc, const Node *n, Expr **args)
{
    (void)n;
    Program *p = lc->p;
    Expr *x = args[0], *zero = cst(p, x, 0), *one = cst(p, x, 1);
    if (is_unsigned(x->dtype))
        return sel(lc, bin(lc, BIN_GT, x, zero), one, zero);
    Expr *neg = sel(lc, bin(lc, BIN_LT, x, zero), cst(p, x, -1), x);
    return sel(lc, bin(lc, BIN_GT, x, zero), one, neg);
}

/* max(x, 0) + log(1 + exp(-|x|)): exp never overflows. */
Expr *expr_softplus(LowerCtx *lc, const Node *n, Expr **args)
{
    (void)n;
    Program *p = lc->p;
    Expr *x = args[0];
    Expr *e = un(lc, UN_EXP, un(lc, UN_NEG, un(lc, UN_ABS, x)));
    Expr *tail = un(lc, UN_LOG, bin(lc, BIN_ADD, cst(p, x, 1), e));
    return bin(lc, BIN_ADD, bin(lc, BIN_MAX, x, cst(p, x, 0)), tail);
}

Expr *expr_softsign(LowerCtx *lc, const Node *n, Expr **args)
{
    (void)n;
    Expr *x = args[0];
    return bin(lc, BIN_DIV, x, bin(lc, BIN_ADD, cst(lc->p, x, 1), un(lc, UN_ABS, x)));
}

Expr *expr_elu(LowerCtx *lc, const Node *n, Expr **args)
{
    Program *p = lc->p;
    Expr *x = args[0];
    Expr *em1 = bin(lc, BIN_SUB, un(lc, UN_EXP, x), cst(p, x, 1));
    Expr *neg = bin(lc, BIN_MUL, cst(p, x, ir_attr_float(n, "alpha")), em1);
    return sel(lc, bin(lc, BIN_LT, x, cst(p, x, 0)), neg, x);
}

Expr *expr_selu(LowerCtx *lc, const Node *n, Expr **args)
{
    Program *p = lc->p;
    Expr *x = args[0];
    Expr *alpha = cst(p, x, ir_attr_float(n, "alpha"));
    Expr *gamma = cst(p, x, ir_attr_float(n, "gamma"));
    Expr *neg = bin(lc, BIN_SUB, bin(lc, BIN_MUL, alpha, un(lc, UN_EXP, x)), alpha);
    return sel(lc, bin(lc, BIN_LE, x, cst(p, x, 0)), bin(lc, BIN_MUL, gamma, neg),
               bin(lc, BIN_MUL, gamma, x));
}

/* max(0, x) + min(0, alpha * (exp(x / alpha) - 1)). */
Expr *expr_celu(LowerCtx *lc, const Node *n, Expr **args)
{
    Program *p = lc->p;
    Expr *x = args[0], *zero = cst(p, x, 0);
    Expr *alpha = cst(p, x, ir_attr_float(n, "alpha"));
    Expr *em1 = bin(lc, BIN_SUB, un(lc, UN_EXP, bin(lc, BIN_DIV, x, alpha)), cst(p, x, 1));
    return bin(lc, BIN_ADD, bin(lc, BIN_MAX, x, zero),
               bin(lc, BIN_MIN, bin(lc, BIN_MUL, alpha, em1), zero));
}

/* v clamped to [0, 1]. */
static Expr *unit_clamp(LowerCtx *lc, Expr *v)
{
    Program *p = lc->p;
    return bin(lc, BIN_MIN, bin(lc, BIN_MAX, v, cst(p, v, 0)), cst(p, v, 1));
}

Expr *expr_hard_sigmoid(LowerCtx *lc, const Node *n, Expr **args)
{
    Program *p = lc->p;
    Expr *x = args[0];
    Expr *v = bin(lc, BIN_ADD, bin(lc, BIN_MUL, cst(p, x, ir_attr_float(n, "alpha")), x),
                  cst(p, x, ir_attr_float(n, "beta")));
    return unit_clamp(lc, v);
}

/* x * hard_sigmoid(x) with alpha = 1/6, beta = 0.5. */
Expr *expr_hard_swish(LowerCtx *lc, const Node *n, Expr **args)
{
    (void)n;
    Program *p = lc->p;
    Expr *x = args[0];
    Expr *v = bin(lc, BIN_ADD, bin(lc, BIN_DIV, x, cst(p, x, 6)), cst(p, x, 0.5));
    return bin(lc, BIN_MUL, x, unit_clamp(lc, v));
}

Expr *expr_thresholded_relu(LowerCtx *lc, const Node *n, Expr **args)
{
    Program *p = lc->p;
    Expr *x = args[0];
    return sel(lc, bin(lc, BIN_GT, x, cst(p, x, ir_attr_float(n, "alpha"))), x, cst(p, x, 0));
}

Expr *expr_shrink(LowerCtx *lc, const Node *n, Expr **args)
{
    Program *p = lc->p;
    Expr *x = args[0];
    double lambd = ir_attr_float(n, "lambd");
    Expr *bias = cst(p, x, ir_attr_float(n, "bias"));
    Expr *hi = sel(lc, bin(lc, BIN_GT, x, cst(p, x, lambd)), bin(lc, BIN_SUB, x, bias),
                   cst(p, x, 0));
    return sel(lc, bin(lc, BIN_LT, x, cst(p, x, -lambd)), bin(lc, BIN_ADD, x, bias), hi);
}

/* The conversion itself is the store's (or the next op's) ex_cast, which
 * both backends define: truncation toward zero, bool as x != 0. */
Expr *expr_cast(LowerCtx *lc, const Node *n, Expr **args)
{
    DType to = dtype_from_name(ir_attr_str(n, "to"));
    assert(to != DT_NONE); /* inference checked it */
    return ex_cast(lc->p, to, args[0]);
}

/* ---------------------------------------------------------------- binary */

/* The base's dtype wins. Integer bases go through float (powf) and are
 * truncated by the store, exact while the result fits float's 24 bits. */
Expr *expr_pow(LowerCtx *lc, const Node *n, Expr **args)
{
    (void)n;
    Program *p = lc->p;
    Expr *x = ex_cast(p, DT_F32, args[0]), *y = ex_cast(p, DT_F32, args[1]);
    return ex_cast(p, args[0]->dtype, bin(lc, BIN_POW, x, y));
}

/* fmod = 1: C's fmod / % (sign of x); fmod = 0: r + y when r and y differ
 * in sign (sign of y). A zero divisor gives 0, and so does -1 for signed
 * integers (x % -1 is 0 anyway, and INT_MIN % -1 traps). */
Expr *expr_mod(LowerCtx *lc, const Node *n, Expr **args)
{
    Program *p = lc->p;
    Expr *x = args[0], *y = args[1], *zero = cst(p, x, 0);
    bool fm = ir_attr_int(n, "fmod") != 0;
    Expr *r = bin(lc, BIN_MOD, x, y);
    if (!fm && !is_unsigned(x->dtype)) {
        Expr *differ = bin(lc, BIN_NE, bin(lc, BIN_LT, r, zero), bin(lc, BIN_LT, y, zero));
        Expr *fix = bin(lc, BIN_AND, bin(lc, BIN_NE, r, zero), differ);
        r = sel(lc, fix, bin(lc, BIN_ADD, r, y), r);
    }
    Expr *guard = bin(lc, BIN_EQ, y, zero);
    if (!dtype_is_float(x->dtype) && !is_unsigned(x->dtype))
        guard = bin(lc, BIN_OR, guard, bin(lc, BIN_EQ, y, cst(p, y, -1)));
    return sel(lc, guard, zero, r);
}

Expr *expr_prelu(LowerCtx *lc, const Node *n, Expr **args)
{
    (void)n;
    Expr *x = args[0], *s = args[1];
    if (is_unsigned(x->dtype))
        return x;
    return sel(lc, bin(lc, BIN_LT, x, cst(lc->p, x, 0)), bin(lc, BIN_MUL, s, x), x);
}

#define EXPR_BINOP(name, op)                                           \
    Expr *expr_##name(LowerCtx *lc, const Node *n, Expr **args)        \
    {                                                                  \
        (void)n;                                                       \
        return bin(lc, op, args[0], args[1]);                          \
    }

EXPR_BINOP(equal, BIN_EQ)
EXPR_BINOP(less, BIN_LT)
EXPR_BINOP(less_or_equal, BIN_LE)
EXPR_BINOP(greater, BIN_GT)
EXPR_BINOP(greater_or_equal, BIN_GE)
EXPR_BINOP(and, BIN_AND)
EXPR_BINOP(or, BIN_OR)
EXPR_BINOP(xor, BIN_NE) /* bools are 0 or 1 */

/* ------------------------------------------------------------- variadic */

static Expr *fold(LowerCtx *lc, const Node *n, Expr **args, BinOp op)
{
    Expr *acc = args[0];
    for (int i = 1; i < n->nin; i++)
        acc = bin(lc, op, acc, args[i]);
    return acc;
}

/* The backends' min/max ignore a NaN operand, ONNX's (numpy's) return it:
 * any NaN input selects NaN. The test reads only the loaded operands, so
 * the expression grows linearly with the number of inputs. */
static Expr *fold_minmax(LowerCtx *lc, const Node *n, Expr **args, BinOp op)
{
    Expr *m = fold(lc, n, args, op);
    if (!dtype_is_float(args[0]->dtype) || n->nin == 1)
        return m;
    Expr *any_nan = un(lc, UN_ISNAN, args[0]);
    for (int i = 1; i < n->nin; i++)
        any_nan = bin(lc, BIN_OR, any_nan, un(lc, UN_ISNAN, args[i]));
    return sel(lc, any_nan, ex_flt(lc->p, NAN), m);
}

Expr *expr_max(LowerCtx *lc, const Node *n, Expr **args)
{
    return fold_minmax(lc, n, args, BIN_MAX);
}

Expr *expr_min(LowerCtx *lc, const Node *n, Expr **args)
{
    return fold_minmax(lc, n, args, BIN_MIN);
}

Expr *expr_sum(LowerCtx *lc, const Node *n, Expr **args)
{
    return fold(lc, n, args, BIN_ADD);
}

Expr *expr_mean(LowerCtx *lc, const Node *n, Expr **args)
{
    Expr *s = fold(lc, n, args, BIN_ADD);
    return bin(lc, BIN_DIV, s, cst(lc->p, s, n->nin));
}

Expr *expr_where(LowerCtx *lc, const Node *n, Expr **args)
{
    (void)n;
    return sel(lc, args[0], args[1], args[2]);
}

/* ------------------------------------------------------- (de)quantization */

/* Mirrors ref_quantize_linear: float division, rint, zero point, clamp to
 * the output's range; lower_eltwise's store converts the in-range value. */
Expr *expr_quantize_linear(LowerCtx *lc, const Node *n, Expr **args)
{
    Program *p = lc->p;
    bool i8 = ir_out_type(lc->g, n, 0)->dtype == DT_I8;
    Expr *q = un(lc, UN_ROUND, bin(lc, BIN_DIV, args[0], args[1]));
    if (n->nin > 2)
        q = bin(lc, BIN_ADD, q, ex_cast(p, DT_F32, args[2]));
    q = bin(lc, BIN_MAX, q, ex_flt(p, i8 ? -128 : 0));
    return bin(lc, BIN_MIN, q, ex_flt(p, i8 ? 127 : 255));
}

/* x - zero in int64 (exact, no overflow for any input dtype), then float. */
Expr *expr_dequantize_linear(LowerCtx *lc, const Node *n, Expr **args)
{
    Program *p = lc->p;
    Expr *x = ex_cast(p, DT_I64, args[0]);
    if (n->nin > 2)
        x = bin(lc, BIN_SUB, x, ex_cast(p, DT_I64, args[2]));
    return bin(lc, BIN_MUL, ex_cast(p, DT_F32, x), args[1]);
}
