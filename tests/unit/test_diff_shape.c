/* test_diff_shape.c: differential tests of the reduce_* family, argmax/argmin
 * and the shape and data-movement ops (split, slice, gather, expand, tile,
 * squeeze/unsqueeze, depth_to_space, space_to_depth).
 *
 * Each case is a small graph written as graph-language text with random
 * shapes, attributes and dtypes, run on fresh random data (never all zeros)
 * through interp_run, loop_eval and the emitted C (tu_diff_graph); outputs
 * must agree within 1e-5 of the output's scale (integer outputs exactly,
 * in effect). The seed comes from the clock (ETCH_SEED replays a run); a
 * failure prints the seed and every failing graph.
 */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define DIFF_TOL 1e-5

typedef struct {
    const char *op;
    TuRng rng;
    char *workdir;
    int ncases, nfail;
    TuStr report, text;
    TuData kinds[16];
    int nin;
} Case;

static void c_begin(Case *d, const char *op)
{
    memset(d, 0, sizeof *d);
    d->op = op;
    tu_rng_init(&d->rng, tu_seed());
    d->workdir = tu_mkdtemp("dshape");
}

static void c_end(Case *d)
{
    if (d->nfail)
        fprintf(stderr, "\n==== diff_shape/%s: %d of %d cases failed (ETCH_SEED=%llu) ====\n%s",
                d->op, d->nfail, d->ncases, (unsigned long long)tu_seed(), d->report.s);
    tu_rmtree(d->workdir);
    free(d->workdir);
    free(d->report.s);
    free(d->text.s);
    cr_assert(d->ncases > 0, "diff_shape/%s ran no cases", d->op);
    cr_assert(d->nfail == 0, "diff_shape/%s: %d of %d cases failed; replay with ETCH_SEED=%llu",
              d->op, d->nfail, d->ncases, (unsigned long long)tu_seed());
}

static int rnd(Case *d, int lo, int hi) { return tu_rng_int(&d->rng, lo, hi); }
static bool coin(Case *d) { return tu_rng_bool(&d->rng); }

static void g_begin(Case *d)
{
    tu_str_clear(&d->text);
    d->nin = 0;
    tu_str_printf(&d->text, "graph ds_%s_%d {\n", d->op, d->ncases);
}

static void g_type(Case *d, const char *dt, int rank, const int64_t *dims)
{
    tu_str_printf(&d->text, "%s[", dt);
    for (int i = 0; i < rank; i++)
        tu_str_printf(&d->text, "%s%lld", i ? ", " : "", (long long)dims[i]);
    tu_str_append(&d->text, "]");
}

static void g_input(Case *d, const char *name, const char *dt, int rank, const int64_t *dims,
                    TuData kind)
{
    tu_str_printf(&d->text, "  input %s : ", name);
    g_type(d, dt, rank, dims);
    tu_str_append(&d->text, "\n");
    d->kinds[d->nin++] = kind;
}

static void g_line(Case *d, const char *fmt, ...) IR_PRINTF(2, 3);
static void g_line(Case *d, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char buf[2048];
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    tu_str_printf(&d->text, "  %s\n", buf);
}

/* ", name = [a, b]" appended to s. */
static void attr_ints(TuStr *s, const char *name, int n, const int64_t *v)
{
    tu_str_printf(s, ", %s = [", name);
    for (int i = 0; i < n; i++)
        tu_str_printf(s, "%s%lld", i ? ", " : "", (long long)v[i]);
    tu_str_append(s, "]");
}

/* Closes the graph with `outputs` (space-separated names) and runs it. */
static void g_run_outputs(Case *d, const char *outputs)
{
    char buf[512];
    snprintf(buf, sizeof buf, "%s", outputs);
    for (char *tok = strtok(buf, " "); tok; tok = strtok(NULL, " "))
        tu_str_printf(&d->text, "  output %s\n", tok);
    tu_str_append(&d->text, "}\n");
    d->ncases++;
    if (getenv("ETCH_DIFF_VERBOSE"))
        fprintf(stderr, "%s", d->text.s);
    if (!tu_diff_graph(d->text.s, &d->rng, d->kinds, DIFF_TOL, d->workdir, &d->report)) {
        d->nfail++;
        tu_str_printf(&d->report, "---- (case %d of diff_shape/%s)\n\n", d->ncases - 1, d->op);
    }
}

static void g_run(Case *d) { g_run_outputs(d, "y"); }

static void rand_dims(Case *d, int rank, int64_t *dims, int lo, int hi)
{
    for (int i = 0; i < rank; i++)
        dims[i] = rnd(d, lo, hi);
}

/* A data dtype for the data-movement ops: mostly f32, sometimes integer,
 * to show the kernels are dtype-generic. */
static const char *rand_dtype(Case *d)
{
    static const char *const dts[] = {"f32", "f32", "f32", "i8", "i32", "i64", "u8"};
    return dts[rnd(d, 0, 6)];
}

/* ------------------------------------------------------------ reduce */

/* Three independent reductions per graph (x<i> -> y<i>), so one C compile
 * checks three random attribute sets. */
static void reduce_cases(const char *op, TuData kind, bool ints_ok)
{
    Case d;
    c_begin(&d, op);
    for (int c = 0; c < 2; c++) {
        g_begin(&d);
        for (int s = 0; s < 3; s++) {
            int r = rnd(&d, 1, 4);
            int64_t dims[4], axes[4];
            rand_dims(&d, r, dims, 1, 5);
            int na = 0;
            for (int i = 0; i < r; i++)
                if (coin(&d))
                    axes[na++] = coin(&d) ? i : i - r;
            TuStr a = {0};
            if (na)
                attr_ints(&a, "axes", na, axes);
            else if (c == 1 && s == 2)
                tu_str_append(&a, ", noop_with_empty_axes = 1");
            if (coin(&d))
                tu_str_append(&a, ", keepdims = 0");
            char x[16];
            snprintf(x, sizeof x, "x%d", s);
            g_input(&d, x, ints_ok && c == 1 && s == 0 ? "i32" : "f32", r, dims, kind);
            g_line(&d, "y%d = %s(x%d%s)", s, op, s, a.s ? a.s : "");
            free(a.s);
        }
        g_run_outputs(&d, "y0 y1 y2");
    }
    c_end(&d);
}

Test(diff_shape, reduce_min) { reduce_cases("reduce_min", TU_DATA_SIGNED, true); }
Test(diff_shape, reduce_max) { reduce_cases("reduce_max", TU_DATA_SIGNED, true); }
Test(diff_shape, reduce_prod) { reduce_cases("reduce_prod", TU_DATA_SIGNED, true); }
Test(diff_shape, reduce_l1) { reduce_cases("reduce_l1", TU_DATA_SIGNED, true); }
Test(diff_shape, reduce_l2) { reduce_cases("reduce_l2", TU_DATA_SIGNED, false); }
Test(diff_shape, reduce_sum_square) { reduce_cases("reduce_sum_square", TU_DATA_SIGNED, true); }
Test(diff_shape, reduce_log_sum) { reduce_cases("reduce_log_sum", TU_DATA_POSITIVE, false); }
Test(diff_shape, reduce_log_sum_exp) { reduce_cases("reduce_log_sum_exp", TU_DATA_WIDE, false); }

/* ------------------------------------------------------ argmax/argmin */

/* Integer inputs drawn from [-2, 2] have many ties, which is where
 * select_last_index matters. */
static void arg_cases(const char *op)
{
    Case d;
    c_begin(&d, op);
    for (int c = 0; c < 2; c++) {
        g_begin(&d);
        for (int s = 0; s < 3; s++) {
            int r = rnd(&d, 1, 4);
            int64_t dims[4];
            rand_dims(&d, r, dims, 1, 5);
            int ax = rnd(&d, -r, r - 1);
            char x[16];
            snprintf(x, sizeof x, "x%d", s);
            g_input(&d, x, s % 2 ? "i32" : "f32", r, dims, TU_DATA_SIGNED);
            g_line(&d, "y%d = %s(x%d, axis = %d, keepdims = %d, select_last_index = %d)", s, op,
                   s, ax, rnd(&d, 0, 1), (c + s) % 2);
        }
        g_run_outputs(&d, "y0 y1 y2");
    }
    c_end(&d);
}

Test(diff_shape, argmax) { arg_cases("argmax"); }
Test(diff_shape, argmin) { arg_cases("argmin"); }

/* ---------------------------------------------- squeeze and unsqueeze */

Test(diff_shape, squeeze_unsqueeze)
{
    Case d;
    c_begin(&d, "squeeze");
    for (int c = 0; c < 4; c++) {
        int r = rnd(&d, 1, 4);
        int64_t dims[4], ax[1];
        rand_dims(&d, r, dims, 1, 4);
        dims[rnd(&d, 0, r - 1)] = 1;
        ax[0] = rnd(&d, -(r + 1), r);
        g_begin(&d);
        g_input(&d, "x", rand_dtype(&d), r, dims, TU_DATA_SIGNED);
        TuStr a = {0};
        attr_ints(&a, "axes", 1, ax);
        g_line(&d, "u = unsqueeze(x%s)", a.s);
        /* No axes: every 1 goes, the new one and any x had. */
        g_line(&d, "y = squeeze(u)");
        free(a.s);
        g_run(&d);
    }
    c_end(&d);
}

/* -------------------------------------------------------------- split */

Test(diff_shape, split)
{
    Case d;
    c_begin(&d, "split");
    for (int c = 0; c < 6; c++) {
        int r = rnd(&d, 1, 3);
        int64_t dims[3];
        rand_dims(&d, r, dims, 1, 4);
        int ax = rnd(&d, 0, r - 1);
        int parts = rnd(&d, 1, 3);
        if (dims[ax] < parts)
            dims[ax] = parts + rnd(&d, 0, 3);
        TuStr a = {0};
        tu_str_printf(&a, ", axis = %d", coin(&d) ? ax : ax - r);
        if (c % 2 == 1) {
            /* Explicit uneven sizes, one of them possibly 0. */
            int64_t sizes[3], left = dims[ax];
            for (int i = 0; i < parts - 1; i++) {
                sizes[i] = rnd(&d, 0, (int)left);
                left -= sizes[i];
            }
            sizes[parts - 1] = left;
            attr_ints(&a, "split", parts, sizes);
        } else {
            /* Equal chunks of ceil(dim / parts) must leave the last non-empty. */
            while (dims[ax] - (dims[ax] + parts - 1) / parts * (parts - 1) <= 0)
                dims[ax]++;
            if (coin(&d))
                tu_str_printf(&a, ", num_outputs = %d", parts);
        }
        g_begin(&d);
        g_input(&d, "x", rand_dtype(&d), r, dims, TU_DATA_SIGNED);
        const char *names[] = {"y0", "y0, y1", "y0, y1, y2"};
        const char *outs[] = {"y0", "y0 y1", "y0 y1 y2"};
        g_line(&d, "%s = split(x%s)", names[parts - 1], a.s);
        free(a.s);
        g_run_outputs(&d, outs[parts - 1]);
    }
    c_end(&d);
}

/* -------------------------------------------------------------- slice */

/* One random bound for a dim of size n: in range, negative, beyond either
 * end, or an INT64 sentinel. */
static int64_t rand_bound(Case *d, int64_t n)
{
    switch (rnd(d, 0, 5)) {
    case 0: return -rnd(d, 1, (int)n + 2);
    case 1: return n + rnd(d, 0, 3);
    /* -INT64_MAX, not INT64_MIN: the graph language cannot spell INT64_MIN
     * (test_shape_ops covers it through the builder). */
    case 2: return coin(d) ? INT64_MAX : -INT64_MAX;
    default: return rnd(d, 0, (int)n);
    }
}

Test(diff_shape, slice)
{
    Case d;
    c_begin(&d, "slice");
    for (int k = 0; k < 12; k++) {
        int c = k % 3 == 0 ? k / 3 : k; /* the plain cases come first in a graph */
        int s = k % 3;
        int r = rnd(&d, 1, 4);
        int64_t dims[4], starts[4], ends[4], axes[4], steps[4];
        rand_dims(&d, r, dims, 1, 6);
        int ns = rnd(&d, 1, r);
        /* distinct axes in random order */
        int perm[4] = {0, 1, 2, 3};
        for (int i = r - 1; i > 0; i--) {
            int j = rnd(&d, 0, i), t = perm[i];
            perm[i] = perm[j];
            perm[j] = t;
        }
        bool with_axes = c > 0 && coin(&d), with_steps = c > 1;
        for (int i = 0; i < ns; i++) {
            int ax = with_axes ? perm[i] : i;
            axes[i] = coin(&d) ? ax : ax - r;
            starts[i] = rand_bound(&d, dims[ax]);
            ends[i] = rand_bound(&d, dims[ax]);
            steps[i] = rnd(&d, 1, 3) * (coin(&d) ? -1 : 1);
            /* Prefer non-empty slices: order the bounds to match the step. */
            if (coin(&d) && ((steps[i] > 0) != (starts[i] < ends[i]))) {
                int64_t t = starts[i];
                starts[i] = ends[i];
                ends[i] = t;
            }
        }
        TuStr a = {0};
        attr_ints(&a, "starts", ns, starts);
        attr_ints(&a, "ends", ns, ends);
        if (with_axes)
            attr_ints(&a, "axes", ns, axes);
        if (with_steps)
            attr_ints(&a, "steps", ns, steps);
        if (s == 0)
            g_begin(&d);
        char x[16];
        snprintf(x, sizeof x, "x%d", s);
        g_input(&d, x, rand_dtype(&d), r, dims, TU_DATA_SIGNED);
        g_line(&d, "y%d = slice(x%d%s)", s, s, a.s);
        free(a.s);
        if (s == 2)
            g_run_outputs(&d, "y0 y1 y2");
    }
    c_end(&d);
}

/* ------------------------------------------------------------- gather */

Test(diff_shape, gather)
{
    Case d;
    c_begin(&d, "gather");
    for (int c = 0; c < 8; c++) {
        int r = rnd(&d, 1, 3), ri = rnd(&d, 0, 2);
        int64_t dims[3], idims[2];
        rand_dims(&d, r, dims, 1, 4);
        int ax = rnd(&d, 0, r - 1);
        dims[ax] = rnd(&d, 3, 5); /* runtime indices are in [-2, 2] */
        rand_dims(&d, ri, idims, 1, 3);
        const char *idt = coin(&d) ? "i64" : "i32";
        g_begin(&d);
        g_input(&d, "x", rand_dtype(&d), r, dims, TU_DATA_SIGNED);
        if (c % 2 == 0) {
            g_input(&d, "idx", idt, ri, idims, TU_DATA_SIGNED);
        } else {
            /* A const with indices from the whole range, negatives too. */
            int64_t n = 1;
            for (int i = 0; i < ri; i++)
                n *= idims[i];
            tu_str_append(&d.text, "  const idx : ");
            g_type(&d, idt, ri, idims);
            tu_str_append(&d.text, " = [");
            for (int64_t i = 0; i < n; i++)
                tu_str_printf(&d.text, "%s%d", i ? ", " : "",
                              rnd(&d, -(int)dims[ax], (int)dims[ax] - 1));
            tu_str_append(&d.text, "]\n");
        }
        g_line(&d, "y = gather(x, idx, axis = %d)", coin(&d) ? ax : ax - r);
        g_run(&d);
    }
    c_end(&d);
}

/* ----------------------------------------------------- expand and tile */

Test(diff_shape, expand)
{
    Case d;
    c_begin(&d, "expand");
    for (int c = 0; c < 6; c++) {
        int ro = rnd(&d, 1, 4), ri = rnd(&d, 0, ro), rs = rnd(&d, 0, ro);
        if (c == 0)
            rs = ro;
        int64_t out[4], in[4], shape[4];
        rand_dims(&d, ro, out, 2, 4);
        for (int i = 0; i < ri; i++)
            in[i] = coin(&d) ? 1 : out[ro - ri + i];
        /* `shape` may keep an input dim with a 1; the output is still out. */
        if (ri == ro || rs == ro) {
            for (int i = 0; i < rs; i++) {
                int o = ro - rs + i, k = o - (ro - ri);
                shape[i] = (k >= 0 && in[k] != 1 && coin(&d)) ? 1 : out[o];
            }
        } else {
            rs = ro;
            memcpy(shape, out, sizeof shape);
        }
        g_begin(&d);
        g_input(&d, "x", rand_dtype(&d), ri, in, TU_DATA_SIGNED);
        TuStr a = {0};
        attr_ints(&a, "shape", rs, shape);
        g_line(&d, "y = expand(x%s)", a.s);
        free(a.s);
        g_run(&d);
    }
    c_end(&d);
}

Test(diff_shape, tile)
{
    Case d;
    c_begin(&d, "tile");
    for (int c = 0; c < 5; c++) {
        int r = rnd(&d, 1, 4);
        int64_t dims[4], reps[4];
        rand_dims(&d, r, dims, 1, 3);
        rand_dims(&d, r, reps, 1, 3);
        g_begin(&d);
        g_input(&d, "x", rand_dtype(&d), r, dims, TU_DATA_SIGNED);
        TuStr a = {0};
        attr_ints(&a, "repeats", r, reps);
        g_line(&d, "y = tile(x%s)", a.s);
        free(a.s);
        g_run(&d);
    }
    c_end(&d);
}

/* ------------------------------------------ depth_to_space, space_to_depth */

Test(diff_shape, depth_space)
{
    Case d;
    c_begin(&d, "d2s");
    for (int c = 0; c < 6; c++) {
        int64_t b = rnd(&d, 1, 3);
        int64_t x[4] = {rnd(&d, 1, 2), rnd(&d, 1, 3), rnd(&d, 1, 3), rnd(&d, 1, 3)};
        g_begin(&d);
        if (c < 4) {
            x[1] *= b * b;
            g_input(&d, "x", rand_dtype(&d), 4, x, TU_DATA_SIGNED);
            g_line(&d, "y = depth_to_space(x, blocksize = %lld, mode = \"%s\")", (long long)b,
                   c % 2 ? "CRD" : "DCR");
        } else {
            x[2] *= b;
            x[3] *= b;
            g_input(&d, "x", rand_dtype(&d), 4, x, TU_DATA_SIGNED);
            g_line(&d, "y = space_to_depth(x, blocksize = %lld)", (long long)b);
        }
        g_run(&d);
    }
    c_end(&d);
}
