/* infer_nn2.c: shape/type inference for the second set of neural-network
 * ops (instance_norm, lrn, conv_transpose, resize; log_softmax and hardmax
 * share infer_softmax), and the geometry resolvers conv_transpose and
 * resize share with their reference and lowering.
 *
 * Invariants:
 *   - These ops take and produce f32 only; any other dtype is a user error
 *     naming the dtype.
 *   - Every user mistake is one diagnostic at the node's location, naming
 *     the node (ir_node_desc) and the shapes or attribute values involved.
 *   - ir_conv_transpose_geom and ir_resize_geom are the single places their
 *     ops' geometry is resolved; inference, the reference and the lowering
 *     all call them (with c == NULL after inference: no diagnostics), and
 *     ir_resize_taps is the one definition of which inputs an output reads.
 */
#include "ir.h"

#include <math.h>
#include <string.h>

enum { TSZ = 160 };


static void set_out(const Graph *g, const Node *n, int rank, const int64_t *dims)
{
    *ir_out_type(g, n, 0) = type_make(DT_F32, rank, dims);
}

/* A per-channel parameter (scale, bias) must be [C]. */
static bool check_channel_param(Ctx *c, const Graph *g, const Node *n, int i, const char *role)
{
    const Type *x = ir_in_type(g, n, 0), *p = ir_in_type(g, n, i);
    if (p->rank == 1 && p->dims[0] == x->dims[1])
        return true;
    char tx[TSZ], tp[TSZ];
    return infer_node_error(c, g, n, "%s must be [%lld] (one per channel of x %s), but %s is %s", role,
                     (long long)x->dims[1], type_str(x, tx, sizeof tx), role,
                     type_str(p, tp, sizeof tp));
}

/* ---------------------------------------------------------- normalization */

static const char *const in_roles[] = {"x", "scale", "bias"};

bool infer_instance_norm(Ctx *c, Graph *g, Node *n)
{
    if (!infer_check_f32(c, g, n, in_roles))
        return false;
    const Type *x = ir_in_type(g, n, 0);
    char tx[TSZ];
    type_str(x, tx, sizeof tx);
    if (x->rank < 3)
        return infer_node_error(c, g, n, "x must be [N, C, spatial...] (rank >= 3), but x is %s", tx);
    if (!check_channel_param(c, g, n, 1, "scale") || !check_channel_param(c, g, n, 2, "bias"))
        return false;
    if (ir_attr_float(n, "epsilon") < 0)
        return infer_node_error(c, g, n, "epsilon %g must not be negative (x is %s)",
                         ir_attr_float(n, "epsilon"), tx);
    set_out(g, n, x->rank, x->dims);
    return true;
}

bool infer_lrn(Ctx *c, Graph *g, Node *n)
{
    if (!infer_check_f32(c, g, n, in_roles))
        return false;
    const Type *x = ir_in_type(g, n, 0);
    char tx[TSZ];
    type_str(x, tx, sizeof tx);
    if (x->rank < 2)
        return infer_node_error(c, g, n, "x must be [N, C, ...] (rank >= 2), but x is %s", tx);
    if (ir_attr_int(n, "size") < 1)
        return infer_node_error(c, g, n, "size %lld must be positive (x is %s)",
                         (long long)ir_attr_int(n, "size"), tx);
    set_out(g, n, x->rank, x->dims);
    return true;
}

/* --------------------------------------------------------- conv_transpose */

/* An optional per-spatial-dim list: empty means all `def`; otherwise ns
 * entries, each >= min. */
static bool spatial_list(Ctx *c, const Graph *g, const Node *n, const char *name, int ns,
                         int64_t def, int64_t min, int64_t *out)
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
        if (out[i] < min)
            return infer_node_error(c, g, n, "%s %s must be %s (x is %s)", name,
                             infer_ints_str(v, cnt, ls, sizeof ls),
                             min > 0 ? "positive" : "non-negative", ts);
    }
    return true;
}

bool ir_conv_transpose_geom(Ctx *c, const Graph *g, const Node *n, Geom *geo)
{
    memset(geo, 0, sizeof *geo);
    const Type *x = ir_in_type(g, n, 0), *w = ir_in_type(g, n, 1);
    char tx[TSZ], tw[TSZ], ls[TSZ];
    type_str(x, tx, sizeof tx);
    type_str(w, tw, sizeof tw);
    if (x->rank < 3)
        return infer_node_error(c, g, n, "x must be [N, C, spatial...] (rank >= 3), but x is %s", tx);
    if (w->rank != x->rank)
        return infer_node_error(c, g, n, "w must be [C, M/group, k...] with the rank of x, but x is "
                         "%s and w is %s", tx, tw);
    int ns = x->rank - 2;
    geo->nspatial = ns;
    geo->group = ir_attr_int(n, "group");
    if (geo->group < 1)
        return infer_node_error(c, g, n, "group %lld must be positive (x is %s, w is %s)",
                         (long long)geo->group, tx, tw);
    for (int i = 0; i < ns; i++) {
        geo->in[i] = x->dims[2 + i];
        geo->kernel[i] = w->dims[2 + i];
        if (geo->kernel[i] < 1)
            return infer_node_error(c, g, n, "kernel of w %s must be positive", tw);
    }
    int nk;
    const int64_t *ks = ir_attr_ints(n, "kernel_shape", &nk);
    if (nk != 0) {
        bool same = nk == ns;
        for (int i = 0; same && i < ns; i++)
            same = ks[i] == geo->kernel[i];
        if (!same)
            return infer_node_error(c, g, n, "kernel_shape %s does not match w %s (x is %s)",
                             infer_ints_str(ks, nk, ls, sizeof ls), tw, tx);
    }
    int64_t opad[IR_MAX_RANK];
    if (!spatial_list(c, g, n, "strides", ns, 1, 1, geo->stride) ||
        !spatial_list(c, g, n, "dilations", ns, 1, 1, geo->dilation) ||
        !spatial_list(c, g, n, "output_padding", ns, 0, 0, opad))
        return false;

    int np, nos;
    const int64_t *pads = ir_attr_ints(n, "pads", &np);
    const int64_t *os = ir_attr_ints(n, "output_shape", &nos);
    if (np != 0 && np != 2 * ns)
        return infer_node_error(c, g, n, "pads %s needs 2 entries per spatial dim of x %s (%d)",
                         infer_ints_str(pads, np, ls, sizeof ls), tx, 2 * ns);
    for (int i = 0; i < np; i++)
        if (pads[i] < 0)
            return infer_node_error(c, g, n, "pads %s must not be negative (x is %s)",
                             infer_ints_str(pads, np, ls, sizeof ls), tx);
    /* output_shape lists the spatial dims, or (as some exporters write it)
     * the whole output shape. */
    if (nos != 0 && nos != ns && nos != ns + 2)
        return infer_node_error(c, g, n, "output_shape %s needs one entry per spatial dim of x %s (%d)",
                         infer_ints_str(os, nos, ls, sizeof ls), tx, ns);
    if (nos == ns + 2)
        os += 2;
    const char *ap = ir_attr_str(n, "auto_pad");
    bool notset = strcmp(ap, "NOTSET") == 0, valid = strcmp(ap, "VALID") == 0;
    bool upper = strcmp(ap, "SAME_UPPER") == 0, lower = strcmp(ap, "SAME_LOWER") == 0;
    if (!notset && !valid && !upper && !lower)
        return infer_node_error(c, g, n, "auto_pad \"%s\" is not one of NOTSET, SAME_UPPER, "
                         "SAME_LOWER, VALID", ap);

    for (int i = 0; i < ns; i++) {
        int64_t s = geo->stride[i];
        int64_t natural = s * (geo->in[i] - 1) + opad[i] + (geo->kernel[i] - 1) * geo->dilation[i] + 1;
        int64_t pb = np ? pads[i] : 0, pe = np ? pads[ns + i] : 0, out;
        if (nos || upper || lower) {
            /* ONNX: pads follow from the requested size; SAME_UPPER puts
             * the odd one at the end, everything else at the start. */
            out = nos ? os[i] : geo->in[i] * s;
            int64_t total = natural - out;
            /* Floor halves: an output_shape one larger than natural grows
             * the end (pads 0, -1), as ONNX's own test data expects. */
            int64_t half = total >= 0 ? total / 2 : -((-total + 1) / 2);
            pb = upper ? half : total - half;
            pe = total - pb;
        } else if (valid) {
            pb = pe = 0;
            out = natural;
        } else {
            out = natural - pb - pe;
        }
        if (out < 1)
            return infer_node_error(c, g, n, "output spatial size %lld (dim %d) is not positive: x is "
                             "%s, w is %s, pads %s", (long long)out, i, tx, tw,
                             infer_ints_str(pads, np, ls, sizeof ls));
        geo->pad_begin[i] = pb;
        geo->pad_end[i] = pe;
        geo->out[i] = out;
    }
    return true;
}

static const char *const ct_roles[] = {"x", "w", "b"};

bool infer_conv_transpose(Ctx *c, Graph *g, Node *n)
{
    Geom geo;
    if (!infer_check_f32(c, g, n, ct_roles) || !ir_conv_transpose_geom(c, g, n, &geo))
        return false;
    const Type *x = ir_in_type(g, n, 0), *w = ir_in_type(g, n, 1);
    char tx[TSZ], tw[TSZ];
    type_str(x, tx, sizeof tx);
    type_str(w, tw, sizeof tw);
    int64_t C = x->dims[1], G = geo.group, M = w->dims[1] * G;
    if (C % G != 0)
        return infer_node_error(c, g, n, "group %lld must divide the input channels of x %s",
                         (long long)G, tx);
    if (w->dims[0] != C)
        return infer_node_error(c, g, n, "channels differ: x is %s (C = %lld), so w must be [%lld, "
                         "M/group, k...], but w is %s", tx, (long long)C, (long long)C, tw);
    if (ir_has_input(n, 2)) {
        const Type *b = ir_in_type(g, n, 2);
        char tb[TSZ];
        if (b->rank != 1 || b->dims[0] != M)
            return infer_node_error(c, g, n, "bias b must be [%lld] (one per output channel: w %s, "
                             "group %lld), but b is %s", (long long)M, tw, (long long)G,
                             type_str(b, tb, sizeof tb));
    }
    int64_t dims[IR_MAX_RANK] = {x->dims[0], M};
    for (int i = 0; i < geo.nspatial; i++)
        dims[2 + i] = geo.out[i];
    set_out(g, n, x->rank, dims);
    return true;
}

/* ----------------------------------------------------------------- resize */

static const char *const resize_modes[] = {"nearest", "linear", "cubic"};
/* tf_half_pixel_for_nn is opset 11's spelling of tf_half_pixel_for_nearest. */
static const char *const coord_modes[] = {"half_pixel", "pytorch_half_pixel", "align_corners",
                                          "asymmetric", "tf_half_pixel_for_nearest",
                                          "tf_half_pixel_for_nn"};
static const char *const nearest_modes[] = {"round_prefer_floor", "round_prefer_ceil", "floor",
                                            "ceil"};
#define COUNT(a) ((int)(sizeof(a) / sizeof(a)[0]))

static int find_str(const char *s, const char *const *list, int n)
{
    for (int i = 0; i < n; i++)
        if (strcmp(s, list[i]) == 0)
            return i;
    return -1;
}

bool ir_resize_geom(Ctx *c, const Graph *g, const Node *n, ResizeGeom *rg)
{
    memset(rg, 0, sizeof *rg);
    const Type *x = ir_in_type(g, n, 0);
    char tx[TSZ], ls[TSZ];
    type_str(x, tx, sizeof tx);
    if (x->rank < 1)
        return infer_node_error(c, g, n, "x must have rank >= 1, but x is %s", tx);
    rg->rank = x->rank;
    const char *mode = ir_attr_str(n, "mode");
    const char *ctm = ir_attr_str(n, "coordinate_transformation_mode");
    const char *nm = ir_attr_str(n, "nearest_mode");
    rg->mode = find_str(mode, resize_modes, COUNT(resize_modes));
    if (rg->mode < 0)
        return infer_node_error(c, g, n, "mode \"%s\" is not supported; supported: nearest, linear, "
                         "cubic (x is %s)", mode, tx);
    if (find_str(ctm, coord_modes, COUNT(coord_modes)) < 0)
        return infer_node_error(c, g, n, "coordinate_transformation_mode \"%s\" is not supported; "
                         "supported: half_pixel, pytorch_half_pixel, align_corners, asymmetric, "
                         "tf_half_pixel_for_nearest (x is %s)", ctm, tx);
    if (find_str(nm, nearest_modes, COUNT(nearest_modes)) < 0)
        return infer_node_error(c, g, n, "nearest_mode \"%s\" is not one of round_prefer_floor, "
                         "round_prefer_ceil, floor, ceil", nm);

    int nsc, nsz;
    const double *scales = ir_attr_floats(n, "scales", &nsc);
    const int64_t *sizes = ir_attr_ints(n, "sizes", &nsz);
    if ((nsc == 0) == (nsz == 0))
        return infer_node_error(c, g, n, "exactly one of scales and sizes must be given, but %s "
                         "(x is %s)", nsc ? "both are" : "neither is", tx);
    if ((nsc ? nsc : nsz) != x->rank)
        return infer_node_error(c, g, n, "%s needs one entry per dim of x %s (%d), but has %d",
                         nsc ? "scales" : "sizes", tx, x->rank, nsc ? nsc : nsz);
    for (int d = 0; d < x->rank; d++) {
        rg->in[d] = x->dims[d];
        if (nsc) {
            if (!(scales[d] > 0))
                return infer_node_error(c, g, n, "scales must be positive, but scale %d is %g (x is %s)",
                                 d, scales[d], tx);
            rg->scale[d] = scales[d];
            rg->resized[d] = (double)x->dims[d] * scales[d];
            rg->out[d] = (int64_t)floor(rg->resized[d]);
            if (rg->out[d] < 1)
                return infer_node_error(c, g, n, "scale %g makes dim %d of x %s empty", scales[d], d, tx);
        } else {
            if (sizes[d] < 1)
                return infer_node_error(c, g, n, "sizes %s must be positive (x is %s)",
                                 infer_ints_str(sizes, nsz, ls, sizeof ls), tx);
            rg->out[d] = sizes[d];
            rg->resized[d] = (double)sizes[d];
            rg->scale[d] = (double)sizes[d] / (double)x->dims[d];
        }
        if (x->dims[d] < 1)
            return infer_node_error(c, g, n, "cannot resize the empty x %s", tx);
    }
    return true;
}

/* ONNX's x_original for output coordinate o along a dim; `len` is the
 * resized length before flooring (ONNX's reference divides by it). */
static double resize_coord(const char *ctm, int64_t o, int64_t in, double len, double scale)
{
    switch (find_str(ctm, coord_modes, COUNT(coord_modes))) {
    case 0: return ((double)o + 0.5) / scale - 0.5;
    case 1: return len > 1 ? ((double)o + 0.5) / scale - 0.5 : 0.0;
    case 2: return len > 1 ? (double)o * (double)(in - 1) / (len - 1) : 0.0;
    case 3: return (double)o / scale;
    case 4: case 5: return ((double)o + 0.5) / scale;
    default: unreachable("resize coordinate mode passed inference");
    }
}

static int64_t clamp_index(int64_t i, int64_t n)
{
    return i < 0 ? 0 : i >= n ? n - 1 : i;
}

/* Keys's cubic convolution weights for the taps at floor(x) - 1 .. + 2,
 * r = x - floor(x) (ONNX's cubic_coeff_a is A). */
static void cubic_weights(double r, double A, double *w)
{
    double t[4] = {r + 1, r, 1 - r, 2 - r};
    for (int i = 0; i < 4; i++) {
        double s = t[i];
        w[i] = s <= 1 ? ((A + 2) * s - (A + 3)) * s * s + 1
                      : ((A * s - 5 * A) * s + 8 * A) * s - 4 * A;
    }
}

int ir_resize_taps(const Node *n, const ResizeGeom *rg, int d, int64_t o,
                   int64_t idx[IR_RESIZE_MAX_TAPS], double wt[IR_RESIZE_MAX_TAPS])
{
    int64_t in = rg->in[d];
    double x = resize_coord(ir_attr_str(n, "coordinate_transformation_mode"), o, in,
                            rg->resized[d], rg->scale[d]);
    double fl = floor(x), r = x - fl;
    int64_t base = (int64_t)fl;
    if (rg->mode == 0) {
        bool up;
        switch (find_str(ir_attr_str(n, "nearest_mode"), nearest_modes, COUNT(nearest_modes))) {
        case 0: up = r > 0.5; break;
        case 1: up = r >= 0.5; break;
        case 2: up = false; break;
        case 3: up = r > 0; break;
        default: unreachable("resize nearest_mode passed inference");
        }
        idx[0] = clamp_index(base + up, in);
        wt[0] = 1.0;
        return 1;
    }
    if (rg->mode == 1) {
        idx[0] = clamp_index(base, in);
        idx[1] = clamp_index(base + 1, in);
        wt[0] = 1.0 - r;
        wt[1] = r;
        return 2;
    }
    cubic_weights(r, ir_attr_float(n, "cubic_coeff_a"), wt);
    /* exclude_outside: taps outside the input get no weight and the rest
     * are renormalized; otherwise they read the clamped edge. */
    bool exclude = ir_attr_int(n, "exclude_outside") != 0;
    double sum = 0.0;
    for (int t = 0; t < 4; t++) {
        int64_t at = base - 1 + t;
        if (exclude && (at < 0 || at >= in))
            wt[t] = 0.0;
        sum += wt[t];
        idx[t] = clamp_index(at, in);
    }
    if (exclude && sum != 0.0)
        for (int t = 0; t < 4; t++)
            wt[t] /= sum;
    return 4;
}

static const char *const resize_roles[] = {"x"};

bool infer_resize(Ctx *c, Graph *g, Node *n)
{
    ResizeGeom rg;
    if (!infer_check_f32(c, g, n, resize_roles) || !ir_resize_geom(c, g, n, &rg))
        return false;
    set_out(g, n, rg.rank, rg.out);
    return true;
}
