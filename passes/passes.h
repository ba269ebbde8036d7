/* passes.h: etch's internal interface for passes, lowering and the pipeline.
 *
 * A pass is a named function in one pipeline table; the driver runs them in
 * order, verifies the IR after each (when Ctx.verify), and prints after the
 * passes the user named. Passes never print on their own.
 */
#ifndef ETCH_PASSES_H
#define ETCH_PASSES_H

#include "../ir/ir.h"

/* Post-training int8 quantization, as asked for by a Module (see
 * quantize.c and docs/quantization.md). The samples are the calibration
 * set: samples[s * ninputs + i] is sample s of graph input i, of exactly
 * that input's type. */
typedef enum { QUANT_IO_FLOAT, QUANT_IO_INT8 } QuantIo;
typedef struct {
    int nsamples, ninputs;
    const Tensor *samples;
    /* 0 (or 100): each tensor's range is its min and max over the samples;
     * P in (50, 100): its (100-P)-th and P-th percentiles instead. */
    double percentile;
    QuantIo io;         /* graph inputs and outputs stay f32, or become i8 */
} QuantizeOpts;

/* How exp and tanh are computed (--math): libm's functions, or the
 * fast-math pass's polynomials with their documented bounds. */
typedef enum { MATH_EXACT, MATH_FAST } MathMode;

/* What the pipeline works on: the graph, and the Loop IR once lowered. */
typedef struct {
    Graph *graph;
    Program *prog;      /* NULL until the `lower` pass runs */
    const char *prefix; /* C identifier prefix for the program (default: graph name) */
    const Target *target; /* the machine the code is for; NULL: host */
    Rounding rounding;  /* requantization of the int8 kernels fold-qdq makes */
    const QuantizeOpts *quantize; /* NULL: the `quantize` pass does nothing */
    MathMode math;      /* MATH_EXACT: the `fast-math` pass does nothing */
} Module;

/* m->target, or the host when none was set. */
const Target *module_target(const Module *m);

/* ------------------------------------------------------------- pipeline.c */

/* Returns whether the pass changed anything; errors go to c->nerrors. */
typedef bool PassFn(Ctx *c, Module *m);

typedef enum { LEVEL_GRAPH, LEVEL_LOOP } PassLevel;

typedef struct {
    const char *name;
    PassFn *fn;
    PassLevel level;    /* which IR it works on, i.e. what --print-after shows */
} PassInfo;

typedef struct {
    const char **print_after;   /* pass names, or "all" */
    int nprint_after;
    const char **disabled;      /* --disable-pass=NAME */
    int ndisabled;
    FILE *dump;                 /* where --print-after goes (stdout) */
} PipelineOpts;

const PassInfo *pipeline_passes(int *count);
bool pipeline_has_pass(const char *name);
/* Runs every pass; false after any error (diagnostics printed). */
bool pipeline_run(Ctx *c, Module *m, const PipelineOpts *o);

/* Graph passes. */
bool pass_infer_shapes(Ctx *c, Module *m);
bool pass_dce(Ctx *c, Module *m);

/* ------------------------------------------------------------ quantize.c */

/* Rewrites a float graph into QDQ form from calibration ranges, when
 * m->quantize asks for it. */
bool pass_quantize(Ctx *c, Module *m);
/* Helpers for rewriting graph passes (graph_passes.c). A pass that
 * replaces value a by value b keeps rep[a] = b and applies the map to each
 * later node's inputs as it walks the nodes in order; graph outputs are
 * never replaced, so a node whose output is one keeps that node. */
/* uses[v] = how many input slots of live nodes read v (arena array). */
int *graph_use_counts(const Graph *g);
/* The same plus 2 for each graph output: a rewrite that wants a value read
 * once (uses[v] == 1) never takes one that must stay a value of its own. */
int *graph_use_counts_pinned(const Graph *g);
bool graph_is_output(const Graph *g, int v);
int *graph_identity_map(const Graph *g);     /* rep[v] = v */
void graph_apply_map(Node *n, const int *rep);
/* Some input or output of n carries quantization parameters. */
bool graph_node_quantized(const Graph *g, const Node *n);
/* Makes node a gemm (default attributes) when it is a float matmul of a
 * 2-D a by a constant 2-D b, without c or activation: the same product,
 * and the form whose weights layout and quantize arrange. *done says
 * whether it did; false after a diagnostic. */
bool graph_matmul_as_gemm(Ctx *c, Graph *g, int node, bool *done);

/* ---------------------------------------------------------- fold_const.c */

bool pass_fold_constants(Ctx *c, Module *m);

/* ----------------------------------------------------------------- cse.c */

bool pass_cse(Ctx *c, Module *m);

/* ------------------------------------------------------------- fold_bn.c */

bool pass_fold_batchnorm(Ctx *c, Module *m);

/* ----------------------------------------------------- fold_transpose.c */

bool pass_fold_transposes(Ctx *c, Module *m);

/* -------------------------------------------------------------- layout.c */

bool pass_layout(Ctx *c, Module *m);

/* ------------------------------------------------------------ fold_qdq.c */

bool pass_fold_qdq(Ctx *c, Module *m);
/* Every dequantize of constants (weights stored as integers) becomes a
 * float constant; for passes that want the float model. */
bool fold_dequantized_constants(Graph *g);

/* ---------------------------------------------------------------- fuse.c */

bool pass_fuse_activation(Ctx *c, Module *m);
bool pass_fuse_elementwise(Ctx *c, Module *m);

/* ------------------------------------------------------- fuse_residual.c */

bool pass_fuse_residual(Ctx *c, Module *m);

/* Lowering: Graph IR -> Loop IR (lower.c). */
bool pass_lower(Ctx *c, Module *m);
/* Loop passes. */
bool pass_plan_memory(Ctx *c, Module *m);

/* ----------------------------------------------------------- fast_math.c */

/* Expands f32 exp and tanh into Loop IR polynomials when m->math is
 * MATH_FAST (bounds in docs/fast-math.md). */
bool pass_fast_math(Ctx *c, Module *m);
/* The MathMode named "exact" or "fast", or -1. */
int math_mode_by_name(const char *name);

/* ---------------------------------------------------------------- lower.c */

/* State shared by the per-op lowerings. */
struct LowerCtx {
    Ctx *ctx;
    const Graph *g;
    Program *p;
    const Target *target; /* shapes the kernels: register blocking, loop order */
};

/* The buffer holding a graph value (created on first use). */
int lower_buf(LowerCtx *lc, int value);
/* A constant table a kernel owns (no graph value behind it), named after
 * `base` (made unique). */
int lower_table(Program *p, const char *base, DType dt, int64_t numel, const void *data);
/* A workspace buffer a node's kernels own (no graph value behind it), named
 * after `base` (made unique); the planner gives it the lifetime of the
 * kernels that touch it. */
int lower_scratch(Program *p, const char *base, DType dt, int64_t numel);
/* A new kernel for node n, named k<N>_<op>, its comment naming the op, the
 * source location and the shapes. */
Kernel *lower_kernel(LowerCtx *lc, const Node *n);
/* Linear index into a row-major tensor of type t from per-dim index exprs. */
Expr *lower_index(Program *p, const Type *t, Expr **idx);
/* Index into an input broadcast (numpy rules) to output type `out`, given
 * the output's per-dim index exprs: broadcast dims contribute nothing. */
Expr *lower_bcast_index(Program *p, const Type *in, const Type *out, Expr **out_idx);
/* Loop nest over every element of t, appended to `into`; the loop vars are
 * written to vars[0..rank) and the innermost body block is returned. */
Stmt *lower_nest(Program *p, Kernel *k, Stmt *into, const Type *t, int *vars);

/* A conv's fused residual (its 4th input, fuse-residual) as a buffer, or
 * -1 (lower_nn.c). */
int lower_conv_residual(LowerCtx *lc, const Node *n);
/* For conv forms that store each output once, reading r only there: y may
 * take r's place when r dies at k (Kernel.inplace_*) unless r is also the
 * conv's input x (lower_nn.c). */
void lower_conv_inplace(Kernel *k, int r, int x, int y);
/* 2-D conv (dilation 1) as register tiles of Loop IR vectors, on targets
 * with a vector unit (lower_conv_vec.c); false, with nothing emitted, where
 * no tile fits. */
bool lower_conv_vec(LowerCtx *lc, const Node *n, const Geom *gp);
/* The fused clamp (act_min/act_max) of a conv, gemm or matmul applied to v,
 * a vector or a scalar (lower_nn.c). */
Expr *lower_vact(Program *p, const Node *n, Expr *v);
/* gemm or matmul by a constant matrix as register-tiled vectors, on targets
 * with a vector unit (lower_mm.c); false, with nothing emitted, for any
 * other shape or target. */
bool lower_mm_vec(LowerCtx *lc, const Node *n);

/* Opens a loop of n iterations in `into` and returns its body; *var gets
 * the loop's index expression. An extent of 1 opens nothing. */
Stmt *lower_loop(Program *p, Kernel *k, Stmt *into, int64_t n, unsigned flags, Expr **var);
/* A loop over [a, b) by `step` with `flags`, or the constant a alone when
 * one step covers the range; returns the body, *var the index. */
Stmt *lower_step_loop(Program *p, Kernel *k, Stmt *into, int64_t a, int64_t b, int64_t step,
                      unsigned flags, Expr **var);
/* Every input and output of n is plain f32 (no quantization); else a
 * diagnostic naming the node and the value. For lowerings that compute in
 * f32 only: anything else is reported, not guessed. */
bool lower_check_f32(LowerCtx *lc, const Node *n);
/* dims[from] * ... * dims[to - 1] (1 for an empty range). */
int64_t lower_prod(const int64_t *dims, int from, int to);
/* The float local `l` = l op v. */
Stmt *lower_accumulate(Program *p, Kernel *k, int l, BinOp op, Expr *v);
static inline Expr *lower_add(Program *p, Expr *a, Expr *b) { return ex_bin(p, BIN_ADD, a, b); }
static inline Expr *lower_sub(Program *p, Expr *a, Expr *b) { return ex_bin(p, BIN_SUB, a, b); }
static inline Expr *lower_mul(Program *p, Expr *a, Expr *b) { return ex_bin(p, BIN_MUL, a, b); }
static inline Expr *lower_div(Program *p, Expr *a, Expr *b) { return ex_bin(p, BIN_DIV, a, b); }

/* ------------------------------------------------------------- lower_nn.c */

/* Shared with the int8 kernels (lower_q.c). */
/* Tap loops of a pool/conv window at output position o[], guarded so every
 * tap the returned body runs for is inside the input; tap[] and pos[] get
 * the tap and input indices. */
Stmt *lower_open_window(Program *p, Kernel *k, Stmt *into, const Geom *geo, Expr **o,
                        Expr **tap, Expr **pos);
/* Outputs a dot form computes together on target t (at most DOT_MAX_BLOCK). */
enum { DOT_MAX_BLOCK = 8 };
int lower_dot_block(const Target *t, int64_t cols);
/* The in-bounds taps [lo, hi) of output o in dim d (dilation 1); constants
 * when the window is `inside` the input. */
void lower_out_taps(Program *p, const Geom *geo, int d, Expr *o, bool inside, Expr **lo,
                    Expr **hi);
/* The output plane of a 2-D window op in 3 x 3 regions: rows[i..i+1) x
 * cols[j..j+1), the interior (every window inside the input) at i = j = 1,
 * the border around it; empty regions have equal bounds. */
void lower_plane_regions(const Geom *geo, int64_t rows[4], int64_t cols[4]);
/* Row-major linear index of idx[0..n) into dims[0..n). */
Expr *lower_flat_index(Program *p, int n, Expr **idx, const int64_t *dims);
/* The output loops of a pool over x [N, C, spatial...] (max/average pools,
 * qaverage_pool): one parallel loop over the N*C planes (a window never
 * crosses them), then one per output spatial dim. Returns the per-output
 * body; yi gets [plane, output position...], xi[0] the plane (the window's
 * loops, lower_open_window, give xi[1..] and tap), xdims/ydims the
 * [N*C, spatial...] extents for lower_flat_index. */
typedef struct {
    Expr *xi[IR_MAX_RANK], *yi[IR_MAX_RANK], *tap[IR_MAX_RANK];
    int64_t xdims[IR_MAX_RANK], ydims[IR_MAX_RANK];
} PoolNest;
Stmt *lower_pool_outputs(Program *p, Kernel *k, const Geom *geo, const Type *xt, PoolNest *pn);
/* A parallel loop over [a, b), or the constant a when b - a == 1. */
Stmt *lower_range_loop(Program *p, Kernel *k, Stmt *into, int64_t a, int64_t b, Expr **var);

/* --------------------------------------------------------- lower_eltwise.c */

/* A constant v of x's dtype (truncated toward zero for integer dtypes), for
 * expression templates that must type constants like their operand. */
Expr *lower_const_like(Program *p, const Expr *x, double v);
/* A conv's or gemm's fused `act`, if any, as a last loop of its last kernel. */
bool lower_act(LowerCtx *lc, const Node *n);

/* ------------------------------------------------------------------ plan.c */

/* Offsets for every BK_TEMP buffer in one workspace arena, from liveness
 * over the kernel schedule; sets workspace_size and workspace_lower_bound. */
typedef struct {
    int64_t arena_bytes;
    int64_t lower_bound;
} PlanStats;

#endif /* ETCH_PASSES_H */
