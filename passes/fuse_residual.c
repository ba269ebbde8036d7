/* fuse_residual.c: the `fuse-residual` pass, a residual add folded into the
 * conv that feeds it.
 *
 *   y = add(conv(x, w[, b]), r)   (or add(r, conv(...)))
 *
 * becomes conv(x, w, b, r): the conv's 4th input (etch's, not ONNX's) is
 * added to each output as the kernel stores it, before a fused activation,
 * so the relu of a ResNet block folds in after it (fuse-activation runs
 * next). Where the kernel form stores each output once, the output may
 * also take r's bytes when r dies there (Kernel.inplace_*, plan-memory):
 * a residual block then holds two activations at its second conv where it
 * held three (ResNet-8 on Cortex-M: 192 KiB -> 128 KiB).
 * Conditions: the conv is f32 with no fused activation or residual yet,
 * its output feeds only this add and is not a graph output; r has the
 * add's type exactly (no broadcasting) and is ready before the conv runs
 * (a graph input, a constant, or produced earlier in the schedule).
 * Invariant: every value is computed as before, bit for bit: the conv's
 * f32 result, then one f32 add (ref_conv does the same).
 */
#include "passes.h"

/* The live conv node producing v that can take a residual, or -1. */
static int fusable_conv(const Graph *g, const int *uses, int v)
{
    const Value *val = ir_value(g, v);
    if (val->kind != VK_NODE || uses[v] != 1)
        return -1;
    const Node *p = ir_node(g, val->producer);
    if (p->dead || p->op != OP_CONV || p->out[0] != v || p->nin > 3)
        return -1;
    if (ir_out_type(g, p, 0)->dtype != DT_F32)
        return -1;
    if (ir_has_act(p))
        return -1;
    return val->producer;
}

/* r is computed before node `before` runs. */
static bool ready_before(const Graph *g, int r, int before)
{
    const Value *val = ir_value(g, r);
    return val->kind != VK_NODE || val->producer < before;
}

bool pass_fuse_residual(Ctx *c, Module *m)
{
    (void)c;
    Graph *g = m->graph;
    int *uses = graph_use_counts_pinned(g);
    bool changed = false;
    for (int i = 0; i < g->nnodes; i++) {
        Node *add = &g->nodes[i];
        if (add->dead || add->op != OP_ADD || add->nin != 2 || add->in[0] == add->in[1])
            continue;
        const Type *yt = ir_out_type(g, add, 0);
        for (int side = 0; side < 2; side++) {
            int v = add->in[side], r = add->in[1 - side];
            int pi = fusable_conv(g, uses, v);
            if (pi < 0 || !type_equal(&ir_value(g, r)->type, yt) || !type_equal(&ir_value(g, v)->type, yt) ||
                !ready_before(g, r, pi))
                continue;
            Node *conv = &g->nodes[pi];
            int *in = arena_alloc(g->arena, 4 * sizeof *in);
            for (int k = 0; k < 3; k++)
                in[k] = k < conv->nin ? conv->in[k] : -1;
            in[3] = r;
            conv->in = in;
            conv->nin = 4;
            int out = add->out[0];
            conv->out[0] = out;
            g->values[out].producer = pi;
            g->values[v].dead = true;
            add->dead = true;
            changed = true;
            break;
        }
    }
    return changed;
}
