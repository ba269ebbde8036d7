/* verify.c: the Graph IR verifier, run after every pass in debug builds.
 *
 * It checks what every pass may assume: value and node ids in range,
 * producer links that agree both ways, nodes in topological order (a live
 * node reads only graph inputs, live constants, or outputs of earlier live
 * nodes), arities within the op table's bounds, constants with data, live
 * graph outputs, and types that equal a fresh inference. Fresh inference
 * runs on a scratch copy of the values, so the graph is never modified.
 * It reports every problem it finds (one diagnostic each, naming the node
 * or value), not just the first.
 */
#include "ir.h"

#include <string.h>

typedef struct {
    Ctx *c;
    const Graph *g;
    bool ok;
    char desc[160];
} Verifier;

static void fail(Verifier *v, Loc loc, const char *fmt, ...) IR_PRINTF(3, 4);

static void fail(Verifier *v, Loc loc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    diag_verror(v->c, loc, fmt, ap);
    va_end(ap);
    v->ok = false;
}

static bool value_in_range(const Graph *g, int id) { return id >= 0 && id < g->nvalues; }

static void check_values(Verifier *v)
{
    const Graph *g = v->g;
    for (int id = 0; id < g->nvalues; id++) {
        const Value *val = ir_value(g, id);
        const char *name = val->name ? val->name : "?";
        if (!val->name)
            fail(v, val->loc, "verify: value %d has no name", id);
        if (val->dead)
            continue;
        switch (val->kind) {
        case VK_INPUT:
        case VK_CONST:
            if (val->producer != -1)
                fail(v, val->loc, "verify: %s '%s' claims producer node %d",
                     val->kind == VK_INPUT ? "input" : "constant", name, val->producer);
            if (val->kind == VK_CONST && !val->data)
                fail(v, val->loc, "verify: constant '%s' has no data", name);
            break;
        case VK_NODE: {
            int p = val->producer;
            if (p < 0 || p >= g->nnodes) {
                fail(v, val->loc, "verify: value '%s' has producer %d, out of range [0, %d)", name,
                     p, g->nnodes);
                break;
            }
            const Node *n = ir_node(g, p);
            bool listed = false;
            for (int o = 0; o < n->nout; o++)
                listed |= n->out[o] == id;
            if (!listed)
                fail(v, val->loc, "verify: value '%s' names node %d as producer, which does not "
                     "output it", name, p);
            else if (n->dead)
                fail(v, val->loc, "verify: live value '%s' is produced by dead %s", name,
                     ir_node_desc(g, n, v->desc, sizeof v->desc));
            break;
        }
        default:
            fail(v, val->loc, "verify: value '%s' has an invalid kind %d", name, (int)val->kind);
        }
        if (val->type.dtype <= DT_NONE || val->type.dtype >= DT_COUNT || val->type.rank < 0 ||
            val->type.rank > IR_MAX_RANK)
            fail(v, val->loc, "verify: value '%s' has an invalid type", name);
        else
            for (int d = 0; d < val->type.rank; d++)
                if (val->type.dims[d] < 0)
                    fail(v, val->loc, "verify: value '%s' has negative dim %d", name, d);
    }
}

static void check_io(Verifier *v)
{
    const Graph *g = v->g;
    for (int i = 0; i < g->ninputs; i++) {
        int id = g->inputs[i];
        if (!value_in_range(g, id))
            fail(v, (Loc){0}, "verify: graph input %d is value %d, out of range [0, %d)", i, id,
                 g->nvalues);
        else if (ir_value(g, id)->kind != VK_INPUT)
            fail(v, ir_value(g, id)->loc, "verify: graph input %d ('%s') is not an input value",
                 i, ir_value(g, id)->name);
    }
    for (int i = 0; i < g->noutputs; i++) {
        int id = g->outputs[i];
        if (!value_in_range(g, id))
            fail(v, (Loc){0}, "verify: graph output %d is value %d, out of range [0, %d)", i, id,
                 g->nvalues);
        else if (ir_value(g, id)->dead)
            fail(v, ir_value(g, id)->loc, "verify: graph output '%s' is dead",
                 ir_value(g, id)->name);
    }
}

/* Structure of one live node; true when its ids are sound enough to run
 * its inference. defined[] marks values available before this node. */
static bool check_node(Verifier *v, int id, const bool *defined)
{
    const Graph *g = v->g;
    const Node *n = ir_node(g, id);
    if (n->op < 0 || n->op >= OP_COUNT) {
        fail(v, n->loc, "verify: node %d has an invalid op %d", id, n->op);
        return false;
    }
    const OpInfo *info = op_info(n->op);
    bool sound = true;
    /* Name the node only once its first output id is known to be valid. */
    if (n->nout < 1 || !n->out || !value_in_range(g, n->out[0]))
        snprintf(v->desc, sizeof v->desc, "node %d (%s)", id, info->name);
    else
        ir_node_desc(g, n, v->desc, sizeof v->desc);
    const char *d = v->desc;

    if (n->nin < info->in_min || (info->in_max >= 0 && n->nin > info->in_max)) {
        fail(v, n->loc, "verify: %s has %d inputs; %s takes %d to %d", d, n->nin, info->name,
             info->in_min, info->in_max);
        sound = false;
    }
    if ((info->nout >= 0 && n->nout != info->nout) || n->nout < 1) {
        fail(v, n->loc, "verify: %s has %d outputs; %s has %d", d, n->nout, info->name,
             info->nout);
        return false;
    }
    for (int i = 0; i < n->nin; i++) {
        int in = n->in[i];
        if (in == -1 && i >= info->in_min)
            continue;
        if (!value_in_range(g, in)) {
            fail(v, n->loc, "verify: %s: input %d is value %d, out of range [0, %d)", d, i, in,
                 g->nvalues);
            sound = false;
            continue;
        }
        const Value *val = ir_value(g, in);
        if (val->dead) {
            fail(v, n->loc, "verify: %s: input %d reads dead value '%s'", d, i, val->name);
            sound = false;
        } else if (!defined[in]) {
            fail(v, n->loc, "verify: %s: input %d reads '%s' before it is defined (not in "
                 "topological order)", d, i, val->name);
            sound = false;
        }
    }
    for (int o = 0; o < n->nout; o++) {
        int out = n->out[o];
        if (!value_in_range(g, out)) {
            fail(v, n->loc, "verify: %s: output %d is value %d, out of range [0, %d)", d, o, out,
                 g->nvalues);
            sound = false;
            continue;
        }
        const Value *val = ir_value(g, out);
        if (val->kind != VK_NODE || val->producer != id) {
            fail(v, n->loc, "verify: %s: output %d ('%s') does not name node %d as its producer",
                 d, o, val->name, id);
            sound = false;
        }
        if (val->dead) {
            fail(v, n->loc, "verify: live %s has dead output '%s'", d, val->name);
            sound = false;
        }
    }
    return sound;
}

/* Re-infers node id's output types on the scratch values and compares. */
static void check_types(Verifier *v, Graph *scratch, int id)
{
    const Graph *g = v->g;
    const Node *n = ir_node(g, id);
    Node copy = *n;
    int errors = v->c->nerrors;
    bool inferred = op_info(n->op)->infer(v->c, scratch, &copy);
    char d[160];
    ir_node_desc(g, n, d, sizeof d);
    if (!inferred) {
        if (v->c->nerrors == errors)
            fail(v, n->loc, "verify: %s: inference fails on its own inputs", d);
        else
            fail(v, n->loc, "verify: %s: inference rejects the node (see above)", d);
    } else {
        for (int o = 0; o < n->nout; o++) {
            const Type *have = ir_out_type(g, n, o), *want = ir_out_type(scratch, n, o);
            if (!type_equal(have, want)) {
                char th[256], tw[256];
                fail(v, n->loc, "verify: %s: output %d ('%s') has type %s, but inference gives %s",
                     d, o, ir_value(g, n->out[o])->name, type_str(have, th, sizeof th),
                     type_str(want, tw, sizeof tw));
            }
        }
    }
    /* Later nodes must see the graph's own types, not the re-inferred ones. */
    for (int o = 0; o < n->nout; o++)
        scratch->values[n->out[o]] = g->values[n->out[o]];
}

bool ir_verify(Ctx *c, const Graph *g)
{
    Verifier v = {.c = c, .g = g, .ok = true};
    check_values(&v);
    check_io(&v);

    size_t nv = (size_t)(g->nvalues ? g->nvalues : 1);
    bool *defined = arena_alloc(c->arena, nv * sizeof *defined);
    for (int id = 0; id < g->nvalues; id++) {
        const Value *val = ir_value(g, id);
        defined[id] = !val->dead && (val->kind == VK_INPUT || val->kind == VK_CONST);
    }
    Graph scratch = *g;
    scratch.values = arena_alloc(c->arena, nv * sizeof *g->values);
    if (g->nvalues)
        memcpy(scratch.values, g->values, (size_t)g->nvalues * sizeof *g->values);

    for (int id = 0; id < g->nnodes; id++) {
        const Node *n = ir_node(g, id);
        if (n->dead)
            continue;
        if (check_node(&v, id, defined))
            check_types(&v, &scratch, id);
        for (int o = 0; o < n->nout; o++)
            if (value_in_range(g, n->out[o]))
                defined[n->out[o]] = true;
    }
    return v.ok;
}
