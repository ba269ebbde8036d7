/* model.c: loading a model file by its extension.
 *
 * `.etch` goes to the graph-language parser, `.onnx` to the ONNX importer
 * (with default options: symbolic dims become 1); any other extension is
 * an error naming the ones etch reads.
 */
#include "frontend.h"

#include <string.h>

static bool has_ext(const char *path, const char *ext)
{
    size_t n = strlen(path), e = strlen(ext);
    return n > e && strcmp(path + n - e, ext) == 0;
}

Graph *fe_load_model(Ctx *c, const char *path)
{
    Loc loc = {path, 0, 0};
    if (has_ext(path, ".etch"))
        return fe_parse_file(c, path);
    if (has_ext(path, ".onnx")) {
        FeOptions opts = {0};
        return fe_load_onnx(c, path, &opts);
    }
    const char *slash = strrchr(path, '/');
    const char *dot = strrchr(slash ? slash + 1 : path, '.');
    if (dot)
        diag_error(c, loc, "unknown model file extension '%s' (etch reads .etch and .onnx)", dot);
    else
        diag_error(c, loc, "model file has no extension (etch reads .etch and .onnx)");
    return NULL;
}
