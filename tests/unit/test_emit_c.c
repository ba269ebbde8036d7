/* test_emit_c.c: the C backend and the etch CLI.
 *
 * suite emit_c: Programs built by hand with the Loop IR builders (so these
 * tests do not depend on lowering), emitted, checked as text, compiled with
 * `cc -std=c99 -Wall -Wextra -pedantic -Werror` and run through small
 * drivers whose numbers are compared with the same arithmetic done here.
 * Inputs come from a seeded PRNG (ETCH_SEED overrides; printed on failure).
 *
 * suite cli: the etch executable's exit codes and messages for usage
 * errors, --help, --version and missing files, then compile/run/dump on a
 * tiny model when the frontend and lowering are present.
 */
#define _POSIX_C_SOURCE 200809L

#include <criterion/criterion.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "codegen/codegen.h"
#include "frontend/frontend.h"

/* ---------------------------------------------------------------- helpers */

static uint64_t rng_state;

static uint64_t test_seed(void)
{
    const char *env = getenv("ETCH_SEED");
    if (env && *env)
        return strtoull(env, NULL, 10);
    return (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 16);
}

static float rnd(float lo, float hi)
{
    rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
    uint32_t r = (uint32_t)(rng_state >> 40);
    return lo + (hi - lo) * ((float)r / 16777216.0f);
}

/* Runs a shell command; returns its exit status and its merged output. */
static int run(const char *cmd, char *out, size_t size)
{
    char full[20000];
    snprintf(full, sizeof full, "%s 2>&1", cmd);
    FILE *f = popen(full, "r");
    cr_assert(f, "popen failed for %s", cmd);
    size_t n = 0;
    if (out && size) {
        n = fread(out, 1, size - 1, f);
        out[n] = '\0';
    } else {
        char sink[4096];
        while (fread(sink, 1, sizeof sink, f) > 0)
            ;
    }
    int st = pclose(f);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static char *tmpdir(void)
{
    const char *base = getenv("TMPDIR");
    char *path = malloc(4096);
    snprintf(path, 4096, "%s/etch-emit-XXXXXX", base && *base ? base : "/tmp");
    cr_assert(mkdtemp(path), "mkdtemp failed");
    return path;
}

static void rmtree(const char *dir)
{
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert(run(cmd, NULL, 0) == 0);
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert(f, "cannot write %s", path);
    fputs(text, f);
    fclose(f);
}

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    size_t got = fread(s, 1, (size_t)n, f);
    s[got] = '\0';
    fclose(f);
    return s;
}

typedef void EmitFn(FILE *f, const Program *p);

static char *emit_to_string(EmitFn *fn, const Program *p)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    cr_assert(f);
    fn(f, p);
    fclose(f);
    return buf;
}

/* Compiles DIR/PREFIX.c with the strict flags, and with driver.c (if
 * given) links and runs it; returns the driver's output. */
static char *build_and_run(const char *dir, const char *prefix, const char *driver)
{
    static char out[1 << 16];
    char cmd[8192];
    snprintf(cmd, sizeof cmd,
             "cd '%s' && ${CC:-cc} -std=c99 -Wall -Wextra -pedantic -Werror -c %s.c -o %s.o",
             dir, prefix, prefix);
    int st = run(cmd, out, sizeof out);
    cr_assert_eq(st, 0, "emitted C does not compile cleanly:\n%s", out);
    if (!driver)
        return out;
    char path[4200];
    snprintf(path, sizeof path, "%s/driver.c", dir);
    write_text(path, driver);
    snprintf(cmd, sizeof cmd,
             "cd '%s' && ${CC:-cc} -std=c99 -Wall -Wextra -pedantic -Werror driver.c %s.o -o driver -lm"
             " && ./driver",
             dir, prefix);
    st = run(cmd, out, sizeof out);
    cr_assert_eq(st, 0, "driver failed (%d):\n%s", st, out);
    return out;
}

/* --------------------------------------------------------- program builders */

static int add_arg(Program *p, const char *name, BufKind kind, DType dt, int64_t n)
{
    int b = loop_add_buffer(p, name, kind, dt, n);
    if (kind == BK_INPUT) {
        p->bufs[b].index = p->ninputs;
        VEC_PUSH(p->arena, p->inputs, p->ninputs, p->capinputs) = b;
    } else if (kind == BK_OUTPUT) {
        p->bufs[b].index = p->noutputs;
        VEC_PUSH(p->arena, p->outputs, p->noutputs, p->capoutputs) = b;
    }
    return b;
}

static int add_const(Program *p, const char *name, DType dt, int64_t n, const void *data)
{
    int b = loop_add_buffer(p, name, BK_CONST, dt, n);
    p->bufs[b].data = arena_memdup(p->arena, data, (size_t)n * dtype_size(dt));
    return b;
}

static int add_temp(Program *p, const char *name, DType dt, int64_t n, int64_t offset)
{
    int b = loop_add_buffer(p, name, BK_TEMP, dt, n);
    p->bufs[b].offset = offset;
    return b;
}

enum { ROWS = 3, COLS = 5, N = ROWS * COLS };

/* The "mix" program: loops with steps, a reduction through a local, ifs,
 * selects, casts, int and float math, and nested precedence. */
typedef struct {
    float w[COLS];
    int32_t iw[COLS];
} MixConsts;

static Program *build_mix(Arena *a, const MixConsts *mc)
{
    Program *p = loop_new_program(a, "mix");
    int x = add_arg(p, "x", BK_INPUT, DT_F32, N);
    int y = add_arg(p, "y", BK_OUTPUT, DT_F32, ROWS);
    int z = add_arg(p, "z", BK_OUTPUT, DT_I32, N);
    int v = add_arg(p, "v", BK_OUTPUT, DT_F32, N);
    int w = add_const(p, "w", DT_F32, COLS, mc->w);
    int iw = add_const(p, "iw", DT_I32, COLS, mc->iw);
    int t = add_temp(p, "t", DT_F32, N, 0);
    p->workspace_size = 64;
    p->workspace_lower_bound = 60;

    /* t[i] = x[i] * w[i % 5] + 0.5 */
    Kernel *k0 = loop_new_kernel(p, "k0_scale", "scale 't': f32[3, 5] */ tricky /* text", 0);
    int i = loop_new_var(k0);
    Stmt *l = st_for_n(p, i, N, LOOP_PARALLEL);
    st_append(p, k0->body, l);
    Expr *wi = ex_load(p, w, ex_bin(p, BIN_MOD, ex_var(p, i), ex_int(p, COLS)));
    st_append(p, l->body, st_store(p, t, ex_var(p, i),
                                   ex_add(p, ex_mul(p, ex_load(p, x, ex_var(p, i)), wi), ex_flt(p, 0.5))));

    /* y[r] = acc > 0 ? sqrt(acc) : -exp(acc), acc = sum of row r of t */
    Kernel *k1 = loop_new_kernel(p, "k1_rowsum", "rowsum 'y'", 1);
    int r = loop_new_var(k1), c = loop_new_var(k1);
    int acc = loop_new_local(p, k1, DT_F32, "acc");
    Stmt *lr = st_for_n(p, r, ROWS, LOOP_PARALLEL);
    st_append(p, k1->body, lr);
    st_append(p, lr->body, st_set(p, acc, ex_flt(p, 0.0)));
    Stmt *lc = st_for_n(p, c, COLS, LOOP_REDUCTION);
    st_append(p, lr->body, lc);
    Expr *idx = ex_add(p, ex_muli(p, ex_var(p, r), COLS), ex_var(p, c));
    st_append(p, lc->body, st_set(p, acc, ex_add(p, ex_local(p, k1, acc), ex_load(p, t, idx))));
    Expr *av = ex_local(p, k1, acc);
    Expr *sel = ex_select(p, ex_bin(p, BIN_GT, av, ex_flt(p, 0.0)), ex_un(p, UN_SQRT, av),
                          ex_un(p, UN_NEG, ex_un(p, UN_EXP, av)));
    st_append(p, lr->body, st_store(p, y, ex_var(p, r), sel));

    /* z[i] = max((i32)floor(t[i] * 3), iw[i % 5]) - (i - i % 4) */
    Kernel *k2 = loop_new_kernel(p, "k2_int", "int 'z'", 2);
    i = loop_new_var(k2);
    l = st_for_n(p, i, N, 0);
    st_append(p, k2->body, l);
    Expr *fl = ex_cast(p, DT_I32, ex_un(p, UN_FLOOR, ex_bin(p, BIN_MUL, ex_load(p, t, ex_var(p, i)),
                                                           ex_flt(p, 3.0))));
    Expr *mx = ex_bin(p, BIN_MAX, fl,
                      ex_load(p, iw, ex_bin(p, BIN_MOD, ex_var(p, i), ex_int(p, COLS))));
    Expr *inner = ex_bin(p, BIN_SUB, ex_var(p, i), ex_bin(p, BIN_MOD, ex_var(p, i), ex_int(p, 4)));
    st_append(p, l->body, st_store(p, z, ex_var(p, i), ex_bin(p, BIN_SUB, mx, inner)));

    /* even i: if (i % 4 == 0 && !(t[i] < 1)) v[i] = |t[i]| else v[i] = min(t[i], 1) * 2
     * odd i:  v[i] = -(-t[i]) / (1 + t[i] * t[i]) + (float)i * 0.25 */
    Kernel *k3 = loop_new_kernel(p, "k3_if", "if 'v'", 3);
    i = loop_new_var(k3);
    l = st_for(p, i, ex_int(p, 0), ex_int(p, N), 2, 0);
    st_append(p, k3->body, l);
    Expr *ti = ex_load(p, t, ex_var(p, i));
    Expr *cond = ex_bin(p, BIN_AND,
                        ex_bin(p, BIN_EQ, ex_bin(p, BIN_MOD, ex_var(p, i), ex_int(p, 4)), ex_int(p, 0)),
                        ex_un(p, UN_NOT, ex_bin(p, BIN_LT, ti, ex_flt(p, 1.0))));
    Stmt *then = st_block(p), *els = st_block(p);
    st_append(p, then, st_store(p, v, ex_var(p, i), ex_un(p, UN_ABS, ti)));
    st_append(p, els, st_store(p, v, ex_var(p, i),
                               ex_mul(p, ex_bin(p, BIN_MIN, ti, ex_flt(p, 1.0)), ex_flt(p, 2.0))));
    st_append(p, l->body, st_if(p, cond, then, els));
    int j = loop_new_var(k3);
    Stmt *l2 = st_for(p, j, ex_int(p, 1), ex_int(p, N), 2, 0);
    st_append(p, k3->body, l2);
    Expr *tj = ex_load(p, t, ex_var(p, j));
    Expr *den = ex_add(p, ex_flt(p, 1.0), ex_mul(p, tj, tj));
    Expr *q = ex_bin(p, BIN_DIV, ex_un(p, UN_NEG, ex_un(p, UN_NEG, tj)), den);
    Expr *ramp = ex_mul(p, ex_cast(p, DT_F32, ex_var(p, j)), ex_flt(p, 0.25));
    st_append(p, l2->body, st_store(p, v, ex_var(p, j), ex_add(p, q, ramp)));
    return p;
}

/* The same arithmetic as the mix program, in this process. */
static void mix_expected(const MixConsts *mc, const float *x, float *y, int32_t *z, float *v)
{
    float t[N];
    for (int i = 0; i < N; i++)
        t[i] = x[i] * mc->w[i % COLS] + 0.5f;
    for (int r = 0; r < ROWS; r++) {
        float acc = 0.0f;
        for (int c = 0; c < COLS; c++)
            acc = acc + t[r * COLS + c];
        y[r] = acc > 0.0f ? sqrtf(acc) : -expf(acc);
    }
    for (int i = 0; i < N; i++) {
        int32_t a = (int32_t)floorf(t[i] * 3.0f), b = mc->iw[i % COLS];
        z[i] = (a > b ? a : b) - (i - i % 4);
    }
    for (int i = 0; i < N; i += 2)
        v[i] = (i % 4 == 0 && !(t[i] < 1.0f)) ? fabsf(t[i]) : (t[i] < 1.0f ? t[i] : 1.0f) * 2.0f;
    for (int i = 1; i < N; i += 2)
        v[i] = t[i] / (1.0f + t[i] * t[i]) + (float)i * 0.25f;
}

static void random_mix(MixConsts *mc, float *x)
{
    for (int c = 0; c < COLS; c++) {
        mc->w[c] = rnd(-2.0f, 2.0f);
        mc->iw[c] = (int32_t)rnd(-6.0f, 6.0f);
    }
    for (int i = 0; i < N; i++)
        x[i] = rnd(-2.0f, 2.0f);
}

/* -------------------------------------------------------------- emit_c */

Test(emit_c, header_declares_contract)
{
    rng_state = test_seed();
    Arena *a = arena_new();
    MixConsts mc;
    float x[N];
    random_mix(&mc, x);
    Program *p = build_mix(a, &mc);
    char *h = emit_to_string(cg_emit_c_header, p);
    cr_expect(strstr(h, "#ifndef ETCH_MIX_H\n#define ETCH_MIX_H\n"), "%s", h);
    cr_expect(strstr(h, "#define mix_WORKSPACE_SIZE 64\n"), "%s", h);
    cr_expect(strstr(h, "#define mix_NUM_INPUTS 1\n"), "%s", h);
    cr_expect(strstr(h, "#define mix_NUM_OUTPUTS 3\n"), "%s", h);
    cr_expect(strstr(h, "#define mix_INPUT0_NUMEL 15 "), "%s", h);
    cr_expect(strstr(h, "#define mix_OUTPUT1_NUMEL 15 "), "%s", h);
    cr_expect(strstr(h, "#define mix_OUTPUT0_NUMEL 3 "), "%s", h);
    cr_expect(strstr(h, "int mix_run(const float *x, float *y, int32_t *z, float *v, void *workspace);"),
              "%s", h);
    cr_expect(strstr(h, "int mix_invoke(const void *const *inputs, void *const *outputs, void *workspace);"),
              "%s", h);
    cr_expect(strstr(h, "ETCH_WORKSPACE_ALIGN (16)"), "%s", h);
    free(h);
    arena_free(a);
}

Test(emit_c, source_shape)
{
    rng_state = test_seed();
    Arena *a = arena_new();
    MixConsts mc;
    float x[N];
    random_mix(&mc, x);
    Program *p = build_mix(a, &mc);
    char *s = emit_to_string(cg_emit_c_source, p);
    cr_expect(strstr(s, "#include \"mix.h\"\n#include \"etch_runtime.h\"\n"), "%s", s);
    cr_expect(strstr(s, "static const float w[5] = {\n"), "%s", s);
    cr_expect(strstr(s, "static const int32_t iw[5] = {\n"), "%s", s);
    cr_expect(strstr(s, "static void k0_scale(const float *restrict x, const float *restrict w, "
                        "float *restrict t)\n"), "%s", s);
    cr_expect(strstr(s, "static void k1_rowsum(float *restrict y, const float *restrict t)\n"), "%s", s);
    /* The comment's own delimiters must not end the C comment early. */
    cr_expect(strstr(s, "/* scale 't': f32[3, 5] * / tricky / * text */\n"), "%s", s);
    cr_expect(strstr(s, "    float acc0 = 0.0f;\n"), "%s", s);
    cr_expect(strstr(s, "for (int i0 = 0; i0 < 15; i0 += 2) {\n"), "%s", s);
    cr_expect(strstr(s, "float *t = (float *)(ws + 0);\n"), "%s", s);
    cr_expect(strstr(s, "return ETCH_ERR_ALIGNMENT;"), "%s", s);
    cr_expect(strstr(s, "- (i0 - i0 % 4)"), "nested subtraction lost its parentheses:\n%s", s);
    cr_expect(strstr(s, "-(-t[i1])"), "%s", s);
    cr_expect(strstr(s, "etch_maxi32("), "%s", s);
    cr_expect(strstr(s, "etch_minf("), "%s", s);
    free(s);
    arena_free(a);
}

Test(emit_c, deterministic_bytes)
{
    rng_state = test_seed();
    uint64_t seed = rng_state;
    MixConsts mc;
    float x[N];
    random_mix(&mc, x);
    Arena *a1 = arena_new(), *a2 = arena_new();
    Program *p1 = build_mix(a1, &mc), *p2 = build_mix(a2, &mc);
    char *s1 = emit_to_string(cg_emit_c_source, p1), *s2 = emit_to_string(cg_emit_c_source, p1);
    char *s3 = emit_to_string(cg_emit_c_source, p2);
    char *h1 = emit_to_string(cg_emit_c_header, p1), *h2 = emit_to_string(cg_emit_c_header, p2);
    cr_expect_str_eq(s1, s2, "seed %llu", (unsigned long long)seed);
    cr_expect_str_eq(s1, s3, "seed %llu", (unsigned long long)seed);
    cr_expect_str_eq(h1, h2);
    free(s1); free(s2); free(s3); free(h1); free(h2);
    arena_free(a1);
    arena_free(a2);
}

Test(emit_c, compiles_and_computes)
{
    uint64_t seed = test_seed();
    rng_state = seed;
    Arena *a = arena_new();
    MixConsts mc;
    float x[N];
    random_mix(&mc, x);
    Program *p = build_mix(a, &mc);
    Ctx *ctx = ctx_new();
    char *dir = tmpdir();
    cr_assert(cg_emit_c(ctx, p, dir));

    char driver[16384];
    int n = snprintf(driver, sizeof driver,
        "#include <stdio.h>\n#include \"mix.h\"\n"
        "static float x[mix_INPUT0_NUMEL] = {");
    for (int i = 0; i < N; i++)
        n += snprintf(driver + n, sizeof driver - (size_t)n, "%a, ", (double)x[i]);
    snprintf(driver + n, sizeof driver - (size_t)n,
        "};\n"
        "static float y[mix_OUTPUT0_NUMEL], v[mix_OUTPUT2_NUMEL];\n"
        "static int32_t z[mix_OUTPUT1_NUMEL];\n"
        "static union { double align; unsigned char b[mix_WORKSPACE_SIZE + 16]; } ws;\n"
        "int main(void)\n{\n"
        "    int i;\n"
        "    const void *in[1];\n    void *out[3];\n"
        "    printf(\"null %%d\\n\", mix_run(NULL, y, z, v, ws.b));\n"
        "    printf(\"nullws %%d\\n\", mix_run(x, y, z, v, NULL));\n"
        "    printf(\"align %%d\\n\", mix_run(x, y, z, v, ws.b + 4));\n"
        "    in[0] = x; out[0] = y; out[1] = z; out[2] = v;\n"
        "    printf(\"ok %%d\\n\", mix_invoke(in, out, ws.b));\n"
        "    for (i = 0; i < mix_OUTPUT0_NUMEL; i++) printf(\"y %%a\\n\", (double)y[i]);\n"
        "    for (i = 0; i < mix_OUTPUT1_NUMEL; i++) printf(\"z %%d\\n\", (int)z[i]);\n"
        "    for (i = 0; i < mix_OUTPUT2_NUMEL; i++) printf(\"v %%a\\n\", (double)v[i]);\n"
        "    return 0;\n}\n");
    char *out = build_and_run(dir, "mix", driver);

    float y[ROWS], v[N];
    int32_t z[N];
    mix_expected(&mc, x, y, z, v);
    char *save = NULL;
    int ny = 0, nz = 0, nv = 0, status[4] = {-1, -1, -1, -1}, ns = 0;
    for (char *line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char tag[16];
        char val[64];
        cr_assert_eq(sscanf(line, "%15s %63s", tag, val), 2, "bad line '%s'", line);
        if (strcmp(tag, "y") == 0) {
            float got = strtof(val, NULL);
            cr_expect(fabsf(got - y[ny]) <= 1e-6f * fmaxf(1.0f, fabsf(y[ny])),
                      "y[%d] = %g, expected %g (seed %llu)", ny, got, y[ny], (unsigned long long)seed);
            ny++;
        } else if (strcmp(tag, "z") == 0) {
            cr_expect_eq(atoi(val), z[nz], "z[%d] = %s, expected %d (seed %llu)", nz, val, z[nz],
                         (unsigned long long)seed);
            nz++;
        } else if (strcmp(tag, "v") == 0) {
            float got = strtof(val, NULL);
            cr_expect(fabsf(got - v[nv]) <= 1e-6f * fmaxf(1.0f, fabsf(v[nv])),
                      "v[%d] = %g, expected %g (seed %llu)", nv, got, v[nv], (unsigned long long)seed);
            nv++;
        } else {
            cr_assert(ns < 4);
            status[ns++] = atoi(val);
        }
    }
    cr_expect_eq(ny, ROWS);
    cr_expect_eq(nz, N);
    cr_expect_eq(nv, N);
    cr_expect_eq(status[0], 1, "NULL input must give ETCH_ERR_NULL_ARG");
    cr_expect_eq(status[1], 1, "NULL workspace must give ETCH_ERR_NULL_ARG");
    cr_expect_eq(status[2], 2, "misaligned workspace must give ETCH_ERR_ALIGNMENT");
    cr_expect_eq(status[3], 0);

    /* The runtime written next to the code is the embedded one. */
    char path[4200];
    snprintf(path, sizeof path, "%s/etch_runtime.h", dir);
    char *rt = read_text(path);
    cr_assert(rt);
    cr_expect_str_eq(rt, cg_runtime_header);
    free(rt);
    rmtree(dir);
    free(dir);
    ctx_free(ctx);
    arena_free(a);
}

/* Weights print exactly: every float, including the awkward ones, reads back
 * bit for bit through a kernel that copies the weights to the output. NW
 * elements: small arrays print as decimals, large ones as hex floats. */
static void weights_round_trip(int NW)
{
    uint64_t seed = test_seed();
    rng_state = seed;
    static const float awkward[] = {0.1f, 1.0f, -0.0f, 1e-45f, 3.4028235e38f, INFINITY,
                                    -INFINITY, NAN, 3.0f, 123456789.0f, 1e10f, -2.5e-8f,
                                    16777217.0f, 0.3333333f, 1.1754942e-38f, -1.1754944e-38f,
                                    0.0f, 0.5f, -7.006492e-45f, 1.0000001f};
    float *w = calloc((size_t)NW, sizeof *w);
    for (int i = 0; i < NW; i++)
        w[i] = i < 14 || (NW > 256 && i % 37 == 0)
                   ? awkward[(i < 14 ? i : i / 37) % (sizeof awkward / sizeof awkward[0])]
                   : rnd(-1000.0f, 1000.0f) * powf(10.0f, rnd(-30.0f, 30.0f));
    int8_t q[4] = {-128, 127, 0, -1};
    Arena *a = arena_new();
    Program *p = loop_new_program(a, "wts");
    int y = add_arg(p, "y", BK_OUTPUT, DT_F32, NW);
    int yq = add_arg(p, "yq", BK_OUTPUT, DT_I8, 4);
    int wb = add_const(p, "w0", DT_F32, NW, w);
    int qb = add_const(p, "w1", DT_I8, 4, q);
    add_const(p, "unused", DT_F32, NW, w); /* no kernel reads it: not emitted */
    Kernel *k = loop_new_kernel(p, "k0_copy", "copy", -1);
    int i = loop_new_var(k);
    Stmt *l = st_for_n(p, i, NW, 0);
    st_append(p, k->body, l);
    st_append(p, l->body, st_store(p, y, ex_var(p, i), ex_load(p, wb, ex_var(p, i))));
    Stmt *l2 = st_for_n(p, i, 4, 0);
    st_append(p, k->body, l2);
    st_append(p, l2->body, st_store(p, yq, ex_var(p, i), ex_load(p, qb, ex_var(p, i))));

    char *s = emit_to_string(cg_emit_c_source, p);
    if (NW <= 256) {
        cr_expect(strstr(s, "0.1f, 1.0f, -0.0f, "), "%s", s);
        cr_expect(strstr(s, "INFINITY, -INFINITY, NAN, 3.0f,"), "%s", s);
        cr_expect(strstr(s, "1.2345679e+08f, 1e+10f, -2.5e-08f,"), "%s", s);
    } else {
        cr_expect(strstr(s, "0x1.99999ap-4f, 0x1p0f, -0.0f, 0x0.000002p-126f, 0x1.fffffep127f, "
                            "INFINITY, -INFINITY,"), "%.2000s", s);
        cr_expect(strstr(s, "NAN, 0x1.8p1f, 0x1.d6f346p26f, 0x1.2a05f2p33f, -0x1.ad7f2ap-26f, 0x1p24f,"),
                  "%.2000s", s);
    }
    cr_expect(strstr(s, "-128, 127, 0, -1,"), "%s", s);
    cr_expect(!strstr(s, "unused"), "%s", s);
    cr_expect(strstr(s, "(void)workspace;"), "%s", s);
    free(s);

    Ctx *ctx = ctx_new();
    char *dir = tmpdir();
    cr_assert(cg_emit_c(ctx, p, dir));
    const char *driver =
        "#include <stdio.h>\n#include <string.h>\n#include \"wts.h\"\n"
        "int main(void)\n{\n"
        "    float y[wts_OUTPUT0_NUMEL];\n    int8_t q[wts_OUTPUT1_NUMEL];\n    int i;\n"
        "    if (wts_run(y, q, NULL) != ETCH_OK) return 1;\n"
        "    for (i = 0; i < wts_OUTPUT0_NUMEL; i++) {\n"
        "        unsigned u; memcpy(&u, &y[i], 4); printf(\"%08x\\n\", u);\n    }\n"
        "    for (i = 0; i < wts_OUTPUT1_NUMEL; i++) printf(\"%d\\n\", (int)q[i]);\n"
        "    return 0;\n}\n";
    char *out = build_and_run(dir, "wts", driver);
    char *save = NULL, *line = strtok_r(out, "\n", &save);
    for (int e = 0; e < NW; e++, line = strtok_r(NULL, "\n", &save)) {
        cr_assert(line, "missing output line %d", e);
        unsigned got = (unsigned)strtoul(line, NULL, 16), want;
        memcpy(&want, &w[e], 4);
        if (isnan(w[e]))
            cr_expect((got & 0x7f800000u) == 0x7f800000u && (got & 0x7fffffu), "w[%d] not NaN", e);
        else
            cr_expect_eq(got, want, "w[%d] = %08x, expected %08x (%.9g; seed %llu)", e, got, want,
                         (double)w[e], (unsigned long long)seed);
    }
    for (int e = 0; e < 4; e++, line = strtok_r(NULL, "\n", &save)) {
        cr_assert(line);
        cr_expect_eq(atoi(line), q[e]);
    }
    rmtree(dir);
    free(dir);
    ctx_free(ctx);
    arena_free(a);
    free(w);
}

Test(emit_c, weights_round_trip_decimal) { weights_round_trip(40); }
Test(emit_c, weights_round_trip_hex) { weights_round_trip(600); }

/* Buffer, kernel and local names that would clash in C are renamed; temps
 * that share workspace bytes lose `restrict`. */
Test(emit_c, names_and_aliasing)
{
    Arena *a = arena_new();
    Program *p = loop_new_program(a, "nm");
    int in = add_arg(p, "int", BK_INPUT, DT_F32, 4);
    int out = add_arg(p, "exp", BK_OUTPUT, DT_F32, 4);
    int ws = add_temp(p, "ws", DT_F32, 4, 0);
    int i0 = add_temp(p, "i0", DT_F32, 4, 8); /* overlaps ws */
    int e = add_const(p, "etch_minf", DT_F32, 4, (float[]){1, 2, 3, 4});
    int dup = add_const(p, "k0_a", DT_F32, 4, (float[]){5, 6, 7, 8});
    int run_ = add_temp(p, "nm_run", DT_F32, 4, 32);
    p->workspace_size = 48;
    Kernel *k = loop_new_kernel(p, "k0_a", "a", -1);
    int v = loop_new_var(k);
    int loc = loop_new_local(p, k, DT_F32, "i"); /* would print as i0 */
    Stmt *l = st_for_n(p, v, 4, 0);
    st_append(p, k->body, l);
    Expr *sum = ex_add(p, ex_load(p, in, ex_var(p, v)), ex_load(p, e, ex_var(p, v)));
    st_append(p, l->body, st_set(p, loc, sum));
    st_append(p, l->body, st_store(p, ws, ex_var(p, v), ex_local(p, k, loc)));
    st_append(p, l->body, st_store(p, i0, ex_var(p, v), ex_load(p, dup, ex_var(p, v))));
    Kernel *k1 = loop_new_kernel(p, "k1_b", "b", -1);
    v = loop_new_var(k1);
    int only_set = loop_new_local(p, k1, DT_I32, "cnt");
    l = st_for_n(p, v, 4, 0);
    st_append(p, k1->body, l);
    st_append(p, l->body, st_set(p, only_set, ex_int_t(p, DT_I32, 1)));
    st_append(p, l->body, st_store(p, run_, ex_var(p, v), ex_load(p, i0, ex_var(p, v))));
    st_append(p, l->body, st_store(p, out, ex_var(p, v),
                                   ex_add(p, ex_load(p, run_, ex_var(p, v)), ex_load(p, ws, ex_var(p, v)))));

    char *s = emit_to_string(cg_emit_c_source, p);
    cr_expect(!strstr(s, "*restrict int,"), "%s", s);
    cr_expect(!strstr(s, "*restrict i0,"), "%s", s);
    cr_expect(!strstr(s, "float i0 ="), "%s", s);
    cr_expect(!strstr(s, " etch_minf[4]"), "%s", s);
    cr_expect(!strstr(s, " nm_run ="), "%s", s);
    cr_expect(strstr(s, "float *ws_1, float *i0_2,"), "overlapping temps must not be restrict:\n%s", s);
    cr_expect(strstr(s, "(void)cnt0;"), "%s", s);
    free(s);
    Ctx *ctx = ctx_new();
    char *dir = tmpdir();
    cr_assert(cg_emit_c(ctx, p, dir));
    build_and_run(dir, "nm", NULL);
    rmtree(dir);
    free(dir);
    ctx_free(ctx);
    arena_free(a);
}

/* ------------------------------------------------------------------ cli */

static int etch(const char *args, char *out, size_t size)
{
    char cmd[16384];
    snprintf(cmd, sizeof cmd, "'%s' %s", ETCH_EXE, args);
    return run(cmd, out, size);
}

Test(cli, version_and_help)
{
    char out[1 << 14];
    cr_expect_eq(etch("--version", out, sizeof out), 0);
    cr_expect_str_eq(out, "etch " ETCH_VERSION "\n");
    cr_expect_eq(etch("--help", out, sizeof out), 0);
    cr_expect(strstr(out, "etch compile MODEL"), "%s", out);
    cr_expect(strstr(out, "etch run MODEL --input"), "%s", out);
    cr_expect(strstr(out, "plan-memory"), "%s", out);
    cr_expect_eq(etch("compile --help", out, sizeof out), 0);
    cr_expect(strstr(out, "usage: etch compile MODEL"), "%s", out);
    cr_expect(!strstr(out, "--backend"), "compile takes no --backend:\n%s", out);
    cr_expect_eq(etch("run --help", out, sizeof out), 0);
    cr_expect(strstr(out, "--backend"), "%s", out);
}

Test(cli, bad_usage_exits_2)
{
    static const struct {
        const char *args, *msg;
    } cases[] = {
        {"", "no command given"},
        {"frobnicate m.etch", "unknown command 'frobnicate'"},
        {"compile", "no MODEL given"},
        {"compile m.etch --bogus", "unknown option '--bogus'"},
        {"compile m.etch --stats", "unknown option '--stats'"},
        {"dump m.etch --print-after=bogus", "unknown pass 'bogus' (passes: infer-shapes"},
        {"compile m.etch --disable-pass=nope", "unknown pass 'nope'"},
        {"run m.etch --repeat 0", "--repeat wants a positive integer"},
        {"run m.etch --repeat=3x", "--repeat wants a positive integer"},
        {"run m.etch --backend gpu", "unknown backend 'gpu'"},
        {"compile m.etch --emit pdf", "cannot emit 'pdf'"},
        {"compile m.etch --name 1abc", "not a C identifier"},
        {"compile m.etch -o", "needs a value"},
        {"compile a.etch b.etch", "one MODEL only"},
        {"dot m.etch --stats=1", "unknown option '--stats'"},
    };
    char out[1 << 14];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int st = etch(cases[i].args, out, sizeof out);
        cr_expect_eq(st, 2, "etch %s: exit %d\n%s", cases[i].args, st, out);
        cr_expect(strstr(out, cases[i].msg), "etch %s: no '%s' in:\n%s", cases[i].args,
                  cases[i].msg, out);
        cr_expect(strstr(out, "usage: "), "etch %s: no usage line:\n%s", cases[i].args, out);
    }
}

Test(cli, missing_model_exits_1)
{
    char out[1 << 14];
    const char *cmds[] = {"compile /nonexistent/dir/m.etch", "dump /nonexistent/dir/m.etch",
                          "dot /nonexistent/dir/m.etch", "run /nonexistent/dir/m.etch --input x.npy"};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        int st = etch(cmds[i], out, sizeof out);
        cr_expect_eq(st, 1, "etch %s: exit %d\n%s", cmds[i], st, out);
        cr_expect(strstr(out, "/nonexistent/dir/m.etch"), "etch %s: %s", cmds[i], out);
        cr_expect(strstr(out, "error"), "etch %s: %s", cmds[i], out);
    }
}

/* A small gemm -> relu -> softmax model with random weights, and the same
 * computation done here in double. */
typedef struct {
    float w[4 * 3], b[3], x[4];
    double y[3];
} Tiny;

static void write_tiny(const char *dir, Tiny *t)
{
    for (int i = 0; i < 12; i++)
        t->w[i] = rnd(-1.0f, 1.0f);
    for (int i = 0; i < 3; i++)
        t->b[i] = rnd(-0.5f, 0.5f);
    for (int i = 0; i < 4; i++)
        t->x[i] = rnd(-2.0f, 2.0f);
    char text[4096], path[4200];
    int n = snprintf(text, sizeof text, "graph tiny {\n  input x : f32[1, 4]\n  const w : f32[4, 3] = [");
    for (int i = 0; i < 12; i++)
        n += snprintf(text + n, sizeof text - (size_t)n, "%s%.9g", i ? ", " : "", (double)t->w[i]);
    n += snprintf(text + n, sizeof text - (size_t)n, "]\n  const b : f32[3] = [");
    for (int i = 0; i < 3; i++)
        n += snprintf(text + n, sizeof text - (size_t)n, "%s%.9g", i ? ", " : "", (double)t->b[i]);
    snprintf(text + n, sizeof text - (size_t)n,
             "]\n  h = relu(gemm(x, w, b))\n  y = softmax(h, axis = 1)\n  output y\n}\n");
    snprintf(path, sizeof path, "%s/m.etch", dir);
    write_text(path, text);
    double h[3], mx = -INFINITY, sum = 0.0;
    for (int j = 0; j < 3; j++) {
        h[j] = t->b[j];
        for (int k = 0; k < 4; k++)
            h[j] += (double)t->x[k] * t->w[k * 3 + j];
        h[j] = h[j] > 0.0 ? h[j] : 0.0;
        mx = h[j] > mx ? h[j] : mx;
    }
    for (int j = 0; j < 3; j++)
        sum += exp(h[j] - mx);
    for (int j = 0; j < 3; j++)
        t->y[j] = exp(h[j] - mx) / sum;
    Type ty = type_make(DT_F32, 2, (int64_t[]){1, 4});
    snprintf(path, sizeof path, "%s/x.npy", dir);
    cr_assert(fe_write_npy(path, &ty, t->x));
    Type bad = type_make(DT_F32, 2, (int64_t[]){2, 2});
    snprintf(path, sizeof path, "%s/bad.npy", dir);
    cr_assert(fe_write_npy(path, &bad, t->x));
}

static void check_output(const char *path, const Tiny *t, uint64_t seed)
{
    Ctx *c = ctx_new();
    Type ty;
    void *data;
    cr_assert(fe_read_npy(c, path, (Loc){.file = path}, &ty, &data), "cannot read %s", path);
    cr_assert_eq(ty.dtype, DT_F32);
    cr_assert_eq(type_numel(&ty), 3);
    for (int j = 0; j < 3; j++) {
        double got = ((float *)data)[j];
        cr_expect(fabs(got - t->y[j]) <= 1e-5, "%s: y[%d] = %.9g, expected %.9g (seed %llu)", path, j,
                  got, t->y[j], (unsigned long long)seed);
    }
    ctx_free(c);
}

Test(cli, compile_run_dump_dot)
{
    uint64_t seed = test_seed();
    rng_state = seed;
    char *dir = tmpdir();
    Tiny t;
    write_tiny(dir, &t);
    char out[1 << 15], args[8192], path[4200];

    snprintf(args, sizeof args, "compile '%s/m.etch' -o '%s/gen/deep' --name net", dir, dir);
    cr_assert_eq(etch(args, out, sizeof out), 0, "%s", out);
    snprintf(path, sizeof path, "%s/gen/deep/net.h", dir);
    char *h = read_text(path);
    cr_assert(h, "no %s", path);
    cr_expect(strstr(h, "#define net_WORKSPACE_SIZE "), "%s", h);
    cr_expect(strstr(h, "int net_run(const float *x, float *y, void *workspace);"), "%s", h);
    free(h);
    snprintf(path, sizeof path, "%s/gen/deep", dir);
    build_and_run(path, "net", NULL);

    /* interp, inputs by position */
    snprintf(args, sizeof args, "run '%s/m.etch' --input '%s/x.npy' --output-dir '%s/o1'", dir, dir, dir);
    cr_assert_eq(etch(args, out, sizeof out), 0, "%s", out);
    cr_expect(strncmp(out, "y f32[1, 3] argmax=", 19) == 0, "%s", out);
    snprintf(path, sizeof path, "%s/o1/y.npy", dir);
    check_output(path, &t, seed);

    /* compiled C, inputs by name, with stats */
    snprintf(args, sizeof args,
             "run '%s/m.etch' --input 'x=%s/x.npy' --output-dir '%s/o2' --backend c --repeat 3 --stats",
             dir, dir, dir);
    cr_assert_eq(etch(args, out, sizeof out), 0, "%s", out);
    cr_expect(strstr(out, "latency_us: "), "%s", out);
    cr_expect(strstr(out, "arena_bytes: "), "%s", out);
    cr_expect(strstr(out, "arena_lower_bound: "), "%s", out);
    snprintf(path, sizeof path, "%s/o2/y.npy", dir);
    check_output(path, &t, seed);

    /* input errors name the input and both shapes */
    snprintf(args, sizeof args, "run '%s/m.etch' --input '%s/bad.npy'", dir, dir);
    cr_expect_eq(etch(args, out, sizeof out), 1, "%s", out);
    cr_expect(strstr(out, "'x'") && strstr(out, "f32[1, 4]") && strstr(out, "f32[2, 2]"), "%s", out);
    snprintf(args, sizeof args, "run '%s/m.etch' --output-dir '%s'", dir, dir);
    cr_expect_eq(etch(args, out, sizeof out), 1, "%s", out);
    cr_expect(strstr(out, "missing input 'x'"), "%s", out);
    snprintf(args, sizeof args, "run '%s/m.etch' --input '%s/x.npy' --input '%s/x.npy'", dir, dir, dir);
    cr_expect_eq(etch(args, out, sizeof out), 1, "%s", out);

    /* dump and dot */
    snprintf(args, sizeof args, "dump '%s/m.etch'", dir);
    cr_assert_eq(etch(args, out, sizeof out), 0, "%s", out);
    cr_expect(strncmp(out, "graph tiny {", 12) == 0, "%s", out);
    snprintf(args, sizeof args, "dump '%s/m.etch' --print-after=lower", dir);
    cr_assert_eq(etch(args, out, sizeof out), 0, "%s", out);
    cr_expect(strstr(out, "# after lower") && strstr(out, "program tiny"), "%s", out);
    snprintf(args, sizeof args, "dot '%s/m.etch' -o '%s/g.dot'", dir, dir);
    cr_assert_eq(etch(args, out, sizeof out), 0, "%s", out);
    snprintf(path, sizeof path, "%s/g.dot", dir);
    char *dot = read_text(path);
    cr_assert(dot);
    cr_expect(strstr(dot, "digraph"), "%s", dot);
    free(dot);
    rmtree(dir);
    free(dir);
}
