/* cli_cmds.c: the compile, dump and dot commands, and model loading.
 *
 * Each command loads the model with fe_load_model and, where it needs Loop
 * IR, runs the one pass pipeline (pipeline_run) with the user's
 * --print-after/--disable-pass; dumps go to stdout, diagnostics to stderr.
 */
#include "cli.h"

#include <errno.h>
#include <string.h>

bool cli_load(Ctx *c, const CliOpts *o, Module *m)
{
    memset(m, 0, sizeof *m);
    FeOptions fo = {.shapes = o->shapes, .nshapes = o->nshapes, .nconsts = o->nconsts};
    FeConst *consts = arena_alloc(c->arena, ((size_t)o->nconsts + 1) * sizeof *consts);
    for (int i = 0; i < o->nconsts; i++) {
        const char *eq = strchr(o->consts[i], '='); /* checked by the option parser */
        consts[i].name = arena_strndup(c->arena, o->consts[i], (size_t)(eq - o->consts[i]));
        if (!fe_read_npy(c, eq + 1, (Loc){.file = eq + 1}, &consts[i].type, &consts[i].data))
            return false;
    }
    fo.consts = consts;
    m->graph = fe_load_model(c, o->model, &fo);
    if (!m->graph || c->nerrors)
        return false;
    m->prefix = o->name;
    m->rounding = o->rounding;
    m->math = o->math;
    if (o->quantize && !cli_load_calibration(c, o, m))
        return false;
    /* An LLVM triple that names no target row gets no machine assumptions. */
    if (o->target)
        m->target = target_find(o->target) ? target_find(o->target) : target_find("generic");
    return true;
}

bool cli_lower(Ctx *c, const CliOpts *o, Module *m)
{
    PipelineOpts po = {
        .print_after = o->print_after,
        .nprint_after = o->nprint_after,
        .disabled = o->disabled,
        .ndisabled = o->ndisabled,
        .dump = stdout,
    };
    if (!pipeline_run(c, m, &po) || c->nerrors)
        return false;
    if (!m->prog) {
        diag_error(c, (Loc){.file = o->model}, "the pipeline produced no program to emit");
        return false;
    }
    return true;
}

int cli_compile(Ctx *c, const CliOpts *o)
{
    Module m;
    if (!cli_load(c, o, &m) || !cli_lower(c, o, &m))
        return CLI_ERROR;
    const char *dir = o->out ? o->out : ".";
    if (!cli_mkdirs(c, dir))
        return CLI_ERROR;
    if (o->emit && strcmp(o->emit, "c") != 0) {
        /* The LLVM backend: .ll, .bc, .o or .s, plus the same PREFIX.h. */
        LlvmOpts lo = {.target = o->target, .opt_level = o->opt_level};
        lo.kind = strcmp(o->emit, "llvm") == 0 ? LLVM_EMIT_LL
                  : strcmp(o->emit, "bc") == 0 ? LLVM_EMIT_BC
                  : strcmp(o->emit, "obj") == 0 ? LLVM_EMIT_OBJ
                                                : LLVM_EMIT_ASM;
        return cg_emit_llvm(c, m.prog, dir, &lo) ? CLI_OK : CLI_ERROR;
    }
    if (!cg_emit_c(c, m.prog, dir))
        return CLI_ERROR;
    /* For a bare-metal target, also the table examples/cortex-m4's driver reads. */
    const Target *tgt = target_find(o->target);
    if (tgt && tgt->bare_metal && !cli_mcu_write_app_table(c, m.prog, dir))
        return CLI_ERROR;
    return CLI_OK;
}

int cli_dump(Ctx *c, const CliOpts *o)
{
    Module m;
    /* Without --print-after, the graph as loaded (and quantized, with
     * --quantize); with it, the pipeline prints after the passes named. */
    if (!cli_load(c, o, &m) || (o->nprint_after > 0 && !cli_lower(c, o, &m)))
        return CLI_ERROR;
    if (o->nprint_after == 0 && o->quantize) {
        pass_infer_shapes(c, &m);
        if (!c->nerrors)
            pass_quantize(c, &m);
        if (c->nerrors)
            return CLI_ERROR;
    }
    if (o->nprint_after == 0)
        ir_print_graph(stdout, m.graph);
    fflush(stdout);
    return CLI_OK;
}

int cli_dot(Ctx *c, const CliOpts *o)
{
    Module m;
    if (!cli_load(c, o, &m))
        return CLI_ERROR;
    if (!o->out) {
        ir_print_dot(stdout, m.graph);
        fflush(stdout);
        return CLI_OK;
    }
    FILE *f = fopen(o->out, "w");
    if (!f) {
        diag_error(c, (Loc){.file = o->out}, "cannot create file: %s", strerror(errno));
        return CLI_ERROR;
    }
    ir_print_dot(f, m.graph);
    bool ok = !ferror(f);
    if (fclose(f) != 0 || !ok) {
        diag_error(c, (Loc){.file = o->out}, "cannot write file: %s", strerror(errno));
        return CLI_ERROR;
    }
    return CLI_OK;
}
