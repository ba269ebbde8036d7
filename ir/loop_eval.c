/* loop_eval.c: a direct interpreter of Loop IR, the second opinion that
 * lets lowering be tested without a C compiler.
 *
 * Semantics mirror the emitted C (with FLT_EVAL_METHOD 0):
 *   - f32 values are computed in float, rounded after every operation;
 *     math goes through the float libm functions (expf, erff, ...);
 *   - integers are computed in int64 with C's truncating division and wrap
 *     to their dtype only where C converts (stores, casts, locals); loop
 *     variables are int64; comparisons and logic give bools 0/1, with C's
 *     short-circuit && and ||;
 *   - EX_SELECT evaluates only the chosen side;
 *   - vectors are evaluated lane by lane (eval_lane), each lane exactly as
 *     the scalar op; EX_MULADD rounds once (fmaf), as a fused multiply-add.
 * Every load and store is bounds-checked against Buffer.numel, and writes
 * to inputs or consts are refused: either is an internal error, reported
 * on stderr naming the kernel and buffer, and loop_eval returns false.
 */
#include "ir.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

typedef union {
    float f;
    int64_t i;
} Val;

typedef struct {
    const Program *p;
    const Kernel *k;
    void **ptr;         /* per buffer */
    int64_t *vars;
    Val *locals;
    float *vlocals;     /* the lanes of vector locals, from voff[local] */
    int *voff;
    bool ok;
} Eval;

static void fail(Eval *ev, const char *fmt, ...) IR_PRINTF(2, 3);

static void fail(Eval *ev, const char *fmt, ...)
{
    if (!ev->ok)
        return; /* report the first error only */
    ev->ok = false;
    if (ev->k)
        fprintf(stderr, "loop_eval: internal error: kernel %s: ", ev->k->name);
    else
        fprintf(stderr, "loop_eval: internal error: program %s: ", ev->p->name);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* ------------------------------------------------------------ conversions */

static int64_t wrap_int(int64_t v, DType dt)
{
    switch (dt) {
    case DT_I8: return (int8_t)(uint8_t)(uint64_t)v;
    case DT_U8: return (uint8_t)(uint64_t)v;
    case DT_I16: return (int16_t)(uint16_t)(uint64_t)v;
    case DT_I32: return (int32_t)(uint32_t)(uint64_t)v;
    case DT_BOOL: return v != 0;
    default: return v;
    }
}

/* C's float -> integer conversion truncates; out-of-range values (undefined
 * in C) saturate here rather than trap. */
static int64_t float_to_int(float f)
{
    if (isnan(f))
        return 0;
    if (f >= 9.2233720368547758e18f)
        return INT64_MAX;
    if (f <= -9.2233720368547758e18f)
        return INT64_MIN;
    return (int64_t)f;
}

static float as_f(Val v, DType dt) { return dtype_is_float(dt) ? v.f : (float)v.i; }
static int64_t as_i(Val v, DType dt) { return dtype_is_float(dt) ? float_to_int(v.f) : v.i; }
static bool truthy(Val v, DType dt) { return dtype_is_float(dt) ? v.f != 0.0f : v.i != 0; }

static Val convert(Val v, DType from, DType to)
{
    Val r;
    if (to == DT_BOOL)
        r.i = truthy(v, from);
    else if (dtype_is_float(to))
        r.f = as_f(v, from);
    else
        r.i = wrap_int(as_i(v, from), to);
    return r;
}

static Val read_elem(const void *base, DType dt, int64_t i)
{
    Val v;
    switch (dt) {
    case DT_F32: v.f = ((const float *)base)[i]; break;
    case DT_I8: v.i = ((const int8_t *)base)[i]; break;
    case DT_U8: case DT_BOOL: v.i = ((const uint8_t *)base)[i]; break;
    case DT_I16: v.i = ((const int16_t *)base)[i]; break;
    case DT_I32: v.i = ((const int32_t *)base)[i]; break;
    case DT_I64: v.i = ((const int64_t *)base)[i]; break;
    default: unreachable("buffer without a dtype");
    }
    return v;
}

static void write_elem(void *base, DType dt, int64_t i, Val v)
{
    switch (dt) {
    case DT_F32: ((float *)base)[i] = v.f; break;
    case DT_I8: ((int8_t *)base)[i] = (int8_t)v.i; break;
    case DT_U8: case DT_BOOL: ((uint8_t *)base)[i] = (uint8_t)v.i; break;
    case DT_I16: ((int16_t *)base)[i] = (int16_t)v.i; break;
    case DT_I32: ((int32_t *)base)[i] = (int32_t)v.i; break;
    case DT_I64: ((int64_t *)base)[i] = v.i; break;
    default: unreachable("buffer without a dtype");
    }
}

/* ------------------------------------------------------------ expressions */

static Val eval(Eval *ev, const Expr *e);

static bool in_bounds(Eval *ev, int buf, int64_t idx, const char *what)
{
    const Buffer *b = &ev->p->bufs[buf];
    if (idx >= 0 && idx < b->numel)
        return true;
    fail(ev, "%s buffer '%s' at index %lld, outside [0, %lld)", what, b->name, (long long)idx,
         (long long)b->numel);
    return false;
}

static Val eval_un(Eval *ev, const Expr *e)
{
    Val a = eval(ev, e->a), r = {0};
    DType dt = e->a->dtype;
    if (e->op == UN_NOT) {
        r.i = !truthy(a, dt);
        return r;
    }
    if (e->op == UN_ISNAN) {
        r.i = dtype_is_float(dt) && isnan(a.f);
        return r;
    }
    if (!dtype_is_float(dt)) {
        int64_t x = a.i;
        switch (e->op) {
        case UN_NEG: r.i = (int64_t)(0 - (uint64_t)x); return r;
        case UN_ABS: r.i = x < 0 ? (int64_t)(0 - (uint64_t)x) : x; return r;
        case UN_FLOOR: case UN_CEIL: case UN_ROUND: r.i = x; return r;
        default:
            fail(ev, "'%s' applied to an integer (%s)", unop_name(e->op), dtype_name(dt));
            return r;
        }
    }
    float x = a.f;
    switch (e->op) {
    case UN_NEG: r.f = -x; break;
    case UN_ABS: r.f = fabsf(x); break;
    case UN_EXP: r.f = expf(x); break;
    case UN_LOG: r.f = logf(x); break;
    case UN_SQRT: r.f = sqrtf(x); break;
    case UN_TANH: r.f = tanhf(x); break;
    case UN_ERF: r.f = erff(x); break;
    case UN_FLOOR: r.f = floorf(x); break;
    case UN_CEIL: r.f = ceilf(x); break;
    case UN_ROUND: r.f = rintf(x); break; /* half to even (default rounding mode) */
    case UN_SIN: r.f = sinf(x); break;
    case UN_COS: r.f = cosf(x); break;
    case UN_TAN: r.f = tanf(x); break;
    case UN_ASIN: r.f = asinf(x); break;
    case UN_ACOS: r.f = acosf(x); break;
    case UN_ATAN: r.f = atanf(x); break;
    case UN_SINH: r.f = sinhf(x); break;
    case UN_COSH: r.f = coshf(x); break;
    case UN_ASINH: r.f = asinhf(x); break;
    case UN_ACOSH: r.f = acoshf(x); break;
    case UN_ATANH: r.f = atanhf(x); break;
    default: unreachable("bad unary op");
    }
    return r;
}

static Val eval_cmp(int op, Val a, DType da, Val b, DType db)
{
    Val r;
    if (dtype_is_float(da) || dtype_is_float(db)) {
        float x = as_f(a, da), y = as_f(b, db);
        switch (op) {
        case BIN_LT: r.i = x < y; break;
        case BIN_LE: r.i = x <= y; break;
        case BIN_GT: r.i = x > y; break;
        case BIN_GE: r.i = x >= y; break;
        case BIN_EQ: r.i = x == y; break;
        default: r.i = x != y; break;
        }
        return r;
    }
    int64_t x = a.i, y = b.i;
    switch (op) {
    case BIN_LT: r.i = x < y; break;
    case BIN_LE: r.i = x <= y; break;
    case BIN_GT: r.i = x > y; break;
    case BIN_GE: r.i = x >= y; break;
    case BIN_EQ: r.i = x == y; break;
    default: r.i = x != y; break;
    }
    return r;
}

static float float_bin(int op, float x, float y)
{
    switch (op) {
    case BIN_ADD: return x + y;
    case BIN_SUB: return x - y;
    case BIN_MUL: return x * y;
    case BIN_DIV: return x / y;
    case BIN_MOD: return fmodf(x, y);
    case BIN_MIN: return fminf(x, y);
    case BIN_MAX: return fmaxf(x, y);
    case BIN_POW: return powf(x, y);
    default: unreachable("bad float binary op");
    }
}

static Val eval_bin(Eval *ev, const Expr *e)
{
    Val r = {0};
    DType da = e->a->dtype, db = e->b->dtype;
    if (e->op == BIN_AND || e->op == BIN_OR) {
        bool x = truthy(eval(ev, e->a), da);
        if (e->op == BIN_AND ? !x : x) {
            r.i = x;
            return r;
        }
        r.i = truthy(eval(ev, e->b), db);
        return r;
    }
    Val a = eval(ev, e->a), b = eval(ev, e->b);
    if (e->op >= BIN_LT && e->op <= BIN_NE)
        return eval_cmp(e->op, a, da, b, db);
    if (dtype_is_float(e->dtype)) {
        r.f = float_bin(e->op, as_f(a, da), as_f(b, db));
        return r;
    }
    int64_t x = as_i(a, da), y = as_i(b, db);
    switch (e->op) {
    /* Unsigned arithmetic: int64 overflow wraps instead of being undefined. */
    case BIN_ADD: r.i = (int64_t)((uint64_t)x + (uint64_t)y); break;
    case BIN_SUB: r.i = (int64_t)((uint64_t)x - (uint64_t)y); break;
    case BIN_MUL: r.i = (int64_t)((uint64_t)x * (uint64_t)y); break;
    case BIN_DIV:
    case BIN_MOD:
        if (y == 0 || (x == INT64_MIN && y == -1)) {
            fail(ev, "integer %s of %lld by %lld", e->op == BIN_DIV ? "division" : "modulo",
                 (long long)x, (long long)y);
            return r;
        }
        r.i = e->op == BIN_DIV ? x / y : x % y;
        break;
    case BIN_MIN: r.i = x < y ? x : y; break;
    case BIN_MAX: r.i = x > y ? x : y; break;
    case BIN_SHL:
    case BIN_SHR: {
        int bits = 8 * (int)dtype_size(e->dtype);
        if (y < 0 || y >= bits || (e->op == BIN_SHL && (x < 0 || x >> (bits - 1 - y) != 0))) {
            fail(ev, "%s of %lld by %lld in %s", e->op == BIN_SHL ? "left shift" : "shift",
                 (long long)x, (long long)y, dtype_name(e->dtype));
            return r;
        }
        r.i = e->op == BIN_SHL ? (int64_t)((uint64_t)x << y) : x >> y;
        break;
    }
    default:
        fail(ev, "'%s' applied to integers", binop_name(e->op));
        break;
    }
    return r;
}

/* c + the products of four consecutive i8 pairs, wrapped to i32 as the
 * emitted code's int32 arithmetic is (it never overflows in practice). */
static Val eval_dot4(Eval *ev, const Expr *e)
{
    Val acc = eval(ev, e->c);
    const Expr *ld[2] = {e->a, e->b};
    int64_t at[2];
    for (int s = 0; s < 2 && ev->ok; s++) {
        at[s] = as_i(eval(ev, ld[s]->a), ld[s]->a->dtype);
        if (ev->ok && ev->p->bufs[ld[s]->buf].dtype != DT_I8)
            fail(ev, "dot4 of buffer '%s', which is not i8", ev->p->bufs[ld[s]->buf].name);
        if (ev->ok && in_bounds(ev, ld[s]->buf, at[s], "dot4 from"))
            in_bounds(ev, ld[s]->buf, at[s] + 3, "dot4 from");
    }
    if (!ev->ok)
        return acc;
    int64_t sum = acc.i;
    for (int u = 0; u < 4; u++)
        sum += read_elem(ev->ptr[e->a->buf], DT_I8, at[0] + u).i * read_elem(ev->ptr[e->b->buf], DT_I8, at[1] + u).i;
    acc.i = wrap_int(sum, DT_I32);
    return acc;
}

/* Lane l of vector expression e. */
static float eval_lane(Eval *ev, const Expr *e, int l)
{
    if (!ev->ok)
        return 0.0f;
    if (e->lanes <= 1 || l < 0 || l >= e->lanes) {
        fail(ev, "lane %d of an expression of %d lanes", l, e->lanes);
        return 0.0f;
    }
    switch (e->kind) {
    case EX_LOAD: {
        /* The whole vector in bounds, whichever lanes are used: the
         * machine loads them all (an unzip uses half). */
        int64_t at = as_i(eval(ev, e->a), e->a->dtype), idx = at + l;
        if (!ev->ok || !in_bounds(ev, e->buf, at, "vector load from") ||
            !in_bounds(ev, e->buf, at + e->lanes - 1, "vector load from"))
            return 0.0f;
        if (ev->p->bufs[e->buf].dtype != DT_F32) {
            fail(ev, "vector load from non-f32 buffer '%s'", ev->p->bufs[e->buf].name);
            return 0.0f;
        }
        return ((const float *)ev->ptr[e->buf])[idx];
    }
    case EX_LOCAL:
        if (e->local < 0 || e->local >= ev->k->nlocals || ev->k->locals[e->local].lanes != e->lanes) {
            fail(ev, "vector local %d of a bad width", e->local);
            return 0.0f;
        }
        return ev->vlocals[ev->voff[e->local] + l];
    case EX_BCAST: {
        Val v = eval(ev, e->a);
        return as_f(v, e->a->dtype);
    }
    case EX_BIN:
        if (e->a->lanes != e->lanes || e->b->lanes != e->lanes) {
            fail(ev, "vector '%s' of mixed widths", binop_name(e->op));
            return 0.0f;
        }
        return float_bin(e->op, eval_lane(ev, e->a, l), eval_lane(ev, e->b, l));
    case EX_MULADD:
        return fmaf(eval_lane(ev, e->a, l), eval_lane(ev, e->b, l), eval_lane(ev, e->c, l));
    case EX_SHIFT: {
        int from = l - (int)e->i;
        return from >= 0 && from < e->lanes ? eval_lane(ev, e->a, from) : 0.0f;
    }
    case EX_UNZIP: {
        if (e->a->lanes != e->lanes || e->b->lanes != e->lanes) {
            fail(ev, "unzip of mixed widths");
            return 0.0f;
        }
        int from = 2 * l + (int)e->i;
        return from < e->lanes ? eval_lane(ev, e->a, from) : eval_lane(ev, e->b, from - e->lanes);
    }
    default:
        fail(ev, "expression kind %d has no vector form", (int)e->kind);
        return 0.0f;
    }
}

static Val eval(Eval *ev, const Expr *e)
{
    Val r = {0};
    if (!ev->ok)
        return r;
    if (e->lanes > 1) {
        fail(ev, "a vector of %d lanes where a scalar is expected", e->lanes);
        return r;
    }
    switch (e->kind) {
    case EX_INT:
        if (dtype_is_float(e->dtype))
            r.f = (float)e->i;
        else
            r.i = e->i;
        return r;
    case EX_FLT:
        if (dtype_is_float(e->dtype))
            r.f = (float)e->f;
        else
            r.i = float_to_int((float)e->f);
        return r;
    case EX_VAR:
        if (e->var < 0 || e->var >= ev->k->nvars) {
            fail(ev, "loop variable i%d out of range (kernel has %d)", e->var, ev->k->nvars);
            return r;
        }
        r.i = ev->vars[e->var];
        return r;
    case EX_LOCAL:
        if (e->local < 0 || e->local >= ev->k->nlocals) {
            fail(ev, "local %d out of range (kernel has %d)", e->local, ev->k->nlocals);
            return r;
        }
        return convert(ev->locals[e->local], ev->k->locals[e->local].dtype, e->dtype);
    case EX_LOAD: {
        int64_t idx = as_i(eval(ev, e->a), e->a->dtype);
        if (!ev->ok || !in_bounds(ev, e->buf, idx, "load from"))
            return r;
        DType bt = ev->p->bufs[e->buf].dtype;
        return convert(read_elem(ev->ptr[e->buf], bt, idx), bt, e->dtype);
    }
    case EX_UN: return eval_un(ev, e);
    case EX_BIN: return eval_bin(ev, e);
    case EX_SELECT: {
        bool c = truthy(eval(ev, e->c), e->c->dtype);
        const Expr *side = c ? e->a : e->b;
        return convert(eval(ev, side), side->dtype, e->dtype);
    }
    case EX_CAST: return convert(eval(ev, e->a), e->a->dtype, e->dtype);
    case EX_BITCAST: {
        Val a = eval(ev, e->a);
        if (e->dtype == DT_I32) {
            int32_t bits;
            memcpy(&bits, &a.f, sizeof bits);
            r.i = bits;
        } else {
            int32_t bits = (int32_t)a.i;
            memcpy(&r.f, &bits, sizeof r.f);
        }
        return r;
    }
    case EX_DOT4: return eval_dot4(ev, e);
    case EX_LANE:
        r.f = eval_lane(ev, e->a, (int)e->i);
        return r;
    case EX_MULADD: {
        float x = as_f(eval(ev, e->a), e->a->dtype), y = as_f(eval(ev, e->b), e->b->dtype);
        r.f = fmaf(x, y, as_f(eval(ev, e->c), e->c->dtype));
        return r;
    }
    case EX_BCAST:
    case EX_SHIFT:
    case EX_UNZIP:
    case EX_QFAST4: /* vectors: caught above */
        break;
    }
    unreachable("bad expression kind");
}

/* ------------------------------------------------------------- statements */

/* buf[idx + l] = lane l of the value, every lane computed first. */
/* y[idx + l] = quant_fast(q, a[l], b[l]) for l < 4 (EX_QFAST4), b one
 * code for lanes below e->i and c for the rest when e->i is not 0. */
static void exec_qfast4(Eval *ev, const Stmt *s)
{
    const Expr *e = s->val, *ld[2] = {e->a, e->b};
    const Buffer *b = &ev->p->bufs[s->buf];
    int64_t at[2], idx = as_i(eval(ev, s->idx), s->idx->dtype), one[2] = {0, 0};
    if (e->i) {
        one[0] = as_i(eval(ev, e->b), e->b->dtype);
        one[1] = e->c ? as_i(eval(ev, e->c), e->c->dtype) : one[0];
    }
    for (int i = 0; i < (e->i ? 1 : 2) && ev->ok; i++) {
        at[i] = as_i(eval(ev, ld[i]->a), ld[i]->a->dtype);
        if (ev->ok && ev->p->bufs[ld[i]->buf].dtype != DT_I8)
            fail(ev, "qfast4 of buffer '%s', which is not i8", ev->p->bufs[ld[i]->buf].name);
        if (ev->ok && in_bounds(ev, ld[i]->buf, at[i], "qfast4 from"))
            in_bounds(ev, ld[i]->buf, at[i] + 3, "qfast4 from");
    }
    if (!ev->ok || !in_bounds(ev, s->buf, idx, "qfast4 store to") ||
        !in_bounds(ev, s->buf, idx + 3, "qfast4 store to"))
        return;
    if (b->kind == BK_INPUT || b->kind == BK_CONST || b->dtype != DT_I8) {
        fail(ev, "qfast4 store to read-only or non-i8 buffer '%s'", b->name);
        return;
    }
    int32_t y[4];
    for (int l = 0; l < 4; l++)
        y[l] = quant_fast(e->q, (int32_t)read_elem(ev->ptr[e->a->buf], DT_I8, at[0] + l).i,
                          e->i ? (int32_t)one[l >= e->i] : (int32_t)read_elem(ev->ptr[e->b->buf], DT_I8, at[1] + l).i);
    for (int l = 0; l < 4; l++) /* after every read: y may alias a or b */
        write_elem(ev->ptr[s->buf], DT_I8, idx + l, (Val){.i = y[l]});
}

static void exec_vstore(Eval *ev, const Stmt *s)
{
    const Buffer *b = &ev->p->bufs[s->buf];
    int lanes = s->val->lanes;
    float tmp[ETCH_MAX_LANES];
    int64_t idx = as_i(eval(ev, s->idx), s->idx->dtype);
    for (int l = 0; l < lanes && lanes <= ETCH_MAX_LANES; l++)
        tmp[l] = eval_lane(ev, s->val, l);
    if (!ev->ok || !in_bounds(ev, s->buf, idx, "vector store to") ||
        !in_bounds(ev, s->buf, idx + lanes - 1, "vector store to"))
        return;
    if (b->kind == BK_INPUT || b->kind == BK_CONST || b->dtype != DT_F32) {
        fail(ev, "vector store to read-only or non-f32 buffer '%s'", b->name);
        return;
    }
    memcpy((float *)ev->ptr[s->buf] + idx, tmp, sizeof(float) * (size_t)lanes);
}

static void exec(Eval *ev, const Stmt *s)
{
    if (!ev->ok)
        return;
    switch (s->kind) {
    case ST_BLOCK:
        for (int i = 0; i < s->n && ev->ok; i++)
            exec(ev, s->items[i]);
        return;
    case ST_FOR: {
        if (s->var < 0 || s->var >= ev->k->nvars || s->step <= 0) {
            fail(ev, "malformed loop over i%d (step %lld)", s->var, (long long)s->step);
            return;
        }
        int64_t *v = &ev->vars[s->var];
        for (*v = as_i(eval(ev, s->lo), s->lo->dtype);
             ev->ok && *v < as_i(eval(ev, s->hi), s->hi->dtype); *v += s->step)
            exec(ev, s->body);
        return;
    }
    case ST_IF:
        if (truthy(eval(ev, s->cond), s->cond->dtype))
            exec(ev, s->then);
        else if (s->els)
            exec(ev, s->els);
        return;
    case ST_STORE: {
        const Buffer *b = &ev->p->bufs[s->buf];
        if (s->val->kind == EX_QFAST4) {
            exec_qfast4(ev, s);
            return;
        }
        if (s->val->lanes > 1) {
            exec_vstore(ev, s);
            return;
        }
        int64_t idx = as_i(eval(ev, s->idx), s->idx->dtype);
        Val v = eval(ev, s->val);
        if (!ev->ok || !in_bounds(ev, s->buf, idx, "store to"))
            return;
        if (b->kind == BK_INPUT || b->kind == BK_CONST) {
            fail(ev, "store to read-only buffer '%s'", b->name);
            return;
        }
        write_elem(ev->ptr[s->buf], b->dtype, idx, convert(v, s->val->dtype, b->dtype));
        return;
    }
    case ST_SET: {
        if (s->local < 0 || s->local >= ev->k->nlocals) {
            fail(ev, "local %d out of range (kernel has %d)", s->local, ev->k->nlocals);
            return;
        }
        int lanes = ev->k->locals[s->local].lanes;
        if (lanes > 1 || s->val->lanes > 1) {
            float tmp[ETCH_MAX_LANES];
            if (s->val->lanes != lanes) {
                fail(ev, "a %d-lane value set to local %d of %d lanes", s->val->lanes, s->local,
                     lanes);
                return;
            }
            for (int l = 0; l < lanes; l++)
                tmp[l] = eval_lane(ev, s->val, l);
            memcpy(ev->vlocals + ev->voff[s->local], tmp, sizeof(float) * (size_t)lanes);
            return;
        }
        Val v = eval(ev, s->val);
        ev->locals[s->local] = convert(v, s->val->dtype, ev->k->locals[s->local].dtype);
        return;
    }
    }
    unreachable("bad statement kind");
}

/* ---------------------------------------------------------------- binding */

static bool bind_buffers(Eval *ev, const void *const *inputs, void *const *outputs,
                         void *workspace)
{
    const Program *p = ev->p;
    for (int i = 0; i < p->ninputs; i++)
        ev->ptr[p->inputs[i]] = (void *)inputs[i]; /* never stored to: checked per store */
    for (int i = 0; i < p->noutputs; i++)
        ev->ptr[p->outputs[i]] = outputs[i];
    for (int i = 0; i < p->nbufs; i++) {
        const Buffer *b = &p->bufs[i];
        int64_t bytes = b->numel * (int64_t)dtype_size(b->dtype);
        if (b->kind == BK_CONST)
            ev->ptr[i] = (void *)b->data;
        if (b->kind == BK_TEMP) {
            if (b->offset < 0 || b->offset + bytes > p->workspace_size ||
                b->offset % (int64_t)dtype_size(b->dtype) != 0) {
                fail(ev, "temp '%s' (%lld bytes at offset %lld) does not fit a %lld-byte "
                     "workspace", b->name, (long long)bytes, (long long)b->offset,
                     (long long)p->workspace_size);
                return false;
            }
            ev->ptr[i] = workspace ? (char *)workspace + b->offset : NULL;
        }
        if (!ev->ptr[i] && b->numel > 0) {
            fail(ev, "buffer '%s' is not bound to memory", b->name);
            return false;
        }
    }
    return true;
}

bool loop_eval(const Program *p, const void *const *inputs, void *const *outputs, void *workspace)
{
    Eval ev = {.p = p, .ok = true};
    ev.ptr = calloc((size_t)p->nbufs + 1, sizeof *ev.ptr);
    if (!ev.ptr)
        return false;
    bool ok = bind_buffers(&ev, inputs, outputs, workspace);
    for (int i = 0; ok && i < p->nkernels; i++) {
        const Kernel *k = &p->kernels[i];
        ev.k = k;
        ev.vars = calloc((size_t)k->nvars + 1, sizeof *ev.vars);
        ev.locals = calloc((size_t)k->nlocals + 1, sizeof *ev.locals);
        ev.voff = calloc((size_t)k->nlocals + 1, sizeof *ev.voff);
        int nv = 0;
        for (int l = 0; ev.voff && l < k->nlocals; l++) {
            ev.voff[l] = nv;
            nv += k->locals[l].lanes > 1 ? k->locals[l].lanes : 0;
        }
        ev.vlocals = calloc((size_t)nv + 1, sizeof *ev.vlocals);
        if (ev.vars && ev.locals && ev.voff && ev.vlocals)
            exec(&ev, k->body);
        else
            ev.ok = false;
        free(ev.vars);
        free(ev.locals);
        free(ev.voff);
        free(ev.vlocals);
        ok = ev.ok;
    }
    free(ev.ptr);
    return ok;
}
