/* print.c: printing Graph IR as the graph language, and as Graphviz DOT.
 *
 * ir_print_graph's output is a program: it parses back to the same graph
 * and prints again byte for byte (dump -> parse -> dump). For that:
 * inputs come first, then live consts in value-id order, then live nodes
 * in order, one op per line, every output with its type; attributes are
 * printed only when set explicitly, in op-table order; floats print in
 * the shortest form that reads back to the same bits (f32 data: %.6g to
 * %.9g; attributes, which are doubles: %.15g to %.17g), and inf/nan as
 * the keywords the parser reads. Deterministic: no addresses, no maps.
 */
#include "ir.h"

#include <math.h>
#include <stdlib.h>

/* ------------------------------------------------------------ numbers */

static void print_f32(FILE *f, float v)
{
    if (isnan(v)) {
        fputs("nan", f);
        return;
    }
    if (isinf(v)) {
        fputs(v < 0 ? "-inf" : "inf", f);
        return;
    }
    char buf[32];
    for (int p = 6; p <= 9; p++) {
        snprintf(buf, sizeof buf, "%.*g", p, (double)v);
        if ((float)strtod(buf, NULL) == v)
            break;
    }
    fputs(buf, f);
}

static void print_f64(FILE *f, double v)
{
    if (isnan(v)) {
        fputs("nan", f);
        return;
    }
    if (isinf(v)) {
        fputs(v < 0 ? "-inf" : "inf", f);
        return;
    }
    char buf[40];
    for (int p = 15; p <= 17; p++) {
        snprintf(buf, sizeof buf, "%.*g", p, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    fputs(buf, f);
}

static void print_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        switch (*s) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\n': fputs("\\n", f); break;
        case '\t': fputs("\\t", f); break;
        default: fputc(*s, f);
        }
    }
    fputc('"', f);
}

static void print_attr(FILE *f, const Attr *a)
{
    switch (a->type) {
    case AT_INT: fprintf(f, "%lld", (long long)a->i); break;
    case AT_FLOAT: print_f64(f, a->f); break;
    case AT_STR: print_string(f, a->s); break;
    case AT_INTS:
    case AT_FLOATS:
        fputc('[', f);
        for (int i = 0; i < a->n; i++) {
            if (i)
                fputs(", ", f);
            if (a->type == AT_INTS)
                fprintf(f, "%lld", (long long)a->ints[i]);
            else
                print_f64(f, a->floats[i]);
        }
        fputc(']', f);
        break;
    case AT_NONE: unreachable("attribute without a type");
    }
}

/* -------------------------------------------------------------- types */

static void print_quant(FILE *f, const Quant *q)
{
    fputs(" {scale = ", f);
    if (q->axis < 0) {
        print_f32(f, q->scale[0]);
    } else {
        fputc('[', f);
        for (int i = 0; i < q->n; i++) {
            if (i)
                fputs(", ", f);
            print_f32(f, q->scale[i]);
        }
        fputc(']', f);
    }
    fputs(", zero = ", f);
    if (q->nzero == 1) {
        fprintf(f, "%d", (int)q->zero[0]);
    } else {
        fputc('[', f);
        for (int i = 0; i < q->nzero; i++)
            fprintf(f, "%s%d", i ? ", " : "", (int)q->zero[i]);
        fputc(']', f);
    }
    if (q->axis >= 0)
        fprintf(f, ", axis = %d", q->axis);
    fputc('}', f);
}

static void print_type(FILE *f, const Type *t)
{
    char buf[256];
    fputs(type_str(t, buf, sizeof buf), f);
    if (t->quant)
        print_quant(f, t->quant);
}

static void print_const_data(FILE *f, const Value *v)
{
    if (v->npy) {
        fputs("npy(", f);
        print_string(f, v->npy);
        fputc(')', f);
        return;
    }
    if (!v->data)
        unreachable("const without data");
    int64_t n = type_numel(&v->type);
    fputc('[', f);
    for (int64_t i = 0; i < n; i++) {
        if (i)
            fputs(", ", f);
        switch (v->type.dtype) {
        case DT_F32: print_f32(f, ((const float *)v->data)[i]); break;
        case DT_I8: fprintf(f, "%d", ((const int8_t *)v->data)[i]); break;
        case DT_U8: case DT_BOOL: fprintf(f, "%u", ((const uint8_t *)v->data)[i]); break;
        case DT_I16: fprintf(f, "%d", ((const int16_t *)v->data)[i]); break;
        case DT_I32: fprintf(f, "%ld", (long)((const int32_t *)v->data)[i]); break;
        case DT_I64: fprintf(f, "%lld", (long long)((const int64_t *)v->data)[i]); break;
        default: unreachable("const of an unprintable dtype");
        }
    }
    fputc(']', f);
}

/* -------------------------------------------------------------- graph */

static void print_node(FILE *f, const Graph *g, const Node *n)
{
    const OpInfo *info = op_info(n->op);
    fputs("  ", f);
    for (int i = 0; i < n->nout; i++) {
        const Value *v = ir_value(g, n->out[i]);
        fprintf(f, "%s%s : ", i ? ", " : "", v->name);
        print_type(f, &v->type);
    }
    fprintf(f, " = %s(", info->name);
    bool first = true;
    for (int i = 0; i < n->nin; i++, first = false)
        fprintf(f, "%s%s", first ? "" : ", ", n->in[i] < 0 ? "_" : ir_value(g, n->in[i])->name);
    for (int i = 0; i < info->nattrs; i++) {
        if (!n->attrs[i].set)
            continue;
        fprintf(f, "%s%s = ", first ? "" : ", ", info->attrs[i].name);
        print_attr(f, &n->attrs[i]);
        first = false;
    }
    fputs(")\n", f);
}

void ir_print_graph(FILE *f, const Graph *g)
{
    fprintf(f, "graph %s {\n", g->name);
    for (int i = 0; i < g->ninputs; i++) {
        const Value *v = ir_value(g, g->inputs[i]);
        fprintf(f, "  input %s : ", v->name);
        print_type(f, &v->type);
        fputc('\n', f);
    }
    for (int i = 0; i < g->nvalues; i++) {
        const Value *v = ir_value(g, i);
        if (v->kind != VK_CONST || v->dead)
            continue;
        fprintf(f, "  const %s : ", v->name);
        print_type(f, &v->type);
        fputs(" = ", f);
        print_const_data(f, v);
        fputc('\n', f);
    }
    for (int i = 0; i < g->nnodes; i++)
        if (!ir_node(g, i)->dead)
            print_node(f, g, ir_node(g, i));
    if (g->noutputs) {
        fputs("  output ", f);
        for (int i = 0; i < g->noutputs; i++)
            fprintf(f, "%s%s", i ? ", " : "", ir_value(g, g->outputs[i])->name);
        fputc('\n', f);
    }
    fputs("}\n", f);
}

/* ---------------------------------------------------------------- dot */

/* A DOT string body: quotes and backslashes escaped. */
static void dot_escaped(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fputc('\\', f);
        fputc(*s, f);
    }
}

/* The DOT node a value comes from: its producer, or the value itself. */
static void dot_source(FILE *f, const Value *v, int id)
{
    if (v->kind == VK_NODE)
        fprintf(f, "n%d", v->producer);
    else
        fprintf(f, "v%d", id);
}

static void dot_edge_label(FILE *f, const Type *t)
{
    char buf[256];
    fputs(" [label=\"", f);
    dot_escaped(f, type_str(t, buf, sizeof buf));
    fputs("\"];\n", f);
}

void ir_print_dot(FILE *f, const Graph *g)
{
    fputs("digraph \"", f);
    dot_escaped(f, g->name);
    fputs("\" {\n  rankdir=TB;\n  node [fontname=\"Helvetica\", fontsize=10];\n"
          "  edge [fontname=\"Helvetica\", fontsize=9];\n", f);
    for (int i = 0; i < g->nvalues; i++) {
        const Value *v = ir_value(g, i);
        if (v->dead || v->kind == VK_NODE)
            continue;
        char buf[256];
        fprintf(f, "  v%d [shape=%s, label=\"", i, v->kind == VK_INPUT ? "invhouse" : "cylinder");
        dot_escaped(f, v->name);
        fprintf(f, "\\n%s ", v->kind == VK_INPUT ? "input" : "const");
        dot_escaped(f, type_str(&v->type, buf, sizeof buf));
        fputs("\"];\n", f);
    }
    for (int i = 0; i < g->nnodes; i++) {
        const Node *n = ir_node(g, i);
        if (n->dead)
            continue;
        fprintf(f, "  n%d [shape=box, style=rounded, label=\"%s\\n", i, op_info(n->op)->name);
        for (int j = 0; j < n->nout; j++) {
            if (j)
                fputs(", ", f);
            dot_escaped(f, ir_value(g, n->out[j])->name);
        }
        fputs("\"];\n", f);
        for (int j = 0; j < n->nin; j++) {
            if (n->in[j] < 0)
                continue;
            const Value *v = ir_value(g, n->in[j]);
            fputs("  ", f);
            dot_source(f, v, n->in[j]);
            fprintf(f, " -> n%d", i);
            dot_edge_label(f, &v->type);
        }
    }
    for (int i = 0; i < g->noutputs; i++) {
        const Value *v = ir_value(g, g->outputs[i]);
        fprintf(f, "  o%d [shape=house, label=\"output ", i);
        dot_escaped(f, v->name);
        fputs("\"];\n  ", f);
        dot_source(f, v, g->outputs[i]);
        fprintf(f, " -> o%d", i);
        dot_edge_label(f, &v->type);
    }
    fputs("}\n", f);
}
