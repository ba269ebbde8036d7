/* diag.c: the compilation context and user-facing diagnostics.
 *
 * Errors print `file:line:col: error: message`, then the source line and a
 * caret under the column, when the source text was registered. Locations
 * with line 0 name an ONNX node (or a file) instead of a position.
 */
#include "ir.h"

#include <stdlib.h>
#include <string.h>

Ctx *ctx_new(void)
{
    Arena *a = arena_new();
    Ctx *c = arena_alloc(a, sizeof *c);
    c->arena = a;
    c->err = stderr;
#ifndef NDEBUG
    c->verify = true;
#endif
    return c;
}

void ctx_free(Ctx *c)
{
    if (c)
        arena_free(c->arena);
}

void ctx_add_source(Ctx *c, const char *path, const char *text, size_t len)
{
    Source *s = arena_alloc(c->arena, sizeof *s);
    s->path = arena_strdup(c->arena, path);
    s->text = text;
    s->len = len;
    s->next = c->sources;
    c->sources = s;
}

static const Source *find_source(const Ctx *c, const char *path)
{
    for (const Source *s = c->sources; s; s = s->next)
        if (path && strcmp(s->path, path) == 0)
            return s;
    return NULL;
}

static void print_caret(Ctx *c, Loc loc)
{
    const Source *s = find_source(c, loc.file);
    if (!s || loc.line <= 0)
        return;
    const char *p = s->text, *end = s->text + s->len;
    for (int line = 1; line < loc.line && p < end; p++)
        if (*p == '\n')
            line++;
    const char *eol = p;
    while (eol < end && *eol != '\n')
        eol++;
    fprintf(c->err, "%.*s\n", (int)(eol - p), p);
    /* Tabs in the line keep their width under the caret. */
    for (int i = 1; i < loc.col && p + i - 1 < eol; i++)
        fputc(p[i - 1] == '\t' ? '\t' : ' ', c->err);
    fputs("^\n", c->err);
}

static void report(Ctx *c, Loc loc, const char *kind, const char *fmt, va_list ap)
{
    if (loc.file && loc.line > 0)
        fprintf(c->err, "%s:%d:%d: %s: ", loc.file, loc.line, loc.col, kind);
    else if (loc.file)
        fprintf(c->err, "%s: %s: ", loc.file, kind);
    else
        fprintf(c->err, "etch: %s: ", kind);
    vfprintf(c->err, fmt, ap);
    fputc('\n', c->err);
    print_caret(c, loc);
}

void diag_verror(Ctx *c, Loc loc, const char *fmt, va_list ap)
{
    c->nerrors++;
    report(c, loc, "error", fmt, ap);
}

void diag_error(Ctx *c, Loc loc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    diag_verror(c, loc, fmt, ap);
    va_end(ap);
}

void diag_note(Ctx *c, Loc loc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    report(c, loc, "note", fmt, ap);
    va_end(ap);
}

void ir_unreachable_at(const char *file, int line, const char *msg)
{
    fprintf(stderr, "etch: internal error at %s:%d: %s\n", file, line, msg);
    abort();
}
