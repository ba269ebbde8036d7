/* passes.h: etch's internal interface for passes, lowering and the pipeline.
 *
 * A pass is a named function in one pipeline table; the driver runs them in
 * order, verifies the IR after each (when Ctx.verify), and prints after the
 * passes the user named. Passes never print on their own.
 */
#ifndef ETCH_PASSES_H
#define ETCH_PASSES_H

#include "../ir/ir.h"

/* What the pipeline works on: the graph, and the Loop IR once lowered. */
typedef struct {
    Graph *graph;
    Program *prog;      /* NULL until the `lower` pass runs */
    const char *prefix; /* C identifier prefix for the program (default: graph name) */
    const Target *target; /* the machine the code is for; NULL: host */
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

/* Helpers for rewriting graph passes (graph_passes.c). A pass that
 * replaces value a by value b keeps rep[a] = b and applies the map to each
 * later node's inputs as it walks the nodes in order; graph outputs are
 * never replaced, so a node whose output is one keeps that node. */
/* uses[v] = how many input slots of live nodes read v (arena array). */
int *graph_use_counts(const Graph *g);
bool graph_is_output(const Graph *g, int v);
int *graph_identity_map(const Graph *g);     /* rep[v] = v */
void graph_apply_map(Node *n, const int *rep);
/* Some input or output of n carries quantization parameters. */
bool graph_node_quantized(const Graph *g, const Node *n);

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

/* ---------------------------------------------------------------- fuse.c */

bool pass_fuse_activation(Ctx *c, Module *m);
/* Lowering: Graph IR -> Loop IR (lower.c). */
bool pass_lower(Ctx *c, Module *m);
/* Loop passes. */
bool pass_plan_memory(Ctx *c, Module *m);

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

/* Opens a loop of n iterations in `into` and returns its body; *var gets
 * the loop's index expression. An extent of 1 opens nothing. */
Stmt *lower_loop(Program *p, Kernel *k, Stmt *into, int64_t n, unsigned flags, Expr **var);
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

/* --------------------------------------------------------- lower_eltwise.c */

/* A constant v of x's dtype (truncated toward zero for integer dtypes), for
 * expression templates that must type constants like their operand. */
Expr *lower_const_like(Program *p, const Expr *x, double v);

/* ------------------------------------------------------------------ plan.c */

/* Offsets for every BK_TEMP buffer in one workspace arena, from liveness
 * over the kernel schedule; sets workspace_size and workspace_lower_bound. */
typedef struct {
    int64_t arena_bytes;
    int64_t lower_bound;
} PlanStats;

#endif /* ETCH_PASSES_H */
