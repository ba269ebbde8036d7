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
 * dequantize of constants is not folded, see build()), the QOperator ops
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
#include "frontend.h"

#include <assert.h>
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "onnx.pb-c.h"

/* Folded constants larger than this stay nodes: folding must not turn a
 * small Expand or Tile into megabytes of weights. */
#define FOLD_MAX_BYTES (1 << 20)
#define MAX_IN 64
#define MAX_ATTRS 24

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

typedef struct {
    const char *onnx;   /* ONNX op_type */
    int since, until;   /* opsets the row covers */
    int op;             /* etch op; -1 for special rows that only fold */
    int nout;           /* outputs etch computes (-1: all, as Split) */
    Special special;
    InRule in[5];
    AttrRule attr[5];
    const char *fixed;  /* "name=value ..." string attributes set first */
} OnnxOp;

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

typedef struct {
    const Onnx__NodeProto *np;
    const OnnxOp *row;
    Loc loc;
    const char *desc;   /* "node 'conv1' (Conv)" */
    const char *opset;  /* "opset 13", "com.microsoft opset 1": for messages */
    bool ms;            /* of the com.microsoft domain */
} OnnxNode;

/* A node about to be built: op, inputs, attributes by etch name. */
typedef struct {
    int op;
    int in[MAX_IN];
    int nin, nout;
    const char *names[MAX_ATTRS];
    Attr attrs[MAX_ATTRS];
    int nattrs;
    int64_t legacy_axis;    /* opset < 7 binary ops: where b aligns; -1 trailing */
} Pending;

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

static void pend_attr(Pending *p, const char *name, Attr a)
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

static int input_value(FeOnnx *im, const OnnxNode *on, size_t i)
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
    int v = input_value(im, on, i);
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
        pend_attr(p, r->attr, a);
        return true;
    case IN_FLOAT:
        if (!const_input(im, on, i, r->attr, &t))
            return false;
        if (type_numel(&t.type) != 1) {
            diag_error(im->c, on->loc, "input %zu (%s) must be a scalar, not %lld values", i,
                       r->attr, (long long)type_numel(&t.type));
            return false;
        }
        pend_attr(p, r->attr, (Attr){.type = AT_FLOAT, .f = tensor_getf(&t, 0)});
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
        pend_attr(p, r->attr, a);
        return true;
    }
    case IN_DTYPE: {
        int v = input_value(im, on, i);
        if (v < 0)
            return false;
        DType d = ir_value(im->g, v)->type.dtype;
        pend_attr(p, r->attr, (Attr){.type = AT_STR, .s = dtype_name(d)});
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

static bool convert_attr(FeOnnx *im, const OnnxNode *on, const Onnx__AttributeProto *ap,
                         Pending *p)
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
        pend_attr(p, rule->etch, (Attr){.type = AT_STR, .s = d});
        return true;
    }
    const char *ename = rule ? rule->etch : snake(im->g->arena, name);
    if (op_attr_index(p->op, ename) < 0) {
        diag_error(im->c, on->loc, "attribute '%s' of %s is not supported (%s); etch's %s takes: %s",
                   name, on->row->onnx, on->opset, op_info(p->op)->name,
                   etch_attr_list(im->g->arena, p->op));
        return false;
    }
    pend_attr(p, ename, a);
    return true;
}

/* ------------------------------------------------------------ building */

static bool build(FeOnnx *im, const OnnxNode *on, const Pending *p, int *outv);

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
    pend_attr(&r, "shape", (Attr){.type = AT_INTS, .n = t.rank,
                                 .ints = arena_memdup(im->g->arena, t.dims, sizeof t.dims)});
    return build(im, on, &r, &p->in[1]);
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
static bool build(FeOnnx *im, const OnnxNode *on, const Pending *p, int *outv)
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
static bool bind_output(FeOnnx *im, const OnnxNode *on, int k, int v)
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
    return v >= 0 && bind_output(im, on, 0, v);
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
        pend_attr(p, "axis", (Attr){.type = AT_INT, .i = axis});
        return build(im, on, p, &out) && bind_output(im, on, 0, out);
    }
    Type shape = *t;
    Pending flat = {.op = OP_FLATTEN, .in = {p->in[0]}, .nin = 1, .nout = 1, .legacy_axis = -1};
    pend_attr(&flat, "axis", (Attr){.type = AT_INT, .i = axis});
    int f;
    if (!build(im, on, &flat, &f))
        return false;
    p->in[0] = f;
    pend_attr(p, "axis", (Attr){.type = AT_INT, .i = 1});
    int y;
    if (!build(im, on, p, &y))
        return false;
    Pending back = {.op = OP_RESHAPE, .in = {y}, .nin = 1, .nout = 1, .legacy_axis = -1};
    pend_attr(&back, "shape", (Attr){.type = AT_INTS, .n = shape.rank,
                                    .ints = arena_memdup(im->g->arena, shape.dims, sizeof shape.dims)});
    return build(im, on, &back, &out) && bind_output(im, on, 0, out);
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

static int64_t attr_int(const OnnxNode *on, const char *name, int64_t def)
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
    int x = input_value(im, on, 0);
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
    int64_t r = xt->rank, start = attr_int(on, "start", 0), end = attr_int(on, "end", r);
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

/* quantize_linear or dequantize_linear (`op`) of x with scale s and zero z
 * (-1: none). etch's ops broadcast scale and zero against x, so a per-axis
 * scale [C] (opset 13+) is reshaped to [C, 1, ..., 1], aligning C with x's
 * `axis`. A dequantize of constants stays a node (see build()). */
static bool build_qdq(FeOnnx *im, const OnnxNode *on, int op, int x, int s, int z, int64_t axis,
                      int *out)
{
    Pending p = {.op = op, .nout = 1, .legacy_axis = -1, .in = {x, s, z}, .nin = z >= 0 ? 3 : 2};
    const Type *xt = &ir_value(im->g, x)->type;
    for (int k = 1; k < p.nin; k++) {
        const Type *st = &ir_value(im->g, p.in[k])->type;
        int64_t ns = type_numel(st), ax = axis < 0 ? axis + xt->rank : axis;
        if (ns == 1)
            continue;
        if (st->rank != 1 || ax < 0 || ax >= xt->rank || xt->dims[ax] != ns) {
            char ts[128], xs[128];
            diag_error(im->c, on->loc, "%s %s matches neither per-tensor nor axis %lld of x %s",
                       k == 1 ? "scale" : "zero point", type_str(st, ts, sizeof ts), (long long)axis,
                       type_str(xt, xs, sizeof xs));
            return false;
        }
        int64_t dims[IR_MAX_RANK] = {ns};
        int rank = xt->rank - (int)ax;
        for (int d = 1; d < rank; d++)
            dims[d] = 1;
        Pending r = {.op = OP_RESHAPE, .in = {p.in[k]}, .nin = 1, .nout = 1, .legacy_axis = -1};
        pend_attr(&r, "shape", (Attr){.type = AT_INTS, .n = rank,
                                     .ints = arena_memdup(im->g->arena, dims, sizeof dims)});
        if (!build(im, on, &r, &p.in[k]))
            return false;
    }
    return build(im, on, &p, out);
}

/* QuantizeLinear / DequantizeLinear (x, scale[, zero], axis=1). */
static bool import_qdq(FeOnnx *im, const OnnxNode *on)
{
    int in[3] = {-1, -1, -1};
    for (size_t i = 0; i < on->np->n_input && i < 3; i++)
        if ((in[i] = input_value(im, on, i)) == -2)
            return false;
    if (in[0] < 0 || in[1] < 0) {
        diag_error(im->c, on->loc, "needs an input and a scale");
        return false;
    }
    int out;
    return build_qdq(im, on, on->row->op, in[0], in[1], in[2], attr_int(on, "axis", 1), &out) &&
           bind_output(im, on, 0, out);
}

/* Inputs 0..n-1 of the node, each required unless `optional` has its bit;
 * absent ones are -1. */
static bool q_inputs(FeOnnx *im, const OnnxNode *on, int n, unsigned optional, int *in)
{
    for (int i = 0; i < n; i++) {
        in[i] = (size_t)i < on->np->n_input ? input_value(im, on, (size_t)i) : -1;
        if (in[i] == -2)
            return false;
        if (in[i] < 0 && !(optional >> i & 1)) {
            diag_error(im->c, on->loc, "input %d of %s is required", i, on->np->op_type);
            return false;
        }
    }
    return true;
}

/* op(inputs...) with the ONNX node's attributes (conv's geometry). */
static bool build_with_attrs(FeOnnx *im, const OnnxNode *on, int op, const int *in, int nin, int *out)
{
    Pending p = {.op = op, .nout = 1, .legacy_axis = -1, .nin = nin};
    for (int i = 0; i < nin; i++)
        p.in[i] = in[i];
    for (size_t i = 0; i < on->np->n_attribute; i++)
        if (!convert_attr(im, on, on->np->attribute[i], &p))
            return false;
    return build(im, on, &p, out);
}

/* The QOperator forms become the QDQ form they mean, which fold-qdq turns
 * into int8 kernels when the quantization parameters are constants (and
 * which otherwise runs in float, as written):
 *   QLinearConv(x, xs, xz, w, ws, wz, ys, yz[, B]) =
 *     quantize(conv(dq(x), dq(w, axis 0), dq(B, xs * ws)), ys, yz)
 *   QLinearMatMul(a, as, az, b, bs, bz, ys, yz) =
 *     quantize(matmul(dq(a), dq(b, per column)), ys, yz), a gemm for 2-D
 *     by 2-D
 *   MatMulInteger(A, B[, az, bz]) / ConvInteger(x, w[, xz, wz]):
 *     the int32 sums, computed as the float op over (v - zero) and cast,
 *     in chunks short enough to be exact (import_integer_product).
 *   DynamicQuantizeLinear(x) = its ONNX function: scale = (max(x, 0) -
 *     min(x, 0)) / 255, zero = saturate(round(-min(x, 0) / scale)), y =
 *     quantize(x, scale, zero) as uint8 (computed per inference).
 * onnxruntime's com.microsoft ops (QLinearAdd, QLinearSoftmax, QGemm, ...)
 * follow below, the same way. */
static bool import_dynamic_quantize(FeOnnx *im, const OnnxNode *on)
{
    int x = input_value(im, on, 0);
    if (x < 0)
        return false;
    static const float consts[3] = {0.0f, 255.0f, 0.0f};
    int k[3];
    for (int i = 0; i < 3; i++)
        if ((k[i] = ir_add_const(im->c, im->g, NULL, type_make(DT_F32, 0, NULL),
                                 arena_memdup(im->g->arena, &consts[i], sizeof(float)), on->loc)) < 0)
            return false;
    /* (op, inputs, attribute) steps over the values made so far. */
    int v[12];
    Pending steps[] = {
        {.op = OP_REDUCE_MAX, .in = {x}, .nin = 1},                /* 0 */
        {.op = OP_REDUCE_MIN, .in = {x}, .nin = 1},                /* 1 */
        {.op = OP_MAX, .in = {-1, k[0]}, .nin = 2},                /* 2: max(hi, 0) */
        {.op = OP_MIN, .in = {-1, k[0]}, .nin = 2},                /* 3: min(lo, 0) */
        {.op = OP_SUB, .in = {-1, -1}, .nin = 2},                  /* 4: range */
        {.op = OP_DIV, .in = {-1, k[1]}, .nin = 2},                /* 5: scale */
        {.op = OP_SUB, .in = {k[2], -1}, .nin = 2},                /* 6: -lo */
        {.op = OP_DIV, .in = {-1, -1}, .nin = 2},                  /* 7: -lo / scale */
        {.op = OP_ROUND, .in = {-1}, .nin = 1},                    /* 8 */
        {.op = OP_CLIP, .in = {-1}, .nin = 1},                     /* 9: [0, 255] */
        {.op = OP_CAST, .in = {-1}, .nin = 1},                     /* 10: zero, u8 */
        {.op = OP_QUANTIZE_LINEAR, .in = {x, -1, -1}, .nin = 3},   /* 11: y */
    };
    static const int from[12][2] = {{-1, -1}, {-1, -1}, {0, -1}, {1, -1}, {2, 3}, {4, -1},
                                     {3, -1}, {6, 5}, {7, -1}, {8, -1}, {9, -1}, {5, 10}};
    for (int i = 0; i < 12; i++) {
        Pending *p = &steps[i];
        p->nout = 1;
        p->legacy_axis = -1;
        for (int j = 0, slot = 0; j < p->nin && slot < 2; j++)
            if (p->in[j] == -1)
                p->in[j] = v[from[i][slot++]];
        if (i <= 1)
            pend_attr(p, "keepdims", (Attr){.type = AT_INT, .i = 0});
        if (i == 9) {
            pend_attr(p, "min", (Attr){.type = AT_FLOAT, .f = 0});
            pend_attr(p, "max", (Attr){.type = AT_FLOAT, .f = 255});
        }
        if (i == 10)
            pend_attr(p, "to", (Attr){.type = AT_STR, .s = "u8"});
        if (!build(im, on, p, &v[i]))
            return false;
    }
    return bind_output(im, on, 0, v[11]) && bind_output(im, on, 1, v[5]) && bind_output(im, on, 2, v[10]);
}

/* ------------------------------------------------ per-tensor QLinear ops */

/* onnxruntime's per-tensor QLinear ops (com.microsoft): each quantized
 * operand is an (x, scale, zero point) triple of inputs, then come the
 * output's scale and zero point. Their inputs by name, '?' marking the
 * optional ones (onnxruntime's contrib op schemas). */
static const struct {
    const char *onnx;
    const char *inputs;
} qlinear_inputs[] = {
    {"QLinearAdd", "A A_scale A_zero_point? B B_scale B_zero_point? C_scale C_zero_point?"},
    {"QLinearMul", "A A_scale A_zero_point? B B_scale B_zero_point? C_scale C_zero_point?"},
    {"QLinearAveragePool", "X x_scale x_zero_point? y_scale y_zero_point?"},
    {"QLinearGlobalAveragePool", "X x_scale x_zero_point y_scale y_zero_point"},
    {"QLinearSigmoid", "X X_scale X_zero_point? Y_scale Y_zero_point?"},
    {"QLinearLeakyRelu", "X X_scale X_zero_point? Y_scale Y_zero_point?"},
    {"QLinearSoftmax", "X X_scale x_zero_point? y_scale y_zero_point"},
};

#define QSPEC_MAX 8

typedef struct {
    const char *names[QSPEC_MAX];
    bool optional[QSPEC_MAX];
    int n, min;     /* inputs; the required ones end at min */
} QSpec;

static void qspec_parse(Arena *a, const char *spec, QSpec *q)
{
    memset(q, 0, sizeof *q);
    char *s = arena_strdup(a, spec);
    for (char *tok = strtok(s, " "); tok && q->n < QSPEC_MAX; tok = strtok(NULL, " ")) {
        size_t len = strlen(tok);
        q->optional[q->n] = tok[len - 1] == '?';
        if (q->optional[q->n])
            tok[len - 1] = '\0';
        q->names[q->n++] = tok;
        if (!q->optional[q->n - 1])
            q->min = q->n;
    }
}

/* One quantized operand: the int8 tensor, its scale, its zero point (-1: 0). */
typedef struct {
    int x, s, z;
} QArg;

/* Input i (named `name` in messages): its value, -1 when absent; false
 * after a diagnostic (absent but required, or undefined). */
static bool q_input(FeOnnx *im, const OnnxNode *on, size_t i, const char *name, bool required,
                    int *v)
{
    *v = input_value(im, on, i);
    if (*v == -2)
        return false;
    if (*v < 0 && required) {
        diag_error(im->c, on->loc, "input %zu (%s) of %s is required", i, name, on->np->op_type);
        return false;
    }
    return true;
}

/* A scale (one f32) or zero point (one value of dtype dt), when given. */
static bool q_param(FeOnnx *im, const OnnxNode *on, size_t i, const char *name, int v, DType dt)
{
    if (v < 0)
        return true;
    const Type *t = &ir_value(im->g, v)->type;
    char ts[128];
    if (type_numel(t) != 1) {
        diag_error(im->c, on->loc, "input %zu (%s) of %s is %s; it must be a single value (%s quantizes per tensor)",
                   i, name, on->np->op_type, type_str(t, ts, sizeof ts), on->np->op_type);
        return false;
    }
    if (t->dtype != dt) {
        diag_error(im->c, on->loc, "input %zu (%s) of %s is %s; it must be %s%s", i, name,
                   on->np->op_type, type_str(t, ts, sizeof ts), dtype_name(dt),
                   dt == DT_F32 ? "" : ", the type of the tensor it quantizes");
        return false;
    }
    return true;
}

/* The operand whose (x, scale, zero) are inputs i, i+1, i+2. x must be
 * int8 or uint8 (of dtype *dt when that is set; else it sets *dt). */
static bool q_operand(FeOnnx *im, const OnnxNode *on, size_t i, const char *const names[3],
                      const bool optional[3], DType *dt, QArg *a)
{
    if (!q_input(im, on, i, names[0], true, &a->x) ||
        !q_input(im, on, i + 1, names[1], !optional[1], &a->s) ||
        !q_input(im, on, i + 2, names[2], !optional[2], &a->z))
        return false;
    const Type *xt = &ir_value(im->g, a->x)->type;
    char ts[128];
    if (xt->dtype != DT_I8 && xt->dtype != DT_U8) {
        diag_error(im->c, on->loc, "input %zu (%s) of %s is %s; it must be int8 or uint8", i,
                   names[0], on->np->op_type, type_str(xt, ts, sizeof ts));
        return false;
    }
    if (*dt != DT_NONE && xt->dtype != *dt) {
        diag_error(im->c, on->loc, "input %zu (%s) of %s is %s, but the op's other quantized tensors are %s",
                   i, names[0], on->np->op_type, type_str(xt, ts, sizeof ts), dtype_name(*dt));
        return false;
    }
    *dt = xt->dtype;
    return q_param(im, on, i + 1, names[1], a->s, DT_F32) &&
           q_param(im, on, i + 2, names[2], a->z, *dt);
}

/* The output's scale and zero point, inputs i and i+1; an absent zero point
 * is a 0 of the op's type dt (the QLinear ops' output type is their input
 * type, where QuantizeLinear without a zero point would give uint8). */
static bool q_result(FeOnnx *im, const OnnxNode *on, size_t i, const char *const names[2],
                     const bool optional[2], DType dt, int *s, int *z)
{
    if (!q_input(im, on, i, names[0], !optional[0], s) ||
        !q_input(im, on, i + 1, names[1], !optional[1], z) ||
        !q_param(im, on, i, names[0], *s, DT_F32) || !q_param(im, on, i + 1, names[1], *z, dt))
        return false;
    if (*z < 0) {
        void *zero = arena_alloc(im->g->arena, 1);
        *z = ir_add_const(im->c, im->g, NULL, type_make(dt, 0, NULL), zero, on->loc);
    }
    return *z >= 0;
}

/* An int8 value moved by transpose (perm), flatten (axis) or reshape
 * (shape): the QLinear ops' layouts are mapped onto etch's float ops by
 * moving the int8 tensors around the dequantize -> op -> quantize, which
 * is exact (the parameters are per tensor) and leaves fold-qdq its pattern. */
typedef struct {
    int op;             /* 0: none */
    int64_t ints[IR_MAX_RANK];
    int n;
} QMove;

static bool q_move(FeOnnx *im, const OnnxNode *on, const QMove *m, int *v)
{
    if (!m->op)
        return true;
    Pending p = {.op = m->op, .in = {*v}, .nin = 1, .nout = 1, .legacy_axis = -1};
    if (m->op == OP_FLATTEN)
        pend_attr(&p, "axis", (Attr){.type = AT_INT, .i = m->ints[0]});
    else
        pend_attr(&p, m->op == OP_TRANSPOSE ? "perm" : "shape",
                  (Attr){.type = AT_INTS, .n = m->n,
                         .ints = arena_memdup(im->g->arena, m->ints, sizeof m->ints)});
    return build(im, on, &p, v);
}

/* channels_last (N, spatial..., C): the transposes to etch's N, C,
 * spatial... layout and back. */
static bool channels_last_moves(FeOnnx *im, const OnnxNode *on, int x, QMove *pre, QMove *post)
{
    if (!attr_int(on, "channels_last", 0))
        return true;
    const Type *xt = &ir_value(im->g, x)->type;
    char ts[128];
    if (xt->rank < 3) {
        diag_error(im->c, on->loc, "channels_last input %s: it must be [N, spatial..., C] (rank >= 3)",
                   type_str(xt, ts, sizeof ts));
        return false;
    }
    int r = xt->rank;
    *pre = (QMove){.op = OP_TRANSPOSE, .n = r};
    *post = (QMove){.op = OP_TRANSPOSE, .n = r};
    pre->ints[1] = r - 1;
    for (int d = 2; d < r; d++)
        pre->ints[d] = d - 1;
    for (int d = 1; d < r - 1; d++)
        post->ints[d] = d + 1;
    post->ints[r - 1] = 1;
    return true;
}

/* QLinearSoftmax: softmax at `axis` with the semantics of Softmax at the
 * `opset` attribute (required): before 13 over x flattened to 2-D at axis
 * (default 1), from 13 along axis (default -1). Either way the float op is
 * a softmax over the last axis of a moved int8 tensor (what onnxruntime
 * does too), which fold-qdq makes a qsoftmax. */
static bool softmax_moves(FeOnnx *im, const OnnxNode *on, int x, QMove *pre, QMove *post)
{
    int64_t opset = attr_int(on, "opset", -1);
    if (opset < 1) {
        diag_error(im->c, on->loc, "QLinearSoftmax needs its opset attribute (the Softmax opset whose axis semantics apply)");
        return false;
    }
    const Type *xt = &ir_value(im->g, x)->type;
    int r = xt->rank;
    int64_t axis = attr_int(on, "axis", opset < 13 ? 1 : -1), lo = -r, hi = opset < 13 ? r : r - 1;
    if (axis < lo || axis > hi || r == 0) {
        diag_error(im->c, on->loc, "axis %lld is out of range for rank %d", (long long)axis, r);
        return false;
    }
    if (axis < 0)
        axis += r;
    if (axis == r - 1)
        return true;
    if (opset < 13) {
        *pre = (QMove){.op = OP_FLATTEN, .n = 1, .ints = {axis}};
        *post = (QMove){.op = OP_RESHAPE, .n = r};
        memcpy(post->ints, xt->dims, sizeof post->ints);
        return true;
    }
    *pre = (QMove){.op = OP_TRANSPOSE, .n = r};
    for (int d = 0; d < r; d++)
        pre->ints[d] = d;
    pre->ints[axis] = r - 1;
    pre->ints[r - 1] = axis;
    *post = *pre;
    return true;
}

/* QLinearAdd, QLinearMul, QLinearAveragePool, QLinearGlobalAveragePool,
 * QLinearSigmoid, QLinearLeakyRelu, QLinearSoftmax:
 *   y = quantize(op(dequantize(x_k, s_k, z_k)...), sy, zy)
 * with the float op of the row, and its attributes. */
static bool import_qlinear(FeOnnx *im, const OnnxNode *on)
{
    const char *t = on->np->op_type;
    QSpec q = {0};
    for (size_t i = 0; i < sizeof qlinear_inputs / sizeof qlinear_inputs[0]; i++)
        if (strcmp(qlinear_inputs[i].onnx, t) == 0)
            qspec_parse(im->g->arena, qlinear_inputs[i].inputs, &q);
    assert(q.n > 0);
    int nin = (int)on->np->n_input;
    if (nin < q.min || nin > q.n) {
        const char *want = q.min < q.n ? arena_printf(im->g->arena, "%d to %d", q.min, q.n)
                                       : arena_printf(im->g->arena, "%d", q.n);
        diag_error(im->c, on->loc, "%s takes %s inputs, not %d", t, want, nin);
        return false;
    }
    int nq = (q.n - 2) / 3, ys, yz, y, d[2];
    QArg a[2];
    DType dt = DT_NONE;
    for (int k = 0; k < nq; k++)
        if (!q_operand(im, on, (size_t)(3 * k), q.names + 3 * k, q.optional + 3 * k, &dt, &a[k]))
            return false;
    if (!q_result(im, on, (size_t)(3 * nq), q.names + 3 * nq, q.optional + 3 * nq, dt, &ys, &yz))
        return false;
    QMove pre = {0}, post = {0};
    int op = on->row->op;
    if ((op == OP_AVERAGE_POOL || op == OP_GLOBAL_AVERAGE_POOL) &&
        !channels_last_moves(im, on, a[0].x, &pre, &post))
        return false;
    if (op == OP_SOFTMAX && !softmax_moves(im, on, a[0].x, &pre, &post))
        return false;
    if (!q_move(im, on, &pre, &a[0].x))
        return false;
    for (int k = 0; k < nq; k++)
        if (!build_qdq(im, on, OP_DEQUANTIZE_LINEAR, a[k].x, a[k].s, a[k].z, 1, &d[k]))
            return false;
    return build_with_attrs(im, on, op, d, nq, &y) &&
           build_qdq(im, on, OP_QUANTIZE_LINEAR, y, ys, yz, 1, &y) && q_move(im, on, &post, &y) &&
           bind_output(im, on, 0, y);
}

/* QLinearConcat(y_scale, y_zero_point, (x, scale, zero point)...) =
 * quantize(concat(dequantize(x_k, s_k, z_k)...), y_scale, y_zero_point). */
static bool import_qlinear_concat(FeOnnx *im, const OnnxNode *on)
{
    int nin = (int)on->np->n_input;
    if (nin < 5 || (nin - 2) % 3 != 0 || (nin - 2) / 3 > MAX_IN) {
        diag_error(im->c, on->loc, "QLinearConcat takes Y_scale, Y_zero_point and a (tensor, scale, zero point) triple per input: 2 + 3k inputs with 1 <= k <= %d, not %d",
                   MAX_IN, nin);
        return false;
    }
    static const bool none_optional[3] = {false, false, false};
    static const char *const out_names[2] = {"Y_scale", "Y_zero_point"};
    int ys, yz;
    if (!q_input(im, on, 1, out_names[1], true, &yz))
        return false;
    DType dt = ir_value(im->g, yz)->type.dtype;
    if (dt != DT_I8 && dt != DT_U8) {
        char ts[128];
        diag_error(im->c, on->loc, "input 1 (Y_zero_point) of QLinearConcat is %s; it must be int8 or uint8",
                   type_str(&ir_value(im->g, yz)->type, ts, sizeof ts));
        return false;
    }
    if (!q_result(im, on, 0, out_names, none_optional, dt, &ys, &yz))
        return false;
    int n = (nin - 2) / 3, d[MAX_IN], y;
    for (int k = 0; k < n; k++) {
        const char *names[3] = {
            arena_printf(im->g->arena, "tensor %d", k),
            arena_printf(im->g->arena, "scale of tensor %d", k),
            arena_printf(im->g->arena, "zero point of tensor %d", k),
        };
        QArg a;
        if (!q_operand(im, on, (size_t)(2 + 3 * k), names, none_optional, &dt, &a) ||
            !build_qdq(im, on, OP_DEQUANTIZE_LINEAR, a.x, a.s, a.z, 1, &d[k]))
            return false;
    }
    return build_with_attrs(im, on, OP_CONCAT, d, n, &y) &&
           build_qdq(im, on, OP_QUANTIZE_LINEAR, y, ys, yz, 1, &y) && bind_output(im, on, 0, y);
}

/* A float sum of integer products is exact, in any order of summation,
 * while the sum of the products' magnitudes stays within 2^24: every
 * partial sum is then an integer a float holds. |v - zero| <= 255 for 8-bit
 * v and zero point, so a reduction over INTEGER_TERMS = 2^24 / 255^2 terms
 * is exact. */
#define INTEGER_TERMS 258

/* slice(v) = v[lo:hi] along axis. */
static bool slice_axis(FeOnnx *im, const OnnxNode *on, int v, int64_t axis, int64_t lo, int64_t hi, int *out)
{
    Pending p = {.op = OP_SLICE, .in = {v}, .nin = 1, .nout = 1, .legacy_axis = -1};
    int64_t *se = arena_alloc(im->g->arena, 3 * sizeof *se);
    se[0] = lo, se[1] = hi, se[2] = axis;
    pend_attr(&p, "starts", (Attr){.type = AT_INTS, .n = 1, .ints = &se[0]});
    pend_attr(&p, "ends", (Attr){.type = AT_INTS, .n = 1, .ints = &se[1]});
    pend_attr(&p, "axes", (Attr){.type = AT_INTS, .n = 1, .ints = &se[2]});
    return build(im, on, &p, out);
}

/* MatMulInteger(A, B[, az, bz]) / ConvInteger(x, w[, xz, wz]): the int32
 * sums, as the float op over (v - zero) cast to int32. A reduction longer
 * than INTEGER_TERMS is split along K (a conv's input channels) into
 * chunks that are, each one cast, and the chunks are added in int32: the
 * result is exact for any K. */
static bool import_integer_product(FeOnnx *im, const OnnxNode *on)
{
    bool conv = strcmp(on->np->op_type, "ConvInteger") == 0;
    int in[4];
    if (!q_inputs(im, on, 4, 0xc, in))
        return false;
    const Type *at = &ir_value(im->g, in[0])->type, *bt = &ir_value(im->g, in[1])->type;
    /* the sliced axis of each operand, its length, and the terms per unit */
    int64_t ax_a = conv ? 1 : at->rank - 1, ax_b = conv ? 1 : (bt->rank == 1 ? 0 : bt->rank - 2);
    if (at->rank < 1 || bt->rank < 1 || (conv && (at->rank < 3 || bt->rank != at->rank))) {
        diag_error(im->c, on->loc, "operands of rank %d and %d do not make a %s", at->rank, bt->rank,
                   conv ? "convolution" : "matrix product");
        return false;
    }
    int64_t len = bt->dims[ax_b], taps = 1, group = conv ? attr_int(on, "group", 1) : 1;
    for (int d = 2; conv && d < bt->rank; d++)
        taps *= bt->dims[d];
    int64_t chunk = INTEGER_TERMS / (taps ? taps : 1);
    if (len > chunk && (chunk == 0 || group != 1)) {
        diag_error(im->c, on->loc, "%lld-term sums of 8-bit products can exceed 2^24; etch keeps them "
                   "exact by splitting the input channels, which it does only for an ungrouped conv "
                   "of at most %d kernel taps (group is %lld, the kernel has %lld taps)",
                   (long long)(len * taps), INTEGER_TERMS, (long long)group, (long long)taps);
        return false;
    }
    if (len <= chunk)
        chunk = len;
    float one = 1.0f;
    int s = ir_add_const(im->c, im->g, NULL, type_make(DT_F32, 0, NULL),
                         arena_memdup(im->g->arena, &one, sizeof one), on->loc);
    if (s < 0)
        return false;
    int sum = -1;
    for (int64_t lo = 0; lo < len; lo += chunk) {
        int64_t hi = lo + chunk < len ? lo + chunk : len;
        int x = in[0], w = in[1], a, b, ops[2], y, yi;
        if (chunk < len && (!slice_axis(im, on, x, ax_a, lo, hi, &x) || !slice_axis(im, on, w, ax_b, lo, hi, &w)))
            return false;
        if (!build_qdq(im, on, OP_DEQUANTIZE_LINEAR, x, s, in[2], conv ? 1 : -2, &a) ||
            !build_qdq(im, on, OP_DEQUANTIZE_LINEAR, w, s, in[3], conv ? 0 : -1, &b))
            return false;
        ops[0] = a, ops[1] = b;
        if (!build_with_attrs(im, on, conv ? OP_CONV : OP_MATMUL, ops, 2, &y))
            return false;
        Pending c = {.op = OP_CAST, .in = {y}, .nin = 1, .nout = 1, .legacy_axis = -1};
        pend_attr(&c, "to", (Attr){.type = AT_STR, .s = "i32"});
        if (!build(im, on, &c, &yi))
            return false;
        Pending add = {.op = OP_ADD, .in = {sum, yi}, .nin = 2, .nout = 1, .legacy_axis = -1};
        if (sum >= 0 && !build(im, on, &add, &yi))
            return false;
        sum = yi;
    }
    return bind_output(im, on, 0, sum);
}

/* QGemm(A, a_scale, a_zero, B, b_scale[, b_zero][, C][, y_scale, y_zero])
 * (com.microsoft) = gemm(dq(A), dq(B, per column), dq(C, alpha * a_scale *
 * b_scale), alpha, transA, transB), quantized when y_scale is given and
 * float otherwise. */
static bool import_qgemm(FeOnnx *im, const OnnxNode *on)
{
    int in[9], a, b, y;
    if (on->np->n_input < 5 || on->np->n_input > 9) {
        diag_error(im->c, on->loc, "QGemm takes 5 to 9 inputs, not %zu", on->np->n_input);
        return false;
    }
    if (!q_inputs(im, on, 9, 0x1e0, in))
        return false;
    if ((in[7] >= 0) != (in[8] >= 0)) {
        diag_error(im->c, on->loc, "QGemm has %s but not %s: give both for a quantized output, neither for float",
                   in[7] >= 0 ? "y_scale" : "y_zero_point", in[7] >= 0 ? "y_zero_point" : "y_scale");
        return false;
    }
    bool tb = attr_int(on, "transB", 0) != 0;
    if (!build_qdq(im, on, OP_DEQUANTIZE_LINEAR, in[0], in[1], in[2], 1, &a) ||
        !build_qdq(im, on, OP_DEQUANTIZE_LINEAR, in[3], in[4], in[5], tb ? 0 : 1, &b))
        return false;
    int gin[3] = {a, b, -1};
    if (in[6] >= 0) {
        /* C's scale: alpha / beta * a_scale * b_scale (per column with
         * b's); the schema has no beta, which is 1. */
        float alpha = 1.0f, beta = 1.0f;
        for (size_t i = 0; i < on->np->n_attribute; i++) {
            const char *name = on->np->attribute[i]->name ? on->np->attribute[i]->name : "";
            if (strcmp(name, "alpha") == 0)
                alpha = on->np->attribute[i]->f;
            else if (strcmp(name, "beta") == 0)
                beta = on->np->attribute[i]->f;
        }
        alpha = beta != 0 ? alpha / beta : alpha;
        Pending m = {.op = OP_MUL, .in = {in[1], in[4]}, .nin = 2, .nout = 1, .legacy_axis = -1};
        int cs;
        if (!build(im, on, &m, &cs))
            return false;
        if (alpha != 1.0f) {
            int k = ir_add_const(im->c, im->g, NULL, type_make(DT_F32, 0, NULL),
                                 arena_memdup(im->g->arena, &alpha, sizeof alpha), on->loc);
            Pending ma = {.op = OP_MUL, .in = {cs, k}, .nin = 2, .nout = 1, .legacy_axis = -1};
            if (k < 0 || !build(im, on, &ma, &cs))
                return false;
        }
        if (!build_qdq(im, on, OP_DEQUANTIZE_LINEAR, in[6], cs, -1, -1, &gin[2]))
            return false;
    }
    if (!build_with_attrs(im, on, OP_GEMM, gin, in[6] >= 0 ? 3 : 2, &y))
        return false;
    if (in[7] >= 0 && !build_qdq(im, on, OP_QUANTIZE_LINEAR, y, in[7], in[8], 1, &y))
        return false;
    return bind_output(im, on, 0, y);
}

static bool import_qoperator(FeOnnx *im, const OnnxNode *on)
{
    const char *t = on->np->op_type;
    int in[9], out, a, b;
    if (strcmp(t, "DynamicQuantizeLinear") == 0)
        return import_dynamic_quantize(im, on);
    if (strcmp(t, "QLinearConcat") == 0)
        return import_qlinear_concat(im, on);
    if (strncmp(t, "QLinear", 7) == 0 && strcmp(t, "QLinearConv") != 0 && strcmp(t, "QLinearMatMul") != 0)
        return import_qlinear(im, on);
    if (strcmp(t, "QLinearConv") == 0) {
        /* com.microsoft's QLinearConv may work on channels_last tensors. */
        QMove pre = {0}, post = {0};
        if (!q_inputs(im, on, 9, 1u << 8, in) ||
            (on->ms && !channels_last_moves(im, on, in[0], &pre, &post)) || !q_move(im, on, &pre, &in[0]) ||
            !build_qdq(im, on, OP_DEQUANTIZE_LINEAR, in[0], in[1], in[2], 1, &a) ||
            !build_qdq(im, on, OP_DEQUANTIZE_LINEAR, in[3], in[4], in[5], 0, &b))
            return false;
        int cin[3] = {a, b, -1};
        if (in[8] >= 0) {
            Pending m = {.op = OP_MUL, .in = {in[1], in[4]}, .nin = 2, .nout = 1, .legacy_axis = -1};
            int bs;
            if (!build(im, on, &m, &bs) || !build_qdq(im, on, OP_DEQUANTIZE_LINEAR, in[8], bs, -1, 0, &cin[2]))
                return false;
        }
        int y;
        return build_with_attrs(im, on, OP_CONV, cin, in[8] >= 0 ? 3 : 2, &y) &&
               build_qdq(im, on, OP_QUANTIZE_LINEAR, y, in[6], in[7], 1, &out) &&
               q_move(im, on, &post, &out) && bind_output(im, on, 0, out);
    }
    if (strcmp(t, "QLinearMatMul") == 0) {
        if (!q_inputs(im, on, 8, 0, in) || !build_qdq(im, on, OP_DEQUANTIZE_LINEAR, in[0], in[1], in[2], -2, &a) ||
            !build_qdq(im, on, OP_DEQUANTIZE_LINEAR, in[3], in[4], in[5], -1, &b))
            return false;
        /* 2-D by 2-D as a gemm, which fold-qdq makes a qgemm (it is the
         * same product; matmul stays for batches and vectors). */
        int mm[2] = {a, b}, y;
        bool flat = ir_value(im->g, a)->type.rank == 2 && ir_value(im->g, b)->type.rank == 2;
        return build_with_attrs(im, on, flat ? OP_GEMM : OP_MATMUL, mm, 2, &y) &&
               build_qdq(im, on, OP_QUANTIZE_LINEAR, y, in[6], in[7], 1, &out) && bind_output(im, on, 0, out);
    }
    if (strcmp(t, "QGemm") == 0)
        return import_qgemm(im, on);
    return import_integer_product(im, on);
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
    case SP_QDQ: return import_qdq(im, on);
    case SP_QOPERATOR: return import_qoperator(im, on);
    case SP_NONE: case SP_FLAT_AXIS: break;
    }

    Pending p = {.op = row->op, .nout = nout, .legacy_axis = -1};
    if (row->fixed) {
        char *spec = arena_strdup(im->g->arena, row->fixed);
        for (char *tok = strtok(spec, " "); tok; tok = strtok(NULL, " ")) {
            char *eq = strchr(tok, '=');
            assert(eq);
            *eq = 0;
            pend_attr(&p, tok, (Attr){.type = AT_STR, .s = eq + 1});
        }
    }
    for (size_t i = 0; i < on->np->n_attribute; i++)
        if (!convert_attr(im, on, on->np->attribute[i], &p))
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
        int v = input_value(im, on, i);
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
    if (!build(im, on, &p, outv))
        return false;
    for (int o = 0; o < nout; o++)
        if (!bind_output(im, on, o, outv[o]))
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
