/* graph_passes.c: the cleanup passes over Graph IR, and the helpers the
 * rewriting graph passes share.
 *
 * infer-shapes re-runs every live node's inference (types may be stale after
 * a rewrite) and reports whether any type changed. dce marks nodes and
 * values dead when no graph output depends on them; ids stay stable.
 */
#include "passes.h"

#include <string.h>

int *graph_use_counts(const Graph *g)
{
    int *uses = arena_alloc(g->arena, (size_t)(g->nvalues ? g->nvalues : 1) * sizeof *uses);
    for (int i = 0; i < g->nnodes; i++)
        for (int k = 0; !g->nodes[i].dead && k < g->nodes[i].nin; k++)
            if (g->nodes[i].in[k] >= 0)
                uses[g->nodes[i].in[k]]++;
    return uses;
}

int *graph_use_counts_pinned(const Graph *g)
{
    int *uses = graph_use_counts(g);
    for (int i = 0; i < g->noutputs; i++)
        uses[g->outputs[i]] += 2;
    return uses;
}

bool graph_is_output(const Graph *g, int v)
{
    for (int i = 0; i < g->noutputs; i++)
        if (g->outputs[i] == v)
            return true;
    return false;
}

int *graph_identity_map(const Graph *g)
{
    int *rep = arena_alloc(g->arena, (size_t)(g->nvalues ? g->nvalues : 1) * sizeof *rep);
    for (int v = 0; v < g->nvalues; v++)
        rep[v] = v;
    return rep;
}

void graph_apply_map(Node *n, const int *rep)
{
    for (int k = 0; k < n->nin; k++)
        if (n->in[k] >= 0)
            n->in[k] = rep[n->in[k]];
}

bool graph_node_quantized(const Graph *g, const Node *n)
{
    for (int k = 0; k < n->nin; k++)
        if (n->in[k] >= 0 && g->values[n->in[k]].type.quant)
            return true;
    for (int o = 0; o < n->nout; o++)
        if (g->values[n->out[o]].type.quant)
            return true;
    return false;
}

bool graph_matmul_as_gemm(Ctx *c, Graph *g, int node, bool *done)
{
    Node *n = &g->nodes[node];
    *done = false;
    if (n->dead || n->op != OP_MATMUL || n->nin != 2 || ir_has_act(n))
        return true;
    const Value *a = ir_value(g, n->in[0]), *b = ir_value(g, n->in[1]);
    if (a->type.rank != 2 || a->type.dtype != DT_F32 || a->type.quant || b->kind != VK_CONST ||
        b->dead || !b->data || b->type.rank != 2 || b->type.dtype != DT_F32 || b->type.quant)
        return true;
    const OpInfo *gi = op_info(OP_GEMM);
    n->op = OP_GEMM;
    n->attrs = arena_alloc(g->arena, (size_t)gi->nattrs * sizeof *n->attrs);
    for (int k = 0; k < gi->nattrs; k++) {
        n->attrs[k] = gi->attrs[k].def;
        n->attrs[k].set = false;
    }
    *done = true;
    return gi->infer(c, g, n);
}

bool pass_infer_shapes(Ctx *c, Module *m)
{
    Graph *g = m->graph;
    bool changed = false;
    for (int i = 0; i < g->nnodes; i++) {
        Node *n = &g->nodes[i];
        if (n->dead)
            continue;
        Type before[16];
        int nsave = n->nout < 16 ? n->nout : 16;
        for (int o = 0; o < nsave; o++)
            before[o] = g->values[n->out[o]].type;
        if (!op_info(n->op)->infer(c, g, n))
            return changed;
        for (int o = 0; o < nsave; o++)
            if (!type_equal(&before[o], &g->values[n->out[o]].type))
                changed = true;
    }
    return changed;
}

bool pass_dce(Ctx *c, Module *m)
{
    (void)c;
    Graph *g = m->graph;
    bool *live = arena_alloc(g->arena, (size_t)(g->nvalues ? g->nvalues : 1));
    for (int i = 0; i < g->noutputs; i++)
        live[g->outputs[i]] = true;
    for (int i = 0; i < g->ninputs; i++)
        live[g->inputs[i]] = true;
    /* Nodes are in topological order: one backward sweep finds every value
     * an output depends on. */
    for (int i = g->nnodes - 1; i >= 0; i--) {
        Node *n = &g->nodes[i];
        if (n->dead)
            continue;
        bool used = false;
        for (int o = 0; o < n->nout; o++)
            used |= live[n->out[o]];
        if (!used)
            continue;
        for (int o = 0; o < n->nout; o++)
            live[n->out[o]] = true; /* a node's outputs live and die together */
        for (int k = 0; k < n->nin; k++)
            if (n->in[k] >= 0)
                live[n->in[k]] = true;
    }
    bool changed = false;
    for (int i = 0; i < g->nnodes; i++) {
        Node *n = &g->nodes[i];
        if (!n->dead && !live[n->out[0]]) {
            n->dead = true;
            changed = true;
        }
    }
    for (int v = 0; v < g->nvalues; v++)
        if (!g->values[v].dead && !live[v]) {
            g->values[v].dead = true;
            changed = true;
        }
    return changed;
}
