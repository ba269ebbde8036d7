/* ops.c: the op table (expanded from ops.def) and its attribute specs.
 *
 * Attribute specs are written as compact strings in ops.def and parsed once,
 * on first use, into AttrSpec arrays that live for the whole process.
 */
#include "ir.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static OpInfo table[OP_COUNT] = {
#define OP(id, nm, imin, imax, no, at, inf, rf, lw) \
    [OP_##id] = {.name = nm, .in_min = imin, .in_max = imax, .nout = no, \
                 .attr_spec = at, .infer = inf, .ref = rf, .lower = lw},
#define EW(id, nm, imin, imax, at, inf, rf, ex) \
    [OP_##id] = {.name = nm, .in_min = imin, .in_max = imax, .nout = 1, \
                 .attr_spec = at, .infer = inf, .ref = rf, .lower = lower_eltwise, .expr = ex},
#include "ops.def"
#undef OP
#undef EW
};

static Arena *spec_arena;

static AttrType parse_attr_type(const char *s, size_t n)
{
    static const struct { const char *name; AttrType t; } types[] = {
        {"int", AT_INT}, {"float", AT_FLOAT}, {"ints", AT_INTS},
        {"floats", AT_FLOATS}, {"str", AT_STR},
    };
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (strlen(types[i].name) == n && strncmp(types[i].name, s, n) == 0)
            return types[i].t;
    unreachable("bad attribute type in ops.def");
}

/* Parses one default literal of the spec's type; `s` spans [s, end). */
static void parse_default(Attr *a, const char *s, const char *end)
{
    char *text = arena_strndup(spec_arena, s, (size_t)(end - s));
    switch (a->type) {
    case AT_INT: a->i = strtoll(text, NULL, 10); break;
    case AT_FLOAT: a->f = strtod(text, NULL); break;
    case AT_STR: a->s = text; break;
    case AT_INTS:
    case AT_FLOATS: {
        if (text[0] != '[')
            unreachable("list default in ops.def must be bracketed");
        /* Count, then parse, comma-separated numbers inside the brackets. */
        int n = 0;
        for (char *p = text + 1; *p && *p != ']'; p++)
            if (*p != ' ' && (p == text + 1 || p[-1] == ','))
                n++;
        a->n = n;
        a->ints = arena_alloc(spec_arena, (size_t)(n ? n : 1) * sizeof *a->ints);
        a->floats = arena_alloc(spec_arena, (size_t)(n ? n : 1) * sizeof *a->floats);
        char *p = text + 1;
        for (int i = 0; i < n; i++) {
            a->floats[i] = strtod(p, &p);
            a->ints[i] = (int64_t)a->floats[i];
            while (*p == ',' || *p == ' ')
                p++;
        }
        if (a->type == AT_INTS)
            a->floats = NULL;
        else
            a->ints = NULL;
        break;
    }
    case AT_NONE: unreachable("attribute without a type");
    }
}

static void parse_spec(OpInfo *info)
{
    const char *s = info->attr_spec;
    int count = 0;
    for (const char *p = s; *p; p++)
        if (*p == ':')
            count++;
    info->attrs = arena_alloc(spec_arena, (size_t)(count ? count : 1) * sizeof *info->attrs);
    info->nattrs = count;
    for (int i = 0; i < count; i++) {
        while (*s == ' ')
            s++;
        const char *colon = strchr(s, ':');
        const char *end = strchr(s, ' ');
        if (!end)
            end = s + strlen(s);
        const char *eq = memchr(s, '=', (size_t)(end - s));
        AttrSpec *a = &info->attrs[i];
        a->name = arena_strndup(spec_arena, s, (size_t)(colon - s));
        a->type = parse_attr_type(colon + 1, (size_t)((eq ? eq : end) - colon - 1));
        a->def.type = a->type;
        a->required = !eq;
        if (eq)
            parse_default(&a->def, eq + 1, end);
        s = end;
    }
}

static void init_table(void)
{
    if (spec_arena)
        return;
    spec_arena = arena_new();
    for (int op = 0; op < OP_COUNT; op++)
        parse_spec(&table[op]);
}

const OpInfo *op_info(int op)
{
    init_table();
    if (op < 0 || op >= OP_COUNT)
        unreachable("op out of range");
    return &table[op];
}

int op_by_name(const char *name)
{
    for (int op = 0; op < OP_COUNT; op++)
        if (strcmp(table[op].name, name) == 0)
            return op;
    return -1;
}

const char *op_names_list(Arena *a)
{
    size_t len = 0;
    for (int op = 0; op < OP_COUNT; op++)
        len += strlen(table[op].name) + 2;
    char *s = arena_alloc(a, len + 1), *p = s;
    for (int op = 0; op < OP_COUNT; op++)
        p += sprintf(p, "%s%s", op ? ", " : "", table[op].name);
    return s;
}

/* Levenshtein distance, capped: names are short, so a row fits on the stack. */
static int edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63)
        return 64;
    int row[64];
    for (size_t j = 0; j <= lb; j++)
        row[j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        int diag = row[0];
        row[0] = (int)i;
        for (size_t j = 1; j <= lb; j++) {
            int up = row[j];
            int best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

const char *op_closest_name(const char *name)
{
    const char *best = NULL;
    int best_d = 3; /* further than two edits is not a typo */
    for (int op = 0; op < OP_COUNT; op++) {
        int d = edit_distance(name, table[op].name);
        if (d < best_d) {
            best_d = d;
            best = table[op].name;
        }
    }
    return best;
}

int op_attr_index(int op, const char *name)
{
    const OpInfo *info = op_info(op);
    for (int i = 0; i < info->nattrs; i++)
        if (strcmp(info->attrs[i].name, name) == 0)
            return i;
    return -1;
}
