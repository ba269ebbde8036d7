/* writer.c: the small text writer every backend prints through.
 *
 * out_line writes one whole line: the current indentation (four spaces per
 * level), the formatted text, then a newline, so emitters never track
 * column state. out_raw writes text as is, for pieces of a line built up
 * in several calls and for pre-indented blocks.
 */
#include "codegen.h"

#include <string.h>

static void write_indent(Writer *w)
{
    for (int i = 0; i < w->indent; i++)
        fputs("    ", w->f);
}

/* vfprintf, but the emitters' commonest formats (plain text and a lone
 * "%s": most of a megabyte of kernel code) skip printf's parsing. */
static void write_fmt(Writer *w, const char *fmt, va_list ap)
{
    if (strchr(fmt, '%') == NULL)
        fputs(fmt, w->f);
    else if (strcmp(fmt, "%s") == 0)
        fputs(va_arg(ap, const char *), w->f);
    else
        vfprintf(w->f, fmt, ap);
}

void out_line(Writer *w, const char *fmt, ...)
{
    va_list ap;
    /* An empty line carries no trailing indentation. */
    if (fmt[0] != '\0')
        write_indent(w);
    va_start(ap, fmt);
    write_fmt(w, fmt, ap);
    va_end(ap);
    fputc('\n', w->f);
}

void out_raw(Writer *w, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    write_fmt(w, fmt, ap);
    va_end(ap);
}
