/* testutil.h: shared helpers for etch's Criterion tests.
 *
 * Temp dirs, running commands with captured output, reading and writing
 * files, a seeded PRNG (seed from the clock, overridable with ETCH_SEED),
 * tensor comparison by normalized error, a growable string, and the
 * differential check that runs one graph through the interpreter, loop_eval
 * and the emitted C and compares them.
 *
 * Every returned string or path is malloc'd and owned by the caller unless
 * it is said otherwise. Nothing here calls Criterion, so any test (or a
 * plain program) can use it; failures come back as text to report.
 */
#ifndef ETCH_TESTUTIL_H
#define ETCH_TESTUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ir/ir.h"

/* ------------------------------------------------------------ strings */

/* A growable NUL-terminated string; start zeroed, release with free(s.s). */
typedef struct {
    char *s;
    size_t len, cap;
} TuStr;

void tu_str_printf(TuStr *b, const char *fmt, ...) IR_PRINTF(2, 3);
void tu_str_append(TuStr *b, const char *text);
void tu_str_clear(TuStr *b);

/* -------------------------------------------------------------- files */

char *tu_path(const char *dir, const char *name);       /* "dir/name" */
char *tu_read_file(const char *path, size_t *len);      /* NULL if unreadable */
bool tu_write_file(const char *path, const char *text, size_t len);
bool tu_file_exists(const char *path);
/* A fresh directory under $TMPDIR (or /tmp) named etch-TAG-XXXXXX. */
char *tu_mkdtemp(const char *tag);
void tu_rmtree(const char *path);
/* Names (not paths) in dir ending in `suffix`, sorted; hidden files are
 * skipped. Returns the count; *names is a malloc'd array of malloc'd names. */
int tu_list_dir(const char *dir, const char *suffix, char ***names);
void tu_free_list(char **names, int n);
/* `diff -u` of two files, labelled with the given names. */
char *tu_diff_files(const char *expected, const char *actual);

/* ----------------------------------------------------------- commands */

/* Runs `cmd` through /bin/sh inside `cwd` (NULL: the current dir). Returns
 * the exit status (or -1 if it did not exit normally); stdout and stderr
 * land in *out and *err when those are non-NULL. */
int tu_run(const char *cwd, const char *cmd, char **out, char **err);

/* ---------------------------------------------------------- the PRNG */

typedef struct {
    uint64_t s;
} TuRng;

/* The run's base seed: $ETCH_SEED when set, else from the clock and pid. */
uint64_t tu_seed(void);
void tu_rng_init(TuRng *r, uint64_t seed);
uint32_t tu_rng_u32(TuRng *r);
int tu_rng_int(TuRng *r, int lo, int hi);               /* lo..hi inclusive */
float tu_rng_float(TuRng *r, float lo, float hi);       /* [lo, hi) */
bool tu_rng_bool(TuRng *r);

/* How to fill one input of a differential case. */
typedef enum {
    TU_DATA_SIGNED = 0,  /* uniform in [-2, 2) */
    TU_DATA_POSITIVE,    /* uniform in [0.1, 3): for log, sqrt, variances */
    TU_DATA_AWAY,        /* +-[0.5, 2): divisors */
    TU_DATA_SMALL,       /* uniform in [-0.5, 0.5): exp of sums stays tame */
    TU_DATA_WIDE,        /* uniform in [-40, 40): softmax must subtract the max */
    TU_DATA_INT8,        /* integers uniform in [-128, 127] */
    TU_DATA_UINT8,       /* integers uniform in [0, 255] */
} TuData;

void tu_fill(TuRng *r, float *x, int64_t n, TuData kind);
/* Data of `kind` as graph-language list text "[a, b, ...]" for a const. */
void tu_str_data(TuStr *b, TuRng *r, int64_t n, TuData kind);

/* ------------------------------------------------------- comparisons */

double tu_max_abs(const float *a, int64_t n);
/* True when max|got - ref| <= rel * max(1, max|ref|); NaN anywhere fails.
 * *err gets the max abs error and *where its index (or the first NaN). */
bool tu_close(const float *got, const float *ref, int64_t n, double rel, double *err,
              int64_t *where);

/* ------------------------------------------- the differential check */

/* Runs graph text `text` (its graph name is the C prefix) with fresh data
 * from `r` (input i filled as kinds[i]; kinds may be NULL) through
 * interp_run (expected), the pipeline, loop_eval and the emitted C compiled
 * with $CC into a shared object under `workdir`, and compares every output
 * with tolerance `rel`. Returns true when all agree; else appends to
 * `report` what failed (stage, output, index, expected vs got, diagnostics)
 * and the graph text. */
bool tu_diff_graph(const char *text, TuRng *r, const TuData *kinds, double rel,
                   const char *workdir, TuStr *report);
/* The same with the LLVM backend (a host object at -O2, linked into a
 * shared object) in place of the emitted C: interpreter vs loop_eval vs LLVM. */
bool tu_diff_graph_llvm(const char *text, TuRng *r, const TuData *kinds, double rel,
                        const char *workdir, TuStr *report);
/* The same pipeline for the `generic` target (no vector unit), whose
 * lowerings differ (the dot forms of gemm and conv, the layout pass), run
 * through loop_eval and the emitted C. */
bool tu_diff_graph_scalar(const char *text, TuRng *r, const TuData *kinds, double rel,
                          const char *workdir, TuStr *report);
/* The same for any target's lowering (NULL: the host; "cortex-m4": its
 * dot4 forms), with the emitted C or (llvm) the LLVM backend, still built
 * for and run on the host: the runtime's portable helpers stand in for the
 * target's instructions. */
bool tu_diff_graph_target(const char *target, bool llvm, const char *text, TuRng *r, const TuData *kinds,
                          double rel, const char *workdir, TuStr *report);

/* The same with --math fast (the fast-math pass's exp and tanh), through
 * the C backend or (llvm) the LLVM backend, for the host. */
bool tu_diff_graph_fast(bool llvm, const char *text, TuRng *r, const TuData *kinds, double rel,
                        const char *workdir, TuStr *report);

/* Builds, loads and runs program p: the emitted C compiled with $CC, or
 * (llvm) the LLVM backend's host object linked into a shared object, in a
 * directory under workdir named after p. Inputs and outputs in entry
 * order; false with a message in *why on failure. */
bool tu_run_program(Ctx *c, const Program *p, const char *workdir, bool llvm,
                    const void *const *ins, void *const *outs, TuStr *why);

#endif /* ETCH_TESTUTIL_H */
