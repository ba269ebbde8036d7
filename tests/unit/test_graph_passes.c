/* test_graph_passes.c: the rewriting graph passes on small graphs.
 *
 * Each test parses a graph, runs passes from the pipeline table (found by
 * name, so the table rows are tested too), verifies the IR after each,
 * checks the structure the pass should leave (live ops, folded constants),
 * and runs the interpreter on the graph before and after with the same
 * seeded inputs: a pass that moves or reuses values must agree exactly, one
 * that refolds float weights within rounding. The before/after dumps of
 * whole pipelines are golden files (tests/golden/ir/); the differential
 * test at the end runs a graph through the whole pipeline, loop_eval and
 * the emitted C against the interpreter on the unoptimized graph.
 */
#define _POSIX_C_SOURCE 200809L

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frontend/frontend.h"
#include "passes/passes.h"
#include "testutil.h"

/* ------------------------------------------------------------ harness */

typedef struct {
    Ctx *c;
    Graph *before, *g; /* the graph as parsed, and the one the pass rewrites */
    char *diag;
    size_t diaglen;
} Case;

/* The Case is heap-allocated: the diagnostics stream writes through
 * pointers into it. */
static Case *load(const char *text)
{
    Case *k = calloc(1, sizeof *k);
    k->c = ctx_new();
    k->c->err = open_memstream(&k->diag, &k->diaglen);
    k->before = fe_parse_string(k->c, "t.etch", text);
    k->g = fe_parse_string(k->c, "t.etch", text);
    fflush(k->c->err);
    cr_assert(k->before && k->g, "parse failed:\n%s", k->diag ? k->diag : "");
    return k;
}

static void done(Case *k)
{
    fclose(k->c->err);
    free(k->diag);
    ctx_free(k->c);
    free(k);
}

static const PassInfo *find_pass(const char *name)
{
    int n;
    const PassInfo *p = pipeline_passes(&n);
    for (int i = 0; i < n; i++)
        if (strcmp(p[i].name, name) == 0)
            return &p[i];
    cr_assert_fail("no pass '%s' in the pipeline", name);
    return NULL;
}

/* Runs the named passes in order on k->g, verifying after each. */
static bool run(Case *k, const char *const *names, int n)
{
    Module m = {.graph = k->g};
    bool changed = false;
    for (int i = 0; i < n; i++) {
        changed |= find_pass(names[i])->fn(k->c, &m);
        fflush(k->c->err);
        cr_assert_eq(k->c->nerrors, 0, "pass %s failed:\n%s", names[i], k->diag);
        cr_assert(ir_verify(k->c, k->g), "IR malformed after %s:\n%s", names[i], k->diag);
    }
    return changed;
}

static bool run1(Case *k, const char *name) { return run(k, &name, 1); }

static int live_ops(const Graph *g, int op)
{
    int n = 0;
    for (int i = 0; i < g->nnodes; i++)
        n += !g->nodes[i].dead && (op < 0 || g->nodes[i].op == op);
    return n;
}

static const Value *value(const Graph *g, const char *name)
{
    int v = ir_find_value(g, name);
    cr_assert(v >= 0, "no live value '%s'", name);
    return ir_value(g, v);
}

/* Interpreter before vs after on the same random inputs; rel 0: exact. */
static void same_results(Case *k, double rel)
{
    TuRng r;
    tu_rng_init(&r, tu_seed());
    const Graph *a = k->before, *b = k->g;
    cr_assert_eq(a->ninputs, b->ninputs);
    Tensor *in = arena_alloc(k->c->arena, (size_t)(a->ninputs + 1) * sizeof *in);
    for (int i = 0; i < a->ninputs; i++) {
        in[i].type = ir_value(a, a->inputs[i])->type;
        int64_t n = type_numel(&in[i].type);
        in[i].data = arena_alloc(k->c->arena, type_bytes(&in[i].type) + 1);
        cr_assert_eq(in[i].type.dtype, DT_F32);
        tu_fill(&r, in[i].data, n, TU_DATA_SIGNED);
    }
    Tensor *oa = arena_alloc(k->c->arena, (size_t)(a->noutputs + 1) * sizeof *oa);
    Tensor *ob = arena_alloc(k->c->arena, (size_t)(b->noutputs + 1) * sizeof *ob);
    cr_assert(interp_run(k->c, a, in, oa), "interp (before) failed");
    cr_assert(interp_run(k->c, b, in, ob), "interp (after) failed");
    cr_assert_eq(a->noutputs, b->noutputs);
    for (int o = 0; o < a->noutputs; o++) {
        cr_assert(type_equal(&oa[o].type, &ob[o].type), "output %d changed type", o);
        int64_t n = type_numel(&oa[o].type);
        if (rel == 0.0) {
            cr_assert(memcmp(oa[o].data, ob[o].data, type_bytes(&oa[o].type)) == 0,
                      "output %d ('%s') differs after the pass", o,
                      ir_value(a, a->outputs[o])->name);
        } else {
            double err;
            int64_t where;
            cr_assert(tu_close(ob[o].data, oa[o].data, n, rel, &err, &where),
                      "output %d differs at %lld by %g", o, (long long)where, err);
        }
    }
}

/* "[a, b, ...]" of n values i * step + base, for consts. */
static char *ramp(int64_t n, double step, double base)
{
    TuStr s = {0};
    tu_str_append(&s, "[");
    for (int64_t i = 0; i < n; i++)
        tu_str_printf(&s, "%s%g", i ? ", " : "", (double)((float)(i * step + base)));
    tu_str_append(&s, "]");
    return s.s;
}

/* ------------------------------------------------------- fold-constants */

Test(fold_constants, chain_over_constants_becomes_constants)
{
    Case *k = load("graph g {\n"
                  "  input x : f32[2, 3]\n"
                  "  const a : f32[2, 3] = [1, 2, 3, 4, 5, 6]\n"
                  "  const b : f32[3] = [0.5, 0.25, -2]\n"
                  "  const sh : i64[2] = [3, 2]\n"
                  "  s = softmax(sqrt(abs(sub(a, b))), axis = 1)\n"
                  "  c = cast(sh, to = \"f32\")\n"
                  "  y = add(mul(x, s), reshape(transpose(a), shape = [2, 3]))\n"
                  "  output y\n"
                  "  output c\n"
                  "}\n");
    cr_assert(run1(k, "fold-constants"));
    cr_expect_eq(live_ops(k->g, -1), 2, "only the mul and add that read x stay");
    cr_expect_eq(value(k->g, "s")->kind, VK_CONST, "s keeps its name as a constant");
    cr_expect_eq(value(k->g, "c")->kind, VK_CONST, "a graph output may become a constant");
    cr_expect(!run1(k, "fold-constants"), "a second run changes nothing");
    same_results(k, 0.0);
    done(k);
}

Test(fold_constants, size_rule)
{
    /* w is 64 KiB: its transpose replaces it (no growth) when nothing else
     * reads it, and stays a node when w must stay too. Expanding 4 bytes
     * to 16 KiB stays; to 32 bytes folds. */
    char *w = ramp(128 * 128, 0.001, -1);
    size_t len = 2 * strlen(w) + 2048;
    char *text = malloc(len);
    snprintf(text, len,
             "graph g {\n"
             "  input x : f32[1, 128]\n"
             "  const w : f32[128, 128] = %s\n"
             "  const v : f32[128, 128] = %s\n"
             "  const one : f32[1] = [1]\n"
             "  a = matmul(x, transpose(w))\n"
             "  b = matmul(x, transpose(v))\n"
             "  c = matmul(x, v)\n"
             "  big = expand(one, shape = [64, 64])\n"
             "  small = expand(one, shape = [4, 2])\n"
             "  output a, b, c, big, small\n"
             "}\n",
             w, w);
    Case *k = load(text);
    run1(k, "fold-constants");
    cr_expect_eq(live_ops(k->g, OP_TRANSPOSE), 1, "only the transpose of the shared v stays");
    cr_expect_eq(live_ops(k->g, OP_EXPAND), 1, "the 16 KiB expand stays");
    cr_expect_eq(value(k->g, "small")->kind, VK_CONST);
    cr_expect_eq(value(k->g, "big")->kind, VK_NODE);
    same_results(k, 0.0);
    done(k);
    free(text);
    free(w);
}

Test(fold_constants, leaves_quantize_and_dequantize)
{
    Case *k = load("graph g {\n"
                  "  input x : f32[3]\n"
                  "  const q : i8[3] = [-4, 0, 7]\n"
                  "  const s : f32[] = [0.5]\n"
                  "  const f : f32[3] = [0.5, 1, -3]\n"
                  "  const z : i8[] = [1]\n"
                  "  y = mul(x, dequantize_linear(q, s))\n"
                  "  r = dequantize_linear(quantize_linear(f, s, z), s, z)\n"
                  "  output y, r\n"
                  "}\n");
    cr_expect(!run1(k, "fold-constants"));
    cr_expect_eq(live_ops(k->g, OP_DEQUANTIZE_LINEAR), 2);
    cr_expect_eq(live_ops(k->g, OP_QUANTIZE_LINEAR), 1);
    done(k);
}

/* ------------------------------------------------------------------ cse */

Test(cse, merges_constants_and_nodes)
{
    Case *k = load("graph g {\n"
                  "  input x : f32[1, 4]\n"
                  "  const c1 : f32[4] = [1, 2, 3, 4]\n"
                  "  const c2 : f32[4] = [1, 2, 3, 4]\n"
                  "  const c3 : f32[4] = [1, 2, 3, 5]\n"
                  "  const i1 : i32[4] = [1, 2, 3, 4]\n"
                  "  a1 = add(x, c1)\n"
                  "  a2 = add(c2, x)\n"
                  "  a3 = sub(x, c1)\n"
                  "  a4 = sub(c1, x)\n"
                  "  s1 = softmax(relu(a1), axis = 1)\n"
                  "  s2 = softmax(relu(a2), axis = 1)\n"
                  "  s3 = softmax(relu(a2), axis = 0)\n"
                  "  m = mul(a3, a4)\n"
                  "  y = sum(s1, s2, s3, m)\n"
                  "  z = cast(i1, to = \"f32\")\n"
                  "  output y, z\n"
                  "}\n");
    cr_assert(run1(k, "cse"));
    cr_expect(value(k->g, "c1") && ir_find_value(k->g, "c2") < 0, "c2 merged into c1");
    cr_expect(ir_find_value(k->g, "i1") >= 0, "an i32 constant with the same numbers stays");
    cr_expect(ir_find_value(k->g, "c3") >= 0);
    cr_expect_eq(live_ops(k->g, OP_ADD), 1, "add(c2, x) is add(x, c1)");
    cr_expect_eq(live_ops(k->g, OP_SUB), 2, "sub is not commutative");
    cr_expect_eq(live_ops(k->g, OP_RELU), 1);
    cr_expect_eq(live_ops(k->g, OP_SOFTMAX), 2, "a different axis is a different node");
    cr_expect(!run1(k, "cse"), "a second run changes nothing");
    same_results(k, 0.0);
    done(k);
}

Test(cse, keeps_graph_outputs)
{
    Case *k = load("graph g {\n"
                  "  input x : f32[4]\n"
                  "  a = relu(x)\n"
                  "  b = relu(x)\n"
                  "  c = tanh(a)\n"
                  "  d = tanh(b)\n"
                  "  output b, c, d\n"
                  "}\n");
    run1(k, "cse");
    cr_expect_eq(live_ops(k->g, OP_RELU), 2, "b is an output: it keeps its node");
    cr_expect_eq(live_ops(k->g, OP_TANH), 2, "c and d read different values");
    same_results(k, 0.0);
    done(k);
}

/* ------------------------------------------------------- fold-batchnorm */

static const char *bn_params =
    "  const sc : f32[4] = [1.5, 0.5, -2, 1]\n"
    "  const sh : f32[4] = [0.1, -0.1, 0.3, 0]\n"
    "  const mu : f32[4] = [0.2, 0, -0.4, 1]\n"
    "  const var : f32[4] = [0.9, 1.1, 0.01, 4]\n";

Test(fold_batchnorm, conv_batchnorm_relu_is_one_conv)
{
    char *w = ramp(4 * 4 * 3 * 3, 0.013, -0.9), *dw = ramp(4 * 3 * 3, -0.05, 0.7);
    TuStr t = {0};
    tu_str_printf(&t,
                  "graph g {\n"
                  "  input x : f32[1, 4, 6, 6]\n"
                  "  const w : f32[4, 4, 3, 3] = %s\n"
                  "  const b : f32[4] = [0.5, -0.5, 0.25, 0]\n"
                  "  const dw : f32[4, 1, 3, 3] = %s\n"
                  "%s"
                  "  c = conv(x, w, b, pads = [1, 1, 1, 1])\n"
                  "  r = relu(batch_norm(c, sc, sh, mu, var, epsilon = 0.001))\n"
                  "  d = batch_norm(conv(r, dw, group = 4, strides = [2, 2]), sc, sh, mu, var)\n"
                  "  output d\n"
                  "}\n",
                  w, dw, bn_params);
    Case *k = load(t.s);
    const char *passes[] = {"fold-batchnorm", "fuse-activation", "dce"};
    cr_assert(run(k, passes, 3));
    cr_expect_eq(live_ops(k->g, OP_BATCH_NORM), 0);
    cr_expect_eq(live_ops(k->g, OP_RELU), 0, "the relu fused after the fold");
    cr_expect_eq(live_ops(k->g, -1), 2, "two convs");
    cr_expect(ir_find_value(k->g, "w") < 0, "the old weights died");
    same_results(k, 1e-5);
    done(k);
    free(t.s);
    free(w);
    free(dw);
}

Test(fold_batchnorm, scale_and_shift_chains)
{
    char *w = ramp(4 * 2 * 2 * 2, 0.07, -1);
    TuStr t = {0};
    tu_str_printf(&t,
                  "graph g {\n"
                  "  input x : f32[1, 2, 5, 5]\n"
                  "  const w : f32[4, 2, 2, 2] = %s\n"
                  "  const m : f32[4, 1, 1] = [2, -3, 0.5, 1]\n"
                  "  const k : f32[1, 4, 1, 1] = [0.5, 1, -1, 2]\n"
                  "  const s : f32[] = [0.25]\n"
                  "  const row : f32[1, 1, 1, 4] = [1, 2, 3, 4]\n"
                  "  a = sub(mul(k, add(mul(conv(x, w), m), k)), s)\n"
                  "  b = mul(conv(x, w), row)\n"
                  "  output a, b\n"
                  "}\n",
                  w);
    Case *k = load(t.s);
    run1(k, "fold-batchnorm");
    cr_expect_eq(live_ops(k->g, OP_MUL), 1, "only the per-column mul stays");
    cr_expect_eq(live_ops(k->g, OP_ADD) + live_ops(k->g, OP_SUB), 0);
    cr_expect_eq(live_ops(k->g, OP_CONV), 2);
    same_results(k, 1e-5);
    done(k);
    free(t.s);
    free(w);
}

Test(fold_batchnorm, gemm)
{
    char *b = ramp(6 * 4, 0.1, -1.2);
    TuStr t = {0};
    tu_str_printf(&t,
                  "graph g {\n"
                  "  input x : f32[3, 6]\n"
                  "  const b : f32[6, 4] = %s\n"
                  "  const bt : f32[4, 6] = %s\n"
                  "  const c : f32[4] = [1, 2, 3, 4]\n"
                  "  const cm : f32[3, 1] = [1, -1, 2]\n"
                  "%s"
                  "  y1 = batch_norm(gemm(x, b, c, beta = 0.5, alpha = 2), sc, sh, mu, var)\n"
                  "  y2 = batch_norm(gemm(x, bt, cm, trans_b = 1), sc, sh, mu, var)\n"
                  "  y3 = add(mul(gemm(x, b), c), c)\n"
                  "  output y1, y2, y3\n"
                  "}\n",
                  b, b, bn_params);
    Case *k = load(t.s);
    run1(k, "fold-batchnorm");
    cr_expect_eq(live_ops(k->g, -1), 3, "three gemms and nothing else");
    same_results(k, 1e-5);
    done(k);
    free(t.s);
    free(b);
}

Test(fold_batchnorm, leaves_shared_and_fused_producers)
{
    Case *k = load("graph g {\n"
                  "  input x : f32[1, 4, 2, 2]\n"
                  "  input wx : f32[4, 4, 1, 1]\n"
                  "  const w : f32[4, 4, 1, 1] = [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1]\n"
                  "  const sc : f32[4] = [1.5, 0.5, -2, 1]\n"
                  "  const sh : f32[4] = [0.1, -0.1, 0.3, 0]\n"
                  "  const mu : f32[4] = [0.2, 0, -0.4, 1]\n"
                  "  const var : f32[4] = [0.9, 1.1, 0.01, 4]\n"
                  "  c = conv(x, w)\n"
                  "  a = add(batch_norm(c, sc, sh, mu, var), c)\n"
                  "  b = batch_norm(conv(x, wx), sc, sh, mu, var)\n"
                  "  d = batch_norm(conv(x, w, act_min = 0), sc, sh, mu, var)\n"
                  "  e = batch_norm(x, sc, sh, mu, var)\n"
                  "  output a, b, d, e, c\n"
                  "}\n");
    cr_expect(!run1(k, "fold-batchnorm"));
    cr_expect_eq(live_ops(k->g, OP_BATCH_NORM), 4);
    done(k);
}

/* ------------------------------------------------------- fuse-residual */

/* ResNet's block: conv -> relu -> conv, + the block's input, relu. The add
 * becomes the second conv's residual (on either side), the relus its and
 * the first conv's activations; the values stay bit for bit. */
Test(fuse_residual, resnet_block)
{
    char *w1 = ramp(4 * 4 * 3 * 3, 0.011, -0.8), *w2 = ramp(4 * 4 * 3 * 3, -0.017, 0.6);
    TuStr t = {0};
    tu_str_printf(&t,
                  "graph g {\n"
                  "  input x : f32[1, 4, 5, 5]\n"
                  "  const w1 : f32[4, 4, 3, 3] = %s\n"
                  "  const w2 : f32[4, 4, 3, 3] = %s\n"
                  "  const b : f32[4] = [0.5, -0.5, 0.25, 0]\n"
                  "  a = relu(conv(x, w1, b, pads = [1, 1, 1, 1]))\n"
                  "  y = relu(add(a, conv(a, w2, pads = [1, 1, 1, 1])))\n"
                  "  z = add(conv(y, w1, b, pads = [1, 1, 1, 1]), x)\n"
                  "  output z\n"
                  "}\n",
                  w1, w2);
    Case *k = load(t.s);
    const char *passes[] = {"fuse-residual", "fuse-activation", "dce"};
    cr_assert(run(k, passes, 3));
    cr_expect_eq(live_ops(k->g, OP_ADD), 0, "both adds fused");
    cr_expect_eq(live_ops(k->g, OP_RELU), 0);
    int fused = 0;
    for (int i = 0; i < k->g->nnodes; i++) {
        const Node *n = &k->g->nodes[i];
        if (n->dead || n->op != OP_CONV || n->nin < 4)
            continue;
        fused++;
        const char *r = ir_value(k->g, n->in[3])->name;
        cr_expect(strcmp(r, "a") == 0 || strcmp(r, "x") == 0, "residual %s", r);
    }
    cr_expect_eq(fused, 2);
    same_results(k, 0.0);
    done(k);
    free(t.s);
    free(w1);
    free(w2);
}

/* Left alone: a conv output used twice, a conv with its activation before
 * the add, a residual that broadcasts, one computed after the conv, and the
 * conv's output added to itself. */
Test(fuse_residual, leaves_what_it_cannot_fuse)
{
    Case *k = load("graph g {\n"
                   "  input x : f32[1, 2, 3, 3]\n"
                   "  input s : f32[1, 2, 1, 1]\n"
                   "  const w : f32[2, 2, 1, 1] = [1, 0.5, -0.25, 2]\n"
                   "  c = conv(x, w)\n"
                   "  a = add(c, x)\n"
                   "  d = add(conv(x, w, act_min = 0), x)\n"
                   "  e = add(conv(x, w), s)\n"
                   "  f0 = conv(x, w)\n"
                   "  late = neg(x)\n"
                   "  f = add(f0, late)\n"
                   "  h0 = conv(x, w)\n"
                   "  h = add(h0, h0)\n"
                   "  output a, c, d, e, f, h\n"
                   "}\n");
    cr_expect(!run1(k, "fuse-residual"));
    cr_expect_eq(live_ops(k->g, OP_ADD), 5);
    done(k);
}

/* A dense layer as TF exports it (MatMul + bias Add + activation) over a
 * batch of sequences becomes one matmul node, bias as c; a residual (on
 * either side) the same, and a gemm's (its beta reset to 1); values stay
 * bit for bit. Left alone: a c that widens the product, a product read
 * twice, a matmul with its clamp already (the add comes after the clamp),
 * and a graph output. */
Test(fuse_residual, matmul_bias_and_activation)
{
    Case *k = load("graph g {\n"
                   "  input x : f32[2, 3, 4]\n"
                   "  input r : f32[3, 2]\n"
                   "  input m : f32[3, 4]\n"
                   "  const w : f32[4, 2] = [0.5, -1, 0.25, 2, -0.75, 1.5, 1, -0.5]\n"
                   "  const b : f32[2] = [0.125, -0.25]\n"
                   "  const wide : f32[5, 1, 1, 2] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]\n"
                   "  y = relu(add(matmul(x, w), b))\n"
                   "  z = tanh(add(r, matmul(neg(x), w)))\n"
                   "  v = add(matmul(abs(x), w), wide)\n"
                   "  t = matmul(exp(x), w)\n"
                   "  u = add(t, add(t, b))\n"
                   "  q = add(relu(matmul(sqrt(abs(x)), w)), b)\n"
                   "  o = matmul(floor(x), w)\n"
                   "  o2 = add(o, b)\n"
                   "  gm = relu(add(r, gemm(m, w, alpha = 0.5, beta = 3)))\n"
                   "  output y, z, v, u, q, o, o2, gm\n"
                   "}\n");
    const char *passes[] = {"fuse-residual", "fuse-activation", "dce"};
    cr_assert(run(k, passes, 3));
    cr_expect_eq(live_ops(k->g, OP_RELU), 0, "q's relu still folds, as a clamp");
    cr_expect_eq(live_ops(k->g, OP_TANH), 0);
    cr_expect_eq(live_ops(k->g, OP_ADD), 5, "v, u (2), q and o2 keep theirs");
    int fused = 0;
    for (int i = 0; i < k->g->nnodes; i++) {
        const Node *n = &k->g->nodes[i];
        if (n->dead || n->op != OP_MATMUL || n->nin < 3)
            continue;
        fused++;
        const char *c = ir_value(k->g, n->in[2])->name, *y = ir_value(k->g, n->out[0])->name;
        cr_expect((strcmp(y, "y") == 0 && strcmp(c, "b") == 0 && ir_attr_float(n, "act_min") == 0.0) ||
                      (strcmp(y, "z") == 0 && strcmp(c, "r") == 0 && strcmp(ir_attr_str(n, "act"), "tanh($0)") == 0),
                  "%s = matmul(..., %s)", y, c);
    }
    cr_expect_eq(fused, 2);
    const Node *gm = ir_node(k->g, ir_value(k->g, ir_find_value(k->g, "gm"))->producer);
    cr_expect(gm->op == OP_GEMM && gm->nin == 3 && strcmp(ir_value(k->g, gm->in[2])->name, "r") == 0);
    cr_expect(ir_attr_float(gm, "beta") == 1.0 && ir_attr_float(gm, "act_min") == 0.0);
    same_results(k, 0.0);
    done(k);
}

/* ------------------------------------------------------ fold-transposes */

/* Every pair of rank-3 perms: the composed transpose (or the dropped one)
 * computes the same values. */
Test(fold_transposes, every_pair_of_perms)
{
    static const int perms[6][3] = {{0, 1, 2}, {0, 2, 1}, {1, 0, 2},
                                    {1, 2, 0}, {2, 0, 1}, {2, 1, 0}};
    for (int i = 0; i < 6; i++)
        for (int j = 0; j < 6; j++) {
            char text[512];
            snprintf(text, sizeof text,
                     "graph g {\n"
                     "  input x : f32[2, 3, 4]\n"
                     "  t = transpose(x, perm = [%d, %d, %d])\n"
                     "  y = relu(transpose(t, perm = [%d, %d, %d]))\n"
                     "  output y\n"
                     "}\n",
                     perms[i][0], perms[i][1], perms[i][2], perms[j][0], perms[j][1],
                     perms[j][2]);
            Case *k = load(text);
            const char *passes[] = {"fold-transposes", "dce"};
            run(k, passes, 2);
            cr_expect_leq(live_ops(k->g, OP_TRANSPOSE), 1, "perms %d, %d", i, j);
            same_results(k, 0.0);
            done(k);
        }
}

Test(fold_transposes, reshape_chains_and_unit_dims)
{
    Case *k = load("graph g {\n"
                  "  input u : f32[1, 8, 4]\n"
                  "  v = transpose(u, perm = [1, 0, 2])\n"
                  "  w = transpose(u, perm = [2, 1, 0])\n"
                  "  r = unsqueeze(flatten(reshape(v, shape = [8, 4, 1]), axis = 1), axes = [0])\n"
                  "  s = squeeze(reshape(identity(r), shape = [1, 8, 4, 1]), axes = [3])\n"
                  "  y = add(s, u)\n"
                  "  z = reshape(w, shape = [32])\n"
                  "  output y, z\n"
                  "}\n");
    const char *passes[] = {"fold-transposes", "dce"};
    cr_assert(run(k, passes, 2));
    cr_expect_eq(live_ops(k->g, -1), 3, "the add, w and one reshape of it");
    cr_expect_eq(live_ops(k->g, OP_TRANSPOSE), 1, "w moves the 8 and 4: a real transpose");
    cr_expect_eq(live_ops(k->g, OP_RESHAPE), 1);
    same_results(k, 0.0);
    done(k);
}

Test(fold_transposes, keeps_graph_outputs)
{
    Case *k = load("graph g {\n"
                  "  input x : f32[2, 3]\n"
                  "  t = transpose(transpose(x))\n"
                  "  i = identity(x)\n"
                  "  r = reshape(x, shape = [2, 3])\n"
                  "  output t, i, r\n"
                  "}\n");
    const char *passes[] = {"fold-transposes", "dce"};
    run(k, passes, 2);
    cr_expect_eq(live_ops(k->g, -1), 3, "each output keeps a node (a copy)");
    same_results(k, 0.0);
    done(k);
}

/* --------------------------------------------- the pipeline, end to end */

/* Graphs every new pass rewrites, through the whole pipeline, loop_eval and
 * the emitted C, against the interpreter on the graph as written. */
/* ----------------------------------------------------- fuse-elementwise */

static const char *fuse_ew_graph =
    "graph g {\n"
    "  input x : f32[2, 3]\n"
    "  input b : f32[3]\n"
    "  input s : f32[2, 1]\n"
    "  input v : f32[2, 1]\n"
    "  d = sub(mul(add(x, b), s), x)\n"
    "  y1 = tanh(mul(d, d))\n"
    "  kept = exp(neg(x))\n"
    "  y2 = add(kept, b)\n"
    "  shared = sigmoid(x)\n"
    "  y3 = relu(mul(shared, s))\n"
    "  y4 = reduce_sum(shared, axes = [1])\n"
    "  n = sqrt(add(v, s))\n"
    "  y5 = div(x, n)\n"
    "  q = quantize_linear(dequantize_linear(quantize_linear(x, b), b), b)\n"
    "  output y1, kept, y2, y3, y4, y5, q\n"
    "}\n";

static int producer_op(const Graph *g, const char *name)
{
    const Value *v = value(g, name);
    cr_assert_eq(v->kind, VK_NODE, "'%s' is not a node's", name);
    return g->nodes[v->producer].op;
}

/* What becomes one node and what stays: a graph output ends a chain, a
 * value read outside the chain stays, a smaller value is a chain of its
 * own, quantize/dequantize are left to fold-qdq; the values are the same
 * bits. */
Test(fuse_elementwise, chains_and_what_stays)
{
    Case *k = load(fuse_ew_graph);
    cr_expect(run1(k, "fuse-elementwise"));
    cr_expect_eq(producer_op(k->g, "y1"), OP_FUSED);
    cr_expect_str_eq(ir_attr_str(&k->g->nodes[value(k->g, "y1")->producer], "expr"),
                     "%0 = sub(mul(add($0, $1), $2), $0); tanh(mul(%0, %0))");
    cr_expect_eq(producer_op(k->g, "kept"), OP_FUSED);
    cr_expect_eq(producer_op(k->g, "y2"), OP_ADD);
    cr_expect_eq(producer_op(k->g, "shared"), OP_SIGMOID);
    cr_expect_eq(producer_op(k->g, "y3"), OP_FUSED);
    cr_expect_eq(producer_op(k->g, "n"), OP_FUSED);
    cr_expect_eq(producer_op(k->g, "y5"), OP_DIV);
    cr_expect_eq(live_ops(k->g, OP_QUANTIZE_LINEAR), 2);
    cr_expect_eq(live_ops(k->g, OP_FUSED), 4);
    cr_expect_eq(ir_find_value(k->g, "d"), -1, "d should be inside y1's node");
    cr_expect(!run1(k, "fuse-elementwise"), "a second run changed the graph");
    same_results(k, 0.0);
    done(k);
}

/* A fused graph prints, parses back and prints the same, and interprets
 * as the unfused graph did. */
Test(fuse_elementwise, dump_parses_back)
{
    Case *k = load(fuse_ew_graph);
    run1(k, "fuse-elementwise");
    char *first = NULL, *second = NULL;
    size_t n1 = 0, n2 = 0;
    FILE *f = open_memstream(&first, &n1);
    ir_print_graph(f, k->g);
    fclose(f);
    Graph *back = fe_parse_string(k->c, "back.etch", first);
    fflush(k->c->err);
    cr_assert(back, "the dump does not parse:\n%s\n%s", k->diag ? k->diag : "", first);
    f = open_memstream(&second, &n2);
    ir_print_graph(f, back);
    fclose(f);
    cr_expect_str_eq(second, first);
    k->g = back;
    same_results(k, 0.0);
    free(first);
    free(second);
    done(k);
}

/* Fewer kernels and temporaries once chains are fused, and a smaller
 * workspace. */
Test(fuse_elementwise, planner_sees_fewer_buffers)
{
    const char *text = "graph g {\n"
                       "  input x : f32[64, 64]\n"
                       "  input b : f32[64]\n"
                       "  m = reduce_mean(x, axes = [1])\n"
                       "  d = sub(x, m)\n"
                       "  var = reduce_mean(mul(d, d), axes = [1])\n"
                       "  y = add(mul(div(d, sqrt(add(var, b))), b), b)\n"
                       "  output y\n"
                       "}\n";
    int kernels[2], temps[2];
    int64_t ws[2];
    for (int on = 0; on < 2; on++) {
        Case *k = load(text);
        const char *off[] = {"fuse-elementwise"};
        PipelineOpts o = {.disabled = off, .ndisabled = on ? 0 : 1};
        Module m = {.graph = k->g};
        cr_assert(pipeline_run(k->c, &m, &o));
        kernels[on] = m.prog->nkernels;
        temps[on] = 0;
        for (int b = 0; b < m.prog->nbufs; b++)
            temps[on] += m.prog->bufs[b].kind == BK_TEMP;
        ws[on] = m.prog->workspace_size;
        done(k);
    }
    /* Unfused: reduce_mean, sub, mul, reduce_mean, add, sqrt, div, mul,
     * add, with a temporary for each but y. Fused: d is read by mul(d, d)
     * and by div, so it stays, and mul(d, d) is a lone op before a reduce;
     * add, sqrt, div, mul, add are one kernel. */
    cr_expect_eq(kernels[0], 9);
    cr_expect_eq(kernels[1], 5);
    cr_expect_eq(temps[0], 8);
    cr_expect_eq(temps[1], 4);
    cr_expect_lt(ws[1], ws[0], "workspace %lld -> %lld", (long long)ws[0], (long long)ws[1]);
}

/* The graph text `fmt` with `bad` in it must not parse, with a diagnostic
 * at its line 4 (where the tests put the node). */
static void expect_rejected_at_line4(const char *fmt, const char *bad)
{
    TuStr t = {0};
    tu_str_printf(&t, fmt, bad);
    Ctx *c = ctx_new();
    char *diag = NULL;
    size_t len = 0;
    c->err = open_memstream(&diag, &len);
    Graph *g = fe_parse_string(c, "bad.etch", t.s);
    fclose(c->err);
    cr_expect(!g && c->nerrors > 0, "\"%s\" was accepted", bad);
    cr_expect(strstr(diag, "bad.etch:4:") != NULL, "no location for \"%s\":\n%s", bad, diag);
    free(diag);
    ctx_free(c);
    free(t.s);
}

/* A malformed expr is a diagnostic at the node, never a crash. */
Test(fuse_elementwise, bad_exprs_are_diagnosed)
{
    static const char *const bad[] = {
        "relu($0",
        "nosuch($0)",
        "conv($0, $0)",
        "relu($2)",
        "neg(%0)",
        "%1 = relu($0); neg(%1)",
        "relu($0) neg($0)",
        "clip($0, min = )",
        "clip($0, min = 0, $0)",
        "add($0, $0, $0)",
        "relu($0, alpha = 1)",
        "",
        "cast($0, to = \\\"i32\\\")",
        "%0 = add($0, $1); neg($0)",
        "fused($0, expr = relu)",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_rejected_at_line4("graph g {\n  input x : f32[3]\n  input w : f32[2, 3]\n"
                                 "  y = fused(x, w, expr = \"%s\")\n  output y\n}\n",
                                 bad[i]);
}

/* Unary activations become the conv's or gemm's `act`, after its clamp: a
 * relu then a sigmoid fold both, a sigmoid then a relu only the sigmoid; a
 * leaky_relu whose input is also read elsewhere stays; the interpreter's
 * values are the same bits (test_diff holds the compiled forms to it). */
Test(fuse_activation, unary_activations_become_act)
{
    char *w = ramp(4 * 2 * 3 * 3, 0.037, -0.9), *g = ramp(36 * 3, -0.021, 0.7);
    TuStr t = {0};
    tu_str_printf(&t,
                  "graph g {\n"
                  "  input x : f32[1, 2, 3, 3]\n"
                  "  const w : f32[4, 2, 3, 3] = %s\n"
                  "  const g : f32[36, 3] = %s\n"
                  "  a = sigmoid(relu(conv(x, w, pads = [1, 1, 1, 1])))\n"
                  "  b = relu(tanh(conv(a, w, group = 2, pads = [1, 1, 1, 1])))\n"
                  "  f = flatten(b)\n"
                  "  c = gelu(gemm(f, g))\n"
                  "  shared = gemm(f, g, alpha = 0.5)\n"
                  "  d = add(leaky_relu(shared, alpha = 0.2), shared)\n"
                  "  output c, d\n"
                  "}\n",
                  w, g);
    Case *k = load(t.s);
    const char *passes[] = {"fuse-activation", "dce"};
    cr_assert(run(k, passes, 2));
    const Node *a = &k->g->nodes[value(k->g, "a")->producer];
    cr_expect_eq(a->op, OP_CONV);
    cr_expect_eq(ir_attr_float(a, "act_min"), 0.0);
    cr_expect_str_eq(ir_attr_str(a, "act"), "sigmoid($0)");
    cr_expect_eq(producer_op(k->g, "b"), OP_RELU, "a relu after an act stays");
    const Node *relu = &k->g->nodes[value(k->g, "b")->producer];
    cr_expect_str_eq(ir_attr_str(&k->g->nodes[ir_value(k->g, relu->in[0])->producer], "act"), "tanh($0)");
    const Node *c = &k->g->nodes[value(k->g, "c")->producer];
    cr_expect_eq(c->op, OP_GEMM);
    cr_expect_str_eq(ir_attr_str(c, "act"), "gelu($0)");
    cr_expect_eq(live_ops(k->g, OP_LEAKY_RELU), 1, "shared is read twice");
    cr_expect(!run1(k, "fuse-activation"), "a second run changed the graph");
    same_results(k, 0.0);
    done(k);
    free(t.s);
    free(w);
    free(g);
}

/* An act that does not parse, or changes the type, is a diagnostic at the
 * node. */
Test(fuse_activation, bad_acts_are_diagnosed)
{
    static const char *const bad[] = {"sigmoid($0", "sigmoid($1)", "cast($0, to = i32)", "nosuch($0)"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_rejected_at_line4("graph g {\n  input x : f32[2, 3]\n"
                                 "  const w : f32[3, 2] = [1, 2, 3, 4, 5, 6]\n"
                                 "  y = gemm(x, w, act = \"%s\")\n  output y\n}\n",
                                 bad[i]);
}

Test(graph_passes, pipeline_matches_unoptimized_interpreter, .timeout = 120)
{
    char *w = ramp(4 * 3 * 3 * 3, 0.021, -0.8), *g = ramp(16 * 10, -0.003, 0.4);
    char *w3 = ramp(4 * 3 * 3 * 3, -0.017, 0.6);
    TuStr t = {0};
    tu_str_printf(&t,
                  "graph passes_e2e {\n"
                  "  input x : f32[1, 6, 6, 3]\n"
                  "  const w : f32[4, 3, 3, 3] = %s\n"
                  "  const w2 : f32[4, 3, 3, 3] = %s\n"
                  "  const w3 : f32[4, 3, 3, 3] = %s\n"
                  "  const g : f32[16, 10] = %s\n"
                  "%s"
                  "  const k : f32[4, 1, 1] = [2, -3, 0.5, 1]\n"
                  "  const e : f32[10] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]\n"
                  "  xt = transpose(x, perm = [0, 3, 1, 2])\n"
                  "  c = relu(batch_norm(conv(xt, w, strides = [2, 2]), sc, sh, mu, var))\n"
                  "  c2 = relu(batch_norm(conv(xt, w2, strides = [2, 2]), sc, sh, mu, var))\n"
                  "  d = add(mul(conv(xt, w3, strides = [2, 2]), k), k)\n"
                  "  s = add(add(d, c2), c)\n"
                  "  back = transpose(transpose(s, perm = [0, 2, 3, 1]), perm = [0, 3, 1, 2])\n"
                  "  f = flatten(back)\n"
                  "  y = softmax(batch_norm(gemm(f, g), sqrt(add(e, e)), e, e, add(e, e)))\n"
                  "  output y\n"
                  "}\n",
                  w, w, w3, g, bn_params);
    TuRng r;
    tu_rng_init(&r, tu_seed());
    TuStr report = {0};
    char *dir = tu_mkdtemp("gpasses");
    bool ok = tu_diff_graph(t.s, &r, NULL, 1e-5, dir, &report);
    tu_rmtree(dir);
    cr_expect(ok, "%s", report.s ? report.s : "");
    free(report.s);
    free(dir);
    free(t.s);
    free(w);
    free(w3);
    free(g);
}
