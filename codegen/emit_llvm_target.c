/* emit_llvm_target.c: the LLVM backend's driver: target machine, module
 * verification, the optimization pipeline and the output files.
 *
 * A target is a row of codegen/target.c (host, cortex-m4, ...) or any
 * triple LLVM knows. `host` means the machine etch runs on: its default
 * triple with its CPU and features (what -march=native would pick); every
 * other row gives triple, CPU and features itself. Hosted targets get
 * position-independent code so objects link into PIE executables and
 * shared objects; bare-metal ones get LLVM's static default.
 *
 * Every module is verified (LLVMVerifyModule) before it is optimized:
 * a module that does not verify is an internal error of emit_llvm.c. At
 * -O1..3 the new pass manager runs default<ON> with the target machine, so
 * the cost model is the target's. Output bytes depend only on the Program,
 * the target and the level (the module is named after the program, never
 * after a path).
 */
#include "codegen.h"

#include <errno.h>
#include <string.h>

#include <llvm-c/Analysis.h>
#include <llvm-c/BitWriter.h>
#include <llvm-c/Core.h>
#include <llvm-c/Target.h>
#include <llvm-c/TargetMachine.h>
#include <llvm-c/Transforms/PassBuilder.h>

static void init_llvm(void)
{
    static bool done;
    if (done)
        return;
    LLVMInitializeAllTargetInfos();
    LLVMInitializeAllTargets();
    LLVMInitializeAllTargetMCs();
    LLVMInitializeAllAsmPrinters();
    LLVMInitializeAllAsmParsers(); /* inline assembly (qfast4's SMMLAR on ARM) */
    done = true;
}

/* LLVM-owned strings go into the arena so one path frees everything. */
static char *take(Arena *a, char *s)
{
    char *r = arena_strdup(a, s ? s : "");
    LLVMDisposeMessage(s);
    return r;
}

typedef struct {
    const char *triple, *cpu, *features;
    bool pic;
    bool arm_dsp;   /* a target row with dot4 (the ARM DSP extension) */
    bool fp_contract; /* a target row with fp_contract */
} TargetSpec;

static bool resolve_target(Ctx *c, const char *name, TargetSpec *ts, LLVMTargetRef *target)
{
    Arena *a = c->arena;
    const Target *t = target_find(name ? name : "host");
    if (t) {
        /* Normalized as clang does: "thumbv7em-none-eabihf" read positionally
         * would lose its eabihf environment, and with it the hard-float ABI. */
        ts->triple = take(a, t->triple[0] ? LLVMNormalizeTargetTriple(t->triple)
                                          : LLVMGetDefaultTargetTriple());
        if (t->kind == TGT_HOST) {
            ts->cpu = take(a, LLVMGetHostCPUName());
            ts->features = take(a, LLVMGetHostCPUFeatures());
        } else {
            ts->cpu = t->cpu;
            ts->features = t->features;
        }
        ts->pic = !t->bare_metal;
        ts->arm_dsp = t->dot4;
        ts->fp_contract = t->fp_contract;
    } else {
        ts->triple = take(a, LLVMNormalizeTargetTriple(name));
        ts->cpu = "";
        ts->features = "";
        /* An OS in the triple means a loader and shared objects. */
        ts->pic = strstr(ts->triple, "-none") == NULL;
        ts->arm_dsp = false;
        ts->fp_contract = false;
    }
    char *err = NULL;
    if (LLVMGetTargetFromTriple(ts->triple, target, &err)) {
        diag_error(c, (Loc){0}, "unknown target '%s' (targets: %s, or an LLVM triple): %s",
                   name, target_names(), err ? err : "");
        LLVMDisposeMessage(err);
        return false;
    }
    LLVMDisposeMessage(err);
    return true;
}

static bool optimize(Ctx *c, LLVMModuleRef mod, LLVMTargetMachineRef tm, int level)
{
    if (level <= 0)
        return true;
    LLVMPassBuilderOptionsRef po = LLVMCreatePassBuilderOptions();
    /* clang's choices per level: vectorizers from -O2 on. */
    LLVMPassBuilderOptionsSetLoopVectorization(po, level >= 2);
    LLVMPassBuilderOptionsSetSLPVectorization(po, level >= 2);
    LLVMPassBuilderOptionsSetLoopInterleaving(po, level >= 2);
    LLVMPassBuilderOptionsSetLoopUnrolling(po, 1);
    char pipeline[32];
    snprintf(pipeline, sizeof pipeline, "default<O%d>", level > 3 ? 3 : level);
    LLVMErrorRef err = LLVMRunPasses(mod, pipeline, tm, po);
    LLVMDisposePassBuilderOptions(po);
    if (err) {
        char *msg = LLVMGetErrorMessage(err);
        diag_error(c, (Loc){0}, "LLVM pass pipeline %s failed: %s", pipeline, msg);
        LLVMDisposeErrorMessage(msg);
        return false;
    }
    return true;
}

static bool write_output(Ctx *c, LLVMModuleRef mod, LLVMTargetMachineRef tm, const char *path,
                         LlvmEmitKind kind)
{
    char *err = NULL;
    bool failed;
    switch (kind) {
    case LLVM_EMIT_LL:
        failed = LLVMPrintModuleToFile(mod, path, &err);
        break;
    case LLVM_EMIT_BC:
        failed = LLVMWriteBitcodeToFile(mod, path) != 0;
        break;
    default:
        failed = LLVMTargetMachineEmitToFile(tm, mod, (char *)path,
                                             kind == LLVM_EMIT_OBJ ? LLVMObjectFile
                                                                   : LLVMAssemblyFile, &err);
        break;
    }
    if (failed)
        diag_error(c, (Loc){.file = path}, "cannot write file: %s",
                   err ? err : strerror(errno));
    LLVMDisposeMessage(err);
    return !failed;
}

bool cg_emit_llvm_file(Ctx *c, const Program *p, const char *path, const LlvmOpts *o)
{
    init_llvm();
    TargetSpec ts;
    LLVMTargetRef target;
    if (!resolve_target(c, o->target, &ts, &target))
        return false;
    int level = o->opt_level < 0 ? 0 : o->opt_level > 3 ? 3 : o->opt_level;
    static const LLVMCodeGenOptLevel cg_level[] = {
        LLVMCodeGenLevelNone, LLVMCodeGenLevelLess, LLVMCodeGenLevelDefault,
        LLVMCodeGenLevelAggressive,
    };
    LLVMTargetMachineRef tm = LLVMCreateTargetMachine(
        target, ts.triple, ts.cpu, ts.features, cg_level[level],
        ts.pic ? LLVMRelocPIC : LLVMRelocDefault, LLVMCodeModelDefault);
    if (!tm) {
        diag_error(c, (Loc){0}, "LLVM cannot make a target machine for %s (cpu '%s')", ts.triple,
                   ts.cpu);
        return false;
    }
    LLVMContextRef cx = LLVMContextCreate();
    LLVMModuleRef mod = LLVMModuleCreateWithNameInContext(p->name, cx);
    LLVMSetSourceFileName(mod, p->name, strlen(p->name));
    LLVMSetTarget(mod, ts.triple);
    LLVMTargetDataRef td = LLVMCreateTargetDataLayout(tm);
    LLVMSetModuleDataLayout(mod, td);
    LLVMDisposeTargetData(td);

    cg_llvm_build_module(mod, p, ts.arm_dsp, ts.fp_contract);
    char *msg = NULL;
    bool ok = true;
    if (LLVMVerifyModule(mod, LLVMReturnStatusAction, &msg)) {
        diag_error(c, (Loc){0}, "internal error: the LLVM module of '%s' does not verify:\n%s",
                   p->name, msg ? msg : "");
        ok = false;
    }
    LLVMDisposeMessage(msg);
    ok = ok && optimize(c, mod, tm, level) && write_output(c, mod, tm, path, o->kind);
    LLVMDisposeModule(mod);
    LLVMContextDispose(cx);
    LLVMDisposeTargetMachine(tm);
    return ok;
}

static bool write_header(Ctx *c, const Program *p, const char *path)
{
    FILE *f = fopen(path, "wb");
    if (!f) {
        diag_error(c, (Loc){.file = path}, "cannot create file: %s", strerror(errno));
        return false;
    }
    cg_emit_c_header(f, p);
    bool ok = !ferror(f);
    if (fclose(f) != 0 || !ok) {
        diag_error(c, (Loc){.file = path}, "cannot write file: %s", strerror(errno));
        return false;
    }
    return true;
}

bool cg_emit_llvm(Ctx *c, const Program *p, const char *dir, const LlvmOpts *o)
{
    const char *hdr = arena_printf(c->arena, "%s/%s.h", dir, p->name);
    const char *out = arena_printf(c->arena, "%s/%s%s", dir, p->name, cg_llvm_suffix(o->kind));
    if (!write_header(c, p, hdr) || !cg_emit_llvm_file(c, p, out, o))
        return false;
    if (!cg_write_runtime(dir)) {
        diag_error(c, (Loc){.file = dir}, "cannot write etch_runtime.h: %s", strerror(errno));
        return false;
    }
    return true;
}

const CgLlvmApi cg_llvm_api = {cg_emit_llvm, cg_emit_llvm_file};
