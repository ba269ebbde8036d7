/* lower_tensor.c: lowering of the shape and data-movement ops and of the
 * reductions: reshape/flatten/squeeze/unsqueeze (views), transpose, concat,
 * pad and the reduce_* family (sum, mean, max, min, prod, l1, l2,
 * sum_square, log_sum, log_sum_exp).
 *
 * Shapes come from the values' (already inferred) types; attributes mean
 * what they mean in the reference implementations (ir/ref_tensor.c).
 * Invariant: no kernel made here ever loads out of bounds, not even under
 * an EX_SELECT (a backend may evaluate both sides): padding guards its loads
 * with ST_IF or clamps/reflects the index itself.
 */
#include "passes.h"

#include <assert.h>
#include <math.h>
#include <string.h>

static void var_exprs(Program *p, const int *vars, int rank, Expr **out)
{
    for (int d = 0; d < rank; d++)
        out[d] = ex_var(p, vars[d]);
}

/* A constant of dtype dt; integers round to nearest, as ref_pad does. */
static Expr *cst_t(Program *p, DType dt, double v)
{
    if (dtype_is_float(dt))
        return ex_flt(p, v);
    return ex_int_t(p, dt, (int64_t)nearbyint(v));
}

/* ------------------------------------------------------------------ copy */

/* Reshape, flatten, squeeze and unsqueeze keep the row-major order, so the
 * output is a view: its value shares the input's buffer and no kernel runs
 * (the planner sees the buffer live until the view's last reader). Only a
 * graph output, which has a buffer of its own, gets a flat copy. */
bool lower_copy(LowerCtx *lc, const Node *n)
{
    Program *p = lc->p;
    if (p->value_buf[n->out[0]] < 0) {
        p->value_buf[n->out[0]] = lower_buf(lc, n->in[0]);
        return true;
    }
    const Type *out = ir_out_type(lc->g, n, 0);
    Kernel *k = lower_kernel(lc, n);
    int src = lower_buf(lc, n->in[0]), dst = lower_buf(lc, n->out[0]);
    int i = loop_new_var(k);
    Stmt *loop = st_for_n(p, i, type_numel(out), LOOP_PARALLEL);
    st_append(p, k->body, loop);
    st_append(p, loop->body, st_store(p, dst, ex_var(p, i), ex_load(p, src, ex_var(p, i))));
    return true;
}

/* ------------------------------------------------------------- transpose */

/* out[i_0, ..., i_r-1] = in[j] with j[perm[d]] = i_d; no perm reverses. */
bool lower_transpose(LowerCtx *lc, const Node *n)
{
    Program *p = lc->p;
    const Type *in = ir_in_type(lc->g, n, 0), *out = ir_out_type(lc->g, n, 0);
    int nperm;
    const int64_t *perm = ir_attr_ints(n, "perm", &nperm);
    Kernel *k = lower_kernel(lc, n);
    int vars[IR_MAX_RANK];
    Stmt *body = lower_nest(p, k, k->body, out, vars);
    Expr *oidx[IR_MAX_RANK], *iidx[IR_MAX_RANK];
    var_exprs(p, vars, out->rank, oidx);
    for (int d = 0; d < out->rank; d++) {
        int64_t from = nperm ? perm[d] : out->rank - 1 - d;
        if (from < 0)
            from += in->rank;
        iidx[from] = oidx[d];
    }
    Expr *val = ex_load(p, lower_buf(lc, n->in[0]), lower_index(p, in, iidx));
    st_append(p, body, st_store(p, lower_buf(lc, n->out[0]), lower_index(p, out, oidx), val));
    return true;
}

/* ---------------------------------------------------------------- concat */

/* One nest per input, writing its block at a running offset on the axis. */
bool lower_concat(LowerCtx *lc, const Node *n)
{
    Program *p = lc->p;
    const Type *out = ir_out_type(lc->g, n, 0);
    int64_t axis = ir_attr_int(n, "axis");
    if (axis < 0)
        axis += out->rank;
    Kernel *k = lower_kernel(lc, n);
    int dst = lower_buf(lc, n->out[0]);
    int64_t offset = 0;
    for (int i = 0; i < n->nin; i++) {
        if (n->in[i] < 0)
            continue;
        const Type *in = ir_in_type(lc->g, n, i);
        int vars[IR_MAX_RANK];
        Stmt *body = lower_nest(p, k, k->body, in, vars);
        Expr *iidx[IR_MAX_RANK], *oidx[IR_MAX_RANK];
        var_exprs(p, vars, in->rank, iidx);
        memcpy(oidx, iidx, sizeof oidx);
        oidx[axis] = ex_add(p, iidx[axis], ex_int(p, offset));
        Expr *val = ex_load(p, lower_buf(lc, n->in[i]), lower_index(p, in, iidx));
        st_append(p, body, st_store(p, dst, lower_index(p, out, oidx), val));
        offset += in->dims[axis];
    }
    return true;
}

/* ------------------------------------------------------------------- pad */

/* The source index of `o` along a dim of size `size` padded by [b, e):
 * o - b, reflected or clamped into range when that can leave it. */
static Expr *pad_source(Program *p, const char *mode, Expr *o, int64_t size, int64_t b, int64_t e)
{
    Expr *src = ex_bin(p, BIN_SUB, o, ex_int(p, b));
    bool low = b > 0, high = e > 0;
    if (!low && !high)
        return src;
    if (strcmp(mode, "edge") == 0) {
        if (low)
            src = ex_bin(p, BIN_MAX, src, ex_int(p, 0));
        if (high)
            src = ex_bin(p, BIN_MIN, src, ex_int(p, size - 1));
        return src;
    }
    /* reflect: mirror about the first and last element (not repeated);
     * inference keeps reflect pads below the dim, so one mirror suffices. */
    assert(b < size && e < size);
    if (low)
        src = ex_select(p, ex_bin(p, BIN_LT, src, ex_int(p, 0)),
                        ex_bin(p, BIN_SUB, ex_int(p, 0), src), src);
    if (high)
        src = ex_select(p, ex_bin(p, BIN_GE, src, ex_int(p, size)),
                        ex_bin(p, BIN_SUB, ex_int(p, 2 * (size - 1)), src), src);
    return src;
}

bool lower_pad(LowerCtx *lc, const Node *n)
{
    Program *p = lc->p;
    const Type *in = ir_in_type(lc->g, n, 0), *out = ir_out_type(lc->g, n, 0);
    int npads;
    const int64_t *pads = ir_attr_ints(n, "pads", &npads);
    const char *mode = ir_attr_str(n, "mode");
    assert(npads == 2 * in->rank);
    Kernel *k = lower_kernel(lc, n);
    int src = lower_buf(lc, n->in[0]), dst = lower_buf(lc, n->out[0]);
    int vars[IR_MAX_RANK];
    Stmt *body = lower_nest(p, k, k->body, out, vars);
    Expr *oidx[IR_MAX_RANK], *iidx[IR_MAX_RANK];
    var_exprs(p, vars, out->rank, oidx);
    Expr *store_at = lower_index(p, out, oidx);

    if (strcmp(mode, "constant") != 0) {
        for (int d = 0; d < in->rank; d++)
            iidx[d] = pad_source(p, mode, oidx[d], in->dims[d], pads[d], pads[d + in->rank]);
        Expr *val = ex_load(p, src, lower_index(p, in, iidx));
        st_append(p, body, st_store(p, dst, store_at, val));
        return true;
    }
    /* constant: the load happens only under an ST_IF proving it in range. */
    Expr *inside = NULL;
    for (int d = 0; d < in->rank; d++) {
        int64_t b = pads[d], e = pads[d + in->rank];
        iidx[d] = ex_bin(p, BIN_SUB, oidx[d], ex_int(p, b));
        Expr *conds[2] = {
            b > 0 ? ex_bin(p, BIN_GE, iidx[d], ex_int(p, 0)) : NULL,
            e > 0 ? ex_bin(p, BIN_LT, iidx[d], ex_int(p, in->dims[d])) : NULL,
        };
        for (int j = 0; j < 2; j++)
            if (conds[j])
                inside = inside ? ex_bin(p, BIN_AND, inside, conds[j]) : conds[j];
    }
    Stmt *copy = st_store(p, dst, store_at, ex_load(p, src, lower_index(p, in, iidx)));
    if (!inside) {
        st_append(p, body, copy);
        return true;
    }
    Stmt *then = st_block(p), *els = st_block(p);
    st_append(p, then, copy);
    st_append(p, els, st_store(p, dst, store_at, cst_t(p, out->dtype, ir_attr_float(n, "value"))));
    st_append(p, body, st_if(p, inside, then, els));
    return true;
}

/* ---------------------------------------------------------------- reduce */

/* The identity of max (lowest) or min (highest) for dtype dt. */
static Expr *extreme(Program *p, DType dt, bool highest)
{
    switch (dt) {
    case DT_F32: return ex_flt(p, highest ? INFINITY : -INFINITY);
    case DT_I8: return ex_int_t(p, dt, highest ? INT8_MAX : INT8_MIN);
    case DT_I16: return ex_int_t(p, dt, highest ? INT16_MAX : INT16_MIN);
    case DT_I32: return ex_int_t(p, dt, highest ? INT32_MAX : INT32_MIN);
    case DT_I64: return ex_int_t(p, dt, highest ? INT64_MAX : INT64_MIN);
    case DT_U8: return ex_int_t(p, dt, highest ? UINT8_MAX : 0);
    default: return ex_int_t(p, dt, highest ? 1 : 0);
    }
}

/* Appends to `body` a nest over the reduced axes of `in` and returns its
 * innermost block; iidx gets the input index: kept axes take the output's
 * loop vars in order (with keepdims the reduced ones are the output's
 * size-1 dims, skipped), reduced axes the new loops' vars. */
static Stmt *reduce_nest(Program *p, Kernel *k, Stmt *body, const Type *in,
                         const bool *reduced, Expr **oidx, bool keep, Expr **iidx)
{
    Stmt *inner = body;
    for (int d = 0, od = 0; d < in->rank; d++) {
        if (!reduced[d]) {
            iidx[d] = oidx[keep ? d : od++];
            continue;
        }
        int v = loop_new_var(k);
        Stmt *loop = st_for_n(p, v, in->dims[d], LOOP_REDUCTION);
        st_append(p, inner, loop);
        inner = loop->body;
        iidx[d] = ex_var(p, v);
    }
    return inner;
}

/* For each output element: an accumulator local, a nest over the reduced
 * axes folding each element in, and the store of the finished value
 * (mean scales, l2 takes the root, log_sum the log). log_sum_exp first
 * finds the max m in a nest of its own, then sums exp(x - m) and stores
 * m + log(sum), with m = 0 when the max is not finite, as ref_reduce. */
bool lower_reduce(LowerCtx *lc, const Node *n)
{
    Program *p = lc->p;
    const Type *in = ir_in_type(lc->g, n, 0), *out = ir_out_type(lc->g, n, 0);
    bool reduced[IR_MAX_RANK];
    ir_reduce_axes(lc->g, n, reduced);
    DType dt = in->dtype;
    int op = n->op;
    bool keep = out->rank == in->rank;
    Kernel *k = lower_kernel(lc, n);
    int src = lower_buf(lc, n->in[0]);
    int vars[IR_MAX_RANK];
    Stmt *body = lower_nest(p, k, k->body, out, vars);
    Expr *iidx[IR_MAX_RANK], *oidx[IR_MAX_RANK];
    var_exprs(p, vars, out->rank, oidx);
    int64_t count = 1;
    for (int d = 0; d < in->rank; d++)
        if (reduced[d])
            count *= in->dims[d];

    Expr *shift = NULL;
    if (op == OP_REDUCE_LOG_SUM_EXP) {
        int mx = loop_new_local(p, k, dt, "mx");
        st_append(p, body, st_set(p, mx, extreme(p, dt, false)));
        Stmt *inner = reduce_nest(p, k, body, in, reduced, oidx, keep, iidx);
        Expr *x = ex_load(p, src, lower_index(p, in, iidx));
        st_append(p, inner, st_set(p, mx, ex_bin(p, BIN_MAX, ex_local(p, k, mx), x)));
        /* x - x == 0 exactly when x is finite. */
        Expr *m = ex_local(p, k, mx);
        Expr *finite = ex_bin(p, BIN_EQ, ex_bin(p, BIN_SUB, m, m), ex_flt(p, 0));
        st_append(p, body, st_set(p, mx, ex_select(p, finite, m, ex_flt(p, 0))));
        shift = ex_local(p, k, mx);
    }

    bool is_max = op == OP_REDUCE_MAX, is_min = op == OP_REDUCE_MIN;
    const char *name = is_max ? "mx" : is_min ? "mn" : op == OP_REDUCE_PROD ? "prod" : "acc";
    int acc = loop_new_local(p, k, dt, name);
    Expr *init = is_max || is_min ? extreme(p, dt, is_min)
                                  : cst_t(p, dt, op == OP_REDUCE_PROD ? 1 : 0);
    st_append(p, body, st_set(p, acc, init));
    Stmt *inner = reduce_nest(p, k, body, in, reduced, oidx, keep, iidx);
    Expr *x = ex_load(p, src, lower_index(p, in, iidx));
    Expr *cur = ex_local(p, k, acc), *next;
    switch (op) {
    case OP_REDUCE_MAX: next = ex_bin(p, BIN_MAX, cur, x); break;
    case OP_REDUCE_MIN: next = ex_bin(p, BIN_MIN, cur, x); break;
    case OP_REDUCE_PROD: next = ex_bin(p, BIN_MUL, cur, x); break;
    case OP_REDUCE_L1: next = ex_bin(p, BIN_ADD, cur, ex_un(p, UN_ABS, x)); break;
    case OP_REDUCE_L2: case OP_REDUCE_SUM_SQUARE:
        next = ex_bin(p, BIN_ADD, cur, ex_bin(p, BIN_MUL, x, x));
        break;
    case OP_REDUCE_LOG_SUM_EXP:
        next = ex_bin(p, BIN_ADD, cur, ex_un(p, UN_EXP, ex_bin(p, BIN_SUB, x, shift)));
        break;
    default: next = ex_bin(p, BIN_ADD, cur, x); break;
    }
    st_append(p, inner, st_set(p, acc, next));

    Expr *val = cur;
    switch (op) {
    case OP_REDUCE_MEAN:
        if (count > 0)
            val = dtype_is_float(dt) ? ex_bin(p, BIN_MUL, cur, ex_flt(p, 1.0 / (double)count))
                                     : ex_bin(p, BIN_DIV, cur, ex_int_t(p, dt, count));
        break;
    case OP_REDUCE_L2: val = ex_un(p, UN_SQRT, cur); break;
    case OP_REDUCE_LOG_SUM: val = ex_un(p, UN_LOG, cur); break;
    case OP_REDUCE_LOG_SUM_EXP: val = ex_bin(p, BIN_ADD, shift, ex_un(p, UN_LOG, cur)); break;
    default: break;
    }
    val = ex_cast(p, out->dtype, val);
    st_append(p, body, st_store(p, lower_buf(lc, n->out[0]), lower_index(p, out, oidx), val));
    return true;
}
