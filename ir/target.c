/* target.c: the machines etch generates code for, as data.
 *
 * One row per target: the LLVM triple/CPU/features the LLVM backend builds
 * for, the C compiler and flags the CLI builds generated C with, and the
 * machine facts the loop passes tile by (vector width, float registers,
 * cache). Nothing else in etch names a specific machine: adding a target is
 * adding a row. Invariants: names are unique; bare-metal targets have a
 * cross compiler (cc) and its binutils prefix, and the Debian packages that
 * provide them, so a missing toolchain can be reported by package name.
 */
#include "ir.h"

#include <string.h>

static const Target targets[] = {
    {
        .kind = TGT_HOST,
        .name = "host",
        .triple = "",           /* LLVM's default triple: the machine etch runs on */
        .cpu = "",
        .features = "",
        .pointer_bytes = (int)sizeof(void *),
        .has_fpu = true,
        .vector_bytes = 32,     /* AVX2-class x86-64 */
        .float_regs = 16,
        .int_regs = 15,         /* x86-64: 16, less rsp */
        .l1_bytes = 32 * 1024,
        .bare_metal = false,
        .cc = "cc",
        /* The host is the machine that runs the code: its whole ISA (AVX2,
         * FMA...) is fair game. -std=c99 keeps -ffp-contract=off, so the
         * results stay those of the interpreter's float order.
         * -fno-math-errno: kernels never read errno, and with it GCC guards
         * sqrtf with a branch to libm, which keeps the loop around it (a
         * fused layer norm, say) from vectorizing; the values are the same.
         * (GCC 12 ignores it in an optimize attribute, so it is a flag.) */
        .cflags = "-O3 -march=native -std=c99 -fno-math-errno",
        .objdump_prefix = "",
        .packages = "build-essential",
    },
    {
        /* Plain C99 with no assumptions about the machine. */
        .kind = TGT_GENERIC,
        .name = "generic",
        .triple = "",
        .cpu = "",
        .features = "",
        .pointer_bytes = (int)sizeof(void *),
        .has_fpu = true,
        .vector_bytes = 0,
        .float_regs = 8,
        .int_regs = 16,
        .l1_bytes = 0,
        .bare_metal = false,
        .cc = "cc",
        .cflags = "-O2 -std=c99 -fno-math-errno",
        .objdump_prefix = "",
        .packages = "build-essential",
    },
    {
        /* ARMv7E-M with the single-precision FPv4-SP unit (16 double /
         * 32 single registers), no cache in front of the SRAM. */
        .kind = TGT_CORTEX_M4,
        .name = "cortex-m4",
        .triple = "thumbv7em-none-eabihf",
        .cpu = "cortex-m4",
        .features = "+thumb-mode,+dsp,+vfp4d16sp",
        .pointer_bytes = 4,
        .has_fpu = true,
        .vector_bytes = 0,      /* DSP SIMD is integer-only (4 x int8 in a GPR) */
        .float_regs = 32,
        .int_regs = 14,         /* r0-r12 and lr */
        .l1_bytes = 0,
        .dot4 = true,           /* SMLAD: two 16-bit multiply-adds */
        .fp_contract = true,
        .bare_metal = true,
        .cc = "arm-none-eabi-gcc",
        /* -ffp-contract=fast (fp_contract): a*b + c as one VFMA, which the
         * FPU has and -std=c99 would otherwise forbid; results stay within
         * the 1e-4 of the output scale that MCU runs are held to.
         * -fno-math-errno as on the host: sqrtf is then one VSQRT, without
         * the NaN check and libm call (sqrt of 1024 floats: 8200 -> 5160
         * instructions). */
        .cflags = "-mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16 -O2 -std=c99 "
                  "-ffp-contract=fast -fno-math-errno -ffunction-sections -fdata-sections",
        .objdump_prefix = "arm-none-eabi-",
        .packages = "gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm",
    },
    {
        /* ARMv6-M: Thumb-1 mostly, no FPU (float is software-emulated). */
        .kind = TGT_CORTEX_M0,
        .name = "cortex-m0",
        .triple = "thumbv6m-none-eabi",
        .cpu = "cortex-m0",
        .features = "+thumb-mode,+soft-float",
        .pointer_bytes = 4,
        .has_fpu = false,
        .vector_bytes = 0,
        .float_regs = 0,
        .int_regs = 8,          /* r0-r7: Thumb-1 arithmetic reaches the low ones */
        .l1_bytes = 0,
        .bare_metal = true,
        .cc = "arm-none-eabi-gcc",
        .cflags = "-mcpu=cortex-m0 -mthumb -mfloat-abi=soft -O2 -std=c99 "
                  "-ffunction-sections -fdata-sections",
        .objdump_prefix = "arm-none-eabi-",
        .packages = "gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm",
    },
};
enum { NTARGETS = sizeof targets / sizeof targets[0] };

const Target *target_find(const char *name)
{
    if (!name)
        return &targets[0];
    for (int i = 0; i < NTARGETS; i++)
        if (strcmp(targets[i].name, name) == 0)
            return &targets[i];
    return NULL;
}

const char *target_names(void)
{
    /* Built once from the table; every name is short, so 256 bytes hold them. */
    static char names[256];
    if (!names[0])
        for (int i = 0; i < NTARGETS; i++) {
            if (i)
                strcat(names, ", ");
            strcat(names, targets[i].name);
        }
    return names;
}
