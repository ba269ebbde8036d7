/* cse.c: the `cse` pass, common subexpressions computed once.
 *
 * Two kinds of duplicates are merged, the later one's readers rewired to
 * the earlier one:
 *   - constants of the same dtype, shape, quantization and bytes (ONNX
 *     exporters repeat small constants, e.g. one per layer norm);
 *   - live nodes of the same op, the same inputs (after the rewiring
 *     above, so duplicates of duplicates go too), the same attribute
 *     values and the same output types. add, mul, and, or, xor and equal
 *     are commutative, so their two inputs match in either order (exactly:
 *     IEEE a + b is b + a). Every op is a pure function of its inputs.
 * A duplicate whose output is a graph output stays (each output keeps a
 * value and a buffer of its own). Duplicates are marked dead, so ids,
 * names and the other nodes stay as they were. Invariant: the graph
 * computes the same values, bit for bit.
 */
#include "passes.h"

#include <string.h>

static uint64_t mix(uint64_t h, uint64_t x)
{
    h ^= x + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    return h;
}

static uint64_t hash_bytes(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

/* ------------------------------------------------------------ constants */

static bool quant_equal(const Quant *a, const Quant *b)
{
    if (!a || !b)
        return a == b;
    if (a->axis != b->axis || a->n != b->n || a->nzero != b->nzero)
        return false;
    return memcmp(a->scale, b->scale, (size_t)a->n * sizeof *a->scale) == 0 &&
           memcmp(a->zero, b->zero, (size_t)a->nzero * sizeof *a->zero) == 0;
}

static bool const_equal(const Value *a, const Value *b)
{
    return type_equal(&a->type, &b->type) && quant_equal(a->type.quant, b->type.quant) &&
           memcmp(a->data, b->data, type_bytes(&a->type)) == 0;
}

static uint64_t const_hash(const Value *v)
{
    uint64_t h = mix((uint64_t)v->type.dtype, (uint64_t)v->type.rank);
    for (int d = 0; d < v->type.rank; d++)
        h = mix(h, (uint64_t)v->type.dims[d]);
    return hash_bytes(h, v->data, type_bytes(&v->type));
}

/* ---------------------------------------------------------------- nodes */

static bool commutative(const Node *n)
{
    switch (n->op) {
    case OP_ADD: case OP_MUL: case OP_AND: case OP_OR: case OP_XOR: case OP_EQUAL:
        return n->nin == 2;
    default:
        return false;
    }
}

static bool attr_equal(const Attr *a, const Attr *b)
{
    if (a->type != b->type)
        return false;
    switch (a->type) {
    case AT_INT: return a->i == b->i;
    case AT_FLOAT: return memcmp(&a->f, &b->f, sizeof a->f) == 0; /* -0, NaN: by bits */
    case AT_INTS:
        return a->n == b->n && (a->n == 0 || memcmp(a->ints, b->ints, (size_t)a->n * sizeof *a->ints) == 0);
    case AT_FLOATS:
        return a->n == b->n &&
               (a->n == 0 || memcmp(a->floats, b->floats, (size_t)a->n * sizeof *a->floats) == 0);
    case AT_STR: return (a->s == b->s) || (a->s && b->s && strcmp(a->s, b->s) == 0);
    case AT_NONE: return true;
    }
    return false;
}

static bool node_equal(const Graph *g, const Node *a, const Node *b)
{
    if (a->op != b->op || a->nin != b->nin || a->nout != b->nout)
        return false;
    bool same = true;
    for (int k = 0; k < a->nin; k++)
        same &= a->in[k] == b->in[k];
    if (!same && !(commutative(a) && a->in[0] == b->in[1] && a->in[1] == b->in[0]))
        return false;
    const OpInfo *info = op_info(a->op);
    for (int i = 0; i < info->nattrs; i++)
        if (!attr_equal(&a->attrs[i], &b->attrs[i]))
            return false;
    for (int o = 0; o < a->nout; o++) {
        const Type *ta = ir_out_type(g, a, o), *tb = ir_out_type(g, b, o);
        if (!type_equal(ta, tb) || !quant_equal(ta->quant, tb->quant))
            return false;
    }
    return true;
}

static uint64_t node_hash(const Node *n)
{
    uint64_t h = mix((uint64_t)n->op, (uint64_t)n->nin);
    if (commutative(n)) {
        int a = n->in[0] < n->in[1] ? n->in[0] : n->in[1];
        int b = n->in[0] < n->in[1] ? n->in[1] : n->in[0];
        return mix(mix(h, (uint64_t)a), (uint64_t)b);
    }
    for (int k = 0; k < n->nin; k++)
        h = mix(h, (uint64_t)(int64_t)n->in[k]);
    return h;
}

/* ---------------------------------------------------------------- table */

/* Open addressing over ids (values or nodes) keyed by a hash. */
typedef struct {
    int *slot;          /* id + 1, 0 = empty */
    uint64_t *hash;
    size_t mask;
} Table;

static Table table_new(Arena *a, int n)
{
    size_t cap = 16;
    while (cap < (size_t)n * 2)
        cap *= 2;
    return (Table){arena_alloc(a, cap * sizeof(int)), arena_alloc(a, cap * sizeof(uint64_t)),
                   cap - 1};
}

/* ------------------------------------------------------------------ pass */

bool pass_cse(Ctx *c, Module *m)
{
    (void)c;
    Graph *g = m->graph;
    int *rep = graph_identity_map(g);
    bool changed = false;

    Table t = table_new(g->arena, g->nvalues);
    for (int v = 0; v < g->nvalues; v++) {
        Value *val = &g->values[v];
        if (val->dead || val->kind != VK_CONST || !val->data)
            continue;
        uint64_t h = const_hash(val);
        size_t i = h & t.mask;
        for (; t.slot[i]; i = (i + 1) & t.mask)
            if (t.hash[i] == h && const_equal(&g->values[t.slot[i] - 1], val))
                break;
        if (!t.slot[i]) {
            t.slot[i] = v + 1;
            t.hash[i] = h;
        } else if (!graph_is_output(g, v)) {
            rep[v] = t.slot[i] - 1;
            val->dead = true;
            changed = true;
        }
    }

    Table tn = table_new(g->arena, g->nnodes);
    for (int id = 0; id < g->nnodes; id++) {
        Node *n = &g->nodes[id];
        if (n->dead)
            continue;
        graph_apply_map(n, rep);
        uint64_t h = node_hash(n);
        size_t i = h & tn.mask;
        for (; tn.slot[i]; i = (i + 1) & tn.mask)
            if (tn.hash[i] == h && node_equal(g, &g->nodes[tn.slot[i] - 1], n))
                break;
        if (!tn.slot[i]) {
            tn.slot[i] = id + 1;
            tn.hash[i] = h;
            continue;
        }
        bool is_output = false;
        for (int o = 0; o < n->nout; o++)
            is_output |= graph_is_output(g, n->out[o]);
        if (is_output)
            continue;
        const Node *first = &g->nodes[tn.slot[i] - 1];
        for (int o = 0; o < n->nout; o++) {
            rep[n->out[o]] = first->out[o];
            g->values[n->out[o]].dead = true;
        }
        n->dead = true;
        changed = true;
    }
    return changed;
}
