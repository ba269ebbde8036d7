/* fuse.c: the `fuse-activation` pass, relu and clip folded into their
 * producer.
 *
 * A relu or clip whose input is produced by a conv or gemm, used by nothing
 * else and not a graph output, becomes that node's act_min/act_max: the
 * kernel clamps its own result as it stores it, so the activation costs no
 * kernel, no second pass over memory and, above all on an MCU, no second
 * tensor live beside the first (MobileNet's pointwise conv + relu pairs set
 * VWW's peak). The conv/gemm takes over the activation's output value, so
 * names downstream do not change; the pre-activation value and the
 * activation node are marked dead. Invariant: the graph computes the same
 * values, bit for bit (the clamp is exact).
 */
#include "passes.h"

#include <math.h>

/* [lo, hi] of a relu or clip node; false for anything else. */
static bool clamp_of(const Node *n, double *lo, double *hi)
{
    if (n->op == OP_RELU) {
        *lo = 0.0;
        *hi = INFINITY;
        return true;
    }
    if (n->op == OP_CLIP) {
        *lo = ir_attr_float(n, "min");
        *hi = ir_attr_float(n, "max");
        return true;
    }
    return false;
}

static bool fusable_producer(const Graph *g, const Node *p)
{
    if (p->dead || (p->op != OP_CONV && p->op != OP_GEMM))
        return false;
    if (ir_out_type(g, p, 0)->dtype != DT_F32)
        return false;
    return isinf(ir_attr_float(p, "act_min")) && isinf(ir_attr_float(p, "act_max"));
}

bool pass_fuse_activation(Ctx *c, Module *m)
{
    Graph *g = m->graph;
    int *uses = graph_use_counts_pinned(g);
    bool changed = false;
    for (int i = 0; i < g->nnodes; i++) {
        Node *act = &g->nodes[i];
        double lo, hi;
        if (act->dead || act->nin < 1 || !clamp_of(act, &lo, &hi))
            continue;
        int v = act->in[0];
        const Value *pre = ir_value(g, v);
        if (pre->kind != VK_NODE || uses[v] != 1)
            continue;
        int pi = pre->producer;
        Node *prod = &g->nodes[pi];
        if (!fusable_producer(g, prod) || prod->out[0] != v)
            continue;
        Attr a = {.type = AT_FLOAT, .f = lo}, b = {.type = AT_FLOAT, .f = hi};
        if ((!isinf(lo) && !ir_set_attr(c, g, pi, "act_min", &a, act->loc)) ||
            (!isinf(hi) && !ir_set_attr(c, g, pi, "act_max", &b, act->loc)))
            return changed;
        int out = act->out[0];
        prod = &g->nodes[pi];
        prod->out[0] = out;
        g->values[out].producer = pi;
        g->values[v].dead = true;
        g->nodes[i].dead = true;
        changed = true;
    }
    return changed;
}
