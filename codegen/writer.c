/* writer.c: the small text writer every backend prints through.
 *
 * out_line writes one whole line: the current indentation (four spaces per
 * level), the formatted text, then a newline, so emitters never track
 * column state. out_raw writes text as is, for pieces of a line built up
 * in several calls and for pre-indented blocks.
 */
#include "codegen.h"

static void write_indent(Writer *w)
{
    for (int i = 0; i < w->indent; i++)
        fputs("    ", w->f);
}

void out_line(Writer *w, const char *fmt, ...)
{
    va_list ap;
    /* An empty line carries no trailing indentation. */
    if (fmt[0] != '\0')
        write_indent(w);
    va_start(ap, fmt);
    vfprintf(w->f, fmt, ap);
    va_end(ap);
    fputc('\n', w->f);
}

void out_raw(Writer *w, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfprintf(w->f, fmt, ap);
    va_end(ap);
}
