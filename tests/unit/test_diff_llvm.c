/* test_diff_llvm.c: the differential suite of test_diff.c, with the LLVM
 * backend in place of the emitted C, and the examples C vs LLVM.
 *
 * suite diff_llvm: every case of test_diff.c (every op, random shapes and
 * attributes, fresh random data) runs through the interpreter, loop_eval
 * and the LLVM backend's host object (tu_diff_graph_llvm): outputs agree
 * within 1e-5 of the output's scale. The cases are test_diff.c's own,
 * compiled a second time with the suite renamed and the differential check
 * redirected, so an op added there is covered here with no second list to
 * keep in sync. A failure prints the seed and the graph; replay it with
 * ETCH_SEED=N etch_tests --filter 'diff_llvm/OP' (its messages say diff/OP).
 *
 * diff_llvm/examples: each examples/MODEL/MODEL.etch on every input under
 * inputs/, `etch run --backend c` vs `--backend llvm`: the same argmax and
 * outputs within 1e-5 of their scale.
 */
#define tu_diff_graph tu_diff_graph_llvm
#define diff diff_llvm
#include "test_diff.c"
#undef diff
#undef tu_diff_graph

#include "frontend/frontend.h"

#define LLVM_EXAMPLES ETCH_SOURCE_DIR "/examples"

/* Reads DIR/NAME.npy as floats (malloc'd); its element count in *n. */
static float *read_output(const char *dir, int *n)
{
    char **names;
    int k = tu_list_dir(dir, ".npy", &names);
    cr_assert(k == 1, "%s: want one output .npy, found %d", dir, k);
    char *path = tu_path(dir, names[0]);
    Ctx *c = ctx_new();
    Type t;
    void *data;
    cr_assert(fe_read_npy(c, path, (Loc){.file = path}, &t, &data), "cannot read %s", path);
    *n = (int)type_numel(&t);
    float *f = malloc(sizeof *f * (size_t)(*n ? *n : 1));
    Tensor tt = {.type = t, .data = data};
    for (int i = 0; i < *n; i++)
        f[i] = tensor_getf(&tt, i);
    ctx_free(c);
    free(path);
    tu_free_list(names, k);
    return f;
}

Test(diff_llvm, examples, .timeout = 240)
{
    static const char *const models[] = {"digits_mlp", "digits_cnn"};
    char *tmp = tu_mkdtemp("llvm-ex");
    int nrun = 0;
    for (size_t m = 0; m < sizeof models / sizeof models[0]; m++) {
        TuStr dir = {0};
        tu_str_printf(&dir, "%s/%s", LLVM_EXAMPLES, models[m]);
        char *inputs = tu_path(dir.s, "inputs");
        char **names;
        int k = tu_list_dir(inputs, ".npy", &names);
        cr_assert(k > 0, "no inputs in %s", inputs);
        for (int i = 0; i < k && i < 3; i++) {
            float *out[2];
            int n[2];
            static const char *const backends[2] = {"c", "llvm"};
            for (int b = 0; b < 2; b++) {
                TuStr od = {0}, cmd = {0};
                tu_str_printf(&od, "%s/%s_%d_%s", tmp, models[m], i, backends[b]);
                tu_str_printf(&cmd, "'%s' run '%s/%s.etch' --input '%s/%s' --backend %s "
                              "--output-dir '%s'", ETCH_EXE, dir.s, models[m], inputs, names[i],
                              backends[b], od.s);
                char *err = NULL;
                int st = tu_run(NULL, cmd.s, NULL, &err);
                cr_assert(st == 0, "%s failed: %s", cmd.s, err);
                free(err);
                out[b] = read_output(od.s, &n[b]);
                free(od.s);
                free(cmd.s);
            }
            cr_assert(n[0] == n[1] && n[0] > 0);
            double e;
            int64_t at;
            cr_expect(tu_close(out[1], out[0], n[0], 1e-5, &e, &at),
                      "%s on %s: llvm vs c max abs err %g at %lld", models[m], names[i], e,
                      (long long)at);
            free(out[0]);
            free(out[1]);
            nrun++;
        }
        tu_free_list(names, k);
        free(inputs);
        free(dir.s);
    }
    cr_assert(nrun > 0);
    tu_rmtree(tmp);
    free(tmp);
}
