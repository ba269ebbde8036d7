/* graph.c: building Graph IR.
 *
 * Values and nodes live in arena vectors and are referred to by index, so
 * ids are stable across passes (dead entries are flagged, never removed).
 * Value names are unique within a graph. ir_finish_node is the one place
 * a node is checked (arity, attributes, input types) as it is built.
 */
#include "ir.h"

#include <string.h>

Graph *ir_new_graph(Arena *a, const char *name)
{
    Graph *g = arena_alloc(a, sizeof *g);
    g->arena = a;
    g->name = arena_strdup(a, name);
    return g;
}

int ir_find_value(const Graph *g, const char *name)
{
    for (int i = 0; i < g->nvalues; i++)
        if (!g->values[i].dead && strcmp(g->values[i].name, name) == 0)
            return i;
    return -1;
}

const char *ir_fresh_name(Graph *g)
{
    for (int n = g->nvalues;; n++) {
        char buf[32];
        snprintf(buf, sizeof buf, "t%d", n);
        if (ir_find_value(g, buf) < 0)
            return arena_strdup(g->arena, buf);
    }
}

static int new_value(Ctx *c, Graph *g, const char *name, ValueKind kind, Loc loc)
{
    if (name) {
        int prev = ir_find_value(g, name);
        if (prev >= 0) {
            diag_error(c, loc, "'%s' is already defined", name);
            if (g->values[prev].loc.file)
                diag_note(c, g->values[prev].loc, "'%s' was defined here", name);
            return -1;
        }
    }
    /* Name first: ir_fresh_name scans the values, so the new one must not
     * be in the vector yet. */
    const char *vname = name ? arena_strdup(g->arena, name) : ir_fresh_name(g);
    int id = g->nvalues;
    Value *v = &VEC_PUSH(g->arena, g->values, g->nvalues, g->capvalues);
    memset(v, 0, sizeof *v);
    v->name = vname;
    v->kind = kind;
    v->producer = -1;
    v->loc = loc;
    return id;
}

int ir_add_input(Ctx *c, Graph *g, const char *name, Type t, Loc loc)
{
    int id = new_value(c, g, name, VK_INPUT, loc);
    if (id < 0)
        return -1;
    g->values[id].type = t;
    VEC_PUSH(g->arena, g->inputs, g->ninputs, g->capinputs) = id;
    return id;
}

int ir_add_const(Ctx *c, Graph *g, const char *name, Type t, void *data, Loc loc)
{
    int id = new_value(c, g, name, VK_CONST, loc);
    if (id < 0)
        return -1;
    g->values[id].type = t;
    g->values[id].data = data;
    return id;
}

bool ir_add_output(Ctx *c, Graph *g, int value, Loc loc)
{
    for (int i = 0; i < g->noutputs; i++)
        if (g->outputs[i] == value) {
            diag_error(c, loc, "'%s' is already an output", g->values[value].name);
            return false;
        }
    VEC_PUSH(g->arena, g->outputs, g->noutputs, g->capoutputs) = value;
    return true;
}

bool ir_rename_value(Ctx *c, Graph *g, int value, const char *name, Loc loc)
{
    int prev = ir_find_value(g, name);
    if (prev == value)
        return true;
    if (prev >= 0) {
        diag_error(c, loc, "'%s' is already defined", name);
        if (g->values[prev].loc.file)
            diag_note(c, g->values[prev].loc, "'%s' was defined here", name);
        return false;
    }
    g->values[value].name = arena_strdup(g->arena, name);
    g->values[value].loc = loc;
    return true;
}

int ir_new_node(Ctx *c, Graph *g, int op, const int *in, int nin, int nout, Loc loc)
{
    const OpInfo *info = op_info(op);
    int id = g->nnodes;
    Node *n = &VEC_PUSH(g->arena, g->nodes, g->nnodes, g->capnodes);
    memset(n, 0, sizeof *n);
    n->op = op;
    n->loc = loc;
    n->nin = nin;
    n->in = arena_memdup(g->arena, in, (size_t)nin * sizeof *in);
    n->nout = nout;
    n->out = arena_alloc(g->arena, (size_t)(nout ? nout : 1) * sizeof *n->out);
    n->attrs = arena_alloc(g->arena, (size_t)(info->nattrs ? info->nattrs : 1) * sizeof *n->attrs);
    for (int i = 0; i < info->nattrs; i++) {
        n->attrs[i] = info->attrs[i].def;
        n->attrs[i].set = false;
    }
    for (int i = 0; i < nout; i++) {
        int v = new_value(c, g, NULL, VK_NODE, loc);
        g->values[v].producer = id;
        g->nodes[id].out[i] = v;
    }
    return id;
}

void ir_change_op(Graph *g, int node, int op)
{
    Node *n = &g->nodes[node];
    const OpInfo *from = op_info(n->op), *to = op_info(op);
    Attr *attrs = arena_alloc(g->arena, (size_t)(to->nattrs ? to->nattrs : 1) * sizeof *attrs);
    for (int i = 0; i < to->nattrs; i++) {
        attrs[i] = to->attrs[i].def;
        attrs[i].set = false;
        for (int j = 0; j < from->nattrs; j++)
            if (n->attrs[j].set && strcmp(from->attrs[j].name, to->attrs[i].name) == 0 &&
                from->attrs[j].type == to->attrs[i].type)
                attrs[i] = n->attrs[j];
    }
    n->op = op;
    n->attrs = attrs;
}

const char *ir_node_desc(const Graph *g, const Node *n, char *buf, size_t size)
{
    const char *name = n->nout > 0 ? g->values[n->out[0]].name : "?";
    snprintf(buf, size, "node '%s' (%s)", name, op_info(n->op)->name);
    return buf;
}

bool ir_finish_node(Ctx *c, Graph *g, int node)
{
    Node *n = &g->nodes[node];
    const OpInfo *info = op_info(n->op);
    char desc[160];
    ir_node_desc(g, n, desc, sizeof desc);
    if (n->nin < info->in_min || (info->in_max >= 0 && n->nin > info->in_max)) {
        if (info->in_max < 0)
            diag_error(c, n->loc, "%s takes at least %d input%s, got %d", info->name,
                       info->in_min, info->in_min == 1 ? "" : "s", n->nin);
        else if (info->in_min == info->in_max)
            diag_error(c, n->loc, "%s takes %d input%s, got %d", info->name, info->in_min,
                       info->in_min == 1 ? "" : "s", n->nin);
        else
            diag_error(c, n->loc, "%s takes %d to %d inputs, got %d", info->name, info->in_min,
                       info->in_max, n->nin);
        return false;
    }
    if (info->nout >= 0 && n->nout != info->nout) {
        diag_error(c, n->loc, "%s has %d output%s, but %d %s named", info->name, info->nout,
                   info->nout == 1 ? "" : "s", n->nout, n->nout == 1 ? "is" : "are");
        return false;
    }
    for (int i = 0; i < n->nin; i++) {
        if (n->in[i] < 0) {
            if (i < info->in_min) {
                diag_error(c, n->loc, "%s: input %d is required", desc, i);
                return false;
            }
            continue;
        }
        if (n->in[i] >= g->nvalues || g->values[n->in[i]].dead) {
            diag_error(c, n->loc, "%s: input %d is not a live value", desc, i);
            return false;
        }
    }
    for (int i = 0; i < info->nattrs; i++)
        if (info->attrs[i].required && !n->attrs[i].set) {
            diag_error(c, n->loc, "%s: attribute '%s' is required", desc, info->attrs[i].name);
            return false;
        }
    return info->infer(c, g, n);
}

static const char *attr_type_name(AttrType t)
{
    switch (t) {
    case AT_INT: return "an int";
    case AT_FLOAT: return "a float";
    case AT_INTS: return "a list of ints";
    case AT_FLOATS: return "a list of floats";
    case AT_STR: return "a string";
    case AT_NONE: break;
    }
    return "nothing";
}

bool ir_set_attr(Ctx *c, Graph *g, int node, const char *name, const Attr *v, Loc loc)
{
    Node *n = &g->nodes[node];
    const OpInfo *info = op_info(n->op);
    int i = op_attr_index(n->op, name);
    if (i < 0) {
        char list[512] = "";
        size_t len = 0;
        for (int j = 0; j < info->nattrs && len < sizeof list; j++)
            len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", j ? ", " : "",
                                    info->attrs[j].name);
        if (info->nattrs)
            diag_error(c, loc, "%s has no attribute '%s' (it has: %s)", info->name, name, list);
        else
            diag_error(c, loc, "%s has no attribute '%s' (it takes none)", info->name, name);
        return false;
    }
    AttrType want = info->attrs[i].type;
    Attr a = *v;
    if (want == AT_FLOAT && a.type == AT_INT) {
        a.type = AT_FLOAT;
        a.f = (double)a.i;
    } else if (want == AT_FLOATS && a.type == AT_INTS) {
        a.type = AT_FLOATS;
        a.floats = arena_alloc(g->arena, (size_t)(a.n ? a.n : 1) * sizeof *a.floats);
        for (int j = 0; j < a.n; j++)
            a.floats[j] = (double)v->ints[j];
    } else if (want == AT_INTS && a.type == AT_FLOATS && a.n == 0) {
        a.type = AT_INTS;
    }
    if (a.type != want) {
        diag_error(c, loc, "attribute '%s' of %s must be %s, not %s", name, info->name,
                   attr_type_name(want), attr_type_name(v->type));
        return false;
    }
    a.set = true;
    n->attrs[i] = a;
    return true;
}

static const Attr *get_attr(const Node *n, const char *name, AttrType t)
{
    int i = op_attr_index(n->op, name);
    if (i < 0 || n->attrs[i].type != t)
        unreachable("attribute not in the op table with that type");
    return &n->attrs[i];
}

int64_t ir_attr_int(const Node *n, const char *name) { return get_attr(n, name, AT_INT)->i; }
double ir_attr_float(const Node *n, const char *name) { return get_attr(n, name, AT_FLOAT)->f; }
const char *ir_attr_str(const Node *n, const char *name) { return get_attr(n, name, AT_STR)->s; }

const int64_t *ir_attr_ints(const Node *n, const char *name, int *count)
{
    const Attr *a = get_attr(n, name, AT_INTS);
    *count = a->n;
    return a->ints;
}

const double *ir_attr_floats(const Node *n, const char *name, int *count)
{
    const Attr *a = get_attr(n, name, AT_FLOATS);
    *count = a->n;
    return a->floats;
}

bool ir_attr_is_set(const Node *n, const char *name)
{
    int i = op_attr_index(n->op, name);
    if (i < 0)
        unreachable("attribute not in the op table");
    return n->attrs[i].set;
}
