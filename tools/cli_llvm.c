/* cli_llvm.c: the CLI's LLVM backend, loaded on first use.
 *
 * Linking libLLVM into etch cost every run ~20 ms before main (the dynamic
 * loader relocating libLLVM), more than the rest of a compile to C. So the
 * LLVM backend (codegen/emit_llvm*.c) is a module of its own,
 * libetch_llvm.so, which this file loads when --emit llvm|bc|obj|asm or
 * --backend llvm first asks for it: from etch's own directory, else from
 * where the build put it. The module takes etch's IR, arena and diagnostic
 * functions from the executable (etch exports its symbols) and binds its
 * own names to itself (-Bsymbolic), so its cg_emit_llvm is not this one.
 */
#define _POSIX_C_SOURCE 200809L

#include "cli.h"

#include <dlfcn.h>
#include <string.h>
#include <unistd.h>

#ifndef ETCH_LLVM_MODULE
#define ETCH_LLVM_MODULE "libetch_llvm.so"
#endif
#ifndef ETCH_LLVM_MODULE_BUILT
#define ETCH_LLVM_MODULE_BUILT ""
#endif

/* Tries dir/ETCH_LLVM_MODULE; appends dlerror's reason to `why`. */
static void *try_load(const char *path, char *why, size_t size)
{
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        size_t n = strlen(why);
        const char *e = dlerror();
        snprintf(why + n, size - n, "%s%.900s", n ? "; " : "", e ? e : path);
    }
    return h;
}

static const CgLlvmApi *llvm_api(Ctx *c)
{
    static const CgLlvmApi *api;
    if (api)
        return api;
    char why[2048] = "";
    void *h = NULL;
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash && (size_t)(slash - exe) + 1 + sizeof ETCH_LLVM_MODULE <= sizeof exe) {
            memcpy(slash + 1, ETCH_LLVM_MODULE, sizeof ETCH_LLVM_MODULE);
            h = try_load(exe, why, sizeof why);
        }
    }
    if (!h && ETCH_LLVM_MODULE_BUILT[0])
        h = try_load(ETCH_LLVM_MODULE_BUILT, why, sizeof why);
    if (h) {
        api = dlsym(h, "cg_llvm_api");
        if (!api)
            snprintf(why, sizeof why, "%s has no cg_llvm_api", ETCH_LLVM_MODULE);
    }
    if (!api)
        diag_error(c, (Loc){0}, "the LLVM backend is unavailable: cannot load %s (%s)",
                   ETCH_LLVM_MODULE, why);
    return api;
}

bool cg_emit_llvm(Ctx *c, const Program *p, const char *dir, const LlvmOpts *o)
{
    const CgLlvmApi *api = llvm_api(c);
    return api && api->emit(c, p, dir, o);
}

bool cg_emit_llvm_file(Ctx *c, const Program *p, const char *path, const LlvmOpts *o)
{
    const CgLlvmApi *api = llvm_api(c);
    return api && api->emit_file(c, p, path, o);
}
