/* npy.c: reading and writing NumPy .npy files (format versions 1, 2, 3).
 *
 * A .npy file is the magic "\x93NUMPY", a version, a little-endian header
 * length (2 bytes in v1, 4 in v2/v3), an ASCII Python dict literal
 * {'descr': ..., 'fortran_order': ..., 'shape': (...)} and then the raw
 * elements. Only little-endian (or byte-sized) dtypes in C order are read;
 * f8 is narrowed to f32, the compiler's only float type. Elements are
 * assembled byte by byte, so the host's endianness does not matter.
 */
#include "frontend.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *descr;
    DType dtype;
    int size; /* bytes per element in the file */
} npy_types[] = {
    {"<f4", DT_F32, 4}, {"<f8", DT_F32, 8}, {"|i1", DT_I8, 1}, {"|u1", DT_U8, 1},
    {"<i2", DT_I16, 2}, {"<i4", DT_I32, 4}, {"<i8", DT_I64, 8}, {"|b1", DT_BOOL, 1},
};
enum { NPY_NTYPES = sizeof npy_types / sizeof npy_types[0] };

/* Skips spaces; returns the first non-space. */
static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && isspace((unsigned char)*p))
        p++;
    return p;
}

/* The value text right after `'key':` in the header dict, or NULL. */
static const char *dict_value(const char *h, const char *end, const char *key)
{
    size_t klen = strlen(key);
    for (const char *p = h; p + klen + 2 <= end; p++) {
        if ((*p != '\'' && *p != '"') || p[klen + 1] != *p || memcmp(p + 1, key, klen) != 0)
            continue;
        const char *q = skip_ws(p + klen + 2, end);
        if (q < end && *q == ':')
            return skip_ws(q + 1, end);
    }
    return NULL;
}

typedef struct {
    Ctx *c;
    const char *path;
    Loc loc;
} NpyCtx;

static bool npy_fail(const NpyCtx *n, const char *what)
{
    diag_error(n->c, n->loc, "'%s': %s", n->path, what);
    return false;
}

/* Parses the header dict into a type and the file's element size. */
static bool parse_header(const NpyCtx *n, const char *h, size_t len, Type *t, int *elsize)
{
    const char *end = h + len;
    const char *d = dict_value(h, end, "descr");
    const char *fo = dict_value(h, end, "fortran_order");
    const char *sh = dict_value(h, end, "shape");
    if (!d || !fo || !sh || (*d != '\'' && *d != '"'))
        return npy_fail(n, "malformed .npy header (needs descr, fortran_order and shape)");
    const char *dq = memchr(d + 1, *d, (size_t)(end - d - 1));
    if (!dq)
        return npy_fail(n, "malformed .npy header (unterminated descr)");
    size_t dlen = (size_t)(dq - d - 1);
    int k = 0;
    while (k < NPY_NTYPES && !(strlen(npy_types[k].descr) == dlen &&
                               memcmp(npy_types[k].descr, d + 1, dlen) == 0))
        k++;
    if (k == NPY_NTYPES) {
        char msg[160];
        snprintf(msg, sizeof msg,
                 "unsupported dtype '%.*s' (supported: <f4, <f8, |i1, |u1, <i2, <i4, <i8, |b1)",
                 (int)(dlen > 32 ? 32 : dlen), d + 1);
        return npy_fail(n, msg);
    }
    if ((size_t)(end - fo) >= 4 && memcmp(fo, "True", 4) == 0)
        return npy_fail(n, "fortran_order arrays are not supported (save in C order)");
    if ((size_t)(end - fo) < 5 || memcmp(fo, "False", 5) != 0)
        return npy_fail(n, "malformed .npy header (fortran_order is not True or False)");
    if (*sh != '(')
        return npy_fail(n, "malformed .npy header (shape is not a tuple)");
    *t = (Type){.dtype = npy_types[k].dtype};
    *elsize = npy_types[k].size;
    const char *p = skip_ws(sh + 1, end);
    while (p < end && *p != ')') {
        if (!isdigit((unsigned char)*p))
            return npy_fail(n, "malformed .npy header (bad shape)");
        if (t->rank == IR_MAX_RANK)
            return npy_fail(n, "array rank is above the maximum of 8");
        errno = 0;
        char *after;
        long long v = strtoll(p, &after, 10);
        if (errno == ERANGE || after > end)
            return npy_fail(n, "malformed .npy header (shape entry out of range)");
        t->dims[t->rank++] = v;
        p = skip_ws(after, end);
        if (p < end && *p == ',')
            p = skip_ws(p + 1, end);
        else if (p < end && *p != ')')
            return npy_fail(n, "malformed .npy header (bad shape)");
    }
    if (p >= end)
        return npy_fail(n, "malformed .npy header (unterminated shape)");
    return true;
}

static uint64_t load_le(const unsigned char *p, int size)
{
    uint64_t v = 0;
    for (int i = size - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* Converts n elements of the file's layout to the IR's. */
static void convert(const Type *t, int elsize, const unsigned char *src, void *dst, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        uint64_t bits = load_le(src + i * elsize, elsize);
        switch (t->dtype) {
        case DT_F32:
            if (elsize == 8) {
                double d;
                memcpy(&d, &bits, 8);
                ((float *)dst)[i] = (float)d;
            } else {
                uint32_t b32 = (uint32_t)bits;
                memcpy((float *)dst + i, &b32, 4);
            }
            break;
        case DT_I8: case DT_U8: ((uint8_t *)dst)[i] = (uint8_t)bits; break;
        case DT_BOOL: ((uint8_t *)dst)[i] = bits != 0; break;
        case DT_I16: ((uint16_t *)dst)[i] = (uint16_t)bits; break;
        case DT_I32: ((uint32_t *)dst)[i] = (uint32_t)bits; break;
        case DT_I64: ((uint64_t *)dst)[i] = bits; break;
        default: unreachable("npy dtype without a conversion");
        }
    }
}

/* Reads the whole file into the arena. */
static unsigned char *slurp(const NpyCtx *n, size_t *len)
{
    FILE *f = fopen(n->path, "rb");
    if (!f) {
        diag_error(n->c, n->loc, "cannot open '%s': %s", n->path, strerror(errno));
        return NULL;
    }
    unsigned char *buf = NULL;
    size_t size = 0, cap = 0;
    for (;;) {
        if (size == cap) {
            size_t ncap = cap ? cap * 2 : 65536;
            unsigned char *grown = arena_alloc(n->c->arena, ncap);
            if (size)
                memcpy(grown, buf, size);
            buf = grown;
            cap = ncap;
        }
        size_t got = fread(buf + size, 1, cap - size, f);
        size += got;
        if (got == 0)
            break;
    }
    bool bad = ferror(f);
    int err = errno;
    fclose(f);
    if (bad) {
        diag_error(n->c, n->loc, "cannot read '%s': %s", n->path, strerror(err));
        return NULL;
    }
    *len = size;
    return buf;
}

bool fe_read_npy(Ctx *c, const char *path, Loc loc, Type *t, void **data)
{
    NpyCtx n = {c, path, loc};
    size_t len;
    unsigned char *buf = slurp(&n, &len);
    if (!buf)
        return false;
    if (len < 10 || memcmp(buf, "\x93NUMPY", 6) != 0)
        return npy_fail(&n, "not a .npy file (bad magic)");
    int major = buf[6];
    size_t hlen, hstart;
    if (major == 1) {
        hlen = (size_t)load_le(buf + 8, 2);
        hstart = 10;
    } else if (major == 2 || major == 3) {
        if (len < 12)
            return npy_fail(&n, "truncated .npy header");
        hlen = (size_t)load_le(buf + 8, 4);
        hstart = 12;
    } else {
        char msg[64];
        snprintf(msg, sizeof msg, "unsupported .npy version %d.%d", major, buf[7]);
        return npy_fail(&n, msg);
    }
    if (hlen > len - hstart)
        return npy_fail(&n, "truncated .npy header");
    int elsize;
    if (!parse_header(&n, (const char *)buf + hstart, hlen, t, &elsize))
        return false;
    int64_t numel = type_numel(t);
    size_t have = len - hstart - hlen, want = (size_t)numel * (size_t)elsize;
    if (have != want) {
        char msg[160];
        snprintf(msg, sizeof msg, "%s: the shape needs %zu bytes of data, the file has %zu",
                 have < want ? "truncated" : "trailing bytes", want, have);
        return npy_fail(&n, msg);
    }
    size_t bytes = type_bytes(t);
    *data = arena_alloc(c->arena, bytes ? bytes : 1);
    convert(t, elsize, buf + hstart + hlen, *data, numel);
    return true;
}

static const char *descr_of(DType dt)
{
    for (int k = 0; k < NPY_NTYPES; k++)
        if (npy_types[k].dtype == dt && npy_types[k].size == (int)dtype_size(dt))
            return npy_types[k].descr;
    unreachable("dtype without a .npy descr");
}

bool fe_write_npy(const char *path, const Type *t, const void *data)
{
    char shape[IR_MAX_RANK * 24 + 8];
    size_t sl = 0;
    sl += (size_t)snprintf(shape + sl, sizeof shape - sl, "(");
    for (int i = 0; i < t->rank; i++)
        sl += (size_t)snprintf(shape + sl, sizeof shape - sl, "%s%lld", i ? ", " : "",
                               (long long)t->dims[i]);
    snprintf(shape + sl, sizeof shape - sl, t->rank == 1 ? ",)" : ")");
    char header[512];
    int hl = snprintf(header, sizeof header, "{'descr': '%s', 'fortran_order': False, 'shape': %s, }",
                      descr_of(t->dtype), shape);
    /* Pad with spaces so the data starts 64-byte aligned, then '\n'. */
    while ((10 + hl + 1) % 64 != 0)
        header[hl++] = ' ';
    header[hl++] = '\n';
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(hl & 0xff),
                             (unsigned char)(hl >> 8)};
    FILE *f = fopen(path, "wb");
    if (!f)
        return false;
    bool ok = fwrite(pre, 1, sizeof pre, f) == sizeof pre &&
              fwrite(header, 1, (size_t)hl, f) == (size_t)hl;
    size_t size = dtype_size(t->dtype);
    int64_t numel = type_numel(t);
    const unsigned char *src = data;
    for (int64_t i = 0; ok && i < numel; i++) {
        unsigned char le[8];
        uint64_t bits;
        /* Read in host order, then write little-endian bytes. */
        switch (size) {
        case 1: bits = src[i]; break;
        case 2: { uint16_t v; memcpy(&v, src + i * 2, 2); bits = v; break; }
        case 4: { uint32_t v; memcpy(&v, src + i * 4, 4); bits = v; break; }
        case 8: { uint64_t v; memcpy(&v, src + i * 8, 8); bits = v; break; }
        default: unreachable("element size");
        }
        for (size_t b = 0; b < size; b++)
            le[b] = (unsigned char)(bits >> (8 * b));
        ok = fwrite(le, 1, size, f) == size;
    }
    int err = errno;
    if (fclose(f) != 0)
        ok = false;
    else
        errno = err;
    return ok;
}
