/* cli.h: the etch command-line tool's internal interface.
 *
 * main.c parses the command line into CliOpts and dispatches; every command
 * returns an exit status (CLI_OK, CLI_ERROR after a diagnostic, CLI_USAGE
 * after a usage message) and only main exits. Sections name the file each
 * export comes from.
 */
#ifndef ETCH_CLI_H
#define ETCH_CLI_H

#include "../codegen/codegen.h"
#include "../frontend/frontend.h"
#include "../passes/passes.h"

enum { CLI_OK = 0, CLI_ERROR = 1, CLI_USAGE = 2 };

typedef struct {
    const char *command;        /* compile, run, dump, dot */
    const char *model;
    const char *out;            /* -o: OUTDIR (compile, run) or FILE (dot) */
    const char *name;           /* --name: C prefix */
    const char *emit;           /* --emit: c, llvm, bc, obj or asm */
    int opt_level;              /* -O: 0..3, the LLVM backend's pipeline level */
    const char **print_after; int nprint_after, capprint_after;
    const char **disabled; int ndisabled, capdisabled;
    const char **inputs; int ninputs, capinputs;   /* run: [NAME=]FILE.npy */
    FeShape *shapes; int nshapes, capshapes;        /* --shape NAME=D0,D1,... */
    const char **consts; int nconsts, capconsts;   /* --const NAME=FILE.npy */
    const char *output_dir;     /* run: where output .npy files go */
    const char *backend;        /* run: interp, c or llvm */
    int repeat;                 /* run: inferences to time */
    bool stats;                 /* run: print latency and arena sizes */
    const char *target;         /* --target: a target_find name (NULL: host) */
    Rounding rounding;          /* --rounding: of the int8 kernels (single) */
    MathMode math;              /* --math: exact (default) or fast exp/tanh */
    const char *quantize;       /* --quantize: "int8", or NULL */
    const char **calibrate; int ncalibrate, capcalibrate; /* [NAME=]FILE.npy|DIR */
    double percentile;          /* --calibrate-percentile (0: min/max) */
    const char *io;             /* --io: "float" (default) or "int8" */
} CliOpts;

/* ---------------------------------------------------------- cli_cmds.c */

int cli_compile(Ctx *c, const CliOpts *o);
int cli_dump(Ctx *c, const CliOpts *o);
int cli_dot(Ctx *c, const CliOpts *o);
/* Loads o->model into m->graph (m->prefix from --name). */
bool cli_load(Ctx *c, const CliOpts *o, Module *m);
/* Runs the pass pipeline on m, printing after the passes named by
 * --print-after, so m->prog is the planned Loop IR program. */
bool cli_lower(Ctx *c, const CliOpts *o, Module *m);

/* --------------------------------------------------------- cli_quant.c */

/* With --quantize: reads the --calibrate samples for m->graph's inputs and
 * sets m->quantize (QuantizeOpts in c's arena); a diagnostic on bad files. */
bool cli_load_calibration(Ctx *c, const CliOpts *o, Module *m);

/* ----------------------------------------------------------- cli_run.c */

int cli_run(Ctx *c, const CliOpts *o);

/* ------------------------------------------------------- cli_cdriver.c */

/* Runs the lowered program m->prog as compiled C: emits it with a timing
 * driver into a fresh temporary directory, builds it with ${CC:-cc}, runs
 * it `repeat` times on `inputs` (graph input order) and fills `outputs`
 * (graph output order, data in c's arena). *median_us gets the median
 * latency of one inference. */
bool cli_run_c(Ctx *c, const Module *m, const Tensor *inputs, Tensor *outputs, int repeat,
               double *median_us);
/* The same with the LLVM backend: PREFIX.o from cg_emit_llvm (host target,
 * level opt_level) linked with the same driver. */
bool cli_run_llvm(Ctx *c, const Module *m, int opt_level, const Tensor *inputs, Tensor *outputs,
                  int repeat, double *median_us);

/* ---------------------------------------------------------- cli_util.c */

/* Creates dir and its missing parents; a diagnostic on failure. */
bool cli_mkdirs(Ctx *c, const char *dir);
/* A file name from a tensor name: characters outside [A-Za-z0-9_.-]
 * become '_'. */
char *cli_file_name(Arena *a, const char *name);
/* Monotonic time in microseconds. */
double cli_now_us(void);
/* Median of v[0..n) (sorts v). */
double cli_median(double *v, int n);
/* Whole file into the arena; false (errno set) on failure. */
bool cli_read_file(Arena *a, const char *path, void **data, size_t *len);
bool cli_write_file(const char *path, const void *data, size_t len);
/* `s` single-quoted for /bin/sh. */
char *cli_shell_quote(Arena *a, const char *s);

/* ----------------------------------------------------------- cli_mcu.c */

/* What a bare-metal run measured (see cli_mcu.c); -1 when unknown. */
typedef struct {
    long long instructions;     /* SysTick around the inference, in instructions */
    long long ticks;            /* the raw SysTick ticks */
    long long flash_bytes;      /* whole program: text + rodata + data */
    long long static_ram_bytes; /* whole program: data + bss */
    long long stack_bytes;      /* peak stack, from the painted stack */
    long long ram_bytes;        /* static_ram_bytes + stack_bytes */
    long long model_flash_bytes;/* the model's object alone: text + rodata + data */
} McuStats;

/* Runs m->prog on the bare-metal target tg under QEMU (see cli_mcu.c),
 * built by o->backend's compiler (llvm: the LLVM backend at o->opt_level;
 * anything else: the C backend), filling `outputs` (graph output order)
 * and *st. */
bool cli_run_mcu(Ctx *c, const CliOpts *o, const Module *m, const Target *tg,
                 const Tensor *inputs, Tensor *outputs, McuStats *st);
/* Writes DIR/model_app.c, the table the bare-metal driver reads. */
bool cli_mcu_write_app_table(Ctx *c, const Program *p, const char *dir);
/* Multiply-accumulates of one inference: conv, conv_transpose, gemm, matmul. */
int64_t cli_count_macs(const Graph *g);
/* The --stats lines of a bare-metal run. */
void cli_print_mcu_stats(const Module *m, const McuStats *st);

/* The bare-metal app (examples/cortex-m4), embedded by CMake. */
extern const char cli_mcu_startup_c[], cli_mcu_semihost_c[], cli_mcu_semihost_h[];
extern const char cli_mcu_main_c[], cli_mcu_etch_app_h[], cli_mcu_mps2_an386_ld[];

#endif /* ETCH_CLI_H */
