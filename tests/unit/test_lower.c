/* test_lower.c: the lower pass and the Loop IR interpreter.
 *
 * Suite `lower`: small graphs built with the builder API are lowered with
 * pass_lower; buffer names and kinds are checked, then loop_eval runs the
 * program and its outputs are compared with the reference interpreter on
 * random shapes and random data (seed printed on failure, ETCH_SEED to
 * replay). Outputs start as NaN and the workspace as NaN bytes, so an
 * element never written or a temp read before it is written fails.
 * Suite `loop_eval`: hand-built programs with known results.
 */
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "passes/passes.h"
#include "testutil.h"

/* ------------------------------------------------------------ harness */

typedef struct {
    Ctx *c;
    Graph *g;
} Case;

static Case new_case(const char *name)
{
    Case k;
    k.c = ctx_new();
    k.g = ir_new_graph(k.c->arena, name);
    return k;
}

static Type f32_type(int rank, const int64_t *dims)
{
    return type_make(DT_F32, rank, dims);
}

static int input(Case *k, const char *name, int rank, const int64_t *dims)
{
    int v = ir_add_input(k->c, k->g, name, f32_type(rank, dims), (Loc){0});
    cr_assert_geq(v, 0);
    return v;
}

static int node_begin(Case *k, const char *op, const int *in, int nin)
{
    int o = op_by_name(op);
    cr_assert_geq(o, 0, "no op %s", op);
    return ir_new_node(k->c, k->g, o, in, nin, 1, (Loc){"t.etch", 3, 5});
}

static int node_end(Case *k, int node)
{
    cr_assert(ir_finish_node(k->c, k->g, node), "inference failed for %s",
              op_info(k->g->nodes[node].op)->name);
    return k->g->nodes[node].out[0];
}

static int node(Case *k, const char *op, const int *in, int nin)
{
    return node_end(k, node_begin(k, op, in, nin));
}

static void attr_int(Case *k, int nd, const char *name, int64_t v)
{
    Attr a = {.type = AT_INT, .i = v};
    cr_assert(ir_set_attr(k->c, k->g, nd, name, &a, (Loc){0}));
}

static void attr_float(Case *k, int nd, const char *name, double v)
{
    Attr a = {.type = AT_FLOAT, .f = v};
    cr_assert(ir_set_attr(k->c, k->g, nd, name, &a, (Loc){0}));
}

static void attr_str(Case *k, int nd, const char *name, const char *v)
{
    Attr a = {.type = AT_STR, .s = v};
    cr_assert(ir_set_attr(k->c, k->g, nd, name, &a, (Loc){0}));
}

static void attr_ints(Case *k, int nd, const char *name, const int64_t *v, int n)
{
    int64_t *copy = arena_memdup(k->c->arena, v, (size_t)(n ? n : 1) * sizeof *v);
    Attr a = {.type = AT_INTS, .n = n, .ints = copy};
    cr_assert(ir_set_attr(k->c, k->g, nd, name, &a, (Loc){0}));
}

static void output(Case *k, int v)
{
    cr_assert(ir_add_output(k->c, k->g, v, (Loc){0}));
}

/* Without the planner, temps are laid out end to end, 16-byte aligned. */
static void layout_temps(Program *p)
{
    if (p->workspace_size)
        return;
    int64_t off = 0;
    for (int i = 0; i < p->nbufs; i++) {
        Buffer *b = &p->bufs[i];
        if (b->kind != BK_TEMP)
            continue;
        b->offset = off;
        off += (b->numel * (int64_t)dtype_size(b->dtype) + 15) / 16 * 16;
    }
    p->workspace_size = off;
}

static Program *lower(Case *k)
{
    Module m = {.graph = k->g};
    cr_assert(pass_lower(k->c, &m), "pass_lower failed");
    cr_assert_eq(k->c->nerrors, 0);
    cr_assert_not_null(m.prog);
    layout_temps(m.prog);
    return m.prog;
}

static void dump_program(const Program *p)
{
    fprintf(stderr, "--- program (seed %llu)\n", (unsigned long long)tu_seed());
    loop_print_program(stderr, p);
}

/* Lowers the case and runs it through loop_eval and interp_run on random
 * inputs (input i filled as kinds[i], default signed); compares outputs. */
static void check_case(Case *k, TuRng *r, const TuData *kinds)
{
    Graph *g = k->g;
    Program *p = lower(k);
    Tensor ins[8], ref[8];
    const void *lin[8];
    void *lout[8];
    cr_assert_leq(g->ninputs, 8);
    cr_assert_leq(g->noutputs, 8);
    for (int i = 0; i < g->ninputs; i++) {
        const Type *t = &g->values[g->inputs[i]].type;
        int64_t n = type_numel(t);
        float *x = arena_alloc(k->c->arena, (size_t)(n ? n : 1) * sizeof *x);
        tu_fill(r, x, n, kinds ? kinds[i] : TU_DATA_SIGNED);
        ins[i] = (Tensor){.type = *t, .data = x};
        lin[i] = x;
    }
    cr_assert(interp_run(k->c, g, ins, ref), "interp_run failed");
    for (int i = 0; i < g->noutputs; i++) {
        int64_t n = type_numel(&g->values[g->outputs[i]].type);
        float *y = arena_alloc(k->c->arena, (size_t)(n ? n : 1) * sizeof *y);
        for (int64_t j = 0; j < n; j++)
            y[j] = NAN;
        lout[i] = y;
    }
    size_t wsize = (size_t)(p->workspace_size + 15) / 16 * 16 + 16;
    void *ws = aligned_alloc(16, wsize);
    cr_assert_not_null(ws);
    memset(ws, 0xff, wsize);
    bool ok = loop_eval(p, lin, lout, ws);
    free(ws);
    if (!ok)
        dump_program(p);
    cr_assert(ok, "loop_eval failed (seed %llu)", (unsigned long long)tu_seed());
    for (int i = 0; i < g->noutputs; i++) {
        const Type *t = &g->values[g->outputs[i]].type;
        double err;
        int64_t where;
        bool close = tu_close(lout[i], ref[i].data, type_numel(t), 1e-5, &err, &where);
        if (!close) {
            dump_program(p);
            fprintf(stderr, "output %d at %lld: got %g, expected %g\n", i, (long long)where,
                    (double)((float *)lout[i])[where], (double)((float *)ref[i].data)[where]);
        }
        cr_assert(close, "output %d differs: max abs err %g at %lld (seed %llu)", i, err,
                  (long long)where, (unsigned long long)tu_seed());
    }
}

static void free_case(Case *k)
{
    ctx_free(k->c);
}

static void random_shape(TuRng *r, int rank, int64_t *dims, int maxdim)
{
    for (int d = 0; d < rank; d++)
        dims[d] = tu_rng_int(r, 1, maxdim);
}

/* ------------------------------------------------------- lower: naming */

Test(lower, buffer_names_and_kinds)
{
    Case k = new_case("my-model");
    int64_t d23[] = {2, 3}, d3[] = {3};
    int x = input(&k, "x.in", 2, d23);
    int ws = input(&k, "ws", 1, d3);
    int dig = input(&k, "1st", 1, d3);
    float wdata[3] = {0.5f, -1.0f, 2.0f};
    int w = ir_add_const(k.c, k.g, "bias", f32_type(1, d3), wdata, (Loc){0});
    int unused = ir_add_const(k.c, k.g, "unused", f32_type(1, d3), wdata, (Loc){0});
    (void)unused;
    int a = node(&k, "add", (int[]){x, w}, 2);
    int b = node(&k, "mul", (int[]){a, ws}, 2);
    int c = node(&k, "sub", (int[]){b, dig}, 2);
    cr_assert(ir_rename_value(k.c, k.g, c, "float", (Loc){0}));
    int e = node(&k, "relu", (int[]){a}, 1);
    cr_assert(ir_rename_value(k.c, k.g, e, "k0_relu", (Loc){0}));
    output(&k, c);
    output(&k, e);
    Program *p = lower(&k);

    cr_expect_str_eq(p->name, "my_model");
    cr_assert_eq(p->ninputs, 3);
    cr_assert_eq(p->noutputs, 2);
    const char *in_names[] = {"x_in", "v_ws", "v_1st"};
    for (int i = 0; i < 3; i++) {
        const Buffer *bf = &p->bufs[p->inputs[i]];
        cr_expect_str_eq(bf->name, in_names[i]);
        cr_expect_eq(bf->kind, BK_INPUT);
        cr_expect_eq(bf->index, i);
        cr_expect_eq(p->value_buf[k.g->inputs[i]], p->inputs[i]);
    }
    const Buffer *o0 = &p->bufs[p->outputs[0]], *o1 = &p->bufs[p->outputs[1]];
    cr_expect_str_eq(o0->name, "v_float");
    cr_expect_str_eq(o1->name, "v_k0_relu");
    cr_expect_eq(o0->kind, BK_OUTPUT);
    cr_expect_eq(o1->index, 1);
    cr_expect_eq(p->value_buf[c], p->outputs[0]);

    int wb = p->value_buf[w];
    cr_assert_geq(wb, 0);
    cr_expect_eq(p->bufs[wb].kind, BK_CONST);
    cr_expect_eq(p->bufs[wb].data, wdata);
    cr_expect_str_eq(p->bufs[wb].name, arena_printf(k.c->arena, "w%d", w));
    cr_expect_eq(p->value_buf[unused], -1, "an unused const gets no buffer");
    int tb = p->value_buf[a];
    cr_expect_eq(p->bufs[tb].kind, BK_TEMP);
    cr_expect_str_eq(p->bufs[tb].name, arena_printf(k.c->arena, "t%d", a));
    cr_expect_eq(p->bufs[tb].numel, 6);

    for (int i = 0; i < p->nbufs; i++)
        for (int j = i + 1; j < p->nbufs; j++)
            cr_expect_str_neq(p->bufs[i].name, p->bufs[j].name);

    cr_assert_eq(p->nkernels, 4);
    cr_expect_str_eq(p->kernels[0].name, "k0_add");
    cr_expect_str_eq(p->kernels[3].name, "k3_relu");
    cr_expect_eq(p->kernels[0].node, k.g->values[a].producer);
    char *want = arena_printf(k.c->arena, "add '%s' at t.etch:3:5: f32[2, 3], f32[3] -> f32[2, 3]",
                              k.g->values[a].name);
    cr_expect_str_eq(p->kernels[0].comment, want);
    free_case(&k);
}

Test(lower, prefix_from_module)
{
    Case k = new_case("g");
    int64_t d[] = {4};
    int x = input(&k, "x", 1, d);
    output(&k, node(&k, "neg", (int[]){x}, 1));
    Module m = {.graph = k.g, .prefix = "2-net"};
    cr_assert(pass_lower(k.c, &m));
    cr_expect_str_eq(m.prog->name, "v_2_net");
    free_case(&k);
}

Test(lower, outputs_not_made_by_nodes_are_copied)
{
    TuRng r;
    tu_rng_init(&r, tu_seed());
    Case k = new_case("passthru");
    int64_t d[] = {3, 4};
    int x = input(&k, "x", 2, d);
    float *cdata = arena_alloc(k.c->arena, 12 * sizeof *cdata);
    tu_fill(&r, cdata, 12, TU_DATA_SIGNED);
    int w = ir_add_const(k.c, k.g, "c", f32_type(2, d), cdata, (Loc){0});
    output(&k, x);
    output(&k, w);
    output(&k, node(&k, "add", (int[]){x, w}, 2));
    check_case(&k, &r, NULL);
    Program *p = lower(&k);
    cr_expect_eq(p->bufs[p->outputs[0]].kind, BK_OUTPUT);
    cr_expect_str_eq(p->bufs[p->outputs[0]].name, "x_1");
    cr_expect_str_eq(p->bufs[p->outputs[1]].name, "c");
    cr_expect_eq(p->nkernels, 3);
    free_case(&k);
}

Test(lower, rejects_tensors_of_2_to_the_31_elements)
{
    Case k = new_case("huge");
    FILE *err = tmpfile();
    cr_assert_not_null(err);
    k.c->err = err;
    int64_t d[] = {65536, 32768};
    int x = input(&k, "big", 2, d);
    output(&k, node(&k, "relu", (int[]){x}, 1));
    Module m = {.graph = k.g};
    cr_expect_not(pass_lower(k.c, &m));
    cr_expect_gt(k.c->nerrors, 0);
    char text[1024] = "";
    rewind(err);
    size_t len = fread(text, 1, sizeof text - 1, err);
    text[len] = '\0';
    fclose(err);
    cr_expect(strstr(text, "'big'") && strstr(text, "2147483648"), "message was: %s", text);
    free_case(&k);
}

/* --------------------------------------------------- lower: elementwise */

Test(lower, unary_ops_match_reference)
{
    TuRng r;
    tu_rng_init(&r, tu_seed());
    static const struct {
        const char *op;
        TuData data;
    } ops[] = {
        {"relu", TU_DATA_SIGNED}, {"sigmoid", TU_DATA_SIGNED}, {"tanh", TU_DATA_SIGNED},
        {"gelu", TU_DATA_SIGNED}, {"exp", TU_DATA_SIGNED}, {"log", TU_DATA_POSITIVE},
        {"sqrt", TU_DATA_POSITIVE}, {"neg", TU_DATA_SIGNED}, {"abs", TU_DATA_SIGNED},
        {"identity", TU_DATA_SIGNED}, {"leaky_relu", TU_DATA_SIGNED}, {"clip", TU_DATA_SIGNED},
    };
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        for (int variant = 0; variant < 3; variant++) {
            Case k = new_case("unary");
            int64_t dims[4];
            int rank = tu_rng_int(&r, 0, 4);
            random_shape(&r, rank, dims, 5);
            int x = input(&k, "x", rank, dims);
            int nd = node_begin(&k, ops[i].op, &x, 1);
            if (strcmp(ops[i].op, "gelu") == 0 && variant == 1)
                attr_str(&k, nd, "approximate", "tanh");
            if (strcmp(ops[i].op, "leaky_relu") == 0 && variant > 0)
                attr_float(&k, nd, "alpha", tu_rng_float(&r, 0.05f, 0.5f));
            if (strcmp(ops[i].op, "clip") == 0) {
                /* variant 0: both defaults (no clamping at all). */
                if (variant >= 1)
                    attr_float(&k, nd, "min", tu_rng_float(&r, -1.5f, 0.0f));
                if (variant == 2)
                    attr_float(&k, nd, "max", tu_rng_float(&r, 0.0f, 1.5f));
            }
            output(&k, node_end(&k, nd));
            check_case(&k, &r, (TuData[]){ops[i].data});
            free_case(&k);
        }
    }
}

Test(lower, clip_skips_infinite_bounds)
{
    Case k = new_case("clip");
    int64_t d[] = {4};
    int x = input(&k, "x", 1, d);
    int nd = node_begin(&k, "clip", &x, 1);
    attr_float(&k, nd, "max", 6);
    output(&k, node_end(&k, nd));
    Program *p = lower(&k);
    const Stmt *loop = p->kernels[0].body->items[0];
    const Expr *val = loop->body->items[0]->val;
    cr_assert_eq(val->kind, EX_BIN);
    cr_expect_eq(val->op, BIN_MIN, "only the finite max bound is applied");
    cr_expect_eq(val->a->kind, EX_LOAD);
    free_case(&k);
}

static void check_binary(TuRng *r, const char *op, int ra, const int64_t *da, int rb,
                         const int64_t *db)
{
    Case k = new_case("binary");
    int a = input(&k, "a", ra, da);
    int b = input(&k, "b", rb, db);
    output(&k, node(&k, op, (int[]){a, b}, 2));
    TuData kinds[2] = {TU_DATA_SIGNED, strcmp(op, "div") == 0 ? TU_DATA_AWAY : TU_DATA_SIGNED};
    check_case(&k, r, kinds);
    free_case(&k);
}

Test(lower, binary_ops_broadcast)
{
    TuRng r;
    tu_rng_init(&r, tu_seed());
    const char *ops[] = {"add", "sub", "mul", "div"};
    int64_t d23[] = {2, 3}, d3[] = {3}, d415[] = {4, 1, 5}, d131[] = {1, 3, 1};
    for (int i = 0; i < 4; i++) {
        check_binary(&r, ops[i], 2, d23, 1, d3);
        check_binary(&r, ops[i], 1, d3, 2, d23);
        check_binary(&r, ops[i], 3, d415, 3, d131);
        check_binary(&r, ops[i], 0, NULL, 3, d415);
        check_binary(&r, ops[i], 3, d131, 0, NULL);
        check_binary(&r, ops[i], 0, NULL, 0, NULL);
    }
    /* Random shapes: b drops leading dims of a and sets some dims to 1. */
    for (int t = 0; t < 20; t++) {
        int64_t da[4], db[4];
        int ra = tu_rng_int(&r, 1, 4), rb = tu_rng_int(&r, 0, ra);
        random_shape(&r, ra, da, 4);
        for (int d = 0; d < rb; d++)
            db[d] = tu_rng_bool(&r) ? 1 : da[ra - rb + d];
        if (tu_rng_bool(&r))
            check_binary(&r, ops[t % 4], ra, da, rb, db);
        else
            check_binary(&r, ops[t % 4], rb, db, ra, da);
    }
}

/* ------------------------------------------------ lower: data movement */

Test(lower, reshape_and_flatten_to_output)
{
    TuRng r;
    tu_rng_init(&r, tu_seed());
    Case k = new_case("reshape");
    int64_t d[] = {2, 3, 4};
    int x = input(&k, "x", 3, d);
    int nd = node_begin(&k, "reshape", &x, 1);
    attr_ints(&k, nd, "shape", (int64_t[]){4, -1}, 2);
    int y = node_end(&k, nd);
    int f = node_begin(&k, "flatten", &y, 1);
    attr_int(&k, f, "axis", 0);
    output(&k, node_end(&k, f));
    check_case(&k, &r, NULL);
    free_case(&k);
}

/* Reshape-like ops are views: the output value shares its input's buffer
 * and no kernel is made, unless the output is a graph output. */
Test(lower, reshape_like_ops_are_views)
{
    TuRng r;
    tu_rng_init(&r, tu_seed());
    Case k = new_case("views");
    int64_t d[] = {2, 3, 4};
    int x = input(&k, "x", 3, d);
    int a = node(&k, "relu", &x, 1);
    int nd = node_begin(&k, "reshape", &a, 1);
    attr_ints(&k, nd, "shape", (int64_t[]){6, 4}, 2);
    int rs = node_end(&k, nd);
    nd = node_begin(&k, "unsqueeze", &rs, 1);
    attr_ints(&k, nd, "axes", (int64_t[]){0}, 1);
    int us = node_end(&k, nd);
    int t = node(&k, "tanh", &us, 1);
    int sq = node(&k, "squeeze", &t, 1);
    int fx = node(&k, "flatten", &x, 1);
    output(&k, sq);
    output(&k, node(&k, "neg", &fx, 1));
    Program *p = lower(&k);
    cr_expect_eq(p->nkernels, 4, "relu, tanh, the copy into output sq, neg");
    cr_expect_eq(p->value_buf[rs], p->value_buf[a], "reshape views relu's buffer");
    cr_expect_eq(p->value_buf[us], p->value_buf[a], "a view of a view");
    cr_expect_eq(p->value_buf[fx], p->inputs[0], "a view of a graph input");
    cr_expect_eq(p->value_buf[sq], p->outputs[0], "a graph output keeps its buffer");
    check_case(&k, &r, NULL);
    free_case(&k);
}

Test(lower, transpose_perms)
{
    TuRng r;
    tu_rng_init(&r, tu_seed());
    static const int64_t perms[][4] = {
        {1, 0}, {0, 2, 1}, {2, 0, 1}, {1, 2, 0}, {3, 1, 0, 2}, {0, 1, 2, 3}, {2, 3, 1, 0},
    };
    static const int ranks[] = {2, 3, 3, 3, 4, 4, 4};
    for (int i = 0; i < 8; i++) {
        Case k = new_case("transpose");
        int rank = i < 7 ? ranks[i] : 3;
        int64_t d[4];
        random_shape(&r, rank, d, 5);
        int x = input(&k, "x", rank, d);
        int nd = node_begin(&k, "transpose", &x, 1);
        if (i < 7)
            attr_ints(&k, nd, "perm", perms[i], rank);
        output(&k, node_end(&k, nd));
        check_case(&k, &r, NULL);
        free_case(&k);
    }
}

Test(lower, concat_every_axis)
{
    TuRng r;
    tu_rng_init(&r, tu_seed());
    for (int rank = 1; rank <= 4; rank++) {
        for (int axis = -rank; axis < rank; axis++) {
            Case k = new_case("concat");
            int nin = tu_rng_int(&r, 1, 3);
            int64_t base[4];
            random_shape(&r, rank, base, 4);
            int ins[3];
            for (int i = 0; i < nin; i++) {
                int64_t d[4];
                memcpy(d, base, sizeof d);
                d[axis < 0 ? axis + rank : axis] = tu_rng_int(&r, 1, 4);
                ins[i] = input(&k, arena_printf(k.c->arena, "x%d", i), rank, d);
            }
            int nd = node_begin(&k, "concat", ins, nin);
            attr_int(&k, nd, "axis", axis);
            output(&k, node_end(&k, nd));
            check_case(&k, &r, NULL);
            free_case(&k);
        }
    }
}

Test(lower, pad_modes_and_negative_pads)
{
    TuRng r;
    tu_rng_init(&r, tu_seed());
    const char *modes[] = {"constant", "reflect", "edge"};
    for (int m = 0; m < 3; m++) {
        for (int t = 0; t < 12; t++) {
            Case k = new_case("pad");
            int rank = tu_rng_int(&r, 1, 4);
            int64_t d[4], pads[8];
            random_shape(&r, rank, d, 5);
            for (int i = 0; i < rank; i++) {
                d[i] += 1; /* reflect needs room: pads must stay below the dim */
                int64_t lim = d[i] - 1;
                for (int j = 0; j < 2; j++) {
                    int64_t v = tu_rng_int(&r, -1, (int)lim);
                    /* keep the output non-empty: crop at most one per side */
                    pads[i + j * rank] = v;
                }
            }
            int x = input(&k, "x", rank, d);
            int nd = node_begin(&k, "pad", &x, 1);
            attr_ints(&k, nd, "pads", pads, 2 * rank);
            attr_str(&k, nd, "mode", modes[m]);
            if (m == 0 && t % 2)
                attr_float(&k, nd, "value", tu_rng_float(&r, -3, 3));
            output(&k, node_end(&k, nd));
            check_case(&k, &r, NULL);
            free_case(&k);
        }
    }
}

Test(lower, reduce_axes_and_keepdims)
{
    TuRng r;
    tu_rng_init(&r, tu_seed());
    const char *ops[] = {"reduce_mean", "reduce_sum", "reduce_max"};
    for (int o = 0; o < 3; o++) {
        for (int t = 0; t < 16; t++) {
            Case k = new_case("reduce");
            int rank = tu_rng_int(&r, 1, 4);
            int64_t d[4], axes[4];
            random_shape(&r, rank, d, 5);
            int naxes = 0;
            for (int i = 0; i < rank; i++)
                if (tu_rng_bool(&r))
                    axes[naxes++] = tu_rng_bool(&r) ? i : i - rank;
            int x = input(&k, "x", rank, d);
            int nd = node_begin(&k, ops[o], &x, 1);
            if (naxes)
                attr_ints(&k, nd, "axes", axes, naxes);
            attr_int(&k, nd, "keepdims", t % 2);
            if (!naxes && t % 4 == 2)
                attr_int(&k, nd, "noop_with_empty_axes", 1);
            output(&k, node_end(&k, nd));
            check_case(&k, &r, NULL);
            free_case(&k);
        }
    }
}

Test(lower, chain_through_temps)
{
    TuRng r;
    tu_rng_init(&r, tu_seed());
    Case k = new_case("chain");
    int64_t d[] = {3, 4, 5}, db[] = {5};
    int x = input(&k, "x", 3, d);
    int b = input(&k, "b", 1, db);
    int nd = node_begin(&k, "transpose", &x, 1);
    attr_ints(&k, nd, "perm", (int64_t[]){1, 0, 2}, 3);
    int t = node_end(&k, nd);
    int s = node(&k, "add", (int[]){t, b}, 2);
    int g = node(&k, "gelu", &s, 1);
    nd = node_begin(&k, "pad", &g, 1);
    attr_ints(&k, nd, "pads", (int64_t[]){0, 1, -1, 1, 0, 2}, 6);
    int pd = node_end(&k, nd);
    nd = node_begin(&k, "reduce_sum", &pd, 1);
    attr_ints(&k, nd, "axes", (int64_t[]){1}, 1);
    attr_int(&k, nd, "keepdims", 0);
    output(&k, node_end(&k, nd));
    output(&k, s);
    check_case(&k, &r, NULL);
    free_case(&k);
}

/* ------------------------------------------------- loop_eval: by hand */

static void *workspace_of(const Program *p)
{
    size_t n = (size_t)(p->workspace_size + 15) / 16 * 16 + 16;
    void *ws = aligned_alloc(16, n);
    cr_assert_not_null(ws);
    return ws;
}

/* y[0] = sum of x over [0, n); a local accumulator and a reduction loop. */
Test(loop_eval, sum_with_local)
{
    Arena *a = arena_new();
    Program *p = loop_new_program(a, "sum");
    int x = loop_add_buffer(p, "x", BK_INPUT, DT_F32, 10);
    int y = loop_add_buffer(p, "y", BK_OUTPUT, DT_F32, 1);
    VEC_PUSH(a, p->inputs, p->ninputs, p->capinputs) = x;
    VEC_PUSH(a, p->outputs, p->noutputs, p->capoutputs) = y;
    Kernel *k = loop_new_kernel(p, "k0_sum", NULL, -1);
    int acc = loop_new_local(p, k, DT_F32, "acc");
    int i = loop_new_var(k);
    st_append(p, k->body, st_set(p, acc, ex_flt(p, 0.5)));
    Stmt *loop = st_for_n(p, i, 10, LOOP_REDUCTION);
    st_append(p, k->body, loop);
    st_append(p, loop->body, st_set(p, acc, ex_bin(p, BIN_ADD, ex_local(p, k, acc),
                                                   ex_load(p, x, ex_var(p, i)))));
    st_append(p, k->body, st_store(p, y, ex_int(p, 0), ex_local(p, k, acc)));
    float in[10], out[1] = {NAN};
    float want = 0.5f;
    for (int j = 0; j < 10; j++) {
        in[j] = (float)(j * j) - 20.25f;
        want += in[j];
    }
    cr_assert(loop_eval(p, (const void *[]){in}, (void *[]){out}, NULL));
    cr_expect_float_eq(out[0], want, 1e-6);
    arena_free(a);
}

/* if/else on i % 2 and a select on i < 3, with a strided loop from 1. */
Test(loop_eval, if_select_and_steps)
{
    Arena *a = arena_new();
    Program *p = loop_new_program(a, "branches");
    int x = loop_add_buffer(p, "x", BK_INPUT, DT_F32, 8);
    int y = loop_add_buffer(p, "y", BK_OUTPUT, DT_F32, 8);
    VEC_PUSH(a, p->inputs, p->ninputs, p->capinputs) = x;
    VEC_PUSH(a, p->outputs, p->noutputs, p->capoutputs) = y;
    Kernel *k = loop_new_kernel(p, "k0_branch", NULL, -1);
    int i = loop_new_var(k);
    Stmt *loop = st_for(p, i, ex_int(p, 1), ex_int(p, 8), 2, 0);
    st_append(p, k->body, loop);
    Expr *iv = ex_var(p, i), *xi = ex_load(p, x, iv);
    Stmt *then = st_block(p), *els = st_block(p);
    st_append(p, then, st_store(p, y, iv, ex_un(p, UN_NEG, xi)));
    st_append(p, els, st_store(p, y, iv, ex_select(p, ex_bin(p, BIN_LT, iv, ex_int(p, 4)),
                                                    ex_flt(p, 100), xi)));
    Expr *odd3 = ex_bin(p, BIN_EQ, ex_bin(p, BIN_MOD, iv, ex_int(p, 4)), ex_int(p, 1));
    st_append(p, loop->body, st_if(p, odd3, then, els));
    float in[8] = {1, 2, 3, 4, 5, 6, 7, 8}, out[8];
    for (int j = 0; j < 8; j++)
        out[j] = -999;
    cr_assert(loop_eval(p, (const void *[]){in}, (void *[]){out}, NULL));
    /* i = 1, 3, 5, 7: i % 4 == 1 for 1 and 5; 3 < 4 selects 100. */
    float want[8] = {-999, -2, -999, 100, -999, -6, -999, 8};
    for (int j = 0; j < 8; j++)
        cr_expect_eq(out[j], want[j], "y[%d] = %g, want %g", j, (double)out[j], (double)want[j]);
    arena_free(a);
}

/* Casts and integer arithmetic follow C: truncation, wrapping, division
 * toward zero; f32 arithmetic rounds after every operation. */
Test(loop_eval, casts_and_c_arithmetic)
{
    Arena *a = arena_new();
    Program *p = loop_new_program(a, "casts");
    int y8 = loop_add_buffer(p, "y8", BK_OUTPUT, DT_I8, 4);
    int yf = loop_add_buffer(p, "yf", BK_OUTPUT, DT_F32, 4);
    int yi = loop_add_buffer(p, "yi", BK_OUTPUT, DT_I32, 3);
    VEC_PUSH(a, p->outputs, p->noutputs, p->capoutputs) = y8;
    VEC_PUSH(a, p->outputs, p->noutputs, p->capoutputs) = yf;
    VEC_PUSH(a, p->outputs, p->noutputs, p->capoutputs) = yi;
    Kernel *k = loop_new_kernel(p, "k0_casts", NULL, -1);
    Stmt *b = k->body;
    /* (int32)300.7f = 300, stored to i8 wraps to 44; (i8)-129 wraps to 127. */
    st_append(p, b, st_store(p, y8, ex_int(p, 0), ex_cast(p, DT_I32, ex_flt(p, 300.7))));
    st_append(p, b, st_store(p, y8, ex_int(p, 1), ex_cast(p, DT_I8, ex_int_t(p, DT_I32, -129))));
    st_append(p, b, st_store(p, y8, ex_int(p, 2), ex_cast(p, DT_I8, ex_flt(p, -3.9))));
    st_append(p, b, st_store(p, y8, ex_int(p, 3), ex_cast(p, DT_BOOL, ex_flt(p, 0.25))));
    /* In float, (1e8 + 1) - 1e8 is 0; in double it would be 1. */
    Expr *big = ex_flt(p, 1e8);
    st_append(p, b, st_store(p, yf, ex_int(p, 0),
                             ex_bin(p, BIN_SUB, ex_bin(p, BIN_ADD, big, ex_flt(p, 1)), big)));
    st_append(p, b, st_store(p, yf, ex_int(p, 1), ex_cast(p, DT_F32, ex_int_t(p, DT_I32, -7))));
    st_append(p, b, st_store(p, yf, ex_int(p, 2),
                             ex_bin(p, BIN_MAX, ex_flt(p, -2), ex_flt(p, 1.5))));
    st_append(p, b, st_store(p, yf, ex_int(p, 3), ex_un(p, UN_SQRT, ex_flt(p, 2.25))));
    Expr *m7 = ex_int_t(p, DT_I32, -7), *two = ex_int_t(p, DT_I32, 2);
    st_append(p, b, st_store(p, yi, ex_int(p, 0), ex_bin(p, BIN_DIV, m7, two)));
    st_append(p, b, st_store(p, yi, ex_int(p, 1), ex_bin(p, BIN_MOD, m7, two)));
    st_append(p, b, st_store(p, yi, ex_int(p, 2), ex_bin(p, BIN_MIN, m7, two)));
    int8_t o8[4];
    float of[4];
    int32_t oi[3];
    cr_assert(loop_eval(p, NULL, (void *[]){o8, of, oi}, NULL));
    cr_expect_eq(o8[0], 44);
    cr_expect_eq(o8[1], 127);
    cr_expect_eq(o8[2], -3);
    cr_expect_eq(o8[3], 1);
    cr_expect_eq(of[0], 0.0f);
    cr_expect_eq(of[1], -7.0f);
    cr_expect_eq(of[2], 1.5f);
    cr_expect_eq(of[3], 1.5f);
    cr_expect_eq(oi[0], -3);
    cr_expect_eq(oi[1], -1);
    cr_expect_eq(oi[2], -7);
    arena_free(a);
}

/* One input, one output of n floats, and a kernel with one loop var. */
static Program *one_kernel(Arena *a, int n, int *x, int *y, Kernel **k, int *i)
{
    Program *p = loop_new_program(a, "t");
    *x = loop_add_buffer(p, "x", BK_INPUT, DT_F32, n);
    *y = loop_add_buffer(p, "y", BK_OUTPUT, DT_F32, n);
    VEC_PUSH(a, p->inputs, p->ninputs, p->capinputs) = *x;
    VEC_PUSH(a, p->outputs, p->noutputs, p->capoutputs) = *y;
    *k = loop_new_kernel(p, "k0_test", NULL, -1);
    *i = loop_new_var(*k);
    return p;
}

Test(loop_eval, out_of_bounds_load_fails, .init = cr_redirect_stderr)
{
    Arena *a = arena_new();
    int x, y, i;
    Kernel *k;
    Program *p = one_kernel(a, 4, &x, &y, &k, &i);
    Stmt *loop = st_for_n(p, i, 4, 0);
    st_append(p, k->body, loop);
    Expr *next = ex_add(p, ex_var(p, i), ex_int(p, 1));
    st_append(p, loop->body, st_store(p, y, ex_var(p, i), ex_load(p, x, next)));
    float in[4] = {1, 2, 3, 4}, out[4];
    cr_expect_not(loop_eval(p, (const void *[]){in}, (void *[]){out}, NULL));
    arena_free(a);
}

Test(loop_eval, out_of_bounds_store_and_readonly_fail, .init = cr_redirect_stderr)
{
    Arena *a = arena_new();
    int x, y, i;
    Kernel *k;
    Program *p = one_kernel(a, 4, &x, &y, &k, &i);
    Stmt *loop = st_for_n(p, i, 5, 0);
    st_append(p, k->body, loop);
    st_append(p, loop->body, st_store(p, y, ex_var(p, i), ex_flt(p, 1)));
    float in[4] = {1, 2, 3, 4}, out[8];
    cr_expect_not(loop_eval(p, (const void *[]){in}, (void *[]){out}, NULL));

    Program *q = one_kernel(a, 4, &x, &y, &k, &i);
    st_append(q, k->body, st_store(q, x, ex_int(q, 0), ex_flt(q, 1)));
    cr_expect_not(loop_eval(q, (const void *[]){in}, (void *[]){out}, NULL));
    cr_expect_eq(in[0], 1.0f);
    arena_free(a);
}

/* select and && evaluate only what they must: the unchosen side and the
 * right of a false && would load out of bounds. */
Test(loop_eval, select_and_and_are_lazy)
{
    Arena *a = arena_new();
    int x, y, i;
    Kernel *k;
    Program *p = one_kernel(a, 4, &x, &y, &k, &i);
    Stmt *loop = st_for_n(p, i, 4, 0);
    st_append(p, k->body, loop);
    Expr *iv = ex_var(p, i);
    Expr *beyond = ex_load(p, x, ex_add(p, iv, ex_int(p, 100)));
    Expr *pick = ex_select(p, ex_bin(p, BIN_LT, iv, ex_int(p, 4)), ex_load(p, x, iv), beyond);
    Expr *guard = ex_bin(p, BIN_AND, ex_bin(p, BIN_GT, iv, ex_int(p, 10)),
                         ex_bin(p, BIN_GT, beyond, ex_flt(p, 0)));
    Stmt *then = st_block(p);
    st_append(p, then, st_store(p, y, iv, beyond));
    Stmt *els = st_block(p);
    st_append(p, els, st_store(p, y, iv, ex_bin(p, BIN_MUL, pick, ex_flt(p, 2))));
    st_append(p, loop->body, st_if(p, guard, then, els));
    float in[4] = {1, -2, 3, 0.25f}, out[4] = {0};
    cr_assert(loop_eval(p, (const void *[]){in}, (void *[]){out}, NULL));
    for (int j = 0; j < 4; j++)
        cr_expect_eq(out[j], 2 * in[j]);
    arena_free(a);
}

/* Temps live in the workspace at their offsets; a temp past the end of the
 * workspace is refused before anything runs. */
Test(loop_eval, temps_in_workspace, .init = cr_redirect_stderr)
{
    Arena *a = arena_new();
    int x, y, i;
    Kernel *k;
    Program *p = one_kernel(a, 6, &x, &y, &k, &i);
    int t = loop_add_buffer(p, "t", BK_TEMP, DT_F32, 6);
    p->bufs[t].offset = 32;
    p->workspace_size = 32 + 24;
    Stmt *l1 = st_for_n(p, i, 6, LOOP_PARALLEL);
    st_append(p, k->body, l1);
    st_append(p, l1->body, st_store(p, t, ex_var(p, i),
                                    ex_un(p, UN_EXP, ex_load(p, x, ex_var(p, i)))));
    Kernel *k2 = loop_new_kernel(p, "k1_rev", NULL, -1);
    int j = loop_new_var(k2);
    Stmt *l2 = st_for_n(p, j, 6, LOOP_PARALLEL);
    st_append(p, k2->body, l2);
    Expr *rev = ex_bin(p, BIN_SUB, ex_int(p, 5), ex_var(p, j));
    st_append(p, l2->body, st_store(p, y, ex_var(p, j), ex_load(p, t, rev)));
    float in[6] = {0, 1, -1, 0.5f, 2, -3}, out[6];
    void *ws = workspace_of(p);
    cr_assert(loop_eval(p, (const void *[]){in}, (void *[]){out}, ws));
    for (int m = 0; m < 6; m++)
        cr_expect_eq(out[m], expf(in[5 - m]));
    float *wsf = (float *)((char *)ws + 32);
    cr_expect_eq(wsf[0], expf(in[0]));
    p->workspace_size = 40;
    cr_expect_not(loop_eval(p, (const void *[]){in}, (void *[]){out}, ws));
    free(ws);
    arena_free(a);
}
