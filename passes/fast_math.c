/* fast_math.c: the `fast-math` loop pass: exp and tanh as Loop IR
 * polynomials instead of libm calls, when the Module asks (--math fast).
 *
 * A libm call is opaque to both backends: it blocks vectorization on the
 * host and costs a software routine per element on Cortex-M. Here every f32
 * scalar `exp(x)` and `tanh(x)` of a kernel becomes plain Loop IR (range
 * reduction, a polynomial, 2^n built in the exponent bits through
 * EX_BITCAST), so the C backend, the LLVM backend and loop_eval all run the
 * same arithmetic from this one source; sigmoid, softmax, gelu(tanh), elu,
 * softplus and log-sum-exp lower to exp/tanh and follow. The bounds below
 * are tested by tests/unit/test_fast_math.c and documented in
 * docs/fast-math.md; the coefficients come from scripts/fit_fast_math.py.
 *
 *   exp   relative error <= 1.5 ulp for results >= FLT_MIN; subnormal
 *         results within 1.5 ulp of 2^-149; +inf above ln(FLT_MAX),
 *         +0 below -103.97; exp(NaN) = NaN.
 *   tanh  <= 1.5 ulp everywhere; tanh(+-inf) = +-1, tanh(-0) = -0, NaN.
 *
 * Each expansion writes its steps to kernel locals, in statements placed
 * just before the statement that held the call (the argument is computed
 * once, and the selects choose between computed values, so compilers turn
 * them into blends and vectorize). A call inside a select arm is moved out
 * of it only when its argument cannot trap: Loop IR's select arms are
 * otherwise safe to evaluate (the LLVM backend computes both), and the
 * expansion itself never traps and has no undefined behaviour for any
 * input, NaN and infinities included (every integer stays in range).
 * Calls elsewhere (loop bounds) and on integers keep libm.
 */
#include "passes.h"

#include <string.h>

static const char *const math_names[] = {"exact", "fast"};

int math_mode_by_name(const char *name)
{
    for (int i = 0; i < (int)(sizeof math_names / sizeof math_names[0]); i++)
        if (strcmp(math_names[i], name) == 0)
            return i;
    return -1;
}

/* e^r ~ 1 + r + r^2 (c2 + c3 r + c4 r^2 + c5 r^3 + c6 r^4) on |r| <= ln2/2:
 * relative error 3.1e-9 (0.05 ulp) before rounding. */
static const float exp_poly[] = {0.49999994f, 0.16666521f, 0.04166839f, 0.00836871f,
                                 0.0013814613f};
/* tanh(x) ~ x (1 + z (q0 + q1 z + ... + q4 z^4)), z = x^2, on |x| < 0.625:
 * relative error 4.4e-9 before rounding. */
static const float tanh_poly[] = {-0.3333328f, 0.13331442f, -0.053739715f, 0.020639086f,
                                  -0.005704986f};
#define TANH_SMALL 0.625f
/* round(t) = (t + 1.5 * 2^23) - 1.5 * 2^23 for |t| < 2^22, and the sum's
 * low mantissa bits hold round(t) + 2^22: its bits minus EXP_MAGIC_BITS. */
#define EXP_MAGIC 12582912.0f
#define EXP_MAGIC_BITS 0x4B400000
#define LOG2E 1.44269504088896341f
/* ln 2 = LN2_HI + LN2_LO, LN2_HI with 9 significant bits, so n LN2_HI is
 * exact for |n| <= 2^15 (Cody and Waite; Cephes' expf split). */
#define LN2_HI 0.693359375f
#define LN2_LO (-2.12194440e-4f)
/* exp(x) for x below EXP_LO is under 2^-150 (rounds to 0); above EXP_HI it
 * overflows. Clamping there keeps n in [-150, 128]. */
#define EXP_LO (-104.0f)
#define EXP_HI 89.0f

typedef struct {
    Program *p;
    Kernel *k;
    Stmt *pre;          /* statements to place before the current one */
    /* what the current statement's subtrees became: an Expr may be shared
     * (a template reads its operand twice), and is expanded once */
    struct { const Expr *from; Expr *to; } *memo; int nmemo, capmemo;
    int count;          /* calls expanded */
} Fm;

static Expr *flt(Fm *f, float v) { return ex_flt(f->p, (double)v); }
static Expr *i32(Fm *f, int64_t v) { return ex_int_t(f->p, DT_I32, v); }
static Expr *bin(Fm *f, BinOp op, Expr *a, Expr *b) { return ex_bin(f->p, op, a, b); }
static Expr *sel(Fm *f, Expr *c, Expr *a, Expr *b) { return ex_select(f->p, c, a, b); }

/* A new local set to v before the current statement; returns its read. */
static Expr *let(Fm *f, DType dt, const char *name, Expr *v)
{
    int l = loop_new_local(f->p, f->k, dt, name);
    st_append(f->p, f->pre, st_set(f->p, l, v));
    return ex_local(f->p, f->k, l);
}

/* c0 + r (c1 + r (c2 + ...)): Horner's rule over n coefficients. */
static Expr *horner(Fm *f, Expr *r, const float *c, int n)
{
    Expr *acc = flt(f, c[n - 1]);
    for (int i = n - 2; i >= 0; i--)
        acc = bin(f, BIN_ADD, bin(f, BIN_MUL, acc, r), flt(f, c[i]));
    return acc;
}

/* 2^s as a float, for an i32 s in [-126, 127]: the exponent field. */
static Expr *pow2(Fm *f, Expr *s)
{
    Expr *field = bin(f, BIN_SHL, bin(f, BIN_ADD, s, i32(f, 127)), i32(f, 23));
    return ex_bitcast(f->p, DT_F32, field);
}

/* exp(a) for a local (or constant) a: a = n ln2 + r, |r| <= ln2/2,
 * exp(a) = 2^n e^r. 2^n is applied as 2^h 2^(n-h), h = floor(n/2), so both
 * factors are normal floats for every n in [-150, 128]: results near
 * FLT_MAX stay finite and subnormal results are rounded once. */
static Expr *expand_exp(Fm *f, Expr *a)
{
    /* NaN fails both comparisons and is clamped to EXP_LO; the last
     * select gives it back. */
    Expr *c = let(f, DT_F32, "xc", sel(f, bin(f, BIN_GT, a, flt(f, EXP_LO)), a, flt(f, EXP_LO)));
    c = let(f, DT_F32, "xc", sel(f, bin(f, BIN_LT, c, flt(f, EXP_HI)), c, flt(f, EXP_HI)));
    Expr *k = let(f, DT_F32, "k", bin(f, BIN_ADD, bin(f, BIN_MUL, c, flt(f, LOG2E)), flt(f, EXP_MAGIC)));
    Expr *n = let(f, DT_F32, "n", bin(f, BIN_SUB, k, flt(f, EXP_MAGIC)));
    Expr *r = bin(f, BIN_SUB, bin(f, BIN_SUB, c, bin(f, BIN_MUL, n, flt(f, LN2_HI))),
                  bin(f, BIN_MUL, n, flt(f, LN2_LO)));
    r = let(f, DT_F32, "r", r);
    /* 1 + r + r^2 P(r), as 1 + r (1 + r P(r)). */
    Expr *p = horner(f, r, exp_poly, (int)(sizeof exp_poly / sizeof exp_poly[0]));
    p = bin(f, BIN_ADD, bin(f, BIN_MUL, p, r), flt(f, 1.0f));
    p = let(f, DT_F32, "p", bin(f, BIN_ADD, bin(f, BIN_MUL, p, r), flt(f, 1.0f)));
    Expr *ni = let(f, DT_I32, "ni",
                   bin(f, BIN_SUB, ex_bitcast(f->p, DT_I32, k), i32(f, EXP_MAGIC_BITS)));
    Expr *h = let(f, DT_I32, "h", bin(f, BIN_SHR, ni, i32(f, 1)));
    Expr *y = bin(f, BIN_MUL, bin(f, BIN_MUL, p, pow2(f, h)), pow2(f, bin(f, BIN_SUB, ni, h)));
    y = let(f, DT_F32, "ey", y);
    return sel(f, bin(f, BIN_EQ, a, a), y, a);
}

/* tanh(a): for |a| < TANH_SMALL an odd polynomial (no cancellation near
 * 0, and a (1 + ...) keeps the sign of -0); above, 1 - 2 / (e^2|a| + 1)
 * with a's sign, which is 1 once e^2|a| is large or infinite. */
static Expr *expand_tanh(Fm *f, Expr *a)
{
    Expr *z = let(f, DT_F32, "z", bin(f, BIN_MUL, a, a));
    Expr *q = horner(f, z, tanh_poly, (int)(sizeof tanh_poly / sizeof tanh_poly[0]));
    Expr *small = let(f, DT_F32, "ts",
                      bin(f, BIN_MUL, a, bin(f, BIN_ADD, flt(f, 1.0f), bin(f, BIN_MUL, z, q))));
    Expr *ax = let(f, DT_F32, "ta", ex_un(f->p, UN_ABS, a));
    Expr *e = let(f, DT_F32, "te", expand_exp(f, let(f, DT_F32, "t2", bin(f, BIN_ADD, ax, ax))));
    Expr *big = bin(f, BIN_SUB, flt(f, 1.0f),
                    bin(f, BIN_DIV, flt(f, 2.0f), bin(f, BIN_ADD, e, flt(f, 1.0f))));
    big = let(f, DT_F32, "tl", big);
    Expr *signed_big = sel(f, bin(f, BIN_LT, a, flt(f, 0.0f)), ex_un(f->p, UN_NEG, big), big);
    return sel(f, bin(f, BIN_LT, ax, flt(f, TANH_SMALL)), small, signed_big);
}

/* An integer division or remainder (by 0, or INT_MIN by -1), the one
 * thing a select arm may guard (as emit_llvm.c's may_trap). */
static bool may_trap(const Expr *e)
{
    if (!e)
        return false;
    if (e->kind == EX_BIN && (e->op == BIN_DIV || e->op == BIN_MOD) && !dtype_is_float(e->dtype))
        return true;
    return may_trap(e->a) || may_trap(e->b) || may_trap(e->c);
}

static bool expandable(const Expr *e)
{
    return e->kind == EX_UN && (e->op == UN_EXP || e->op == UN_TANH) && e->lanes == 1 &&
           e->dtype == DT_F32 && e->a->dtype == DT_F32;
}

/* e with its calls expanded (a new tree where anything changed);
 * `guarded`: e sits in a select arm. */
static Expr *rewrite(Fm *f, const Expr *e, bool guarded)
{
    if (!e)
        return NULL;
    for (int i = 0; i < f->nmemo; i++)
        if (f->memo[i].from == e)
            return f->memo[i].to;
    Expr *out;
    if (expandable(e) && !(guarded && may_trap(e->a))) {
        Expr *a = rewrite(f, e->a, guarded);
        if (a->kind != EX_LOCAL && a->kind != EX_FLT)
            a = let(f, DT_F32, e->op == UN_EXP ? "ex" : "tx", a);
        out = e->op == UN_EXP ? expand_exp(f, a) : expand_tanh(f, a);
        f->count++;
    } else {
        bool arms = e->kind == EX_SELECT;
        Expr *a = rewrite(f, e->a, guarded || arms);
        Expr *b = rewrite(f, e->b, guarded || arms);
        Expr *c = rewrite(f, e->c, guarded);
        if (a == e->a && b == e->b && c == e->c)
            return (Expr *)e;
        out = arena_alloc(f->p->arena, sizeof *out);
        *out = *e;
        out->a = a;
        out->b = b;
        out->c = c;
    }
    VEC_PUSH(f->p->arena, f->memo, f->nmemo, f->capmemo).from = e;
    f->memo[f->nmemo - 1].to = out;
    return out;
}

static void rewrite_block(Fm *f, Stmt *block);

/* The statement's expressions rewritten; what they need goes to f->pre. */
static void rewrite_stmt(Fm *f, Stmt *s)
{
    f->nmemo = 0;
    switch (s->kind) {
    case ST_BLOCK:
        rewrite_block(f, s);
        return;
    case ST_FOR:
        rewrite_block(f, s->body);
        return;
    case ST_IF:
        s->cond = rewrite(f, s->cond, false);
        rewrite_block(f, s->then);
        if (s->els)
            rewrite_block(f, s->els);
        return;
    case ST_STORE:
        s->idx = rewrite(f, s->idx, false);
        s->val = rewrite(f, s->val, false);
        return;
    case ST_SET:
        s->val = rewrite(f, s->val, false);
        return;
    }
}

static void rewrite_block(Fm *f, Stmt *block)
{
    Stmt **items = block->items;
    int n = block->n;
    block->items = NULL;
    block->n = block->cap = 0;
    for (int i = 0; i < n; i++) {
        Stmt *pre = st_block(f->p), *outer = f->pre;
        f->pre = pre;
        rewrite_stmt(f, items[i]);
        f->pre = outer;
        for (int j = 0; j < pre->n; j++)
            st_append(f->p, block, pre->items[j]);
        st_append(f->p, block, items[i]);
    }
}

bool pass_fast_math(Ctx *c, Module *m)
{
    (void)c;
    if (m->math != MATH_FAST || !m->prog)
        return false;
    Fm f = {.p = m->prog};
    for (int i = 0; i < m->prog->nkernels; i++) {
        f.k = &m->prog->kernels[i];
        rewrite_block(&f, f.k->body);
    }
    m->prog->fast_math = f.count > 0;
    return f.count > 0;
}
