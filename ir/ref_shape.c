/* ref_shape.c: reference implementations of argmax/argmin, split, slice,
 * gather, expand, tile, depth_to_space and space_to_depth.
 *
 * The oracle for the compiled backends: each op walks its output in
 * row-major order and computes where every element comes from, the
 * plainest loop that is obviously right. Types were set by inference
 * (infer_shape.c) and nothing here re-validates them. Data movement copies
 * elements by dtype size, so every op but argmax/argmin works for every
 * dtype unchanged.
 *
 * gather with indices that are not constants cannot be range-checked at
 * compile time: an index outside [-dim, dim) is clamped into range (after
 * negative indices count from the end), the same rule the lowering uses,
 * so compiled code never reads out of bounds.
 */
#include "ir.h"

#include <string.h>

/* ------------------------------------------------------------ helpers */

/* Row-major multi-index of linear index lin in t. */
static void unravel(const Type *t, int64_t lin, int64_t *idx)
{
    for (int i = t->rank - 1; i >= 0; i--) {
        idx[i] = t->dims[i] ? lin % t->dims[i] : 0;
        lin = t->dims[i] ? lin / t->dims[i] : 0;
    }
}

static int64_t ravel(const int64_t *strides, const int64_t *idx, int rank)
{
    int64_t lin = 0;
    for (int d = 0; d < rank; d++)
        lin += idx[d] * strides[d];
    return lin;
}

static void copy_elem(Tensor *out, int64_t o, const Tensor *in, int64_t i)
{
    size_t es = dtype_size(in->type.dtype);
    memcpy((char *)out->data + (size_t)o * es, (const char *)in->data + (size_t)i * es, es);
}

/* argmax compares floats as double and integers as int64 (ref_get_i):
 * exact for every dtype. */
static double get_f(const Tensor *t, int64_t i) { return ((const float *)t->data)[i]; }

/* ------------------------------------------------------ argmax/argmin */

void ref_arg(const Graph *g, const Node *n, const Tensor *in, Tensor *out)
{
    (void)g;
    const Type *it = &in->type;
    int ax = (int)ir_attr_int(n, "axis");
    if (ax < 0)
        ax += it->rank;
    bool last = ir_attr_int(n, "select_last_index") != 0, is_max = n->op == OP_ARGMAX;
    bool fl = dtype_is_float(it->dtype);
    int64_t outer = 1, inner = 1, len = it->dims[ax];
    for (int d = 0; d < ax; d++)
        outer *= it->dims[d];
    for (int d = ax + 1; d < it->rank; d++)
        inner *= it->dims[d];
    int64_t *res = out->data;
    for (int64_t o = 0; o < outer; o++) {
        for (int64_t i = 0; i < inner; i++) {
            int64_t base = o * len * inner + i, best = 0;
            for (int64_t k = 1; k < len; k++) {
                int64_t at = base + k * inner, cur = base + best * inner;
                /* sign > 0: element k beats the best so far; ties move the
                 * answer only when the last index is wanted. */
                int sign;
                if (fl) {
                    double x = get_f(in, at), b = get_f(in, cur);
                    sign = x > b ? 1 : x < b ? -1 : 0;
                } else {
                    int64_t x = ref_get_i(in, at), b = ref_get_i(in, cur);
                    sign = x > b ? 1 : x < b ? -1 : 0;
                }
                if (!is_max)
                    sign = -sign;
                if (sign > 0 || (sign == 0 && last))
                    best = k;
            }
            res[o * inner + i] = best;
        }
    }
}

/* -------------------------------------------------------------- split */

void ref_split(const Graph *g, const Node *n, const Tensor *in, Tensor *out)
{
    (void)g;
    const Type *it = &in->type;
    int ax = (int)ir_attr_int(n, "axis");
    if (ax < 0)
        ax += it->rank;
    int64_t istr[IR_MAX_RANK], idx[IR_MAX_RANK];
    type_strides(it, istr);
    int64_t offset = 0;
    for (int k = 0; k < n->nout; k++) {
        const Type *ot = &out[k].type;
        int64_t total = type_numel(ot);
        for (int64_t o = 0; o < total; o++) {
            unravel(ot, o, idx);
            idx[ax] += offset;
            copy_elem(&out[k], o, in, ravel(istr, idx, it->rank));
        }
        offset += ot->dims[ax];
    }
}

/* -------------------------------------------------------------- slice */

void ref_slice(const Graph *g, const Node *n, const Tensor *in, Tensor *out)
{
    const Type *it = &in->type, *ot = &out->type;
    int64_t first[IR_MAX_RANK], step[IR_MAX_RANK], istr[IR_MAX_RANK], idx[IR_MAX_RANK];
    ir_slice_geom(g, n, first, step);
    type_strides(it, istr);
    int64_t total = type_numel(ot);
    for (int64_t o = 0; o < total; o++) {
        unravel(ot, o, idx);
        for (int d = 0; d < it->rank; d++)
            idx[d] = first[d] + idx[d] * step[d];
        copy_elem(out, o, in, ravel(istr, idx, it->rank));
    }
}

/* ------------------------------------------------------------- gather */

void ref_gather(const Graph *g, const Node *n, const Tensor *in, Tensor *out)
{
    (void)g;
    const Type *dt = &in[0].type, *xt = &in[1].type, *ot = &out->type;
    int ax = (int)ir_attr_int(n, "axis");
    if (ax < 0)
        ax += dt->rank;
    int64_t dim = dt->dims[ax];
    int64_t dstr[IR_MAX_RANK], xstr[IR_MAX_RANK], oidx[IR_MAX_RANK], didx[IR_MAX_RANK];
    type_strides(dt, dstr);
    type_strides(xt, xstr);
    int64_t total = type_numel(ot);
    for (int64_t o = 0; o < total; o++) {
        unravel(ot, o, oidx);
        /* Output dims: data[:ax], indices[...], data[ax+1:]. */
        int64_t k = ref_get_i(&in[1], ravel(xstr, oidx + ax, xt->rank));
        if (k < 0)
            k += dim;
        k = k < 0 ? 0 : k >= dim ? dim - 1 : k;
        for (int d = 0; d < ax; d++)
            didx[d] = oidx[d];
        didx[ax] = k;
        for (int d = ax + 1; d < dt->rank; d++)
            didx[d] = oidx[d - 1 + xt->rank];
        copy_elem(out, o, &in[0], ravel(dstr, didx, dt->rank));
    }
}

/* ------------------------------------------------------ expand and tile */

void ref_expand(const Graph *g, const Node *n, const Tensor *in, Tensor *out)
{
    (void)g; (void)n;
    const Type *it = &in->type, *ot = &out->type;
    int64_t istr[IR_MAX_RANK], idx[IR_MAX_RANK];
    type_strides(it, istr);
    int lead = ot->rank - it->rank;
    int64_t total = type_numel(ot);
    for (int64_t o = 0; o < total; o++) {
        unravel(ot, o, idx);
        int64_t src = 0;
        for (int d = 0; d < it->rank; d++)
            if (it->dims[d] != 1)
                src += idx[lead + d] * istr[d];
        copy_elem(out, o, in, src);
    }
}

void ref_tile(const Graph *g, const Node *n, const Tensor *in, Tensor *out)
{
    (void)g; (void)n;
    const Type *it = &in->type, *ot = &out->type;
    int64_t istr[IR_MAX_RANK], idx[IR_MAX_RANK];
    type_strides(it, istr);
    int64_t total = type_numel(ot);
    for (int64_t o = 0; o < total; o++) {
        unravel(ot, o, idx);
        for (int d = 0; d < it->rank; d++)
            idx[d] %= it->dims[d];
        copy_elem(out, o, in, ravel(istr, idx, it->rank));
    }
}

/* ------------------------------------------ depth_to_space, space_to_depth */

/* Both ops, from the output's side. With b the block size and (i, j) the
 * position inside a block, depth_to_space writes out[n][c][h*b+i][w*b+j]
 * from input channel (i*b + j)*C + c (DCR) or c*b*b + i*b + j (CRD), C the
 * output's channels; space_to_depth is DCR's inverse. */
void ref_depth_to_space(const Graph *g, const Node *n, const Tensor *in, Tensor *out)
{
    (void)g;
    const Type *it = &in->type, *ot = &out->type;
    int64_t b = ir_attr_int(n, "blocksize"), C = ot->dims[1];
    bool crd = strcmp(ir_attr_str(n, "mode"), "CRD") == 0;
    int64_t istr[IR_MAX_RANK], idx[IR_MAX_RANK];
    type_strides(it, istr);
    int64_t total = type_numel(ot);
    for (int64_t o = 0; o < total; o++) {
        unravel(ot, o, idx);
        int64_t c = idx[1], i = idx[2] % b, j = idx[3] % b;
        int64_t src[4] = {idx[0], crd ? c * b * b + i * b + j : (i * b + j) * C + c,
                          idx[2] / b, idx[3] / b};
        copy_elem(out, o, in, ravel(istr, src, 4));
    }
}

void ref_space_to_depth(const Graph *g, const Node *n, const Tensor *in, Tensor *out)
{
    (void)g;
    const Type *it = &in->type, *ot = &out->type;
    int64_t b = ir_attr_int(n, "blocksize"), C = it->dims[1];
    int64_t istr[IR_MAX_RANK], idx[IR_MAX_RANK];
    type_strides(it, istr);
    int64_t total = type_numel(ot);
    for (int64_t o = 0; o < total; o++) {
        unravel(ot, o, idx);
        int64_t blk = idx[1] / C, c = idx[1] % C, i = blk / b, j = blk % b;
        int64_t src[4] = {idx[0], c, idx[2] * b + i, idx[3] * b + j};
        copy_elem(out, o, in, ravel(istr, src, 4));
    }
}
