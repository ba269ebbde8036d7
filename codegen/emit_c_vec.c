/* emit_c_vec.c: the C backend's vector helpers.
 *
 * Loop IR vectors become calls of helpers (etch_vldN, etch_vfmaN,
 * etch_vshiftN_pK, etch_vunzipN_K, ...) that the C file defines up front,
 * for the widths and shifts the program uses only: GCC/Clang vector
 * extensions (with the x86 FMA intrinsics where the target has them), or
 * plain C99 arrays in a struct elsewhere (ETCH_PORTABLE_VECTORS).
 */
#include "codegen.h"

#include <stdio.h>
#include <string.h>

/* Which vector widths (bit `lanes`) and whether a scalar multiply-add the
 * program uses: the helpers are written for those only. */
typedef struct {
    unsigned widths;
    bool fmaf;
    uint32_t shifts[ETCH_MAX_LANES + 1];  /* per width: bit 16 + n for a shift by n */
    unsigned unzips[ETCH_MAX_LANES + 1];  /* per width: bit i for an unzip from lane i */
} VecUse;

static void vec_use_expr(VecUse *v, const Expr *e)
{
    if (!e)
        return;
    if (e->lanes > 1 && e->kind != EX_QFAST4) /* four i8: a runtime call */
        v->widths |= 1u << e->lanes;
    if (e->kind == EX_MULADD && e->lanes == 1)
        v->fmaf = true;
    if (e->kind == EX_SHIFT)
        v->shifts[e->lanes] |= 1u << (16 + e->i);
    if (e->kind == EX_UNZIP)
        v->unzips[e->lanes] |= 1u << e->i;
    vec_use_expr(v, e->a);
    vec_use_expr(v, e->b);
    vec_use_expr(v, e->c);
}

static void vec_use_stmt(VecUse *v, const Stmt *s)
{
    if (!s)
        return;
    switch (s->kind) {
    case ST_BLOCK:
        for (int i = 0; i < s->n; i++)
            vec_use_stmt(v, s->items[i]);
        return;
    case ST_FOR:
        vec_use_expr(v, s->lo);
        vec_use_expr(v, s->hi);
        vec_use_stmt(v, s->body);
        return;
    case ST_IF:
        vec_use_expr(v, s->cond);
        vec_use_stmt(v, s->then);
        vec_use_stmt(v, s->els);
        return;
    case ST_STORE:
        vec_use_expr(v, s->idx);
        vec_use_expr(v, s->val);
        return;
    case ST_SET:
        vec_use_expr(v, s->val);
        return;
    }
}

/* The x86 fused multiply-add intrinsic of a vector width, or NULL. */
static const char *x86_fma(int lanes, const char **guard)
{
    switch (lanes) {
    case 4: *guard = "defined(__FMA__)"; return "_mm_fmadd_ps";
    case 8: *guard = "defined(__FMA__) && defined(__AVX__)"; return "_mm256_fmadd_ps";
    case 16: *guard = "defined(__AVX512F__)"; return "_mm512_fmadd_ps";
    default: return NULL;
    }
}

/* A vector helper `sig` (its name and parameters) returning the shuffle of
 * lanes idx of a ++ b (b NULL: a vector of zeros): __builtin_shufflevector
 * from Clang and GCC 12 on, __builtin_shuffle before, and with portable
 * vectors a loop setting lane i to the C expression `lane`. */
static void emit_shuffle_fn(Writer *w, const Program *p, int n, const char *sig, const char *b,
                            const char *idx, const char *lane)
{
    const char *t = arena_printf(p->arena, "etch_f32x%d", n);
    out_line(w, "ETCH_VUNUSED static inline %s %s", t, sig);
    out_line(w, "{");
    out_line(w, "#if defined(__GNUC__) && !defined(ETCH_PORTABLE_VECTORS)");
    if (!b)
        out_line(w, "    %s z = {0.0f};", t);
    out_line(w, "#if defined(__clang__) || __GNUC__ >= 12");
    out_line(w, "    return __builtin_shufflevector(a, %s, %s);", b ? b : "z", idx);
    out_line(w, "#else");
    out_line(w, "    etch_i32x%d m = {%s};", n, idx);
    out_line(w, "    return __builtin_shuffle(a, %s, m);", b ? b : "z");
    out_line(w, "#endif");
    out_line(w, "#else");
    out_line(w, "    %s r;", t);
    out_line(w, "    int i;");
    out_line(w, "    for (i = 0; i < %d; i++)", n);
    out_line(w, "        r.v[i] = %s;", lane);
    out_line(w, "    return r;");
    out_line(w, "#endif");
    out_line(w, "}");
}

/* etch_vshiftN_pK / _mK: lane l of the result is a[l - K] / a[l + K], or
 * zero: a shuffle with a vector of zeros (emit_shuffle_fn). */
static void emit_shift_helpers(Writer *w, const Program *p, int n, uint32_t shifts)
{
    const char *t = arena_printf(p->arena, "etch_f32x%d", n);
    for (int sh = -n + 1; sh < n; sh++) {
        if (!(shifts & (1u << (16 + sh))))
            continue;
        char idx[256];
        int len = 0;
        for (int l = 0; l < n; l++) {
            int from = l - sh;
            len += snprintf(idx + len, sizeof idx - (size_t)len, "%s%d", l ? ", " : "",
                            from >= 0 && from < n ? from : n);
        }
        const char *sig = arena_printf(p->arena, "etch_vshift%d_%c%d(%s a)", n, sh < 0 ? 'm' : 'p',
                                       sh < 0 ? -sh : sh, t);
        emit_shuffle_fn(w, p, n, sig, NULL, idx,
                        arena_printf(p->arena, "i - (%d) >= 0 && i - (%d) < %d ? a.v[i - (%d)] : 0.0f",
                                     sh, sh, n, sh));
    }
}

/* etch_vunzipN_K: lane l of the result is lane 2l + K of a ++ b: a
 * two-vector shuffle (emit_shuffle_fn). */
static void emit_unzip_helpers(Writer *w, const Program *p, int n, unsigned phases)
{
    const char *t = arena_printf(p->arena, "etch_f32x%d", n);
    for (int ph = 0; ph < 2; ph++) {
        if (!(phases & (1u << ph)))
            continue;
        char idx[256];
        int len = 0;
        for (int l = 0; l < n; l++)
            len += snprintf(idx + len, sizeof idx - (size_t)len, "%s%d", l ? ", " : "", 2 * l + ph);
        emit_shuffle_fn(w, p, n, arena_printf(p->arena, "etch_vunzip%d_%d(%s a, %s b)", n, ph, t, t), "b", idx,
                        arena_printf(p->arena, "2 * i + %d < %d ? a.v[2 * i + %d] : b.v[2 * i + %d - %d]", ph,
                                     n, ph, ph, n));
    }
}

/* The vector type etch_f32xN and its helpers (etch_vldN, etch_vstN,
 * etch_vdupN, etch_vaddN ... etch_vfmaN, etch_vlaneN) for each width the
 * program uses: GCC/Clang vector extensions, with the x86 FMA intrinsic
 * where the target has one, and plain C99 arrays in a struct elsewhere, so
 * the file stays portable C99. Unaligned loads and stores go through
 * memcpy, which compilers turn into one vector move. Defining
 * ETCH_PORTABLE_VECTORS selects the plain C99 helpers everywhere. */
void cg_emit_c_vector_helpers(Writer *w, const Program *p)
{
    VecUse v = {0};
    for (int k = 0; k < p->nkernels; k++) {
        vec_use_stmt(&v, p->kernels[k].body);
        for (int l = 0; l < p->kernels[k].nlocals; l++)
            if (p->kernels[k].locals[l].lanes > 1)
                v.widths |= 1u << p->kernels[k].locals[l].lanes;
    }
    if (!v.widths && !v.fmaf)
        return;
    /* Clang warns of unused static functions, inline or not. */
    out_raw(w, "\n");
    out_line(w, "#if defined(__GNUC__)");
    out_line(w, "#define ETCH_VUNUSED __attribute__((unused))");
    out_line(w, "#else");
    out_line(w, "#define ETCH_VUNUSED");
    out_line(w, "#endif");
    if (v.fmaf) {
        out_raw(w, "\n");
        out_line(w, "/* a * b + c, fused where the machine has a fused multiply-add. */");
        out_line(w, "ETCH_VUNUSED static inline float etch_fmaf(float a, float b, float c)");
        out_line(w, "{");
        out_line(w, "#if defined(FP_FAST_FMAF)");
        out_line(w, "    return fmaf(a, b, c);");
        out_line(w, "#else");
        out_line(w, "    return a * b + c;");
        out_line(w, "#endif");
        out_line(w, "}");
    }
    if (!v.widths)
        return;
    out_raw(w, "\n");
    out_line(w, "/* Vectors of f32 (GCC/Clang vector extensions, else arrays). */");
    /* The helpers are static: no ABI to keep, whatever the vector ISA. */
    out_line(w, "#if defined(__clang__)");
    out_line(w, "#pragma clang diagnostic ignored \"-Wunknown-warning-option\"");
    out_line(w, "#pragma clang diagnostic ignored \"-Wpsabi\"");
    out_line(w, "#elif defined(__GNUC__)");
    out_line(w, "#pragma GCC diagnostic ignored \"-Wpsabi\"");
    out_line(w, "#endif");
    out_line(w, "#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__)) && "
                "defined(__FMA__)");
    out_line(w, "#include <immintrin.h>");
    out_line(w, "#endif");
    static const char *const bins[][2] = {
        {"add", "+"}, {"sub", "-"}, {"mul", "*"}, {"div", "/"},
    };
    for (int n = 2; n <= ETCH_MAX_LANES; n *= 2) {
        if (!(v.widths & (1u << n)))
            continue;
        const char *t = arena_printf(p->arena, "etch_f32x%d", n);
        out_raw(w, "\n");
        out_line(w, "#if defined(__GNUC__) && !defined(ETCH_PORTABLE_VECTORS)");
        out_line(w, "typedef float %s __attribute__((vector_size(%d)));", t, 4 * n);
        out_line(w, "typedef int32_t etch_i32x%d __attribute__((vector_size(%d)));", n, 4 * n);
        /* On x86 the empty asm keeps a loaded vector in a register: GCC
         * otherwise folds the load into every multiply-add that uses it,
         * reloading a tile's input once per output channel (a 4 x 3 tile
         * ran at 60% of the speed of the same tile with the asm). */
        out_line(w, "ETCH_VUNUSED static inline %s etch_vld%d(const float *p)", t, n);
        out_line(w, "{");
        out_line(w, "    %s v;", t);
        out_line(w, "    memcpy(&v, p, sizeof v);");
        if (n <= 8) {
            out_line(w, "#if (defined(__x86_64__) || defined(__i386__)) && %s",
                     n <= 4 ? "defined(__SSE__)" : "defined(__AVX__)");
            out_line(w, "    __asm__(\"\" : \"+x\"(v));");
            out_line(w, "#endif");
        }
        out_line(w, "    return v;");
        out_line(w, "}");
        out_line(w, "ETCH_VUNUSED static inline void etch_vst%d(float *p, %s v) { memcpy(p, &v, sizeof v); }", n, t);
        char dup[512];
        int len = snprintf(dup, sizeof dup, "ETCH_VUNUSED static inline %s etch_vdup%d(float x) { %s v = {", t, n, t);
        for (int l = 0; l < n; l++)
            len += snprintf(dup + len, sizeof dup - (size_t)len, "%sx", l ? ", " : "");
        snprintf(dup + len, sizeof dup - (size_t)len, "}; return v; }");
        out_line(w, "%s", dup);
        for (size_t b = 0; b < sizeof bins / sizeof bins[0]; b++)
            out_line(w, "ETCH_VUNUSED static inline %s etch_v%s%d(%s a, %s b) { return a %s b; }", t, bins[b][0],
                     n, t, t, bins[b][1]);
        /* Lane by lane, the scalar etch_minf/etch_maxf: b where a is NaN. */
        for (int mx = 0; mx < 2; mx++)
            out_line(w, "ETCH_VUNUSED static inline %s etch_v%s%d(%s a, %s b) { etch_i32x%d m = a %s b; "
                        "return (%s)((m & (etch_i32x%d)a) | (~m & (etch_i32x%d)b)); }",
                     t, mx ? "max" : "min", n, t, t, n, mx ? ">" : "<", t, n, n);
        out_line(w, "ETCH_VUNUSED static inline float etch_vlane%d(%s v, int i) { return v[i]; }", n, t);
        const char *guard = NULL, *fma = x86_fma(n, &guard);
        out_line(w, "ETCH_VUNUSED static inline %s etch_vfma%d(%s a, %s b, %s c)", t, n, t, t, t);
        out_line(w, "{");
        if (fma) {
            out_line(w, "#if (defined(__x86_64__) || defined(__i386__)) && %s", guard);
            out_line(w, "    return %s(a, b, c);", fma);
            out_line(w, "#else");
        }
        out_line(w, "    return a * b + c;");
        if (fma)
            out_line(w, "#endif");
        out_line(w, "}");
        out_line(w, "#else");
        out_line(w, "typedef struct { float v[%d]; } %s;", n, t);
        out_line(w, "ETCH_VUNUSED static inline %s etch_vld%d(const float *p) { %s r; memcpy(r.v, p, sizeof r.v); "
                    "return r; }", t, n, t);
        out_line(w, "ETCH_VUNUSED static inline void etch_vst%d(float *p, %s v) { memcpy(p, v.v, sizeof v.v); }", n, t);
        out_line(w, "ETCH_VUNUSED static inline %s etch_vdup%d(float x) { %s r; int i; for (i = 0; i < %d; i++) "
                    "r.v[i] = x; return r; }", t, n, t, n);
        for (size_t b = 0; b < sizeof bins / sizeof bins[0]; b++)
            out_line(w, "ETCH_VUNUSED static inline %s etch_v%s%d(%s a, %s b) { int i; for (i = 0; i < %d; i++) "
                        "a.v[i] = a.v[i] %s b.v[i]; return a; }", t, bins[b][0], n, t, t, n, bins[b][1]);
        for (int mx = 0; mx < 2; mx++)
            out_line(w, "ETCH_VUNUSED static inline %s etch_v%s%d(%s a, %s b) { int i; for (i = 0; i < %d; i++) "
                        "a.v[i] = etch_%sf(a.v[i], b.v[i]); return a; }", t, mx ? "max" : "min", n,
                     t, t, n, mx ? "max" : "min");
        out_line(w, "ETCH_VUNUSED static inline float etch_vlane%d(%s v, int i) { return v.v[i]; }", n, t);
        out_line(w, "ETCH_VUNUSED static inline %s etch_vfma%d(%s a, %s b, %s c) { int i; for (i = 0; i < %d; i++) "
                    "c.v[i] = a.v[i] * b.v[i] + c.v[i]; return c; }", t, n, t, t, t, n);
        out_line(w, "#endif");
        emit_shift_helpers(w, p, n, v.shifts[n]);
        emit_unzip_helpers(w, p, n, v.unzips[n]);
    }
}
