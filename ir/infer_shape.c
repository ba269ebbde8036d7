/* infer_shape.c: shape/type inference for the index and data-movement ops:
 * argmax/argmin, squeeze/unsqueeze, split, slice, gather, expand, tile,
 * depth_to_space and space_to_depth.
 *
 * Every rule reads only input types and attributes (and, for gather, a
 * constant indices tensor's values, to reject out-of-range indices early)
 * and writes the output types; a user error prints one diagnostic at the
 * node naming it and the shapes involved and returns false. Semantics are
 * ONNX's (opset 13+; split's num_outputs as in opset 18).
 *
 * ir_slice_geom is the one place slice attributes are resolved (negative
 * indices, clamping, steps, INT64 sentinels), so infer, ref and lower agree.
 *
 * Quantization: these ops only move values, so an output without quant
 * parameters of its own takes the input's per-tensor parameters (argmax
 * and argmin, whose outputs are indices, take none).
 */
#include "ir.h"

#include <string.h>

#define SZ 256

/* ------------------------------------------------------------ helpers */

/* Sets output i to t; keeps a quant annotation already on the output, else
 * inherits the per-tensor parameters of `from` (NULL: none). */
static void set_out(Graph *g, Node *n, int i, Type t, const Type *from)
{
    Type *o = ir_out_type(g, n, i);
    Quant *q = o->quant;
    if (!q && from && from->quant && from->quant->axis < 0)
        q = from->quant;
    *o = t;
    o->quant = q;
}

static bool shape_error(Ctx *c, const Graph *g, const Node *n, const char *fmt, ...)
    IR_PRINTF(4, 5);

/* "node 'y' (op): <message>" at the node. Always returns false. */
static bool shape_error(Ctx *c, const Graph *g, const Node *n, const char *fmt, ...)
{
    char d[160], msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    diag_error(c, n->loc, "%s: %s", ir_node_desc(g, n, d, sizeof d), msg);
    return false;
}

/* The data input of every op here must have a dtype. */
static bool has_type(Ctx *c, const Graph *g, const Node *n, int i)
{
    const Type *t = ir_in_type(g, n, i);
    if (t->dtype == DT_NONE || t->dtype >= DT_COUNT)
        return shape_error(c, g, n, "input %d has no type", i);
    return true;
}

/* ------------------------------------------------------ argmax/argmin */

bool infer_arg(Ctx *c, Graph *g, Node *n)
{
    if (!has_type(c, g, n, 0))
        return false;
    const Type *a = ir_in_type(g, n, 0);
    char sa[SZ], ta[SZ];
    shape_str(a, sa, sizeof sa);
    if (a->dtype == DT_BOOL)
        return shape_error(c, g, n, "input is %s, but %s needs a numeric tensor",
                           type_str(a, ta, sizeof ta), op_info(n->op)->name);
    int ax;
    if (!infer_axis(c, n, ir_attr_int(n, "axis"), a->rank, &ax))
        return false;
    if (a->dims[ax] == 0)
        return shape_error(c, g, n, "axis %d of input %s is empty: there is no extreme to find",
                           ax, sa);
    bool keep = ir_attr_int(n, "keepdims") != 0;
    Type t = {.dtype = DT_I64};
    for (int d = 0; d < a->rank; d++) {
        if (d != ax)
            t.dims[t.rank++] = a->dims[d];
        else if (keep)
            t.dims[t.rank++] = 1;
    }
    set_out(g, n, 0, t, NULL);
    return true;
}

/* -------------------------------------------------- squeeze/unsqueeze */

bool infer_squeeze(Ctx *c, Graph *g, Node *n)
{
    if (!has_type(c, g, n, 0))
        return false;
    const Type *a = ir_in_type(g, n, 0);
    int count;
    const int64_t *axes = ir_attr_ints(n, "axes", &count);
    char sa[SZ], sx[SZ];
    shape_str(a, sa, sizeof sa);
    infer_ints_str(axes, count, sx, sizeof sx);
    bool drop[IR_MAX_RANK] = {false};
    if (count == 0) {
        for (int d = 0; d < a->rank; d++)
            drop[d] = a->dims[d] == 1;
    }
    for (int i = 0; i < count; i++) {
        int ax;
        if (!infer_axis(c, n, axes[i], a->rank, &ax))
            return false;
        if (drop[ax])
            return shape_error(c, g, n, "axes %s list axis %d twice", sx, ax);
        if (a->dims[ax] != 1)
            return shape_error(c, g, n, "axes %s: dim %d of input %s is %lld, not 1", sx, ax, sa,
                               (long long)a->dims[ax]);
        drop[ax] = true;
    }
    Type t = {.dtype = a->dtype};
    for (int d = 0; d < a->rank; d++)
        if (!drop[d])
            t.dims[t.rank++] = a->dims[d];
    set_out(g, n, 0, t, a);
    return true;
}

bool infer_unsqueeze(Ctx *c, Graph *g, Node *n)
{
    if (!has_type(c, g, n, 0))
        return false;
    const Type *a = ir_in_type(g, n, 0);
    int count;
    const int64_t *axes = ir_attr_ints(n, "axes", &count);
    char sa[SZ], sx[SZ];
    shape_str(a, sa, sizeof sa);
    infer_ints_str(axes, count, sx, sizeof sx);
    int r = a->rank + count;
    if (count == 0)
        return shape_error(c, g, n, "axes is empty: unsqueeze needs at least one axis");
    if (r > IR_MAX_RANK)
        return shape_error(c, g, n, "unsqueezing input %s at axes %s gives rank %d, more than "
                           "the maximum %d", sa, sx, r, IR_MAX_RANK);
    /* Axes count in the output's rank. */
    bool added[IR_MAX_RANK] = {false};
    for (int i = 0; i < count; i++) {
        int ax;
        if (!infer_axis(c, n, axes[i], r, &ax))
            return false;
        if (added[ax])
            return shape_error(c, g, n, "axes %s list axis %d twice", sx, ax);
        added[ax] = true;
    }
    Type t = {.dtype = a->dtype, .rank = r};
    for (int d = 0, k = 0; d < r; d++)
        t.dims[d] = added[d] ? 1 : a->dims[k++];
    set_out(g, n, 0, t, a);
    return true;
}

/* -------------------------------------------------------------- split */

bool infer_split(Ctx *c, Graph *g, Node *n)
{
    if (!has_type(c, g, n, 0))
        return false;
    const Type *a = ir_in_type(g, n, 0);
    int count;
    const int64_t *split = ir_attr_ints(n, "split", &count);
    int64_t parts = ir_attr_int(n, "num_outputs");
    char sa[SZ], sx[SZ];
    shape_str(a, sa, sizeof sa);
    int ax;
    if (!infer_axis(c, n, ir_attr_int(n, "axis"), a->rank, &ax))
        return false;
    int64_t dim = a->dims[ax];
    int64_t sizes[256];
    if (n->nout > (int)(sizeof sizes / sizeof sizes[0]))
        return shape_error(c, g, n, "%d outputs; split supports at most %d", n->nout,
                           (int)(sizeof sizes / sizeof sizes[0]));
    if (count > 0) {
        infer_ints_str(split, count, sx, sizeof sx);
        if (ir_attr_is_set(n, "num_outputs"))
            return shape_error(c, g, n, "split %s and num_outputs %lld are both given; give one",
                               sx, (long long)parts);
        if (count != n->nout)
            return shape_error(c, g, n, "split %s has %d entries, but the node has %d output%s",
                               sx, count, n->nout, n->nout == 1 ? "" : "s");
        int64_t sum = 0;
        for (int i = 0; i < count; i++) {
            if (split[i] < 0)
                return shape_error(c, g, n, "split %s has a negative size %lld", sx,
                                   (long long)split[i]);
            sizes[i] = split[i];
            sum += split[i];
        }
        if (sum != dim)
            return shape_error(c, g, n, "split %s sums to %lld, but axis %d of input %s is %lld",
                               sx, (long long)sum, ax, sa, (long long)dim);
    } else {
        if (ir_attr_is_set(n, "num_outputs") && parts != n->nout)
            return shape_error(c, g, n, "num_outputs is %lld, but the node has %d output%s",
                               (long long)parts, n->nout, n->nout == 1 ? "" : "s");
        parts = n->nout;
        if (parts < 1)
            return shape_error(c, g, n, "split needs at least one output");
        /* Equal chunks of ceil(dim / parts), the last one smaller (opset 18). */
        int64_t chunk = (dim + parts - 1) / parts, left = dim;
        for (int i = 0; i < parts; i++) {
            sizes[i] = left < chunk ? left : chunk;
            left -= sizes[i];
        }
        if (parts > 1 && sizes[parts - 1] == 0 && dim > 0)
            return shape_error(c, g, n, "axis %d of input %s (%lld) does not split into %lld "
                               "non-empty parts of %lld", ax, sa, (long long)dim,
                               (long long)parts, (long long)chunk);
    }
    for (int i = 0; i < n->nout; i++) {
        Type t = type_make(a->dtype, a->rank, a->dims);
        t.dims[ax] = sizes[i];
        set_out(g, n, i, t, a);
    }
    return true;
}

/* -------------------------------------------------------------- slice */

/* Resolves one sliced dim of size `dim`: start index, output count. */
static void slice_dim(int64_t dim, int64_t start, int64_t end, int64_t step, int64_t *first,
                      int64_t *len)
{
    if (start < 0)
        start += dim;
    if (end < 0)
        end += dim;
    if (step > 0) {
        start = start < 0 ? 0 : start > dim ? dim : start;
        end = end < 0 ? 0 : end > dim ? dim : end;
        *len = end > start ? (end - start + step - 1) / step : 0;
    } else {
        start = start < 0 ? 0 : start > dim - 1 ? dim - 1 : start;
        end = end < -1 ? -1 : end > dim - 1 ? dim - 1 : end;
        *len = start > end ? (start - end + (-step) - 1) / (-step) : 0;
    }
    *first = *len > 0 ? start : 0;
}

/* Checks the attributes (diagnostics when c is set) and resolves them:
 * output dim d is in[first[d] + i * step[d]] for i < out_dims[d]. */
static bool slice_geom(Ctx *c, const Graph *g, const Node *n, int64_t *first, int64_t *step,
                       int64_t *out_dims)
{
    const Type *a = ir_in_type(g, n, 0);
    int ns, ne, na, nst;
    const int64_t *starts = ir_attr_ints(n, "starts", &ns);
    const int64_t *ends = ir_attr_ints(n, "ends", &ne);
    const int64_t *axes = ir_attr_ints(n, "axes", &na);
    const int64_t *steps = ir_attr_ints(n, "steps", &nst);
    char s1[SZ], s2[SZ], sa[SZ];
    shape_str(a, sa, sizeof sa);
    if (ns != ne || (na && na != ns) || (nst && nst != ns)) {
        if (c)
            shape_error(c, g, n, "starts %s and ends %s (and axes, steps when given) must have "
                        "the same length; they have %d, %d, %d, %d", infer_ints_str(starts, ns, s1,
                        sizeof s1), infer_ints_str(ends, ne, s2, sizeof s2), ns, ne, na, nst);
        return false;
    }
    for (int d = 0; d < a->rank; d++) {
        first[d] = 0;
        step[d] = 1;
        out_dims[d] = a->dims[d];
    }
    bool seen[IR_MAX_RANK] = {false};
    for (int i = 0; i < ns; i++) {
        int64_t axis = na ? axes[i] : i;
        int ax;
        if (axis < -a->rank || axis >= a->rank) {
            if (c)
                shape_error(c, g, n, "axis %lld is out of range [%d, %d] for input %s",
                            (long long)axis, -a->rank, a->rank - 1, sa);
            return false;
        }
        ax = (int)(axis < 0 ? axis + a->rank : axis);
        if (seen[ax]) {
            if (c)
                shape_error(c, g, n, "axis %d is sliced twice", ax);
            return false;
        }
        seen[ax] = true;
        int64_t st = nst ? steps[i] : 1;
        if (st == 0) {
            if (c)
                shape_error(c, g, n, "steps %s has a 0 step (axis %d)",
                            infer_ints_str(steps, nst, s1, sizeof s1), ax);
            return false;
        }
        /* Steps beyond +-dim take one element, like +-dim; clamping them keeps
         * INT64_MIN negatable and the count arithmetic from overflowing. */
        int64_t big = a->dims[ax] > 0 ? a->dims[ax] : 1;
        if (st < -big)
            st = -big;
        else if (st > big)
            st = big;
        step[ax] = st;
        slice_dim(a->dims[ax], starts[i], ends[i], st, &first[ax], &out_dims[ax]);
    }
    return true;
}

void ir_slice_geom(const Graph *g, const Node *n, int64_t *first, int64_t *step)
{
    int64_t dims[IR_MAX_RANK];
    if (!slice_geom(NULL, g, n, first, step, dims))
        unreachable("ir_slice_geom on a node that failed inference");
}

bool infer_slice(Ctx *c, Graph *g, Node *n)
{
    if (!has_type(c, g, n, 0))
        return false;
    const Type *a = ir_in_type(g, n, 0);
    int64_t first[IR_MAX_RANK], step[IR_MAX_RANK];
    Type t = {.dtype = a->dtype, .rank = a->rank};
    if (!slice_geom(c, g, n, first, step, t.dims))
        return false;
    set_out(g, n, 0, t, a);
    return true;
}

/* ------------------------------------------------------------- gather */

bool infer_gather(Ctx *c, Graph *g, Node *n)
{
    if (!has_type(c, g, n, 0) || !has_type(c, g, n, 1))
        return false;
    const Type *a = ir_in_type(g, n, 0), *ix = ir_in_type(g, n, 1);
    char sa[SZ], si[SZ];
    shape_str(a, sa, sizeof sa);
    type_str(ix, si, sizeof si);
    if (ix->dtype != DT_I32 && ix->dtype != DT_I64)
        return shape_error(c, g, n, "indices are %s; gather needs i32 or i64 indices", si);
    if (a->rank < 1)
        return shape_error(c, g, n, "data %s is a scalar; gather needs rank >= 1", sa);
    int ax;
    if (!infer_axis(c, n, ir_attr_int(n, "axis"), a->rank, &ax))
        return false;
    int r = a->rank - 1 + ix->rank;
    if (r > IR_MAX_RANK)
        return shape_error(c, g, n, "data %s and indices %s give rank %d, more than the "
                           "maximum %d", sa, si, r, IR_MAX_RANK);
    int64_t dim = a->dims[ax], nidx = type_numel(ix);
    if (dim == 0 && nidx > 0)
        return shape_error(c, g, n, "axis %d of data %s is empty, but there are indices %s",
                           ax, sa, si);
    const Value *iv = ir_value(g, n->in[1]);
    if (iv->kind == VK_CONST && iv->data) {
        for (int64_t i = 0; i < nidx; i++) {
            int64_t k = ix->dtype == DT_I32 ? ((const int32_t *)iv->data)[i]
                                            : ((const int64_t *)iv->data)[i];
            if (k < -dim || k >= dim)
                return shape_error(c, g, n, "index %lld (indices '%s' element %lld) is out of "
                                   "range [%lld, %lld] for axis %d of data %s", (long long)k,
                                   iv->name, (long long)i, (long long)-dim,
                                   (long long)(dim - 1), ax, sa);
        }
    }
    Type t = {.dtype = a->dtype, .rank = r};
    int k = 0;
    for (int d = 0; d < ax; d++)
        t.dims[k++] = a->dims[d];
    for (int d = 0; d < ix->rank; d++)
        t.dims[k++] = ix->dims[d];
    for (int d = ax + 1; d < a->rank; d++)
        t.dims[k++] = a->dims[d];
    set_out(g, n, 0, t, a);
    return true;
}

/* ------------------------------------------------------ expand and tile */

bool infer_expand(Ctx *c, Graph *g, Node *n)
{
    if (!has_type(c, g, n, 0))
        return false;
    const Type *a = ir_in_type(g, n, 0);
    int count;
    const int64_t *shape = ir_attr_ints(n, "shape", &count);
    char sx[SZ];
    infer_ints_str(shape, count, sx, sizeof sx);
    if (count > IR_MAX_RANK)
        return shape_error(c, g, n, "shape %s has rank %d, more than the maximum %d", sx, count,
                           IR_MAX_RANK);
    Type s = {.dtype = a->dtype, .rank = count};
    for (int i = 0; i < count; i++) {
        if (shape[i] < 0)
            return shape_error(c, g, n, "shape %s has a negative dim %lld", sx,
                               (long long)shape[i]);
        s.dims[i] = shape[i];
    }
    /* Bidirectional (numpy) broadcasting: a 1 in `shape` keeps the input's dim. */
    Type t;
    if (!infer_broadcast_shape(NULL, n, a, &s, &t)) {
        char sa[SZ];
        return shape_error(c, g, n, "input %s does not broadcast to shape %s",
                           shape_str(a, sa, sizeof sa), sx);
    }
    set_out(g, n, 0, t, a);
    return true;
}

bool infer_tile(Ctx *c, Graph *g, Node *n)
{
    if (!has_type(c, g, n, 0))
        return false;
    const Type *a = ir_in_type(g, n, 0);
    int count;
    const int64_t *rep = ir_attr_ints(n, "repeats", &count);
    char sa[SZ], sx[SZ];
    shape_str(a, sa, sizeof sa);
    infer_ints_str(rep, count, sx, sizeof sx);
    if (count != a->rank)
        return shape_error(c, g, n, "repeats %s has %d entries, but the input %s has rank %d",
                           sx, count, sa, a->rank);
    Type t = {.dtype = a->dtype, .rank = a->rank};
    for (int d = 0; d < a->rank; d++) {
        if (rep[d] < 0)
            return shape_error(c, g, n, "repeats %s has a negative entry %lld", sx,
                               (long long)rep[d]);
        t.dims[d] = a->dims[d] * rep[d];
    }
    set_out(g, n, 0, t, a);
    return true;
}

/* ------------------------------------------ depth_to_space, space_to_depth */

static bool block_input(Ctx *c, const Graph *g, const Node *n, int64_t *b)
{
    const Type *a = ir_in_type(g, n, 0);
    char sa[SZ];
    shape_str(a, sa, sizeof sa);
    *b = ir_attr_int(n, "blocksize");
    if (a->rank != 4)
        return shape_error(c, g, n, "input %s must have rank 4 (NCHW)", sa);
    if (*b < 1)
        return shape_error(c, g, n, "blocksize %lld must be at least 1", (long long)*b);
    return true;
}

bool infer_depth_to_space(Ctx *c, Graph *g, Node *n)
{
    int64_t b;
    if (!has_type(c, g, n, 0) || !block_input(c, g, n, &b))
        return false;
    const Type *a = ir_in_type(g, n, 0);
    const char *mode = ir_attr_str(n, "mode");
    char sa[SZ];
    shape_str(a, sa, sizeof sa);
    if (strcmp(mode, "DCR") != 0 && strcmp(mode, "CRD") != 0)
        return shape_error(c, g, n, "mode must be \"DCR\" or \"CRD\", not \"%s\"", mode);
    if (a->dims[1] % (b * b) != 0)
        return shape_error(c, g, n, "channels %lld of input %s are not a multiple of "
                           "blocksize^2 = %lld", (long long)a->dims[1], sa, (long long)(b * b));
    int64_t dims[4] = {a->dims[0], a->dims[1] / (b * b), a->dims[2] * b, a->dims[3] * b};
    set_out(g, n, 0, type_make(a->dtype, 4, dims), a);
    return true;
}

bool infer_space_to_depth(Ctx *c, Graph *g, Node *n)
{
    int64_t b;
    if (!has_type(c, g, n, 0) || !block_input(c, g, n, &b))
        return false;
    const Type *a = ir_in_type(g, n, 0);
    char sa[SZ];
    shape_str(a, sa, sizeof sa);
    if (a->dims[2] % b != 0 || a->dims[3] % b != 0)
        return shape_error(c, g, n, "height and width of input %s are not multiples of "
                           "blocksize %lld", sa, (long long)b);
    int64_t dims[4] = {a->dims[0], a->dims[1] * b * b, a->dims[2] / b, a->dims[3] / b};
    set_out(g, n, 0, type_make(a->dtype, 4, dims), a);
    return true;
}
