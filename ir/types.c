/* types.c: dtypes and tensor types (dtype + static shape + quantization). */
#include "ir.h"

#include <string.h>

static const struct {
    const char *name;
    size_t size;
    bool is_float;
    const char *ctype;
} dtypes[DT_COUNT] = {
    [DT_NONE] = {"none", 0, false, "void"},
#define X(id, name, size, fl, sg, ct) [DT_##id] = {name, size, fl, ct},
    ETCH_DTYPES(X)
#undef X
};

const char *dtype_name(DType t) { return dtypes[t].name; }
const char *dtype_ctype(DType t) { return dtypes[t].ctype; }
size_t dtype_size(DType t) { return dtypes[t].size; }
bool dtype_is_float(DType t) { return dtypes[t].is_float; }

DType dtype_from_name(const char *name)
{
    for (int t = 1; t < DT_COUNT; t++)
        if (strcmp(dtypes[t].name, name) == 0)
            return (DType)t;
    return DT_NONE;
}

int64_t type_numel(const Type *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->rank; i++)
        n *= t->dims[i];
    return n;
}

size_t type_bytes(const Type *t)
{
    return (size_t)type_numel(t) * dtype_size(t->dtype);
}

bool type_equal(const Type *a, const Type *b)
{
    if (a->dtype != b->dtype || a->rank != b->rank)
        return false;
    for (int i = 0; i < a->rank; i++)
        if (a->dims[i] != b->dims[i])
            return false;
    return true;
}

Type type_make(DType dt, int rank, const int64_t *dims)
{
    Type t = {.dtype = dt, .rank = rank};
    for (int i = 0; i < rank; i++)
        t.dims[i] = dims[i];
    return t;
}

char *shape_str(const Type *t, char *buf, size_t size)
{
    size_t n = 0;
    n += (size_t)snprintf(buf + n, size - n, "[");
    for (int i = 0; i < t->rank && n < size; i++)
        n += (size_t)snprintf(buf + n, size - n, "%s%lld", i ? ", " : "", (long long)t->dims[i]);
    if (n < size)
        snprintf(buf + n, size - n, "]");
    return buf;
}

char *type_str(const Type *t, char *buf, size_t size)
{
    char sh[256];
    snprintf(buf, size, "%s%s", dtype_name(t->dtype), shape_str(t, sh, sizeof sh));
    return buf;
}

void type_strides(const Type *t, int64_t *strides)
{
    int64_t s = 1;
    for (int i = t->rank - 1; i >= 0; i--) {
        strides[i] = s;
        s *= t->dims[i];
    }
}
