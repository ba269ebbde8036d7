/* test_golden.c: the golden-file runner over tests/golden/.
 *
 *   errors/NAME.etch  `etch dump NAME.etch` exits 1 and prints exactly
 *                     NAME.err on stderr (the diagnostic with its location)
 *   ir/NAME.etch      `etch dump NAME.etch --print-after=all` prints exactly
 *                     NAME.ir; and dump -> parse -> dump is byte-identical.
 *                     A first line `# args: ...` adds options to the dump
 *                     (e.g. a --target whose passes differ)
 *   c/NAME.etch       `etch compile NAME.etch -o TMP` writes TMP/NAME.c and
 *                     TMP/NAME.h equal to NAME.c and NAME.h, and that C
 *                     compiles warning-free as C99
 *
 * Commands run inside the golden directory so paths in diagnostics are the
 * bare file names. With UPDATE=1 in the environment the runner rewrites the
 * expected files instead of comparing (the other checks still run). Every
 * mismatching file is reported with a unified diff, not only the first.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

#define GOLDEN_DIR ETCH_SOURCE_DIR "/tests/golden"

static bool updating(void)
{
    const char *u = getenv("UPDATE");
    return u && strcmp(u, "1") == 0;
}

/* NAME.etch -> NAME + ext, malloc'd. */
static char *swap_ext(const char *name, const char *ext)
{
    size_t base = strlen(name) - strlen(".etch");
    char *p = malloc(base + strlen(ext) + 1);
    memcpy(p, name, base);
    strcpy(p + base, ext);
    return p;
}

/* Compares `actual` with the file dir/expected (or rewrites it under
 * UPDATE=1); a mismatch appends a unified diff to `report`. */
static bool check_text(const char *dir, const char *expected, const char *actual,
                       TuStr *report)
{
    char *path = tu_path(dir, expected);
    bool ok = true;
    if (updating()) {
        if (!tu_write_file(path, actual, strlen(actual))) {
            tu_str_printf(report, "%s: cannot write\n", path);
            ok = false;
        }
        free(path);
        return ok;
    }
    size_t len;
    char *want = tu_read_file(path, &len);
    if (!want) {
        tu_str_printf(report, "%s: missing (run with UPDATE=1 to create it)\n", path);
        ok = false;
    } else if (len != strlen(actual) || memcmp(want, actual, len) != 0) {
        char *tmp = tu_mkdtemp("golden");
        char *act = tu_path(tmp, expected);
        tu_write_file(act, actual, strlen(actual));
        char *diff = tu_diff_files(path, act);
        tu_str_printf(report, "%s: differs from the actual output:\n%s\n", path, diff);
        free(diff);
        free(act);
        tu_rmtree(tmp);
        free(tmp);
        ok = false;
    }
    free(want);
    free(path);
    return ok;
}

static void finish(const char *what, int nfiles, int nfail, TuStr *report)
{
    if (nfail)
        fprintf(stderr, "\n==== golden/%s: %d of %d files failed ====\n%s", what, nfail, nfiles,
                report->s);
    free(report->s);
    cr_assert(nfiles > 0, "no golden sources in %s/%s", GOLDEN_DIR, what);
    cr_assert(nfail == 0, "golden/%s: %d of %d failed (diffs above; UPDATE=1 rewrites)", what,
              nfail, nfiles);
}

Test(golden, errors, .timeout = 60)
{
    const char *dir = GOLDEN_DIR "/errors";
    char **names;
    int n = tu_list_dir(dir, ".etch", &names), nfail = 0;
    TuStr report = {0};
    for (int i = 0; i < n; i++) {
        TuStr cmd = {0};
        tu_str_printf(&cmd, "'%s' dump '%s'", ETCH_EXE, names[i]);
        char *out, *err;
        int st = tu_run(dir, cmd.s, &out, &err);
        char *exp = swap_ext(names[i], ".err");
        bool ok = true;
        if (st != 1) {
            tu_str_printf(&report, "%s/%s: `etch dump` exited %d, want 1; stderr:\n%s\n", dir,
                          names[i], st, err);
            ok = false;
        }
        ok = check_text(dir, exp, err, &report) && ok;
        nfail += !ok;
        free(exp);
        free(out);
        free(err);
        free(cmd.s);
    }
    tu_free_list(names, n);
    finish("errors", n, nfail, &report);
}

/* dump -> parse -> dump: the printed graph must parse back to itself. The
 * copy sits next to the source (hidden) so relative npy() paths resolve. */
static bool check_roundtrip(const char *dir, const char *name, TuStr *report)
{
    TuStr cmd = {0};
    tu_str_printf(&cmd, "'%s' dump '%s'", ETCH_EXE, name);
    char *first, *err;
    int st = tu_run(dir, cmd.s, &first, &err);
    bool ok = st == 0;
    if (!ok)
        tu_str_printf(report, "%s/%s: `etch dump` exited %d:\n%s\n", dir, name, st, err);
    free(err);
    free(cmd.s);
    if (!ok) {
        free(first);
        return false;
    }
    char copy[128];
    snprintf(copy, sizeof copy, ".roundtrip-%ld-%s", (long)getpid(), name);
    char *copy_path = tu_path(dir, copy);
    tu_write_file(copy_path, first, strlen(first));
    TuStr cmd2 = {0};
    tu_str_printf(&cmd2, "'%s' dump '%s'", ETCH_EXE, copy);
    char *second;
    st = tu_run(dir, cmd2.s, &second, &err);
    remove(copy_path);
    if (st != 0) {
        tu_str_printf(report, "%s/%s: the dump does not parse back (exit %d):\n%s\ndump:\n%s\n",
                      dir, name, st, err, first);
        ok = false;
    } else if (strcmp(first, second) != 0) {
        char *tmp = tu_mkdtemp("rt");
        char *a = tu_path(tmp, "first.etch"), *b = tu_path(tmp, "second.etch");
        tu_write_file(a, first, strlen(first));
        tu_write_file(b, second, strlen(second));
        char *diff = tu_diff_files(a, b);
        tu_str_printf(report, "%s/%s: dump -> parse -> dump changed the text:\n%s\n", dir, name,
                      diff);
        free(diff);
        free(a);
        free(b);
        tu_rmtree(tmp);
        free(tmp);
        ok = false;
    }
    free(copy_path);
    free(cmd2.s);
    free(first);
    free(second);
    free(err);
    return ok;
}

Test(golden, ir, .timeout = 60)
{
    const char *dir = GOLDEN_DIR "/ir";
    char **names;
    int n = tu_list_dir(dir, ".etch", &names), nfail = 0;
    TuStr report = {0};
    for (int i = 0; i < n; i++) {
        TuStr cmd = {0};
        char *path = tu_path(dir, names[i]);
        char *src = tu_read_file(path, NULL);
        const char *args = src && strncmp(src, "# args: ", 8) == 0 ? src + 8 : "";
        tu_str_printf(&cmd, "'%s' dump '%s' --print-after=all %.*s", ETCH_EXE, names[i],
                      (int)strcspn(args, "\n"), args);
        free(src);
        free(path);
        char *out, *err;
        int st = tu_run(dir, cmd.s, &out, &err);
        bool ok = true;
        if (st != 0) {
            tu_str_printf(&report, "%s/%s: `etch dump --print-after=all` exited %d:\n%s\n", dir,
                          names[i], st, err);
            ok = false;
        } else {
            char *exp = swap_ext(names[i], ".ir");
            ok = check_text(dir, exp, out, &report);
            free(exp);
        }
        ok = check_roundtrip(dir, names[i], &report) && ok;
        nfail += !ok;
        free(out);
        free(err);
        free(cmd.s);
    }
    tu_free_list(names, n);
    finish("ir", n, nfail, &report);
}

/* Compares one emitted file with its golden copy. */
static bool check_emitted(const char *dir, const char *tmp, const char *name, const char *ext,
                          TuStr *report)
{
    char *file = swap_ext(name, ext), *path = tu_path(tmp, file);
    char *text = tu_read_file(path, NULL);
    bool ok;
    if (!text) {
        tu_str_printf(report, "%s/%s: `etch compile` did not write %s\n", dir, name, file);
        ok = false;
    } else {
        ok = check_text(dir, file, text, report);
    }
    free(text);
    free(path);
    free(file);
    return ok;
}

Test(golden, c, .timeout = 60)
{
    const char *dir = GOLDEN_DIR "/c";
    char **names;
    int n = tu_list_dir(dir, ".etch", &names), nfail = 0;
    TuStr report = {0};
    for (int i = 0; i < n; i++) {
        char *tmp = tu_mkdtemp("goldc");
        TuStr cmd = {0};
        tu_str_printf(&cmd, "'%s' compile '%s' -o '%s'", ETCH_EXE, names[i], tmp);
        char *err;
        int st = tu_run(dir, cmd.s, NULL, &err);
        bool ok = st == 0;
        if (!ok) {
            tu_str_printf(&report, "%s/%s: `etch compile` exited %d:\n%s\n", dir, names[i], st,
                          err);
        } else {
            ok = check_emitted(dir, tmp, names[i], ".c", &report);
            ok = check_emitted(dir, tmp, names[i], ".h", &report) && ok;
            /* Golden C that does not build would be a golden bug. */
            char *src = swap_ext(names[i], ".c");
            TuStr cc = {0};
            const char *env_cc = getenv("CC");
            tu_str_printf(&cc, "%s -std=c99 -Wall -Wextra -pedantic -Werror -c '%s' -o obj.o",
                          env_cc && *env_cc ? env_cc : "cc", src);
            char *cerr;
            if (tu_run(tmp, cc.s, NULL, &cerr) != 0) {
                tu_str_printf(&report, "%s/%s: the emitted C does not compile:\n%s\n", dir,
                              names[i], cerr);
                ok = false;
            }
            free(cerr);
            free(cc.s);
            free(src);
        }
        nfail += !ok;
        free(err);
        free(cmd.s);
        tu_rmtree(tmp);
        free(tmp);
    }
    tu_free_list(names, n);
    finish("c", n, nfail, &report);
}
