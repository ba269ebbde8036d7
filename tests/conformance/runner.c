/* runner.c: the ONNX backend conformance runner (etch_conformance).
 *
 * Walks ONNX backend test directories (each case a folder holding model.onnx
 * and test_data_set_N/{input,output}_K.pb), and for every case whose ops
 * etch imports, runs each data set through the reference interpreter and
 * the C backend (compiled to a shared object and loaded), comparing with
 * the expected outputs using ONNX's tolerances: |got - want| <= atol +
 * rtol * |want| (rtol 1e-3, atol 1e-7), NaN matching NaN, integers exact.
 * One line per case, then `N passed, N failed, N skipped` with the skips
 * grouped by reason. Exit status 1 when any case fails.
 *
 * A case is skipped, never failed, when the model uses an op etch does not
 * import or when etch reports a feature as not supported (the reason is the
 * diagnostic); any other error is a failure. Each case runs in a child
 * process with a time limit, so a crash or a hang fails that case (with the
 * signal and the last line it printed) instead of ending the run.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "codegen/codegen.h"
#include "frontend/frontend.h"
#include "passes/passes.h"

typedef struct {
    const char *reason;
    int count;
    const char *example;
} SkipGroup;

typedef struct {
    bool use_c, use_interp, verbose;
    const char *filter;
    int shard, nshards;     /* run cases whose index % nshards == shard */
    int index;
    const char *tmp;
    int passed, failed, skipped;
    SkipGroup skips[512];
    int nskips;
    char **failures;
    int nfailures;
} Runner;

typedef enum { CASE_PASS, CASE_FAIL, CASE_SKIP } Verdict;

typedef struct {
    Tensor *inputs, *outputs;
    int ninputs, noutputs;
} DataSet;

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted entry names of a directory (excluding dot entries). */
static char **list_dir(Arena *a, const char *dir, int *count)
{
    *count = 0;
    DIR *d = opendir(dir);
    if (!d)
        return NULL;
    char **names = NULL;
    int cap = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.')
            continue;
        VEC_PUSH(a, names, *count, cap) = arena_strdup(a, e->d_name);
    }
    closedir(d);
    if (*count)
        qsort(names, (size_t)*count, sizeof *names, cmp_str);
    return names;
}

static bool is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static bool is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static void add_skip(Runner *r, const char *reason, const char *name)
{
    r->skipped++;
    for (int i = 0; i < r->nskips; i++)
        if (strcmp(r->skips[i].reason, reason) == 0) {
            r->skips[i].count++;
            return;
        }
    if (r->nskips < (int)(sizeof r->skips / sizeof r->skips[0]))
        r->skips[r->nskips++] = (SkipGroup){strdup(reason), 1, strdup(name)};
}

/* The first line of the diagnostics, without the file prefix. */
static const char *first_error(Arena *a, const char *text)
{
    const char *e = strstr(text, "error: ");
    const char *s = e ? e + 7 : text;
    size_t n = strcspn(s, "\n");
    return arena_strndup(a, s, n);
}

static bool is_unsupported(const char *msg)
{
    return strstr(msg, "not supported") || strstr(msg, "unsupported") ||
           strstr(msg, "etch supports") || strstr(msg, "supports only") ||
           strstr(msg, "must be a constant");
}

/* Input/output_K.pb files of one data set, K in order. */
static bool read_tensors(Ctx *c, const char *dir, const char *prefix, Tensor **out, int *count)
{
    *count = 0;
    int cap = 0;
    *out = NULL;
    for (int k = 0;; k++) {
        char *path = arena_printf(c->arena, "%s/%s_%d.pb", dir, prefix, k);
        if (!is_file(path))
            return true;
        Tensor t = {0};
        if (!fe_read_tensor_pb(c, path, &t.type, &t.data))
            return false;
        VEC_PUSH(c->arena, *out, *count, cap) = t;
    }
}

static bool close_enough(const Tensor *got, const Tensor *want, double rtol, double atol,
                         char *why, size_t size)
{
    char a[128], b[128];
    if (!type_equal(&got->type, &want->type)) {
        snprintf(why, size, "got %s, expected %s", type_str(&got->type, a, sizeof a),
                 type_str(&want->type, b, sizeof b));
        return false;
    }
    int64_t n = type_numel(&want->type);
    bool fl = dtype_is_float(want->type.dtype);
    for (int64_t i = 0; i < n; i++) {
        double g = tensor_getf(got, i), w = tensor_getf(want, i);
        bool ok = fl ? (isnan(w) ? isnan(g) : fabs(g - w) <= atol + rtol * fabs(w)) : g == w;
        if (!ok) {
            snprintf(why, size, "element %lld: got %.9g, expected %.9g", (long long)i, g, w);
            return false;
        }
    }
    return true;
}

/* Compiles the program's C to a shared object in `dir` and runs it. */
static bool run_c(Ctx *c, const Program *p, const char *dir, const DataSet *ds, Tensor *outs,
                  const Graph *g, char *why, size_t size)
{
    if (!cg_emit_c(c, p, dir)) {
        snprintf(why, size, "C emission failed");
        return false;
    }
    const char *cc = getenv("CC") ? getenv("CC") : "cc";
    char *so = arena_printf(c->arena, "%s/model.so", dir);
    char *cmd = arena_printf(c->arena,
                             "%s -O1 -std=c99 -Wall -Wextra -pedantic -Werror -shared -fPIC -o %s %s/%s.c -lm 2>%s/cc.log",
                             cc, so, dir, p->name, dir);
    if (system(cmd) != 0) {
        snprintf(why, size, "the emitted C did not compile (see %s/cc.log)", dir);
        return false;
    }
    void *h = dlopen(so, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        snprintf(why, size, "dlopen: %s", dlerror());
        return false;
    }
    typedef int Invoke(const void *const *, void *const *, void *);
    char *sym = arena_printf(c->arena, "%s_invoke", p->name);
    Invoke *invoke;
    *(void **)&invoke = dlsym(h, sym);
    bool ok = invoke != NULL;
    if (!ok)
        snprintf(why, size, "no symbol %s", sym);
    void *ws = ok ? aligned_alloc(16, (size_t)((p->workspace_size + 15) / 16 * 16 + 16)) : NULL;
    const void **in = arena_alloc(c->arena, (size_t)(ds->ninputs + 1) * sizeof *in);
    void **out = arena_alloc(c->arena, (size_t)(g->noutputs + 1) * sizeof *out);
    for (int i = 0; i < ds->ninputs; i++)
        in[i] = ds->inputs[i].data;
    for (int i = 0; ok && i < g->noutputs; i++) {
        outs[i].type = ir_value(g, g->outputs[i])->type;
        outs[i].data = arena_alloc(c->arena, type_bytes(&outs[i].type) + 1);
        out[i] = outs[i].data;
    }
    if (ok && invoke((const void *const *)in, (void *const *)out, ws) != 0) {
        snprintf(why, size, "the compiled model returned an error status");
        ok = false;
    }
    free(ws);
    dlclose(h);
    return ok;
}

static Verdict run_case(Runner *r, const char *dir, const char *name, char *why, size_t size)
{
    Ctx *c = ctx_new();
    char *diag = NULL;
    size_t diag_len = 0;
    c->err = open_memstream(&diag, &diag_len);
    Verdict v = CASE_FAIL;
    const char *model = arena_printf(c->arena, "%s/model.onnx", dir);

    const char *unsupported = fe_onnx_unsupported_ops(c, model);
    if (!unsupported) {
        fflush(c->err);
        snprintf(why, size, "%s", first_error(c->arena, diag));
        goto done;
    }
    if (unsupported[0]) {
        size_t n = strcspn(unsupported, ",");
        snprintf(why, size, "unsupported op %.*s", (int)n, unsupported);
        v = CASE_SKIP;
        goto done;
    }

    /* Import once before reading the data: a model etch cannot import may
     * have data sets that are not TensorProtos (sequences, optionals). An
     * input that must be a constant is fine: the data set freezes it. */
    int nnames = 0;
    const char **names = fe_onnx_input_names(c, model, &nnames);
    Graph *probe = names ? fe_load_onnx(c, model, NULL) : NULL;
    if (!probe) {
        fflush(c->err);
        snprintf(why, size, "%s", first_error(c->arena, diag));
        v = is_unsupported(why) ? CASE_SKIP : CASE_FAIL;
        if (!names || !strstr(why, "must be a constant"))
            goto done;
        v = CASE_FAIL;
        fflush(c->err);
        fseek(c->err, 0, SEEK_SET); /* later messages start afresh */
    }

    int nsets;
    char **sets = list_dir(c->arena, dir, &nsets);
    DataSet *ds = arena_alloc(c->arena, (size_t)(nsets + 1) * sizeof *ds);
    int nds = 0;
    for (int i = 0; i < nsets; i++) {
        if (strncmp(sets[i], "test_data_set_", 14) != 0)
            continue;
        char *sd = arena_printf(c->arena, "%s/%s", dir, sets[i]);
        DataSet *d = &ds[nds++];
        if (!read_tensors(c, sd, "input", &d->inputs, &d->ninputs) ||
            !read_tensors(c, sd, "output", &d->outputs, &d->noutputs)) {
            fflush(c->err);
            snprintf(why, size, "%s", first_error(c->arena, diag));
            v = is_unsupported(why) ? CASE_SKIP : CASE_FAIL;
            goto done;
        }
    }
    if (nds == 0) {
        snprintf(why, size, "no test data sets");
        v = CASE_SKIP;
        goto done;
    }

    for (int s = 0; s < nds; s++) {
        /* Input shapes come from the data set (models may leave them symbolic). */
        FeShape *shapes = arena_alloc(c->arena, (size_t)(ds[s].ninputs + 1) * sizeof *shapes);
        if (nnames != ds[s].ninputs) {
            snprintf(why, size, "model has %d inputs, data set %d has %d", nnames, s,
                     ds[s].ninputs);
            goto done;
        }
        /* etch compiles shapes statically: integer inputs (shape, axes,
         * indices in these tests) are frozen to the data set's values. */
        FeConst *consts = arena_alloc(c->arena, (size_t)(ds[s].ninputs + 1) * sizeof *consts);
        Tensor *feed = arena_alloc(c->arena, (size_t)(ds[s].ninputs + 1) * sizeof *feed);
        int nconsts = 0, nfeed = 0, nshapes = 0;
        for (int i = 0; i < ds[s].ninputs; i++) {
            const char *iname = names[i];
            if (ds[s].inputs[i].type.dtype == DT_I64) {
                consts[nconsts++] = (FeConst){iname, ds[s].inputs[i].type, ds[s].inputs[i].data,
                                              false};
                continue;
            }
            /* Float inputs an op needs as constants (Resize's scales, Clip's
             * bounds) take the data set's values there and stay inputs. */
            consts[nconsts++] = (FeConst){iname, ds[s].inputs[i].type, ds[s].inputs[i].data, true};
            feed[nfeed++] = ds[s].inputs[i];
            shapes[nshapes].name = iname;
            shapes[nshapes].rank = ds[s].inputs[i].type.rank;
            memcpy(shapes[nshapes].dims, ds[s].inputs[i].type.dims, sizeof shapes[nshapes].dims);
            nshapes++;
        }
        DataSet run = {.inputs = feed, .ninputs = nfeed, .outputs = ds[s].outputs,
                       .noutputs = ds[s].noutputs};
        FeOptions fo = {.shapes = shapes, .nshapes = nshapes, .consts = consts, .nconsts = nconsts};
        Graph *g = fe_load_onnx(c, model, &fo);
        if (!g) {
            fflush(c->err);
            snprintf(why, size, "%s", first_error(c->arena, diag));
            v = is_unsupported(why) ? CASE_SKIP : CASE_FAIL;
            goto done;
        }
        if (g->noutputs != ds[s].noutputs) {
            snprintf(why, size, "model has %d outputs, data set has %d", g->noutputs,
                     ds[s].noutputs);
            goto done;
        }
        for (int i = 0; i < run.ninputs; i++) {
            const Type *want = &ir_value(g, g->inputs[i])->type;
            if (want->dtype != run.inputs[i].type.dtype) {
                snprintf(why, size, "input %d is %s, the model wants %s", i,
                         dtype_name(run.inputs[i].type.dtype), dtype_name(want->dtype));
                goto done;
            }
        }
        char detail[256];
        if (r->use_interp) {
            Tensor *outs = arena_alloc(c->arena, (size_t)(g->noutputs + 1) * sizeof *outs);
            if (!interp_run(c, g, run.inputs, outs)) {
                fflush(c->err);
                snprintf(why, size, "interpreter: %s", first_error(c->arena, diag));
                goto done;
            }
            for (int o = 0; o < g->noutputs; o++)
                if (!close_enough(&outs[o], &ds[s].outputs[o], 1e-3, 1e-7, detail, sizeof detail)) {
                    snprintf(why, size, "interpreter, data set %d, output %d: %s", s, o, detail);
                    goto done;
                }
        }
        if (r->use_c) {
            Module m = {.graph = g, .prefix = "model"};
            if (!pipeline_run(c, &m, NULL)) {
                fflush(c->err);
                snprintf(why, size, "%s", first_error(c->arena, diag));
                v = is_unsupported(why) ? CASE_SKIP : CASE_FAIL;
                goto done;
            }
            char *tmp = arena_printf(c->arena, "%s/%s", r->tmp, name);
            mkdir(tmp, 0755);
            Tensor *outs = arena_alloc(c->arena, (size_t)(g->noutputs + 1) * sizeof *outs);
            if (!run_c(c, m.prog, tmp, &run, outs, g, detail, sizeof detail)) {
                snprintf(why, size, "C backend: %s", detail);
                goto done;
            }
            for (int o = 0; o < g->noutputs; o++)
                if (!close_enough(&outs[o], &ds[s].outputs[o], 1e-3, 1e-7, detail, sizeof detail)) {
                    snprintf(why, size, "C backend, data set %d, output %d: %s", s, o, detail);
                    goto done;
                }
        }
    }
    v = CASE_PASS;
done:
    fclose(c->err);
    if (r->verbose && diag && diag[0] && v != CASE_PASS)
        fputs(diag, stdout);
    free(diag);
    ctx_free(c);
    return v;
}

#define CASE_SECONDS 300

/* Runs one case in a child; a verdict byte and the reason come back through
 * a pipe, the child's stderr through a file for crash reports. */
static Verdict run_case_isolated(Runner *r, const char *dir, const char *name, char *why,
                                 size_t size)
{
    int fd[2];
    char *errpath = NULL;
    if (asprintf(&errpath, "%s/%s.stderr", r->tmp, name) < 0 || pipe(fd) != 0) {
        free(errpath);
        snprintf(why, size, "cannot start the case: %s", strerror(errno));
        return CASE_FAIL;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        close(fd[0]);
        if (!freopen(errpath, "w", stderr))
            _exit(3);
        alarm(CASE_SECONDS);
        char buf[513] = "";
        buf[0] = (char)run_case(r, dir, name, buf + 1, sizeof buf - 1);
        size_t n = 1 + strlen(buf + 1);
        ssize_t w = write(fd[1], buf, n);
        fflush(stdout);
        _exit(w == (ssize_t)n ? 0 : 3);
    }
    close(fd[1]);
    char buf[513];
    size_t got = 0;
    ssize_t k;
    while (pid > 0 && got < sizeof buf - 1 && (k = read(fd[0], buf + got, sizeof buf - 1 - got)) > 0)
        got += (size_t)k;
    close(fd[0]);
    buf[got] = 0;
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) != pid) {
        snprintf(why, size, "cannot run the case: %s", strerror(errno));
        free(errpath);
        return CASE_FAIL;
    }
    Verdict v = CASE_FAIL;
    if (got > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        v = (Verdict)buf[0];
        snprintf(why, size, "%s", buf + 1);
    } else {
        /* The last non-empty line of the child's stderr says why. */
        char line[400] = "", cur[400];
        FILE *f = fopen(errpath, "r");
        while (f && fgets(cur, sizeof cur, f))
            if (cur[0] != '\n')
                snprintf(line, sizeof line, "%.*s", (int)strcspn(cur, "\n"), cur);
        if (f)
            fclose(f);
        if (WIFSIGNALED(status))
            snprintf(why, size, "crashed (%s%s): %s", strsignal(WTERMSIG(status)),
                     WTERMSIG(status) == SIGALRM ? ", time limit" : "", line);
        else
            snprintf(why, size, "the case process exited with status %d: %s",
                     WIFEXITED(status) ? WEXITSTATUS(status) : -1, line);
    }
    remove(errpath);
    free(errpath);
    return v;
}

static void run_dir(Runner *r, const char *root)
{
    Arena *a = arena_new();
    int n;
    char **names = list_dir(a, root, &n);
    if (!names) {
        fprintf(stderr, "etch_conformance: cannot read %s: %s\n", root, strerror(errno));
        r->failed++;
    }
    for (int i = 0; i < n; i++) {
        char *dir = arena_printf(a, "%s/%s", root, names[i]);
        if (!is_dir(dir) || !is_file(arena_printf(a, "%s/model.onnx", dir)))
            continue;
        if (r->filter && !strstr(names[i], r->filter))
            continue;
        if (r->nshards > 1 && r->index++ % r->nshards != r->shard)
            continue;
        char why[512] = "";
        Verdict v = run_case_isolated(r, dir, names[i], why, sizeof why);
        switch (v) {
        case CASE_PASS:
            r->passed++;
            printf("PASS %s\n", names[i]);
            break;
        case CASE_FAIL:
            r->failed++;
            printf("FAIL %s: %s\n", names[i], why);
            r->failures = realloc(r->failures, (size_t)(r->nfailures + 1) * sizeof *r->failures);
            r->failures[r->nfailures++] = strdup(names[i]);
            break;
        case CASE_SKIP:
            printf("SKIP %s: %s\n", names[i], why);
            add_skip(r, why, names[i]);
            break;
        }
        fflush(stdout);
    }
    arena_free(a);
}

static int by_count(const void *pa, const void *pb)
{
    const SkipGroup *a = pa, *b = pb;
    if (a->count != b->count)
        return b->count - a->count;
    return strcmp(a->reason, b->reason);
}

static void usage(FILE *f)
{
    fputs("usage: etch_conformance [--backend interp|c|both] [--filter TEXT] [--shard I/N] [-v] DIR...\n"
          "Runs ONNX backend test cases (DIR holds case folders with model.onnx and\n"
          "test_data_set_N/) through etch and prints one line per case and a summary.\n",
          f);
}

/* Static, so what it points to stays reachable until exit. */
static Runner r = {.use_c = true, .use_interp = true};

int main(int argc, char **argv)
{
    const char **dirs = calloc((size_t)argc, sizeof *dirs);
    int ndirs = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--backend") == 0 && i + 1 < argc) {
            const char *b = argv[++i];
            r.use_c = strcmp(b, "c") == 0 || strcmp(b, "both") == 0;
            r.use_interp = strcmp(b, "interp") == 0 || strcmp(b, "both") == 0;
            if (!r.use_c && !r.use_interp) {
                usage(stderr);
                return 2;
            }
        } else if (strcmp(argv[i], "--filter") == 0 && i + 1 < argc) {
            r.filter = argv[++i];
        } else if (strcmp(argv[i], "--shard") == 0 && i + 1 < argc) {
            if (sscanf(argv[++i], "%d/%d", &r.shard, &r.nshards) != 2 || r.nshards < 1 ||
                r.shard < 0 || r.shard >= r.nshards) {
                usage(stderr);
                return 2;
            }
        } else if (strcmp(argv[i], "-v") == 0) {
            r.verbose = true;
        } else if (strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (argv[i][0] == '-') {
            usage(stderr);
            return 2;
        } else {
            dirs[ndirs++] = argv[i];
        }
    }
    if (!ndirs) {
        usage(stderr);
        return 2;
    }
    char tmpl[] = "/tmp/etch-conformance-XXXXXX";
    r.tmp = mkdtemp(tmpl);
    if (!r.tmp) {
        fprintf(stderr, "etch_conformance: mkdtemp: %s\n", strerror(errno));
        return 1;
    }
    for (int i = 0; i < ndirs; i++)
        run_dir(&r, dirs[i]);
    qsort(r.skips, (size_t)r.nskips, sizeof r.skips[0], by_count);
    if (r.nskips)
        printf("\nskipped, by reason:\n");
    for (int i = 0; i < r.nskips; i++)
        printf("  %4d  %s (e.g. %s)\n", r.skips[i].count, r.skips[i].reason, r.skips[i].example);
    if (r.nfailures) {
        printf("\nfailed:");
        for (int i = 0; i < r.nfailures; i++)
            printf(" %s", r.failures[i]);
        printf("\n");
    }
    printf("\n%d passed, %d failed, %d skipped\n", r.passed, r.failed, r.skipped);
    if (!getenv("ETCH_KEEP_TMP")) {
        char cmd[256];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", r.tmp);
        if (system(cmd) != 0)
            fprintf(stderr, "etch_conformance: could not remove %s\n", r.tmp);
    }
    free(dirs);
    return r.failed ? 1 : 0;
}
