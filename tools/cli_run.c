/* cli_run.c: `etch run`, one model on .npy inputs.
 *
 * Inputs are bound by name (NAME=FILE.npy) or, without a name, to the graph
 * inputs in order, and each must match its graph input's dtype and shape
 * exactly. The interpreter (default) or the compiled C (cli_cdriver.c)
 * computes the outputs; each is written to DIR/<name>.npy and summarized on
 * stdout as `name type argmax=K [v0, v1, ...]`. With --stats the median
 * latency and the planned arena sizes follow.
 */
#define _POSIX_C_SOURCE 200809L

#include "cli.h"

#include <errno.h>
#include <math.h>
#include <string.h>
#include <unistd.h>

enum { PRINT_VALUES = 16 };

static const char *input_names(Arena *a, const Graph *g)
{
    const char *s = "";
    for (int j = 0; j < g->ninputs; j++)
        s = arena_printf(a, "%s%s%s", s, j ? ", " : "", ir_value(g, g->inputs[j])->name);
    return g->ninputs ? s : "none";
}

static int find_input(const Graph *g, const char *name)
{
    for (int j = 0; j < g->ninputs; j++)
        if (strcmp(ir_value(g, g->inputs[j])->name, name) == 0)
            return j;
    return -1;
}

/* Which file feeds each graph input, from the --input arguments. */
static bool assign_inputs(Ctx *c, const CliOpts *o, const Graph *g, const char **file)
{
    int next = 0;
    for (int i = 0; i < o->ninputs; i++) {
        const char *arg = o->inputs[i], *eq = strchr(arg, '=');
        const char *path = arg;
        int idx = -1;
        if (eq) {
            const char *name = arena_strndup(c->arena, arg, (size_t)(eq - arg));
            idx = find_input(g, name);
            if (idx >= 0) {
                path = eq + 1;
            } else if (access(arg, F_OK) != 0) {
                /* Not a file whose name has '=' in it either. */
                diag_error(c, (Loc){0}, "--input %s: graph '%s' has no input named '%s' (inputs: %s)",
                           arg, g->name, name, input_names(c->arena, g));
                return false;
            }
        }
        if (idx < 0) {
            while (next < g->ninputs && file[next])
                next++;
            if (next >= g->ninputs) {
                diag_error(c, (Loc){0}, "--input %s: too many inputs; graph '%s' has %d (%s)", arg,
                           g->name, g->ninputs, input_names(c->arena, g));
                return false;
            }
            idx = next++;
        }
        if (file[idx]) {
            diag_error(c, (Loc){0}, "input '%s' is given twice ('%s' and '%s')",
                       ir_value(g, g->inputs[idx])->name, file[idx], path);
            return false;
        }
        file[idx] = path;
    }
    return true;
}

static bool read_inputs(Ctx *c, const CliOpts *o, const Graph *g, Tensor *in)
{
    const char **file = arena_alloc(c->arena, sizeof *file * (size_t)(g->ninputs + 1));
    if (!assign_inputs(c, o, g, file))
        return false;
    bool ok = true;
    for (int j = 0; j < g->ninputs; j++) {
        const Value *v = ir_value(g, g->inputs[j]);
        char want[128], got[128];
        type_str(&v->type, want, sizeof want);
        if (!file[j]) {
            diag_error(c, (Loc){0}, "missing input '%s' (%s): pass --input %s=FILE.npy", v->name,
                       want, v->name);
            ok = false;
            continue;
        }
        Type t;
        void *data;
        if (!fe_read_npy(c, file[j], (Loc){.file = file[j]}, &t, &data)) {
            ok = false;
            continue;
        }
        if (!type_equal(&t, &v->type)) {
            /* ONNX inputs with symbolic dims took 1: point at --shape. */
            const char *hint = "";
            size_t n = strlen(o->model);
            if (t.dtype == v->type.dtype && n > 5 && strcmp(o->model + n - 5, ".onnx") == 0) {
                hint = arena_printf(c->arena, " (to compile for it: --shape %s=", v->name);
                for (int d = 0; d < t.rank; d++)
                    hint = arena_printf(c->arena, "%s%s%lld", hint, d ? "," : "",
                                        (long long)t.dims[d]);
                hint = arena_printf(c->arena, "%s)", hint);
            }
            diag_error(c, (Loc){.file = file[j]}, "input '%s' expects %s, but the file holds %s%s",
                       v->name, want, type_str(&t, got, sizeof got), hint);
            ok = false;
            continue;
        }
        in[j] = (Tensor){.type = v->type, .data = data};
    }
    return ok;
}

static bool run_interp(Ctx *c, const Graph *g, const Tensor *in, Tensor *out, int repeat,
                       double *median_us)
{
    double *times = arena_alloc(c->arena, sizeof *times * (size_t)repeat);
    for (int r = 0; r < repeat; r++) {
        double t0 = cli_now_us();
        if (!interp_run(c, g, in, out))
            return false;
        times[r] = cli_now_us() - t0;
    }
    *median_us = cli_median(times, repeat);
    return true;
}

static void print_output(const char *name, const Tensor *t)
{
    char ty[128];
    int64_t n = type_numel(&t->type), best = -1;
    float bestv = 0.0f;
    for (int64_t i = 0; i < n; i++) {
        float v = tensor_getf(t, i);
        if (!isnan(v) && (best < 0 || v > bestv)) {
            best = i;
            bestv = v;
        }
    }
    printf("%s %s", name, type_str(&t->type, ty, sizeof ty));
    const Quant *q = t->type.quant;
    if (q && q->n == 1) /* an int8 output: how to read it as real values */
        printf(" {scale = %.9g, zero = %d}", (double)q->scale[0], (int)q->zero[0]);
    printf(" argmax=%lld [", (long long)best);
    for (int64_t i = 0; i < n && i < PRINT_VALUES; i++)
        printf("%s%.6g", i ? ", " : "", (double)tensor_getf(t, i));
    printf("%s]\n", n > PRINT_VALUES ? ", ..." : "");
}

static bool write_outputs(Ctx *c, const CliOpts *o, const Graph *g, const Tensor *out)
{
    const char *dir = o->output_dir ? o->output_dir : ".";
    if (!cli_mkdirs(c, dir))
        return false;
    for (int j = 0; j < g->noutputs; j++) {
        const char *name = ir_value(g, g->outputs[j])->name;
        const char *path = arena_printf(c->arena, "%s/%s.npy", dir, cli_file_name(c->arena, name));
        if (!fe_write_npy(path, &out[j].type, out[j].data)) {
            diag_error(c, (Loc){.file = path}, "cannot write output '%s': %s", name, strerror(errno));
            return false;
        }
    }
    return true;
}

int cli_run(Ctx *c, const CliOpts *o)
{
    bool use_c = o->backend && strcmp(o->backend, "c") == 0;
    bool use_llvm = o->backend && strcmp(o->backend, "llvm") == 0;
    /* A bare-metal target always runs compiled code, under QEMU. */
    const Target *tgt = target_find(o->target);
    bool mcu = tgt && tgt->bare_metal;
    McuStats mcu_stats;
    Module m;
    if (!cli_load(c, o, &m))
        return CLI_ERROR;
    const Graph *g = m.graph;
    Tensor *in = arena_alloc(c->arena, sizeof *in * (size_t)(g->ninputs + 1));
    Tensor *out = arena_alloc(c->arena, sizeof *out * (size_t)(g->noutputs + 1));
    /* The pipeline runs first, for the interpreter too: it interprets the
     * graph the compiled code is made from (after quantize and fold-qdq's
     * integer kernels, say), and with --io int8 quantize changes the
     * inputs' types. */
    if (!cli_lower(c, o, &m))
        return CLI_ERROR;
    if (!read_inputs(c, o, g, in))
        return CLI_ERROR;
    if (o->out && (!cli_mkdirs(c, o->out) || !cg_emit_c(c, m.prog, o->out)))
        return CLI_ERROR;
    double median_us = 0.0;
    int repeat = o->repeat > 0 ? o->repeat : 1;
    bool ok = mcu     ? cli_run_mcu(c, o, &m, tgt, in, out, &mcu_stats)
              : use_c ? cli_run_c(c, &m, in, out, repeat, &median_us)
              : use_llvm ? cli_run_llvm(c, &m, o->opt_level, in, out, repeat, &median_us)
                      : run_interp(c, g, in, out, repeat, &median_us);
    if (!ok || !write_outputs(c, o, g, out))
        return CLI_ERROR;
    for (int j = 0; j < g->noutputs; j++)
        print_output(ir_value(g, g->outputs[j])->name, &out[j]);
    if (o->stats && mcu) {
        cli_print_mcu_stats(&m, &mcu_stats);
    } else if (o->stats) {
        printf("latency_us: %.3f\n", median_us);
        printf("arena_bytes: %lld\n", (long long)m.prog->workspace_size);
        printf("arena_lower_bound: %lld\n", (long long)m.prog->workspace_lower_bound);
    }
    fflush(stdout);
    return CLI_OK;
}
