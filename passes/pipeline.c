/* pipeline.c: the one pass pipeline and its driver.
 *
 * Every pass is a {name, fn, level} row in `passes`; the driver runs them in
 * order, stops at the first pass that reports an error, runs the verifier
 * after each graph pass when Ctx.verify is set, and prints the IR after the
 * passes named in --print-after (the graph language for graph passes, Loop
 * IR for loop passes), noting "(unchanged)" when a pass changed nothing.
 * Passes themselves never print.
 */
#include "passes.h"

#include <string.h>

static const PassInfo passes[] = {
    /* name            fn                  level */
    {"infer-shapes",   pass_infer_shapes,  LEVEL_GRAPH},
    {"fold-constants", pass_fold_constants, LEVEL_GRAPH},
    {"cse",            pass_cse,           LEVEL_GRAPH},
    {"fold-transposes", pass_fold_transposes, LEVEL_GRAPH},
    {"fold-batchnorm", pass_fold_batchnorm, LEVEL_GRAPH},
    {"quantize",       pass_quantize,      LEVEL_GRAPH},
    {"fold-qdq",       pass_fold_qdq,      LEVEL_GRAPH},
    {"layout",         pass_layout,        LEVEL_GRAPH},
    {"fuse-residual",  pass_fuse_residual, LEVEL_GRAPH},
    {"fuse-activation", pass_fuse_activation, LEVEL_GRAPH},
    {"dce",            pass_dce,           LEVEL_GRAPH},
    {"fuse-elementwise", pass_fuse_elementwise, LEVEL_GRAPH},
    {"lower",          pass_lower,         LEVEL_LOOP},
    {"fast-math",      pass_fast_math,     LEVEL_LOOP},
    {"plan-memory",    pass_plan_memory,   LEVEL_LOOP},
};

/* Passes without which there is no program to emit. */
static bool pass_required(const char *name)
{
    return strcmp(name, "lower") == 0 || strcmp(name, "plan-memory") == 0;
}

const PassInfo *pipeline_passes(int *count)
{
    *count = (int)(sizeof passes / sizeof passes[0]);
    return passes;
}

bool pipeline_has_pass(const char *name)
{
    int n;
    const PassInfo *p = pipeline_passes(&n);
    for (int i = 0; i < n; i++)
        if (strcmp(p[i].name, name) == 0)
            return true;
    return false;
}

static bool listed(const char *const *names, int n, const char *name, bool all_matches)
{
    for (int i = 0; i < n; i++)
        if (strcmp(names[i], name) == 0 || (all_matches && strcmp(names[i], "all") == 0))
            return true;
    return false;
}

static void print_after(const PipelineOpts *o, const Module *m, const PassInfo *p, bool changed)
{
    FILE *f = o->dump ? o->dump : stdout;
    fprintf(f, "# after %s%s\n", p->name, changed ? "" : " (unchanged)");
    if (p->level == LEVEL_GRAPH)
        ir_print_graph(f, m->graph);
    else
        loop_print_program(f, m->prog);
    fflush(f);
}

bool pipeline_run(Ctx *c, Module *m, const PipelineOpts *o)
{
    static const PipelineOpts none = {0};
    if (!o)
        o = &none;
    int npasses;
    const PassInfo *list = pipeline_passes(&npasses);
    for (int i = 0; i < o->ndisabled; i++)
        if (pass_required(o->disabled[i])) {
            diag_error(c, (Loc){0}, "pass '%s' cannot be disabled: code generation needs it",
                       o->disabled[i]);
            return false;
        }
    for (int i = 0; i < npasses; i++) {
        const PassInfo *p = &list[i];
        if (listed(o->disabled, o->ndisabled, p->name, false))
            continue;
        int errors = c->nerrors;
        bool changed = p->fn(c, m);
        if (c->nerrors > errors)
            return false;
        if (c->verify && p->level == LEVEL_GRAPH && !ir_verify(c, m->graph)) {
            diag_error(c, (Loc){0}, "internal error: the IR is malformed after pass '%s'",
                       p->name);
            return false;
        }
        if (listed(o->print_after, o->nprint_after, p->name, true))
            print_after(o, m, p, changed);
    }
    return true;
}

const Target *module_target(const Module *m)
{
    return m->target ? m->target : target_find("host");
}
