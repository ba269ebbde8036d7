/* layout.c: the `layout` pass, weights pre-arranged for the target's kernels.
 *
 * A gemm's constant B ([K, N], trans_b = 0) is read by lower_gemm's axpy
 * form: for each k, y[0..N) += a[k] * B[k, 0..N), an inner loop that a
 * vector unit runs N lanes wide. A target without one (vector_bytes 0:
 * Cortex-M, generic C) is better served by the dot form, y[n] = sum_k
 * a[k] * B[n, k], whose accumulators stay in registers and whose weights
 * stream contiguously. This pass transposes a constant B at compile time
 * into the layout of the target's form (trans_b = 1 for the dot form, 0
 * for the axpy form; PyTorch's Linear exports trans_b = 1), so lowering
 * picks that form. The old constant is left for dce. A matmul of a 2-D a
 * by a constant 2-D b (TensorFlow's Dense exports MatMul) becomes that
 * gemm first, so it gets the same layout (and, later, its bias and
 * activation through fuse-residual and fuse-activation). Invariant: the
 * graph computes the same values (only the float summation order of the
 * kernel changes, as for any lowering choice).
 */
#include "passes.h"

/* B^T of a constant 2-D f32 tensor, as a new constant; -1 after a diagnostic. */
static int transposed_const(Ctx *c, Graph *g, int v, Loc loc)
{
    const Value *b = ir_value(g, v);
    int64_t rows = b->type.dims[0], cols = b->type.dims[1];
    Type t = b->type;
    t.dims[0] = cols;
    t.dims[1] = rows;
    t.quant = NULL;
    float *data = arena_alloc(g->arena, type_bytes(&t) + 1);
    const float *src = b->data;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t k = 0; k < cols; k++)
            data[k * rows + r] = src[r * cols + k];
    return ir_add_const(c, g, NULL, t, data, loc);
}

bool pass_layout(Ctx *c, Module *m)
{
    Graph *g = m->graph;
    int64_t want = module_target(m)->vector_bytes > 0 ? 0 : 1; /* trans_b */
    bool changed = false;
    for (int i = 0; i < g->nnodes; i++) {
        bool gemm;
        if (!graph_matmul_as_gemm(c, g, i, &gemm))
            return changed;
        changed |= gemm;
        Node *n = &g->nodes[i];
        if (n->dead || n->op != OP_GEMM || n->nin < 2 || ir_attr_int(n, "trans_b") == want)
            continue;
        const Value *b = ir_value(g, n->in[1]);
        if (b->kind != VK_CONST || b->type.dtype != DT_F32 || b->type.rank != 2 || b->type.quant)
            continue;
        int bt = transposed_const(c, g, n->in[1], n->loc);
        if (bt < 0)
            return changed;
        n = &g->nodes[i];
        n->in[1] = bt;
        Attr tb = {.type = AT_INT, .i = want};
        if (!ir_set_attr(c, g, i, "trans_b", &tb, n->loc))
            return changed;
        changed = true;
    }
    return changed;
}
