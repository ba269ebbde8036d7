/* fold_const.c: the `fold-constants` pass, nodes over constants evaluated
 * at compile time.
 *
 * A live node whose every present input is a constant runs once through
 * its op's reference implementation (ir/ref_*.c, the interpreter's own
 * code), and its output values become constants holding the results: the
 * values keep their ids and names, so nothing downstream is rewritten, and
 * the node is marked dead. The ONNX importer folds the same way as it
 * builds; this pass catches what the graph language writes directly and
 * what earlier rewrites expose.
 *
 * Size rule: folding must not grow the model much. A node folds only when
 * its outputs' bytes are at most the bytes of the constant inputs that die
 * with it (read by this node only and not graph outputs) plus
 * FOLD_GROWTH_BYTES, so each fold adds at most 4 KiB of constants: a
 * transpose or an elementwise op on weights (same size) or a shape
 * computation folds, an expand/tile/pad of a small constant to megabytes
 * stays a node and is computed at run time.
 *
 * Left alone: quantize_linear and dequantize_linear (int8 weights stay
 * visible to the quantization passes), and any node touching a value with
 * quantization parameters. Invariant: the graph computes the same values
 * (the reference is what the interpreter runs; the folded constant is the
 * interpreter's result, where a backend's kernel might round differently).
 */
#include "passes.h"

#include <string.h>

enum { FOLD_GROWTH_BYTES = 4096 };

static bool foldable_op(int op)
{
    return op != OP_QUANTIZE_LINEAR && op != OP_DEQUANTIZE_LINEAR && op_info(op)->ref;
}

/* Bytes of the constant inputs that only n reads (each counted once). */
static size_t freed_bytes(const Graph *g, const Node *n, const int *uses)
{
    size_t bytes = 0;
    for (int k = 0; k < n->nin; k++) {
        int v = n->in[k];
        if (v < 0 || graph_is_output(g, v))
            continue;
        int here = 0;
        for (int j = 0; j < n->nin; j++)
            here += n->in[j] == v;
        bool first = true;
        for (int j = 0; j < k; j++)
            first &= n->in[j] != v;
        if (first && uses[v] == here)
            bytes += type_bytes(&g->values[v].type);
    }
    return bytes;
}

bool pass_fold_constants(Ctx *c, Module *m)
{
    (void)c;
    Graph *g = m->graph;
    int *uses = graph_use_counts(g);
    bool changed = false;
    for (int i = 0; i < g->nnodes; i++) {
        Node *n = &g->nodes[i];
        if (n->dead || !foldable_op(n->op) || graph_node_quantized(g, n))
            continue;
        bool all_const = true;
        for (int k = 0; k < n->nin; k++)
            if (n->in[k] >= 0 && g->values[n->in[k]].kind != VK_CONST)
                all_const = false;
        if (!all_const)
            continue;
        size_t out_bytes = 0;
        for (int o = 0; o < n->nout; o++)
            out_bytes += type_bytes(&g->values[n->out[o]].type);
        if (out_bytes > freed_bytes(g, n, uses) + FOLD_GROWTH_BYTES)
            continue;

        Tensor *in = arena_alloc(g->arena, (size_t)(n->nin ? n->nin : 1) * sizeof *in);
        Tensor *out = arena_alloc(g->arena, (size_t)n->nout * sizeof *out);
        for (int k = 0; k < n->nin; k++)
            if (n->in[k] >= 0)
                in[k] = (Tensor){.type = g->values[n->in[k]].type,
                                 .data = g->values[n->in[k]].data};
        for (int o = 0; o < n->nout; o++) {
            out[o].type = g->values[n->out[o]].type;
            out[o].data = arena_alloc(g->arena, type_bytes(&out[o].type) + 1);
        }
        op_info(n->op)->ref(g, n, in, out);
        for (int o = 0; o < n->nout; o++) {
            Value *v = &g->values[n->out[o]];
            v->kind = VK_CONST;
            v->producer = -1;
            v->data = out[o].data;
            v->npy = NULL;
        }
        for (int k = 0; k < n->nin; k++)
            if (n->in[k] >= 0)
                uses[n->in[k]]--;
        n->dead = true;
        changed = true;
    }
    return changed;
}
