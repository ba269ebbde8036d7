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

/* -------------------------------------------------------------- runtime.c */

/* The runtime header's text, embedded at build time from runtime/. */
extern const char cg_runtime_header[];
bool cg_write_runtime(const char *dir);

#endif /* ETCH_CODEGEN_H */
