/* test_examples.c: the shipped example models, end to end through the CLI.
 *
 * For each examples/MODEL/MODEL.etch and each inputs/digit_K.npy next to it:
 * `etch run MODEL.etch --input NAME=digit_K.npy --output-dir TMP` with
 * --backend interp and --backend c must both exit 0; their OUTPUT.npy files
 * must agree with each other (1e-5 of the output's scale), with torch's
 * expected/digit_K.npy (1e-4), and the argmax must be torch's prediction
 * from expected/labels.txt (`digit_K.npy <label> <prediction>` per line).
 * Input and output names come from parsing the model, so the test follows
 * the graphs rather than hard-coding them.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frontend/frontend.h"
#include "testutil.h"

#define EXAMPLES_DIR ETCH_SOURCE_DIR "/examples"

/* Torch's prediction for `input` from labels.txt, or -1. */
static int torch_prediction(const char *labels, const char *input)
{
    if (!labels)
        return -1;
    size_t n = strlen(input);
    for (const char *line = labels; *line;) {
        int label, pred;
        if (strncmp(line, input, n) == 0 && line[n] == ' ' &&
            sscanf(line + n, "%d %d", &label, &pred) == 2)
            return pred;
        const char *nl = strchr(line, '\n');
        if (!nl)
            break;
        line = nl + 1;
    }
    return -1;
}

static int64_t argmax(const float *x, int64_t n)
{
    int64_t best = 0;
    for (int64_t i = 1; i < n; i++)
        if (x[i] > x[best])
            best = i;
    return best;
}

/* Reads an f32 .npy; false (and a report line) if it is missing or not f32. */
static bool read_f32(Ctx *c, const char *path, Type *t, float **data, TuStr *report)
{
    void *p;
    if (!fe_read_npy(c, path, (Loc){path, 0, 0}, t, &p)) {
        tu_str_printf(report, "%s: cannot read as .npy\n", path);
        return false;
    }
    if (t->dtype != DT_F32) {
        tu_str_printf(report, "%s: dtype %s, want f32\n", path, dtype_name(t->dtype));
        return false;
    }
    *data = p;
    return true;
}

/* Runs one model on one input with one backend; the output's path on success. */
static char *run_model(const char *model_dir, const char *model, const char *in_name,
                       const char *input, const char *out_name, const char *backend,
                       const char *tmp, TuStr *report)
{
    char *outdir = tu_path(tmp, backend);
    TuStr cmd = {0};
    tu_str_printf(&cmd, "'%s' run '%s' --input '%s=inputs/%s' --output-dir '%s' --backend %s",
                  ETCH_EXE, model, in_name, input, outdir, backend);
    char *out, *err;
    int st = tu_run(model_dir, cmd.s, &out, &err);
    char *result = NULL;
    if (st != 0) {
        tu_str_printf(report, "%s/%s on %s: `%s` exited %d:\n%s%s\n", model_dir, model, input,
                      cmd.s, st, out, err);
    } else {
        TuStr file = {0};
        tu_str_printf(&file, "%s.npy", out_name);
        result = tu_path(outdir, file.s);
        free(file.s);
        if (!tu_file_exists(result)) {
            tu_str_printf(report, "%s/%s on %s (--backend %s): no %s written\n", model_dir,
                          model, input, backend, result);
            free(result);
            result = NULL;
        }
    }
    free(out);
    free(err);
    free(cmd.s);
    free(outdir);
    return result;
}

static bool check_close(const char *what, const float *got, const float *ref, int64_t n,
                        double rel, TuStr *report)
{
    double err;
    int64_t at;
    if (tu_close(got, ref, n, rel, &err, &at))
        return true;
    tu_str_printf(report, "%s: max abs err %.3g at %lld (want %.9g, got %.9g; tol %.1g)\n",
                  what, err, (long long)at, at >= 0 ? (double)ref[at] : 0.0,
                  at >= 0 ? (double)got[at] : 0.0, rel);
    return false;
}

/* Every input of one model; returns the number of failed inputs. */
static int check_model(const char *name, int *ninputs, TuStr *report)
{
    char *model_dir = tu_path(EXAMPLES_DIR, name);
    TuStr model = {0};
    tu_str_printf(&model, "%s.etch", name);
    char *model_path = tu_path(model_dir, model.s);
    int nfail = 0;
    Ctx *c = ctx_new();
    Graph *g = fe_parse_file(c, model_path);
    if (!g || g->ninputs != 1 || g->noutputs != 1) {
        tu_str_printf(report, "%s: does not parse to one input and one output\n", model_path);
        nfail = 1;
        goto done;
    }
    const char *in_name = g->values[g->inputs[0]].name;
    const char *out_name = g->values[g->outputs[0]].name;
    char *in_dir = tu_path(model_dir, "inputs");
    char *exp_dir = tu_path(model_dir, "expected");
    char *labels_path = tu_path(exp_dir, "labels.txt");
    char *labels = tu_read_file(labels_path, NULL);
    char **inputs;
    int n = tu_list_dir(in_dir, ".npy", &inputs);
    *ninputs += n;
    for (int i = 0; i < n; i++) {
        char *tmp = tu_mkdtemp("examples");
        TuStr what = {0};
        tu_str_printf(&what, "%s on %s", name, inputs[i]);
        char *interp = run_model(model_dir, model.s, in_name, inputs[i], out_name, "interp", tmp,
                                 report);
        char *cout = run_model(model_dir, model.s, in_name, inputs[i], out_name, "c", tmp, report);
        char *exp_path = tu_path(exp_dir, inputs[i]);
        Type ti, tc, te;
        float *di, *dc, *de;
        bool ok = interp && cout && read_f32(c, interp, &ti, &di, report) &&
                  read_f32(c, cout, &tc, &dc, report) && read_f32(c, exp_path, &te, &de, report);
        if (ok && (!type_equal(&ti, &te) || !type_equal(&tc, &te))) {
            char a[64], b[64], e[64];
            tu_str_printf(report, "%s: shapes differ: interp %s, c %s, torch %s\n", what.s,
                          type_str(&ti, a, sizeof a), type_str(&tc, b, sizeof b),
                          type_str(&te, e, sizeof e));
            ok = false;
        }
        if (ok) {
            int64_t numel = type_numel(&te);
            TuStr w = {0};
            tu_str_printf(&w, "%s: c vs interp", what.s);
            ok = check_close(w.s, dc, di, numel, 1e-5, report);
            tu_str_clear(&w);
            tu_str_printf(&w, "%s: interp vs torch", what.s);
            ok = check_close(w.s, di, de, numel, 1e-4, report) && ok;
            tu_str_clear(&w);
            tu_str_printf(&w, "%s: c vs torch", what.s);
            ok = check_close(w.s, dc, de, numel, 1e-4, report) && ok;
            free(w.s);
            int want = torch_prediction(labels, inputs[i]);
            int64_t pi = argmax(di, numel), pc = argmax(dc, numel);
            if (want < 0) {
                tu_str_printf(report, "%s: no line for it in %s\n", what.s, labels_path);
                ok = false;
            } else if (pi != want || pc != want) {
                tu_str_printf(report, "%s: predicted %lld (interp), %lld (c); torch says %d\n",
                              what.s, (long long)pi, (long long)pc, want);
                ok = false;
            }
        }
        nfail += !ok;
        free(exp_path);
        free(interp);
        free(cout);
        free(what.s);
        tu_rmtree(tmp);
        free(tmp);
    }
    tu_free_list(inputs, n);
    free(labels);
    free(labels_path);
    free(exp_dir);
    free(in_dir);
done:
    ctx_free(c);
    free(model_path);
    free(model.s);
    free(model_dir);
    return nfail;
}

Test(examples, digits_models, .timeout = 120)
{
    /* Models are the examples/NAME dirs holding NAME.etch. */
    char **dirs;
    int nd = tu_list_dir(EXAMPLES_DIR, "", &dirs), nmodels = 0, ninputs = 0, nfail = 0;
    TuStr report = {0};
    for (int i = 0; i < nd; i++) {
        char *dir = tu_path(EXAMPLES_DIR, dirs[i]);
        TuStr etch = {0};
        tu_str_printf(&etch, "%s/%s.etch", dir, dirs[i]);
        if (tu_file_exists(etch.s)) {
            nmodels++;
            nfail += check_model(dirs[i], &ninputs, &report);
        }
        free(etch.s);
        free(dir);
    }
    tu_free_list(dirs, nd);
    if (nfail)
        fprintf(stderr, "\n==== examples: %d failures ====\n%s", nfail, report.s);
    free(report.s);
    cr_assert(nmodels > 0, "no example models under %s", EXAMPLES_DIR);
    cr_assert(ninputs > 0, "no example inputs under %s/*/inputs", EXAMPLES_DIR);
    cr_assert(nfail == 0, "examples: %d of %d model inputs failed (details above)", nfail,
              ninputs);
}
