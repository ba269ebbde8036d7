/* startup.c: reset, vectors, SysTick counting and stack painting for the
 * bare-metal etch app on Cortex-M (QEMU mps2-an386, or a real board with the
 * same memory map in mps2-an386.ld).
 *
 * Reset_Handler copies .data from flash to RAM, zeroes .bss, turns the FPU
 * on when the code is built for one, fills the unused stack with a pattern
 * ("painting") so etch_stack_peak can later find the deepest word ever
 * written, and calls main. Faults print a message over semihosting and end
 * QEMU with a failure status instead of hanging, so a crash is an error and
 * not a timeout. Invariant: nothing here runs on the stack region it paints
 * (painting stops at the current stack pointer).
 */
#include "etch_app.h"
#include "semihost.h"

extern uint32_t __data_load__[], __data_start__[], __data_end__[];
extern uint32_t __bss_start__[], __bss_end__[];
extern uint32_t __stack_limit__[], __stack_top__[];

int main(void);
void Reset_Handler(void);
void Fault_Handler(void);
void SysTick_Handler(void);

enum { STACK_PAINT = 0x5AC3A55Au };

/* SysTick registers (ARMv7-M/ARMv6-M architecture reference, B3.3). */
#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)
#define SCB_CPACR (*(volatile uint32_t *)0xE000ED88u)
enum { SYST_ENABLE = 1u, SYST_TICKINT = 2u, SYST_CLKSOURCE_CPU = 4u, SYST_MAX = 0xFFFFFFu };

static volatile uint32_t systick_wraps;

void Reset_Handler(void)
{
    for (uint32_t *s = __data_load__, *d = __data_start__; d < __data_end__;)
        *d++ = *s++;
    for (uint32_t *d = __bss_start__; d < __bss_end__;)
        *d++ = 0;
#if defined(__ARM_FP)
    /* CP10 and CP11 full access, then a barrier before the first FP op. */
    SCB_CPACR |= 0xFu << 20;
    __asm__ volatile("dsb\n\tisb" ::: "memory");
#endif
    uint32_t *sp;
    __asm__ volatile("mov %0, sp" : "=r"(sp));
    for (volatile uint32_t *p = __stack_limit__; p < sp;)
        *p++ = STACK_PAINT;
    sh_exit(main());
}

void Fault_Handler(void)
{
    sh_puts("etch-app: fault (hard fault, memory fault, bus fault or usage fault)\n");
    sh_exit(1);
}

void SysTick_Handler(void)
{
    systick_wraps++;
}

void etch_ticks_start(void)
{
    SYST_CSR = 0;
    systick_wraps = 0;
    SYST_RVR = SYST_MAX;
    SYST_CVR = 0;       /* any write clears the counter and COUNTFLAG */
    SYST_CSR = SYST_ENABLE | SYST_TICKINT | SYST_CLKSOURCE_CPU;
}

uint64_t etch_ticks_read(void)
{
    /* Re-read when a wrap lands between the two reads. */
    uint32_t w, v;
    do {
        w = systick_wraps;
        v = SYST_CVR;
    } while (w != systick_wraps);
    /* The counter reads 0 from the clearing write until the first tick
     * reloads it, so k ticks after a wrap it reads (2^24 - k) mod 2^24. */
    return (uint64_t)w * (SYST_MAX + 1u) + ((SYST_MAX + 1u - v) & SYST_MAX);
}

void etch_ticks_stop(void)
{
    SYST_CSR = 0;
}

size_t etch_stack_peak(void)
{
    const uint32_t *p = __stack_limit__;
    while (p < __stack_top__ && *p == STACK_PAINT)
        p++;
    return (size_t)((const char *)__stack_top__ - (const char *)p);
}

size_t etch_static_ram(void)
{
    return (size_t)((char *)__data_end__ - (char *)__data_start__) +
           (size_t)((char *)__bss_end__ - (char *)__bss_start__);
}

/* The vector table: the initial stack pointer, then the 15 system
 * exceptions. No peripheral interrupts are used. */
typedef struct {
    uint32_t *initial_sp;
    void (*handler[15])(void);
} VectorTable;

__attribute__((section(".isr_vector"), used))
static const VectorTable vectors = {
    __stack_top__,
    {
        Reset_Handler,
        Fault_Handler,  /* NMI */
        Fault_Handler,  /* HardFault */
        Fault_Handler,  /* MemManage */
        Fault_Handler,  /* BusFault */
        Fault_Handler,  /* UsageFault */
        0, 0, 0, 0,
        Fault_Handler,  /* SVCall */
        Fault_Handler,  /* DebugMonitor */
        0,
        Fault_Handler,  /* PendSV */
        SysTick_Handler,
    },
};
