/* runtime.c: ships the runtime header next to the generated code.
 *
 * The text of runtime/etch_runtime.h is compiled into etch (cmake/embed.cmake
 * makes cg_runtime_header from it), so the emitted code always pairs with the
 * runtime of the compiler that produced it, whatever the install layout.
 */
#include "codegen.h"

#include <errno.h>
#include <string.h>

bool cg_write_runtime(const char *dir)
{
    size_t n = strlen(dir) + sizeof "/etch_runtime.h";
    char path[4096];
    if (n > sizeof path) {
        errno = ENAMETOOLONG;
        return false;
    }
    snprintf(path, sizeof path, "%s/etch_runtime.h", dir);
    FILE *f = fopen(path, "wb");
    if (!f)
        return false;
    size_t len = strlen(cg_runtime_header);
    bool ok = fwrite(cg_runtime_header, 1, len, f) == len;
    int saved = errno;
    if (fclose(f) != 0)
        ok = false;
    else if (!ok)
        errno = saved;
    return ok;
}
