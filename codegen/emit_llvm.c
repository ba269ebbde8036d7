/* emit_llvm.c: the LLVM backend's IR builder, Loop IR -> an LLVM module.
 *
 * The walk mirrors emit_c.c node for node and knows no op: each kernel
 * becomes an internal function whose parameters are exactly the buffers it
 * touches (noalias where the C backend writes `restrict`, readonly where it
 * writes `const`), weights become private constant globals, and PREFIX_run /
 * PREFIX_invoke are built with the C backend's ABI and status codes, so the
 * PREFIX.h that emit_c.c writes describes this module too.
 *
 * Value representation inside a kernel (the same as loop_eval.c, which
 * mirrors the emitted C):
 *   - f32 expressions are LLVM `float`, rounded after every operation (no
 *     fast-math flags; an add of a product is llvm.fmuladd only where the
 *     target's C flags contract it too, Target.fp_contract), math through
 *     the float libm functions (expf, tanhf, ...) or the intrinsics they
 *     are equal to;
 *   - every integer and bool expression is an i64; narrow dtypes exist only
 *     in memory and are wrapped where C converts (stores, casts, locals);
 *     loop variables are i32 on 32-bit targets, as C's int (var_value);
 *   - float -> integer conversion saturates (llvm.fptosi.sat): defined where
 *     C's is undefined, equal where C's is defined;
 *   - vectors (Expr.lanes > 1) are <lanes x float>, loaded and stored with
 *     the alignment of a float; EX_MULADD is llvm.fmuladd (fused where the
 *     target has an FMA);
 *   - loop variables and locals live in allocas in the entry block, which
 *     mem2reg promotes; && and || short-circuit through branches because an
 *     operand may guard a load (a padded window's bounds check).
 * Symbols other than the two entry points are internal and carry a '.',
 * which no C name has, so they never collide with libm or user code.
 */
#include "codegen.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include <llvm-c/Core.h>
#include <llvm-c/DebugInfo.h>
#include <llvm-c/Target.h>


typedef struct {
    LLVMModuleRef mod;
    const Program *p;
    LLVMContextRef cx;
    LLVMBuilderRef b;
    LLVMTypeRef f32, i1, i8, i16, i32, i64, vd, i8p;
    LLVMValueRef *consts;       /* per buffer: the global of a BK_CONST */
    KernelUses *uses;           /* per kernel */
    /* the kernel being built */
    const Kernel *k;
    LLVMValueRef fn;
    LLVMValueRef *ptr;          /* per buffer: the kernel's parameter */
    LLVMValueRef *vars;         /* per loop variable: an alloca of type iv */
    LLVMTypeRef iv;             /* loop variables: i32 on 32-bit targets (as C's int), else i64 */
    LLVMValueRef *locals;       /* per local: an alloca of its register type */
    bool arm_dsp;               /* dot4 by llvm.arm.sxtb16/smlad (the target's dot4) */
    bool fp_contract;           /* f32 a * b + c as llvm.fmuladd (Target.fp_contract) */
} Lb;

/* ------------------------------------------------------------------ types */

/* How a dtype is stored in memory. */
static LLVMTypeRef mem_type(const Lb *lb, DType dt)
{
    switch (dt) {
    case DT_F32: return lb->f32;
    case DT_I8: case DT_U8: case DT_BOOL: return lb->i8;
    case DT_I16: return lb->i16;
    case DT_I32: return lb->i32;
    case DT_I64: return lb->i64;
    case DT_NONE: case DT_COUNT: break;
    }
    unreachable("buffer or value without a dtype");
}

/* How a dtype is held in a register: float or i64. */
static LLVMTypeRef reg_type(const Lb *lb, DType dt)
{
    return dtype_is_float(dt) ? lb->f32 : lb->i64;
}

static bool is_unsigned(DType dt) { return dt == DT_U8 || dt == DT_BOOL; }

static LLVMTypeRef vec_type(const Lb *lb, int lanes)
{
    return LLVMVectorType(lb->f32, (unsigned)lanes);
}

/* A local's register type: a vector, or its dtype's. */
static LLVMTypeRef local_type(const Lb *lb, const Local *l)
{
    return l->lanes > 1 ? vec_type(lb, l->lanes) : reg_type(lb, l->dtype);
}

/* ------------------------------------------------------------ helpers */

static LLVMValueRef i64c(const Lb *lb, int64_t v)
{
    return LLVMConstInt(lb->i64, (unsigned long long)v, 1);
}

/* A loop variable's value as an integer expression (i64), and an i64
 * bound as a loop variable's type: on 32-bit targets loop variables are
 * i32, as the C backend's int, so LLVM counts and addresses in registers
 * of the machine's width (an i64 counter on Cortex-M4 is a pair of
 * registers and an ADDS/ADC, SUBS/SBCS at every step). Every index fits:
 * no buffer there reaches 2^31 elements. */
static LLVMValueRef var_value(Lb *lb, LLVMValueRef v)
{
    return lb->iv == lb->i64 ? v : LLVMBuildSExt(lb->b, v, lb->i64, "");
}

static LLVMValueRef var_bound(Lb *lb, LLVMValueRef v)
{
    return lb->iv == lb->i64 ? v : LLVMBuildTrunc(lb->b, v, lb->iv, "");
}

static LLVMValueRef f32c(const Lb *lb, double v)
{
    return LLVMConstReal(lb->f32, (double)(float)v);
}

static void add_attr(const Lb *lb, LLVMValueRef fn, LLVMAttributeIndex idx, const char *name)
{
    unsigned kind = LLVMGetEnumAttributeKindForName(name, strlen(name));
    assert(kind != 0);
    LLVMAddAttributeAtIndex(fn, idx, LLVMCreateEnumAttribute(lb->cx, kind, 0));
}

/* A function of the module by name, declared on first use. */
static LLVMValueRef get_fn(Lb *lb, const char *name, LLVMTypeRef ret, LLVMTypeRef *params,
                           unsigned n, LLVMTypeRef *fty)
{
    *fty = LLVMFunctionType(ret, params, n, 0);
    LLVMValueRef fn = LLVMGetNamedFunction(lb->mod, name);
    if (!fn) {
        fn = LLVMAddFunction(lb->mod, name, *fty);
        add_attr(lb, fn, LLVMAttributeFunctionIndex, "nounwind");
    }
    return fn;
}

static LLVMValueRef call1f(Lb *lb, const char *name, LLVMValueRef x)
{
    LLVMTypeRef fty, params[1] = {lb->f32};
    LLVMValueRef fn = get_fn(lb, name, lb->f32, params, 1, &fty);
    return LLVMBuildCall2(lb->b, fty, fn, &x, 1, "");
}

static LLVMValueRef call2f(Lb *lb, const char *name, LLVMValueRef x, LLVMValueRef y)
{
    LLVMTypeRef fty, params[2] = {lb->f32, lb->f32};
    LLVMValueRef fn = get_fn(lb, name, lb->f32, params, 2, &fty);
    LLVMValueRef args[2] = {x, y};
    return LLVMBuildCall2(lb->b, fty, fn, args, 2, "");
}

/* A new block appended to the current function. */
static LLVMBasicBlockRef new_block(Lb *lb, const char *name)
{
    return LLVMAppendBasicBlockInContext(lb->cx, lb->fn, name);
}

/* A block placed later with place_block, so blocks read in source order
 * (a loop's exit after its body's blocks). */
static LLVMBasicBlockRef later_block(Lb *lb, const char *name)
{
    return LLVMCreateBasicBlockInContext(lb->cx, name);
}

static void place_block(Lb *lb, LLVMBasicBlockRef bb)
{
    LLVMAppendExistingBasicBlock(lb->fn, bb);
    LLVMPositionBuilderAtEnd(lb->b, bb);
}

/* ------------------------------------------------------------ conversions */

/* v (register form of dtype dt) != 0, as i1. C's `x != 0` is true for NaN. */
static LLVMValueRef truthy(Lb *lb, LLVMValueRef v, DType dt)
{
    if (dtype_is_float(dt))
        return LLVMBuildFCmp(lb->b, LLVMRealUNE, v, f32c(lb, 0.0), "");
    return LLVMBuildICmp(lb->b, LLVMIntNE, v, i64c(lb, 0), "");
}

static LLVMValueRef bool_i64(Lb *lb, LLVMValueRef bit)
{
    return LLVMBuildZExt(lb->b, bit, lb->i64, "");
}

/* An i64 wrapped to integer dtype dt, the way C converts on a store. */
static LLVMValueRef wrap_int(Lb *lb, LLVMValueRef v, DType dt)
{
    switch (dt) {
    case DT_BOOL: return bool_i64(lb, truthy(lb, v, DT_I64));
    case DT_I64: return v;
    case DT_I8: case DT_U8: case DT_I16: case DT_I32: {
        LLVMValueRef t = LLVMBuildTrunc(lb->b, v, mem_type(lb, dt), "");
        return is_unsigned(dt) ? LLVMBuildZExt(lb->b, t, lb->i64, "")
                               : LLVMBuildSExt(lb->b, t, lb->i64, "");
    }
    default: unreachable("wrap to a non-integer dtype");
    }
}

/* float -> i64, saturating (NaN gives 0), as loop_eval.c's float_to_int. */
static LLVMValueRef float_to_i64(Lb *lb, LLVMValueRef v)
{
    LLVMTypeRef fty, params[1] = {lb->f32};
    LLVMValueRef fn = get_fn(lb, "llvm.fptosi.sat.i64.f32", lb->i64, params, 1, &fty);
    return LLVMBuildCall2(lb->b, fty, fn, &v, 1, "");
}

static LLVMValueRef as_f(Lb *lb, LLVMValueRef v, DType dt)
{
    return dtype_is_float(dt) ? v : LLVMBuildSIToFP(lb->b, v, lb->f32, "");
}

static LLVMValueRef as_i(Lb *lb, LLVMValueRef v, DType dt)
{
    return dtype_is_float(dt) ? float_to_i64(lb, v) : v;
}

/* Register value v of dtype `from` as dtype `to`. */
static LLVMValueRef convert(Lb *lb, LLVMValueRef v, DType from, DType to)
{
    if (to == DT_BOOL)
        return bool_i64(lb, truthy(lb, v, from));
    if (dtype_is_float(to))
        return as_f(lb, v, from);
    if (dtype_is_float(from))
        return wrap_int(lb, float_to_i64(lb, v), to);
    return from == to ? v : wrap_int(lb, v, to);
}

/* ------------------------------------------------------------- expressions */

static LLVMValueRef emit_expr(Lb *lb, const Expr *e);

static LLVMValueRef elem_ptr(Lb *lb, int buf, const Expr *idx)
{
    LLVMValueRef i = as_i(lb, emit_expr(lb, idx), idx->dtype);
    DType dt = lb->p->bufs[buf].dtype;
    assert(lb->ptr[buf]);
    return LLVMBuildInBoundsGEP2(lb->b, mem_type(lb, dt), lb->ptr[buf], &i, 1, "");
}

static LLVMValueRef call_i32(Lb *lb, const char *name, LLVMValueRef *args, unsigned n)
{
    LLVMTypeRef fty, params[3] = {lb->i32, lb->i32, lb->i32};
    LLVMValueRef fn = get_fn(lb, name, lb->i32, params, n, &fty);
    return LLVMBuildCall2(lb->b, fty, fn, args, n, "");
}

/* dot4 on ARM's DSP extension, as the C runtime's etch_dot4_i8: each side
 * one (unaligned) word load, bytes 0/2 and 1/3 sign-extended in pairs by
 * SXTB16 (the second after a rotate by 8, which the ARM backend folds into
 * the instruction), two SMLADs. */
static LLVMValueRef emit_dot4_dsp(Lb *lb, LLVMValueRef acc, LLVMValueRef *base)
{
    LLVMValueRef half[2][2];
    for (int s = 0; s < 2; s++) {
        LLVMValueRef word = LLVMBuildLoad2(lb->b, lb->i32, base[s], "");
        LLVMSetAlignment(word, 1);
        LLVMValueRef rot[3] = {word, word, LLVMConstInt(lb->i32, 8, 0)};
        half[s][0] = call_i32(lb, "llvm.arm.sxtb16", &word, 1);
        LLVMValueRef r = call_i32(lb, "llvm.fshr.i32", rot, 3);
        half[s][1] = call_i32(lb, "llvm.arm.sxtb16", &r, 1);
    }
    LLVMValueRef sum = LLVMBuildTrunc(lb->b, acc, lb->i32, "");
    for (int h = 0; h < 2; h++) {
        LLVMValueRef args[3] = {half[0][h], half[1][h], sum};
        sum = call_i32(lb, "llvm.arm.smlad", args, 3);
    }
    return LLVMBuildSExt(lb->b, sum, lb->i64, "");
}

/* dot4: four sign-extended byte products added to the accumulator, or the
 * DSP form where the target has it. */
static LLVMValueRef emit_dot4(Lb *lb, const Expr *e)
{
    LLVMValueRef acc = as_i(lb, emit_expr(lb, e->c), e->c->dtype);
    LLVMValueRef base[2] = {elem_ptr(lb, e->a->buf, e->a->a), elem_ptr(lb, e->b->buf, e->b->a)};
    if (lb->arm_dsp)
        return emit_dot4_dsp(lb, acc, base);
    for (int u = 0; u < 4; u++) {
        LLVMValueRef v[2];
        for (int s = 0; s < 2; s++) {
            LLVMValueRef off = i64c(lb, u);
            LLVMValueRef at = LLVMBuildInBoundsGEP2(lb->b, lb->i8, base[s], &off, 1, "");
            v[s] = LLVMBuildSExt(lb->b, LLVMBuildLoad2(lb->b, lb->i8, at, ""), lb->i64, "");
        }
        acc = LLVMBuildAdd(lb->b, acc, LLVMBuildMul(lb->b, v[0], v[1], ""), "");
    }
    return convert(lb, acc, DT_I64, DT_I32);
}

static LLVMValueRef emit_load(Lb *lb, const Expr *e)
{
    DType dt = lb->p->bufs[e->buf].dtype;
    LLVMValueRef v = LLVMBuildLoad2(lb->b, mem_type(lb, dt), elem_ptr(lb, e->buf, e->a), "");
    if (!dtype_is_float(dt) && dt != DT_I64)
        v = is_unsigned(dt) ? LLVMBuildZExt(lb->b, v, lb->i64, "")
                            : LLVMBuildSExt(lb->b, v, lb->i64, "");
    return convert(lb, v, dt, e->dtype);
}

/* The address of buf[idx] as a pointer to a vector of `lanes` floats. */
static LLVMValueRef vec_ptr(Lb *lb, int buf, const Expr *idx, int lanes)
{
    LLVMValueRef p = elem_ptr(lb, buf, idx);
    return LLVMBuildBitCast(lb->b, p, LLVMPointerType(vec_type(lb, lanes), 0), "");
}

static LLVMValueRef emit_vload(Lb *lb, const Expr *e)
{
    LLVMValueRef v = LLVMBuildLoad2(lb->b, vec_type(lb, e->lanes), vec_ptr(lb, e->buf, e->a, e->lanes), "");
    LLVMSetAlignment(v, 4);
    return v;
}

static LLVMValueRef emit_bcast(Lb *lb, const Expr *e)
{
    LLVMTypeRef vt = vec_type(lb, e->lanes);
    LLVMValueRef x = as_f(lb, emit_expr(lb, e->a), e->a->dtype);
    LLVMValueRef v = LLVMBuildInsertElement(lb->b, LLVMGetUndef(vt), x, LLVMConstInt(lb->i32, 0, 0), "");
    LLVMTypeRef mt = LLVMVectorType(lb->i32, (unsigned)e->lanes);
    return LLVMBuildShuffleVector(lb->b, v, LLVMGetUndef(vt), LLVMConstNull(mt), "");
}

/* llvm.fmuladd of ops[0] * ops[1] + ops[2], `lanes` wide: fused or not as
 * the target prefers. */
static LLVMValueRef build_muladd(Lb *lb, const Expr *const *ops, int lanes)
{
    LLVMTypeRef t = lanes > 1 ? vec_type(lb, lanes) : lb->f32;
    const char *name = lanes > 1 ? arena_printf(lb->p->arena, "llvm.fmuladd.v%df32", lanes) : "llvm.fmuladd.f32";
    LLVMTypeRef fty, params[3] = {t, t, t};
    LLVMValueRef fn = get_fn(lb, name, t, params, 3, &fty);
    LLVMValueRef args[3];
    for (int i = 0; i < 3; i++)
        args[i] = lanes > 1 ? emit_expr(lb, ops[i]) : as_f(lb, emit_expr(lb, ops[i]), ops[i]->dtype);
    return LLVMBuildCall2(lb->b, fty, fn, args, 3, "");
}

static LLVMValueRef emit_muladd(Lb *lb, const Expr *e)
{
    const Expr *ops[3] = {e->a, e->b, e->c};
    return build_muladd(lb, ops, e->lanes);
}

static bool is_f32_mul(const Expr *e)
{
    return e->kind == EX_BIN && e->op == BIN_MUL && e->dtype == DT_F32;
}

/* An f32 add of a product, on a target whose C compiler contracts it
 * (-ffp-contract=fast: Cortex-M4's VFMA), as llvm.fmuladd too: the same
 * choice in both backends. NULL for anything else. */
static LLVMValueRef contracted_add(Lb *lb, const Expr *e)
{
    if (!lb->fp_contract || e->op != BIN_ADD || e->dtype != DT_F32)
        return NULL;
    const Expr *mul = is_f32_mul(e->a) ? e->a : is_f32_mul(e->b) ? e->b : NULL;
    if (!mul)
        return NULL;
    const Expr *ops[3] = {mul->a, mul->b, mul == e->a ? e->b : e->a};
    return build_muladd(lb, ops, e->lanes);
}

/* The float function an op maps to, as in the C backend: intrinsics where
 * they equal the libm function exactly, else the libm name. */
static const char *unop_float_fn(UnOp op)
{
    switch (op) {
    case UN_ABS: return "llvm.fabs.f32";
    case UN_SQRT: return "llvm.sqrt.f32";
    case UN_FLOOR: return "llvm.floor.f32";
    case UN_CEIL: return "llvm.ceil.f32";
    case UN_ROUND: return "llvm.rint.f32"; /* rintf: half to even, as loop_eval */
    case UN_EXP: return "expf";
    case UN_LOG: return "logf";
    case UN_TANH: return "tanhf";
    case UN_ERF: return "erff";
    case UN_SIN: return "sinf";
    case UN_COS: return "cosf";
    case UN_TAN: return "tanf";
    case UN_ASIN: return "asinf";
    case UN_ACOS: return "acosf";
    case UN_ATAN: return "atanf";
    case UN_SINH: return "sinhf";
    case UN_COSH: return "coshf";
    case UN_ASINH: return "asinhf";
    case UN_ACOSH: return "acoshf";
    case UN_ATANH: return "atanhf";
    default: unreachable("unary op without a float function");
    }
}

static LLVMValueRef emit_unary(Lb *lb, const Expr *e)
{
    DType da = e->a->dtype;
    LLVMValueRef x = emit_expr(lb, e->a);
    if (e->op == UN_NOT)
        return bool_i64(lb, LLVMBuildNot(lb->b, truthy(lb, x, da), ""));
    if (e->op == UN_ISNAN)
        return dtype_is_float(da) ? bool_i64(lb, LLVMBuildFCmp(lb->b, LLVMRealUNO, x, x, ""))
                                  : i64c(lb, 0);
    if (!dtype_is_float(da)) {
        LLVMValueRef r;
        switch (e->op) {
        case UN_NEG:
            r = LLVMBuildSub(lb->b, i64c(lb, 0), x, "");
            break;
        case UN_ABS: {
            LLVMValueRef neg = LLVMBuildICmp(lb->b, LLVMIntSLT, x, i64c(lb, 0), "");
            r = LLVMBuildSelect(lb->b, neg, LLVMBuildSub(lb->b, i64c(lb, 0), x, ""), x, "");
            break;
        }
        case UN_FLOOR: case UN_CEIL: case UN_ROUND:
            r = x;
            break;
        default:
            /* Float math on an integer: computed in float, converted back. */
            return convert(lb, call1f(lb, unop_float_fn((UnOp)e->op), as_f(lb, x, da)), DT_F32,
                           e->dtype);
        }
        return convert(lb, r, DT_I64, e->dtype);
    }
    LLVMValueRef r = e->op == UN_NEG ? LLVMBuildFNeg(lb->b, x, "")
                                     : call1f(lb, unop_float_fn((UnOp)e->op), x);
    return convert(lb, r, DT_F32, e->dtype);
}

/* && and ||: b only when a does not decide, through a branch and a phi. */
static LLVMValueRef emit_logical(Lb *lb, const Expr *e)
{
    bool is_and = e->op == BIN_AND;
    LLVMValueRef x = truthy(lb, emit_expr(lb, e->a), e->a->dtype);
    LLVMBasicBlockRef from = LLVMGetInsertBlock(lb->b);
    LLVMBasicBlockRef rhs = new_block(lb, is_and ? "and.rhs" : "or.rhs");
    LLVMBasicBlockRef done = later_block(lb, is_and ? "and.end" : "or.end");
    if (is_and)
        LLVMBuildCondBr(lb->b, x, rhs, done);
    else
        LLVMBuildCondBr(lb->b, x, done, rhs);
    LLVMPositionBuilderAtEnd(lb->b, rhs);
    LLVMValueRef y = truthy(lb, emit_expr(lb, e->b), e->b->dtype);
    LLVMBasicBlockRef rhs_end = LLVMGetInsertBlock(lb->b);
    LLVMBuildBr(lb->b, done);
    place_block(lb, done);
    LLVMValueRef phi = LLVMBuildPhi(lb->b, lb->i1, "");
    LLVMValueRef vals[2] = {LLVMConstInt(lb->i1, is_and ? 0 : 1, 0), y};
    LLVMBasicBlockRef blocks[2] = {from, rhs_end};
    LLVMAddIncoming(phi, vals, blocks, 2);
    return bool_i64(lb, phi);
}

static LLVMValueRef emit_compare(Lb *lb, const Expr *e, LLVMValueRef x, LLVMValueRef y)
{
    DType da = e->a->dtype, db = e->b->dtype;
    if (dtype_is_float(da) || dtype_is_float(db)) {
        static const LLVMRealPredicate fp[] = {
            [BIN_LT] = LLVMRealOLT, [BIN_LE] = LLVMRealOLE, [BIN_GT] = LLVMRealOGT,
            [BIN_GE] = LLVMRealOGE, [BIN_EQ] = LLVMRealOEQ, [BIN_NE] = LLVMRealUNE,
        };
        return bool_i64(lb, LLVMBuildFCmp(lb->b, fp[e->op], as_f(lb, x, da), as_f(lb, y, db), ""));
    }
    static const LLVMIntPredicate ip[] = {
        [BIN_LT] = LLVMIntSLT, [BIN_LE] = LLVMIntSLE, [BIN_GT] = LLVMIntSGT,
        [BIN_GE] = LLVMIntSGE, [BIN_EQ] = LLVMIntEQ, [BIN_NE] = LLVMIntNE,
    };
    return bool_i64(lb, LLVMBuildICmp(lb->b, ip[e->op], x, y, ""));
}

/* Lane by lane, as the scalar float ops (min/max: the second operand on NaN). */
static LLVMValueRef emit_vector_binary(Lb *lb, const Expr *e)
{
    LLVMBuilderRef b = lb->b;
    LLVMValueRef x = emit_expr(lb, e->a), y = emit_expr(lb, e->b);
    switch (e->op) {
    case BIN_ADD: return LLVMBuildFAdd(b, x, y, "");
    case BIN_SUB: return LLVMBuildFSub(b, x, y, "");
    case BIN_MUL: return LLVMBuildFMul(b, x, y, "");
    case BIN_DIV: return LLVMBuildFDiv(b, x, y, "");
    case BIN_MIN: return LLVMBuildSelect(b, LLVMBuildFCmp(b, LLVMRealOLT, x, y, ""), x, y, "");
    case BIN_MAX: return LLVMBuildSelect(b, LLVMBuildFCmp(b, LLVMRealOGT, x, y, ""), x, y, "");
    default: unreachable("a vector binary op that is not lane by lane");
    }
}

static LLVMValueRef emit_binary(Lb *lb, const Expr *e)
{
    LLVMValueRef fused = contracted_add(lb, e);
    if (fused)
        return fused;
    if (e->lanes > 1)
        return emit_vector_binary(lb, e);
    if (e->op == BIN_AND || e->op == BIN_OR)
        return convert(lb, emit_logical(lb, e), DT_BOOL, e->dtype);
    DType da = e->a->dtype, db = e->b->dtype;
    LLVMValueRef x = emit_expr(lb, e->a), y = emit_expr(lb, e->b);
    if (e->op >= BIN_LT && e->op <= BIN_NE)
        return convert(lb, emit_compare(lb, e, x, y), DT_BOOL, e->dtype);
    LLVMBuilderRef b = lb->b;
    if (dtype_is_float(e->dtype)) {
        x = as_f(lb, x, da);
        y = as_f(lb, y, db);
        switch (e->op) {
        case BIN_ADD: return LLVMBuildFAdd(b, x, y, "");
        case BIN_SUB: return LLVMBuildFSub(b, x, y, "");
        case BIN_MUL: return LLVMBuildFMul(b, x, y, "");
        case BIN_DIV: return LLVMBuildFDiv(b, x, y, "");
        case BIN_MOD: return LLVMBuildFRem(b, x, y, ""); /* fmodf */
        /* etch_minf/etch_maxf: a plain compare, the second operand on NaN. */
        case BIN_MIN: return LLVMBuildSelect(b, LLVMBuildFCmp(b, LLVMRealOLT, x, y, ""), x, y, "");
        case BIN_MAX: return LLVMBuildSelect(b, LLVMBuildFCmp(b, LLVMRealOGT, x, y, ""), x, y, "");
        case BIN_POW: return call2f(lb, "powf", x, y);
        default: unreachable("bad float binary op");
        }
    }
    if (e->op == BIN_POW) {
        LLVMValueRef r = call2f(lb, "powf", as_f(lb, x, da), as_f(lb, y, db));
        return convert(lb, r, DT_F32, e->dtype);
    }
    x = as_i(lb, x, da);
    y = as_i(lb, y, db);
    LLVMValueRef r;
    switch (e->op) {
    case BIN_ADD: r = LLVMBuildAdd(b, x, y, ""); break;
    case BIN_SUB: r = LLVMBuildSub(b, x, y, ""); break;
    case BIN_MUL: r = LLVMBuildMul(b, x, y, ""); break;
    case BIN_DIV: r = LLVMBuildSDiv(b, x, y, ""); break;
    case BIN_MOD: r = LLVMBuildSRem(b, x, y, ""); break;
    case BIN_SHL: r = LLVMBuildShl(b, x, y, ""); break;
    case BIN_SHR: r = LLVMBuildAShr(b, x, y, ""); break;
    case BIN_MIN: r = LLVMBuildSelect(b, LLVMBuildICmp(b, LLVMIntSLT, x, y, ""), x, y, ""); break;
    case BIN_MAX: r = LLVMBuildSelect(b, LLVMBuildICmp(b, LLVMIntSGT, x, y, ""), x, y, ""); break;
    default: unreachable("bad integer binary op");
    }
    return convert(lb, r, DT_I64, e->dtype);
}

/* f32 <-> i32 bits; an i32 is held sign-extended in an i64 register. */
static LLVMValueRef emit_bitcast(Lb *lb, const Expr *e)
{
    LLVMValueRef x = emit_expr(lb, e->a);
    if (e->dtype == DT_I32)
        return LLVMBuildSExt(lb->b, LLVMBuildBitCast(lb->b, x, lb->i32, ""), lb->i64, "");
    return LLVMBuildBitCast(lb->b, LLVMBuildTrunc(lb->b, x, lb->i32, ""), lb->f32, "");
}

/* Whether evaluating e can trap: an integer division or remainder (by 0,
 * or INT_MIN by -1), which Loop IR guards with a select on the divisor. */
static bool may_trap(const Expr *e)
{
    switch (e->kind) {
    case EX_BIN:
        if ((e->op == BIN_DIV || e->op == BIN_MOD) && !dtype_is_float(e->dtype))
            return true;
        return may_trap(e->a) || may_trap(e->b);
    case EX_UN: case EX_CAST: case EX_BITCAST:
        return may_trap(e->a);
    case EX_DOT4:
        return may_trap(e->c);
    case EX_SELECT:
        return may_trap(e->c) || may_trap(e->a) || may_trap(e->b);
    default:
        return false;
    }
}

/* c ? a : b evaluates only the chosen side, as in C. Where neither side can
 * trap that is a plain select (both computed, no branch); otherwise a
 * branch and a phi, so a guarded division never runs with the bad divisor. */
static LLVMValueRef emit_select(Lb *lb, const Expr *e)
{
    LLVMValueRef c = truthy(lb, emit_expr(lb, e->c), e->c->dtype);
    if (!may_trap(e->a) && !may_trap(e->b)) {
        LLVMValueRef x = convert(lb, emit_expr(lb, e->a), e->a->dtype, e->dtype);
        LLVMValueRef y = convert(lb, emit_expr(lb, e->b), e->b->dtype, e->dtype);
        return LLVMBuildSelect(lb->b, c, x, y, "");
    }
    LLVMBasicBlockRef then = new_block(lb, "sel.then");
    LLVMBasicBlockRef other = later_block(lb, "sel.else");
    LLVMBasicBlockRef done = later_block(lb, "sel.end");
    LLVMBuildCondBr(lb->b, c, then, other);
    LLVMPositionBuilderAtEnd(lb->b, then);
    LLVMValueRef x = convert(lb, emit_expr(lb, e->a), e->a->dtype, e->dtype);
    LLVMBasicBlockRef then_end = LLVMGetInsertBlock(lb->b);
    LLVMBuildBr(lb->b, done);
    place_block(lb, other);
    LLVMValueRef y = convert(lb, emit_expr(lb, e->b), e->b->dtype, e->dtype);
    LLVMBasicBlockRef other_end = LLVMGetInsertBlock(lb->b);
    LLVMBuildBr(lb->b, done);
    place_block(lb, done);
    LLVMValueRef phi = LLVMBuildPhi(lb->b, LLVMTypeOf(x), "");
    LLVMValueRef vals[2] = {x, y};
    LLVMBasicBlockRef blocks[2] = {then_end, other_end};
    LLVMAddIncoming(phi, vals, blocks, 2);
    return phi;
}

static LLVMValueRef i32c(const Lb *lb, int64_t v)
{
    return LLVMConstInt(lb->i32, (unsigned long long)(uint32_t)v, 0);
}

/* qfast4 on ARM's DSP extension, as the C runtime's etch_qadd4_i8 and
 * etch_qmul4_i8: one (unaligned) word load a side, SIMD steps by the
 * llvm.arm intrinsics (the ARM backend folds the rotates into SXTB16 and
 * SXTAB16, and matches PKHBT/PKHTB and BFI from plain IR), one word
 * store. With codes (b's, i32s) instead, code[0] for lanes below k and
 * code[1] for the rest, as etch_qadd4_two_i8 and etch_qmul4_two_i8: a's
 * word only, b's part computed here and hoisted out of the run's loop by
 * LLVM. */
static void emit_qfast4_dsp(Lb *lb, const QFast *q, LLVMValueRef *base, const LLVMValueRef *code, int k,
                            LLVMValueRef yp)
{
    LLVMValueRef one = code ? code[0] : NULL;
    LLVMBuilderRef b = lb->b;
    LLVMValueRef word[2], r[4];
    for (int i = 0; i < (one ? 1 : 2); i++) {
        word[i] = LLVMBuildLoad2(b, lb->i32, LLVMBuildBitCast(b, base[i], LLVMPointerType(lb->i32, 0), ""), "");
        LLVMSetAlignment(word[i], 1);
    }
    #define ROT8(v) call_i32(lb, "llvm.fshr.i32", (LLVMValueRef[]){(v), (v), i32c(lb, 8)}, 3)
    bool pack16 = q->mul && q->shift == 0 && q->lo == -128 && q->hi == 127;
    if (!q->mul && one) {
        /* (a0, a2), (a1, a3); SMLABB/SMLATB by m0 onto b m1 + c */
        LLVMValueRef half[2] = {call_i32(lb, "llvm.arm.sxtb16", &word[0], 1), NULL}, rot = ROT8(word[0]);
        half[1] = call_i32(lb, "llvm.arm.sxtb16", &rot, 1);
        LLVMValueRef cb[2];
        for (int i = 0; i < 2; i++)
            cb[i] = LLVMBuildAdd(b, LLVMBuildMul(b, code[i], i32c(lb, q->m1), ""), i32c(lb, q->c), "");
        for (int l = 0; l < 4; l++) {
            LLVMValueRef x = call_i32(lb, l < 2 ? "llvm.arm.smlabb" : "llvm.arm.smlatb",
                                      (LLVMValueRef[]){half[l % 2], i32c(lb, q->m0), cb[l >= k]}, 3);
            r[l] = LLVMBuildAShr(b, x, i32c(lb, q->shift), "");
        }
    } else if (!q->mul) {
        /* bytes a0 a1 b0 b1 and a2 a3 b2 b3: each SXTB16 gives a pair (a_i, b_i) */
        LLVMValueRef p01 = LLVMBuildOr(b, LLVMBuildAnd(b, word[0], i32c(lb, 0xffff), ""),
                                       LLVMBuildShl(b, word[1], i32c(lb, 16), ""), "");
        LLVMValueRef p23 = LLVMBuildOr(b, LLVMBuildAnd(b, word[1], i32c(lb, 0xffff0000), ""),
                                       LLVMBuildLShr(b, word[0], i32c(lb, 16), ""), "");
        LLVMValueRef m = i32c(lb, (q->m0 & 0xffff) | (int64_t)(uint32_t)q->m1 << 16), c = i32c(lb, q->c);
        LLVMValueRef pair[4] = {p01, ROT8(p01), p23, ROT8(p23)};
        for (int l = 0; l < 4; l++) {
            LLVMValueRef x = call_i32(lb, "llvm.arm.sxtb16", &pair[l], 1);
            x = call_i32(lb, "llvm.arm.smlad", (LLVMValueRef[]){x, m, c}, 3);
            r[l] = LLVMBuildAShr(b, x, i32c(lb, q->shift), "");
        }
    } else {
        /* centered halves (a0, a2), (a1, a3) and the same of b; SMULBB/SMULTT */
        LLVMValueRef half[2][2] = {{NULL, NULL}, {NULL, NULL}};
        int32_t zero[2] = {q->z0, q->z1};
        for (int i = 0; i < (one ? 1 : 2); i++) {
            LLVMValueRef nz = i32c(lb, (int64_t)((uint32_t)-zero[i] & 0xffffu) * 0x10001);
            half[i][0] = call_i32(lb, "llvm.arm.sxtab16", (LLVMValueRef[]){nz, word[i]}, 2);
            half[i][1] = call_i32(lb, "llvm.arm.sxtab16", (LLVMValueRef[]){nz, ROT8(word[i])}, 2);
        }
        LLVMValueRef bc[2] = {NULL, NULL}; /* b - zb of each code: SMULBB/SMULTB */
        for (int i = 0; i < 2 && one; i++)
            bc[i] = LLVMBuildSub(b, code[i], i32c(lb, q->z1), "");
        /* lane l: half l % 2, bottom for l < 2. SMMLAR is inline assembly:
         * LLVM 14 does not match it from IR with a constant multiplier. */
        LLVMTypeRef params[3] = {lb->i32, lb->i32, lb->i32}, fty = LLVMFunctionType(lb->i32, params, 3, 0);
        char text[] = "smmlar $0, $1, $2, $3", cons[] = "=r,r,r,r";
        LLVMValueRef smmlar = LLVMGetInlineAsm(fty, text, strlen(text), cons, strlen(cons), 0, 0,
                                               LLVMInlineAsmDialectATT, 0);
        LLVMValueRef m = i32c(lb, q->m0), c = i32c(lb, q->c + (pack16 ? 128 : 0));
        for (int l = 0; l < 4; l++) {
            LLVMValueRef args[2] = {half[0][l % 2], one ? bc[l >= k] : half[1][l % 2]};
            LLVMValueRef pr = call_i32(lb, l < 2 ? "llvm.arm.smulbb" : one ? "llvm.arm.smultb" : "llvm.arm.smultt", args, 2);
            if (q->shift)
                pr = LLVMBuildShl(b, pr, i32c(lb, q->shift), "");
            r[l] = LLVMBuildCall2(b, fty, smmlar, (LLVMValueRef[]){pr, m, c}, 3, "");
        }
    }
    #undef ROT8
    LLVMValueRef y;
    if (pack16) {
        /* |p M| < 2^15: pairs packed, USAT16 clamps both halves into [0, 255] */
        LLVMValueRef e = LLVMBuildOr(b, LLVMBuildAnd(b, r[0], i32c(lb, 0xffff), ""), LLVMBuildShl(b, r[2], i32c(lb, 16), ""), "");
        LLVMValueRef o = LLVMBuildOr(b, LLVMBuildAnd(b, r[1], i32c(lb, 0xffff), ""), LLVMBuildShl(b, r[3], i32c(lb, 16), ""), "");
        e = call_i32(lb, "llvm.arm.usat16", (LLVMValueRef[]){e, i32c(lb, 8)}, 2);
        o = call_i32(lb, "llvm.arm.usat16", (LLVMValueRef[]){o, i32c(lb, 8)}, 2);
        y = LLVMBuildXor(b, LLVMBuildOr(b, e, LLVMBuildShl(b, o, i32c(lb, 8), ""), ""), i32c(lb, 0x80808080), "");
    } else {
        y = NULL;
        for (int l = 0; l < 4; l++) {
            LLVMValueRef v = call_i32(lb, "llvm.arm.ssat", (LLVMValueRef[]){r[l], i32c(lb, 8)}, 2);
            if (q->lo > -128)
                v = LLVMBuildSelect(b, LLVMBuildICmp(b, LLVMIntSLT, v, i32c(lb, q->lo), ""), i32c(lb, q->lo), v, "");
            if (q->hi < 127)
                v = LLVMBuildSelect(b, LLVMBuildICmp(b, LLVMIntSGT, v, i32c(lb, q->hi), ""), i32c(lb, q->hi), v, "");
            /* byte l of y replaced by BFI, inline assembly as in the C
             * runtime: from plain IR LLVM 14 masks each lane with UXTB
             * first. Lane 0 stays whole; the others overwrite its upper
             * bytes. */
            if (l == 0) {
                y = v;
                continue;
            }
            LLVMTypeRef params[2] = {lb->i32, lb->i32}, fty = LLVMFunctionType(lb->i32, params, 2, 0);
            char text[32], cons[] = "=r,0,r";
            snprintf(text, sizeof text, "bfi $0, $2, #%d, #8", 8 * l);
            LLVMValueRef bfi = LLVMGetInlineAsm(fty, text, strlen(text), cons, strlen(cons), 0, 0,
                                                LLVMInlineAsmDialectATT, 0);
            y = LLVMBuildCall2(b, fty, bfi, (LLVMValueRef[]){y, v}, 2, "");
        }
    }
    LLVMValueRef st = LLVMBuildStore(b, y, LLVMBuildBitCast(b, yp, LLVMPointerType(lb->i32, 0), ""));
    LLVMSetAlignment(st, 1);
}

/* y[idx + l] = quant_fast(q, a[l], b[l]) for l < 4 (qfast4; b one code
 * for lanes below s->val->i and c for the rest when that is not 0): the
 * DSP form where the target has it, else in i64 as quant_fast computes;
 * every load comes before the first store (y may be a or b). */
static void emit_qfast4(Lb *lb, const Stmt *s)
{
    const QFast *q = s->val->q;
    LLVMBuilderRef b = lb->b;
    bool one = s->val->i;
    int k = one ? (int)s->val->i : 4;
    LLVMValueRef base[2] = {elem_ptr(lb, s->val->a->buf, s->val->a->a), NULL}, code[2] = {NULL, NULL};
    if (one) { /* i64s */
        code[0] = as_i(lb, emit_expr(lb, s->val->b), s->val->b->dtype);
        code[1] = s->val->c ? as_i(lb, emit_expr(lb, s->val->c), s->val->c->dtype) : code[0];
    } else {
        base[1] = elem_ptr(lb, s->val->b->buf, s->val->b->a);
    }
    LLVMValueRef yp = elem_ptr(lb, s->buf, s->idx), r[4];
    if (lb->arm_dsp) {
        LLVMValueRef code32[2];
        for (int i = 0; i < 2 && one; i++)
            code32[i] = LLVMBuildTrunc(b, code[i], lb->i32, "");
        emit_qfast4_dsp(lb, q, base, one ? code32 : NULL, k, yp);
        return;
    }
    for (int l = 0; l < 4; l++) {
        LLVMValueRef v[2], off = i64c(lb, l);
        for (int i = 0; i < 2; i++) {
            LLVMValueRef at = i == 1 && one ? NULL : LLVMBuildInBoundsGEP2(b, lb->i8, base[i], &off, 1, "");
            v[i] = at ? LLVMBuildSExt(b, LLVMBuildLoad2(b, lb->i8, at, ""), lb->i64, "") : code[l >= k];
        }
        LLVMValueRef x;
        if (q->mul) {
            x = LLVMBuildMul(b, LLVMBuildSub(b, v[0], i64c(lb, q->z0), ""), LLVMBuildSub(b, v[1], i64c(lb, q->z1), ""), "");
            x = LLVMBuildMul(b, LLVMBuildMul(b, x, i64c(lb, (int64_t)1 << q->shift), ""), i64c(lb, q->m0), "");
            x = LLVMBuildAShr(b, LLVMBuildAdd(b, x, i64c(lb, (int64_t)1 << 31), ""), i64c(lb, 32), "");
            x = LLVMBuildAdd(b, x, i64c(lb, q->c), "");
        } else {
            x = LLVMBuildAdd(b, LLVMBuildMul(b, v[0], i64c(lb, q->m0), ""), LLVMBuildMul(b, v[1], i64c(lb, q->m1), ""), "");
            x = LLVMBuildAShr(b, LLVMBuildAdd(b, x, i64c(lb, q->c), ""), i64c(lb, q->shift), "");
        }
        x = LLVMBuildSelect(b, LLVMBuildICmp(b, LLVMIntSLT, x, i64c(lb, q->lo), ""), i64c(lb, q->lo), x, "");
        x = LLVMBuildSelect(b, LLVMBuildICmp(b, LLVMIntSGT, x, i64c(lb, q->hi), ""), i64c(lb, q->hi), x, "");
        r[l] = LLVMBuildTrunc(b, x, lb->i8, "");
    }
    for (int l = 0; l < 4; l++) {
        LLVMValueRef off = i64c(lb, l);
        LLVMBuildStore(b, r[l], LLVMBuildInBoundsGEP2(b, lb->i8, yp, &off, 1, ""));
    }
}

static LLVMValueRef emit_expr(Lb *lb, const Expr *e)
{
    switch (e->kind) {
    case EX_INT:
        return dtype_is_float(e->dtype) ? f32c(lb, (double)e->i) : i64c(lb, e->i);
    case EX_FLT: {
        if (dtype_is_float(e->dtype))
            return f32c(lb, e->f);
        /* The constant converted the way the runtime would convert it. */
        LLVMValueRef v = float_to_i64(lb, f32c(lb, e->f));
        return convert(lb, v, DT_I64, e->dtype);
    }
    case EX_VAR:
        assert(e->var >= 0 && e->var < lb->k->nvars);
        return var_value(lb, LLVMBuildLoad2(lb->b, lb->iv, lb->vars[e->var], ""));
    case EX_LOCAL: {
        assert(e->local >= 0 && e->local < lb->k->nlocals);
        const Local *l = &lb->k->locals[e->local];
        LLVMValueRef v = LLVMBuildLoad2(lb->b, local_type(lb, l), lb->locals[e->local], "");
        return l->lanes > 1 ? v : convert(lb, v, l->dtype, e->dtype);
    }
    case EX_LOAD:
        return e->lanes > 1 ? emit_vload(lb, e) : emit_load(lb, e);
    case EX_BCAST:
        return emit_bcast(lb, e);
    case EX_LANE:
        return LLVMBuildExtractElement(lb->b, emit_expr(lb, e->a),
                                       LLVMConstInt(lb->i32, (unsigned long long)e->i, 0), "");
    case EX_MULADD:
        return emit_muladd(lb, e);
    case EX_SHIFT: {
        /* shufflevector(a, zeros): lane l takes a[l - i], or a zero. */
        LLVMValueRef mask[ETCH_MAX_LANES];
        for (int l = 0; l < e->lanes; l++) {
            int from = l - (int)e->i;
            mask[l] = LLVMConstInt(lb->i32, (unsigned long long)(from >= 0 && from < e->lanes ? from : e->lanes), 0);
        }
        return LLVMBuildShuffleVector(lb->b, emit_expr(lb, e->a), LLVMConstNull(vec_type(lb, e->lanes)),
                                      LLVMConstVector(mask, (unsigned)e->lanes), "");
    }
    case EX_UNZIP: {
        /* shufflevector(a, b): lane l takes lane 2l + i of a ++ b. */
        LLVMValueRef mask[ETCH_MAX_LANES];
        for (int l = 0; l < e->lanes; l++)
            mask[l] = LLVMConstInt(lb->i32, (unsigned long long)(2 * l + e->i), 0);
        LLVMValueRef a = emit_expr(lb, e->a);
        return LLVMBuildShuffleVector(lb->b, a, emit_expr(lb, e->b),
                                      LLVMConstVector(mask, (unsigned)e->lanes), "");
    }
    case EX_UN:
        return emit_unary(lb, e);
    case EX_BIN:
        return emit_binary(lb, e);
    case EX_SELECT:
        return emit_select(lb, e);
    case EX_CAST:
        return convert(lb, emit_expr(lb, e->a), e->a->dtype, e->dtype);
    case EX_BITCAST:
        return emit_bitcast(lb, e);
    case EX_DOT4:
        return emit_dot4(lb, e);
    case EX_QFAST4:
        break; /* only stored: emit_qfast4 */
    }
    unreachable("bad expression kind");
}

/* -------------------------------------------------------------- statements */

static void emit_stmt(Lb *lb, const Stmt *s);

/* LOOP_UNROLL: !llvm.loop !{self, !{"llvm.loop.unroll.full"}} on the latch. */
static void mark_unroll(Lb *lb, LLVMValueRef latch)
{
    const char *full = "llvm.loop.unroll.full";
    LLVMMetadataRef str = LLVMMDStringInContext2(lb->cx, full, strlen(full));
    LLVMMetadataRef hint = LLVMMDNodeInContext2(lb->cx, &str, 1);
    LLVMMetadataRef self = LLVMTemporaryMDNode(lb->cx, NULL, 0);
    LLVMMetadataRef ops[2] = {self, hint};
    LLVMMetadataRef loop = LLVMMDNodeInContext2(lb->cx, ops, 2);
    LLVMMetadataReplaceAllUsesWith(self, loop);
    unsigned kind = LLVMGetMDKindIDInContext(lb->cx, "llvm.loop", 9);
    LLVMSetMetadata(latch, kind, LLVMMetadataAsValue(lb->cx, loop));
}

/* for (var = lo; var < hi; var += step): hi is re-evaluated every trip as
 * in C; it is side-effect free, so LLVM hoists it. */
static void emit_for(Lb *lb, const Stmt *s)
{
    if (s->step <= 0)
        unreachable("for-loop with a non-positive step");
    assert(s->var >= 0 && s->var < lb->k->nvars);
    LLVMValueRef var = lb->vars[s->var];
    LLVMBuildStore(lb->b, var_bound(lb, as_i(lb, emit_expr(lb, s->lo), s->lo->dtype)), var);
    LLVMBasicBlockRef head = new_block(lb, "for.head");
    LLVMBasicBlockRef body = new_block(lb, "for.body");
    LLVMBasicBlockRef exit = later_block(lb, "for.end");
    LLVMBuildBr(lb->b, head);
    LLVMPositionBuilderAtEnd(lb->b, head);
    LLVMValueRef i = LLVMBuildLoad2(lb->b, lb->iv, var, "");
    LLVMValueRef hi = var_bound(lb, as_i(lb, emit_expr(lb, s->hi), s->hi->dtype));
    LLVMBuildCondBr(lb->b, LLVMBuildICmp(lb->b, LLVMIntSLT, i, hi, ""), body, exit);
    LLVMPositionBuilderAtEnd(lb->b, body);
    emit_stmt(lb, s->body);
    LLVMValueRef cur = LLVMBuildLoad2(lb->b, lb->iv, var, "");
    /* nsw: the C loop counter cannot overflow either. */
    LLVMBuildStore(lb->b, LLVMBuildNSWAdd(lb->b, cur, LLVMConstInt(lb->iv, (unsigned long long)s->step, 1), ""),
                   var);
    LLVMValueRef latch = LLVMBuildBr(lb->b, head);
    if (s->flags & LOOP_UNROLL)
        mark_unroll(lb, latch);
    place_block(lb, exit);
}

static void emit_if(Lb *lb, const Stmt *s)
{
    LLVMValueRef c = truthy(lb, emit_expr(lb, s->cond), s->cond->dtype);
    LLVMBasicBlockRef then = new_block(lb, "if.then");
    LLVMBasicBlockRef els = s->els ? later_block(lb, "if.else") : NULL;
    LLVMBasicBlockRef done = later_block(lb, "if.end");
    LLVMBuildCondBr(lb->b, c, then, els ? els : done);
    LLVMPositionBuilderAtEnd(lb->b, then);
    emit_stmt(lb, s->then);
    LLVMBuildBr(lb->b, done);
    if (els) {
        place_block(lb, els);
        emit_stmt(lb, s->els);
        LLVMBuildBr(lb->b, done);
    }
    place_block(lb, done);
}

static void emit_stmt(Lb *lb, const Stmt *s)
{
    switch (s->kind) {
    case ST_BLOCK:
        for (int i = 0; i < s->n; i++)
            emit_stmt(lb, s->items[i]);
        return;
    case ST_FOR:
        emit_for(lb, s);
        return;
    case ST_IF:
        emit_if(lb, s);
        return;
    case ST_STORE: {
        const Buffer *buf = &lb->p->bufs[s->buf];
        if (s->val->kind == EX_QFAST4) {
            emit_qfast4(lb, s);
            return;
        }
        if (s->val->lanes > 1) {
            LLVMValueRef v = emit_expr(lb, s->val);
            LLVMValueRef st = LLVMBuildStore(lb->b, v, vec_ptr(lb, s->buf, s->idx, s->val->lanes));
            LLVMSetAlignment(st, 4);
            return;
        }
        LLVMValueRef v = convert(lb, emit_expr(lb, s->val), s->val->dtype, buf->dtype);
        if (!dtype_is_float(buf->dtype) && buf->dtype != DT_I64)
            v = LLVMBuildTrunc(lb->b, v, mem_type(lb, buf->dtype), "");
        LLVMBuildStore(lb->b, v, elem_ptr(lb, s->buf, s->idx));
        return;
    }
    case ST_SET: {
        assert(s->local >= 0 && s->local < lb->k->nlocals);
        DType ldt = lb->k->locals[s->local].dtype;
        if (lb->k->locals[s->local].lanes > 1) {
            LLVMBuildStore(lb->b, emit_expr(lb, s->val), lb->locals[s->local]);
            return;
        }
        LLVMValueRef v = convert(lb, emit_expr(lb, s->val), s->val->dtype, ldt);
        LLVMBuildStore(lb->b, v, lb->locals[s->local]);
        return;
    }
    }
    unreachable("bad statement kind");
}

/* ----------------------------------------------------------------- kernels */

static LLVMTypeRef ptr_to(const Lb *lb, DType dt)
{
    return LLVMPointerType(mem_type(lb, dt), 0);
}

static LLVMValueRef build_kernel(Lb *lb, int ki)
{
    const Program *p = lb->p;
    const Kernel *k = &p->kernels[ki];
    const KernelUses *u = &lb->uses[ki];
    LLVMTypeRef *params = arena_alloc(p->arena, sizeof *params * (size_t)(p->nbufs + 1));
    unsigned n = 0;
    for (int b = 0; b < p->nbufs; b++) {
        if (!u->buf[b])
            continue;
        if ((u->buf[b] & USE_WRITE) && (p->bufs[b].kind == BK_INPUT || p->bufs[b].kind == BK_CONST))
            unreachable("a kernel stores to an input or a constant");
        params[n++] = ptr_to(lb, p->bufs[b].dtype);
    }
    LLVMTypeRef fty = LLVMFunctionType(lb->vd, params, n, 0);
    const char *name = arena_printf(p->arena, "%s.%s", p->name, k->name);
    LLVMValueRef fn = LLVMAddFunction(lb->mod, name, fty);
    LLVMSetLinkage(fn, LLVMInternalLinkage);
    add_attr(lb, fn, LLVMAttributeFunctionIndex, "nounwind");
    lb->k = k;
    lb->fn = fn;
    memset(lb->ptr, 0, sizeof *lb->ptr * (size_t)(p->nbufs + 1));
    unsigned arg = 0;
    for (int b = 0; b < p->nbufs; b++) {
        if (!u->buf[b])
            continue;
        LLVMValueRef pv = LLVMGetParam(fn, arg);
        LLVMSetValueName2(pv, p->bufs[b].name, strlen(p->bufs[b].name));
        LLVMAttributeIndex ai = arg + 1;
        add_attr(lb, fn, ai, "nocapture");
        if (loop_may_restrict(p, u, b))
            add_attr(lb, fn, ai, "noalias");
        if (!(u->buf[b] & USE_WRITE))
            add_attr(lb, fn, ai, "readonly");
        lb->ptr[b] = pv;
        arg++;
    }
    LLVMBasicBlockRef entry = new_block(lb, "entry");
    LLVMPositionBuilderAtEnd(lb->b, entry);
    lb->vars = arena_alloc(p->arena, sizeof *lb->vars * (size_t)(k->nvars + 1));
    lb->locals = arena_alloc(p->arena, sizeof *lb->locals * (size_t)(k->nlocals + 1));
    for (int v = 0; v < k->nvars; v++)
        lb->vars[v] = LLVMBuildAlloca(lb->b, lb->iv, arena_printf(p->arena, "i%d", v));
    for (int l = 0; l < k->nlocals; l++) {
        DType dt = k->locals[l].dtype;
        LLVMTypeRef t = local_type(lb, &k->locals[l]);
        lb->locals[l] = LLVMBuildAlloca(lb->b, t, arena_printf(p->arena, "%s%d", k->locals[l].name, l));
        /* Locals start at zero, as the C backend declares them. */
        LLVMBuildStore(lb->b, k->locals[l].lanes > 1 ? LLVMConstNull(t)
                              : dtype_is_float(dt) ? f32c(lb, 0.0) : i64c(lb, 0), lb->locals[l]);
    }
    emit_stmt(lb, k->body);
    LLVMBuildRetVoid(lb->b);
    return fn;
}

/* --------------------------------------------------------------- weights */

static LLVMValueRef elem_const(const Lb *lb, DType dt, const void *data, int64_t i)
{
    const unsigned char *at = (const unsigned char *)data + (size_t)i * dtype_size(dt);
    union { float f; int8_t i8; uint8_t u8; int16_t i16; int32_t i32; int64_t i64; } v;
    memcpy(&v, at, dtype_size(dt));
    switch (dt) {
    case DT_F32: return LLVMConstReal(lb->f32, v.f);
    case DT_I8: return LLVMConstInt(lb->i8, (unsigned long long)v.i8, 1);
    case DT_U8: case DT_BOOL: return LLVMConstInt(lb->i8, v.u8, 0);
    case DT_I16: return LLVMConstInt(lb->i16, (unsigned long long)v.i16, 1);
    case DT_I32: return LLVMConstInt(lb->i32, (unsigned long long)v.i32, 1);
    case DT_I64: return LLVMConstInt(lb->i64, (unsigned long long)v.i64, 1);
    case DT_NONE: case DT_COUNT: break;
    }
    unreachable("constant buffer of no dtype");
}

/* A private constant array; its first element's address is the buffer. */
static LLVMValueRef build_const(Lb *lb, int b)
{
    const Buffer *buf = &lb->p->bufs[b];
    LLVMTypeRef et = mem_type(lb, buf->dtype);
    /* Nothing reads an empty buffer; one zero keeps the global addressable. */
    bool empty = buf->numel == 0 || !buf->data;
    int64_t n = empty ? 1 : buf->numel;
    LLVMValueRef *elems = malloc(sizeof *elems * (size_t)n);
    if (!elems)
        unreachable("out of memory building a weight array");
    for (int64_t i = 0; i < n; i++)
        elems[i] = empty ? LLVMConstNull(et) : elem_const(lb, buf->dtype, buf->data, i);
    LLVMValueRef init = LLVMConstArray(et, elems, (unsigned)n);
    free(elems);
    const char *name = arena_printf(lb->p->arena, "%s.%s", lb->p->name, buf->name);
    LLVMValueRef g = LLVMAddGlobal(lb->mod, LLVMTypeOf(init), name);
    LLVMSetInitializer(g, init);
    LLVMSetGlobalConstant(g, 1);
    LLVMSetLinkage(g, LLVMPrivateLinkage);
    LLVMSetUnnamedAddress(g, LLVMGlobalUnnamedAddr);
    LLVMSetAlignment(g, 16);
    LLVMValueRef zero[2] = {i64c(lb, 0), i64c(lb, 0)};
    return LLVMConstInBoundsGEP2(LLVMTypeOf(init), g, zero, 2);
}

/* ------------------------------------------------------------ entry points */

static void ret_if(Lb *lb, LLVMValueRef fn, LLVMValueRef cond, int status)
{
    LLVMBasicBlockRef bad = LLVMAppendBasicBlockInContext(lb->cx, fn, "fail");
    LLVMBasicBlockRef ok = LLVMAppendBasicBlockInContext(lb->cx, fn, "ok");
    LLVMBuildCondBr(lb->b, cond, bad, ok);
    LLVMPositionBuilderAtEnd(lb->b, bad);
    LLVMBuildRet(lb->b, LLVMConstInt(lb->i32, (unsigned long long)status, 0));
    LLVMPositionBuilderAtEnd(lb->b, ok);
}

static LLVMValueRef is_null(Lb *lb, LLVMValueRef v)
{
    return LLVMBuildIsNull(lb->b, v, "");
}

/* PREFIX_run(inputs..., outputs..., workspace): the C backend's checks in
 * the same order, then every kernel on its buffers. */
static LLVMValueRef build_run(Lb *lb, LLVMValueRef *kernels, LLVMTypeRef *fty_out)
{
    const Program *p = lb->p;
    int nargs = p->ninputs + p->noutputs;
    LLVMTypeRef *params = arena_alloc(p->arena, sizeof *params * (size_t)(nargs + 1));
    for (int i = 0; i < nargs; i++) {
        int b = i < p->ninputs ? p->inputs[i] : p->outputs[i - p->ninputs];
        params[i] = ptr_to(lb, p->bufs[b].dtype);
    }
    params[nargs] = lb->i8p;
    LLVMTypeRef fty = LLVMFunctionType(lb->i32, params, (unsigned)nargs + 1, 0);
    LLVMValueRef fn = LLVMAddFunction(lb->mod, arena_printf(p->arena, "%s_run", p->name), fty);
    add_attr(lb, fn, LLVMAttributeFunctionIndex, "nounwind");
    *fty_out = fty;
    lb->fn = fn;
    LLVMPositionBuilderAtEnd(lb->b, new_block(lb, "entry"));
    LLVMValueRef *ptr = lb->ptr;
    memset(ptr, 0, sizeof *ptr * (size_t)(p->nbufs + 1));
    LLVMValueRef any_null = NULL;
    for (int i = 0; i < nargs; i++) {
        int b = i < p->ninputs ? p->inputs[i] : p->outputs[i - p->ninputs];
        LLVMValueRef pv = LLVMGetParam(fn, (unsigned)i);
        LLVMSetValueName2(pv, p->bufs[b].name, strlen(p->bufs[b].name));
        ptr[b] = pv;
        LLVMValueRef z = is_null(lb, pv);
        any_null = any_null ? LLVMBuildOr(lb->b, any_null, z, "") : z;
    }
    if (any_null)
        ret_if(lb, fn, any_null, 1 /* ETCH_ERR_NULL_ARG */);
    LLVMValueRef ws = LLVMGetParam(fn, (unsigned)nargs);
    LLVMSetValueName2(ws, "workspace", strlen("workspace"));
    if (p->workspace_size > 0) {
        ret_if(lb, fn, is_null(lb, ws), 1 /* ETCH_ERR_NULL_ARG */);
        /* i64 holds a pointer of every target; only the low bits matter. */
        LLVMTypeRef iptr = lb->i64;
        LLVMValueRef mask = LLVMConstInt(iptr, 15 /* ETCH_WORKSPACE_ALIGN - 1 */, 0);
        LLVMValueRef low = LLVMBuildAnd(lb->b, LLVMBuildPtrToInt(lb->b, ws, iptr, ""), mask, "");
        ret_if(lb, fn, LLVMBuildICmp(lb->b, LLVMIntNE, low, LLVMConstInt(iptr, 0, 0), ""),
               2 /* ETCH_ERR_ALIGNMENT */);
    }
    for (int b = 0; b < p->nbufs; b++) {
        const Buffer *buf = &p->bufs[b];
        if (buf->kind == BK_CONST && lb->consts[b]) {
            ptr[b] = lb->consts[b];
        } else if (buf->kind == BK_TEMP) {
            if (buf->offset < 0 ||
                buf->offset + buf->numel * (int64_t)dtype_size(buf->dtype) > p->workspace_size)
                ptr[b] = NULL; /* unused by any kernel, checked at the call below */
            else {
                LLVMValueRef off = i64c(lb, buf->offset);
                LLVMValueRef at = LLVMBuildInBoundsGEP2(lb->b, lb->i8, ws, &off, 1, "");
                ptr[b] = LLVMBuildBitCast(lb->b, at, ptr_to(lb, buf->dtype), buf->name);
            }
        }
    }
    for (int k = 0; k < p->nkernels; k++) {
        const KernelUses *u = &lb->uses[k];
        LLVMValueRef *args = arena_alloc(p->arena, sizeof *args * (size_t)(p->nbufs + 1));
        unsigned n = 0;
        for (int b = 0; b < p->nbufs; b++) {
            if (!u->buf[b])
                continue;
            if (!ptr[b])
                unreachable("a kernel touches a buffer outside the planned workspace");
            args[n++] = ptr[b];
        }
        LLVMBuildCall2(lb->b, LLVMGlobalGetValueType(kernels[k]), kernels[k], args, n, "");
    }
    LLVMBuildRet(lb->b, LLVMConstInt(lb->i32, 0 /* ETCH_OK */, 0));
    return fn;
}

/* PREFIX_invoke(inputs, outputs, workspace): arrays of pointers unpacked. */
static void build_invoke(Lb *lb, LLVMValueRef run, LLVMTypeRef run_ty)
{
    const Program *p = lb->p;
    LLVMTypeRef i8pp = LLVMPointerType(lb->i8p, 0);
    LLVMTypeRef params[3] = {i8pp, i8pp, lb->i8p};
    LLVMTypeRef fty = LLVMFunctionType(lb->i32, params, 3, 0);
    LLVMValueRef fn = LLVMAddFunction(lb->mod, arena_printf(p->arena, "%s_invoke", p->name), fty);
    add_attr(lb, fn, LLVMAttributeFunctionIndex, "nounwind");
    lb->fn = fn;
    LLVMPositionBuilderAtEnd(lb->b, new_block(lb, "entry"));
    LLVMValueRef in = LLVMGetParam(fn, 0), out = LLVMGetParam(fn, 1);
    LLVMSetValueName2(in, "inputs", 6);
    LLVMSetValueName2(out, "outputs", 7);
    LLVMSetValueName2(LLVMGetParam(fn, 2), "workspace", 9);
    if (p->ninputs > 0)
        ret_if(lb, fn, is_null(lb, in), 1 /* ETCH_ERR_NULL_ARG */);
    if (p->noutputs > 0)
        ret_if(lb, fn, is_null(lb, out), 1 /* ETCH_ERR_NULL_ARG */);
    int nargs = p->ninputs + p->noutputs;
    LLVMValueRef *args = arena_alloc(p->arena, sizeof *args * (size_t)(nargs + 1));
    for (int i = 0; i < nargs; i++) {
        bool is_in = i < p->ninputs;
        int b = is_in ? p->inputs[i] : p->outputs[i - p->ninputs];
        LLVMValueRef idx = i64c(lb, is_in ? i : i - p->ninputs);
        LLVMValueRef slot = LLVMBuildInBoundsGEP2(lb->b, lb->i8p, is_in ? in : out, &idx, 1, "");
        LLVMValueRef v = LLVMBuildLoad2(lb->b, lb->i8p, slot, "");
        args[i] = LLVMBuildBitCast(lb->b, v, ptr_to(lb, p->bufs[b].dtype), "");
    }
    args[nargs] = LLVMGetParam(fn, 2);
    LLVMValueRef r = LLVMBuildCall2(lb->b, run_ty, run, args, (unsigned)nargs + 1, "");
    LLVMBuildRet(lb->b, r);
}

/* ------------------------------------------------------------------ module */

void cg_llvm_build_module(struct LLVMOpaqueModule *mod, const Program *p, bool arm_dsp, bool fp_contract)
{
    LLVMContextRef cx = LLVMGetModuleContext(mod);
    Lb lb = {.mod = mod, .p = p, .cx = cx, .arm_dsp = arm_dsp, .fp_contract = fp_contract};
    lb.f32 = LLVMFloatTypeInContext(cx);
    lb.i1 = LLVMInt1TypeInContext(cx);
    lb.i8 = LLVMInt8TypeInContext(cx);
    lb.i16 = LLVMInt16TypeInContext(cx);
    lb.i32 = LLVMInt32TypeInContext(cx);
    lb.i64 = LLVMInt64TypeInContext(cx);
    lb.iv = LLVMPointerSize(LLVMGetModuleDataLayout(mod)) == 4 ? lb.i32 : lb.i64;
    lb.vd = LLVMVoidTypeInContext(cx);
    lb.i8p = LLVMPointerType(lb.i8, 0);
    lb.b = LLVMCreateBuilderInContext(cx);
    size_t nb = (size_t)p->nbufs + 1;
    lb.consts = arena_alloc(p->arena, sizeof *lb.consts * nb);
    lb.ptr = arena_alloc(p->arena, sizeof *lb.ptr * nb);
    lb.uses = arena_alloc(p->arena, sizeof *lb.uses * (size_t)(p->nkernels + 1));
    unsigned char *used = arena_alloc(p->arena, nb);
    for (int k = 0; k < p->nkernels; k++) {
        lb.uses[k] = loop_kernel_uses(p, &p->kernels[k]);
        for (int b = 0; b < p->nbufs; b++)
            used[b] |= lb.uses[k].buf[b];
    }
    for (int b = 0; b < p->nbufs; b++)
        if (p->bufs[b].kind == BK_CONST && used[b])
            lb.consts[b] = build_const(&lb, b);
    LLVMValueRef *kernels = arena_alloc(p->arena, sizeof *kernels * (size_t)(p->nkernels + 1));
    for (int k = 0; k < p->nkernels; k++)
        kernels[k] = build_kernel(&lb, k);
    LLVMTypeRef run_ty;
    LLVMValueRef run = build_run(&lb, kernels, &run_ty);
    build_invoke(&lb, run, run_ty);
    LLVMDisposeBuilder(lb.b);
}
