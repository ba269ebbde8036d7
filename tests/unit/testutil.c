/* testutil.c: shared helpers for etch's Criterion tests (see testutil.h).
 *
 * Commands run through /bin/sh with their output sent to files in a private
 * temp dir, so a test sees exactly what a user of the CLI would. The
 * differential check owns one crash handler: if a stage aborts or faults,
 * the seed and the graph text being run are written to stderr before the
 * signal is re-raised, so a crash is as reproducible as a mismatch.
 */
#define _XOPEN_SOURCE 700

#include "testutil.h"

#include <dirent.h>
#include <dlfcn.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "codegen/codegen.h"
#include "frontend/frontend.h"
#include "passes/passes.h"

/* ------------------------------------------------------------ strings */

static void str_reserve(TuStr *b, size_t extra)
{
    if (b->len + extra + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1)
        cap *= 2;
    char *s = realloc(b->s, cap);
    if (!s)
        abort();
    b->s = s;
    b->cap = cap;
}

void tu_str_printf(TuStr *b, const char *fmt, ...)
{
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    str_reserve(b, (size_t)n);
    vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    b->len += (size_t)n;
}

void tu_str_append(TuStr *b, const char *text)
{
    size_t n = strlen(text);
    str_reserve(b, n);
    memcpy(b->s + b->len, text, n + 1);
    b->len += n;
}

void tu_str_clear(TuStr *b)
{
    b->len = 0;
    if (b->s)
        b->s[0] = 0;
}

/* -------------------------------------------------------------- files */

char *tu_path(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (!p)
        abort();
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

char *tu_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    TuStr b = {0};
    str_reserve(&b, 4096);
    size_t got;
    char chunk[4096];
    while ((got = fread(chunk, 1, sizeof chunk, f)) > 0) {
        str_reserve(&b, got);
        memcpy(b.s + b.len, chunk, got);
        b.len += got;
        b.s[b.len] = 0;
    }
    b.s[b.len] = 0; /* an empty file too */
    fclose(f);
    if (len)
        *len = b.len;
    return b.s;
}

bool tu_write_file(const char *path, const char *text, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return false;
    bool ok = fwrite(text, 1, len, f) == len;
    return fclose(f) == 0 && ok;
}

bool tu_file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

char *tu_mkdtemp(const char *tag)
{
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !*tmp)
        tmp = "/tmp";
    size_t n = strlen(tmp) + strlen(tag) + 32;
    char *p = malloc(n);
    if (!p)
        abort();
    snprintf(p, n, "%s/etch-%s-XXXXXX", tmp, tag);
    if (!mkdtemp(p)) {
        perror(p);
        abort();
    }
    return p;
}

void tu_rmtree(const char *path)
{
    /* Only ever called on dirs made by tu_mkdtemp, whose names need no quoting. */
    if (!path || strncmp(path, "/", 1) != 0 || strstr(path, "etch-") == NULL)
        return;
    TuStr cmd = {0};
    tu_str_printf(&cmd, "rm -rf '%s'", path);
    if (system(cmd.s) != 0)
        fprintf(stderr, "warning: could not remove %s\n", path);
    free(cmd.s);
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int tu_list_dir(const char *dir, const char *suffix, char ***names)
{
    *names = NULL;
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int n = 0, cap = 0;
    size_t sl = strlen(suffix);
    for (struct dirent *e; (e = readdir(d));) {
        size_t l = strlen(e->d_name);
        if (e->d_name[0] == '.' || l < sl || strcmp(e->d_name + l - sl, suffix) != 0)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            *names = realloc(*names, (size_t)cap * sizeof **names);
            if (!*names)
                abort();
        }
        (*names)[n++] = strdup(e->d_name);
    }
    closedir(d);
    if (n)
        qsort(*names, (size_t)n, sizeof **names, cmp_names);
    return n;
}

void tu_free_list(char **names, int n)
{
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

char *tu_diff_files(const char *expected, const char *actual)
{
    TuStr cmd = {0};
    tu_str_printf(&cmd, "diff -u '%s' '%s'", expected, actual);
    char *out = NULL;
    tu_run(NULL, cmd.s, &out, NULL);
    free(cmd.s);
    return out;
}

/* ----------------------------------------------------------- commands */

int tu_run(const char *cwd, const char *cmd, char **out, char **err)
{
    char *dir = tu_mkdtemp("run");
    char *outp = tu_path(dir, "stdout"), *errp = tu_path(dir, "stderr");
    TuStr sh = {0};
    if (cwd)
        tu_str_printf(&sh, "cd '%s' && ", cwd);
    tu_str_printf(&sh, "( %s ) >'%s' 2>'%s' </dev/null", cmd, outp, errp);
    fflush(NULL);
    int st = system(sh.s);
    int status = (st != -1 && WIFEXITED(st)) ? WEXITSTATUS(st) : -1;
    if (out) {
        *out = tu_read_file(outp, NULL);
        if (!*out)
            *out = strdup("");
    }
    if (err) {
        *err = tu_read_file(errp, NULL);
        if (!*err)
            *err = strdup("");
    }
    /* Not tu_rmtree: a second shell per command doubles the cost of a run. */
    remove(outp);
    remove(errp);
    rmdir(dir);
    free(sh.s);
    free(outp);
    free(errp);
    free(dir);
    return status;
}

/* ---------------------------------------------------------- the PRNG */

uint64_t tu_seed(void)
{
    static uint64_t seed;
    static bool have;
    if (have)
        return seed;
    const char *env = getenv("ETCH_SEED");
    if (env && *env) {
        seed = strtoull(env, NULL, 0);
    } else {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        seed = ((uint64_t)ts.tv_sec * 1000003u) ^ (uint64_t)ts.tv_nsec ^
               ((uint64_t)getpid() << 32);
        seed %= 1000000000u; /* short enough to retype */
    }
    have = true;
    return seed;
}

/* splitmix64: every seed, 0 included, gives a full-period stream. */
void tu_rng_init(TuRng *r, uint64_t seed)
{
    r->s = seed;
}

static uint64_t rng_next(TuRng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

uint32_t tu_rng_u32(TuRng *r)
{
    return (uint32_t)(rng_next(r) >> 32);
}

int tu_rng_int(TuRng *r, int lo, int hi)
{
    return lo + (int)(tu_rng_u32(r) % (uint32_t)(hi - lo + 1));
}

float tu_rng_float(TuRng *r, float lo, float hi)
{
    double u = (double)(rng_next(r) >> 11) / 9007199254740992.0;
    return (float)(lo + (hi - lo) * u);
}

bool tu_rng_bool(TuRng *r)
{
    return tu_rng_u32(r) & 1;
}

static float rng_data(TuRng *r, TuData kind)
{
    switch (kind) {
    case TU_DATA_SIGNED: return tu_rng_float(r, -2.0f, 2.0f);
    case TU_DATA_POSITIVE: return tu_rng_float(r, 0.1f, 3.0f);
    case TU_DATA_AWAY: {
        float m = tu_rng_float(r, 0.5f, 2.0f);
        return tu_rng_bool(r) ? m : -m;
    }
    case TU_DATA_SMALL: return tu_rng_float(r, -0.5f, 0.5f);
    case TU_DATA_WIDE: return tu_rng_float(r, -40.0f, 40.0f);
    case TU_DATA_INT8: return (float)tu_rng_int(r, -128, 127);
    case TU_DATA_UINT8: return (float)tu_rng_int(r, 0, 255);
    }
    return 1.0f;
}

void tu_fill(TuRng *r, float *x, int64_t n, TuData kind)
{
    for (int64_t i = 0; i < n; i++)
        x[i] = rng_data(r, kind);
}

void tu_str_data(TuStr *b, TuRng *r, int64_t n, TuData kind)
{
    tu_str_append(b, "[");
    for (int64_t i = 0; i < n; i++)
        tu_str_printf(b, "%s%.9g", i ? ", " : "", (double)rng_data(r, kind));
    tu_str_append(b, "]");
}

/* ------------------------------------------------------- comparisons */

double tu_max_abs(const float *a, int64_t n)
{
    double m = 0;
    for (int64_t i = 0; i < n; i++)
        if (fabs((double)a[i]) > m)
            m = fabs((double)a[i]);
    return m;
}

bool tu_close(const float *got, const float *ref, int64_t n, double rel, double *err,
              int64_t *where)
{
    double scale = tu_max_abs(ref, n);
    double tol = rel * (scale > 1 ? scale : 1);
    double worst = 0;
    int64_t at = -1;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - (double)ref[i]);
        if (isnan(d)) {
            worst = NAN;
            at = i;
            break;
        }
        if (d > worst || at < 0) {
            worst = d;
            at = i;
        }
    }
    if (err)
        *err = worst;
    if (where)
        *where = at;
    return !isnan(worst) && worst <= tol;
}

/* ------------------------------------------- the differential check */

static char crash_note[256];
static const char *crash_text;

static void on_crash(int sig)
{
    if (crash_text) {
        ssize_t w = write(2, crash_note, strlen(crash_note));
        w = write(2, crash_text, strlen(crash_text));
        w = write(2, "\n", 1);
        (void)w;
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

static void arm_crash_handler(const char *stage, const char *text)
{
    static bool installed;
    if (!installed) {
        signal(SIGABRT, on_crash);
        signal(SIGSEGV, on_crash);
        signal(SIGFPE, on_crash);
        signal(SIGBUS, on_crash);
        installed = true;
    }
    snprintf(crash_note, sizeof crash_note,
             "\n*** crashed in stage '%s' (ETCH_SEED=%llu); graph:\n", stage,
             (unsigned long long)tu_seed());
    crash_text = text;
}

/* Tensor contents as floats, whatever the dtype. */
static float *as_floats(const Type *t, void *data)
{
    int64_t n = type_numel(t);
    float *f = malloc((size_t)(n ? n : 1) * sizeof *f);
    if (!f)
        abort();
    Tensor tt = {.type = *t, .data = data};
    for (int64_t i = 0; i < n; i++)
        f[i] = tensor_getf(&tt, i);
    return f;
}

static void *alloc_filled(size_t bytes, int byte)
{
    size_t n = (bytes + 15) & ~(size_t)15;
    void *p = aligned_alloc(16, n ? n : 16);
    if (!p)
        abort();
    memset(p, byte, n ? n : 16);
    return p;
}

/* Index into g->outputs / g->inputs for a program buffer, else `fallback`. */
static int graph_slot(const int *ids, int n, int value, int fallback)
{
    for (int i = 0; i < n; i++)
        if (ids[i] == value)
            return i;
    return fallback;
}

typedef int InvokeFn(const void *const *inputs, void *const *outputs, void *workspace);

/* Which backend tu_diff_graph's compiled stage uses: the C backend, or the
 * LLVM backend when tu_diff_graph_llvm calls it. */
static bool diff_llvm;
static const char *diff_target; /* NULL: host */
static MathMode diff_math;

bool tu_run_program(Ctx *c, const Program *p, const char *workdir, bool llvm,
                    const void *const *ins, void *const *outs, TuStr *why)
{
    char *dir = tu_path(workdir, p->name);
    mkdir(dir, 0755);
    bool ok = false;
    void *lib = NULL;
    LlvmOpts lo = {.kind = LLVM_EMIT_OBJ, .target = "host", .opt_level = 2};
    if (llvm ? !cg_emit_llvm(c, p, dir, &lo) : !cg_emit_c(c, p, dir)) {
        tu_str_printf(why, "%s failed\n", llvm ? "cg_emit_llvm" : "cg_emit_c");
        goto done;
    }
    const char *cc = getenv("CC");
    TuStr cmd = {0};
    if (llvm)
        tu_str_printf(&cmd, "%s -shared -o lib%s.so %s.o -lm", cc && *cc ? cc : "cc", p->name,
                      p->name);
    else
        tu_str_printf(&cmd,
                      "%s -O1 -std=c99 -Wall -Wextra -pedantic -Werror -shared -fPIC "
                      "-o lib%s.so %s.c -lm",
                      cc && *cc ? cc : "cc", p->name, p->name);
    char *err = NULL;
    int st = tu_run(dir, cmd.s, NULL, &err);
    free(cmd.s);
    if (st != 0) {
        char *src = tu_path(dir, p->name);
        tu_str_printf(why, "the emitted %s does not build (%s%s):\n%s", llvm ? "object" : "C", src,
                      llvm ? ".o" : ".c", err);
        free(src);
        free(err);
        goto done;
    }
    free(err);
    TuStr so = {0};
    tu_str_printf(&so, "%s/lib%s.so", dir, p->name);
    lib = dlopen(so.s, RTLD_NOW | RTLD_LOCAL);
    free(so.s);
    if (!lib) {
        tu_str_printf(why, "dlopen: %s\n", dlerror());
        goto done;
    }
    TuStr sym = {0};
    tu_str_printf(&sym, "%s_invoke", p->name);
    void *addr = dlsym(lib, sym.s);
    if (!addr) {
        tu_str_printf(why, "no symbol %s in the emitted C\n", sym.s);
        free(sym.s);
        goto done;
    }
    free(sym.s);
    /* ISO C has no object-to-function pointer cast; POSIX guarantees the copy. */
    InvokeFn *invoke;
    memcpy(&invoke, &addr, sizeof invoke);
    /* The header promises NULL is fine for an empty workspace. */
    void *ws = p->workspace_size ? alloc_filled((size_t)p->workspace_size, 0xff) : NULL;
    int bad = invoke(NULL, outs, ws);
    int rc = invoke(ins, outs, ws);
    free(ws);
    if (bad == 0) {
        tu_str_printf(why, "%s_invoke(NULL inputs) returned ETCH_OK\n", p->name);
        goto done;
    }
    if (rc != 0) {
        tu_str_printf(why, "%s_invoke returned %d\n", p->name, rc);
        goto done;
    }
    ok = true;
done:
    if (lib)
        dlclose(lib);
    free(dir);
    return ok;
}

/* Small tensors go into a failure report whole, so a reader can redo the
 * arithmetic by hand or in numpy. */
static void report_tensor(TuStr *report, const char *what, const char *name, const Tensor *t,
                          const float *f)
{
    int64_t n = type_numel(&t->type);
    if (n > 48)
        return;
    char ts[128];
    tu_str_printf(report, "  %s %s %s = [", what, name, type_str(&t->type, ts, sizeof ts));
    for (int64_t i = 0; i < n; i++)
        tu_str_printf(report, "%s%.9g", i ? ", " : "", (double)(f ? f[i] : tensor_getf(t, i)));
    tu_str_append(report, "]\n");
}

/* Compares one backend's outputs to the interpreter's. */
static bool compare_outputs(const char *stage, const Graph *g, const Program *p,
                            const Tensor *ref, void *const *got, double rel, TuStr *report)
{
    bool ok = true;
    for (int i = 0; i < p->noutputs; i++) {
        const Buffer *b = &p->bufs[p->outputs[i]];
        int slot = graph_slot(g->outputs, g->noutputs, b->value, i);
        const Type *t = &ref[slot].type;
        float *e = as_floats(t, ref[slot].data), *a = as_floats(t, got[i]);
        double err;
        int64_t at;
        int64_t n = type_numel(t);
        if (!tu_close(a, e, n, rel, &err, &at)) {
            char ts[128];
            double scale = tu_max_abs(e, n);
            tu_str_printf(report,
                          "%s: output '%s' %s: max abs err %.3g at flat index %lld "
                          "(expected %.9g, got %.9g; tolerance %.3g)\n",
                          stage, g->values[g->outputs[slot]].name, type_str(t, ts, sizeof ts),
                          err, (long long)at, at >= 0 ? (double)e[at] : 0.0,
                          at >= 0 ? (double)a[at] : 0.0, rel * (scale > 1 ? scale : 1));
            const char *name = g->values[g->outputs[slot]].name;
            report_tensor(report, "expected", name, &ref[slot], NULL);
            report_tensor(report, "got     ", name, &ref[slot], a);
            ok = false;
        }
        free(e);
        free(a);
    }
    return ok;
}

bool tu_diff_graph(const char *text, TuRng *r, const TuData *kinds, double rel,
                   const char *workdir, TuStr *report)
{
    Ctx *c = ctx_new();
    char *diag = NULL;
    size_t diaglen = 0;
    FILE *df = open_memstream(&diag, &diaglen);
    c->err = df;
    bool ok = false;
    const char *stage = "parse";
    void **cin = NULL, **couts[2] = {NULL, NULL};
    Program *p = NULL;
    Graph *g = NULL;
    Tensor *in = NULL;
    TuStr why = {0};

    arm_crash_handler(stage, text);
    g = fe_parse_string(c, "diff.etch", text);
    if (!g)
        goto fail;

    stage = "interp";
    arm_crash_handler(stage, text);
    in = arena_alloc(c->arena, (size_t)(g->ninputs + 1) * sizeof *in);
    for (int i = 0; i < g->ninputs; i++) {
        in[i].type = g->values[g->inputs[i]].type;
        int64_t n = type_numel(&in[i].type);
        in[i].data = arena_alloc(c->arena, type_bytes(&in[i].type) + 16);
        float *tmp = malloc((size_t)(n ? n : 1) * sizeof *tmp);
        tu_fill(r, tmp, n, kinds ? kinds[i] : TU_DATA_SIGNED);
        for (int64_t k = 0; k < n; k++)
            tensor_setf(&in[i], k, tmp[k]);
        free(tmp);
    }
    Tensor *ref = arena_alloc(c->arena, (size_t)(g->noutputs + 1) * sizeof *ref);
    if (!interp_run(c, g, in, ref))
        goto fail;

    stage = "pipeline";
    arm_crash_handler(stage, text);
    Module m = {.graph = g, .target = diff_target ? target_find(diff_target) : NULL,
                .math = diff_math};
    if (!pipeline_run(c, &m, NULL) || !m.prog) {
        tu_str_append(&why, "pipeline_run failed\n");
        goto fail;
    }
    p = m.prog;
    cin = calloc((size_t)p->ninputs + 1, sizeof *cin);
    for (int i = 0; i < p->ninputs; i++) {
        const Buffer *b = &p->bufs[p->inputs[i]];
        cin[i] = in[graph_slot(g->inputs, g->ninputs, b->value, i)].data;
    }
    for (int k = 0; k < 2; k++) {
        couts[k] = calloc((size_t)p->noutputs + 1, sizeof *couts[k]);
        for (int i = 0; i < p->noutputs; i++) {
            const Buffer *b = &p->bufs[p->outputs[i]];
            couts[k][i] = alloc_filled((size_t)b->numel * dtype_size(b->dtype), 0xff);
        }
    }

    stage = "loop_eval";
    arm_crash_handler(stage, text);
    void *ws = alloc_filled((size_t)p->workspace_size, 0xff);
    bool ran = loop_eval(p, (const void *const *)cin, couts[0], ws);
    free(ws);
    if (!ran) {
        tu_str_append(&why, "loop_eval failed\n");
        goto fail;
    }
    bool same = compare_outputs(stage, g, p, ref, couts[0], rel, report);

    stage = diff_llvm ? "LLVM" : "C";
    arm_crash_handler(stage, text);
    if (!tu_run_program(c, p, workdir, diff_llvm, (const void *const *)cin, couts[1], &why))
        goto fail;
    same = compare_outputs(stage, g, p, ref, couts[1], rel, report) && same;
    ok = same;
    if (!ok)
        stage = NULL;
fail:
    crash_text = NULL;
    fflush(df);
    if (!ok) {
        if (g && in)
            for (int i = 0; i < g->ninputs; i++)
                report_tensor(report, "input", g->values[g->inputs[i]].name, &in[i], NULL);
        if (stage)
            tu_str_printf(report, "stage %s failed: %s", stage, why.s ? why.s : "\n");
        if (diaglen)
            tu_str_printf(report, "diagnostics:\n%s", diag);
        tu_str_printf(report, "graph:\n%s\n", text);
    }
    for (int k = 0; k < 2; k++) {
        if (couts[k] && p)
            for (int i = 0; i < p->noutputs; i++)
                free(couts[k][i]);
        free(couts[k]);
    }
    free(cin);
    free(why.s);
    fclose(df);
    free(diag);
    ctx_free(c);
    return ok;
}

bool tu_diff_graph_target(const char *target, bool llvm, const char *text, TuRng *r, const TuData *kinds,
                          double rel, const char *workdir, TuStr *report)
{
    diff_target = target;
    diff_llvm = llvm;
    bool ok = tu_diff_graph(text, r, kinds, rel, workdir, report);
    diff_target = NULL;
    diff_llvm = false;
    return ok;
}

bool tu_diff_graph_fast(bool llvm, const char *text, TuRng *r, const TuData *kinds, double rel,
                        const char *workdir, TuStr *report)
{
    diff_math = MATH_FAST;
    bool ok = tu_diff_graph_target(NULL, llvm, text, r, kinds, rel, workdir, report);
    diff_math = MATH_EXACT;
    return ok;
}

bool tu_diff_graph_llvm(const char *text, TuRng *r, const TuData *kinds, double rel,
                        const char *workdir, TuStr *report)
{
    return tu_diff_graph_target(NULL, true, text, r, kinds, rel, workdir, report);
}

bool tu_diff_graph_scalar(const char *text, TuRng *r, const TuData *kinds, double rel,
                          const char *workdir, TuStr *report)
{
    return tu_diff_graph_target("generic", false, text, r, kinds, rel, workdir, report);
}
