/* lower_shape.c: lowering of argmax/argmin, split, slice, gather, expand,
 * tile, depth_to_space and space_to_depth to Loop IR.
 *
 * Every op is a loop nest over its output (split: over each output) whose
 * body loads one input element and stores it; only the index arithmetic
 * differs, so the kernels are dtype-generic (loads and stores take the
 * buffers' dtypes). Attributes mean what they mean in ir/ref_shape.c, and
 * slice geometry comes from ir_slice_geom, shared with the reference.
 * Invariant: no load is ever out of bounds, whatever the data: gather
 * clamps a runtime index into [0, dim) after counting negatives from the
 * end, exactly as ref_gather does.
 */
#include "passes.h"

#include <assert.h>
#include <string.h>

static void var_exprs(Program *p, const int *vars, int rank, Expr **out)
{
    for (int d = 0; d < rank; d++)
        out[d] = ex_var(p, vars[d]);
}

static int norm_axis(int64_t axis, int rank)
{
    return (int)(axis < 0 ? axis + rank : axis);
}

/* ------------------------------------------------------ argmax/argmin */

/* Per output element: best = x[0], at = 0, then for k in [1, len) replace
 * both when x[k] beats best (ties too under select_last_index). */
bool lower_arg(LowerCtx *lc, const Node *n)
{
    Program *p = lc->p;
    const Type *in = ir_in_type(lc->g, n, 0), *out = ir_out_type(lc->g, n, 0);
    int ax = norm_axis(ir_attr_int(n, "axis"), in->rank);
    bool last = ir_attr_int(n, "select_last_index") != 0, is_max = n->op == OP_ARGMAX;
    bool keep = out->rank == in->rank;
    Kernel *k = lower_kernel(lc, n);
    int src = lower_buf(lc, n->in[0]), dst = lower_buf(lc, n->out[0]);
    int vars[IR_MAX_RANK];
    Stmt *body = lower_nest(p, k, k->body, out, vars);
    Expr *oidx[IR_MAX_RANK], *iidx[IR_MAX_RANK];
    var_exprs(p, vars, out->rank, oidx);
    for (int d = 0, od = 0; d < in->rank; d++) {
        if (d == ax) {
            od += keep;
            continue;
        }
        iidx[d] = oidx[od++];
    }
    int best = loop_new_local(p, k, in->dtype, "best");
    int at = loop_new_local(p, k, DT_I64, "at");
    iidx[ax] = ex_int(p, 0);
    st_append(p, body, st_set(p, best, ex_load(p, src, lower_index(p, in, iidx))));
    st_append(p, body, st_set(p, at, ex_int_t(p, DT_I64, 0)));

    int v = loop_new_var(k);
    Stmt *loop = st_for(p, v, ex_int(p, 1), ex_int(p, in->dims[ax]), 1, LOOP_REDUCTION);
    st_append(p, body, loop);
    iidx[ax] = ex_var(p, v);
    Expr *x = ex_load(p, src, lower_index(p, in, iidx));
    BinOp cmp = is_max ? (last ? BIN_GE : BIN_GT) : (last ? BIN_LE : BIN_LT);
    Stmt *then = st_block(p);
    st_append(p, then, st_set(p, best, x));
    st_append(p, then, st_set(p, at, ex_cast(p, DT_I64, ex_var(p, v))));
    st_append(p, loop->body, st_if(p, ex_bin(p, cmp, x, ex_local(p, k, best)), then, NULL));
    st_append(p, body, st_store(p, dst, lower_index(p, out, oidx), ex_local(p, k, at)));
    return true;
}

/* -------------------------------------------------------------- split */

/* One nest per output, reading its block at a running offset on the axis. */
bool lower_split(LowerCtx *lc, const Node *n)
{
    Program *p = lc->p;
    const Type *in = ir_in_type(lc->g, n, 0);
    int ax = norm_axis(ir_attr_int(n, "axis"), in->rank);
    Kernel *k = lower_kernel(lc, n);
    int src = lower_buf(lc, n->in[0]);
    int64_t offset = 0;
    for (int i = 0; i < n->nout; i++) {
        const Type *out = ir_out_type(lc->g, n, i);
        int vars[IR_MAX_RANK];
        Stmt *body = lower_nest(p, k, k->body, out, vars);
        Expr *oidx[IR_MAX_RANK], *iidx[IR_MAX_RANK];
        var_exprs(p, vars, out->rank, oidx);
        memcpy(iidx, oidx, sizeof iidx);
        iidx[ax] = ex_add(p, oidx[ax], ex_int(p, offset));
        Expr *val = ex_load(p, src, lower_index(p, in, iidx));
        st_append(p, body, st_store(p, lower_buf(lc, n->out[i]), lower_index(p, out, oidx), val));
        offset += out->dims[ax];
    }
    assert(offset == in->dims[ax]);
    return true;
}

/* -------------------------------------------------------------- slice */

bool lower_slice(LowerCtx *lc, const Node *n)
{
    Program *p = lc->p;
    const Type *in = ir_in_type(lc->g, n, 0), *out = ir_out_type(lc->g, n, 0);
    int64_t first[IR_MAX_RANK], step[IR_MAX_RANK];
    ir_slice_geom(lc->g, n, first, step);
    Kernel *k = lower_kernel(lc, n);
    int vars[IR_MAX_RANK];
    Stmt *body = lower_nest(p, k, k->body, out, vars);
    Expr *oidx[IR_MAX_RANK], *iidx[IR_MAX_RANK];
    var_exprs(p, vars, out->rank, oidx);
    for (int d = 0; d < in->rank; d++)
        iidx[d] = ex_add(p, ex_int(p, first[d]), ex_muli(p, oidx[d], step[d]));
    Expr *val = ex_load(p, lower_buf(lc, n->in[0]), lower_index(p, in, iidx));
    st_append(p, body, st_store(p, lower_buf(lc, n->out[0]), lower_index(p, out, oidx), val));
    return true;
}

/* ------------------------------------------------------------- gather */

/* out[a..., j..., b...] = data[a..., fix(indices[j...]), b...], with fix
 * adding dim to a negative index and clamping into [0, dim). */
bool lower_gather(LowerCtx *lc, const Node *n)
{
    Program *p = lc->p;
    const Type *data = ir_in_type(lc->g, n, 0), *ind = ir_in_type(lc->g, n, 1);
    const Type *out = ir_out_type(lc->g, n, 0);
    int ax = norm_axis(ir_attr_int(n, "axis"), data->rank);
    int64_t dim = data->dims[ax];
    Kernel *k = lower_kernel(lc, n);
    int vars[IR_MAX_RANK];
    Stmt *body = lower_nest(p, k, k->body, out, vars);
    Expr *oidx[IR_MAX_RANK], *didx[IR_MAX_RANK];
    var_exprs(p, vars, out->rank, oidx);

    int at = loop_new_local(p, k, DT_INDEX, "at");
    Expr *raw = ex_load(p, lower_buf(lc, n->in[1]), lower_index(p, ind, oidx + ax));
    st_append(p, body, st_set(p, at, ex_cast(p, DT_INDEX, raw)));
    Expr *cur = ex_local(p, k, at);
    Expr *fixed = ex_select(p, ex_bin(p, BIN_LT, cur, ex_int(p, 0)),
                            ex_add(p, cur, ex_int(p, dim)), cur);
    fixed = ex_bin(p, BIN_MAX, ex_bin(p, BIN_MIN, fixed, ex_int(p, dim - 1)), ex_int(p, 0));
    st_append(p, body, st_set(p, at, fixed));

    for (int d = 0; d < ax; d++)
        didx[d] = oidx[d];
    didx[ax] = ex_local(p, k, at);
    for (int d = ax + 1; d < data->rank; d++)
        didx[d] = oidx[d - 1 + ind->rank];
    Expr *val = ex_load(p, lower_buf(lc, n->in[0]), lower_index(p, data, didx));
    st_append(p, body, st_store(p, lower_buf(lc, n->out[0]), lower_index(p, out, oidx), val));
    return true;
}

/* ------------------------------------------------------ expand and tile */

bool lower_expand(LowerCtx *lc, const Node *n)
{
    Program *p = lc->p;
    const Type *in = ir_in_type(lc->g, n, 0), *out = ir_out_type(lc->g, n, 0);
    Kernel *k = lower_kernel(lc, n);
    int vars[IR_MAX_RANK];
    Stmt *body = lower_nest(p, k, k->body, out, vars);
    Expr *oidx[IR_MAX_RANK];
    var_exprs(p, vars, out->rank, oidx);
    Expr *val = ex_load(p, lower_buf(lc, n->in[0]), lower_bcast_index(p, in, out, oidx));
    st_append(p, body, st_store(p, lower_buf(lc, n->out[0]), lower_index(p, out, oidx), val));
    return true;
}

/* Each output dim d of size dims[d] * r loops as (copy, i) with copy < r
 * and i < dims[d], so the source index is i itself: no division. */
bool lower_tile(LowerCtx *lc, const Node *n)
{
    Program *p = lc->p;
    const Type *in = ir_in_type(lc->g, n, 0), *out = ir_out_type(lc->g, n, 0);
    Kernel *k = lower_kernel(lc, n);
    Expr *oidx[IR_MAX_RANK], *iidx[IR_MAX_RANK];
    Stmt *body = k->body;
    for (int d = 0; d < in->rank; d++) {
        int64_t reps = in->dims[d] ? out->dims[d] / in->dims[d] : 0;
        int cv = loop_new_var(k), iv = loop_new_var(k);
        Stmt *outer = st_for_n(p, cv, reps, LOOP_PARALLEL);
        Stmt *inner = st_for_n(p, iv, in->dims[d], LOOP_PARALLEL);
        st_append(p, body, outer);
        st_append(p, outer->body, inner);
        body = inner->body;
        iidx[d] = ex_var(p, iv);
        oidx[d] = ex_add(p, ex_muli(p, ex_var(p, cv), in->dims[d]), ex_var(p, iv));
    }
    Expr *val = ex_load(p, lower_buf(lc, n->in[0]), lower_index(p, in, iidx));
    st_append(p, body, st_store(p, lower_buf(lc, n->out[0]), lower_index(p, out, oidx), val));
    return true;
}

/* ------------------------------------------ depth_to_space, space_to_depth */

/* Both ops loop over (n, c, h, i, w, j): c a channel of the shallow side
 * (C of them), (h, w) a block of the spatial side and (i, j) a position in
 * it, so neither side's index needs a division. The deep side's channel is
 * (i*b + j)*C + c (DCR, and space_to_depth) or c*b*b + i*b + j (CRD). */
static bool lower_blocks(LowerCtx *lc, const Node *n, bool to_space)
{
    Program *p = lc->p;
    const Type *in = ir_in_type(lc->g, n, 0), *out = ir_out_type(lc->g, n, 0);
    const Type *deep = to_space ? in : out, *wide = to_space ? out : in;
    int64_t b = ir_attr_int(n, "blocksize");
    bool crd = to_space && strcmp(ir_attr_str(n, "mode"), "CRD") == 0;
    int64_t sizes[6] = {wide->dims[0], wide->dims[1], deep->dims[2], b, deep->dims[3], b};
    Kernel *k = lower_kernel(lc, n);
    Expr *v[6];
    Stmt *body = k->body;
    for (int d = 0; d < 6; d++) {
        int var = loop_new_var(k);
        Stmt *loop = st_for_n(p, var, sizes[d], LOOP_PARALLEL);
        st_append(p, body, loop);
        body = loop->body;
        v[d] = ex_var(p, var);
    }
    int64_t C = wide->dims[1];
    Expr *ij = ex_add(p, ex_muli(p, v[3], b), v[5]);
    Expr *ch = crd ? ex_add(p, ex_muli(p, v[1], b * b), ij) : ex_add(p, ex_muli(p, ij, C), v[1]);
    Expr *didx[4] = {v[0], ch, v[2], v[4]};
    Expr *widx[4] = {v[0], v[1], ex_add(p, ex_muli(p, v[2], b), v[3]),
                     ex_add(p, ex_muli(p, v[4], b), v[5])};
    Expr **iidx = to_space ? didx : widx, **oidx = to_space ? widx : didx;
    Expr *val = ex_load(p, lower_buf(lc, n->in[0]), lower_index(p, in, iidx));
    st_append(p, body, st_store(p, lower_buf(lc, n->out[0]), lower_index(p, out, oidx), val));
    return true;
}

bool lower_depth_to_space(LowerCtx *lc, const Node *n)
{
    return lower_blocks(lc, n, true);
}

bool lower_space_to_depth(LowerCtx *lc, const Node *n)
{
    return lower_blocks(lc, n, false);
}
