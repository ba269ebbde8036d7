/* infer_nn.c: shape/type inference for the neural-network ops (conv, gemm,
 * matmul, pools, batch_norm, layer_norm, softmax) and ir_window_geom.
 *
 * Invariants:
 *   - These ops take and produce f32 only; any other input dtype is a user
 *     error naming the dtype.
 *   - Every user mistake is one diagnostic at the node's location, naming
 *     the node (ir_node_desc) and the shapes involved.
 *   - ir_window_geom is the single place conv/pool windows are resolved
 *     (auto_pad to explicit pads, ceil_mode, default strides/dilations);
 *     inference, the reference and the lowering all call it, so they agree.
 *   - On success the output Type is set completely: f32, rank, dims, no quant.
 */
#include "ir.h"

#include <stdarg.h>
#include <string.h>

enum { TSZ = 160 };

/* Shared with infer_nn2.c and infer_shape.c (declared in ir.h). */
bool infer_node_error(Ctx *c, const Graph *g, const Node *n, const char *fmt, ...)
{
    if (!c)
        return false;
    char desc[TSZ], msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    diag_error(c, n->loc, "%s: %s", ir_node_desc(g, n, desc, sizeof desc), msg);
    return false;
}

char *infer_ints_str(const int64_t *v, int n, char *buf, size_t size)
{
    size_t len = (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < n && len < size; i++)
        len += (size_t)snprintf(buf + len, size - len, "%s%lld", i ? ", " : "", (long long)v[i]);
    if (len < size)
        snprintf(buf + len, size - len, "]");
    return buf;
}


bool infer_check_f32(Ctx *c, const Graph *g, const Node *n, const char *const *roles)
{
    for (int i = 0; i < n->nin; i++) {
        if (n->in[i] < 0)
            continue;
        const Type *t = ir_in_type(g, n, i);
        if (t->dtype != DT_F32) {
            char ts[TSZ];
            return infer_node_error(c, g, n, "%s supports only f32, but input %s is %s (dtype %s)",
                            op_info(n->op)->name, roles[i], type_str(t, ts, sizeof ts),
                            dtype_name(t->dtype));
        }
    }
    return true;
}

static void set_out(const Graph *g, const Node *n, int rank, const int64_t *dims)
{
    *ir_out_type(g, n, 0) = type_make(DT_F32, rank, dims);
}

static bool norm_axis(Ctx *c, const Graph *g, const Node *n, const char *role, int64_t axis,
                      int rank, int *out)
{
    if (axis < -rank || axis >= rank) {
        char ts[TSZ];
        return infer_node_error(c, g, n, "axis %lld is out of range for %s of rank %d (%s)",
                        (long long)axis, role, rank, type_str(ir_in_type(g, n, 0), ts, sizeof ts));
    }
    *out = (int)(axis < 0 ? axis + rank : axis);
    return true;
}

/* Reads an optional per-spatial-dim list attribute (strides, dilations):
 * empty means all `def`; otherwise exactly ns positive entries. */
static bool spatial_list(Ctx *c, const Graph *g, const Node *n, const char *name, int ns,
                         int64_t def, int64_t *out)
{
    int cnt;
    const int64_t *v = ir_attr_ints(n, name, &cnt);
    char ts[TSZ], ls[TSZ];
    type_str(ir_in_type(g, n, 0), ts, sizeof ts);
    if (cnt != 0 && cnt != ns)
        return infer_node_error(c, g, n, "%s %s needs one entry per spatial dim of x %s (%d)", name,
                        infer_ints_str(v, cnt, ls, sizeof ls), ts, ns);
    for (int i = 0; i < ns; i++) {
        out[i] = cnt ? v[i] : def;
        if (out[i] < 1)
            return infer_node_error(c, g, n, "%s %s must be positive (x is %s)", name,
                            infer_ints_str(v, cnt, ls, sizeof ls), ts);
    }
    return true;
}

bool ir_window_geom(Ctx *c, const Graph *g, const Node *n, Geom *geo)
{
    bool is_conv = n->op == OP_CONV || n->op == OP_QCONV;
    bool is_pool = n->op == OP_MAX_POOL || n->op == OP_AVERAGE_POOL || n->op == OP_QAVERAGE_POOL ||
                   n->op == OP_QMAX_POOL;
    if (!is_conv && !is_pool)
        unreachable("ir_window_geom on an op without a window");
    memset(geo, 0, sizeof *geo);
    const Type *x = ir_in_type(g, n, 0);
    char tx[TSZ], tw[TSZ], ls[TSZ];
    type_str(x, tx, sizeof tx);
    if (x->rank < 3)
        return infer_node_error(c, g, n, "x must be [N, C, spatial...] (rank >= 3), but x is %s", tx);
    int ns = x->rank - 2;
    geo->nspatial = ns;
    geo->group = 1;
    for (int i = 0; i < ns; i++)
        geo->in[i] = x->dims[2 + i];

    int nk;
    const int64_t *ks = ir_attr_ints(n, "kernel_shape", &nk);
    if (is_conv) {
        const Type *w = ir_in_type(g, n, 1);
        type_str(w, tw, sizeof tw);
        if (w->rank != x->rank)
            return infer_node_error(c, g, n, "w must be [M, C/group, k...] with the rank of x, "
                            "but x is %s and w is %s", tx, tw);
        for (int i = 0; i < ns; i++)
            geo->kernel[i] = w->dims[2 + i];
        if (nk != 0) {
            bool same = nk == ns;
            for (int i = 0; same && i < ns; i++)
                same = ks[i] == geo->kernel[i];
            if (!same)
                return infer_node_error(c, g, n, "kernel_shape %s does not match w %s (x is %s)",
                                infer_ints_str(ks, nk, ls, sizeof ls), tw, tx);
        }
        geo->group = ir_attr_int(n, "group");
        if (geo->group < 1)
            return infer_node_error(c, g, n, "group %lld must be positive (x is %s, w is %s)",
                            (long long)geo->group, tx, tw);
    } else {
        if (nk != ns)
            return infer_node_error(c, g, n, "kernel_shape %s needs one entry per spatial dim of x %s (%d)",
                            infer_ints_str(ks, nk, ls, sizeof ls), tx, ns);
        for (int i = 0; i < ns; i++)
            geo->kernel[i] = ks[i];
    }
    for (int i = 0; i < ns; i++)
        if (geo->kernel[i] < 1)
            return infer_node_error(c, g, n, "kernel %s must be positive (x is %s)",
                            infer_ints_str(geo->kernel, ns, ls, sizeof ls), tx);
    if (!spatial_list(c, g, n, "strides", ns, 1, geo->stride) ||
        !spatial_list(c, g, n, "dilations", ns, 1, geo->dilation))
        return false;

    int np;
    const int64_t *pads = ir_attr_ints(n, "pads", &np);
    if (np != 0 && np != 2 * ns)
        return infer_node_error(c, g, n, "pads %s needs 2 entries per spatial dim of x %s (%d)",
                        infer_ints_str(pads, np, ls, sizeof ls), tx, 2 * ns);
    for (int i = 0; i < np; i++)
        if (pads[i] < 0)
            return infer_node_error(c, g, n, "pads %s must not be negative (x is %s)",
                            infer_ints_str(pads, np, ls, sizeof ls), tx);
    const char *ap = ir_attr_str(n, "auto_pad");
    bool notset = strcmp(ap, "NOTSET") == 0, valid = strcmp(ap, "VALID") == 0;
    bool upper = strcmp(ap, "SAME_UPPER") == 0, lower = strcmp(ap, "SAME_LOWER") == 0;
    if (!notset && !valid && !upper && !lower)
        return infer_node_error(c, g, n, "auto_pad \"%s\" is not one of NOTSET, SAME_UPPER, "
                        "SAME_LOWER, VALID", ap);
    if (!notset && np != 0)
        return infer_node_error(c, g, n, "pads %s cannot be combined with auto_pad \"%s\"",
                        infer_ints_str(pads, np, ls, sizeof ls), ap);
    bool ceil_mode = is_pool && ir_attr_int(n, "ceil_mode") != 0;

    for (int i = 0; i < ns; i++) {
        int64_t in = geo->in[i], s = geo->stride[i];
        int64_t ek = (geo->kernel[i] - 1) * geo->dilation[i] + 1; /* dilated extent */
        int64_t pb = np ? pads[i] : 0, pe = np ? pads[ns + i] : 0, out;
        if (notset) {
            int64_t span = in + pb + pe - ek;
            if (span < 0) {
                int64_t ext[IR_MAX_RANK];
                for (int j = 0; j < ns; j++)
                    ext[j] = (geo->kernel[j] - 1) * geo->dilation[j] + 1;
                return infer_node_error(c, g, n, "window %s (dilated) is larger than the padded input: "
                                "x is %s, pads %s", infer_ints_str(ext, ns, ls, sizeof ls), tx,
                                infer_ints_str(pads, np, tw, sizeof tw));
            }
            out = span / s + 1;
            /* ONNX ceil_mode: one more window for a partial tail, but only if
             * it starts inside the input or the left padding. */
            if (ceil_mode && span % s != 0 && out * s < in + pb)
                out++;
        } else if (valid) {
            if (in < ek) {
                int64_t ext[IR_MAX_RANK];
                for (int j = 0; j < ns; j++)
                    ext[j] = (geo->kernel[j] - 1) * geo->dilation[j] + 1;
                return infer_node_error(c, g, n, "window %s (dilated) is larger than x %s with "
                                "auto_pad VALID", infer_ints_str(ext, ns, ls, sizeof ls), tx);
            }
            out = (in - ek) / s + 1;
        } else {
            /* SAME_*: out = ceil(in / s) for conv and pools alike (ceil_mode
             * cannot change it); the odd pad goes at the end for UPPER. */
            out = (in + s - 1) / s;
            int64_t total = (out - 1) * s + ek - in;
            if (total < 0)
                total = 0;
            pb = upper ? total / 2 : total - total / 2;
            pe = total - pb;
        }
        geo->pad_begin[i] = pb;
        geo->pad_end[i] = pe;
        geo->out[i] = out;
    }
    return true;
}

static const char *const conv_roles[] = {"x", "w", "b", "r"};
static const char *const pool_roles[] = {"x"};

/* conv, and the shape part of qconv (whose dtypes infer_q.c checks). */
bool infer_conv(Ctx *c, Graph *g, Node *n)
{
    Geom geo;
    if ((n->op == OP_CONV && !infer_check_f32(c, g, n, conv_roles)) || !ir_window_geom(c, g, n, &geo))
        return false;
    const Type *x = ir_in_type(g, n, 0), *w = ir_in_type(g, n, 1);
    char tx[TSZ], tw[TSZ];
    type_str(x, tx, sizeof tx);
    type_str(w, tw, sizeof tw);
    int64_t C = x->dims[1], M = w->dims[0], G = geo.group;
    if (C % G != 0 || M % G != 0)
        return infer_node_error(c, g, n, "group %lld must divide the input channels of x %s and the "
                        "output channels of w %s", (long long)G, tx, tw);
    if (w->dims[1] != C / G)
        return infer_node_error(c, g, n, "channels differ: x is %s (C = %lld, group = %lld), so w must "
                        "be [M, %lld, k...], but w is %s", tx, (long long)C, (long long)G,
                        (long long)(C / G), tw);
    if (ir_has_input(n, 2)) {
        const Type *b = ir_in_type(g, n, 2);
        char tb[TSZ];
        if (b->rank != 1 || b->dims[0] != M)
            return infer_node_error(c, g, n, "bias b must be [%lld] (one per output channel of w %s), "
                            "but b is %s", (long long)M, tw, type_str(b, tb, sizeof tb));
    }
    int64_t dims[IR_MAX_RANK] = {x->dims[0], M};
    for (int i = 0; i < geo.nspatial; i++)
        dims[2 + i] = geo.out[i];
    set_out(g, n, x->rank, dims);
    if (ir_has_input(n, 3)) {
        const Type *r = ir_in_type(g, n, 3), *y = ir_out_type(g, n, 0);
        char tr[TSZ], ty[TSZ];
        if (!type_equal(r, y))
            return infer_node_error(c, g, n, "residual r must have the output's type %s, but r is %s",
                                    type_str(y, ty, sizeof ty), type_str(r, tr, sizeof tr));
    }
    return n->op != OP_CONV || infer_act(c, g, n); /* qconv shares this, without act */
}

/* Pools, and the shape part of qaverage_pool and qmax_pool. */
bool infer_pool(Ctx *c, Graph *g, Node *n)
{
    Geom geo;
    bool int8 = n->op == OP_QAVERAGE_POOL || n->op == OP_QMAX_POOL; /* infer_q.c checks those */
    if ((!int8 && !infer_check_f32(c, g, n, pool_roles)) || !ir_window_geom(c, g, n, &geo))
        return false;
    const Type *x = ir_in_type(g, n, 0);
    int64_t dims[IR_MAX_RANK] = {x->dims[0], x->dims[1]};
    for (int i = 0; i < geo.nspatial; i++)
        dims[2 + i] = geo.out[i];
    set_out(g, n, x->rank, dims);
    return true;
}

bool infer_global_pool(Ctx *c, Graph *g, Node *n)
{
    if (!infer_check_f32(c, g, n, pool_roles))
        return false;
    const Type *x = ir_in_type(g, n, 0);
    char tx[TSZ];
    if (x->rank < 3)
        return infer_node_error(c, g, n, "x must be [N, C, spatial...] (rank >= 3), but x is %s",
                        type_str(x, tx, sizeof tx));
    int64_t dims[IR_MAX_RANK] = {x->dims[0], x->dims[1]};
    for (int i = 2; i < x->rank; i++)
        dims[i] = 1;
    set_out(g, n, x->rank, dims);
    return true;
}

static const char *const gemm_roles[] = {"a", "b", "c"};

/* gemm's and matmul's c (when present) broadcasts to the inferred output
 * without widening it (unidirectionally: each of its dims, aligned right,
 * is y's or 1). ta, tb: a and b as type strings, for the message. */
static bool check_c(Ctx *c, const Graph *g, const Node *n, const char *ta, const char *tb)
{
    if (!ir_has_input(n, 2))
        return true;
    const Type *ct = ir_in_type(g, n, 2), *y = ir_out_type(g, n, 0);
    bool ok = ct->rank <= y->rank;
    for (int i = 0; ok && i < ct->rank; i++) {
        int64_t d = ct->dims[ct->rank - 1 - i];
        ok = d == y->dims[y->rank - 1 - i] || d == 1;
    }
    if (ok)
        return true;
    char tc[TSZ], ty[TSZ];
    return infer_node_error(c, g, n, "c is %s, which does not broadcast to the output %s (a is %s, b is %s)",
                            type_str(ct, tc, sizeof tc), type_str(y, ty, sizeof ty), ta, tb);
}

bool infer_gemm(Ctx *c, Graph *g, Node *n)
{
    if (!infer_check_f32(c, g, n, gemm_roles))
        return false;
    const Type *a = ir_in_type(g, n, 0), *b = ir_in_type(g, n, 1);
    char ta[TSZ], tb[TSZ];
    type_str(a, ta, sizeof ta);
    type_str(b, tb, sizeof tb);
    if (a->rank != 2 || b->rank != 2)
        return infer_node_error(c, g, n, "a and b must be matrices (rank 2), but a is %s, b is %s", ta, tb);
    bool tra = ir_attr_int(n, "trans_a") != 0, trb = ir_attr_int(n, "trans_b") != 0;
    int64_t M = a->dims[tra ? 1 : 0], K = a->dims[tra ? 0 : 1];
    int64_t Kb = b->dims[trb ? 1 : 0], N = b->dims[trb ? 0 : 1];
    if (K != Kb)
        return infer_node_error(c, g, n, "inner dimensions differ: a is %s, b is %s (trans_a = %d, "
                        "trans_b = %d)", ta, tb, tra, trb);
    int64_t dims[2] = {M, N};
    set_out(g, n, 2, dims);
    return check_c(c, g, n, ta, tb) && infer_act(c, g, n);
}

static const char *const matmul_roles[] = {"a", "b", "c"};

bool infer_matmul(Ctx *c, Graph *g, Node *n)
{
    if (!infer_check_f32(c, g, n, matmul_roles))
        return false;
    const Type *a = ir_in_type(g, n, 0), *b = ir_in_type(g, n, 1);
    char ta[TSZ], tb[TSZ];
    type_str(a, ta, sizeof ta);
    type_str(b, tb, sizeof tb);
    if (a->rank < 1 || b->rank < 1)
        return infer_node_error(c, g, n, "operands must have rank >= 1, but a is %s, b is %s", ta, tb);
    /* 1-D operands are promoted to [1, K] / [K, 1]; the 1 is dropped after. */
    bool a1 = a->rank == 1, b1 = b->rank == 1;
    int64_t K = a->dims[a->rank - 1], Kb = b1 ? b->dims[0] : b->dims[b->rank - 2];
    if (K != Kb)
        return infer_node_error(c, g, n, "inner dimensions differ: a is %s, b is %s", ta, tb);
    int nba = a1 ? 0 : a->rank - 2, nbb = b1 ? 0 : b->rank - 2;
    int nb = nba > nbb ? nba : nbb;
    int64_t dims[IR_MAX_RANK];
    for (int i = 0; i < nb; i++) {
        int ia = i - (nb - nba), ib = i - (nb - nbb);
        int64_t da = ia >= 0 ? a->dims[ia] : 1, db = ib >= 0 ? b->dims[ib] : 1;
        if (da != db && da != 1 && db != 1)
            return infer_node_error(c, g, n, "batch dimensions do not broadcast: a is %s, b is %s", ta, tb);
        dims[i] = da == 1 ? db : da;
    }
    int rank = nb;
    if (!a1)
        dims[rank++] = a->dims[a->rank - 2];
    if (!b1)
        dims[rank++] = b->dims[b->rank - 1];
    set_out(g, n, rank, dims);
    return check_c(c, g, n, ta, tb) && infer_act(c, g, n);
}

static const char *const bn_roles[] = {"x", "scale", "bias", "mean", "var"};

bool infer_batch_norm(Ctx *c, Graph *g, Node *n)
{
    if (!infer_check_f32(c, g, n, bn_roles))
        return false;
    const Type *x = ir_in_type(g, n, 0);
    char tx[TSZ], tp[TSZ];
    type_str(x, tx, sizeof tx);
    if (x->rank < 2)
        return infer_node_error(c, g, n, "x must be [N, C, ...] (rank >= 2), but x is %s", tx);
    for (int i = 1; i < 5; i++) {
        const Type *p = ir_in_type(g, n, i);
        if (p->rank != 1 || p->dims[0] != x->dims[1])
            return infer_node_error(c, g, n, "%s must be [%lld] (one per channel of x %s), but %s is %s",
                            bn_roles[i], (long long)x->dims[1], tx, bn_roles[i],
                            type_str(p, tp, sizeof tp));
    }
    if (ir_attr_float(n, "epsilon") < 0)
        return infer_node_error(c, g, n, "epsilon %g must not be negative (x is %s)",
                        ir_attr_float(n, "epsilon"), tx);
    set_out(g, n, x->rank, x->dims);
    return true;
}

static const char *const ln_roles[] = {"x", "scale", "bias"};

bool infer_layer_norm(Ctx *c, Graph *g, Node *n)
{
    if (!infer_check_f32(c, g, n, ln_roles))
        return false;
    const Type *x = ir_in_type(g, n, 0);
    char tx[TSZ], tp[TSZ];
    type_str(x, tx, sizeof tx);
    int axis = 0;
    if (x->rank < 1)
        return infer_node_error(c, g, n, "x must have rank >= 1, but x is %s", tx);
    if (!norm_axis(c, g, n, "x", ir_attr_int(n, "axis"), x->rank, &axis))
        return false;
    Type norm = type_make(DT_F32, x->rank - axis, x->dims + axis);
    for (int i = 1; i < 3; i++) {
        if (!ir_has_input(n, i))
            continue;
        const Type *p = ir_in_type(g, n, i);
        bool ok = p->rank <= norm.rank;
        for (int j = 0; ok && j < p->rank; j++) {
            int64_t d = p->dims[p->rank - 1 - j];
            ok = d == 1 || d == norm.dims[norm.rank - 1 - j];
        }
        if (!ok) {
            char tn[TSZ];
            return infer_node_error(c, g, n, "%s is %s, which does not broadcast to the normalized dims %s "
                            "of x %s (axis = %d)", ln_roles[i], type_str(p, tp, sizeof tp),
                            shape_str(&norm, tn, sizeof tn), tx, axis);
        }
    }
    if (ir_attr_float(n, "epsilon") < 0)
        return infer_node_error(c, g, n, "epsilon %g must not be negative (x is %s)",
                        ir_attr_float(n, "epsilon"), tx);
    set_out(g, n, x->rank, x->dims);
    return true;
}

bool infer_softmax(Ctx *c, Graph *g, Node *n)
{
    if (!infer_check_f32(c, g, n, pool_roles))
        return false;
    const Type *x = ir_in_type(g, n, 0);
    char tx[TSZ];
    int axis;
    if (x->rank < 1)
        return infer_node_error(c, g, n, "x must have rank >= 1, but x is %s", type_str(x, tx, sizeof tx));
    if (!norm_axis(c, g, n, "x", ir_attr_int(n, "axis"), x->rank, &axis))
        return false;
    set_out(g, n, x->rank, x->dims);
    return true;
}
