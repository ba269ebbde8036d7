/* test_npy.c: reading and writing .npy files (suite `npy`).
 *
 * Every dtype round-trips through fe_write_npy / fe_read_npy with random
 * data (seeded; the seed is printed on failure). Hand-built files cover
 * header versions 2 and 3, f8 narrowing, shapes () and (5,), and every
 * malformed-file diagnostic (bad magic, version, dtype, fortran order,
 * truncated header or data).
 */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frontend/frontend.h"
#include "testutil.h"

static char *tmpdir;

static void setup(void) { tmpdir = tu_mkdtemp("npy"); }
static void teardown(void)
{
    tu_rmtree(tmpdir);
    free(tmpdir);
}

TestSuite(npy, .init = setup, .fini = teardown);

/* Writes "\x93NUMPY", the version, the header length and the header
 * (padded to 16 bytes with spaces and '\n'), then `data`. */
static char *write_raw(const char *name, int major, const char *header, const void *data,
                       size_t len)
{
    char *path = tu_path(tmpdir, name);
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    size_t pre = major == 1 ? 10 : 12, hl = strlen(header) + 1;
    while ((pre + hl) % 16)
        hl++;
    unsigned char head[12] = {0x93, 'N', 'U', 'M', 'P', 'Y', (unsigned char)major, 0,
                              (unsigned char)(hl & 0xff), (unsigned char)(hl >> 8), 0, 0};
    fwrite(head, 1, pre, f);
    fputs(header, f);
    for (size_t i = strlen(header) + 1; i < hl; i++)
        fputc(' ', f);
    fputc('\n', f);
    fwrite(data, 1, len, f);
    fclose(f);
    return path;
}

typedef struct {
    Ctx *c;
    char *diag;
    size_t len;
    FILE *err;
} Diag;

/* In place: the memstream keeps pointers to d's fields. */
static void diag_begin(Diag *d)
{
    *d = (Diag){.c = ctx_new()};
    d->err = open_memstream(&d->diag, &d->len);
    cr_assert_not_null(d->err);
    d->c->err = d->err;
}

static void diag_end(Diag *d)
{
    fclose(d->err);
    d->c->err = stderr;
}

/* Reading `path` must fail with one error containing `msg`. */
static void expect_bad(const char *path, const char *msg)
{
    Diag d;
    diag_begin(&d);
    Type t;
    void *data = NULL;
    bool ok = fe_read_npy(d.c, path, (Loc){"m.etch", 3, 7}, &t, &data);
    diag_end(&d);
    cr_assert(!ok, "'%s' was accepted", path);
    cr_assert_eq(d.c->nerrors, 1);
    cr_assert(strncmp(d.diag, "m.etch:3:7: error: ", 19) == 0, "%s", d.diag);
    cr_assert_not_null(strstr(d.diag, msg), "want '%s' in: %s", msg, d.diag);
    ctx_free(d.c);
    free(d.diag);
}

static Type read_ok(Ctx *c, const char *path, void **data)
{
    Type t;
    cr_assert(fe_read_npy(c, path, (Loc){"m.etch", 1, 1}, &t, data), "cannot read %s", path);
    return t;
}

Test(npy, round_trip_every_dtype)
{
    uint64_t seed = tu_seed();
    TuRng r;
    tu_rng_init(&r, seed);
    for (int dt = 1; dt < DT_COUNT; dt++) {
        int rank = tu_rng_int(&r, 0, 4);
        int64_t dims[IR_MAX_RANK];
        for (int i = 0; i < rank; i++)
            dims[i] = tu_rng_int(&r, 1, 5);
        Type t = type_make((DType)dt, rank, dims);
        size_t bytes = type_bytes(&t);
        unsigned char *src = malloc(bytes);
        for (size_t i = 0; i < bytes; i++)
            src[i] = (unsigned char)tu_rng_u32(&r);
        if (dt == DT_BOOL)
            for (size_t i = 0; i < bytes; i++)
                src[i] &= 1;
        if (dt == DT_F32) /* keep finite, nonzero floats */
            for (int64_t i = 0; i < type_numel(&t); i++)
                ((float *)src)[i] = tu_rng_float(&r, -100, 100) + 0.5f;
        char *path = tu_path(tmpdir, "rt.npy");
        cr_assert(fe_write_npy(path, &t, src));
        Ctx *c = ctx_new();
        void *data;
        Type got = read_ok(c, path, &data);
        char a[64], b[64];
        cr_assert(type_equal(&got, &t), "seed %llu: %s came back as %s",
                  (unsigned long long)seed, type_str(&t, a, sizeof a), type_str(&got, b, sizeof b));
        cr_assert_eq(memcmp(data, src, bytes), 0, "seed %llu: %s data differs",
                     (unsigned long long)seed, dtype_name((DType)dt));
        /* v1.0 headers end on a 64-byte boundary with '\n'. */
        size_t len;
        char *raw = tu_read_file(path, &len);
        size_t hl = (size_t)(unsigned char)raw[8] | (size_t)(unsigned char)raw[9] << 8;
        cr_assert_eq((10 + hl) % 64, 0);
        cr_assert_eq(raw[10 + hl - 1], '\n');
        cr_assert_eq(len, 10 + hl + bytes);
        free(raw);
        ctx_free(c);
        free(path);
        free(src);
    }
}

Test(npy, header_shapes_are_python_tuples)
{
    float one = 2.5f;
    Type t = type_make(DT_F32, 0, NULL);
    char *path = tu_path(tmpdir, "s.npy");
    cr_assert(fe_write_npy(path, &t, &one));
    size_t len;
    char *raw = tu_read_file(path, &len);
    cr_assert_not_null(strstr(raw + 10, "{'descr': '<f4', 'fortran_order': False, 'shape': (), }"));
    free(raw);
    int16_t v[5] = {1, -2, 300, -400, 5};
    t = type_make(DT_I16, 1, (int64_t[]){5});
    cr_assert(fe_write_npy(path, &t, v));
    raw = tu_read_file(path, &len);
    cr_assert_not_null(strstr(raw + 10, "'descr': '<i2', 'fortran_order': False, 'shape': (5,), }"));
    free(raw);
    free(path);
}

Test(npy, versions_2_and_3)
{
    int32_t v[6] = {1, -2, 3, -4, 5, 123456789};
    const char *h = "{'descr': '<i4', 'fortran_order': False, 'shape': (2, 3), }";
    for (int major = 2; major <= 3; major++) {
        char *path = write_raw(major == 2 ? "v2.npy" : "v3.npy", major, h, v, sizeof v);
        Ctx *c = ctx_new();
        void *data;
        Type t = read_ok(c, path, &data);
        cr_assert_eq(t.dtype, DT_I32);
        cr_assert_eq(t.rank, 2);
        cr_assert_eq(t.dims[1], 3);
        cr_assert_eq(memcmp(data, v, sizeof v), 0);
        ctx_free(c);
        free(path);
    }
}

Test(npy, f8_narrows_to_f32)
{
    double v[5] = {0.1, -2.5, 1e30, -1e-30, 3.0};
    char *path = write_raw("d.npy", 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (5,), }",
                           v, sizeof v);
    Ctx *c = ctx_new();
    float *data;
    Type t = read_ok(c, path, (void **)&data);
    cr_assert_eq(t.dtype, DT_F32);
    cr_assert_eq(t.rank, 1);
    cr_assert_eq(t.dims[0], 5);
    for (int i = 0; i < 5; i++)
        cr_assert_eq(data[i], (float)v[i], "element %d", i);
    ctx_free(c);
    free(path);
}

Test(npy, bytes_and_bools)
{
    unsigned char v[4] = {0, 1, 200, 255};
    char *path = write_raw("b.npy", 1, "{'descr': '|b1', 'fortran_order': False, 'shape': (2, 2), }",
                           (unsigned char[]){0, 1, 1, 0}, 4);
    Ctx *c = ctx_new();
    unsigned char *data;
    Type t = read_ok(c, path, (void **)&data);
    cr_assert_eq(t.dtype, DT_BOOL);
    cr_assert_eq(data[1], 1);
    cr_assert_eq(data[3], 0);
    free(path);
    path = write_raw("u.npy", 1, "{'descr': '|u1', 'fortran_order': False, 'shape': (4,), }", v, 4);
    t = read_ok(c, path, (void **)&data);
    cr_assert_eq(t.dtype, DT_U8);
    cr_assert_eq(memcmp(data, v, 4), 0);
    free(path);
    ctx_free(c);
}

Test(npy, missing_file)
{
    expect_bad("/nonexistent/x.npy", "cannot open '/nonexistent/x.npy': No such file or directory");
}

Test(npy, malformed_files)
{
    float v[2] = {1, 2};
    const char *ok = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }";
    char *p = tu_path(tmpdir, "text.npy");
    tu_write_file(p, "hello, world\n", 13);
    expect_bad(p, "not a .npy file (bad magic)");
    free(p);
    p = write_raw("v9.npy", 9, ok, v, sizeof v);
    expect_bad(p, "unsupported .npy version 9.0");
    free(p);
    p = write_raw("be.npy", 1, "{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", v, 8);
    expect_bad(p, "unsupported dtype '>f4'");
    free(p);
    p = write_raw("c8.npy", 1, "{'descr': '<c8', 'fortran_order': False, 'shape': (2,), }", v, 8);
    expect_bad(p, "unsupported dtype '<c8'");
    free(p);
    p = write_raw("f.npy", 1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2,), }", v, 8);
    expect_bad(p, "fortran_order arrays are not supported");
    free(p);
    p = write_raw("ns.npy", 1, "{'descr': '<f4', 'fortran_order': False, }", v, 8);
    expect_bad(p, "malformed .npy header");
    free(p);
    p = write_raw("bs.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, x), }", v, 8);
    expect_bad(p, "malformed .npy header (bad shape)");
    free(p);
    p = write_raw("short.npy", 1, ok, v, 7);
    expect_bad(p, "truncated: the shape needs 8 bytes of data, the file has 7");
    free(p);
    p = write_raw("long.npy", 1, ok, (float[]){1, 2, 3}, 12);
    expect_bad(p, "trailing bytes: the shape needs 8 bytes of data, the file has 12");
    free(p);
    /* A header length that runs past the end of the file. */
    p = tu_path(tmpdir, "th.npy");
    tu_write_file(p, "\x93NUMPY\x01\x00\xff\x00{'descr'", 18);
    expect_bad(p, "truncated .npy header");
    free(p);
}
