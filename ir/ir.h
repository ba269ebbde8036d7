/* ir.h: etch's internal interface for the IR layer.
 *
 * Two IR levels live here:
 *   Graph IR: nodes in topological order over values referred to by integer ids.
 *   Loop IR:  kernels made of static for-loops, affine loads/stores and scalar
 *             expressions over flat buffers; both backends walk it.
 * Everything is allocated from one Arena per compilation and freed at once.
 * Sections name the file each group of exports comes from.
 */
#ifndef ETCH_IR_H
#define ETCH_IR_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define ETCH_VERSION "0.1.0"
#define IR_MAX_RANK 8

#if defined(__GNUC__)
#define IR_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define IR_NORETURN __attribute__((noreturn))
#else
#define IR_PRINTF(a, b)
#define IR_NORETURN
#endif

/* ------------------------------------------------------------------ arena.c */

typedef struct Arena Arena;

Arena *arena_new(void);
void arena_free(Arena *a);
void *arena_alloc(Arena *a, size_t size); /* zeroed, 16-byte aligned */
char *arena_strdup(Arena *a, const char *s);
char *arena_strndup(Arena *a, const char *s, size_t n);
char *arena_printf(Arena *a, const char *fmt, ...) IR_PRINTF(2, 3);
void *arena_memdup(Arena *a, const void *p, size_t size);
size_t arena_used(const Arena *a);

/* Growable arrays in an arena: `T *items; int n, cap;` then
 * VEC_PUSH(arena, items, n, cap) = value; old storage is left in the arena. */
void *vec_grow(Arena *a, void *items, int n, int *cap, size_t elem);
#define VEC_PUSH(a, items, n, cap) \
    (*((items) = vec_grow((a), (items), (n), &(cap), sizeof *(items)), &(items)[(n)++]))

/* ------------------------------------------------------------------- diag.c */

/* A source location: file:line:col for the graph language, or an ONNX node
 * name in `file` with line == 0. */
typedef struct {
    const char *file;
    int line, col;
} Loc;

/* One compilation's context: the arena, where diagnostics go, the source
 * texts (for printing the offending line under an error), and counters. */
typedef struct Source {
    const char *path;
    const char *text;
    size_t len;
    struct Source *next;
} Source;

typedef struct {
    Arena *arena;
    FILE *err;       /* diagnostics; stderr by default */
    int nerrors;
    Source *sources; /* registered texts, for carets */
    bool verify;     /* run the verifier after every pass */
} Ctx;

Ctx *ctx_new(void);
void ctx_free(Ctx *c);
void ctx_add_source(Ctx *c, const char *path, const char *text, size_t len);
/* Prints `file:line:col: error: msg`, the source line and a caret. */
void diag_error(Ctx *c, Loc loc, const char *fmt, ...) IR_PRINTF(3, 4);
void diag_verror(Ctx *c, Loc loc, const char *fmt, va_list ap);
void diag_note(Ctx *c, Loc loc, const char *fmt, ...) IR_PRINTF(3, 4);
IR_NORETURN void ir_unreachable_at(const char *file, int line, const char *msg);
#define unreachable(msg) ir_unreachable_at(__FILE__, __LINE__, (msg))

/* ------------------------------------------------------------------ types.c */

/*  id     name    size  is_float is_signed  C type        */
#define ETCH_DTYPES(X)                                        \
    X(F32, "f32", 4, true, true, "float")                     \
    X(I8, "i8", 1, false, true, "int8_t")                     \
    X(U8, "u8", 1, false, false, "uint8_t")                   \
    X(I16, "i16", 2, false, true, "int16_t")                  \
    X(I32, "i32", 4, false, true, "int32_t")                  \
    X(I64, "i64", 8, false, true, "int64_t")                  \
    X(BOOL, "bool", 1, false, false, "uint8_t")

typedef enum {
    DT_NONE = 0,
#define X(id, name, size, fl, sg, ct) DT_##id,
    ETCH_DTYPES(X)
#undef X
    DT_COUNT
} DType;

const char *dtype_name(DType t);
const char *dtype_ctype(DType t);
size_t dtype_size(DType t);
bool dtype_is_float(DType t);
DType dtype_from_name(const char *name); /* DT_NONE if unknown */

/* Quantization parameters on a type: per tensor (axis == -1, n == 1) or per
 * axis (n == dims[axis]). Parsed and printed; the `quantize` pass puts them
 * on int8 graph inputs and outputs (--io int8). */
typedef struct {
    int axis;
    int n;
    float *scale;
    int32_t *zero; /* n entries, or 1 shared entry when nzero == 1 */
    int nzero;
} Quant;

typedef struct {
    DType dtype;
    int rank;
    int64_t dims[IR_MAX_RANK];
    Quant *quant; /* NULL when not quantized */
} Type;

int64_t type_numel(const Type *t);
size_t type_bytes(const Type *t);
bool type_equal(const Type *a, const Type *b); /* dtype and shape (not quant) */
Type type_make(DType dt, int rank, const int64_t *dims);
/* "f32[1, 64]" into buf; returns buf. */
char *type_str(const Type *t, char *buf, size_t size);
char *shape_str(const Type *t, char *buf, size_t size); /* "[1, 64]" */
/* Row-major strides in elements. */
void type_strides(const Type *t, int64_t *strides);

/* ------------------------------------------------------------------ quant.c */

/* Requantization (see quant.c): a real multiplier M as mult * 2^(shift-31),
 * mult in [2^30, 2^31), and the rounding that scales an accumulator by it. */
typedef enum { ROUND_SINGLE, ROUND_TFLITE } Rounding;
typedef struct {
    int32_t mult;
    int shift;
} QMult;

const char *quant_rounding_name(Rounding r);
int quant_rounding_by_name(const char *name); /* -1 if unknown */
/* false when M is not positive and finite, or M >= 2^30. */
bool quant_multiplier(double real, QMult *q);
/* acc * M, rounded as r says, saturated to int32. */
int32_t quant_scale(int32_t acc, QMult q, Rounding r);
/* zero + acc * M, rounded, clamped to [lo, hi]. */
int32_t quant_requant(int32_t acc, QMult q, Rounding r, int32_t zero, int32_t lo, int32_t hi);

/* The 32-bit forms of qadd and qmul with single rounding (quant.c: when
 * they apply, they are the ops' semantics, in the reference and compiled
 * code alike; ARM's DSP instructions do them in a few steps):
 *   add: y = (a * m0 + b * m1 + c) >> shift, of the raw codes a and b,
 *        |m0|, |m1| <= 32767 (one SMLAD of a pair of halfwords);
 *   mul: y = c + ((((a - z0) * (b - z1)) << shift) * m0 + 2^31) >> 32
 *        (SMMLAR: a rounded high multiply with c as the accumulator);
 * before the clamp to [lo, hi]. */
typedef struct {
    bool mul;
    int32_t m0, m1, z0, z1, c;
    int shift;
    int32_t lo, hi;
} QFast;
int32_t quant_fast(const QFast *f, int32_t a, int32_t b);

/* -------------------------------------------------------------- graph.c */

typedef enum {
    AT_NONE = 0,
    AT_INT,
    AT_FLOAT,
    AT_INTS,
    AT_FLOATS,
    AT_STR,
} AttrType;

/* One attribute value. Lists are arena arrays of n entries. */
typedef struct {
    AttrType type;
    bool set;      /* given explicitly (printed), else the op table's default */
    int64_t i;
    double f;
    int n;
    int64_t *ints;
    double *floats;
    const char *s;
} Attr;

typedef enum {
    VK_INPUT,  /* graph input */
    VK_CONST,  /* weight/constant: has data */
    VK_NODE,   /* produced by a node */
} ValueKind;

typedef struct {
    const char *name;
    ValueKind kind;
    Type type;
    int producer;       /* node id for VK_NODE, else -1 */
    void *data;         /* VK_CONST: type_numel elements of type.dtype */
    const char *npy;    /* VK_CONST loaded from .npy: the path as written */
    Loc loc;
    bool dead;          /* removed by a pass; ids stay stable */
} Value;

typedef struct {
    int op;             /* OpKind */
    int nin, nout;
    int *in;            /* value ids; -1 for an omitted optional input */
    int *out;
    Attr *attrs;        /* parallel to op_info(op)->attrs */
    Loc loc;
    bool dead;
} Node;

typedef struct {
    Arena *arena;
    const char *name;
    Value *values; int nvalues, capvalues;
    Node *nodes; int nnodes, capnodes;
    int *inputs; int ninputs, capinputs;
    int *outputs; int noutputs, capoutputs;
    const char *path;   /* source file, for relative .npy paths */
} Graph;

Graph *ir_new_graph(Arena *a, const char *name);
/* Builders return the new value id, or -1 after a diagnostic. */
int ir_add_input(Ctx *c, Graph *g, const char *name, Type t, Loc loc);
int ir_add_const(Ctx *c, Graph *g, const char *name, Type t, void *data, Loc loc);
/* A node whose outputs are unnamed (NULL names become "t<id>"). Attributes
 * start at the op table's defaults; set them with ir_set_attr_* and then
 * call ir_finish_node, which checks arity and infers output types. */
int ir_new_node(Ctx *c, Graph *g, int op, const int *in, int nin, int nout, Loc loc);
bool ir_finish_node(Ctx *c, Graph *g, int node);
/* Turns node into op `op` in place (keeping its place in the schedule):
 * attributes start at op's defaults, and those the old op set that op has
 * too (same name and kind) carry over. The caller rewires inputs and
 * outputs and re-runs inference. */
void ir_change_op(Graph *g, int node, int op);
bool ir_rename_value(Ctx *c, Graph *g, int value, const char *name, Loc loc);
int ir_find_value(const Graph *g, const char *name); /* -1 if none */
bool ir_add_output(Ctx *c, Graph *g, int value, Loc loc);
const char *ir_fresh_name(Graph *g); /* a "t<N>" not yet used */

/* Attribute setters by name: a diagnostic (naming the op and the valid
 * attributes) and false when the op has no such attribute or the kind is
 * wrong; ints are accepted where floats are expected. */
bool ir_set_attr(Ctx *c, Graph *g, int node, const char *name, const Attr *v, Loc loc);
/* Accessors for ops' own code: the attribute must exist in the op's table. */
int64_t ir_attr_int(const Node *n, const char *name);
double ir_attr_float(const Node *n, const char *name);
const int64_t *ir_attr_ints(const Node *n, const char *name, int *count);
const double *ir_attr_floats(const Node *n, const char *name, int *count);
const char *ir_attr_str(const Node *n, const char *name);
bool ir_attr_is_set(const Node *n, const char *name);

/* quant.c: quantized types and the int8 ops' attributes (qconv, qgemm, ...). */
float quant_scale_at(const Quant *q, int64_t i);   /* i: index along q->axis */
int32_t quant_zero_at(const Quant *q, int64_t i);
/* sx * sw[ch] / sy of per-tensor x and y and per-tensor or per-axis w. */
bool quant_out_mult(const Type *x, const Type *w, int64_t ch, const Type *y, QMult *q);
/* The node's [qmin, qmax] intersected with dtype dt's range. */
void quant_bounds(const Node *n, DType dt, int32_t *lo, int32_t *hi);
Rounding quant_node_rounding(const Node *n);
enum { QADD_SHIFT = 20 };
/* qsoftmax: table[d] = exp(-sx * d) * 2^QSOFTMAX_BITS for d = max - x in
 * [0, 255]; r = 2^QSOFTMAX_RBITS / sy; an output is zero + t * r / (sum *
 * 2^QSOFTMAX_RBITS) rounded half up, clamped to [lo, hi]. */
enum { QSOFTMAX_BITS = 23, QSOFTMAX_RBITS = 16 };
void quant_softmax_table(float sx, int32_t table[256]);
int64_t quant_softmax_r(float sy);
int32_t quant_softmax_out(int32_t t, int64_t sum, int64_t r, int32_t zero, int32_t lo, int32_t hi);
bool quant_add_mults(const Type *a, const Type *b, const Type *y, QMult *ma, QMult *mb, QMult *my);
/* qadd's or qmul's (n) QFast form: false when the node rounds as tflite
 * or the scales leave too few multiplier bits (then quant_add_mults' or
 * quant_out_mult's form). */
bool quant_fast_init(const Node *n, const Type *a, const Type *b, const Type *y, QFast *f);
/* A code of per-tensor x as a code of per-tensor y (qmax_pool, qconcat):
 * requantized by sx / sy, or, when the scales are equal (`same`), only
 * shifted by zy - zx; clamped to [lo, hi]. */
typedef struct {
    bool same;
    QMult m;            /* sx / sy when !same */
    int32_t zx, zy;
} QRescale;
bool quant_rescale_init(const Type *x, const Type *y, QRescale *r); /* false: sx / sy unrepresentable */
int32_t quant_rescale(int32_t v, const QRescale *r, Rounding rd, int32_t lo, int32_t hi);

static inline Value *ir_value(const Graph *g, int id) { return &g->values[id]; }
static inline Node *ir_node(const Graph *g, int id) { return &g->nodes[id]; }
static inline const Type *ir_in_type(const Graph *g, const Node *n, int i)
{
    return &g->values[n->in[i]].type;
}
static inline Type *ir_out_type(const Graph *g, const Node *n, int i)
{
    return &g->values[n->out[i]].type;
}
/* Input i is there: an optional input may be past nin or -1 (empty). */
static inline bool ir_has_input(const Node *n, int i) { return i < n->nin && n->in[i] >= 0; }

/* ---------------------------------------------------------------- ops.c */

/* The op table lives in ops.def; see that file for its columns. Every
 * includer defines both OP (general ops) and EW (elementwise ops). */
typedef enum {
#define OP(id, name, in_min, in_max, nout, attrs, infer, ref, lower) OP_##id,
#define EW(id, name, in_min, in_max, attrs, infer, ref, expr) OP_##id,
#include "ops.def"
#undef OP
#undef EW
    OP_COUNT
} OpKind;

typedef struct {
    const char *name;
    AttrType type;
    bool required;      /* no default: must be given */
    Attr def;           /* default value */
} AttrSpec;

typedef struct Tensor Tensor;
typedef struct LowerCtx LowerCtx;
typedef struct Expr Expr;

/* Shape/type inference: set the outputs' types from the inputs' and the
 * attributes; on a mismatch, a diagnostic naming the node and both shapes. */
typedef bool InferFn(Ctx *c, Graph *g, Node *n);
/* Reference implementation: plain, obviously-correct loops. */
typedef void RefFn(const Graph *g, const Node *n, const Tensor *in, Tensor *out);
/* Lowering: appends the node's kernel(s) to the Loop IR program. */
typedef bool LowerFn(LowerCtx *lc, const Node *n);
/* Elementwise ops: the scalar expression of the op applied to its operand
 * expressions (one per input), so fused chains compose. */
typedef Expr *ExprFn(LowerCtx *lc, const Node *n, Expr **args);

typedef struct {
    const char *name;
    int in_min, in_max;
    int nout;           /* -1: variadic outputs (split) */
    const char *attr_spec;
    AttrSpec *attrs;
    int nattrs;
    InferFn *infer;
    RefFn *ref;
    LowerFn *lower;
    ExprFn *expr;       /* NULL unless elementwise */
} OpInfo;

const OpInfo *op_info(int op);
int op_by_name(const char *name); /* -1 if unknown */
/* "add, sub, ..." for diagnostics. */
const char *op_names_list(Arena *a);
/* The op name within two edits of NAME (a typo's target), or NULL. */
const char *op_closest_name(const char *name);
int op_attr_index(int op, const char *name); /* -1 if none */

/* ------------------------------------------------------------ infer_*.c */

/* Every function named in ops.def is declared here (repeats are harmless). */
#define OP(id, name, in_min, in_max, nout, attrs, infer, ref, lower) \
    InferFn infer; RefFn ref; LowerFn lower;
#define EW(id, name, in_min, in_max, attrs, infer, ref, expr) \
    InferFn infer; RefFn ref; ExprFn expr;
#include "ops.def"
#undef OP
#undef EW
LowerFn lower_eltwise; /* lowers every EW op from its expression template */

/* Shared inference helpers. */
/* "node 'y' (op): msg" as a diagnostic at the node; silent when c is NULL
 * (geometry re-resolved after inference vetted the node). Returns false. */
bool infer_node_error(Ctx *c, const Graph *g, const Node *n, const char *fmt, ...) IR_PRINTF(4, 5);
/* "[a, b, c]" of an ints list, into buf. */
char *infer_ints_str(const int64_t *v, int n, char *buf, size_t size);
/* Every present input is f32, else a diagnostic naming it by `roles`
 * ("x", "w", "b"...). */
bool infer_check_f32(Ctx *c, const Graph *g, const Node *n, const char *const *roles);
bool infer_broadcast_shape(Ctx *c, const Node *n, const Type *a, const Type *b, Type *out);
/* Normalizes a possibly negative axis for rank r; diagnostic if out of range. */
bool infer_axis(Ctx *c, const Node *n, int64_t axis, int rank, int *out);
/* Resolved geometry of a conv or pool node (infer_nn.c): kernel, strides,
 * dilations and explicit pads after auto_pad, shared by infer, ref and
 * lower so the three never disagree. Spatial dims are dims [2, rank). */
typedef struct {
    int nspatial;
    int64_t group;                  /* conv; 1 for pools */
    int64_t kernel[IR_MAX_RANK];
    int64_t stride[IR_MAX_RANK];
    int64_t dilation[IR_MAX_RANK];
    int64_t pad_begin[IR_MAX_RANK];
    int64_t pad_end[IR_MAX_RANK];
    int64_t in[IR_MAX_RANK];        /* input spatial sizes */
    int64_t out[IR_MAX_RANK];       /* output spatial sizes */
} Geom;
/* c may be NULL once the node has passed inference (no diagnostics then). */
bool ir_window_geom(Ctx *c, const Graph *g, const Node *n, Geom *geo);
/* Every window of geo reads at least one input element, i.e. none lies in
 * the padding alone (quant.c: an int8 max over no element has no value). */
bool quant_windows_read(const Geom *geo);
/* reduce_*: which input axes are reduced (infer_tensor.c). */
void ir_reduce_axes(const Graph *g, const Node *n, bool reduced[IR_MAX_RANK]);
/* slice: output dim d reads input index first[d] + i * step[d] for i below
 * the output's dims[d]; unsliced dims have first 0, step 1 (infer_shape.c). */
void ir_slice_geom(const Graph *g, const Node *n, int64_t *first, int64_t *step);
/* conv_transpose geometry (infer_nn2.c): kernel from w, strides,
 * dilations, and pads resolved from pads / auto_pad / output_shape, with
 * y[o] += x[i] * w[t] where o = i*stride + t*dilation - pad_begin. Pads may
 * be negative when output_shape asks for more than the natural size. */
bool ir_conv_transpose_geom(Ctx *c, const Graph *g, const Node *n, Geom *geo);
/* resize (infer_nn2.c): output dims and the per-dim scale used to map
 * output coordinates back (the given scale, or out/in for sizes). */
#define IR_RESIZE_MAX_TAPS 4
typedef struct {
    int rank;
    int mode;       /* 0 nearest, 1 linear, 2 cubic */
    int64_t in[IR_MAX_RANK], out[IR_MAX_RANK];
    double scale[IR_MAX_RANK];
    double resized[IR_MAX_RANK]; /* ONNX's length_resized: sizes, or in * scale unfloored */
} ResizeGeom;
bool ir_resize_geom(Ctx *c, const Graph *g, const Node *n, ResizeGeom *rg);
/* The input taps of output index o along dim d: indices (clamped into the
 * input) and weights; returns the tap count (1 nearest, 2 linear, 4 cubic). */
int ir_resize_taps(const Node *n, const ResizeGeom *rg, int d, int64_t o,
                   int64_t idx[IR_RESIZE_MAX_TAPS], double wt[IR_RESIZE_MAX_TAPS]);

/* "node 'y' (conv)" for messages. */
const char *ir_node_desc(const Graph *g, const Node *n, char *buf, size_t size);

/* --------------------------------------------------------------- fused.c */

/* The body of a `fused` node (its `expr` attribute, see fused.c) as a graph
 * of its own, in arena a: inputs typed as n's inputs ($i is inputs[i]), a
 * node per op in order, inferred as built, the result its one output. NULL
 * after a diagnostic at n. */
Graph *ir_fused_body(Ctx *c, Arena *a, const Graph *g, const Node *n);
/* The `expr` text of a body made of g's nodes[0..count) (schedule order,
 * the last one the result) over the values ins[0..nin) ($0, $1, ...). */
char *ir_fused_expr(Arena *a, const Graph *g, const int *nodes, int count, const int *ins,
                    int nin);
/* Whether an attribute can be written in an expr (strings as bare words). */
bool ir_fused_attr_ok(const Attr *a);

/* Fused activations of conv and gemm: act_min/act_max (a clamp) and `act`,
 * an expr over $0 (the clamped result) applied after it, set by
 * fuse-activation. Whether n has any. */
bool ir_has_act(const Node *n);
/* n's `act` as a body over one input of n's output type. */
Graph *ir_act_body(Ctx *c, Arena *a, const Graph *g, const Node *n);
/* Checks n's `act` (if any): it must parse and keep the output's type. */
bool infer_act(Ctx *c, Graph *g, Node *n);
/* Applies n's `act` (if any) to its output y in place (the interpreter). */
void ref_act(const Graph *g, const Node *n, Tensor *y);

/* -------------------------------------------------------------- interp.c */

struct Tensor {
    Type type;
    void *data;
};

/* Runs the graph: inputs[i] for g->inputs[i]; outputs are allocated in
 * the arena and returned in outputs[i] for g->outputs[i]. */
bool interp_run(Ctx *c, const Graph *g, const Tensor *inputs, Tensor *outputs);
/* interp_run that also shows observe(user, value id, tensor) every graph
 * input once bound and every node output once computed (constants are not
 * shown); the tensor's data lives in c's arena. Calibration records ranges
 * with it. */
typedef void InterpObserveFn(void *user, int value, const Tensor *t);
bool interp_run_observe(Ctx *c, const Graph *g, const Tensor *inputs, Tensor *outputs,
                        InterpObserveFn *observe, void *user);
float tensor_getf(const Tensor *t, int64_t i); /* any dtype, as float */
void tensor_setf(Tensor *t, int64_t i, float v);

/* ---------------------------------------------------------- ref_tensor.c */

/* Element access for the reference implementations: integer and bool
 * tensors as int64 (stores wrap to the dtype; bool stores v != 0). */
int64_t ref_get_i(const Tensor *t, int64_t i);
void ref_set_i(Tensor *t, int64_t i, int64_t v);
/* Flat offset within one input plane of the spatial point at kernel tap `kf`
 * of output point `of` (row-major over geo's out and kernel), or -1 when it
 * falls outside the input; `padded` (optional) says whether it lies inside
 * the padded input (ref_nn.c). */
int64_t ref_window_tap(const Geom *geo, int64_t of, int64_t kf, bool *padded);
/* Linear index into `in` of output element o under numpy broadcasting. */
int64_t ref_bcast_index(const Type *in, const Type *out, int64_t o);

/* -------------------------------------------------------------- verify.c */

/* Checks ids, topological order, arity, types against fresh inference.
 * Returns true when the graph is well formed; else diagnostics. */
bool ir_verify(Ctx *c, const Graph *g);

/* --------------------------------------------------------------- print.c */

/* Prints the graph in the graph language; the output parses back in. */
void ir_print_graph(FILE *f, const Graph *g);
void ir_print_dot(FILE *f, const Graph *g);

/* ================================================================ Loop IR */

/* ---------------------------------------------------------------- loop.c */

typedef enum {
    BK_INPUT,   /* graph input, passed by the caller */
    BK_OUTPUT,  /* graph output, passed by the caller */
    BK_CONST,   /* weights: static const data */
    BK_TEMP,    /* intermediate: at `offset` in the workspace */
} BufKind;

typedef struct {
    const char *name;   /* C identifier */
    BufKind kind;
    DType dtype;
    int64_t numel;
    int64_t offset;     /* BK_TEMP, and inputs/outputs under io_in_arena: byte
                         * offset in the workspace (planner) */
    const void *data;   /* BK_CONST */
    int value;          /* graph value id, or -1 */
    int index;          /* BK_INPUT/BK_OUTPUT: position in the entry's args */
} Buffer;

typedef enum {
    EX_INT,     /* integer constant (index type, or any integer dtype) */
    EX_FLT,     /* float constant */
    EX_VAR,     /* loop variable `var` (index type) */
    EX_LOCAL,   /* kernel-local scalar `local` */
    EX_LOAD,    /* buf[idx] */
    EX_UN,      /* op(a) */
    EX_BIN,     /* a op b */
    EX_SELECT,  /* cond ? a : b; both sides are side-effect free and safe */
    EX_CAST,    /* (dtype)a */
    EX_DOT4,    /* dot4(a, b, c): c + a[0] b[0] + a[1] b[1] + a[2] b[2] + a[3] b[3]
                 * in i32, where a and b are EX_LOADs of i8 buffers naming
                 * the first of four consecutive elements (no alignment
                 * asked); c is i32. Targets with a 2 x 16-bit multiply-add
                 * (ARM DSP SMLAD, Target.dot4) do it in a few instructions. */
    EX_BCAST,   /* scalar a in every one of `lanes` lanes */
    EX_LANE,    /* lane `i` of vector a, a scalar */
    EX_MULADD,  /* a * b + c, rounded once (fused) or twice: the backend's choice */
    EX_SHIFT,   /* vector a moved by i lanes (lane l gets a[l - i]), zeros shifted in */
    EX_QFAST4,  /* qfast4(a, b): quant_fast(q, a[l], b[l]) for lanes l < 4, where a
                 * and b are EX_LOADs of i8 buffers naming the first of four
                 * consecutive elements (no alignment asked): a vector of four
                 * i8, only ever the value of an ST_STORE to an i8 buffer.
                 * ARM's DSP extension (Target.dot4) does it from word loads
                 * in 16-bit SIMD steps (qadd: SMLAD, qmul: SMULBB + SMMLAR).
                 * With i = k in 1..4, b is instead one scalar i32 code for
                 * lanes l < k and c another for lanes l >= k (c NULL when
                 * k is 4): an operand broadcast along runs of y, four
                 * lanes in one run (k = 4) or across the end of one (a
                 * word load of a only; qadd: SMLABB/SMLATB with b's
                 * product in the accumulator, qmul: SMULBB/SMULTB by the
                 * centered b, each lane taking its code's). */
    EX_BITCAST, /* the bits of scalar a read as `dtype`: f32 <-> i32 only (the
                 * exponent field of a float, for fast_math.c's exp) */
    EX_UNZIP,   /* every second lane of a's lanes then b's, from lane i (0 or 1):
                 * lane l gets lane 2l + i of a ++ b (stride-2 data, loaded
                 * as two contiguous vectors) */
} ExprKind;

/* Unary ops: math functions map to the runtime/libm float versions. */
#define ETCH_UNOPS(X)                       \
    X(NEG, "neg") X(NOT, "not")             \
    X(ABS, "abs") X(EXP, "exp")             \
    X(LOG, "log") X(SQRT, "sqrt")           \
    X(TANH, "tanh") X(ERF, "erf")           \
    X(FLOOR, "floor") X(CEIL, "ceil")       \
    X(ROUND, "round") /* half to even */    \
    X(SIN, "sin") X(COS, "cos")             \
    X(TAN, "tan") X(ASIN, "asin")           \
    X(ACOS, "acos") X(ATAN, "atan")         \
    X(SINH, "sinh") X(COSH, "cosh")         \
    X(ASINH, "asinh") X(ACOSH, "acosh")     \
    X(ATANH, "atanh") X(ISNAN, "isnan")

/* Binary ops. Comparisons yield DT_BOOL; DIV/MOD on integers are C's.
 * SHL/SHR: shifts of an integer by 0 <= b < its width; SHL only of a
 * non-negative value that stays in range, SHR arithmetic (a floor division
 * by 2^b: the C backend relies on >> of a negative value being arithmetic,
 * as GCC and Clang define it). */
#define ETCH_BINOPS(X)                                  \
    X(ADD, "+") X(SUB, "-") X(MUL, "*") X(DIV, "/")     \
    X(MOD, "%") X(MIN, "min") X(MAX, "max")             \
    X(POW, "pow") X(SHL, "<<") X(SHR, ">>")             \
    X(LT, "<") X(LE, "<=") X(GT, ">") X(GE, ">=")       \
    X(EQ, "==") X(NE, "!=")                             \
    X(AND, "&&") X(OR, "||")

typedef enum {
#define X(id, s) UN_##id,
    ETCH_UNOPS(X)
#undef X
    UN_COUNT
} UnOp;

typedef enum {
#define X(id, s) BIN_##id,
    ETCH_BINOPS(X)
#undef X
    BIN_COUNT
} BinOp;

const char *unop_name(UnOp op);
const char *binop_name(BinOp op);

/* Index arithmetic uses DT_I64. */
#define DT_INDEX DT_I64

/* Vectors: an expression of `lanes` > 1 is a vector of that many f32
 * values (a power of two, at most ETCH_MAX_LANES). Only f32 vectors exist
 * (and EX_QFAST4's four i8, which only a store takes);
 * they come from EX_LOAD (buf[idx + l] for every lane l: contiguous),
 * EX_BCAST and vector locals, and combine lane by lane through EX_BIN
 * (add, sub, mul, div, min, max, both operands of the same lanes),
 * EX_MULADD and EX_LANE, or across lanes through EX_SHIFT and EX_UNZIP;
 * ST_STORE of a
 * vector value writes buf[idx + l].
 * Every other expression is a scalar (lanes 1). */
enum { ETCH_MAX_LANES = 16 };

struct Expr {
    ExprKind kind;
    DType dtype;
    int lanes;          /* 1: a scalar; > 1: a vector of dtype f32 */
    int64_t i;          /* EX_INT; EX_LANE: the lane; EX_SHIFT: the lanes moved;
                         * EX_QFAST4: 0 for two loads, or the lane k
                         * from which c is the code instead of b;
                         * EX_UNZIP: the first lane taken */
    double f;           /* EX_FLT */
    int var;            /* EX_VAR */
    int local;          /* EX_LOCAL */
    int buf;            /* EX_LOAD */
    int op;             /* EX_UN: UnOp, EX_BIN: BinOp */
    Expr *a, *b, *c;    /* operands; EX_LOAD index in a; EX_SELECT: c ? a : b;
                         * EX_MULADD: a * b + c */
    const QFast *q;     /* EX_QFAST4 */
};

typedef enum {
    ST_BLOCK,   /* items[0..n) in order */
    ST_FOR,     /* for (var = lo; var < hi; var += step) body */
    ST_IF,      /* if (cond) then else els (els may be NULL) */
    ST_STORE,   /* buf[idx] = val */
    ST_SET,     /* local = val */
} StmtKind;

enum {
    LOOP_PARALLEL = 1,   /* iterations independent */
    LOOP_REDUCTION = 2,  /* carries an accumulator */
    LOOP_UNROLL = 4,     /* request full unrolling */
    LOOP_VECTOR = 8,     /* inner loop meant to vectorize */
    LOOP_SLP = 16,       /* the body is a register tile: vectorize across its
                          * statements (SLP), not across iterations */
};

typedef struct Stmt Stmt;
struct Stmt {
    StmtKind kind;
    /* ST_BLOCK */
    Stmt **items; int n, cap;
    /* ST_FOR */
    int var;
    Expr *lo, *hi;
    int64_t step;
    unsigned flags;
    Stmt *body;
    /* ST_IF */
    Expr *cond;
    Stmt *then, *els;
    /* ST_STORE / ST_SET */
    int buf;
    int local;
    Expr *idx, *val;
};

typedef struct {
    DType dtype;
    const char *name;   /* "acc", "mx", ...: printed as name<id> */
    int lanes;          /* 1, or a vector of f32 */
} Local;

typedef struct {
    const char *name;       /* "k3_conv" */
    const char *comment;    /* op(s), source location, shapes */
    int node;               /* graph node id it came from, or -1 */
    Stmt *body;             /* an ST_BLOCK */
    Local *locals; int nlocals, caplocals;
    int nvars;              /* loop variables i0..i<nvars-1> */
    /* An in-place pair, or -1: the kernel reads inplace_in at an index only
     * in the statement that writes inplace_out at that same index, and
     * never after, so plan-memory may give both one place when inplace_in
     * dies here (a conv's fused residual, conv_out_value). */
    int inplace_in, inplace_out;
} Kernel;

typedef struct {
    Arena *arena;
    const char *name;       /* C prefix */
    Buffer *bufs; int nbufs, capbufs;
    Kernel *kernels; int nkernels, capkernels;
    int *inputs; int ninputs, capinputs;   /* buffer ids in entry order */
    int *outputs; int noutputs, capoutputs;
    int64_t workspace_size;     /* bytes, from the planner */
    int64_t workspace_lower_bound;
    /* The planner reserved workspace bytes for the inputs and outputs too
     * (bare-metal targets): a caller may keep its I/O inside the workspace,
     * at each one's offset, instead of in buffers of its own. */
    bool io_in_arena;
    /* The fast-math pass expanded exp/tanh into selects and polynomials;
     * the C backend lets GCC if-convert them (no-trapping-math). */
    bool fast_math;
    int *value_buf;             /* graph value id -> buffer id (or -1) */
} Program;

Program *loop_new_program(Arena *a, const char *name);
int loop_add_buffer(Program *p, const char *name, BufKind kind, DType dt, int64_t numel);
Kernel *loop_new_kernel(Program *p, const char *name, const char *comment, int node);
int loop_new_var(Kernel *k);
int loop_new_local(Program *p, Kernel *k, DType dt, const char *name);
/* A local vector of `lanes` f32 values. */
int loop_new_vlocal(Program *p, Kernel *k, const char *name, int lanes);

/* Expression constructors (arena-allocated, immutable once built). */
Expr *ex_int(Program *p, int64_t v);
Expr *ex_int_t(Program *p, DType dt, int64_t v);
Expr *ex_flt(Program *p, double v);
Expr *ex_var(Program *p, int var);
Expr *ex_local(Program *p, const Kernel *k, int local);
Expr *ex_load(Program *p, int buf, Expr *idx);
Expr *ex_un(Program *p, UnOp op, Expr *a);
Expr *ex_bin(Program *p, BinOp op, Expr *a, Expr *b); /* folds int constants */
Expr *ex_select(Program *p, Expr *cond, Expr *a, Expr *b);
Expr *ex_cast(Program *p, DType dt, Expr *a);
/* EX_BITCAST: the bits of a (f32 or i32) as the other of the two. */
Expr *ex_bitcast(Program *p, DType dt, Expr *a);
/* EX_DOT4 of loads a and b (of i8 buffers) into the i32 acc. */
Expr *ex_dot4(Program *p, Expr *a, Expr *b, Expr *acc);
/* EX_QFAST4 of loads a and b (of i8 buffers); q is copied. */
Expr *ex_qfast4(Program *p, const QFast *q, Expr *a, Expr *b);
/* EX_QFAST4 of load a (of an i8 buffer) and scalar i32 codes: b for
 * lanes below k (1..4), c for the others (NULL when k is 4). */
Expr *ex_qfast4_one(Program *p, const QFast *q, Expr *a, Expr *b, Expr *c, int k);
/* Vectors (see struct Expr): buf[idx .. idx + lanes), scalar a in every
 * lane, lane i of v, and a * b + c (scalars or vectors of one width). */
Expr *ex_vload(Program *p, int buf, Expr *idx, int lanes);
Expr *ex_bcast(Program *p, Expr *a, int lanes);
Expr *ex_lane(Program *p, Expr *v, int i);
Expr *ex_muladd(Program *p, Expr *a, Expr *b, Expr *c);
/* Vector a moved by n lanes toward the higher lanes (n < 0: the lower
 * ones), zeros in the lanes left empty; |n| < lanes. */
Expr *ex_vshift(Program *p, Expr *a, int n);
/* Lanes phase, phase + 2, ... of a ++ b (vectors of one width; phase 0 or
 * 1): the elements of stride 2 from a's first (or second) element, when a
 * and b are consecutive loads. */
Expr *ex_vunzip(Program *p, Expr *a, Expr *b, int phase);
/* Shorthands for index arithmetic, folding constants: a + b, a * k. */
Expr *ex_add(Program *p, Expr *a, Expr *b);
Expr *ex_mul(Program *p, Expr *a, Expr *b);
Expr *ex_muli(Program *p, Expr *a, int64_t k);

Stmt *st_block(Program *p);
void st_append(Program *p, Stmt *block, Stmt *s);
/* A for-loop over [lo, hi) with its body block; returns the loop. */
Stmt *st_for(Program *p, int var, Expr *lo, Expr *hi, int64_t step, unsigned flags);
Stmt *st_for_n(Program *p, int var, int64_t n, unsigned flags); /* [0, n), step 1 */
Stmt *st_if(Program *p, Expr *cond, Stmt *then, Stmt *els);
Stmt *st_store(Program *p, int buf, Expr *idx, Expr *val);
Stmt *st_set(Program *p, int local, Expr *val);

/* ----------------------------------------------------------- loop_eval.c */

/* Executes a Program directly (a slow Loop IR interpreter): inputs and
 * outputs in the program's entry order, workspace of workspace_size bytes.
 * Lets lowering be tested against the reference without a C compiler. */
bool loop_eval(const Program *p, const void *const *inputs, void *const *outputs, void *workspace);

/* Readable C-like dump with buffer shapes and names. */
/* What one kernel reads and writes, for the backends' parameter lists. */
enum { USE_READ = 1, USE_WRITE = 2 };
typedef struct {
    unsigned char *buf;     /* USE_* per buffer */
    unsigned char *local;   /* USE_* per local */
} KernelUses;
KernelUses loop_kernel_uses(const Program *p, const Kernel *k);
/* Whether buffer b may be a restrict (C) / noalias (LLVM) parameter of a
 * kernel with uses u: yes unless another workspace buffer it touches shares
 * bytes with b (in-place reuse). */
bool loop_may_restrict(const Program *p, const KernelUses *u, int b);

void loop_print_program(FILE *f, const Program *p);
void loop_print_kernel(FILE *f, const Program *p, const Kernel *k);

/* --------------------------------------------------------------- target.c */

typedef enum { TGT_HOST, TGT_GENERIC, TGT_CORTEX_M4, TGT_CORTEX_M0 } TargetKind;

/* A target as data: what a backend, the loop passes and the CLI need to know
 * about the machine the generated code runs on. */
typedef struct Target {
    TargetKind kind;
    const char *name;           /* --target NAME: host, generic, cortex-m4, cortex-m0 */
    const char *triple;         /* LLVM triple; "" = the host's default triple */
    const char *cpu;            /* LLVM CPU name ("" = generic for the triple) */
    const char *features;       /* LLVM feature string, e.g. "+vfp4sp,+thumb-mode" */
    int pointer_bytes;          /* sizeof(void *) */
    bool has_fpu;               /* single-precision float in hardware */
    int vector_bytes;           /* widest SIMD register (0: scalar only) */
    int float_regs;             /* float registers available for register tiling */
    int int_regs;               /* general registers free for values (not sp, pc) */
    int l1_bytes;               /* data cache per core (0: none; MCU SRAM is flat) */
    bool dot4;                  /* EX_DOT4 is cheap: int8 pairs by 16-bit SIMD (SMLAD) */
    bool fp_contract;           /* f32 a * b + c may fuse: the C flags say -ffp-contract=fast,
                                 * the LLVM backend emits llvm.fmuladd */
    bool bare_metal;            /* no OS: no malloc, no stdio in generated code */
    const char *cc;             /* C compiler; ${CC} overrides it for host/generic */
    const char *cflags;         /* flags for generated code (machine + optimization) */
    const char *objdump_prefix; /* binutils prefix for nm/size: "" or "arm-none-eabi-" */
    const char *packages;       /* Debian packages that supply the toolchain */
} Target;

/* The target named `name`, or NULL when there is none. */
const Target *target_find(const char *name);
/* The comma-separated names of every target (for help and errors). */
const char *target_names(void);


#endif /* ETCH_IR_H */
