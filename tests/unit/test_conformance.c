/* test_conformance.c: the ONNX backend conformance suite, in CI.
 *
 * Runs etch_conformance (tests/conformance/runner.c) over the test data of
 * Debian's libonnx-testdata through the interpreter and the C backend, as
 * two concurrent shards so both cores work. Every case in scope must pass,
 * and the number passing must not fall below MIN_PASSED: a case that
 * quietly turns into a skip is a regression. Raise the floor as ops land.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "testutil.h"

#define ONNX_TESTDATA "/usr/share/libonnx-testdata/data"
#define MIN_PASSED 671

/* The last "N passed, N failed, N skipped" line of a runner's output. */
static bool summary(const char *out, int *passed, int *failed, int *skipped)
{
    bool found = false;
    for (const char *p = out; p && *p;) {
        if (sscanf(p, "%d passed, %d failed, %d skipped", passed, failed, skipped) == 3)
            found = true;
        p = strchr(p, '\n');
        p = p ? p + 1 : NULL;
    }
    return found;
}

Test(conformance, onnx_backend_node_tests, .timeout = 1800)
{
    cr_assert(tu_file_exists(ONNX_TESTDATA "/node/test_relu/model.onnx"),
              "libonnx-testdata is not installed (apt-get install libonnx-testdata)");
    char *dir = tu_mkdtemp("conformance");
    char cmd[2048];
    const char *dirs = ONNX_TESTDATA "/node " ONNX_TESTDATA "/pytorch-converted " ONNX_TESTDATA
                                     "/pytorch-operator " ONNX_TESTDATA "/simple";
    snprintf(cmd, sizeof cmd,
             "%s/etch_conformance --shard 0/2 %s > %s/0.txt 2>&1 & "
             "%s/etch_conformance --shard 1/2 %s > %s/1.txt 2>&1; wait",
             ETCH_BINARY_DIR, dirs, dir, ETCH_BINARY_DIR, dirs, dir);
    tu_run(NULL, cmd, NULL, NULL);
    int total_passed = 0;
    for (int shard = 0; shard < 2; shard++) {
        char name[16];
        snprintf(name, sizeof name, "%d.txt", shard);
        char *path = tu_path(dir, name);
        char *out = tu_read_file(path, NULL);
        int passed = 0, failed = -1, skipped = 0;
        cr_assert(summary(out, &passed, &failed, &skipped),
                  "shard %d printed no summary:\n%s", shard, out ? out : "(no output)");
        cr_expect_eq(failed, 0, "shard %d: %d cases failed:\n%s", shard, failed, out);
        total_passed += passed;
        free(out);
        free(path);
    }
    cr_expect_geq(total_passed, MIN_PASSED,
                  "only %d conformance cases passed; this suite passed %d before", total_passed,
                  MIN_PASSED);
    tu_rmtree(dir);
    free(dir);
}
