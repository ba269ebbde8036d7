/* onnx_ops.c: the ONNX importer, node level: the op table and folding.
 *
 * Every ONNX op etch imports is one row of `onnx_ops`, data rather than
 * code: the opsets the row covers, the etch op, how many outputs etch
 * computes (the rest are optional outputs left absent), which ONNX inputs
 * must be constants and become which etch attribute (Reshape's shape,
 * Squeeze's axes from opset 13, Resize's scales and sizes, ...), and which
 * ONNX attributes are renamed, converted or ignored. Attributes not listed
 * map by name, camelCase -> snake_case (transA -> trans_a).
 * A few ops have a special form: those whose result is always a constant
 * (Constant, Shape, Size, ConstantOfShape, Range), Quantize/DequantizeLinear
 * (a per-axis scale is reshaped to broadcast along its axis; a
 * dequantize of constants is not folded, see onnx_build()), the QOperator ops
 * (QLinearConv, ...: built as the dequantize -> float op -> quantize they
 * mean), and Softmax-like ops before opset 13, which work on the input
 * flattened to 2-D at `axis`.
 * Besides the default domain, `ms_ops` maps onnxruntime's com.microsoft
 * QOperator ops (its operator set 1); other domains are errors.
 * Invariant: a node whose inputs are all constants is folded at import by
 * running its op's reference implementation on a scratch graph, so the
 * imported graph holds the constant and no dead node; shape-computing
 * chains of PyTorch exports (Shape -> Gather -> Unsqueeze -> Concat ->
 * Reshape) thereby compile to static code.
 */
#include "onnx_import.h"

#include <assert.h>
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>


/* Folded constants larger than this stay nodes: folding must not turn a
 * small Expand or Tile into megabytes of weights. */
#define FOLD_MAX_BYTES (1 << 20)

/* How an ONNX input is used. */
typedef enum {
    IN_DATA = 0,  /* an input of the etch op (any input without a rule) */
    IN_INTS,      /* constant integer tensor -> ints attribute */
    IN_FLOAT,     /* constant scalar -> float attribute */
    IN_FLOATS,    /* constant float tensor -> floats attribute; empty: default */
    IN_DTYPE,     /* the input's dtype name -> str attribute (CastLike) */
    IN_IGNORED,   /* no effect in inference (Dropout's ratio, Resize's roi) */
    IN_FALSE,     /* constant that must be false (Dropout's training_mode) */
    IN_REFUSED,   /* not supported when given (Pad's axes) */
} InKind;

typedef struct {
    int input;          /* ONNX input index */
    InKind kind;        /* 0 ends the list */
    const char *attr;   /* etch attribute (or the input's name for messages) */
} InRule;

typedef enum {
    AR_RENAME = 1,      /* ONNX attribute -> etch attribute `etch` */
    AR_DTYPE,           /* TensorProto data type code -> dtype name (Cast's to) */
    AR_IGNORE,          /* no effect in inference (seeds, momentum, is_test) */
    AR_ZERO,            /* accepted only when 0 (training_mode, antialias) */
    AR_ONE,             /* accepted only when 1 (BatchNormalization's spatial) */
} AttrRuleKind;

typedef struct {
    const char *onnx;
    AttrRuleKind kind;
    const char *etch;
} AttrRule;

typedef enum {
    SP_NONE,
    SP_FLAT_AXIS,       /* Softmax/LogSoftmax/Hardmax before opset 13 */
    SP_CONSTANT,
    SP_SHAPE,
    SP_SIZE,
    SP_CONST_OF_SHAPE,
    SP_RANGE,
    SP_QDQ,             /* QuantizeLinear/DequantizeLinear: per-axis scales */
    SP_QOPERATOR,       /* QLinearConv, QLinearMatMul, ...: as their QDQ form */
} Special;

struct OnnxOp {
    const char *onnx;   /* ONNX op_type */
    int since, until;   /* opsets the row covers */
    int op;             /* etch op; -1 for special rows that only fold */
    int nout;           /* outputs etch computes (-1: all, as Split) */
    Special special;
    InRule in[5];
    AttrRule attr[5];
    const char *fixed;  /* "name=value ..." string attributes set first */
};

#define ALL 1, 18
#define EW1(onnx, id) {onnx, ALL, OP_##id, 1, SP_NONE, {{0}}, {{0}}, NULL}

static const OnnxOp onnx_ops[] = {
    /* neural-network ops */
    EW1("Conv", CONV),
    {"Gemm", ALL, OP_GEMM, 1, SP_NONE, {{0}}, {{"broadcast", AR_IGNORE, NULL}}, NULL},
    EW1("MatMul", MATMUL),
    {"MaxPool", ALL, OP_MAX_POOL, 1, SP_NONE, {{0}}, {{"storage_order", AR_IGNORE, NULL}}, NULL},
    EW1("AveragePool", AVERAGE_POOL),
    EW1("GlobalAveragePool", GLOBAL_AVERAGE_POOL),
    EW1("GlobalMaxPool", GLOBAL_MAX_POOL),
    {"BatchNormalization", ALL, OP_BATCH_NORM, 1, SP_NONE, {{0}},
     {{"momentum", AR_IGNORE, NULL}, {"is_test", AR_IGNORE, NULL}, {"spatial", AR_ONE, NULL},
      {"training_mode", AR_ZERO, NULL}}, NULL},
    {"LayerNormalization", ALL, OP_LAYER_NORM, 1, SP_NONE, {{0}},
     {{"stash_type", AR_IGNORE, NULL}}, NULL},
    {"Softmax", 1, 12, OP_SOFTMAX, 1, SP_FLAT_AXIS, {{0}}, {{0}}, NULL},
    {"Softmax", 13, 18, OP_SOFTMAX, 1, SP_NONE, {{0}}, {{0}}, NULL},
    {"LogSoftmax", 1, 12, OP_LOG_SOFTMAX, 1, SP_FLAT_AXIS, {{0}}, {{0}}, NULL},
    {"LogSoftmax", 13, 18, OP_LOG_SOFTMAX, 1, SP_NONE, {{0}}, {{0}}, NULL},
    {"Hardmax", 1, 12, OP_HARDMAX, 1, SP_FLAT_AXIS, {{0}}, {{0}}, NULL},
    {"Hardmax", 13, 18, OP_HARDMAX, 1, SP_NONE, {{0}}, {{0}}, NULL},
    EW1("InstanceNormalization", INSTANCE_NORM),
    EW1("LRN", LRN),
    EW1("ConvTranspose", CONV_TRANSPOSE),
    /* Resize 10 and Upsample index the input as Upsample did: asymmetric
     * coordinates, nearest rounding down. */
    {"Upsample", 7, 8, OP_RESIZE, 1, SP_NONE, {{0}}, {{0}},
     "coordinate_transformation_mode=asymmetric nearest_mode=floor"},
    {"Upsample", 9, 9, OP_RESIZE, 1, SP_NONE, {{1, IN_FLOATS, "scales"}}, {{0}},
     "coordinate_transformation_mode=asymmetric nearest_mode=floor"},
    {"Resize", 10, 10, OP_RESIZE, 1, SP_NONE, {{1, IN_FLOATS, "scales"}}, {{0}},
     "coordinate_transformation_mode=asymmetric nearest_mode=floor"},
    {"Resize", 11, 18, OP_RESIZE, 1, SP_NONE,
     {{1, IN_IGNORED, "roi"}, {2, IN_FLOATS, "scales"}, {3, IN_INTS, "sizes"}},
     {{"antialias", AR_ZERO, NULL}}, NULL},

    /* elementwise */
    EW1("Add", ADD), EW1("Sub", SUB), EW1("Mul", MUL), EW1("Div", DIV),
    EW1("Relu", RELU),
    {"Clip", 1, 10, OP_CLIP, 1, SP_NONE, {{0}}, {{0}}, NULL},
    {"Clip", 11, 18, OP_CLIP, 1, SP_NONE, {{1, IN_FLOAT, "min"}, {2, IN_FLOAT, "max"}}, {{0}}, NULL},
    EW1("LeakyRelu", LEAKY_RELU), EW1("Sigmoid", SIGMOID), EW1("Tanh", TANH),
    EW1("Gelu", GELU), EW1("Exp", EXP), EW1("Log", LOG), EW1("Sqrt", SQRT),
    EW1("Neg", NEG), EW1("Abs", ABS), EW1("Identity", IDENTITY),
    EW1("Floor", FLOOR), EW1("Ceil", CEIL), EW1("Round", ROUND),
    EW1("Reciprocal", RECIPROCAL), EW1("Erf", ERF),
    EW1("Sin", SIN), EW1("Cos", COS), EW1("Tan", TAN),
    EW1("Asin", ASIN), EW1("Acos", ACOS), EW1("Atan", ATAN),
    EW1("Sinh", SINH), EW1("Cosh", COSH), EW1("Asinh", ASINH),
    EW1("Acosh", ACOSH), EW1("Atanh", ATANH), EW1("Sign", SIGN),
    EW1("Softplus", SOFTPLUS), EW1("Softsign", SOFTSIGN),
    EW1("Elu", ELU), EW1("Selu", SELU), EW1("Celu", CELU),
    EW1("HardSigmoid", HARD_SIGMOID), EW1("HardSwish", HARD_SWISH),
    EW1("ThresholdedRelu", THRESHOLDED_RELU), EW1("Shrink", SHRINK),
    EW1("Not", NOT),
    {"Cast", ALL, OP_CAST, 1, SP_NONE, {{0}}, {{"to", AR_DTYPE, "to"}, {"saturate", AR_IGNORE, NULL}}, NULL},
    {"CastLike", 15, 18, OP_CAST, 1, SP_NONE, {{1, IN_DTYPE, "to"}}, {{"saturate", AR_IGNORE, NULL}}, NULL},
    EW1("Pow", POW), EW1("Mod", MOD), EW1("PRelu", PRELU),
    EW1("Equal", EQUAL), EW1("Less", LESS), EW1("LessOrEqual", LESS_OR_EQUAL),
    EW1("Greater", GREATER), EW1("GreaterOrEqual", GREATER_OR_EQUAL),
    EW1("And", AND), EW1("Or", OR), EW1("Xor", XOR),
    EW1("Max", MAX), EW1("Min", MIN), EW1("Sum", SUM), EW1("Mean", MEAN),
    EW1("Where", WHERE),
    {"Dropout", ALL, OP_IDENTITY, 1, SP_NONE,
     {{1, IN_IGNORED, "ratio"}, {2, IN_FALSE, "training_mode"}},
     {{"ratio", AR_IGNORE, NULL}, {"seed", AR_IGNORE, NULL}, {"is_test", AR_IGNORE, NULL}}, NULL},

    /* shape and data movement */
    {"Reshape", ALL, OP_RESHAPE, 1, SP_NONE, {{1, IN_INTS, "shape"}}, {{0}}, NULL},
    EW1("Flatten", FLATTEN), EW1("Transpose", TRANSPOSE), EW1("Concat", CONCAT),
    {"Pad", 1, 10, OP_PAD, 1, SP_NONE, {{0}}, {{"paddings", AR_RENAME, "pads"}}, NULL},
    {"Pad", 11, 18, OP_PAD, 1, SP_NONE,
     {{1, IN_INTS, "pads"}, {2, IN_FLOAT, "value"}, {3, IN_REFUSED, "axes"}}, {{0}}, NULL},
#define REDUCE(onnx, id) {onnx, ALL, OP_##id, 1, SP_NONE, {{1, IN_INTS, "axes"}}, {{0}}, NULL}
    REDUCE("ReduceMean", REDUCE_MEAN), REDUCE("ReduceSum", REDUCE_SUM),
    REDUCE("ReduceMax", REDUCE_MAX), REDUCE("ReduceMin", REDUCE_MIN),
    REDUCE("ReduceProd", REDUCE_PROD), REDUCE("ReduceL1", REDUCE_L1),
    REDUCE("ReduceL2", REDUCE_L2), REDUCE("ReduceSumSquare", REDUCE_SUM_SQUARE),
    REDUCE("ReduceLogSum", REDUCE_LOG_SUM), REDUCE("ReduceLogSumExp", REDUCE_LOG_SUM_EXP),
#undef REDUCE
    EW1("ArgMax", ARGMAX), EW1("ArgMin", ARGMIN),
    {"Squeeze", ALL, OP_SQUEEZE, 1, SP_NONE, {{1, IN_INTS, "axes"}}, {{0}}, NULL},
    {"Unsqueeze", ALL, OP_UNSQUEEZE, 1, SP_NONE, {{1, IN_INTS, "axes"}}, {{0}}, NULL},
    {"Split", ALL, OP_SPLIT, -1, SP_NONE, {{1, IN_INTS, "split"}}, {{0}}, NULL},
    {"Slice", ALL, OP_SLICE, 1, SP_NONE,
     {{1, IN_INTS, "starts"}, {2, IN_INTS, "ends"}, {3, IN_INTS, "axes"}, {4, IN_INTS, "steps"}},
     {{0}}, NULL},
    EW1("Gather", GATHER),
    {"Expand", ALL, OP_EXPAND, 1, SP_NONE, {{1, IN_INTS, "shape"}}, {{0}}, NULL},
    {"Tile", 6, 18, OP_TILE, 1, SP_NONE, {{1, IN_INTS, "repeats"}}, {{0}}, NULL},
    EW1("DepthToSpace", DEPTH_TO_SPACE), EW1("SpaceToDepth", SPACE_TO_DEPTH),

    /* always constants: folded at import */
    {"Constant", ALL, -1, 1, SP_CONSTANT, {{0}}, {{0}}, NULL},
    {"Shape", ALL, -1, 1, SP_SHAPE, {{0}}, {{0}}, NULL},
    {"Size", ALL, -1, 1, SP_SIZE, {{0}}, {{0}}, NULL},
    {"ConstantOfShape", 9, 18, -1, 1, SP_CONST_OF_SHAPE, {{0}}, {{0}}, NULL},
    {"Range", 11, 18, -1, 1, SP_RANGE, {{0}}, {{0}}, NULL},

    /* quantization (constant inputs fold like any other op) */
    {"QuantizeLinear", 10, 18, OP_QUANTIZE_LINEAR, 1, SP_QDQ, {{0}}, {{0}}, NULL},
    {"DequantizeLinear", 10, 18, OP_DEQUANTIZE_LINEAR, 1, SP_QDQ, {{0}}, {{0}}, NULL},
    {"QLinearConv", 10, 18, OP_CONV, 1, SP_QOPERATOR, {{0}}, {{0}}, NULL},
    {"QLinearMatMul", 10, 18, OP_MATMUL, 1, SP_QOPERATOR, {{0}}, {{0}}, NULL},
    {"ConvInteger", 10, 18, OP_CONV, 1, SP_QOPERATOR, {{0}}, {{0}}, NULL},
    {"MatMulInteger", 10, 18, OP_MATMUL, 1, SP_QOPERATOR, {{0}}, {{0}}, NULL},
    {"DynamicQuantizeLinear", 11, 18, OP_QUANTIZE_LINEAR, 3, SP_QOPERATOR, {{0}}, {{0}}, NULL},
};

#define NROWS (sizeof onnx_ops / sizeof onnx_ops[0])

/* The com.microsoft domain (onnxruntime's contrib ops, operator set 1):
 * the quantized QOperator ops onnxruntime's quantizer writes, imported as
 * their QDQ meaning like QLinearConv above. Attributes the importer reads
 * itself (channels_last, QLinearSoftmax's opset and axis) are AR_IGNORE
 * here so that the float op does not see them. */
#define MS_DOMAIN "com.microsoft"
#define MS_QOP(onnx, id, a0, a1)                                                          \
    {onnx, 1, 1, OP_##id, 1, SP_QOPERATOR, {{0}}, {{a0, AR_IGNORE, NULL}, {a1, AR_IGNORE, NULL}}, \
     NULL}

static const OnnxOp ms_ops[] = {
    MS_QOP("QLinearAdd", ADD, NULL, NULL),
    MS_QOP("QLinearMul", MUL, NULL, NULL),
    MS_QOP("QLinearAveragePool", AVERAGE_POOL, "channels_last", NULL),
    MS_QOP("QLinearGlobalAveragePool", GLOBAL_AVERAGE_POOL, "channels_last", NULL),
    MS_QOP("QLinearSigmoid", SIGMOID, NULL, NULL),
    MS_QOP("QLinearLeakyRelu", LEAKY_RELU, NULL, NULL),
    MS_QOP("QLinearConcat", CONCAT, NULL, NULL),
    MS_QOP("QLinearSoftmax", SOFTMAX, "opset", "axis"),
    MS_QOP("QLinearConv", CONV, "channels_last", NULL),
    MS_QOP("QGemm", GEMM, NULL, NULL),
    {"QuantizeLinear", 1, 1, OP_QUANTIZE_LINEAR, 1, SP_QDQ, {{0}}, {{0}}, NULL},
    {"DequantizeLinear", 1, 1, OP_DEQUANTIZE_LINEAR, 1, SP_QDQ, {{0}}, {{0}}, NULL},
};

#define MS_NROWS (sizeof ms_ops / sizeof ms_ops[0])

static bool is_ms_domain(const char *domain)
{
    return domain && strcmp(domain, MS_DOMAIN) == 0;
}

static bool is_onnx_domain(const char *domain)
{
    return !domain || !domain[0] || strcmp(domain, "ai.onnx") == 0;
}

/* The op table of a domain (NULL for a domain etch does not import). */
static const OnnxOp *domain_rows(const char *domain, size_t *n)
{
    if (is_onnx_domain(domain)) {
        *n = NROWS;
        return onnx_ops;
    }
    if (is_ms_domain(domain)) {
        *n = MS_NROWS;
        return ms_ops;
    }
    *n = 0;
    return NULL;
}

bool fe_onnx_op_known(const char *domain, const char *op_type)
{
    size_t n;
    const OnnxOp *rows = domain_rows(domain, &n);
    for (size_t i = 0; i < n; i++)
        if (strcmp(rows[i].onnx, op_type) == 0)
            return true;
    return false;
}

static const char *supported_list(Arena *a, const OnnxOp *rows, size_t n)
{
    const char *s = "";
    for (size_t i = 0; i < n; i++)
        if (i == 0 || strcmp(rows[i].onnx, rows[i - 1].onnx) != 0)
            s = arena_printf(a, "%s%s%s", s, i ? ", " : "", rows[i].onnx);
    return s;
}

void onnx_pend_attr(Pending *p, const char *name, Attr a)
{
    for (int i = 0; i < p->nattrs; i++)
        if (strcmp(p->names[i], name) == 0) {
            p->attrs[i] = a;
            return;
        }
    if (p->nattrs < MAX_ATTRS) {
        p->names[p->nattrs] = name;
        p->attrs[p->nattrs++] = a;
    }
}

static const Attr *pend_get(const Pending *p, const char *name)
{
    for (int i = 0; i < p->nattrs; i++)
        if (strcmp(p->names[i], name) == 0)
            return &p->attrs[i];
    return NULL;
}

static int count_outputs(const OnnxNode *on)
{
    int n = 0;
    for (size_t i = 0; i < on->np->n_output; i++)
        if (on->np->output[i][0])
            n = (int)i + 1;
    return n;
}

static bool has_input(const OnnxNode *on, size_t i)
{
    return i < on->np->n_input && on->np->input[i][0];
}

/* Before opset 7, binary elementwise ops broadcast b against a's trailing
 * dims, or from `axis` on; PRelu's 1-D slope is per channel (dim 1). */
static bool is_legacy_binary(const FeOnnx *im, int op)
{
    return im->opset < 7 && op_info(op)->expr && op_info(op)->in_max == 2;
}

/* ------------------------------------------------------------ inputs */

int onnx_input_value(FeOnnx *im, const OnnxNode *on, size_t i)
{
    if (!has_input(on, i))
        return -1;
    const char *name = on->np->input[i];
    int v = fe_onnx_lookup(im, name);
    if (v >= 0)
        return v;
    const char *why = fe_onnx_absent(im, name);
    if (why)
        diag_error(im->c, on->loc, "input '%s' is %s", name, why);
    else
        diag_error(im->c, on->loc,
                   "input '%s' is not defined by any earlier node, initializer or graph input", name);
    return -2;
}

/* A constant input as a tensor (an on-demand constant stands in for a
 * graph input); false after a diagnostic. */
static bool const_input(FeOnnx *im, const OnnxNode *on, size_t i, const char *what, Tensor *t)
{
    int v = onnx_input_value(im, on, i);
    if (v == -2)
        return false;
    if (v < 0) {
        diag_error(im->c, on->loc, "input %zu (%s) is required", i, what);
        return false;
    }
    const Value *val = ir_value(im->g, v);
    const FeConst *od = fe_onnx_on_demand(im, v);
    if (od) {
        *t = (Tensor){od->type, od->data};
        return true;
    }
    if (val->kind != VK_CONST) {
        diag_error(im->c, on->loc,
                   "input %zu (%s, '%s') must be a constant for etch to compile it statically; "
                   "freeze it with --const or give it as an initializer",
                   i, what, on->np->input[i]);
        return false;
    }
    *t = (Tensor){val->type, val->data};
    return true;
}

static bool tensor_is_int(const Tensor *t)
{
    DType d = t->type.dtype;
    return d == DT_I64 || d == DT_I32 || d == DT_I16 || d == DT_I8 || d == DT_U8;
}

static int64_t tensor_geti(const Tensor *t, int64_t i)
{
    switch (t->type.dtype) {
    case DT_I64: return ((const int64_t *)t->data)[i];
    case DT_I32: return ((const int32_t *)t->data)[i];
    default: return (int64_t)tensor_getf(t, i);
    }
}

static bool const_ints(FeOnnx *im, const OnnxNode *on, size_t i, const char *what, Attr *a)
{
    Tensor t;
    if (!const_input(im, on, i, what, &t))
        return false;
    if (!tensor_is_int(&t)) {
        diag_error(im->c, on->loc, "input %zu (%s) must be an integer tensor, not %s", i, what,
                   dtype_name(t.type.dtype));
        return false;
    }
    int64_t n = type_numel(&t.type);
    *a = (Attr){.type = AT_INTS, .n = (int)n};
    a->ints = arena_alloc(im->g->arena, (size_t)(n ? n : 1) * sizeof *a->ints);
    for (int64_t k = 0; k < n; k++)
        a->ints[k] = tensor_geti(&t, k);
    return true;
}

/* Converts one input by its rule into a pending attribute. */
static bool apply_in_rule(FeOnnx *im, const OnnxNode *on, const InRule *r, Pending *p)
{
    size_t i = (size_t)r->input;
    Tensor t;
    Attr a;
    switch (r->kind) {
    case IN_INTS:
        if (!const_ints(im, on, i, r->attr, &a))
            return false;
        onnx_pend_attr(p, r->attr, a);
        return true;
    case IN_FLOAT:
        if (!const_input(im, on, i, r->attr, &t))
            return false;
        if (type_numel(&t.type) != 1) {
            diag_error(im->c, on->loc, "input %zu (%s) must be a scalar, not %lld values", i,
                       r->attr, (long long)type_numel(&t.type));
            return false;
        }
        onnx_pend_attr(p, r->attr, (Attr){.type = AT_FLOAT, .f = tensor_getf(&t, 0)});
        return true;
    case IN_FLOATS: {
        if (!const_input(im, on, i, r->attr, &t))
            return false;
        int64_t n = type_numel(&t.type);
        if (n == 0)
            return true; /* Resize: empty scales when sizes are given */
        a = (Attr){.type = AT_FLOATS, .n = (int)n};
        a.floats = arena_alloc(im->g->arena, (size_t)n * sizeof *a.floats);
        for (int64_t k = 0; k < n; k++)
            a.floats[k] = tensor_getf(&t, k);
        onnx_pend_attr(p, r->attr, a);
        return true;
    }
    case IN_DTYPE: {
        int v = onnx_input_value(im, on, i);
        if (v < 0)
            return false;
        DType d = ir_value(im->g, v)->type.dtype;
        onnx_pend_attr(p, r->attr, (Attr){.type = AT_STR, .s = dtype_name(d)});
        return true;
    }
    case IN_IGNORED:
        return true;
    case IN_FALSE:
        if (!const_input(im, on, i, r->attr, &t))
            return false;
        if (type_numel(&t.type) != 1 || tensor_getf(&t, 0) != 0) {
            diag_error(im->c, on->loc, "%s = true is not supported (etch compiles inference)",
                       r->attr);
            return false;
        }
        return true;
    case IN_REFUSED:
        diag_error(im->c, on->loc, "input %zu (%s) of %s is not supported (%s)", i, r->attr,
                   on->row->onnx, on->opset);
        return false;
    case IN_DATA:
        break;
    }
    unreachable("input rule without a conversion");
}

/* ------------------------------------------------------------ attributes */

/* camelCase -> snake_case: transA -> trans_a. */
static const char *snake(Arena *a, const char *s)
{
    char *out = arena_alloc(a, strlen(s) * 2 + 1), *p = out;
    for (; *s; s++) {
        if (isupper((unsigned char)*s)) {
            if (p != out)
                *p++ = '_';
            *p++ = (char)tolower((unsigned char)*s);
        } else {
            *p++ = *s;
        }
    }
    return out;
}

static bool attr_value(FeOnnx *im, const OnnxNode *on, const Onnx__AttributeProto *ap, Attr *a)
{
    Arena *ar = im->g->arena;
    memset(a, 0, sizeof *a);
    switch (ap->type) {
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT: a->type = AT_INT; a->i = ap->i; return true;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT: a->type = AT_FLOAT; a->f = ap->f; return true;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING:
        a->type = AT_STR;
        a->s = arena_strndup(ar, (const char *)ap->s.data, ap->s.len);
        return true;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS:
        a->type = AT_INTS;
        a->n = (int)ap->n_ints;
        a->ints = arena_memdup(ar, ap->ints, ap->n_ints * sizeof *ap->ints);
        return true;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS:
        a->type = AT_FLOATS;
        a->n = (int)ap->n_floats;
        a->floats = arena_alloc(ar, (ap->n_floats ? ap->n_floats : 1) * sizeof *a->floats);
        for (size_t i = 0; i < ap->n_floats; i++)
            a->floats[i] = ap->floats[i];
        return true;
    default:
        diag_error(im->c, on->loc, "attribute '%s' has a kind etch does not support (%d)",
                   ap->name ? ap->name : "", (int)ap->type);
        return false;
    }
}

/* The etch dtype name of an ONNX TensorProto data type code, or NULL. */
static const char *dtype_of_code(int64_t code)
{
    switch (code) {
    case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT: return "f32";
    case ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE: return "f32"; /* doubles load as f32 */
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT8: return "u8";
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT8: return "i8";
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT16: return "i16";
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT32: return "i32";
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT64: return "i64";
    case ONNX__TENSOR_PROTO__DATA_TYPE__BOOL: return "bool";
    default: return NULL;
    }
}

static const char *etch_attr_list(Arena *a, int op)
{
    const OpInfo *info = op_info(op);
    const char *s = "";
    for (int i = 0; i < info->nattrs; i++)
        s = arena_printf(a, "%s%s%s", s, i ? ", " : "", info->attrs[i].name);
    return info->nattrs ? s : "none";
}

bool onnx_convert_attr(FeOnnx *im, const OnnxNode *on, const Onnx__AttributeProto *ap, Pending *p)
{
    const char *name = ap->name ? ap->name : "";
    const AttrRule *rule = NULL;
    for (int k = 0; k < 5 && on->row->attr[k].onnx; k++)
        if (strcmp(on->row->attr[k].onnx, name) == 0)
            rule = &on->row->attr[k];
    Attr a;
    if (!attr_value(im, on, ap, &a))
        return false;
    if (!rule && strcmp(name, "consumed_inputs") == 0)
        return true; /* an opset-1 memory hint */
    if (!rule && is_legacy_binary(im, p->op) && strcmp(name, "broadcast") == 0)
        return true; /* numpy broadcasting covers both settings */
    if (!rule && is_legacy_binary(im, p->op) && strcmp(name, "axis") == 0) {
        p->legacy_axis = a.i;
        return true;
    }
    if (rule && rule->kind == AR_IGNORE)
        return true;
    if (rule && (rule->kind == AR_ZERO || rule->kind == AR_ONE)) {
        int64_t want = rule->kind == AR_ONE;
        if (a.type != AT_INT || a.i != want) {
            diag_error(im->c, on->loc, "attribute %s other than %lld is not supported (%s)", name,
                       (long long)want, on->opset);
            return false;
        }
        return true;
    }
    if (rule && rule->kind == AR_DTYPE) {
        const char *d = a.type == AT_INT ? dtype_of_code(a.i) : NULL;
        if (!d) {
            const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(
                &onnx__tensor_proto__data_type__descriptor, a.type == AT_INT ? (int)a.i : 0);
            diag_error(im->c, on->loc, "attribute %s = %s is not supported; etch casts to float, double (as float), int8, uint8, int16, int32, int64 and bool",
                       name, ev ? ev->name : "?");
            return false;
        }
        onnx_pend_attr(p, rule->etch, (Attr){.type = AT_STR, .s = d});
        return true;
    }
    const char *ename = rule ? rule->etch : snake(im->g->arena, name);
    if (op_attr_index(p->op, ename) < 0) {
        diag_error(im->c, on->loc, "attribute '%s' of %s is not supported (%s); etch's %s takes: %s",
                   name, on->row->onnx, on->opset, op_info(p->op)->name,
                   etch_attr_list(im->g->arena, p->op));
        return false;
    }
    onnx_pend_attr(p, ename, a);
    return true;
}

/* ------------------------------------------------------------ building */

/* Rewrites b to numpy broadcasting by appending unit dims. */
static bool legacy_align(FeOnnx *im, const OnnxNode *on, Pending *p)
{
    if (p->nin != 2 || p->in[0] < 0 || p->in[1] < 0)
        return true;
    const Type *a = &ir_value(im->g, p->in[0])->type, *b = &ir_value(im->g, p->in[1])->type;
    int64_t axis = p->legacy_axis;
    if (axis < 0 && p->op == OP_PRELU && b->rank == 1 && b->dims[0] > 1 && a->rank > 2 &&
        a->dims[1] == b->dims[0])
        axis = 1;
    if (axis < 0 || b->rank == 0 || axis + b->rank >= a->rank)
        return true;
    Type t = *b;
    while (t.rank < a->rank - axis)
        t.dims[t.rank++] = 1;
    Pending r = {.op = OP_RESHAPE, .in = {p->in[1]}, .nin = 1, .nout = 1, .legacy_axis = -1};
    onnx_pend_attr(&r, "shape", (Attr){.type = AT_INTS, .n = t.rank,
                                      .ints = arena_memdup(im->g->arena, t.dims, sizeof t.dims)});
    return onnx_build(im, on, &r, &p->in[1]);
}

/* Creates the node in `g` with the pending attributes; -1 after a diagnostic. */
static int make_node(FeOnnx *im, const OnnxNode *on, Graph *g, const Pending *p, const int *in)
{
    int node = ir_new_node(im->c, g, p->op, in, p->nin, p->nout, on->loc);
    for (int i = 0; i < p->nattrs; i++)
        if (!ir_set_attr(im->c, g, node, p->names[i], &p->attrs[i], on->loc))
            return -1;
    return ir_finish_node(im->c, g, node) ? node : -1;
}

/* Builds the pending node, or folds it when every input is a constant:
 * inference and the reference run on a scratch graph holding copies of the
 * constant values, and only the results enter the graph. outv[] receives
 * the output value ids. */
bool onnx_build(FeOnnx *im, const OnnxNode *on, const Pending *p, int *outv)
{
    /* A dequantize of constants stays a node: the fold-qdq pass wants the
     * int8 weights behind it, and folds what it leaves. */
    bool fold = op_info(p->op)->ref != NULL && p->op != OP_DEQUANTIZE_LINEAR;
    int nconst = 0;
    for (int i = 0; i < p->nin; i++) {
        if (p->in[i] < 0)
            continue;
        if (ir_value(im->g, p->in[i])->kind != VK_CONST)
            fold = false;
        nconst++;
    }
    if (fold && nconst > 0) {
        Graph *s = ir_new_graph(im->g->arena, "fold");
        int in[MAX_IN];
        for (int i = 0; i < p->nin; i++) {
            const Value *v = p->in[i] >= 0 ? ir_value(im->g, p->in[i]) : NULL;
            in[i] = v ? ir_add_const(im->c, s, NULL, v->type, v->data, on->loc) : -1;
        }
        int node = make_node(im, on, s, p, in);
        if (node < 0)
            return false;
        const Node *n = ir_node(s, node);
        size_t bytes = 0;
        for (int o = 0; o < n->nout; o++)
            bytes += type_bytes(ir_out_type(s, n, o));
        if (bytes <= FOLD_MAX_BYTES) {
            Tensor ins[MAX_IN], *outs = arena_alloc(im->g->arena, (size_t)n->nout * sizeof *outs);
            for (int i = 0; i < n->nin; i++)
                ins[i] = n->in[i] >= 0 ? (Tensor){ir_value(s, n->in[i])->type,
                                                  ir_value(s, n->in[i])->data}
                                       : (Tensor){0};
            for (int o = 0; o < n->nout; o++) {
                outs[o].type = *ir_out_type(s, n, o);
                outs[o].data = arena_alloc(im->g->arena, type_bytes(&outs[o].type) + 1);
            }
            op_info(p->op)->ref(s, n, ins, outs);
            for (int o = 0; o < n->nout; o++) {
                outv[o] = ir_add_const(im->c, im->g, NULL, outs[o].type, outs[o].data, on->loc);
                if (outv[o] < 0)
                    return false;
            }
            return true;
        }
    }
    int node = make_node(im, on, im->g, p, p->in);
    if (node < 0)
        return false;
    for (int o = 0; o < p->nout; o++)
        outv[o] = ir_node(im->g, node)->out[o];
    return true;
}

/* Gives output k the ONNX output name k. */
bool onnx_bind_output(FeOnnx *im, const OnnxNode *on, int k, int v)
{
    const char *oname = (size_t)k < on->np->n_output ? on->np->output[k] : "";
    if (!oname[0])
        return true;
    if (!ir_rename_value(im->c, im->g, v, fe_onnx_ident(im, oname), on->loc))
        return false;
    fe_onnx_bind(im, oname, v);
    return true;
}

static bool add_const_output(FeOnnx *im, const OnnxNode *on, Type t, void *data)
{
    int v = ir_add_const(im->c, im->g, NULL, t, data, on->loc);
    return v >= 0 && onnx_bind_output(im, on, 0, v);
}

/* Softmax-like ops before opset 13: the input is flattened to 2-D at axis
 * (default 1), the op runs over dim 1, and the result takes x's shape. */
static bool build_flat_axis(FeOnnx *im, const OnnxNode *on, Pending *p)
{
    const Attr *ax = pend_get(p, "axis");
    int64_t axis = ax ? ax->i : 1;
    const Type *t = &ir_value(im->g, p->in[0])->type;
    if (axis < -t->rank || axis > t->rank) {
        diag_error(im->c, on->loc, "axis %lld is out of range for rank %d", (long long)axis,
                   t->rank);
        return false;
    }
    if (axis < 0)
        axis += t->rank;
    int out;
    if (axis == t->rank - 1) {
        onnx_pend_attr(p, "axis", (Attr){.type = AT_INT, .i = axis});
        return onnx_build(im, on, p, &out) && onnx_bind_output(im, on, 0, out);
    }
    Type shape = *t;
    Pending flat = {.op = OP_FLATTEN, .in = {p->in[0]}, .nin = 1, .nout = 1, .legacy_axis = -1};
    onnx_pend_attr(&flat, "axis", (Attr){.type = AT_INT, .i = axis});
    int f;
    if (!onnx_build(im, on, &flat, &f))
        return false;
    p->in[0] = f;
    onnx_pend_attr(p, "axis", (Attr){.type = AT_INT, .i = 1});
    int y;
    if (!onnx_build(im, on, p, &y))
        return false;
    Pending back = {.op = OP_RESHAPE, .in = {y}, .nin = 1, .nout = 1, .legacy_axis = -1};
    onnx_pend_attr(&back, "shape",
                   (Attr){.type = AT_INTS, .n = shape.rank,
                          .ints = arena_memdup(im->g->arena, shape.dims, sizeof shape.dims)});
    return onnx_build(im, on, &back, &out) && onnx_bind_output(im, on, 0, out);
}

/* ------------------------------------------------------------ constant ops */

static bool import_constant(FeOnnx *im, const OnnxNode *on)
{
    for (size_t i = 0; i < on->np->n_attribute; i++) {
        const Onnx__AttributeProto *ap = on->np->attribute[i];
        const char *name = ap->name ? ap->name : "";
        Type t;
        void *data;
        if (strcmp(name, "value") == 0 && ap->t) {
            if (!fe_onnx_tensor(im, ap->t, on->loc, &t, &data))
                return false;
        } else if (strcmp(name, "value_float") == 0) {
            t = (Type){.dtype = DT_F32};
            data = arena_memdup(im->g->arena, &ap->f, sizeof ap->f);
        } else if (strcmp(name, "value_floats") == 0) {
            t = (Type){.dtype = DT_F32, .rank = 1, .dims = {(int64_t)ap->n_floats}};
            data = arena_memdup(im->g->arena, ap->floats, ap->n_floats * sizeof *ap->floats);
        } else if (strcmp(name, "value_int") == 0) {
            t = (Type){.dtype = DT_I64};
            data = arena_memdup(im->g->arena, &ap->i, sizeof ap->i);
        } else if (strcmp(name, "value_ints") == 0) {
            t = (Type){.dtype = DT_I64, .rank = 1, .dims = {(int64_t)ap->n_ints}};
            data = arena_memdup(im->g->arena, ap->ints, ap->n_ints * sizeof *ap->ints);
        } else {
            diag_error(im->c, on->loc, "Constant with attribute '%s' is not supported; etch supports value, value_float(s) and value_int(s)",
                       name);
            return false;
        }
        return add_const_output(im, on, t, data);
    }
    diag_error(im->c, on->loc, "Constant without a value");
    return false;
}

int onnx_row_op(const OnnxNode *on)
{
    return on->row->op;
}

int64_t onnx_attr_int(const OnnxNode *on, const char *name, int64_t def)
{
    for (size_t i = 0; i < on->np->n_attribute; i++) {
        const Onnx__AttributeProto *ap = on->np->attribute[i];
        if (ap->name && strcmp(ap->name, name) == 0)
            return ap->i;
    }
    return def;
}

/* Shape and Size: shapes are static, so both are constants. */
static bool import_shape(FeOnnx *im, const OnnxNode *on, bool size)
{
    int x = onnx_input_value(im, on, 0);
    if (x < 0) {
        if (x == -1)
            diag_error(im->c, on->loc, "input 0 is required");
        return false;
    }
    const Type *xt = &ir_value(im->g, x)->type;
    if (size) {
        int64_t *n = arena_alloc(im->g->arena, sizeof *n);
        *n = type_numel(xt);
        return add_const_output(im, on, (Type){.dtype = DT_I64}, n);
    }
    int64_t r = xt->rank, start = onnx_attr_int(on, "start", 0), end = onnx_attr_int(on, "end", r);
    start = start < 0 ? start + r : start;
    end = end < 0 ? end + r : end;
    start = start < 0 ? 0 : start > r ? r : start;
    end = end < 0 ? 0 : end > r ? r : end;
    int64_t n = end > start ? end - start : 0;
    int64_t *dims = arena_alloc(im->g->arena, (size_t)(n + 1) * sizeof *dims);
    for (int64_t i = 0; i < n; i++)
        dims[i] = xt->dims[start + i];
    return add_const_output(im, on, (Type){.dtype = DT_I64, .rank = 1, .dims = {n}}, dims);
}

static bool import_constant_of_shape(FeOnnx *im, const OnnxNode *on)
{
    Attr shape;
    if (!const_ints(im, on, 0, "shape", &shape))
        return false;
    Type t = {.dtype = DT_F32, .rank = shape.n};
    float zero = 0;
    void *value = &zero;
    if (shape.n > IR_MAX_RANK) {
        diag_error(im->c, on->loc, "shape has rank %d; etch supports up to %d", shape.n, IR_MAX_RANK);
        return false;
    }
    for (int i = 0; i < shape.n; i++) {
        if (shape.ints[i] < 0 || shape.ints[i] > (1 << 24)) {
            diag_error(im->c, on->loc, "dimension %lld is out of range", (long long)shape.ints[i]);
            return false;
        }
        t.dims[i] = shape.ints[i];
    }
    for (size_t i = 0; i < on->np->n_attribute; i++) {
        const Onnx__AttributeProto *ap = on->np->attribute[i];
        if (ap->name && strcmp(ap->name, "value") == 0 && ap->t) {
            Type vt;
            if (!fe_onnx_tensor(im, ap->t, on->loc, &vt, &value))
                return false;
            if (type_numel(&vt) != 1) {
                diag_error(im->c, on->loc, "value must hold one element, not %lld",
                           (long long)type_numel(&vt));
                return false;
            }
            t.dtype = vt.dtype;
        }
    }
    size_t es = dtype_size(t.dtype);
    int64_t n = type_numel(&t);
    if ((size_t)n * es > FOLD_MAX_BYTES * 16) {
        diag_error(im->c, on->loc, "ConstantOfShape of %lld elements is too large", (long long)n);
        return false;
    }
    char *data = arena_alloc(im->g->arena, (size_t)n * es + 1);
    for (int64_t i = 0; i < n; i++)
        memcpy(data + (size_t)i * es, value, es);
    return add_const_output(im, on, t, data);
}

static bool import_range(FeOnnx *im, const OnnxNode *on)
{
    Tensor s, l, d;
    if (!const_input(im, on, 0, "start", &s) || !const_input(im, on, 1, "limit", &l) ||
        !const_input(im, on, 2, "delta", &d))
        return false;
    if (type_numel(&s.type) != 1 || type_numel(&l.type) != 1 || type_numel(&d.type) != 1) {
        diag_error(im->c, on->loc, "start, limit and delta must be scalars");
        return false;
    }
    bool fl = dtype_is_float(s.type.dtype);
    double start = fl ? tensor_getf(&s, 0) : (double)tensor_geti(&s, 0);
    double limit = fl ? tensor_getf(&l, 0) : (double)tensor_geti(&l, 0);
    double delta = fl ? tensor_getf(&d, 0) : (double)tensor_geti(&d, 0);
    if (delta == 0) {
        diag_error(im->c, on->loc, "delta is 0");
        return false;
    }
    double count = ceil((limit - start) / delta);
    int64_t n = count > 0 ? (int64_t)count : 0;
    if (n > (1 << 24)) {
        diag_error(im->c, on->loc, "Range of %lld elements is too large", (long long)n);
        return false;
    }
    Tensor out = {{.dtype = s.type.dtype, .rank = 1, .dims = {n}}, NULL};
    out.data = arena_alloc(im->g->arena, (size_t)n * dtype_size(out.type.dtype) + 1);
    for (int64_t i = 0; i < n; i++) {
        if (out.type.dtype == DT_I64)
            ((int64_t *)out.data)[i] = tensor_geti(&s, 0) + i * tensor_geti(&d, 0);
        else if (out.type.dtype == DT_I32)
            ((int32_t *)out.data)[i] = (int32_t)(tensor_geti(&s, 0) + i * tensor_geti(&d, 0));
        else
            tensor_setf(&out, i, (float)(start + (double)i * delta));
    }
    return add_const_output(im, on, out.type, out.data);
}

/* ------------------------------------------------------------ nodes */

static bool import_row(FeOnnx *im, OnnxNode *on)
{
    const OnnxOp *row = on->row;
    int nout = count_outputs(on);
    if (nout == 0)
        return true; /* nothing uses it */
    if (row->nout >= 0 && nout > row->nout) {
        for (int k = row->nout; k < nout; k++) {
            const char *oname = on->np->output[k];
            if (!oname[0])
                continue;
            int n = im->nabsent;
            VEC_PUSH(im->g->arena, im->absent, n, im->capabsent) = oname;
            n = im->nabsent;
            VEC_PUSH(im->g->arena, im->absent_why, n, im->capabsent_why) =
                arena_printf(im->g->arena, "output %d of %s; etch supports only its first %d output%s (%s)",
                             k, on->desc, row->nout, row->nout == 1 ? "" : "s", on->opset);
            im->nabsent = n;
        }
        nout = row->nout;
    }
    switch (row->special) {
    case SP_CONSTANT: return import_constant(im, on);
    case SP_SHAPE: return import_shape(im, on, false);
    case SP_SIZE: return import_shape(im, on, true);
    case SP_CONST_OF_SHAPE: return import_constant_of_shape(im, on);
    case SP_RANGE: return import_range(im, on);
    case SP_QDQ: return onnx_import_qdq(im, on);
    case SP_QOPERATOR: return onnx_import_qoperator(im, on);
    case SP_NONE: case SP_FLAT_AXIS: break;
    }

    Pending p = {.op = row->op, .nout = nout, .legacy_axis = -1};
    if (row->fixed) {
        char *spec = arena_strdup(im->g->arena, row->fixed);
        for (char *tok = strtok(spec, " "); tok; tok = strtok(NULL, " ")) {
            char *eq = strchr(tok, '=');
            assert(eq);
            *eq = 0;
            onnx_pend_attr(&p, tok, (Attr){.type = AT_STR, .s = eq + 1});
        }
    }
    for (size_t i = 0; i < on->np->n_attribute; i++)
        if (!onnx_convert_attr(im, on, on->np->attribute[i], &p))
            return false;
    if (on->np->n_input > MAX_IN) {
        diag_error(im->c, on->loc, "%zu inputs; etch supports up to %d", on->np->n_input, MAX_IN);
        return false;
    }
    for (size_t i = 0; i < on->np->n_input; i++) {
        const InRule *rule = NULL;
        for (int k = 0; k < 5 && row->in[k].kind; k++)
            if ((size_t)row->in[k].input == i)
                rule = &row->in[k];
        if (rule) {
            if (has_input(on, i) && !apply_in_rule(im, on, rule, &p))
                return false;
            continue;
        }
        int v = onnx_input_value(im, on, i);
        if (v == -2)
            return false;
        p.in[p.nin++] = v;
    }
    while (p.nin > 0 && p.in[p.nin - 1] < 0)
        p.nin--; /* trailing omitted optional inputs */
    if (p.op == OP_CONV && p.nin > 3) { /* etch's conv has a 4th: the fused residual */
        diag_error(im->c, on->loc, "%s: Conv takes at most 3 inputs (X, W, B), but has %d", on->desc, p.nin);
        return false;
    }
    if (is_legacy_binary(im, p.op) && !legacy_align(im, on, &p))
        return false;
    if (row->special == SP_FLAT_AXIS && p.nin == 1 && p.in[0] >= 0)
        return build_flat_axis(im, on, &p);
    int outv[MAX_IN];
    if (nout > MAX_IN) {
        diag_error(im->c, on->loc, "%d outputs; etch supports up to %d", nout, MAX_IN);
        return false;
    }
    if (!onnx_build(im, on, &p, outv))
        return false;
    for (int o = 0; o < nout; o++)
        if (!onnx_bind_output(im, on, o, outv[o]))
            return false;
    return true;
}

bool fe_onnx_node(FeOnnx *im, const Onnx__NodeProto *np, int index)
{
    OnnxNode on = {.np = np};
    const char *op = np->op_type ? np->op_type : "";
    const char *name = np->name && np->name[0] ? np->name
                                               : arena_printf(im->g->arena, "#%d", index);
    on.desc = arena_printf(im->g->arena, "node '%s' (%s)", name, op);
    on.loc = (Loc){.file = arena_printf(im->g->arena, "%s: %s", im->path, on.desc)};
    Loc at = {.file = im->path};
    size_t nrows;
    const OnnxOp *rows = domain_rows(np->domain, &nrows);
    if (!rows) {
        diag_error(im->c, at, "%s: operators of domain '%s' are not supported", on.desc,
                   np->domain);
        return false;
    }
    on.ms = rows == ms_ops;
    /* A com.microsoft node without an opset import for the domain is taken
     * as its operator set 1, the only one there is. */
    int64_t opset = on.ms ? (im->ms_opset ? im->ms_opset : 1) : im->opset;
    on.opset = on.ms ? arena_printf(im->g->arena, MS_DOMAIN " opset %lld", (long long)opset)
                     : arena_printf(im->g->arena, "opset %lld", (long long)opset);
    int lo = 0, hi = 0;
    for (size_t i = 0; i < nrows; i++) {
        if (strcmp(rows[i].onnx, op) != 0)
            continue;
        if (opset >= rows[i].since && opset <= rows[i].until) {
            on.row = &rows[i];
            return import_row(im, &on);
        }
        lo = lo && lo < rows[i].since ? lo : rows[i].since;
        hi = hi > rows[i].until ? hi : rows[i].until;
    }
    if (lo)
        diag_error(im->c, at, "%s: %s is not supported at %s; etch supports it in %s %d-%d",
                   on.desc, op, on.opset, on.ms ? MS_DOMAIN " opsets" : "opsets", lo, hi);
    else if (on.ms)
        diag_error(im->c, at, "%s: unsupported " MS_DOMAIN " op '%s' (onnxruntime's contrib op); "
                   "etch supports these " MS_DOMAIN " ops: %s",
                   on.desc, op, supported_list(im->g->arena, ms_ops, MS_NROWS));
    else if (fe_onnx_op_known(MS_DOMAIN, op))
        diag_error(im->c, at, "%s: '%s' is an op of onnxruntime's " MS_DOMAIN " domain, but the node has the default domain; give it domain '" MS_DOMAIN "'",
                   on.desc, op);
    else
        diag_error(im->c, at, "%s: unsupported ONNX op '%s' (opset %lld); etch supports: %s",
                   on.desc, op, (long long)im->opset, supported_list(im->g->arena, onnx_ops, NROWS));
    return false;
}
