/* model.c: loading a model file by its extension.
 *
 * `.etch` goes to the graph-language parser, `.onnx` to the ONNX importer
 * with the caller's options (--shape overrides; symbolic dims otherwise
 * become 1); any other extension is an error naming the ones etch reads.
 * Every --shape must name a graph input of the loaded model: the importer
 * matches the ONNX name or its identifier form and ignores the rest, so an
 * unmatched override (a typo) is caught here instead of silently ignored.
 */
#include "frontend.h"

#include <ctype.h>
#include <string.h>

static bool has_ext(const char *path, const char *ext)
{
    size_t n = strlen(path), e = strlen(ext);
    return n > e && strcmp(path + n - e, ext) == 0;
}

/* The identifier the importer gives an ONNX name (before uniquing). */
static const char *ident_of(Arena *a, const char *name)
{
    size_t n = strlen(name), j = 0;
    char *s = arena_alloc(a, n + 2);
    if (n == 0 || isdigit((unsigned char)name[0]))
        s[j++] = 'v';
    for (size_t i = 0; i < n; i++)
        s[j++] = isalnum((unsigned char)name[i]) || name[i] == '_' ? name[i] : '_';
    s[j] = '\0';
    return s;
}

static bool is_input(const Graph *g, const char *name)
{
    for (int j = 0; j < g->ninputs; j++)
        if (strcmp(ir_value(g, g->inputs[j])->name, name) == 0)
            return true;
    return false;
}

static const char *input_list(Arena *a, const Graph *g)
{
    const char *s = "";
    for (int j = 0; j < g->ninputs; j++)
        s = arena_printf(a, "%s%s%s", s, j ? ", " : "", ir_value(g, g->inputs[j])->name);
    return g->ninputs ? s : "none";
}

static bool check_shapes(Ctx *c, const char *path, const Graph *g, const FeOptions *opts)
{
    bool ok = true;
    for (int i = 0; i < opts->nshapes; i++) {
        const char *name = opts->shapes[i].name;
        if (is_input(g, name) || is_input(g, ident_of(c->arena, name)))
            continue;
        diag_error(c, (Loc){.file = path},
                   "--shape %s: graph '%s' has no input named '%s' (inputs: %s)", name, g->name,
                   name, input_list(c->arena, g));
        ok = false;
    }
    /* A frozen input is a constant now, named as the input was. */
    for (int i = 0; i < opts->nconsts; i++) {
        const char *name = opts->consts[i].name;
        if (opts->consts[i].on_demand || ir_find_value(g, name) >= 0 ||
            ir_find_value(g, ident_of(c->arena, name)) >= 0)
            continue;
        diag_error(c, (Loc){.file = path},
                   "--const %s: graph '%s' has no input named '%s' (inputs: %s)", name, g->name,
                   name, input_list(c->arena, g));
        ok = false;
    }
    return ok;
}

Graph *fe_load_model(Ctx *c, const char *path, const FeOptions *opts)
{
    Loc loc = {path, 0, 0};
    FeOptions none = {0};
    if (!opts)
        opts = &none;
    if (has_ext(path, ".etch")) {
        if (opts->nshapes > 0 || opts->nconsts > 0) {
            diag_error(c, loc, "%s applies to ONNX models; a .etch model states its inputs",
                       opts->nshapes > 0 ? "--shape" : "--const");
            return NULL;
        }
        return fe_parse_file(c, path);
    }
    if (has_ext(path, ".onnx")) {
        Graph *g = fe_load_onnx(c, path, opts);
        return g && check_shapes(c, path, g, opts) ? g : NULL;
    }
    const char *slash = strrchr(path, '/');
    const char *dot = strrchr(slash ? slash + 1 : path, '.');
    if (dot)
        diag_error(c, loc, "unknown model file extension '%s' (etch reads .etch and .onnx)", dot);
    else
        diag_error(c, loc, "model file has no extension (etch reads .etch and .onnx)");
    return NULL;
}
