/* etch_app.h: what the bare-metal driver needs to know about the model.
 *
 * etch writes model_app.c (`etch compile --target cortex-m4`), which
 * defines etch_app_model for the model it compiled: a statically allocated
 * workspace (in RAM, .bss) holding the inputs and outputs at the offsets
 * the planner reserved for them, and the model's PREFIX_invoke. The driver (main.c) and the startup code (startup.c) are
 * the same for every model; only this table changes.
 */
#ifndef ETCH_APP_H
#define ETCH_APP_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *name;                 /* the model's C prefix */
    int ninputs, noutputs;
    void *const *inputs;              /* buffers, graph order */
    const size_t *input_bytes;
    void *const *outputs;
    const size_t *output_bytes;
    void *workspace;                  /* ETCH_WORKSPACE_ALIGN-aligned */
    size_t workspace_bytes;
    int (*invoke)(const void *const *inputs, void *const *outputs, void *workspace);
} EtchAppModel;

extern const EtchAppModel etch_app_model;

/* ------------------------------------------------------------ startup.c */

/* SysTick as a free-running 64-bit counter of processor clock ticks: the
 * 24-bit hardware counter plus the wraps its interrupt counts. */
void etch_ticks_start(void);
uint64_t etch_ticks_read(void);
void etch_ticks_stop(void);
/* Deepest stack use since reset, in bytes, from the painted stack. */
size_t etch_stack_peak(void);
/* Bytes of .data and .bss. */
size_t etch_static_ram(void);

#endif /* ETCH_APP_H */
