/* fuse.c: the fusion passes.
 *
 * fuse-activation: activations folded into their producer.
 * A relu or clip whose input is produced by a conv, gemm or matmul, used by
 * nothing else and not a graph output, becomes that node's act_min/act_max: the
 * kernel clamps its own result as it stores it, so the activation costs no
 * kernel, no second pass over memory and, above all on an MCU, no second
 * tensor live beside the first (MobileNet's pointwise conv + relu pairs set
 * VWW's peak). The producer takes over the activation's output value, so
 * names downstream do not change; the pre-activation value and the
 * activation node are marked dead. Any other activation function (sigmoid,
 * tanh, gelu, leaky_relu, elu, hard_swish, ...) in that place becomes its
 * `act`, the op written as a fused body over $0 ("sigmoid($0)"), applied
 * after the clamp: a relu then a sigmoid fold both, a sigmoid then a relu
 * only the first. Invariant: the graph computes the same values, bit for
 * bit (the clamp is exact; act is the op's own template or reference).
 *
 * fuse-elementwise: chains of elementwise ops made one `fused` node.
 * A group grows from a root (an elementwise node, taken from the end of the
 * schedule) by absorbing the elementwise producers of its operands whose
 * every reader is already in the group: a DAG with one result, whose
 * intermediates nothing outside reads and no graph output names. A member
 * must have the root's shape (so the one loop nest over the result never
 * recomputes a value it could have broadcast); the group's operands may
 * broadcast. The root becomes `fused(operands..., expr = "...")` in place,
 * keeping its output value and its place in the schedule; the members and
 * their values are marked dead. The lowering (lower_fused) computes every
 * member in one loop, intermediates in kernel locals, so the planner sees
 * no buffer for them. Not fused: quantize/dequantize and anything with
 * quantized types (fold-qdq's patterns), fused nodes themselves. The
 * values are the same, bit for bit: each member is cast to its dtype as
 * its store would have done.
 */
#include "passes.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

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

static bool fusable_ew(const Graph *g, const Node *n);

/* A conv, gemm or matmul with an f32 result that can take an activation: a
 * clamp only before anything else, an `act` after a clamp but not a second
 * act. */
static bool fusable_producer(const Graph *g, const Node *p, bool clamp)
{
    if (p->dead || (p->op != OP_CONV && p->op != OP_GEMM && p->op != OP_MATMUL))
        return false;
    if (ir_out_type(g, p, 0)->dtype != DT_F32)
        return false;
    return clamp ? !ir_has_act(p) : !ir_attr_str(p, "act")[0];
}

/* An activation function other than relu and clip (which are clamps), on
 * f32. Other unary ops (neg, exp, ...) are left to fuse-elementwise. */
static bool unary_act(const Graph *g, const Node *n)
{
    switch (n->op) {
    case OP_SIGMOID: case OP_TANH: case OP_GELU: case OP_LEAKY_RELU: case OP_ELU: case OP_SELU:
    case OP_CELU: case OP_SOFTPLUS: case OP_SOFTSIGN: case OP_HARD_SIGMOID: case OP_HARD_SWISH:
    case OP_THRESHOLDED_RELU:
        break;
    default:
        return false;
    }
    return n->nin == 1 && fusable_ew(g, n) && ir_in_type(g, n, 0)->dtype == DT_F32;
}

bool pass_fuse_activation(Ctx *c, Module *m)
{
    Graph *g = m->graph;
    int *uses = graph_use_counts_pinned(g);
    bool changed = false;
    for (int i = 0; i < g->nnodes; i++) {
        Node *act = &g->nodes[i];
        double lo, hi;
        if (act->dead || act->nin < 1)
            continue;
        bool clamp = clamp_of(act, &lo, &hi);
        if (!clamp && !unary_act(g, act))
            continue;
        int v = act->in[0];
        const Value *pre = ir_value(g, v);
        if (pre->kind != VK_NODE || uses[v] != 1)
            continue;
        int pi = pre->producer;
        Node *prod = &g->nodes[pi];
        if (!fusable_producer(g, prod, clamp) || prod->out[0] != v)
            continue;
        if (clamp) {
            Attr a = {.type = AT_FLOAT, .f = lo}, b = {.type = AT_FLOAT, .f = hi};
            if ((!isinf(lo) && !ir_set_attr(c, g, pi, "act_min", &a, act->loc)) ||
                (!isinf(hi) && !ir_set_attr(c, g, pi, "act_max", &b, act->loc)))
                return changed;
        } else {
            Attr e = {.type = AT_STR, .s = ir_fused_expr(g->arena, g, &i, 1, &v, 1)};
            if (!ir_set_attr(c, g, pi, "act", &e, act->loc))
                return changed;
        }
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

/* ------------------------------------------------------ fuse-elementwise */

enum { FUSE_MAX_MEMBERS = 64, FUSE_MAX_INPUTS = 64 };

static bool fusable_ew(const Graph *g, const Node *n)
{
    const OpInfo *info = op_info(n->op);
    if (n->dead || !info->expr || n->nout != 1 || n->op == OP_QUANTIZE_LINEAR ||
        n->op == OP_DEQUANTIZE_LINEAR || n->nin > FUSE_MAX_INPUTS || graph_node_quantized(g, n))
        return false;
    for (int i = 0; i < n->nin; i++)
        if (n->in[i] < 0)
            return false;
    for (int i = 0; i < info->nattrs; i++)
        if (n->attrs[i].set && !ir_fused_attr_ok(&n->attrs[i]))
            return false;
    return true;
}

static bool same_shape(const Type *a, const Type *b)
{
    if (a->rank != b->rank)
        return false;
    for (int d = 0; d < a->rank; d++)
        if (a->dims[d] != b->dims[d])
            return false;
    return true;
}

/* Reads of value v by the members' input slots. */
static int member_reads(const Graph *g, const int *members, int count, int v)
{
    int reads = 0;
    for (int i = 0; i < count; i++) {
        const Node *n = &g->nodes[members[i]];
        for (int k = 0; k < n->nin; k++)
            reads += n->in[k] == v;
    }
    return reads;
}

static int by_id(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* Grows root r's group into members[] (group[] marks who is taken);
 * returns the member count. */
static int grow_group(const Graph *g, const int *uses, int *group, int r, int *members)
{
    const Type *shape = ir_out_type(g, &g->nodes[r], 0);
    int count = 0;
    members[count++] = r;
    group[r] = r;
    /* Absorbing one producer can make another's readers all members, so
     * sweep until nothing joins. */
    for (bool grew = true; grew && count < FUSE_MAX_MEMBERS;) {
        grew = false;
        for (int i = 0; i < count && count < FUSE_MAX_MEMBERS; i++) {
            const Node *n = &g->nodes[members[i]];
            for (int k = 0; k < n->nin && count < FUSE_MAX_MEMBERS; k++) {
                const Value *v = ir_value(g, n->in[k]);
                if (v->kind != VK_NODE || group[v->producer] >= 0)
                    continue;
                const Node *pn = &g->nodes[v->producer];
                if (!fusable_ew(g, pn) || !same_shape(&v->type, shape) ||
                    uses[n->in[k]] != member_reads(g, members, count, n->in[k]))
                    continue;
                group[v->producer] = r;
                members[count++] = v->producer;
                grew = true;
            }
        }
    }
    return count;
}

bool pass_fuse_elementwise(Ctx *c, Module *m)
{
    Graph *g = m->graph;
    int *uses = graph_use_counts_pinned(g);
    int *group = arena_alloc(g->arena, (size_t)(g->nnodes ? g->nnodes : 1) * sizeof *group);
    for (int i = 0; i < g->nnodes; i++)
        group[i] = -1;
    int members[FUSE_MAX_MEMBERS];
    bool changed = false;
    for (int r = g->nnodes - 1; r >= 0; r--) {
        if (group[r] >= 0 || !fusable_ew(g, &g->nodes[r]))
            continue;
        int count = grow_group(g, uses, group, r, members);
        if (count < 2)
            continue;
        qsort(members, (size_t)count, sizeof *members, by_id);
        /* The group's operands, in order of first use. */
        int *ins = arena_alloc(g->arena, sizeof *ins * (size_t)(FUSE_MAX_INPUTS * count));
        int nin = 0;
        for (int i = 0; i < count; i++) {
            const Node *n = &g->nodes[members[i]];
            for (int k = 0; k < n->nin; k++) {
                int v = n->in[k];
                const Value *val = ir_value(g, v);
                bool inside = val->kind == VK_NODE && group[val->producer] == r;
                bool seen = false;
                for (int j = 0; j < nin && !seen; j++)
                    seen = ins[j] == v;
                if (!inside && !seen)
                    ins[nin++] = v;
            }
        }
        char *expr = ir_fused_expr(g->arena, g, members, count, ins, nin);
        Type before = *ir_out_type(g, &g->nodes[r], 0);
        ir_change_op(g, r, OP_FUSED);
        Node *root = &g->nodes[r];
        root->in = ins;
        root->nin = nin;
        Attr a = {.type = AT_STR, .s = expr};
        if (!ir_set_attr(c, g, r, "expr", &a, root->loc) || !op_info(OP_FUSED)->infer(c, g, root))
            return changed;
        if (!type_equal(&before, ir_out_type(g, root, 0)))
            unreachable("fuse-elementwise changed a result's type");
        for (int i = 0; i < count; i++) {
            if (members[i] == r)
                continue;
            Node *n = &g->nodes[members[i]];
            n->dead = true;
            g->values[n->out[0]].dead = true;
        }
        changed = true;
    }
    return changed;
}
