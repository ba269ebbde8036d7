/* fold_transpose.c: the `fold-transposes` pass, data movement that does
 * nothing or can be done at once.
 *
 *   - transpose(transpose(x, p), q) becomes transpose(x, r) with
 *     r[d] = p[q[d]] (one pass over memory instead of two; the inner one
 *     stays while other nodes read it);
 *   - a transpose whose perm is the identity is dropped, and one that only
 *     moves dims of size 1 (e.g. [1, 8, 32] -> [8, 1, 32]) keeps the bytes
 *     in order, so it becomes a reshape;
 *   - a reshape, flatten, squeeze or unsqueeze of another one becomes a
 *     single reshape of the first one's input to the final shape;
 *   - a reshape-like op or identity whose output type equals its input's
 *     is dropped, its readers reading the input.
 * Reshape, flatten, squeeze and unsqueeze cost nothing once lowered: the
 * output is a view of the input's buffer (lower_copy), except when the
 * output is a graph output. A node whose output is a graph output is never
 * dropped (the output keeps its own buffer). Quantized values are left
 * alone (a per-axis scale would need its axis remapped). Invariant: the
 * graph computes the same values, bit for bit.
 */
#include "passes.h"

#include <string.h>

static bool reshape_like(int op)
{
    return op == OP_RESHAPE || op == OP_FLATTEN || op == OP_SQUEEZE || op == OP_UNSQUEEZE;
}

/* The transpose's perm with the empty default (reverse) made explicit. */
static void perm_of(const Graph *g, const Node *n, int64_t *perm)
{
    int count;
    const int64_t *p = ir_attr_ints(n, "perm", &count);
    int rank = ir_in_type(g, n, 0)->rank;
    for (int d = 0; d < rank; d++)
        perm[d] = count ? p[d] : rank - 1 - d;
}

/* Turns node id into `op` with the op table's default attributes. */
static void retype(Graph *g, int id, int op)
{
    Node *n = &g->nodes[id];
    const OpInfo *info = op_info(op);
    n->op = op;
    n->attrs = arena_alloc(g->arena, (size_t)(info->nattrs ? info->nattrs : 1) * sizeof *n->attrs);
    for (int i = 0; i < info->nattrs; i++) {
        n->attrs[i] = info->attrs[i].def;
        n->attrs[i].set = false;
    }
}

/* Node id as reshape(in, shape = its output's dims). */
static bool make_reshape(Ctx *c, Graph *g, int id, int in)
{
    Node *n = &g->nodes[id];
    Type out = *ir_out_type(g, n, 0);
    bool zero = false;
    int64_t *dims = arena_alloc(g->arena, (size_t)(out.rank ? out.rank : 1) * sizeof *dims);
    for (int d = 0; d < out.rank; d++) {
        dims[d] = out.dims[d];
        zero |= dims[d] == 0;
    }
    retype(g, id, OP_RESHAPE);
    n->in[0] = in;
    Attr shape = {.type = AT_INTS, .n = out.rank, .ints = dims};
    if (!ir_set_attr(c, g, id, "shape", &shape, n->loc))
        return false;
    Attr allowzero = {.type = AT_INT, .i = 1}; /* a 0 in the shape is a 0, not "copy" */
    return !zero || ir_set_attr(c, g, id, "allowzero", &allowzero, n->loc);
}

static bool set_perm(Ctx *c, Graph *g, int id, const int64_t *perm, int rank)
{
    int64_t *p = arena_memdup(g->arena, perm, (size_t)(rank ? rank : 1) * sizeof *p);
    Attr a = {.type = AT_INTS, .n = rank, .ints = p};
    return ir_set_attr(c, g, id, "perm", &a, g->nodes[id].loc);
}

/* The dims other than 1 stay in their order: the same bytes, reshaped. */
static bool moves_only_ones(const Type *in, const int64_t *perm)
{
    int last = -1;
    for (int d = 0; d < in->rank; d++) {
        if (in->dims[perm[d]] == 1)
            continue;
        if (perm[d] < last)
            return false;
        last = (int)perm[d];
    }
    return true;
}

/* The live producer of v if it has op kind `want` (or any reshape-like op
 * when want is -1) and no quantized values; else NULL. */
static const Node *producer_of(const Graph *g, int v, int want)
{
    const Value *val = ir_value(g, v);
    if (val->kind != VK_NODE)
        return NULL;
    const Node *p = ir_node(g, val->producer);
    if (p->dead || graph_node_quantized(g, p))
        return NULL;
    if (want >= 0 ? p->op != want : !reshape_like(p->op))
        return NULL;
    return p;
}

bool pass_fold_transposes(Ctx *c, Module *m)
{
    Graph *g = m->graph;
    int *rep = graph_identity_map(g);
    bool changed = false;
    for (int id = 0; id < g->nnodes; id++) {
        Node *n = &g->nodes[id];
        if (n->dead || n->nin < 1 || n->in[0] < 0)
            continue;
        graph_apply_map(n, rep);
        if (graph_node_quantized(g, n))
            continue;
        if (n->op == OP_TRANSPOSE) {
            int rank = ir_in_type(g, n, 0)->rank;
            int64_t q[IR_MAX_RANK];
            perm_of(g, n, q);
            const Node *inner = producer_of(g, n->in[0], OP_TRANSPOSE);
            if (inner) {
                int64_t p[IR_MAX_RANK], r[IR_MAX_RANK];
                perm_of(g, inner, p);
                for (int d = 0; d < rank; d++)
                    r[d] = p[q[d]];
                memcpy(q, r, (size_t)rank * sizeof *q);
                n->in[0] = inner->in[0];
                if (!set_perm(c, g, id, q, rank))
                    return changed;
                changed = true;
            }
            n = &g->nodes[id];
            if (moves_only_ones(ir_in_type(g, n, 0), q)) {
                if (!make_reshape(c, g, id, n->in[0]))
                    return changed;
                changed = true;
            }
        } else if (reshape_like(n->op)) {
            const Node *inner = producer_of(g, n->in[0], -1);
            if (inner) {
                if (!make_reshape(c, g, id, inner->in[0]))
                    return changed;
                changed = true;
            }
        }
        n = &g->nodes[id];
        if ((reshape_like(n->op) || n->op == OP_IDENTITY) && n->nout == 1 &&
            type_equal(ir_in_type(g, n, 0), ir_out_type(g, n, 0)) &&
            !graph_is_output(g, n->out[0])) {
            rep[n->out[0]] = n->in[0];
            g->values[n->out[0]].dead = true;
            n->dead = true;
            changed = true;
        }
    }
    return changed;
}
