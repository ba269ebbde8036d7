/* cli_quant.c: reading the calibration samples of --quantize.
 *
 * `--calibrate [NAME=]PATH` names one graph input's samples (by name, or
 * without a name the inputs in graph order, as --input does). PATH is
 *   - a .npy holding a batch stacked on a new first axis, [N, d0, d1, ...]
 *     for an input of shape [d0, d1, ...]; when d0 is 1 (a batch axis),
 *     [N, d1, ...] is read as N samples along it too;
 *   - or a directory of .npy files, one sample each of exactly the input's
 *     type, taken in name order.
 * The dtype must be the input's (f64 files narrow to f32 on reading). Every
 * input of the graph needs samples, and all inputs the same number of
 * them: sample s of every input forms calibration run s.
 */
#define _POSIX_C_SOURCE 200809L

#include "cli.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static bool is_npy(const char *name)
{
    size_t n = strlen(name);
    return name[0] != '.' && n > 4 && strcmp(name + n - 4, ".npy") == 0;
}

/* The .npy files in dir, sorted; false after a diagnostic. */
static bool list_npy(Ctx *c, const char *dir, const char ***files, int *n)
{
    DIR *d = opendir(dir);
    if (!d) {
        diag_error(c, (Loc){.file = dir}, "cannot read the calibration directory: %s",
                   strerror(errno));
        return false;
    }
    const char **list = NULL;
    int cnt = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (is_npy(e->d_name))
            VEC_PUSH(c->arena, list, cnt, cap) = arena_printf(c->arena, "%s/%s", dir, e->d_name);
    closedir(d);
    if (cnt == 0) {
        diag_error(c, (Loc){.file = dir}, "the calibration directory holds no .npy files");
        return false;
    }
    qsort(list, (size_t)cnt, sizeof *list, cmp_str);
    *files = list;
    *n = cnt;
    return true;
}

/* "[N, 1, 64] or [N, 64]": the layouts a batch file for t may have. */
static const char *batch_shapes(Arena *a, const Type *t)
{
    const char *s = "[N";
    for (int d = 0; d < t->rank; d++)
        s = arena_printf(a, "%s, %lld", s, (long long)t->dims[d]);
    s = arena_printf(a, "%s]", s);
    if (t->rank > 0 && t->dims[0] == 1) {
        s = arena_printf(a, "%s or [N", s);
        for (int d = 1; d < t->rank; d++)
            s = arena_printf(a, "%s, %lld", s, (long long)t->dims[d]);
        s = arena_printf(a, "%s]", s);
    }
    return s;
}

/* The samples of graph input v from `path`: *out gets *n tensors. */
static bool read_samples(Ctx *c, const Value *v, const char *path, Tensor **out, int *n)
{
    char want[128], got[128];
    type_str(&v->type, want, sizeof want);
    struct stat st;
    if (stat(path, &st) != 0) {
        diag_error(c, (Loc){.file = path}, "cannot read calibration samples: %s", strerror(errno));
        return false;
    }
    if (S_ISDIR(st.st_mode)) {
        const char **files;
        if (!list_npy(c, path, &files, n))
            return false;
        *out = arena_alloc(c->arena, (size_t)*n * sizeof **out);
        for (int i = 0; i < *n; i++) {
            Tensor *t = &(*out)[i];
            if (!fe_read_npy(c, files[i], (Loc){.file = files[i]}, &t->type, &t->data))
                return false;
            if (!type_equal(&t->type, &v->type)) {
                diag_error(c, (Loc){.file = files[i]},
                           "calibration sample for input '%s' is %s, but the input is %s "
                           "(a directory holds one sample per file)",
                           v->name, type_str(&t->type, got, sizeof got), want);
                return false;
            }
            t->type = v->type;
        }
        return true;
    }
    Type t;
    void *data;
    if (!fe_read_npy(c, path, (Loc){.file = path}, &t, &data))
        return false;
    const Type *it = &v->type;
    bool stacked = t.rank == it->rank + 1, batch = it->rank > 0 && it->dims[0] == 1 &&
                                                     t.rank == it->rank;
    for (int d = 0; stacked && d < it->rank; d++)
        stacked = t.dims[d + 1] == it->dims[d];
    for (int d = 1; batch && d < it->rank; d++)
        batch = t.dims[d] == it->dims[d];
    if (t.dtype != it->dtype || (!stacked && !batch) || t.dims[0] < 1) {
        diag_error(c, (Loc){.file = path},
                   "calibration samples for input '%s' (%s) must be %s %s, but the file holds %s",
                   v->name, want, dtype_name(it->dtype), batch_shapes(c->arena, it),
                   type_str(&t, got, sizeof got));
        return false;
    }
    *n = (int)t.dims[0];
    *out = arena_alloc(c->arena, (size_t)*n * sizeof **out);
    size_t bytes = type_bytes(it);
    for (int i = 0; i < *n; i++)
        (*out)[i] = (Tensor){.type = *it, .data = (char *)data + (size_t)i * bytes};
    return true;
}

static int find_input(const Graph *g, const char *name)
{
    for (int j = 0; j < g->ninputs; j++)
        if (strcmp(ir_value(g, g->inputs[j])->name, name) == 0)
            return j;
    return -1;
}

bool cli_load_calibration(Ctx *c, const CliOpts *o, Module *m)
{
    const Graph *g = m->graph;
    int ni = g->ninputs;
    const char **path = arena_alloc(c->arena, (size_t)(ni + 1) * sizeof *path);
    int next = 0;
    for (int i = 0; i < o->ncalibrate; i++) {
        const char *arg = o->calibrate[i], *eq = strchr(arg, '=');
        int idx = -1;
        const char *p = arg;
        if (eq) {
            const char *name = arena_strndup(c->arena, arg, (size_t)(eq - arg));
            idx = find_input(g, name);
            if (idx >= 0) {
                p = eq + 1;
            } else if (access(arg, F_OK) != 0) {
                /* Not a path with '=' in it either. */
                diag_error(c, (Loc){0}, "--calibrate %s: graph '%s' has no input named '%s'", arg,
                           g->name, name);
                return false;
            }
        }
        if (idx < 0) {
            while (next < ni && path[next])
                next++;
            if (next >= ni) {
                diag_error(c, (Loc){0}, "--calibrate %s: too many; graph '%s' has %d input%s", arg,
                           g->name, ni, ni == 1 ? "" : "s");
                return false;
            }
            idx = next++;
        }
        if (path[idx]) {
            diag_error(c, (Loc){0}, "--calibrate: input '%s' is given twice",
                       ir_value(g, g->inputs[idx])->name);
            return false;
        }
        path[idx] = p;
    }
    Tensor **per = arena_alloc(c->arena, (size_t)(ni + 1) * sizeof *per);
    int n = -1;
    for (int j = 0; j < ni; j++) {
        const Value *v = ir_value(g, g->inputs[j]);
        if (!path[j]) {
            diag_error(c, (Loc){0}, "--calibrate: no samples for input '%s' (pass --calibrate "
                       "%s=FILE.npy|DIR)", v->name, v->name);
            return false;
        }
        int k;
        if (!read_samples(c, v, path[j], &per[j], &k))
            return false;
        if (n >= 0 && k != n) {
            diag_error(c, (Loc){.file = path[j]}, "%d calibration samples for input '%s', but %d "
                       "for the inputs before it", k, v->name, n);
            return false;
        }
        n = k;
    }
    QuantizeOpts *q = arena_alloc(c->arena, sizeof *q);
    q->nsamples = n < 0 ? 0 : n;
    q->ninputs = ni;
    q->percentile = o->percentile;
    q->io = o->io && strcmp(o->io, "int8") == 0 ? QUANT_IO_INT8 : QUANT_IO_FLOAT;
    Tensor *s = arena_alloc(c->arena, (size_t)(q->nsamples * ni + 1) * sizeof *s);
    for (int i = 0; i < q->nsamples; i++)
        for (int j = 0; j < ni; j++)
            s[i * ni + j] = per[j][i];
    q->samples = s;
    m->quantize = q;
    return true;
}
