/* infer_ew.c: shape/type inference for the elementwise ops whose output
 * dtype is not simply their input's: logic, comparisons, cast, pow, where.
 *
 * Shapes broadcast as numpy does (infer_broadcast_shape, pairwise, for any
 * number of inputs). Dtype rules, after ONNX:
 *   not/and/or/xor          bool in, bool out;
 *   equal/less/.../greater  inputs of one dtype (any, bool included), bool out;
 *   cast                    any dtype to the one named by `to`;
 *   pow                     the base's dtype; the exponent may be any numeric
 *                           dtype (ONNX's T1), never bool;
 *   where                   bool condition, x and y of one dtype, x's dtype out;
 *   quantize_linear         f32 x and scale, i8/u8 zero point, zero's dtype out
 *                           (u8 without one); scale and zero broadcast to x;
 *   dequantize_linear       i8/u8/i32 x, f32 scale, zero of x's dtype, f32 out.
 * The unary math ops and max/min/sum/mean/mod/prelu use infer_same and
 * infer_broadcast (infer_tensor.c). A user error is one diagnostic at the
 * node naming the node and every type involved; outputs are then untouched.
 * An output keeps quantization parameters it already has (an annotation);
 * none of these ops invent or pass them on.
 */
#include "ir.h"

enum { TSZ = 256 };

/* Broadcasts all of n's inputs into *out (dtype left as `dt`). */
static bool bcast_all(Ctx *c, const Graph *g, const Node *n, DType dt, Type *out)
{
    const Type *a = ir_in_type(g, n, 0);
    Type t = type_make(dt, a->rank, a->dims);
    for (int i = 1; i < n->nin; i++)
        if (!infer_broadcast_shape(c, n, &t, ir_in_type(g, n, i), &t))
            return false;
    t.dtype = dt;
    *out = t;
    return true;
}

static void set_out(Graph *g, Node *n, Type t)
{
    Type *o = ir_out_type(g, n, 0);
    Quant *q = o->quant;
    *o = t;
    o->quant = q;
}

static bool has_dtype(Ctx *c, const Graph *g, const Node *n, int i)
{
    DType dt = ir_in_type(g, n, i)->dtype;
    if (dt > DT_NONE && dt < DT_COUNT)
        return true;
    char d[160];
    diag_error(c, n->loc, "%s: input %d has no type", ir_node_desc(g, n, d, sizeof d), i);
    return false;
}

bool infer_logical(Ctx *c, Graph *g, Node *n)
{
    char d[160], ts[TSZ];
    for (int i = 0; i < n->nin; i++) {
        if (!has_dtype(c, g, n, i))
            return false;
        const Type *t = ir_in_type(g, n, i);
        if (t->dtype != DT_BOOL) {
            diag_error(c, n->loc, "%s: input %d is %s, but %s needs bool inputs",
                       ir_node_desc(g, n, d, sizeof d), i, type_str(t, ts, sizeof ts),
                       op_info(n->op)->name);
            return false;
        }
    }
    Type t;
    if (!bcast_all(c, g, n, DT_BOOL, &t))
        return false;
    set_out(g, n, t);
    return true;
}

bool infer_compare(Ctx *c, Graph *g, Node *n)
{
    char d[160], ta[TSZ], tb[TSZ];
    if (!has_dtype(c, g, n, 0) || !has_dtype(c, g, n, 1))
        return false;
    const Type *a = ir_in_type(g, n, 0), *b = ir_in_type(g, n, 1);
    if (a->dtype != b->dtype) {
        diag_error(c, n->loc, "%s: operand types differ: %s and %s",
                   ir_node_desc(g, n, d, sizeof d), type_str(a, ta, sizeof ta),
                   type_str(b, tb, sizeof tb));
        return false;
    }
    Type t;
    if (!bcast_all(c, g, n, DT_BOOL, &t))
        return false;
    set_out(g, n, t);
    return true;
}

bool infer_cast(Ctx *c, Graph *g, Node *n)
{
    if (!has_dtype(c, g, n, 0))
        return false;
    const char *to = ir_attr_str(n, "to");
    DType dt = dtype_from_name(to);
    if (dt == DT_NONE) {
        char d[160];
        diag_error(c, n->loc, "%s: unknown dtype \"%s\" in `to`; expected one of f32, i8, u8, "
                   "i16, i32, i64, bool", ir_node_desc(g, n, d, sizeof d), to);
        return false;
    }
    const Type *a = ir_in_type(g, n, 0);
    set_out(g, n, type_make(dt, a->rank, a->dims));
    return true;
}

bool infer_pow(Ctx *c, Graph *g, Node *n)
{
    char d[160], ta[TSZ], tb[TSZ];
    if (!has_dtype(c, g, n, 0) || !has_dtype(c, g, n, 1))
        return false;
    const Type *a = ir_in_type(g, n, 0), *b = ir_in_type(g, n, 1);
    if (a->dtype == DT_BOOL || b->dtype == DT_BOOL) {
        diag_error(c, n->loc, "%s: base %s and exponent %s must both be numeric, not bool",
                   ir_node_desc(g, n, d, sizeof d), type_str(a, ta, sizeof ta),
                   type_str(b, tb, sizeof tb));
        return false;
    }
    Type t;
    if (!bcast_all(c, g, n, a->dtype, &t))
        return false;
    set_out(g, n, t);
    return true;
}

bool infer_where(Ctx *c, Graph *g, Node *n)
{
    char d[160], ta[TSZ], tb[TSZ];
    for (int i = 0; i < 3; i++)
        if (!has_dtype(c, g, n, i))
            return false;
    const Type *cond = ir_in_type(g, n, 0);
    const Type *x = ir_in_type(g, n, 1), *y = ir_in_type(g, n, 2);
    ir_node_desc(g, n, d, sizeof d);
    if (cond->dtype != DT_BOOL) {
        diag_error(c, n->loc, "%s: the condition is %s, but must be bool", d,
                   type_str(cond, ta, sizeof ta));
        return false;
    }
    if (x->dtype != y->dtype) {
        diag_error(c, n->loc, "%s: x and y types differ: %s and %s", d,
                   type_str(x, ta, sizeof ta), type_str(y, tb, sizeof tb));
        return false;
    }
    Type t;
    if (!bcast_all(c, g, n, x->dtype, &t))
        return false;
    set_out(g, n, t);
    return true;
}

/* The shared checks of quantize_linear and dequantize_linear: x's dtype is
 * one of `xdts`, the scale is f32, the zero point (if any) has dtype `zdt`
 * (DT_NONE: i8 or u8), and scale and zero broadcast to x's shape without
 * growing it. */
static bool check_qdq(Ctx *c, const Graph *g, const Node *n, const DType *xdts, int nx, DType zdt)
{
    char d[160], ta[TSZ], tb[TSZ];
    for (int i = 0; i < n->nin; i++)
        if (!has_dtype(c, g, n, i))
            return false;
    ir_node_desc(g, n, d, sizeof d);
    const Type *x = ir_in_type(g, n, 0), *s = ir_in_type(g, n, 1);
    bool x_ok = false;
    for (int i = 0; i < nx; i++)
        x_ok |= x->dtype == xdts[i];
    if (!x_ok) {
        diag_error(c, n->loc, "%s: x is %s; %s takes %s", d, type_str(x, ta, sizeof ta),
                   op_info(n->op)->name, n->op == OP_QUANTIZE_LINEAR ? "f32" : "i8, u8 or i32");
        return false;
    }
    if (s->dtype != DT_F32) {
        diag_error(c, n->loc, "%s: the scale is %s, but must be f32", d, type_str(s, ta, sizeof ta));
        return false;
    }
    if (n->nin > 2) {
        const Type *z = ir_in_type(g, n, 2);
        bool z_ok = zdt != DT_NONE ? z->dtype == zdt : z->dtype == DT_I8 || z->dtype == DT_U8;
        if (!z_ok) {
            diag_error(c, n->loc, "%s: the zero point is %s, but must be %s", d,
                       type_str(z, ta, sizeof ta), zdt != DT_NONE ? dtype_name(zdt) : "i8 or u8");
            return false;
        }
    }
    Type t;
    if (!bcast_all(c, g, n, x->dtype, &t))
        return false;
    if (!type_equal(&t, x)) { /* t has x's dtype: this compares shapes */
        diag_error(c, n->loc, "%s: scale %s and zero point must broadcast to x %s, not widen it", d,
                   type_str(s, ta, sizeof ta), type_str(x, tb, sizeof tb));
        return false;
    }
    return true;
}

bool infer_quantize_linear(Ctx *c, Graph *g, Node *n)
{
    static const DType xdts[] = {DT_F32};
    if (!check_qdq(c, g, n, xdts, 1, DT_NONE))
        return false;
    Type t = *ir_in_type(g, n, 0);
    t.dtype = n->nin > 2 ? ir_in_type(g, n, 2)->dtype : DT_U8;
    t.quant = NULL;
    set_out(g, n, t);
    return true;
}

bool infer_dequantize_linear(Ctx *c, Graph *g, Node *n)
{
    static const DType xdts[] = {DT_I8, DT_U8, DT_I32};
    if (!check_qdq(c, g, n, xdts, 3, ir_in_type(g, n, 0)->dtype))
        return false;
    Type t = *ir_in_type(g, n, 0);
    t.dtype = DT_F32;
    t.quant = NULL;
    set_out(g, n, t);
    return true;
}
