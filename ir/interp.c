/* interp.c: the reference interpreter, which runs Graph IR directly.
 *
 * Every live node runs in graph order through its op's reference
 * implementation (op_info(op)->ref). Node outputs get fresh tensors in the
 * context's arena, sized by their inferred types; constants are read in
 * place from Value.data and the caller's input buffers are never written.
 * It is the oracle for the compiled backends, so it is simple, not fast.
 */
#include "ir.h"

#include <math.h>
#include <string.h>

float tensor_getf(const Tensor *t, int64_t i)
{
    switch (t->type.dtype) {
    case DT_F32: return ((const float *)t->data)[i];
    case DT_I8: return ((const int8_t *)t->data)[i];
    case DT_U8: case DT_BOOL: return ((const uint8_t *)t->data)[i];
    case DT_I16: return ((const int16_t *)t->data)[i];
    case DT_I32: return (float)((const int32_t *)t->data)[i];
    case DT_I64: return (float)((const int64_t *)t->data)[i];
    default: unreachable("tensor_getf on a tensor without a dtype");
    }
}

/* Float to integer: round half to even, then saturate to [lo, hi]; NaN is 0. */
static int64_t to_int(float v, double lo, double hi)
{
    if (isnan(v))
        return 0;
    double r = nearbyint((double)v);
    if (r <= lo)
        return (int64_t)lo;
    if (r >= hi)
        return (int64_t)hi;
    return (int64_t)r;
}

void tensor_setf(Tensor *t, int64_t i, float v)
{
    switch (t->type.dtype) {
    case DT_F32: ((float *)t->data)[i] = v; break;
    case DT_I8: ((int8_t *)t->data)[i] = (int8_t)to_int(v, INT8_MIN, INT8_MAX); break;
    case DT_U8: ((uint8_t *)t->data)[i] = (uint8_t)to_int(v, 0, UINT8_MAX); break;
    case DT_BOOL: ((uint8_t *)t->data)[i] = v != 0; break;
    case DT_I16: ((int16_t *)t->data)[i] = (int16_t)to_int(v, INT16_MIN, INT16_MAX); break;
    case DT_I32: ((int32_t *)t->data)[i] = (int32_t)to_int(v, INT32_MIN, INT32_MAX); break;
    case DT_I64:
        /* 2^63 is not an int64; the largest float below it is. */
        ((int64_t *)t->data)[i] = to_int(v, -9223372036854775808.0, 9223371487098961920.0);
        break;
    default: unreachable("tensor_setf on a tensor without a dtype");
    }
}

static bool bind_inputs(Ctx *c, const Graph *g, const Tensor *inputs, Tensor *vals)
{
    if (g->ninputs > 0 && !inputs) {
        diag_error(c, (Loc){0}, "graph '%s' has %d input%s, but none were given", g->name,
                   g->ninputs, g->ninputs == 1 ? "" : "s");
        return false;
    }
    bool ok = true;
    for (int i = 0; i < g->ninputs; i++) {
        const Value *v = ir_value(g, g->inputs[i]);
        const Tensor *t = &inputs[i];
        char want[256], got[256];
        if (!t->data) {
            diag_error(c, v->loc, "input %d ('%s', %s) was not given (no data)", i, v->name,
                       type_str(&v->type, want, sizeof want));
            ok = false;
        } else if (!type_equal(&t->type, &v->type)) {
            diag_error(c, v->loc, "input %d ('%s'): the graph expects %s, but got %s", i, v->name,
                       type_str(&v->type, want, sizeof want), type_str(&t->type, got, sizeof got));
            ok = false;
        } else {
            vals[g->inputs[i]] = (Tensor){.type = v->type, .data = t->data};
        }
    }
    return ok;
}

bool interp_run(Ctx *c, const Graph *g, const Tensor *inputs, Tensor *outputs)
{
    return interp_run_observe(c, g, inputs, outputs, NULL, NULL);
}

bool interp_run_observe(Ctx *c, const Graph *g, const Tensor *inputs, Tensor *outputs,
                        InterpObserveFn *observe, void *user)
{
    Tensor *vals = arena_alloc(c->arena, (size_t)(g->nvalues ? g->nvalues : 1) * sizeof *vals);
    if (!bind_inputs(c, g, inputs, vals))
        return false;
    for (int i = 0; observe && i < g->ninputs; i++)
        observe(user, g->inputs[i], &vals[g->inputs[i]]);
    for (int v = 0; v < g->nvalues; v++) {
        const Value *val = ir_value(g, v);
        if (val->kind != VK_CONST || val->dead)
            continue;
        if (!val->data) {
            diag_error(c, val->loc, "constant '%s' has no data", val->name);
            return false;
        }
        vals[v] = (Tensor){.type = val->type, .data = val->data};
    }

    Tensor ins[64], outs[16];
    for (int id = 0; id < g->nnodes; id++) {
        const Node *n = ir_node(g, id);
        if (n->dead)
            continue;
        char d[160];
        const OpInfo *info = op_info(n->op);
        Tensor *in = n->nin <= 64 ? ins : arena_alloc(c->arena, (size_t)n->nin * sizeof *in);
        for (int i = 0; i < n->nin; i++) {
            int v = n->in[i];
            if (v < 0) {
                in[i] = (Tensor){0}; /* an omitted optional input: data == NULL */
                continue;
            }
            if (v >= g->nvalues || !vals[v].data) {
                diag_error(c, n->loc, "%s: input %d is not computed before the node runs",
                           ir_node_desc(g, n, d, sizeof d), i);
                return false;
            }
            in[i] = vals[v];
        }
        if (!info->ref) {
            diag_error(c, n->loc, "%s: %s has no reference implementation",
                       ir_node_desc(g, n, d, sizeof d), info->name);
            return false;
        }
        /* A node's output ids need not be consecutive: gather, run, scatter. */
        Tensor *out = n->nout <= 16 ? outs : arena_alloc(c->arena, (size_t)n->nout * sizeof *out);
        for (int o = 0; o < n->nout; o++) {
            out[o].type = ir_value(g, n->out[o])->type;
            size_t bytes = type_bytes(&out[o].type);
            out[o].data = arena_alloc(c->arena, bytes ? bytes : 1);
        }
        info->ref(g, n, in, out);
        for (int o = 0; o < n->nout; o++) {
            vals[n->out[o]] = out[o];
            if (observe)
                observe(user, n->out[o], &out[o]);
        }
    }

    for (int i = 0; i < g->noutputs; i++) {
        const Value *v = ir_value(g, g->outputs[i]);
        if (!vals[g->outputs[i]].data) {
            diag_error(c, v->loc, "output '%s' is never computed", v->name);
            return false;
        }
        outputs[i] = vals[g->outputs[i]];
    }
    return true;
}
