/* fuse_residual.c: the `fuse-residual` pass, an add folded into the conv,
 * gemm or matmul that feeds it.
 *
 *   y = add(conv(x, w[, b]), r)   (or add(r, conv(...)))
 *
 * becomes conv(x, w, b, r): the conv's 4th input (etch's, not ONNX's) is
 * added to each output as the kernel stores it, before a fused activation,
 * so the relu of a ResNet block folds in after it (fuse-activation runs
 * next). Where the kernel form stores each output once, the output may
 * also take r's bytes when r dies there (Kernel.inplace_*, plan-memory):
 * a residual block then holds two activations at its second conv where it
 * held three (ResNet-8 on Cortex-M: 192 KiB -> 128 KiB). r has the add's
 * type exactly (no broadcasting).
 *
 *   y = add(matmul(a, b), c)      (or add(c, matmul(...)); gemm the same)
 *
 * becomes matmul(a, b, c): a dense layer's bias (TF exports MatMul + Add),
 * or a residual, which may broadcast to the product as long as it does not
 * widen it; with the activation after it, the layer is one kernel. A gemm
 * without a c takes it the same way, with beta = 1.
 * Conditions: the producer is f32 with no fused activation, residual or c
 * yet, its output feeds only this add and is not a graph output; r is
 * ready before the producer runs (a graph input, a constant, or produced
 * earlier in the schedule). Invariant: every value is computed as before,
 * bit for bit: the producer's f32 result, then one f32 add (ref_conv,
 * ref_gemm and ref_matmul do the same).
 */
#include "passes.h"

/* The input slot where the producer of v takes an add (conv: r, 3; gemm
 * and matmul: c, 2), or -1 when it cannot: not a live conv, gemm or
 * matmul with that slot free, or v read elsewhere (uses counts graph
 * outputs: a graph output's count is above 1). */
static int add_slot(const Graph *g, const int *uses, int v)
{
    const Value *val = ir_value(g, v);
    if (val->kind != VK_NODE || uses[v] != 1)
        return -1;
    const Node *p = ir_node(g, val->producer);
    int slot = p->op == OP_CONV ? 3 : p->op == OP_GEMM || p->op == OP_MATMUL ? 2 : -1;
    if (p->dead || p->out[0] != v || slot < 0 || ir_has_input(p, slot) || p->nin > slot + 1)
        return -1;
    if (ir_out_type(g, p, 0)->dtype != DT_F32)
        return -1;
    if (ir_has_act(p))
        return -1;
    return slot;
}

/* r is computed before node `before` runs. */
static bool ready_before(const Graph *g, int r, int before)
{
    const Value *val = ir_value(g, r);
    return val->kind != VK_NODE || val->producer < before;
}

bool pass_fuse_residual(Ctx *c, Module *m)
{
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
            int slot = add_slot(g, uses, v), pi = ir_value(g, v)->producer;
            if (slot < 0 || !type_equal(&ir_value(g, v)->type, yt) || !ready_before(g, r, pi))
                continue;
            if (g->nodes[pi].op == OP_CONV && !type_equal(&ir_value(g, r)->type, yt))
                continue;
            Attr one = {.type = AT_FLOAT, .f = 1.0};
            if (g->nodes[pi].op == OP_GEMM && ir_attr_float(&g->nodes[pi], "beta") != 1.0 &&
                !ir_set_attr(c, g, pi, "beta", &one, add->loc))
                return changed;
            Node *prod = &g->nodes[pi];
            int *in = arena_alloc(g->arena, (size_t)(slot + 1) * sizeof *in);
            for (int k = 0; k < slot; k++)
                in[k] = k < prod->nin ? prod->in[k] : -1;
            in[slot] = r;
            prod->in = in;
            prod->nin = slot + 1;
            int out = add->out[0];
            prod->out[0] = out;
            g->values[out].producer = pi;
            g->values[v].dead = true;
            add->dead = true;
            changed = true;
            break;
        }
    }
    return changed;
}
