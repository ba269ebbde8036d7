/* infer_tensor.c: shape/type inference for elementwise and data-movement ops.
 *
 * Every rule reads only input types and attributes and writes the output
 * types; on a user error it prints one diagnostic at the node's location
 * naming the node and every shape involved, and returns false without
 * touching the outputs. Shapes follow ONNX (numpy broadcasting, reshape's
 * 0/-1, pads as [begin..., end...]).
 *
 * Quantization: an output keeps the quant parameters it already has (a type
 * annotation, or a quantization pass). Ops that only move or select values
 * (identity, relu, clip, reshape, flatten, transpose, concat, pad,
 * reduce_max, reduce_min) give a still unquantized output their input's per-tensor
 * parameters, since the values keep their meaning; arithmetic ops do not.
 */
#include "ir.h"

#include <string.h>

/* ------------------------------------------------------------ helpers */

static const char *desc_of(const Graph *g, const Node *n, char *buf, size_t size)
{
    return ir_node_desc(g, n, buf, size);
}

/* Sets output i to t's dtype and shape, keeping the quant rule above. */
static void set_out(Graph *g, Node *n, int i, Type t, const Type *quant_from)
{
    Type *o = ir_out_type(g, n, i);
    Quant *q = o->quant;
    if (!q && quant_from && quant_from->quant) {
        const Quant *src = quant_from->quant;
        bool same_shape = type_equal(quant_from, &t);
        if (src->axis < 0 || same_shape)
            q = quant_from->quant;
    }
    *o = t;
    o->quant = q;
}

static bool quant_passes(int op)
{
    switch (op) {
    case OP_IDENTITY: case OP_RELU: case OP_CLIP:
    case OP_RESHAPE: case OP_FLATTEN: case OP_TRANSPOSE:
    case OP_CONCAT: case OP_PAD: case OP_REDUCE_MAX: case OP_REDUCE_MIN:
        return true;
    default:
        return false;
    }
}

static bool norm_axis(Ctx *c, Loc loc, const char *who, int64_t axis, int rank, int *out)
{
    if (axis < -rank || axis >= rank) {
        if (c) {
            if (rank == 0)
                diag_error(c, loc, "%s: axis %lld is out of range: the input is a scalar (rank 0)",
                           who, (long long)axis);
            else
                diag_error(c, loc, "%s: axis %lld is out of range [%d, %d] for a rank-%d input",
                           who, (long long)axis, -rank, rank - 1, rank);
        }
        return false;
    }
    *out = (int)(axis < 0 ? axis + rank : axis);
    return true;
}

bool infer_axis(Ctx *c, const Node *n, int64_t axis, int rank, int *out)
{
    return norm_axis(c, n->loc, op_info(n->op)->name, axis, rank, out);
}

static bool bcast(Ctx *c, Loc loc, const char *who, const Type *a, const Type *b, Type *out)
{
    int rank = a->rank > b->rank ? a->rank : b->rank;
    Type t = {.dtype = a->dtype, .rank = rank};
    for (int i = 0; i < rank; i++) {
        int ia = i - (rank - a->rank), ib = i - (rank - b->rank);
        int64_t da = ia >= 0 ? a->dims[ia] : 1;
        int64_t db = ib >= 0 ? b->dims[ib] : 1;
        if (da != db && da != 1 && db != 1) {
            if (c) {
                char sa[256], sb[256];
                diag_error(c, loc,
                           "%s: shapes %s and %s do not broadcast (output dim %d: %lld vs %lld)",
                           who, shape_str(a, sa, sizeof sa), shape_str(b, sb, sizeof sb), i,
                           (long long)da, (long long)db);
            }
            return false;
        }
        t.dims[i] = da == 1 ? db : da;
    }
    *out = t;
    return true;
}

bool infer_broadcast_shape(Ctx *c, const Node *n, const Type *a, const Type *b, Type *out)
{
    return bcast(c, n->loc, op_info(n->op)->name, a, b, out);
}

/* Integer and bool tensors are rejected by ops whose math is float only. */
static bool float_only(int op)
{
    switch (op) {
    case OP_LEAKY_RELU: case OP_SIGMOID: case OP_TANH: case OP_GELU:
    case OP_EXP: case OP_LOG: case OP_SQRT:
    case OP_FLOOR: case OP_CEIL: case OP_ROUND: case OP_RECIPROCAL: case OP_ERF:
    case OP_SIN: case OP_COS: case OP_TAN: case OP_ASIN: case OP_ACOS: case OP_ATAN:
    case OP_SINH: case OP_COSH: case OP_ASINH: case OP_ACOSH: case OP_ATANH:
    case OP_SOFTPLUS: case OP_SOFTSIGN: case OP_ELU: case OP_SELU: case OP_CELU:
    case OP_HARD_SIGMOID: case OP_HARD_SWISH: case OP_THRESHOLDED_RELU: case OP_SHRINK:
    case OP_MEAN:
        return true;
    default:
        return false;
    }
}

static bool check_numeric(Ctx *c, const Graph *g, const Node *n, const Type *t)
{
    char d[160], ts[256];
    if (t->dtype == DT_NONE || t->dtype >= DT_COUNT) {
        diag_error(c, n->loc, "%s: input has no type", desc_of(g, n, d, sizeof d));
        return false;
    }
    if (float_only(n->op) && !dtype_is_float(t->dtype)) {
        diag_error(c, n->loc, "%s: input is %s, but %s needs a float tensor (f32)",
                   desc_of(g, n, d, sizeof d), type_str(t, ts, sizeof ts), op_info(n->op)->name);
        return false;
    }
    if (n->op != OP_IDENTITY && t->dtype == DT_BOOL) {
        diag_error(c, n->loc, "%s: input is %s, but %s needs a numeric tensor",
                   desc_of(g, n, d, sizeof d), type_str(t, ts, sizeof ts), op_info(n->op)->name);
        return false;
    }
    return true;
}

/* ------------------------------------------------------- elementwise */

bool infer_same(Ctx *c, Graph *g, Node *n)
{
    const Type *a = ir_in_type(g, n, 0);
    if (!check_numeric(c, g, n, a))
        return false;
    if (n->op == OP_CLIP) {
        double lo = ir_attr_float(n, "min"), hi = ir_attr_float(n, "max");
        if (lo > hi) {
            char d[160];
            diag_error(c, n->loc, "%s: min %g is greater than max %g", desc_of(g, n, d, sizeof d),
                       lo, hi);
            return false;
        }
    }
    if (n->op == OP_GELU) {
        const char *ap = ir_attr_str(n, "approximate");
        if (strcmp(ap, "none") != 0 && strcmp(ap, "tanh") != 0) {
            char d[160];
            diag_error(c, n->loc, "%s: approximate must be \"none\" or \"tanh\", not \"%s\"",
                       desc_of(g, n, d, sizeof d), ap);
            return false;
        }
    }
    set_out(g, n, 0, type_make(a->dtype, a->rank, a->dims), quant_passes(n->op) ? a : NULL);
    return true;
}

/* Any number of inputs (variadic max/min/sum/mean), all of one dtype,
 * broadcast together; prelu's slope must broadcast to x without growing it. */
bool infer_broadcast(Ctx *c, Graph *g, Node *n)
{
    const Type *a = ir_in_type(g, n, 0);
    char d[160], ta[256], tb[256];
    desc_of(g, n, d, sizeof d);
    for (int i = 1; i < n->nin; i++) {
        const Type *b = ir_in_type(g, n, i);
        if (a->dtype != b->dtype) {
            diag_error(c, n->loc, "%s: operand types differ: %s (input 0) and %s (input %d)", d,
                       type_str(a, ta, sizeof ta), type_str(b, tb, sizeof tb), i);
            return false;
        }
    }
    if (!check_numeric(c, g, n, a))
        return false;
    Type t = type_make(a->dtype, a->rank, a->dims);
    for (int i = 1; i < n->nin; i++)
        if (!bcast(c, n->loc, d, &t, ir_in_type(g, n, i), &t))
            return false;
    if (n->op == OP_PRELU && !type_equal(&t, a)) {
        diag_error(c, n->loc, "%s: slope %s must broadcast to x %s without changing its shape",
                   d, type_str(ir_in_type(g, n, 1), tb, sizeof tb), type_str(a, ta, sizeof ta));
        return false;
    }
    set_out(g, n, 0, t, NULL);
    return true;
}

/* ------------------------------------------------------ shape changes */

bool infer_reshape(Ctx *c, Graph *g, Node *n)
{
    const Type *a = ir_in_type(g, n, 0);
    int count;
    const int64_t *shape = ir_attr_ints(n, "shape", &count);
    bool allowzero = ir_attr_int(n, "allowzero") != 0;
    char d[160], sa[256], ss[256];
    desc_of(g, n, d, sizeof d);
    /* The target as written, for messages. */
    size_t len = (size_t)snprintf(ss, sizeof ss, "[");
    for (int i = 0; i < count && len < sizeof ss; i++)
        len += (size_t)snprintf(ss + len, sizeof ss - len, "%s%lld", i ? ", " : "",
                                (long long)shape[i]);
    if (len < sizeof ss)
        snprintf(ss + len, sizeof ss - len, "]");
    shape_str(a, sa, sizeof sa);

    if (count > IR_MAX_RANK) {
        diag_error(c, n->loc, "%s: shape %s has rank %d, more than the maximum %d", d, ss, count,
                   IR_MAX_RANK);
        return false;
    }
    Type t = {.dtype = a->dtype, .rank = count};
    int infer_at = -1;
    int64_t known = 1;
    for (int i = 0; i < count; i++) {
        int64_t s = shape[i];
        if (s == -1) {
            if (infer_at >= 0) {
                diag_error(c, n->loc, "%s: shape %s has more than one -1", d, ss);
                return false;
            }
            infer_at = i;
            continue;
        }
        if (s < -1) {
            diag_error(c, n->loc, "%s: shape %s has a negative dimension %lld", d, ss,
                       (long long)s);
            return false;
        }
        if (s == 0 && !allowzero) {
            if (i >= a->rank) {
                diag_error(c, n->loc,
                           "%s: shape %s copies dim %d (0), but the input %s has rank %d", d, ss,
                           i, sa, a->rank);
                return false;
            }
            s = a->dims[i];
        }
        t.dims[i] = s;
        known *= s;
    }
    if (allowzero && infer_at >= 0) {
        for (int i = 0; i < count; i++)
            if (shape[i] == 0) {
                diag_error(c, n->loc, "%s: shape %s has both 0 and -1, which allowzero forbids",
                           d, ss);
                return false;
            }
    }
    int64_t numel = type_numel(a);
    if (infer_at >= 0) {
        if (known == 0 || numel % known != 0) {
            diag_error(c, n->loc, "%s: cannot reshape %s (%lld elements) to %s", d, sa,
                       (long long)numel, ss);
            return false;
        }
        t.dims[infer_at] = numel / known;
    }
    if (type_numel(&t) != numel) {
        char st[256];
        diag_error(c, n->loc, "%s: cannot reshape %s (%lld elements) to %s = %s (%lld elements)",
                   d, sa, (long long)numel, ss, shape_str(&t, st, sizeof st),
                   (long long)type_numel(&t));
        return false;
    }
    set_out(g, n, 0, t, a);
    return true;
}

bool infer_flatten(Ctx *c, Graph *g, Node *n)
{
    const Type *a = ir_in_type(g, n, 0);
    int64_t axis = ir_attr_int(n, "axis");
    int r = a->rank;
    if (axis < -r || axis > r) {
        char d[160], sa[256];
        diag_error(c, n->loc, "%s: axis %lld is out of range [%d, %d] for input shape %s",
                   desc_of(g, n, d, sizeof d), (long long)axis, -r, r, shape_str(a, sa, sizeof sa));
        return false;
    }
    int ax = (int)(axis < 0 ? axis + r : axis);
    int64_t outer = 1, inner = 1;
    for (int i = 0; i < r; i++) {
        if (i < ax)
            outer *= a->dims[i];
        else
            inner *= a->dims[i];
    }
    int64_t dims[2] = {outer, inner};
    set_out(g, n, 0, type_make(a->dtype, 2, dims), a);
    return true;
}

bool infer_transpose(Ctx *c, Graph *g, Node *n)
{
    const Type *a = ir_in_type(g, n, 0);
    int count;
    const int64_t *perm = ir_attr_ints(n, "perm", &count);
    char d[160], sa[256];
    desc_of(g, n, d, sizeof d);
    shape_str(a, sa, sizeof sa);
    Type t = {.dtype = a->dtype, .rank = a->rank};
    if (count == 0) {
        for (int i = 0; i < a->rank; i++)
            t.dims[i] = a->dims[a->rank - 1 - i];
        set_out(g, n, 0, t, a);
        return true;
    }
    if (count != a->rank) {
        diag_error(c, n->loc, "%s: perm has %d entries, but the input %s has rank %d", d, count,
                   sa, a->rank);
        return false;
    }
    bool seen[IR_MAX_RANK] = {false};
    for (int i = 0; i < count; i++) {
        if (perm[i] < 0 || perm[i] >= a->rank || seen[perm[i]]) {
            diag_error(c, n->loc,
                       "%s: perm is not a permutation of [0, %d): entry %d is %lld (input %s)", d,
                       a->rank, i, (long long)perm[i], sa);
            return false;
        }
        seen[perm[i]] = true;
        t.dims[i] = a->dims[perm[i]];
    }
    set_out(g, n, 0, t, a);
    return true;
}

bool infer_concat(Ctx *c, Graph *g, Node *n)
{
    char d[160], sa[256], sb[256];
    desc_of(g, n, d, sizeof d);
    for (int i = 0; i < n->nin; i++)
        if (n->in[i] < 0) {
            diag_error(c, n->loc, "%s: input %d is omitted; concat needs every input", d, i);
            return false;
        }
    const Type *a = ir_in_type(g, n, 0);
    int ax;
    if (!norm_axis(c, n->loc, d, ir_attr_int(n, "axis"), a->rank, &ax))
        return false;
    Type t = type_make(a->dtype, a->rank, a->dims);
    for (int i = 1; i < n->nin; i++) {
        const Type *b = ir_in_type(g, n, i);
        if (b->dtype != a->dtype) {
            diag_error(c, n->loc, "%s: input %d is %s, but input 0 is %s", d, i,
                       type_str(b, sb, sizeof sb), type_str(a, sa, sizeof sa));
            return false;
        }
        bool ok = b->rank == a->rank;
        for (int k = 0; ok && k < a->rank; k++)
            ok = k == ax || b->dims[k] == a->dims[k];
        if (!ok) {
            diag_error(c, n->loc,
                       "%s: input %d has shape %s, input 0 has shape %s: they must agree on "
                       "every dim but axis %d",
                       d, i, shape_str(b, sb, sizeof sb), shape_str(a, sa, sizeof sa), ax);
            return false;
        }
        t.dims[ax] += b->dims[ax];
    }
    set_out(g, n, 0, t, a);
    return true;
}

bool infer_pad(Ctx *c, Graph *g, Node *n)
{
    const Type *a = ir_in_type(g, n, 0);
    int count;
    const int64_t *pads = ir_attr_ints(n, "pads", &count);
    const char *mode = ir_attr_str(n, "mode");
    char d[160], sa[256];
    desc_of(g, n, d, sizeof d);
    shape_str(a, sa, sizeof sa);
    int r = a->rank;
    if (count != 2 * r) {
        diag_error(c, n->loc, "%s: pads has %d entries, but the input %s needs %d (begin..., end...)",
                   d, count, sa, 2 * r);
        return false;
    }
    bool reflect = strcmp(mode, "reflect") == 0, edge = strcmp(mode, "edge") == 0;
    if (!reflect && !edge && strcmp(mode, "constant") != 0) {
        diag_error(c, n->loc, "%s: mode must be \"constant\", \"reflect\" or \"edge\", not \"%s\"",
                   d, mode);
        return false;
    }
    Type t = {.dtype = a->dtype, .rank = r};
    for (int i = 0; i < r; i++) {
        int64_t b = pads[i], e = pads[r + i];
        t.dims[i] = a->dims[i] + b + e;
        if (t.dims[i] < 0) {
            diag_error(c, n->loc, "%s: pads %lld and %lld on dim %d of %s leave a negative size",
                       d, (long long)b, (long long)e, i, sa);
            return false;
        }
        if (reflect && (b >= a->dims[i] || e >= a->dims[i])) {
            diag_error(c, n->loc,
                       "%s: reflect pads %lld and %lld on dim %d must be smaller than the dim "
                       "(input %s)",
                       d, (long long)b, (long long)e, i, sa);
            return false;
        }
        if (edge && a->dims[i] == 0 && (b > 0 || e > 0)) {
            diag_error(c, n->loc, "%s: edge padding of empty dim %d (input %s)", d, i, sa);
            return false;
        }
    }
    set_out(g, n, 0, t, a);
    return true;
}

/* --------------------------------------------------------- reductions */

/* Fills reduced[] from the axes attribute; false (with a diagnostic when c
 * is set) on an out-of-range or repeated axis. */
static bool reduce_axes(Ctx *c, const Graph *g, const Node *n, bool reduced[IR_MAX_RANK])
{
    const Type *a = ir_in_type(g, n, 0);
    int count;
    const int64_t *axes = ir_attr_ints(n, "axes", &count);
    char d[160];
    desc_of(g, n, d, sizeof d);
    for (int i = 0; i < IR_MAX_RANK; i++)
        reduced[i] = false;
    if (count == 0) {
        bool all = ir_attr_int(n, "noop_with_empty_axes") == 0;
        for (int i = 0; i < a->rank; i++)
            reduced[i] = all;
        return true;
    }
    for (int i = 0; i < count; i++) {
        int ax;
        if (!norm_axis(c, n->loc, d, axes[i], a->rank, &ax))
            return false;
        if (reduced[ax]) {
            if (c)
                diag_error(c, n->loc, "%s: axis %d is listed twice in axes", d, ax);
            return false;
        }
        reduced[ax] = true;
    }
    return true;
}

void ir_reduce_axes(const Graph *g, const Node *n, bool reduced[IR_MAX_RANK])
{
    if (!reduce_axes(NULL, g, n, reduced))
        unreachable("ir_reduce_axes on a node that failed inference");
}

bool infer_reduce(Ctx *c, Graph *g, Node *n)
{
    const Type *a = ir_in_type(g, n, 0);
    if (!check_numeric(c, g, n, a))
        return false;
    bool reduced[IR_MAX_RANK];
    if (!reduce_axes(c, g, n, reduced))
        return false;
    bool keep = ir_attr_int(n, "keepdims") != 0;
    bool logs = n->op == OP_REDUCE_L2 || n->op == OP_REDUCE_LOG_SUM ||
                n->op == OP_REDUCE_LOG_SUM_EXP;
    if (logs && !dtype_is_float(a->dtype)) {
        char d[160], ta[256];
        diag_error(c, n->loc, "%s: input is %s, but %s needs a float tensor (f32)",
                   desc_of(g, n, d, sizeof d), type_str(a, ta, sizeof ta), op_info(n->op)->name);
        return false;
    }
    Type t = {.dtype = a->dtype};
    for (int i = 0; i < a->rank; i++) {
        if (reduced[i] && a->dims[i] == 0 &&
            (n->op == OP_REDUCE_MAX || n->op == OP_REDUCE_MIN)) {
            char d[160], sa[256];
            diag_error(c, n->loc, "%s: %s over empty dim %d of %s", desc_of(g, n, d, sizeof d),
                       op_info(n->op)->name, i, shape_str(a, sa, sizeof sa));
            return false;
        }
        if (!reduced[i])
            t.dims[t.rank++] = a->dims[i];
        else if (keep)
            t.dims[t.rank++] = 1;
    }
    set_out(g, n, 0, t, quant_passes(n->op) ? a : NULL);
    return true;
}
