/* test_llvm.c: the LLVM backend (codegen/emit_llvm*.c) and its CLI.
 *
 * suite llvm:
 *   - a tiny program emits all four forms (.ll, .bc, .o, .s), each checked
 *     by its magic or its text, with the C backend's header beside them;
 *   - golden: tests/golden/llvm/NAME.etch -> NAME.ll for a fixed triple at
 *     -O0 (the builder's own output, before LLVM's optimizer); UPDATE=1
 *     rewrites it;
 *   - cortex-m4 / cortex-m0 objects are 32-bit little-endian ARM ELF
 *     relocatables whose entry symbols are Thumb, and the cortex-m4 one links
 *     with arm-none-eabi-gcc's hard-float build of a small main;
 *   - a hand-built Program over integer dtypes (casts, wrapping, division,
 *     min/max, compares, select, a short-circuit guarding a load) runs as a
 *     host object and agrees exactly with loop_eval on random data;
 *   - a hand-built Program over f32 vectors (loads, stores, broadcasts,
 *     lane extraction, lane shifts, unzips, lane-by-lane ops, multiply-adds, vector
 *     locals in a loop, widths 4 and 8) agrees with loop_eval through the LLVM backend
 *     and through the C backend compiled strictly, with and without the
 *     host's vector ISA and with the portable (non-GNU) helpers;
 *   - the CLI: --emit/--target/-O, unknown targets, run --backend llvm.
 * Data comes from the seeded PRNG of testutil.h (ETCH_SEED replays).
 */
#define _POSIX_C_SOURCE 200809L

#include <criterion/criterion.h>
#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codegen/codegen.h"
#include "frontend/frontend.h"
#include "passes/passes.h"
#include "testutil.h"

#define GOLDEN_LLVM ETCH_SOURCE_DIR "/tests/golden/llvm"

static const char *tiny_text =
    "graph tiny {\n"
    "  input  x : f32[2, 3]\n"
    "  const  b : f32[3] = [0.5, -1.0, 2.0]\n"
    "  y = relu(add(x, b))\n"
    "  output y\n"
    "}\n";

/* Parses and lowers graph text; the Ctx owns everything. */
static Program *lower_text(Ctx *c, const char *text)
{
    Graph *g = fe_parse_string(c, "t.etch", text);
    cr_assert(g, "parse failed");
    Module m = {.graph = g};
    cr_assert(pipeline_run(c, &m, NULL) && m.prog, "pipeline failed");
    return m.prog;
}

static unsigned char *read_bytes(const char *path, size_t *len)
{
    unsigned char *d = (unsigned char *)tu_read_file(path, len);
    cr_assert(d, "cannot read %s", path);
    return d;
}

static bool has_text(const char *path, const char *needle)
{
    size_t len;
    char *s = tu_read_file(path, &len);
    bool ok = s && strstr(s, needle);
    free(s);
    return ok;
}

/* ------------------------------------------------------------- forms */

Test(llvm, emits_all_forms)
{
    Ctx *c = ctx_new();
    Program *p = lower_text(c, tiny_text);
    char *dir = tu_mkdtemp("llvm");
    static const LlvmEmitKind kinds[] = {LLVM_EMIT_LL, LLVM_EMIT_BC, LLVM_EMIT_OBJ, LLVM_EMIT_ASM};
    for (int i = 0; i < 4; i++) {
        LlvmOpts o = {.kind = kinds[i], .target = "host", .opt_level = 2};
        cr_assert(cg_emit_llvm(c, p, dir, &o), "cg_emit_llvm %s failed", cg_llvm_suffix(kinds[i]));
    }
    char *ll = tu_path(dir, "tiny.ll"), *bc = tu_path(dir, "tiny.bc");
    char *obj = tu_path(dir, "tiny.o"), *as = tu_path(dir, "tiny.s");
    char *hdr = tu_path(dir, "tiny.h"), *rt = tu_path(dir, "etch_runtime.h");
    cr_expect(has_text(ll, "define i32 @tiny_run(float*"), "tiny.ll lacks tiny_run");
    cr_expect(has_text(ll, "define i32 @tiny_invoke("), "tiny.ll lacks tiny_invoke");
    size_t n;
    unsigned char *b = read_bytes(bc, &n);
    cr_expect(n > 4 && b[0] == 'B' && b[1] == 'C' && b[2] == 0xC0 && b[3] == 0xDE,
              "tiny.bc is not bitcode");
    free(b);
    b = read_bytes(obj, &n);
    cr_expect(n > 20 && memcmp(b, "\x7f" "ELF", 4) == 0, "tiny.o is not ELF");
    free(b);
    cr_expect(has_text(as, "tiny_run"), "tiny.s lacks tiny_run");
    cr_expect(has_text(hdr, "int tiny_run(const float *x, float *y, void *workspace);"),
              "tiny.h is not the C backend's header");
    cr_expect(tu_file_exists(rt), "no etch_runtime.h");
    free(ll); free(bc); free(obj); free(as); free(hdr); free(rt);
    tu_rmtree(dir);
    free(dir);
    ctx_free(c);
}

/* ------------------------------------------------------------ golden */

/* NAME.etch -> NAME + ext, malloc'd. */
static char *swap_ext(const char *name, const char *ext)
{
    size_t base = strlen(name) - strlen(".etch");
    char *s = malloc(base + strlen(ext) + 1);
    memcpy(s, name, base);
    strcpy(s + base, ext);
    return s;
}

Test(llvm, golden, .timeout = 60)
{
    char **names;
    int n = tu_list_dir(GOLDEN_LLVM, ".etch", &names), nfail = 0;
    cr_assert(n > 0, "no golden sources in %s", GOLDEN_LLVM);
    const char *u = getenv("UPDATE");
    bool update = u && strcmp(u, "1") == 0;
    TuStr report = {0};
    char *tmp = tu_mkdtemp("llvm-golden");
    for (int i = 0; i < n; i++) {
        char *src = tu_path(GOLDEN_LLVM, names[i]);
        size_t len;
        char *text = tu_read_file(src, &len);
        cr_assert(text, "cannot read %s", src);
        Ctx *c = ctx_new();
        Program *p = lower_text(c, text);
        char *ll_name = swap_ext(names[i], ".ll");
        char *want = tu_path(GOLDEN_LLVM, ll_name), *got = tu_path(tmp, ll_name);
        /* A fixed triple, not the host, so the file is the same everywhere. */
        LlvmOpts o = {.kind = LLVM_EMIT_LL, .target = "x86_64-unknown-linux-gnu", .opt_level = 0};
        cr_assert(cg_emit_llvm_file(c, p, update ? want : got, &o), "emitting %s failed", src);
        if (!update) {
            char *diff = tu_diff_files(want, got);
            if (diff && *diff) {
                tu_str_printf(&report, "%s differs (UPDATE=1 rewrites it):\n%s\n", want, diff);
                nfail++;
            }
            free(diff);
        }
        free(want); free(got); free(ll_name); free(text); free(src);
        ctx_free(c);
    }
    tu_free_list(names, n);
    tu_rmtree(tmp);
    free(tmp);
    if (nfail)
        fprintf(stderr, "%s", report.s);
    free(report.s);
    cr_assert(nfail == 0, "llvm/golden: %d of %d differ", nfail, n);
}

/* ----------------------------------------------------------- cortex-m */

/* Checks an ELF32 little-endian ARM relocatable and returns its bytes. */
static void check_arm_elf(const char *path)
{
    size_t n;
    unsigned char *b = read_bytes(path, &n);
    cr_assert(n > 52 && memcmp(b, "\x7f" "ELF", 4) == 0, "%s is not ELF", path);
    cr_expect(b[4] == 1, "%s: EI_CLASS %d, want ELFCLASS32", path, b[4]);
    cr_expect(b[5] == 1, "%s: EI_DATA %d, want little-endian", path, b[5]);
    cr_expect(b[16] == 1 && b[17] == 0, "%s: e_type %d, want ET_REL", path, b[16]);
    cr_expect(b[18] == 40 && b[19] == 0, "%s: e_machine %d, want EM_ARM (40)", path, b[18]);
    free(b);
}

static void emit_for(const char *target, const char *dir, const char *prefix)
{
    Ctx *c = ctx_new();
    char *text = strdup(tiny_text);
    memcpy(strstr(text, "tiny"), prefix, 4);
    Program *p = lower_text(c, text);
    LlvmOpts o = {.kind = LLVM_EMIT_OBJ, .target = target, .opt_level = 2};
    cr_assert(cg_emit_llvm(c, p, dir, &o), "emitting for %s failed", target);
    free(text);
    ctx_free(c);
}

Test(llvm, cortex_m_objects, .timeout = 60)
{
    char *dir = tu_mkdtemp("llvm-arm");
    emit_for("cortex-m4", dir, "mcf4");
    emit_for("cortex-m0", dir, "mcf0");
    char *m4 = tu_path(dir, "mcf4.o"), *m0 = tu_path(dir, "mcf0.o");
    check_arm_elf(m4);
    check_arm_elf(m0);
    free(m4);
    free(m0);
    if (tu_run(NULL, "command -v arm-none-eabi-gcc >/dev/null", NULL, NULL) != 0) {
        cr_log_warn("arm-none-eabi-gcc not installed: link check skipped");
        goto done;
    }
    char *out = NULL, *err = NULL;
    /* Thumb: objdump names the architecture, and the symbol is odd. */
    int st = tu_run(dir, "arm-none-eabi-objdump -f mcf4.o", &out, &err);
    cr_expect(st == 0 && strstr(out, "elf32-littlearm") && strstr(out, "armv7e-m"),
              "objdump -f mcf4.o: %s%s", out, err);
    free(out); free(err);
    st = tu_run(dir, "arm-none-eabi-objdump -f mcf0.o", &out, &err);
    cr_expect(st == 0 && strstr(out, "armv6s-m"), "objdump -f mcf0.o: %s%s", out, err);
    free(out); free(err);
    st = tu_run(dir, "arm-none-eabi-readelf -s mcf4.o | grep ' mcf4_run$'", &out, &err);
    cr_expect(st == 0 && strstr(out, "FUNC"), "no mcf4_run symbol: %s%s", out, err);
    unsigned long addr = out ? strtoul(strchr(out, ':') ? strchr(out, ':') + 1 : out, NULL, 16) : 0;
    cr_expect(addr & 1, "mcf4_run is not a Thumb symbol (value %lx)", addr);
    free(out); free(err);
    const char *main_c =
        "#include \"mcf4.h\"\n"
        "static float x[6] = {1, -2, 3, -4, 5, -6}, y[6];\n"
        "static unsigned char ws[64] __attribute__((aligned(16)));\n"
        "int main(void) { return mcf4_run(x, y, ws) == ETCH_OK && y[0] == 1.5f ? 0 : 1; }\n";
    char *mc = tu_path(dir, "main.c");
    tu_write_file(mc, main_c, strlen(main_c));
    free(mc);
    st = tu_run(dir,
                "arm-none-eabi-gcc -mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16 "
                "-O2 -std=c99 -Wall -Werror -c main.c && "
                "arm-none-eabi-gcc -mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16 "
                "--specs=nosys.specs -o app.elf main.o mcf4.o -lm",
                &out, &err);
    cr_expect(st == 0, "linking the cortex-m4 object failed:\n%s%s", out, err);
    free(out); free(err);
done:
    tu_rmtree(dir);
    free(dir);
}

/* ------------------------------------------------- integer semantics */

typedef int InvokeFn(const void *const *inputs, void *const *outputs, void *workspace);

/* out[i] over i8 input a, i32 input b, with every integer path of the
 * builder: float -> i8 saturation, i32 wrap, C division, min/max, compares,
 * select, logic whose right side loads only when the left allows it. */
static Program *int_program(Arena *a)
{
    enum { N = 37 };
    Program *p = loop_new_program(a, "ints");
    int ia = loop_add_buffer(p, "a", BK_INPUT, DT_I8, N);
    int ib = loop_add_buffer(p, "b", BK_INPUT, DT_I32, N);
    int o8 = loop_add_buffer(p, "o8", BK_OUTPUT, DT_I8, N);
    int o32 = loop_add_buffer(p, "o32", BK_OUTPUT, DT_I32, N);
    int ob = loop_add_buffer(p, "ob", BK_OUTPUT, DT_BOOL, N);
    p->bufs[ia].index = 0; p->bufs[ib].index = 1;
    p->bufs[o8].index = 0; p->bufs[o32].index = 1; p->bufs[ob].index = 2;
    VEC_PUSH(a, p->inputs, p->ninputs, p->capinputs) = ia;
    VEC_PUSH(a, p->inputs, p->ninputs, p->capinputs) = ib;
    VEC_PUSH(a, p->outputs, p->noutputs, p->capoutputs) = o8;
    VEC_PUSH(a, p->outputs, p->noutputs, p->capoutputs) = o32;
    VEC_PUSH(a, p->outputs, p->noutputs, p->capoutputs) = ob;
    Kernel *k = loop_new_kernel(p, "k0_ints", "integer paths", -1);
    int i = loop_new_var(k);
    int acc = loop_new_local(p, k, DT_I16, "acc");
    Stmt *f = st_for_n(p, i, N, LOOP_PARALLEL);
    st_append(p, k->body, f);
    Expr *x = ex_load(p, ia, ex_var(p, i)), *y = ex_load(p, ib, ex_var(p, i));
    Expr *xf = ex_cast(p, DT_F32, x);
    /* (i8)(x * 3.7f): saturates where it leaves int8's range, then wraps. */
    Expr *scaled = ex_bin(p, BIN_MUL, xf, ex_flt(p, 3.7));
    Stmt *s1 = st_store(p, o8, ex_var(p, i), ex_cast(p, DT_I8, scaled));
    /* acc (i16) = x * y wraps; out32 = acc / (x|1 ...) via min/max and mod. */
    Stmt *s2 = st_set(p, acc, ex_bin(p, BIN_MUL, ex_cast(p, DT_I64, x), ex_cast(p, DT_I64, y)));
    Expr *d = ex_bin(p, BIN_MAX, ex_un(p, UN_ABS, ex_cast(p, DT_I64, x)), ex_int(p, 1));
    Expr *q = ex_bin(p, BIN_ADD, ex_bin(p, BIN_DIV, ex_local(p, k, acc), d),
                     ex_bin(p, BIN_MOD, ex_cast(p, DT_I64, y), ex_int(p, 7)));
    Expr *sel = ex_select(p, ex_bin(p, BIN_LT, x, ex_int(p, 0)),
                          ex_bin(p, BIN_MIN, q, ex_int(p, 1000)), ex_un(p, UN_NEG, q));
    Stmt *s3 = st_store(p, o32, ex_var(p, i), ex_cast(p, DT_I32, sel));
    /* i + 1 < N && a[i + 1] > a[i]: the load runs only in bounds. */
    Expr *nxt = ex_add(p, ex_var(p, i), ex_int(p, 1));
    Expr *guard = ex_bin(p, BIN_AND, ex_bin(p, BIN_LT, nxt, ex_int(p, N)),
                         ex_bin(p, BIN_GT, ex_load(p, ia, nxt), x));
    Stmt *s4 = st_store(p, ob, ex_var(p, i), ex_bin(p, BIN_OR, guard, ex_un(p, UN_NOT, y)));
    st_append(p, f->body, s1);
    st_append(p, f->body, s2);
    st_append(p, f->body, s3);
    st_append(p, f->body, s4);
    return p;
}

Test(llvm, integer_semantics, .timeout = 60)
{
    uint64_t seed = tu_seed();
    TuRng r;
    tu_rng_init(&r, seed);
    Ctx *c = ctx_new();
    Program *p = int_program(c->arena);
    enum { N = 37 };
    int8_t a[N];
    int32_t b[N];
    for (int i = 0; i < N; i++) {
        a[i] = (int8_t)tu_rng_int(&r, -128, 127);
        b[i] = i % 5 == 0 ? 0 : (int32_t)tu_rng_u32(&r);
    }
    int8_t e8[N], g8[N];
    int32_t e32[N], g32[N];
    uint8_t eb[N], gb[N];
    const void *ins[2] = {a, b};
    void *eouts[3] = {e8, e32, eb}, *gouts[3] = {g8, g32, gb};
    cr_assert(loop_eval(p, ins, eouts, NULL), "loop_eval failed");
    char *dir = tu_mkdtemp("llvm-int");
    LlvmOpts o = {.kind = LLVM_EMIT_OBJ, .target = "host", .opt_level = 2};
    cr_assert(cg_emit_llvm(c, p, dir, &o));
    char *out = NULL, *err = NULL;
    int st = tu_run(dir, "cc -shared -o libints.so ints.o", &out, &err);
    cr_assert(st == 0, "link failed: %s%s", out, err);
    free(out); free(err);
    char *so = tu_path(dir, "libints.so");
    void *lib = dlopen(so, RTLD_NOW | RTLD_LOCAL);
    cr_assert(lib, "dlopen: %s", dlerror());
    void *addr = dlsym(lib, "ints_invoke");
    cr_assert(addr);
    InvokeFn *invoke;
    memcpy(&invoke, &addr, sizeof invoke);
    cr_expect(invoke(NULL, gouts, NULL) == 1, "NULL inputs must give ETCH_ERR_NULL_ARG");
    cr_assert(invoke(ins, gouts, NULL) == 0);
    for (int i = 0; i < N; i++) {
        cr_expect(g8[i] == e8[i], "o8[%d]: llvm %d, loop_eval %d (a=%d; ETCH_SEED=%llu)", i, g8[i],
                  e8[i], a[i], (unsigned long long)seed);
        cr_expect(g32[i] == e32[i], "o32[%d]: llvm %d, loop_eval %d (a=%d b=%d; ETCH_SEED=%llu)",
                  i, g32[i], e32[i], a[i], b[i], (unsigned long long)seed);
        cr_expect(gb[i] == eb[i], "ob[%d]: llvm %d, loop_eval %d (ETCH_SEED=%llu)", i, gb[i], eb[i],
                  (unsigned long long)seed);
    }
    dlclose(lib);
    free(so);
    tu_rmtree(dir);
    free(dir);
    ctx_free(c);
}

/* ------------------------------------------------------------- vectors */

/* y[0..32) in 8-lane vectors: t = muladd(a[i..], bcast(b[i]), b[i+1..]),
 * clamped, minus a * 0.5 / 4; y[32..36) one 4-lane vector; y[36] a scalar
 * muladd; z[0..8) the lanes of a running vector sum (a vector local
 * carried across the loop), z[8..16) those of the last t; s: lane shifts
 * and unzips. */
static Program *vec_program(Arena *a)
{
    enum { N = 37 };
    Program *p = loop_new_program(a, "vecs");
    int ia = loop_add_buffer(p, "a", BK_INPUT, DT_F32, N);
    int ib = loop_add_buffer(p, "b", BK_INPUT, DT_F32, N + 1);
    int oy = loop_add_buffer(p, "y", BK_OUTPUT, DT_F32, N);
    int oz = loop_add_buffer(p, "z", BK_OUTPUT, DT_F32, 16);
    int os = loop_add_buffer(p, "s", BK_OUTPUT, DT_F32, 32);
    p->bufs[ia].index = 0; p->bufs[ib].index = 1;
    p->bufs[oy].index = 0; p->bufs[oz].index = 1; p->bufs[os].index = 2;
    VEC_PUSH(a, p->inputs, p->ninputs, p->capinputs) = ia;
    VEC_PUSH(a, p->inputs, p->ninputs, p->capinputs) = ib;
    VEC_PUSH(a, p->outputs, p->noutputs, p->capoutputs) = oy;
    VEC_PUSH(a, p->outputs, p->noutputs, p->capoutputs) = oz;
    VEC_PUSH(a, p->outputs, p->noutputs, p->capoutputs) = os;
    Kernel *k = loop_new_kernel(p, "k0_vecs", "vector paths", -1);
    int i = loop_new_var(k);
    int sum = loop_new_vlocal(p, k, "sum", 8), t = loop_new_vlocal(p, k, "t", 8);
    Stmt *f = st_for(p, i, ex_int(p, 0), ex_int(p, 32), 8, LOOP_PARALLEL);
    st_append(p, k->body, f);
    Expr *iv = ex_var(p, i);
    Expr *av = ex_vload(p, ia, iv, 8);
    Expr *m = ex_muladd(p, av, ex_bcast(p, ex_load(p, ib, iv), 8),
                        ex_vload(p, ib, ex_add(p, iv, ex_int(p, 1)), 8));
    st_append(p, f->body, st_set(p, t, m));
    Expr *tv = ex_local(p, k, t);
    Expr *cl = ex_bin(p, BIN_MAX, ex_bin(p, BIN_MIN, tv, ex_bcast(p, ex_flt(p, 2.0), 8)),
                      ex_bcast(p, ex_flt(p, -1.5), 8));
    Expr *half = ex_bin(p, BIN_DIV, ex_bin(p, BIN_MUL, av, ex_bcast(p, ex_flt(p, 0.5), 8)),
                        ex_bcast(p, ex_flt(p, 4.0), 8));
    st_append(p, f->body, st_store(p, oy, iv, ex_bin(p, BIN_SUB, cl, half)));
    st_append(p, f->body, st_set(p, sum, ex_bin(p, BIN_ADD, ex_local(p, k, sum), tv)));
    Expr *v4 = ex_bin(p, BIN_ADD, ex_vload(p, ia, ex_int(p, 32), 4), ex_vload(p, ib, ex_int(p, 33), 4));
    st_append(p, k->body, st_store(p, oy, ex_int(p, 32), v4));
    Expr *sc = ex_muladd(p, ex_load(p, ia, ex_int(p, 36)), ex_load(p, ib, ex_int(p, 36)),
                         ex_flt(p, 1.0));
    st_append(p, k->body, st_store(p, oy, ex_int(p, 36), sc));
    for (int l = 0; l < 8; l++) {
        st_append(p, k->body, st_store(p, oz, ex_int(p, l), ex_lane(p, ex_local(p, k, sum), l)));
        st_append(p, k->body, st_store(p, oz, ex_int(p, 8 + l), ex_lane(p, tv, l)));
    }
    /* s: a[0..8) moved up 3 lanes, a[8..16) down 2, b[0..4) up 1. */
    st_append(p, k->body, st_store(p, os, ex_int(p, 0), ex_vshift(p, ex_vload(p, ia, ex_int(p, 0), 8), 3)));
    st_append(p, k->body, st_store(p, os, ex_int(p, 8), ex_vshift(p, ex_vload(p, ia, ex_int(p, 8), 8), -2)));
    st_append(p, k->body, st_store(p, os, ex_int(p, 12), ex_vshift(p, ex_vload(p, ib, ex_int(p, 0), 4), 1)));
    /* s[16..): the odd elements of a[0..16), the even ones of b[0..8),
     * the odd ones of a[20..28). */
    st_append(p, k->body, st_store(p, os, ex_int(p, 16), ex_vunzip(p, ex_vload(p, ia, ex_int(p, 0), 8),
                                                                   ex_vload(p, ia, ex_int(p, 8), 8), 1)));
    st_append(p, k->body, st_store(p, os, ex_int(p, 24), ex_vunzip(p, ex_vload(p, ib, ex_int(p, 0), 4),
                                                                   ex_vload(p, ib, ex_int(p, 4), 4), 0)));
    st_append(p, k->body, st_store(p, os, ex_int(p, 28), ex_vunzip(p, ex_vload(p, ia, ex_int(p, 20), 4),
                                                                   ex_vload(p, ia, ex_int(p, 24), 4), 1)));
    return p;
}

/* A driver for vecs.c: reads 37 + 38 floats as hex from stdin, prints y, z. */
static const char *vec_driver =
    "#include <stdio.h>\n#include \"vecs.h\"\n"
    "int main(void)\n{\n"
    "    static float a[37], b[38], y[37], z[16], s[32];\n    int i;\n"
    "    for (i = 0; i < 37; i++) if (scanf(\"%a\", &a[i]) != 1) return 2;\n"
    "    for (i = 0; i < 38; i++) if (scanf(\"%a\", &b[i]) != 1) return 2;\n"
    "    if (vecs_run(a, b, y, z, s, 0) != 0) return 3;\n"
    "    for (i = 0; i < 37; i++) printf(\"%a\\n\", (double)y[i]);\n"
    "    for (i = 0; i < 16; i++) printf(\"%a\\n\", (double)z[i]);\n"
    "    for (i = 0; i < 32; i++) printf(\"%a\\n\", (double)s[i]);\n"
    "    return 0;\n}\n";

static void expect_close(const float *got, const float *want, int n, const char *what,
                         uint64_t seed)
{
    for (int i = 0; i < n; i++)
        cr_expect(fabsf(got[i] - want[i]) <= 1e-5f * (1.0f + fabsf(want[i])),
                  "%s[%d]: %a, loop_eval %a (ETCH_SEED=%llu)", what, i, (double)got[i],
                  (double)want[i], (unsigned long long)seed);
}

Test(llvm, vector_semantics, .timeout = 120)
{
    uint64_t seed = tu_seed();
    TuRng r;
    tu_rng_init(&r, seed);
    Ctx *c = ctx_new();
    Program *p = vec_program(c->arena);
    float a[37], b[38], ey[37], ez[16], es[32], gy[37], gz[16], gs[32];
    for (int i = 0; i < 37; i++)
        a[i] = tu_rng_float(&r, -3, 3);
    for (int i = 0; i < 38; i++)
        b[i] = tu_rng_float(&r, -3, 3);
    const void *ins[2] = {a, b};
    void *eouts[3] = {ey, ez, es}, *gouts[3] = {gy, gz, gs};
    cr_assert(loop_eval(p, ins, eouts, NULL), "loop_eval failed");
    /* A few exact values: the lanes of the last t, and the 4-lane tail. */
    cr_expect(ez[8 + 3] == fmaf(a[27], b[24], b[28]), "lane 3 of t");
    cr_expect(ey[33] == a[33] + b[34], "the 4-lane vector");
    cr_expect(es[0] == 0 && es[2] == 0 && es[3] == a[0] && es[7] == a[4], "shift up");
    cr_expect(es[8] == a[10] && es[11] == a[13], "shift down");
    cr_expect(es[12] == 0 && es[15] == b[2], "4-lane shift");
    cr_expect(es[16] == a[1] && es[19] == a[7] && es[20] == a[9] && es[23] == a[15], "odd unzip");
    cr_expect(es[24] == b[0] && es[25] == b[2] && es[26] == b[4] && es[27] == b[6], "even unzip");
    cr_expect(es[28] == a[21] && es[29] == a[23] && es[30] == a[25] && es[31] == a[27], "4-lane odd unzip");

    char *dir = tu_mkdtemp("llvm-vec");
    LlvmOpts o = {.kind = LLVM_EMIT_OBJ, .target = "host", .opt_level = 2};
    cr_assert(cg_emit_llvm(c, p, dir, &o));
    char *out = NULL, *err = NULL;
    int st = tu_run(dir, "cc -shared -o libvecs.so vecs.o", &out, &err);
    cr_assert(st == 0, "link failed: %s%s", out, err);
    free(out); free(err);
    char *so = tu_path(dir, "libvecs.so");
    void *lib = dlopen(so, RTLD_NOW | RTLD_LOCAL);
    cr_assert(lib, "dlopen: %s", dlerror());
    void *addr = dlsym(lib, "vecs_invoke");
    cr_assert(addr);
    InvokeFn *invoke;
    memcpy(&invoke, &addr, sizeof invoke);
    cr_assert(invoke(ins, gouts, NULL) == 0);
    expect_close(gy, ey, 37, "llvm y", seed);
    expect_close(gz, ez, 16, "llvm z", seed);
    expect_close(gs, es, 32, "llvm s", seed);
    dlclose(lib);
    free(so);

    /* The C backend: strict C99 as is (GNU vectors, no AVX: two SSE halves),
     * with the host's ISA (the FMA intrinsics), and the portable helpers. */
    cr_assert(cg_emit_c(c, p, dir));
    char *drv = tu_path(dir, "driver.c");
    cr_assert(tu_write_file(drv, vec_driver, strlen(vec_driver)));
    char *in = tu_path(dir, "in.txt");
    FILE *fin = fopen(in, "w");
    cr_assert(fin);
    for (int i = 0; i < 37; i++)
        fprintf(fin, "%a\n", (double)a[i]);
    for (int i = 0; i < 38; i++)
        fprintf(fin, "%a\n", (double)b[i]);
    fclose(fin);
    static const char *const flags[] = {"-O1", "-O3 -march=native", "-O2 -DETCH_PORTABLE_VECTORS"};
    for (size_t f = 0; f < sizeof flags / sizeof flags[0]; f++) {
        char cmd[512];
        snprintf(cmd, sizeof cmd,
                 "${CC:-cc} -std=c99 -Wall -Wextra -pedantic -Werror %s driver.c vecs.c -o vdrv -lm"
                 " && ./vdrv < in.txt", flags[f]);
        st = tu_run(dir, cmd, &out, &err);
        cr_assert(st == 0, "C build/run with %s failed: %s%s", flags[f], out, err);
        char *q = out;
        for (int i = 0; i < 37 + 16 + 32; i++) {
            float v = strtof(q, &q);
            if (i < 37)
                gy[i] = v;
            else if (i < 53)
                gz[i - 37] = v;
            else
                gs[i - 53] = v;
        }
        expect_close(gy, ey, 37, flags[f], seed);
        expect_close(gz, ez, 16, flags[f], seed);
        expect_close(gs, es, 32, flags[f], seed);
        free(out); free(err);
    }
    free(drv);
    free(in);
    tu_rmtree(dir);
    free(dir);
    ctx_free(c);
}

/* ---------------------------------------------------------------- CLI */

Test(llvm, cli, .timeout = 120)
{
    char *dir = tu_mkdtemp("llvm-cli");
    char *src = tu_path(dir, "tiny.etch");
    tu_write_file(src, tiny_text, strlen(tiny_text));
    char *out = NULL, *err = NULL;
    TuStr cmd = {0};
    static const char *const forms[][2] = {
        {"llvm", "tiny.ll"}, {"bc", "tiny.bc"}, {"obj", "tiny.o"}, {"asm", "tiny.s"}};
    for (int i = 0; i < 4; i++) {
        tu_str_clear(&cmd);
        tu_str_printf(&cmd, "'%s' compile tiny.etch --emit %s --target cortex-m4 -O3 -o out",
                      ETCH_EXE, forms[i][0]);
        int st = tu_run(dir, cmd.s, &out, &err);
        cr_expect(st == 0, "%s: %s%s", cmd.s, out, err);
        char *f = tu_path(dir, "out");
        char *fp = tu_path(f, forms[i][1]);
        cr_expect(tu_file_exists(fp), "%s wrote no %s", cmd.s, forms[i][1]);
        free(fp); free(f); free(out); free(err);
    }
    char *ll = tu_path(dir, "out/tiny.ll");
    cr_expect(has_text(ll, "target triple = \"thumbv7em-none-unknown-eabihf\""),
              "the cortex-m4 .ll has another triple");
    free(ll);
    /* An unknown triple names the targets. */
    tu_str_clear(&cmd);
    tu_str_printf(&cmd, "'%s' compile tiny.etch --emit obj --target nosuch-arch-none -o out",
                  ETCH_EXE);
    int st = tu_run(dir, cmd.s, &out, &err);
    cr_expect(st == 1 && strstr(err, "unknown target 'nosuch-arch-none'") &&
                  strstr(err, "cortex-m4"),
              "status %d: %s", st, err);
    free(out); free(err);
    tu_str_clear(&cmd);
    tu_str_printf(&cmd, "'%s' compile tiny.etch --emit obj -O7", ETCH_EXE);
    st = tu_run(dir, cmd.s, &out, &err);
    cr_expect(st == 2 && strstr(err, "-O wants 0, 1, 2 or 3"), "status %d: %s", st, err);
    free(out); free(err);
    /* run --backend llvm prints what --backend c prints. */
    static const char *const x = "x.npy";
    Type t = type_make(DT_F32, 2, (int64_t[]){2, 3});
    float data[6] = {0.25f, -3.0f, 1.5f, -0.75f, 2.0f, -2.5f};
    char *xp = tu_path(dir, x);
    cr_assert(fe_write_npy(xp, &t, data));
    free(xp);
    char *res[2];
    static const char *const backends[2] = {"c", "llvm"};
    for (int i = 0; i < 2; i++) {
        tu_str_clear(&cmd);
        tu_str_printf(&cmd, "'%s' run tiny.etch --input x.npy --backend %s --output-dir o%d",
                      ETCH_EXE, backends[i], i);
        st = tu_run(dir, cmd.s, &res[i], &err);
        cr_expect(st == 0, "%s: %s", cmd.s, err);
        free(err);
    }
    cr_expect(strcmp(res[0], res[1]) == 0, "c printed\n%s\nllvm printed\n%s", res[0], res[1]);
    cr_expect(strstr(res[1], "argmax=2 [0.75, 0, 3.5, 0, 1, 0]"), "llvm printed %s", res[1]);
    free(res[0]);
    free(res[1]);
    free(cmd.s);
    free(src);
    tu_rmtree(dir);
    free(dir);
}
