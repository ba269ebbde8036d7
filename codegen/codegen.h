/* codegen.h: etch's internal interface for the backends.
 *
 * Backends walk Loop IR and contain no per-op knowledge.
 */
#ifndef ETCH_CODEGEN_H
#define ETCH_CODEGEN_H

#include "../ir/ir.h"

/* --------------------------------------------------------------- writer.c */

/* A small text writer that indents and ends lines. */
typedef struct {
    FILE *f;
    int indent;
} Writer;

void out_line(Writer *w, const char *fmt, ...) IR_PRINTF(2, 3);
void out_raw(Writer *w, const char *fmt, ...) IR_PRINTF(2, 3);

/* ---------------------------------------------------------------- emit_c.c */

/* Writes DIR/PREFIX.c, DIR/PREFIX.h and DIR/etch_runtime.h. */
bool cg_emit_c(Ctx *c, const Program *p, const char *dir);
/* The same, to open streams (tests, golden files). */
void cg_emit_c_source(FILE *f, const Program *p);
void cg_emit_c_header(FILE *f, const Program *p);
/* emit_c_vec.c: the vector type and helpers for each width p uses. */
void cg_emit_c_vector_helpers(Writer *w, const Program *p);

/* -------------------------------------------------------------- runtime.c */

/* The runtime header's text, embedded at build time from runtime/. */
extern const char cg_runtime_header[];
bool cg_write_runtime(const char *dir);

/* ------------------------------------------------------ emit_llvm*.c */

/* What the LLVM backend writes: textual IR, bitcode, an object, assembly. */
typedef enum { LLVM_EMIT_LL, LLVM_EMIT_BC, LLVM_EMIT_OBJ, LLVM_EMIT_ASM } LlvmEmitKind;

typedef struct {
    LlvmEmitKind kind;
    /* A target name from target_find ("host", "cortex-m4", ...) or any LLVM
     * triple ("aarch64-linux-gnu"); NULL means host. */
    const char *target;
    int opt_level;      /* 0..3: the new pass manager's default<ON> pipeline */
} LlvmOpts;

/* The LLVM backend is built twice: linked into the tests, and as a module
 * (libetch_llvm.so) the etch CLI loads on first use (tools/cli_llvm.c), so
 * a compile to C never pays for loading libLLVM (~20 ms of relocations).
 * In the CLI, cg_emit_llvm and cg_emit_llvm_file are the loader's: they
 * load the module and call its own through `cg_llvm_api`. */

/* Writes DIR/PREFIX.ll|.bc|.o|.s, plus PREFIX.h and etch_runtime.h (the C
 * backend's, so a program links either backend's output unchanged). */
bool cg_emit_llvm(Ctx *c, const Program *p, const char *dir, const LlvmOpts *o);
/* Only the LLVM output, to `path` (tests, golden files, the run driver). */
bool cg_emit_llvm_file(Ctx *c, const Program *p, const char *path, const LlvmOpts *o);

/* What the module exports (one data symbol: no casts from dlsym). */
typedef struct {
    bool (*emit)(Ctx *c, const Program *p, const char *dir, const LlvmOpts *o);
    bool (*emit_file)(Ctx *c, const Program *p, const char *path, const LlvmOpts *o);
} CgLlvmApi;
extern const CgLlvmApi cg_llvm_api;

/* The file suffix of a kind: ".ll", ".bc", ".o", ".s". */
static inline const char *cg_llvm_suffix(LlvmEmitKind kind)
{
    switch (kind) {
    case LLVM_EMIT_LL: return ".ll";
    case LLVM_EMIT_BC: return ".bc";
    case LLVM_EMIT_OBJ: return ".o";
    case LLVM_EMIT_ASM: return ".s";
    }
    unreachable("bad LLVM output kind");
}
/* emit_llvm.c: builds p's kernels and entry points into `mod`, an empty
 * module (emit_llvm_target.c sets its triple and layout and emits it).
 * arm_dsp: the module is for a target whose dot4 is ARM's SMLAD (a target
 * row with Target.dot4), so dot4 uses the llvm.arm intrinsics. fp_contract:
 * f32 adds of products are llvm.fmuladd (Target.fp_contract). */
struct LLVMOpaqueModule;
void cg_llvm_build_module(struct LLVMOpaqueModule *mod, const Program *p, bool arm_dsp, bool fp_contract);

#endif /* ETCH_CODEGEN_H */
