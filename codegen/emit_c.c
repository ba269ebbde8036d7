/* emit_c.c: the C backend, Loop IR printed as C99.
 *
 * Output: PREFIX.h (sizes and the two entry points) and PREFIX.c (weights as
 * `static const` arrays, one `static void` function per kernel, then
 * PREFIX_run and PREFIX_invoke). The walk is generic: statements and
 * expressions map one to one onto C, so no op is known here.
 *
 * Invariants of the output:
 *   - every identifier is a valid C name, unique in its scope, never a
 *     keyword, a libc/libm name, a runtime name (etch_*, ETCH_*), a loop
 *     variable (i<N>) or an entry-point local (ws, workspace, inputs, outputs);
 *   - a kernel's parameters are exactly the buffers it touches, read-only
 *     ones `const`, all `restrict` unless two workspace buffers it touches
 *     overlap (the planner may reuse memory in place);
 *   - float values stay float: literals carry `f`, math goes through the
 *     f-suffixed libm functions, so results match a float interpreter;
 *   - the bytes depend only on the Program: no time, no addresses.
 */
#include "codegen.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ names */

enum { NAME_KERNEL, NAME_LOCAL, NAME_BUFFER };

typedef struct {
    const char *s;
    int kind;
    int kernel;         /* NAME_LOCAL: whose local it is */
    int next;           /* next name in the same hash bucket, or -1 */
} Name;


typedef struct {
    const Program *p;
    Arena *a;
    const char *prefix;     /* sanitized p->name */
    KernelUses *uses;       /* per kernel */
    unsigned char *used;    /* per buffer: touched by some kernel */
    const char **buf;       /* C name per buffer */
    const char **kern;      /* C name per kernel */
    const char ***local;    /* C name per kernel, per local */
    Name *names; int nnames, capnames;
    /* Hash buckets over names[] (heads of `next` chains, -1 when empty), and
     * the same for the fixed reserved words: a model has thousands of names
     * (a conv tile's accumulators), so claiming one must not scan them all. */
    int *bucket; int nbuckets;
    int *rbucket; int nrbuckets;
    const char **rwords; int *rnext; int nrwords;
} Names;

static const char *const c_keywords[] = {
    "auto", "break", "case", "char", "const", "continue", "default", "do", "double",
    "else", "enum", "extern", "float", "for", "goto", "if", "inline", "int", "long",
    "register", "restrict", "return", "short", "signed", "sizeof", "static", "struct",
    "switch", "typedef", "union", "unsigned", "void", "volatile", "while", "_Bool",
    "_Complex", "_Imaginary", "_Alignas", "_Alignof", "_Atomic", "_Generic",
    "_Noreturn", "_Static_assert", "_Thread_local", "bool", "true", "false", "main",
    /* our own locals in the entry points */
    "ws", "workspace", "inputs", "outputs",
    /* libc names visible through the runtime's includes */
    "NULL", "offsetof", "memcpy", "memmove", "memset", "memcmp", "memchr", "strlen",
    "strcpy", "strncpy", "strcat", "strncat", "strcmp", "strncmp", "strchr", "strrchr",
    "strstr", "strtok", "strerror", "strspn", "strcspn", "strpbrk", "strcoll", "strxfrm",
    "INFINITY", "NAN", "HUGE_VAL", "HUGE_VALF", "HUGE_VALL", "isnan", "isinf",
    "isfinite", "isnormal", "signbit", "fpclassify", "isgreater", "isgreaterequal",
    "isless", "islessequal", "islessgreater", "isunordered", "math_errhandling",
    "MATH_ERRNO", "MATH_ERREXCEPT",
};

/* libm functions; each is also reserved with an `f` and an `l` suffix. */
static const char *const libm_names[] = {
    "acos", "asin", "atan", "atan2", "cos", "sin", "tan", "acosh", "asinh", "atanh",
    "cosh", "sinh", "tanh", "exp", "exp2", "expm1", "frexp", "ilogb", "ldexp", "log",
    "log10", "log1p", "log2", "logb", "modf", "scalbn", "scalbln", "cbrt", "fabs",
    "hypot", "pow", "sqrt", "erf", "erfc", "lgamma", "tgamma", "ceil", "floor",
    "nearbyint", "rint", "lrint", "llrint", "round", "lround", "llround", "trunc",
    "fmod", "remainder", "remquo", "copysign", "nan", "nextafter", "nexttoward",
    "fdim", "fmax", "fmin", "fma", "j0", "j1", "jn", "y0", "y1", "yn",
};

static bool starts_with(const char *s, const char *pre)
{
    return strncmp(s, pre, strlen(pre)) == 0;
}

static bool is_loop_var_name(const char *s)
{
    if (s[0] != 'i' || s[1] == '\0')
        return false;
    for (s++; *s; s++)
        if (*s < '0' || *s > '9')
            return false;
    return true;
}

static uint32_t name_hash(const char *s)
{
    uint32_t h = 2166136261u;   /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

/* The words reserved in full (keywords, our entry points' locals, libc and
 * libm names with their f and l variants), hashed once. */
static void reserved_init(Names *nm)
{
    int nk = (int)(sizeof c_keywords / sizeof c_keywords[0]);
    int nl = (int)(sizeof libm_names / sizeof libm_names[0]);
    int n = nk + 3 * nl;
    nm->rwords = arena_alloc(nm->a, sizeof *nm->rwords * (size_t)n);
    nm->rnext = arena_alloc(nm->a, sizeof *nm->rnext * (size_t)n);
    nm->nrbuckets = 1024;
    nm->rbucket = arena_alloc(nm->a, sizeof *nm->rbucket * (size_t)nm->nrbuckets);
    for (int b = 0; b < nm->nrbuckets; b++)
        nm->rbucket[b] = -1;
    for (int i = 0; i < nk + nl; i++) {
        const char *w = i < nk ? c_keywords[i] : libm_names[i - nk];
        for (int v = 0; v < (i < nk ? 1 : 3); v++) {
            const char *word = v == 0 ? w : arena_printf(nm->a, "%s%c", w, v == 1 ? 'f' : 'l');
            int e = nm->nrwords++;
            uint32_t h = name_hash(word) & (uint32_t)(nm->nrbuckets - 1);
            nm->rwords[e] = word;
            nm->rnext[e] = nm->rbucket[h];
            nm->rbucket[h] = e;
        }
    }
}

static bool is_reserved(const Names *nm, const char *s)
{
    uint32_t h = name_hash(s) & (uint32_t)(nm->nrbuckets - 1);
    for (int e = nm->rbucket[h]; e >= 0; e = nm->rnext[e])
        if (strcmp(s, nm->rwords[e]) == 0)
            return true;
    size_t len = strlen(s);
    /* Typedef and macro families of <stdint.h>/<math.h>, the runtime, the
     * implementation's own names, and our PREFIX_* entry points and macros. */
    if (len >= 2 && strcmp(s + len - 2, "_t") == 0)
        return true;
    if (starts_with(s, "etch_") || starts_with(s, "ETCH_") || starts_with(s, "INT") ||
        starts_with(s, "UINT") || starts_with(s, "FP_") || starts_with(s, "SIZE_") ||
        starts_with(s, "PTRDIFF_") || starts_with(s, "SIG_ATOMIC_") ||
        starts_with(s, "WCHAR_") || starts_with(s, "WINT_") || starts_with(s, "__") ||
        (s[0] == '_' && s[1] >= 'A' && s[1] <= 'Z'))
        return true;
    size_t np = strlen(nm->prefix);
    if (strncmp(s, nm->prefix, np) == 0 && s[np] == '_')
        return true;
    return is_loop_var_name(s);
}

/* A C identifier from any string: other characters become '_'. */
static char *sanitize(Arena *a, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    char *out = arena_alloc(a, n + 3);
    size_t j = 0;
    if (n == 0 || (s[0] >= '0' && s[0] <= '9')) {
        out[j++] = 'v';
        out[j++] = '_';
    }
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '_';
        out[j++] = ok ? ch : '_';
    }
    out[j] = '\0';
    return out;
}

/* Whether `s` is taken for a name of `kind`: kernel locals live in their
 * kernel's scope, so locals of different kernels may share a spelling. */
static bool name_taken(const Names *nm, const char *s, int kind, int kernel)
{
    if (is_reserved(nm, s))
        return true;
    uint32_t h = name_hash(s) & (uint32_t)(nm->nbuckets - 1);
    for (int i = nm->bucket[h]; i >= 0; i = nm->names[i].next) {
        const Name *e = &nm->names[i];
        if (kind == NAME_LOCAL && e->kind == NAME_LOCAL && e->kernel != kernel)
            continue;
        if (strcmp(e->s, s) == 0)
            return true;
    }
    return false;
}

static const char *claim(Names *nm, const char *want, int kind, int kernel)
{
    const char *s = want;
    /* A numeric suffix escapes keywords and duplicates; names reserved by
     * their start (etch_*, PREFIX_*, ...) need a different start. */
    bool by_start = is_reserved(nm, arena_printf(nm->a, "%s_1", want));
    for (int n = 1; name_taken(nm, s, kind, kernel); n++)
        s = by_start ? arena_printf(nm->a, "v%d_%s_", n, want)
                     : arena_printf(nm->a, "%s_%d", want, n);
    uint32_t h = name_hash(s) & (uint32_t)(nm->nbuckets - 1);
    Name *e = &VEC_PUSH(nm->a, nm->names, nm->nnames, nm->capnames);
    e->s = s;
    e->kind = kind;
    e->kernel = kernel;
    e->next = nm->bucket[h];
    nm->bucket[h] = nm->nnames - 1;
    return s;
}


static void names_init(Names *nm, const Program *p)
{
    memset(nm, 0, sizeof *nm);
    nm->p = p;
    nm->a = p->arena;
    nm->prefix = sanitize(nm->a, p->name);
    nm->kern = arena_alloc(nm->a, sizeof *nm->kern * (size_t)(p->nkernels + 1));
    nm->local = arena_alloc(nm->a, sizeof *nm->local * (size_t)(p->nkernels + 1));
    nm->buf = arena_alloc(nm->a, sizeof *nm->buf * (size_t)(p->nbufs + 1));
    nm->uses = arena_alloc(nm->a, sizeof *nm->uses * (size_t)(p->nkernels + 1));
    nm->used = arena_alloc(nm->a, (size_t)p->nbufs + 1);
    reserved_init(nm);
    int64_t nnames = p->nkernels + p->nbufs;
    for (int k = 0; k < p->nkernels; k++)
        nnames += p->kernels[k].nlocals;
    nm->nbuckets = 64;
    while (nm->nbuckets < 2 * nnames)
        nm->nbuckets *= 2;
    nm->bucket = arena_alloc(nm->a, sizeof *nm->bucket * (size_t)nm->nbuckets);
    for (int b = 0; b < nm->nbuckets; b++)
        nm->bucket[b] = -1;
    for (int k = 0; k < p->nkernels; k++) {
        nm->uses[k] = loop_kernel_uses(p, &p->kernels[k]);
        for (int b = 0; b < p->nbufs; b++)
            nm->used[b] |= nm->uses[k].buf[b];
    }
    for (int k = 0; k < p->nkernels; k++)
        nm->kern[k] = claim(nm, sanitize(nm->a, p->kernels[k].name), NAME_KERNEL, k);
    for (int k = 0; k < p->nkernels; k++) {
        const Kernel *kn = &p->kernels[k];
        nm->local[k] = arena_alloc(nm->a, sizeof **nm->local * (size_t)(kn->nlocals + 1));
        for (int l = 0; l < kn->nlocals; l++) {
            const char *base = arena_printf(nm->a, "%s%d", sanitize(nm->a, kn->locals[l].name), l);
            nm->local[k][l] = claim(nm, base, NAME_LOCAL, k);
        }
    }
    for (int b = 0; b < p->nbufs; b++)
        nm->buf[b] = claim(nm, sanitize(nm->a, p->bufs[b].name), NAME_BUFFER, -1);
}

/* ---------------------------------------------------------------- literals */

/* The shortest decimal form of v that reads back as the same float, as a
 * C float literal. */
static void fmt_float(char *out, size_t size, float v)
{
    if (isnan(v)) {
        snprintf(out, size, "NAN");
        return;
    }
    if (isinf(v)) {
        snprintf(out, size, "%sINFINITY", v < 0 ? "-" : "");
        return;
    }
    char tmp[48];
    for (int prec = 6; prec <= 9; prec++) {
        snprintf(tmp, sizeof tmp, "%.*g", prec, (double)v);
        float back = strtof(tmp, NULL);
        if (back == v && signbit(back) == signbit(v))
            break;
    }
    /* "1" would be an int and "1f" no literal at all. */
    bool floating = strpbrk(tmp, ".e") != NULL;
    snprintf(out, size, "%s%sf", tmp, floating ? "" : ".0");
}

/* v as an exact C99 hexadecimal float literal ("-0x1.8p-3f"), written
 * without printf: the form for large weight arrays, where the shortest
 * decimal form (fmt_float's strtof search) dominated compile time. */
static void fmt_float_hex(char *out, float v)
{
    if (isnan(v) || isinf(v)) {
        fmt_float(out, 48, v);
        return;
    }
    uint32_t bits;
    memcpy(&bits, &v, sizeof bits);
    char *o = out;
    if (bits >> 31)
        *o++ = '-';
    int exp = (int)((bits >> 23) & 0xff);
    uint32_t frac = bits & 0x7fffff;
    if (exp == 0 && frac == 0) {
        memcpy(o, "0.0f", 5);
        return;
    }
    /* normal: 1.frac * 2^(exp-127); subnormal: 0.frac * 2^-126 */
    *o++ = '0';
    *o++ = 'x';
    *o++ = exp ? '1' : '0';
    uint32_t m = frac << 1; /* 24 bits: six hex digits */
    if (m) {
        *o++ = '.';
        int digits = 6;
        while ((m & 0xf) == 0) {
            m >>= 4;
            digits--;
        }
        for (int d = digits - 1; d >= 0; d--)
            *o++ = "0123456789abcdef"[(m >> (4 * d)) & 0xf];
    }
    *o++ = 'p';
    int e = exp ? exp - 127 : -126;
    if (e < 0) {
        *o++ = '-';
        e = -e;
    }
    char rev[4];
    int n = 0;
    do {
        rev[n++] = (char)('0' + e % 10);
        e /= 10;
    } while (e);
    while (n)
        *o++ = rev[--n];
    *o++ = 'f';
    *o = '\0';
}

/* An integer literal whose C type holds v. The int range is written
 * without snprintf: int8 models are hundreds of thousands of them. */
static void fmt_int(char *out, size_t size, int64_t v)
{
    if (v == INT64_MIN) {
        snprintf(out, size, "(-9223372036854775807LL - 1)");
    } else if (v > 2147483647 || v < -2147483647) {
        snprintf(out, size, "%lldLL", (long long)v);
    } else {
        char rev[12];
        int n = 0;
        uint32_t u = (uint32_t)(v < 0 ? -v : v);
        do
            rev[n++] = (char)('0' + u % 10);
        while (u /= 10);
        if (v < 0)
            rev[n++] = '-';
        for (int i = 0; i < n; i++)
            out[i] = rev[n - 1 - i];
        out[n] = '\0';
    }
}

static void fmt_elem(char *out, size_t size, DType dt, const void *data, int64_t i)
{
    const unsigned char *base = (const unsigned char *)data + (size_t)i * dtype_size(dt);
    switch (dt) {
    case DT_F32: { float v; memcpy(&v, base, sizeof v); fmt_float(out, size, v); return; }
    case DT_I8: { int8_t v; memcpy(&v, base, sizeof v); fmt_int(out, size, v); return; }
    case DT_U8:
    case DT_BOOL: { uint8_t v; memcpy(&v, base, sizeof v); fmt_int(out, size, v); return; }
    case DT_I16: { int16_t v; memcpy(&v, base, sizeof v); fmt_int(out, size, v); return; }
    case DT_I32: { int32_t v; memcpy(&v, base, sizeof v); fmt_int(out, size, v); return; }
    case DT_I64: { int64_t v; memcpy(&v, base, sizeof v); fmt_int(out, size, v); return; }
    case DT_NONE:
    case DT_COUNT: break;
    }
    unreachable("constant buffer of no dtype");
}

/* Text for a one-line C comment: a space splits any comment delimiter. */
static const char *comment_text(Arena *a, const char *s)
{
    if (!s)
        s = "";
    char *out = arena_alloc(a, 2 * strlen(s) + 1);
    size_t j = 0;
    for (const char *q = s; *q; q++) {
        out[j++] = (*q == '\n' || *q == '\r') ? ' ' : *q;
        if ((q[0] == '*' && q[1] == '/') || (q[0] == '/' && q[1] == '*'))
            out[j++] = ' ';
    }
    out[j] = '\0';
    return out;
}

/* ------------------------------------------------------------- expressions */

/* The hot paths of kernel text (megabytes for a model of unrolled conv
 * tiles) write through these rather than printf. */
static void out_str(Writer *w, const char *s)
{
    fputs(s, w->f);
}

/* Loop variable `var` as its C name, i<var>. */
static void out_var(Writer *w, int var)
{
    char buf[16], *q = buf + sizeof buf;
    unsigned v = (unsigned)var;
    *--q = '\0';
    do
        *--q = (char)('0' + v % 10);
    while (v /= 10);
    *--q = 'i';
    fputs(q, w->f);
}

typedef struct {
    Writer *w;
    const Program *p;
    const Names *nm;
    int kernel;
} Emit;

enum {
    PREC_COND = 3, PREC_OR = 4, PREC_AND = 5, PREC_EQ = 9, PREC_REL = 10,
    PREC_SHIFT = 11, PREC_ADD = 12, PREC_MUL = 13, PREC_UNARY = 15, PREC_PRIMARY = 16,
};

static bool is_float(const Expr *e) { return dtype_is_float(e->dtype); }

/* Comparisons and logical ops: gcc's -Wparentheses wants them parenthesized
 * when nested in one another. */
static bool is_logical(const Expr *e)
{
    return e->kind == EX_BIN && e->op >= BIN_LT && e->op <= BIN_OR;
}

static int bin_prec(const Expr *e)
{
    switch (e->op) {
    case BIN_SHL: case BIN_SHR: return PREC_SHIFT;
    case BIN_ADD: case BIN_SUB: return PREC_ADD;
    case BIN_MUL: case BIN_DIV: return PREC_MUL;
    case BIN_MOD: return is_float(e) ? PREC_PRIMARY : PREC_MUL;
    case BIN_LT: case BIN_LE: case BIN_GT: case BIN_GE: return PREC_REL;
    case BIN_EQ: case BIN_NE: return PREC_EQ;
    case BIN_AND: return PREC_AND;
    case BIN_OR: return PREC_OR;
    default: return PREC_PRIMARY; /* min, max, pow: calls */
    }
}

static int expr_prec(const Expr *e)
{
    switch (e->kind) {
    case EX_INT:
        return e->i < 0 ? PREC_UNARY : PREC_PRIMARY;
    case EX_FLT:
        return signbit(e->f) && !isnan(e->f) ? PREC_UNARY : PREC_PRIMARY;
    case EX_VAR: case EX_LOCAL: case EX_LOAD: case EX_DOT4:
        return PREC_PRIMARY;
    case EX_UN:
        return e->op == UN_NEG || e->op == UN_NOT ? PREC_UNARY : PREC_PRIMARY;
    case EX_BIN:
        return bin_prec(e);
    case EX_SELECT:
        return PREC_COND;
    case EX_CAST:
        return PREC_UNARY;
    case EX_BCAST: case EX_LANE: case EX_MULADD: case EX_SHIFT: case EX_QFAST4: case EX_BITCAST:
    case EX_UNZIP:
        return PREC_PRIMARY;
    }
    unreachable("bad expression kind");
}

static void emit_expr(Emit *em, const Expr *e, int min_prec);

static void emit_call1(Emit *em, const char *fn, const Expr *a)
{
    out_str(em->w, fn);
    out_str(em->w, "(");
    emit_expr(em, a, 0);
    out_str(em->w, ")");
}

static void emit_call2(Emit *em, const char *fn, const Expr *a, const Expr *b)
{
    out_str(em->w, fn);
    out_str(em->w, "(");
    emit_expr(em, a, 0);
    out_str(em->w, ", ");
    emit_expr(em, b, 0);
    out_raw(em->w, ")");
}

static const char *unop_fn(UnOp op)
{
    switch (op) {
    case UN_ABS: return "fabsf";
    case UN_EXP: return "expf";
    case UN_LOG: return "logf";
    case UN_SQRT: return "sqrtf";
    case UN_TANH: return "tanhf";
    case UN_ERF: return "erff";
    case UN_FLOOR: return "floorf";
    case UN_CEIL: return "ceilf";
    case UN_ROUND: return "rintf"; /* half to even (default rounding mode) */
    case UN_SIN: return "sinf";
    case UN_COS: return "cosf";
    case UN_TAN: return "tanf";
    case UN_ASIN: return "asinf";
    case UN_ACOS: return "acosf";
    case UN_ATAN: return "atanf";
    case UN_SINH: return "sinhf";
    case UN_COSH: return "coshf";
    case UN_ASINH: return "asinhf";
    case UN_ACOSH: return "acoshf";
    case UN_ATANH: return "atanhf";
    default: unreachable("unary op without a math function");
    }
}

/* Float math on an integer operand: computed in float, converted back. */
static void emit_float_math1(Emit *em, const char *fn, const Expr *e)
{
    out_raw(em->w, "(%s)%s((float)", dtype_ctype(e->dtype), fn);
    emit_expr(em, e->a, PREC_UNARY);
    out_raw(em->w, ")");
}

static void emit_unary(Emit *em, const Expr *e)
{
    switch (e->op) {
    case UN_NEG:
    case UN_NOT:
        /* A primary operand keeps `- -x` from printing as `--x`. */
        out_raw(em->w, e->op == UN_NEG ? "-" : "!");
        emit_expr(em, e->a, PREC_PRIMARY);
        return;
    case UN_ABS:
        emit_call1(em, is_float(e->a) ? "fabsf" : "etch_absi", e->a);
        return;
    case UN_ISNAN:
        /* isnan gives some nonzero int; a bool must be exactly 0 or 1. */
        if (is_float(e->a)) {
            out_raw(em->w, "(isnan(");
            emit_expr(em, e->a, 0);
            out_raw(em->w, ") != 0)");
        } else {
            out_raw(em->w, "0");
        }
        return;
    default:
        if (is_float(e->a))
            emit_call1(em, unop_fn((UnOp)e->op), e->a);
        else
            emit_float_math1(em, unop_fn((UnOp)e->op), e);
        return;
    }
}

static void emit_call3(Emit *em, const char *fn, const Expr *a, const Expr *b, const Expr *c)
{
    out_raw(em->w, "%s(", fn);
    emit_expr(em, a, 0);
    out_raw(em->w, ", ");
    emit_expr(em, b, 0);
    out_raw(em->w, ", ");
    emit_expr(em, c, 0);
    out_raw(em->w, ")");
}

/* Vector ops are calls of the helpers cg_emit_c_vector_helpers defines, named
 * by op and width: etch_vadd8(a, b). */
static const char *vec_fn(Emit *em, const char *op, int lanes)
{
    return arena_printf(em->p->arena, "etch_v%s%d", op, lanes);
}

static void emit_vector_binary(Emit *em, const Expr *e)
{
    const char *op;
    switch (e->op) {
    case BIN_ADD: op = "add"; break;
    case BIN_SUB: op = "sub"; break;
    case BIN_MUL: op = "mul"; break;
    case BIN_DIV: op = "div"; break;
    case BIN_MIN: op = "min"; break;
    case BIN_MAX: op = "max"; break;
    default: unreachable("a vector binary op without a helper");
    }
    emit_call2(em, vec_fn(em, op, e->lanes), e->a, e->b);
}

static void emit_binary(Emit *em, const Expr *e)
{
    if (e->lanes > 1) {
        emit_vector_binary(em, e);
        return;
    }
    bool fl = is_float(e->a);
    /* int32 min/max where both sides fit: on a 32-bit MCU the int64
     * helpers cost a compare-with-borrow chain each (requantization clamps
     * every int8 output). */
    bool narrow = !fl && dtype_size(e->a->dtype) <= 4 && dtype_size(e->b->dtype) <= 4;
    switch (e->op) {
    case BIN_MIN: emit_call2(em, fl ? "etch_minf" : narrow ? "etch_mini32" : "etch_mini", e->a, e->b); return;
    case BIN_MAX: emit_call2(em, fl ? "etch_maxf" : narrow ? "etch_maxi32" : "etch_maxi", e->a, e->b); return;
    case BIN_POW:
        if (fl) {
            emit_call2(em, "powf", e->a, e->b);
        } else {
            out_raw(em->w, "(%s)powf((float)", dtype_ctype(e->dtype));
            emit_expr(em, e->a, PREC_UNARY);
            out_raw(em->w, ", (float)");
            emit_expr(em, e->b, PREC_UNARY);
            out_raw(em->w, ")");
        }
        return;
    case BIN_MOD:
        if (fl) {
            emit_call2(em, "fmodf", e->a, e->b);
            return;
        }
        break;
    case BIN_SHL:
    case BIN_SHR:
        /* A shift has its left operand's C type: a literal would be int. */
        if (e->a->kind == EX_INT) {
            out_raw(em->w, "(%s)", dtype_ctype(e->dtype));
            emit_expr(em, e->a, PREC_UNARY);
            out_raw(em->w, " %s ", binop_name((BinOp)e->op));
            emit_expr(em, e->b, PREC_MUL);
            return;
        }
        break;
    default:
        break;
    }
    int prec = bin_prec(e);
    int lp = prec, rp = prec + 1;
    if (is_logical(e)) {
        if (is_logical(e->a)) lp = PREC_PRIMARY;
        if (is_logical(e->b)) rp = PREC_PRIMARY;
    }
    if (e->op == BIN_SHL || e->op == BIN_SHR)
        lp = rp = PREC_MUL; /* gcc's -Wparentheses: a + b >> c reads badly */
    emit_expr(em, e->a, lp);
    out_str(em->w, " ");
    out_str(em->w, binop_name((BinOp)e->op));
    out_str(em->w, " ");
    emit_expr(em, e->b, rp);
}

static void emit_cast(Emit *em, const Expr *e)
{
    if (e->dtype == DT_BOOL) {
        /* Any nonzero value is true, not just values that truncate to 1. */
        out_raw(em->w, "(uint8_t)(");
        emit_expr(em, e->a, PREC_REL);
        out_raw(em->w, " != 0)");
        return;
    }
    out_raw(em->w, "(%s)", dtype_ctype(e->dtype));
    emit_expr(em, e->a, PREC_UNARY);
}

static void emit_expr(Emit *em, const Expr *e, int min_prec)
{
    bool paren = expr_prec(e) < min_prec;
    char lit[64];
    if (paren)
        out_raw(em->w, "(");
    switch (e->kind) {
    case EX_INT:
        if (dtype_is_float(e->dtype))
            fmt_float(lit, sizeof lit, (float)e->i);
        else
            fmt_int(lit, sizeof lit, e->i);
        out_str(em->w, lit);
        break;
    case EX_FLT:
        fmt_float(lit, sizeof lit, (float)e->f);
        out_str(em->w, lit);
        break;
    case EX_VAR:
        out_var(em->w, e->var);
        break;
    case EX_LOCAL:
        out_str(em->w, em->nm->local[em->kernel][e->local]);
        break;
    case EX_LOAD:
        if (e->lanes > 1) {
            out_raw(em->w, "%s(%s + ", vec_fn(em, "ld", e->lanes), em->nm->buf[e->buf]);
            emit_expr(em, e->a, PREC_ADD + 1);
            out_raw(em->w, ")");
            break;
        }
        out_str(em->w, em->nm->buf[e->buf]);
        out_str(em->w, "[");
        emit_expr(em, e->a, 0);
        out_raw(em->w, "]");
        break;
    case EX_BCAST:
        emit_call1(em, vec_fn(em, "dup", e->lanes), e->a);
        break;
    case EX_LANE:
        out_raw(em->w, "%s(", vec_fn(em, "lane", e->a->lanes));
        emit_expr(em, e->a, 0);
        out_raw(em->w, ", %d)", (int)e->i);
        break;
    case EX_MULADD:
        emit_call3(em, e->lanes > 1 ? vec_fn(em, "fma", e->lanes) : "etch_fmaf", e->a, e->b, e->c);
        break;
    case EX_SHIFT:
        out_raw(em->w, "etch_vshift%d_%c%d(", e->lanes, e->i < 0 ? 'm' : 'p',
                (int)(e->i < 0 ? -e->i : e->i));
        emit_expr(em, e->a, 0);
        out_raw(em->w, ")");
        break;
    case EX_UNZIP:
        out_raw(em->w, "etch_vunzip%d_%d(", e->lanes, (int)e->i);
        emit_expr(em, e->a, 0);
        out_raw(em->w, ", ");
        emit_expr(em, e->b, 0);
        out_raw(em->w, ")");
        break;
    case EX_UN:
        emit_unary(em, e);
        break;
    case EX_BIN:
        emit_binary(em, e);
        break;
    case EX_SELECT:
        emit_expr(em, e->c, PREC_OR);
        out_raw(em->w, " ? ");
        emit_expr(em, e->a, PREC_OR);
        out_raw(em->w, " : ");
        emit_expr(em, e->b, PREC_OR);
        break;
    case EX_CAST:
        emit_cast(em, e);
        break;
    case EX_QFAST4:
        unreachable("qfast4 outside a store");
    case EX_BITCAST:
        emit_call1(em, e->dtype == DT_I32 ? "etch_f32_bits" : "etch_bits_f32", e->a);
        break;
    case EX_DOT4:
        out_raw(em->w, "etch_dot4_i8(");
        emit_expr(em, e->c, 0);
        for (int s = 0; s < 2; s++) {
            const Expr *ld = s ? e->b : e->a;
            out_raw(em->w, ", &%s[", em->nm->buf[ld->buf]);
            emit_expr(em, ld->a, 0);
            out_raw(em->w, "]");
        }
        out_raw(em->w, ")");
        break;
    }
    if (paren)
        out_raw(em->w, ")");
}

/* -------------------------------------------------------------- statements */

static void line_start(Writer *w)
{
    for (int i = 0; i < w->indent; i++)
        out_str(w, "    ");
}

static void blank(Writer *w)
{
    out_raw(w, "\n");
}

/* y[idx .. idx + 4) = qadd4 / qmul4 of a and b: a call of the runtime's
 * etch_qadd4_i8 or etch_qmul4_i8 (etch_qadd4_one_i8, etch_qmul4_one_i8
 * when b is one code; etch_qadd4_two_i8, etch_qmul4_two_i8 with the second
 * code and its first lane, a constant the compiler folds) with the QFast
 * constants (inlined, so the compiler keeps them in registers across the
 * loop and hoists b's part of a run). */
static void emit_qfast4(Emit *em, const Stmt *s)
{
    const QFast *q = s->val->q;
    bool one = s->val->i, two = s->val->c;
    out_raw(em->w, "etch_%s4%s_i8(&%s[", q->mul ? "qmul" : "qadd", two ? "_two" : one ? "_one" : "",
            em->nm->buf[s->buf]);
    emit_expr(em, s->idx, 0);
    out_raw(em->w, "], &%s[", em->nm->buf[s->val->a->buf]);
    emit_expr(em, s->val->a->a, 0);
    if (one) {
        out_raw(em->w, "], ");
        emit_expr(em, s->val->b, 0);
        if (two) {
            out_raw(em->w, ", ");
            emit_expr(em, s->val->c, 0);
            out_raw(em->w, ", %d", (int)s->val->i);
        }
    } else {
        out_raw(em->w, "], &%s[", em->nm->buf[s->val->b->buf]);
        emit_expr(em, s->val->b->a, 0);
        out_raw(em->w, "]");
    }
    if (q->mul)
        out_raw(em->w, ", %d, %d, %d, %d, %d", q->z0, q->z1, q->m0, q->c, q->shift);
    else
        out_raw(em->w, ", %d, %d, %d, %d", q->m0, q->m1, q->c, q->shift);
    out_raw(em->w, ", %d, %d);\n", q->lo, q->hi);
}

static void emit_stmt(Emit *em, const Stmt *s)
{
    Writer *w = em->w;
    switch (s->kind) {
    case ST_BLOCK:
        for (int i = 0; i < s->n; i++)
            emit_stmt(em, s->items[i]);
        return;
    case ST_FOR:
        if (s->step <= 0)
            unreachable("for-loop with a non-positive step");
        /* LOOP_UNROLL with a constant trip count: ask the C compiler (GCC's
         * pragma, which Clang accepts; others ignore it). */
        if ((s->flags & LOOP_UNROLL) && s->lo->kind == EX_INT && s->hi->kind == EX_INT &&
            s->hi->i > s->lo->i && (s->hi->i - s->lo->i) / s->step <= 64)
            out_line(w, "#pragma GCC unroll %lld", (long long)((s->hi->i - s->lo->i + s->step - 1) / s->step));
        line_start(w);
        out_raw(w, "for (int i%d = ", s->var);
        emit_expr(em, s->lo, 0);
        out_raw(w, "; i%d < ", s->var);
        emit_expr(em, s->hi, PREC_REL + 1);
        if (s->step == 1)
            out_raw(w, "; i%d++) {\n", s->var);
        else
            out_raw(w, "; i%d += %lld) {\n", s->var, (long long)s->step);
        w->indent++;
        emit_stmt(em, s->body);
        w->indent--;
        out_line(w, "}");
        return;
    case ST_IF:
        line_start(w);
        out_raw(w, "if (");
        emit_expr(em, s->cond, 0);
        out_raw(w, ") {\n");
        w->indent++;
        emit_stmt(em, s->then);
        w->indent--;
        if (s->els) {
            out_line(w, "} else {");
            w->indent++;
            emit_stmt(em, s->els);
            w->indent--;
        }
        out_line(w, "}");
        return;
    case ST_STORE:
        line_start(w);
        if (s->val->kind == EX_QFAST4) {
            emit_qfast4(em, s);
            return;
        }
        if (s->val->lanes > 1) {
            out_raw(w, "%s(%s + ", vec_fn(em, "st", s->val->lanes), em->nm->buf[s->buf]);
            emit_expr(em, s->idx, PREC_ADD + 1);
            out_raw(w, ", ");
            emit_expr(em, s->val, 0);
            out_raw(w, ");\n");
            return;
        }
        out_str(w, em->nm->buf[s->buf]);
        out_str(w, "[");
        emit_expr(em, s->idx, 0);
        out_raw(w, "] = ");
        emit_expr(em, s->val, 0);
        out_raw(w, ";\n");
        return;
    case ST_SET:
        line_start(w);
        out_str(w, em->nm->local[em->kernel][s->local]);
        out_str(w, " = ");
        emit_expr(em, s->val, 0);
        out_raw(w, ";\n");
        return;
    }
    unreachable("bad statement kind");
}

/* ----------------------------------------------------------------- kernels */

/* Whether s holds a statement `is` says yes to. */
static bool has_stmt(const Stmt *s, bool (*is)(const Stmt *))
{
    if (!s)
        return false;
    if (is(s))
        return true;
    switch (s->kind) {
    case ST_BLOCK:
        for (int i = 0; i < s->n; i++)
            if (has_stmt(s->items[i], is))
                return true;
        return false;
    case ST_FOR:
        return has_stmt(s->body, is);
    case ST_IF:
        return has_stmt(s->then, is) || has_stmt(s->els, is);
    default:
        return false;
    }
}

static bool is_slp_loop(const Stmt *s)
{
    return s->kind == ST_FOR && (s->flags & LOOP_SLP);
}

static bool is_qfast4(const Stmt *s)
{
    return s->kind == ST_STORE && s->val->kind == EX_QFAST4;
}

static void emit_kernel(Writer *w, const Program *p, const Names *nm, int ki)
{
    const Kernel *k = &p->kernels[ki];
    const KernelUses *up = &nm->uses[ki];
    KernelUses u = *up;
    out_line(w, "/* %s */", comment_text(p->arena, k->comment ? k->comment : k->name));
    /* LOOP_SLP: GCC's loop vectorizer would vectorize such a loop across
     * its iterations, with in-order (fold-left) reductions of every
     * accumulator, which is far slower than the tile; GCC before 14 has no
     * per-loop pragma to stop it, so the kernel opts out as a whole (its
     * basic-block SLP vectorizer still packs the tile). Clang keeps the
     * loop scalar by itself. */
    if (has_stmt(k->body, is_slp_loop)) {
        out_line(w, "#if defined(__GNUC__) && !defined(__clang__)");
        out_line(w, "__attribute__((optimize(\"no-tree-loop-vectorize\")))");
        out_line(w, "#endif");
    }
    /* Vector locals: a register tile of vector sums (lower_nn.c), which
     * fills the vector registers. GCC's regional register allocation
     * spilled sums out of the tile's inner loop (a 6 x 2 conv tile at 64%
     * of its speed with one region per function, the same elsewhere). */
    bool vector_tile = false;
    for (int l = 0; l < k->nlocals; l++)
        vector_tile |= k->locals[l].lanes > 1;
    if (vector_tile) {
        out_line(w, "#if defined(__GNUC__) && !defined(__clang__)");
        out_line(w, "__attribute__((optimize(\"ira-region=one\")))");
        out_line(w, "#endif");
    }
    /* qfast4: GCC's first scheduling pass (on for ARM at -O2) hoisted the
     * word loads and codes of a loop step's groups ahead of their use, so
     * that they spilled (qadd, runs of 7 on Cortex-M4: 51 stack accesses
     * in the kernel, 4 without it). */
    if (has_stmt(k->body, is_qfast4)) {
        out_line(w, "#if defined(__GNUC__) && !defined(__clang__)");
        out_line(w, "__attribute__((optimize(\"no-schedule-insns\")))");
        out_line(w, "#endif");
    }
    /* A kernel stays a function of its own: its restrict parameters are
     * what tells the compiler its buffers do not overlap, and inlined into
     * the entry point, where bare-metal I/O lives inside the workspace, GCC
     * lost that (float KWS on Cortex-M4: 3.20 -> 3.41 instructions per MAC
     * once a reshape became a view and the first conv read the input). */
    out_line(w, "#if defined(__GNUC__)");
    out_line(w, "__attribute__((noinline))");
    out_line(w, "#endif");
    out_raw(w, "static void %s(", nm->kern[ki]);
    int nparams = 0;
    for (int b = 0; b < p->nbufs; b++) {
        if (!u.buf[b])
            continue;
        const Buffer *buf = &p->bufs[b];
        bool ro = !(u.buf[b] & USE_WRITE);
        if (!ro && (buf->kind == BK_INPUT || buf->kind == BK_CONST))
            unreachable("a kernel stores to an input or a constant");
        out_raw(w, "%s%s%s *%s%s", nparams ? ", " : "", ro ? "const " : "",
                dtype_ctype(buf->dtype), loop_may_restrict(p, &u, b) ? "restrict " : "", nm->buf[b]);
        nparams++;
    }
    out_raw(w, "%s)\n", nparams ? "" : "void");
    out_line(w, "{");
    w->indent++;
    /* Locals start at zero so no compiler sees a maybe-uninitialized read. */
    bool any_local = false;
    for (int l = 0; l < k->nlocals; l++) {
        if (!u.local[l])
            continue;
        DType dt = k->locals[l].dtype;
        int lanes = k->locals[l].lanes;
        if (lanes > 1)
            out_line(w, "etch_f32x%d %s = etch_vdup%d(0.0f);", lanes, nm->local[ki][l], lanes);
        else
            out_line(w, "%s %s = %s;", dtype_ctype(dt), nm->local[ki][l],
                     dtype_is_float(dt) ? "0.0f" : "0");
        any_local = true;
    }
    for (int l = 0; l < k->nlocals; l++)
        if (u.local[l] == USE_WRITE)
            out_line(w, "(void)%s;", nm->local[ki][l]);
    if (any_local && k->body->n)
        blank(w);
    Emit em = {.w = w, .p = p, .nm = nm, .kernel = ki};
    emit_stmt(&em, k->body);
    w->indent--;
    out_line(w, "}");
}

/* --------------------------------------------------------------- weights */

enum { HEX_MIN_ELEMS = 256 };

static void emit_const(Writer *w, const Program *p, const Names *nm, int b)
{
    const Buffer *buf = &p->bufs[b];
    if (buf->numel == 0 || !buf->data) {
        /* C has no zero-length arrays; nothing reads this one. */
        out_line(w, "static const %s %s[1] = {0};", dtype_ctype(buf->dtype), nm->buf[b]);
        return;
    }
    /* Large float arrays are exact hex literals: fast to write, and nobody
     * reads a thousand weights; small ones stay readable decimals. */
    bool hex = buf->dtype == DT_F32 && buf->numel > HEX_MIN_ELEMS;
    if (hex)
        out_line(w, "/* %lld weights as exact hexadecimal floats */", (long long)buf->numel);
    out_line(w, "static const %s %s[%lld] = {", dtype_ctype(buf->dtype), nm->buf[b],
             (long long)buf->numel);
    char lit[64];
    int col = 0;
    for (int64_t i = 0; i < buf->numel; i++) {
        if (hex)
            fmt_float_hex(lit, ((const float *)buf->data)[i]);
        else
            fmt_elem(lit, sizeof lit, buf->dtype, buf->data, i);
        int len = (int)strlen(lit) + 1;
        if (col > 0 && col + len + 1 > 92) {
            out_raw(w, "\n");
            col = 0;
        }
        fputs(col == 0 ? "    " : " ", w->f);
        fputs(lit, w->f);
        fputc(',', w->f);
        col += col == 0 ? 4 + len : len + 1;
    }
    out_raw(w, "\n");
    out_line(w, "};");
}

/* ------------------------------------------------------------ entry points */

static void emit_run_params(Writer *w, const Program *p, const Names *nm)
{
    for (int i = 0; i < p->ninputs; i++) {
        const Buffer *b = &p->bufs[p->inputs[i]];
        out_raw(w, "const %s *%s, ", dtype_ctype(b->dtype), nm->buf[p->inputs[i]]);
    }
    for (int i = 0; i < p->noutputs; i++) {
        const Buffer *b = &p->bufs[p->outputs[i]];
        out_raw(w, "%s *%s, ", dtype_ctype(b->dtype), nm->buf[p->outputs[i]]);
    }
    out_raw(w, "void *workspace)");
}

static void emit_prototypes(Writer *w, const Program *p, const Names *nm)
{
    out_raw(w, "int %s_run(", nm->prefix);
    emit_run_params(w, p, nm);
    out_raw(w, ";\n");
    out_line(w, "int %s_invoke(const void *const *inputs, void *const *outputs, void *workspace);",
             nm->prefix);
}

static bool temp_used(const Program *p, const Names *nm, int b)
{
    return p->bufs[b].kind == BK_TEMP && nm->used[b];
}

static void emit_run(Writer *w, const Program *p, const Names *nm)
{
    out_raw(w, "int %s_run(", nm->prefix);
    emit_run_params(w, p, nm);
    out_raw(w, "\n{\n");
    w->indent++;
    int nargs = p->ninputs + p->noutputs;
    if (nargs > 0) {
        line_start(w);
        out_raw(w, "if (");
        for (int i = 0; i < nargs; i++) {
            int b = i < p->ninputs ? p->inputs[i] : p->outputs[i - p->ninputs];
            out_raw(w, "%s%s == NULL", i ? " || " : "", nm->buf[b]);
        }
        out_raw(w, ")\n");
        out_line(w, "    return ETCH_ERR_NULL_ARG;");
    }
    bool any_temp = false;
    for (int b = 0; b < p->nbufs; b++)
        any_temp |= temp_used(p, nm, b);
    if (p->workspace_size > 0) {
        out_line(w, "if (workspace == NULL)");
        out_line(w, "    return ETCH_ERR_NULL_ARG;");
        out_line(w, "if (((uintptr_t)workspace & (ETCH_WORKSPACE_ALIGN - 1)) != 0)");
        out_line(w, "    return ETCH_ERR_ALIGNMENT;");
    }
    if (any_temp) {
        out_line(w, "unsigned char *ws = (unsigned char *)workspace;");
        for (int b = 0; b < p->nbufs; b++) {
            if (!temp_used(p, nm, b))
                continue;
            const Buffer *buf = &p->bufs[b];
            if (buf->offset < 0 || buf->offset + buf->numel * (int64_t)dtype_size(buf->dtype) >
                                       p->workspace_size)
                unreachable("a workspace buffer lies outside the planned workspace");
            const char *ct = dtype_ctype(buf->dtype);
            out_line(w, "%s *%s = (%s *)(ws + %lld);", ct, nm->buf[b], ct,
                     (long long)buf->offset);
        }
    } else {
        out_line(w, "(void)workspace;");
    }
    for (int k = 0; k < p->nkernels; k++) {
        const KernelUses *u = &nm->uses[k];
        line_start(w);
        out_raw(w, "%s(", nm->kern[k]);
        int n = 0;
        for (int b = 0; b < p->nbufs; b++)
            if (u->buf[b])
                out_raw(w, "%s%s", n++ ? ", " : "", nm->buf[b]);
        out_raw(w, ");\n");
    }
    out_line(w, "return ETCH_OK;");
    w->indent--;
    out_line(w, "}");
}

static void emit_invoke(Writer *w, const Program *p, const Names *nm)
{
    out_line(w, "int %s_invoke(const void *const *inputs, void *const *outputs, void *workspace)",
             nm->prefix);
    out_line(w, "{");
    w->indent++;
    if (p->ninputs > 0) {
        out_line(w, "if (inputs == NULL)");
        out_line(w, "    return ETCH_ERR_NULL_ARG;");
    } else {
        out_line(w, "(void)inputs;");
    }
    if (p->noutputs > 0) {
        out_line(w, "if (outputs == NULL)");
        out_line(w, "    return ETCH_ERR_NULL_ARG;");
    } else {
        out_line(w, "(void)outputs;");
    }
    line_start(w);
    out_raw(w, "return %s_run(", nm->prefix);
    for (int i = 0; i < p->ninputs; i++)
        out_raw(w, "(const %s *)inputs[%d], ", dtype_ctype(p->bufs[p->inputs[i]].dtype), i);
    for (int i = 0; i < p->noutputs; i++)
        out_raw(w, "(%s *)outputs[%d], ", dtype_ctype(p->bufs[p->outputs[i]].dtype), i);
    out_raw(w, "workspace);\n");
    w->indent--;
    out_line(w, "}");
}

/* ------------------------------------------------------------------ files */

static const char *guard_name(Arena *a, const char *prefix)
{
    char *g = arena_printf(a, "ETCH_%s_H", prefix);
    for (char *q = g; *q; q++)
        if (*q >= 'a' && *q <= 'z')
            *q = (char)(*q - 'a' + 'A');
    return g;
}

static void emit_header(Writer *w, const Program *p, const Names *nm)
{
    const char *pre = nm->prefix;
    const char *guard = guard_name(p->arena, pre);
    out_line(w, "/* %s.h: generated by etch %s; do not edit.", pre, ETCH_VERSION);
    out_line(w, " *");
    out_line(w, " * %s_run(inputs..., outputs..., workspace) runs the model once;", pre);
    out_line(w, " * %s_invoke does the same through arrays of pointers. The caller", pre);
    out_line(w, " * provides a workspace of %s_WORKSPACE_SIZE bytes aligned to", pre);
    out_line(w, " * ETCH_WORKSPACE_ALIGN (16) bytes (NULL is fine when the size is 0).");
    if (p->io_in_arena) {
        out_line(w, " * Inputs and outputs may live inside the workspace, each at its");
        out_line(w, " * %s_INPUTi_OFFSET / %s_OUTPUTi_OFFSET (bytes reserved for it),", pre, pre);
        out_line(w, " * or in buffers of the caller's that overlap nothing. Both return");
    } else {
        out_line(w, " * Inputs, outputs and the workspace must not overlap. Both return");
    }
    out_line(w, " * ETCH_OK (0), or an ETCH_ERR_* status from etch_runtime.h.");
    out_line(w, " */");
    out_line(w, "#ifndef %s", guard);
    out_line(w, "#define %s", guard);
    blank(w);
    out_line(w, "#include \"etch_runtime.h\"");
    blank(w);
    out_line(w, "#ifdef __cplusplus");
    out_line(w, "extern \"C\" {");
    out_line(w, "#endif");
    blank(w);
    out_line(w, "#define %s_WORKSPACE_SIZE %lld", pre, (long long)p->workspace_size);
    out_line(w, "#define %s_NUM_INPUTS %d", pre, p->ninputs);
    out_line(w, "#define %s_NUM_OUTPUTS %d", pre, p->noutputs);
    blank(w);
    out_line(w, "/* Element counts, in argument order. */");
    for (int i = 0; i < p->ninputs; i++) {
        const Buffer *b = &p->bufs[p->inputs[i]];
        out_line(w, "#define %s_INPUT%d_NUMEL %lld /* %s: %s */", pre, i, (long long)b->numel,
                 comment_text(p->arena, b->name), dtype_name(b->dtype));
    }
    for (int i = 0; i < p->noutputs; i++) {
        const Buffer *b = &p->bufs[p->outputs[i]];
        out_line(w, "#define %s_OUTPUT%d_NUMEL %lld /* %s: %s */", pre, i, (long long)b->numel,
                 comment_text(p->arena, b->name), dtype_name(b->dtype));
    }
    if (p->io_in_arena) {
        blank(w);
        out_line(w, "/* Where each input and output may live inside the workspace (bytes). */");
        for (int i = 0; i < p->ninputs; i++)
            out_line(w, "#define %s_INPUT%d_OFFSET %lld", pre, i,
                     (long long)p->bufs[p->inputs[i]].offset);
        for (int i = 0; i < p->noutputs; i++)
            out_line(w, "#define %s_OUTPUT%d_OFFSET %lld", pre, i,
                     (long long)p->bufs[p->outputs[i]].offset);
    }
    blank(w);
    emit_prototypes(w, p, nm);
    blank(w);
    out_line(w, "#ifdef __cplusplus");
    out_line(w, "}");
    out_line(w, "#endif");
    blank(w);
    out_line(w, "#endif /* %s */", guard);
}

static void emit_source(Writer *w, const Program *p, const Names *nm)
{
    out_line(w, "/* %s.c: generated by etch %s; do not edit.", nm->prefix, ETCH_VERSION);
    out_line(w, " * %d kernel%s; workspace %lld bytes (planner lower bound %lld). */",
             p->nkernels, p->nkernels == 1 ? "" : "s", (long long)p->workspace_size,
             (long long)p->workspace_lower_bound);
    /* The fast-math pass's selects feed arithmetic; under GCC's default
     * -ftrapping-math its if-conversion keeps them branches (a compare may
     * raise FE_INVALID), and the loop does not vectorize. Generated code
     * never reads the FP exception flags (Clang and the LLVM backend assume
     * it ignores them by default). A file-wide pragma, before the includes:
     * an attribute on the kernel alone would stop the runtime's inline
     * helpers, compiled with other options, from inlining into it. */
    if (p->fast_math) {
        out_line(w, "#if defined(__GNUC__) && !defined(__clang__)");
        out_line(w, "#pragma GCC optimize(\"no-trapping-math\")");
        out_line(w, "#endif");
    }
    out_line(w, "#include \"%s.h\"", nm->prefix);
    out_line(w, "#include \"etch_runtime.h\"");
    cg_emit_c_vector_helpers(w, p);
    for (int b = 0; b < p->nbufs; b++) {
        if (p->bufs[b].kind != BK_CONST || !nm->used[b])
            continue;
        blank(w);
        emit_const(w, p, nm, b);
    }
    for (int k = 0; k < p->nkernels; k++) {
        blank(w);
        emit_kernel(w, p, nm, k);
    }
    blank(w);
    emit_run(w, p, nm);
    blank(w);
    emit_invoke(w, p, nm);
}

void cg_emit_c_source(FILE *f, const Program *p)
{
    Names nm;
    names_init(&nm, p);
    Writer w = {.f = f, .indent = 0};
    emit_source(&w, p, &nm);
}

void cg_emit_c_header(FILE *f, const Program *p)
{
    Names nm;
    names_init(&nm, p);
    Writer w = {.f = f, .indent = 0};
    emit_header(&w, p, &nm);
}

typedef void EmitFileFn(Writer *w, const Program *p, const Names *nm);

static bool write_file(Ctx *c, const char *path, EmitFileFn *fn, const Program *p, const Names *nm)
{
    FILE *f = fopen(path, "wb");
    if (!f) {
        diag_error(c, (Loc){.file = path}, "cannot create file: %s", strerror(errno));
        return false;
    }
    /* Megabytes of weights: a large buffer saves a write per 4 KiB. */
    setvbuf(f, NULL, _IOFBF, 1 << 20);
    Writer w = {.f = f, .indent = 0};
    fn(&w, p, nm);
    bool ok = !ferror(f);
    if (fclose(f) != 0 || !ok) {
        diag_error(c, (Loc){.file = path}, "cannot write file: %s", strerror(errno));
        return false;
    }
    return true;
}

bool cg_emit_c(Ctx *c, const Program *p, const char *dir)
{
    const char *prefix = sanitize(c->arena, p->name);
    const char *src = arena_printf(c->arena, "%s/%s.c", dir, prefix);
    const char *hdr = arena_printf(c->arena, "%s/%s.h", dir, prefix);
    Names nm;
    names_init(&nm, p);
    if (!write_file(c, hdr, emit_header, p, &nm) || !write_file(c, src, emit_source, p, &nm))
        return false;
    if (!cg_write_runtime(dir)) {
        diag_error(c, (Loc){.file = dir}, "cannot write etch_runtime.h: %s", strerror(errno));
        return false;
    }
    return true;
}
