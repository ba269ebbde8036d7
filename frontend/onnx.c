/* onnx.c: the ONNX importer.
 *
 * Decodes a ModelProto with protobuf-c bindings generated at build time from
 * the system's onnx.proto, then builds Graph IR through the IR builder only.
 * Each ONNX op maps to one etch op through `importers` (attributes renamed
 * camelCase -> snake_case), or to a converter for ops whose inputs must be
 * constants folded into attributes (Reshape's shape, Clip's bounds, Pad's
 * pads) or whose semantics changed across opsets (Softmax before 13).
 * Symbolic dimensions default to 1 unless the caller overrides an input's
 * shape. Value names are sanitized to graph-language identifiers, so an
 * imported graph dumps as a program that parses back in.
 * Every failure is a diagnostic naming the file and, for nodes, the node
 * and op; malformed files are errors, never crashes.
 */
#include "frontend.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "onnx.pb-c.h"

typedef struct {
    Ctx *c;
    Graph *g;
    const char *path;
    const FeOptions *opts;
    int64_t opset;
    /* ONNX tensor name -> value id, open addressing. */
    const char **keys;
    int *ids;
    int cap, count;
} Importer;

/* ------------------------------------------------------------ name table */

static uint32_t hash_name(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

static void map_put(Importer *im, const char *name, int id);

static void map_grow(Importer *im)
{
    const char **keys = im->keys;
    int *ids = im->ids, old = im->cap;
    im->cap = old ? old * 2 : 256;
    im->count = 0;
    im->keys = arena_alloc(im->g->arena, (size_t)im->cap * sizeof *im->keys);
    im->ids = arena_alloc(im->g->arena, (size_t)im->cap * sizeof *im->ids);
    for (int i = 0; i < old; i++)
        if (keys[i])
            map_put(im, keys[i], ids[i]);
}

static int map_slot(const Importer *im, const char *name)
{
    uint32_t mask = (uint32_t)im->cap - 1;
    for (uint32_t i = hash_name(name) & mask;; i = (i + 1) & mask)
        if (!im->keys[i] || strcmp(im->keys[i], name) == 0)
            return (int)i;
}

static void map_put(Importer *im, const char *name, int id)
{
    if (!im->cap || im->count * 2 >= im->cap)
        map_grow(im);
    int s = map_slot(im, name);
    if (!im->keys[s])
        im->count++;
    im->keys[s] = name;
    im->ids[s] = id;
}

static int map_get(const Importer *im, const char *name)
{
    if (!im->cap)
        return -1;
    int s = map_slot(im, name);
    return im->keys[s] ? im->ids[s] : -1;
}

/* A graph-language identifier for an ONNX name, unique in the graph. */
static const char *ident(Importer *im, const char *name)
{
    size_t n = strlen(name);
    char *s = arena_alloc(im->g->arena, n + 16);
    size_t j = 0;
    if (n == 0 || isdigit((unsigned char)name[0]))
        s[j++] = 'v';
    for (size_t i = 0; i < n; i++)
        s[j++] = isalnum((unsigned char)name[i]) || name[i] == '_' ? name[i] : '_';
    s[j] = 0;
    if (ir_find_value(im->g, s) < 0)
        return s;
    for (int k = 1;; k++) {
        snprintf(s + j, 16, "_%d", k);
        if (ir_find_value(im->g, s) < 0)
            return s;
    }
}

/* ------------------------------------------------------------ tensors */

static DType onnx_dtype(int32_t t)
{
    switch (t) {
    case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT: return DT_F32;
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT8: return DT_U8;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT8: return DT_I8;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT16: return DT_I16;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT32: return DT_I32;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT64: return DT_I64;
    case ONNX__TENSOR_PROTO__DATA_TYPE__BOOL: return DT_BOOL;
    case ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE: return DT_F32; /* narrowed on load */
    default: return DT_NONE;
    }
}

static const char *onnx_dtype_name(int32_t t)
{
    const ProtobufCEnumValue *v =
        protobuf_c_enum_descriptor_get_value(&onnx__tensor_proto__data_type__descriptor, t);
    return v ? v->name : "unknown";
}

/* Reads `len` bytes at `offset` of an external data file next to the model. */
static void *read_external(Importer *im, const Onnx__TensorProto *t, size_t want, Loc loc)
{
    const char *location = NULL;
    long long offset = 0, length = -1;
    for (size_t i = 0; i < t->n_external_data; i++) {
        const Onnx__StringStringEntryProto *e = t->external_data[i];
        if (!e->key || !e->value)
            continue;
        if (strcmp(e->key, "location") == 0)
            location = e->value;
        else if (strcmp(e->key, "offset") == 0)
            offset = strtoll(e->value, NULL, 10);
        else if (strcmp(e->key, "length") == 0)
            length = strtoll(e->value, NULL, 10);
    }
    if (!location || strstr(location, "..") || location[0] == '/') {
        diag_error(im->c, loc, "tensor '%s': external data needs a relative 'location' inside the model's directory",
                   t->name ? t->name : "");
        return NULL;
    }
    const char *slash = strrchr(im->path, '/');
    const char *file = slash ? arena_printf(im->g->arena, "%.*s/%s", (int)(slash - im->path),
                                            im->path, location)
                             : location;
    if (length >= 0 && (size_t)length != want) {
        diag_error(im->c, loc, "tensor '%s': external data length %lld, expected %zu bytes",
                   t->name ? t->name : "", length, want);
        return NULL;
    }
    FILE *f = fopen(file, "rb");
    if (!f) {
        diag_error(im->c, loc, "cannot open external data '%s': %s", file, strerror(errno));
        return NULL;
    }
    long end = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    if (offset < 0 || end < 0 || (unsigned long long)end < (unsigned long long)offset + want) {
        fclose(f);
        diag_error(im->c, loc, "external data '%s' is too short for tensor '%s'", file,
                   t->name ? t->name : "");
        return NULL;
    }
    void *data = arena_alloc(im->g->arena, want ? want : 1);
    bool ok = fseek(f, offset, SEEK_SET) == 0 && fread(data, 1, want, f) == want;
    fclose(f);
    if (!ok) {
        diag_error(im->c, loc, "external data '%s' is too short for tensor '%s'", file,
                   t->name ? t->name : "");
        return NULL;
    }
    return data;
}

/* Decodes a TensorProto into a Type and arena data; false after a diagnostic. */
static bool load_tensor(Importer *im, const Onnx__TensorProto *t, Loc loc, Type *type, void **out)
{
    int32_t dt = t->has_data_type ? t->data_type : 0;
    DType d = onnx_dtype(dt);
    const char *name = t->name ? t->name : "";
    if (d == DT_NONE) {
        diag_error(im->c, loc, "tensor '%s' has data type %s; etch supports float, double (as float), int8, uint8, int16, int32, int64 and bool",
                   name, onnx_dtype_name(dt));
        return false;
    }
    if (t->n_dims > IR_MAX_RANK) {
        diag_error(im->c, loc, "tensor '%s' has rank %zu; etch supports up to %d", name, t->n_dims,
                   IR_MAX_RANK);
        return false;
    }
    *type = (Type){.dtype = d, .rank = (int)t->n_dims};
    int64_t numel = 1;
    for (size_t i = 0; i < t->n_dims; i++) {
        if (t->dims[i] < 0 || (t->dims[i] && numel > INT64_MAX / 16 / t->dims[i])) {
            diag_error(im->c, loc, "tensor '%s' has an invalid dimension %lld", name,
                       (long long)t->dims[i]);
            return false;
        }
        type->dims[i] = t->dims[i];
        numel *= t->dims[i];
    }
    bool is_double = dt == ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE;
    size_t src_size = is_double ? 8 : dtype_size(d);
    size_t bytes = (size_t)numel * src_size;
    /* Count what the message actually holds before allocating anything, so
     * a corrupt shape cannot ask for terabytes. */
    bool external = t->has_data_location &&
                    t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
    size_t have;
    if (external)
        have = (size_t)numel; /* read_external checks the file's length */
    else if (t->has_raw_data)
        have = t->raw_data.len % src_size ? SIZE_MAX : t->raw_data.len / src_size;
    else if (is_double)
        have = t->n_double_data;
    else if (d == DT_F32)
        have = t->n_float_data;
    else if (d == DT_I64)
        have = t->n_int64_data;
    else
        have = t->n_int32_data;
    if (have != (size_t)numel) {
        diag_error(im->c, loc, "tensor '%s' holds %s%zu values, its shape needs %lld", name,
                   have == SIZE_MAX ? "a partial number of " : "", have == SIZE_MAX ? (size_t)0 : have,
                   (long long)numel);
        return false;
    }
    const void *raw = NULL;
    if (external) {
        raw = read_external(im, t, bytes, loc);
        if (!raw)
            return false;
    } else if (t->has_raw_data) {
        raw = t->raw_data.data;
    }
    void *data = arena_alloc(im->g->arena, (size_t)numel * dtype_size(d) + 1);
    if (raw && is_double) {
        for (int64_t i = 0; i < numel; i++) {
            double v;
            memcpy(&v, (const char *)raw + i * 8, 8);
            ((float *)data)[i] = (float)v;
        }
    } else if (raw) {
        memcpy(data, raw, bytes);
    } else if (is_double) {
        for (int64_t i = 0; i < numel; i++)
            ((float *)data)[i] = (float)t->double_data[i];
    } else if (d == DT_F32) {
        memcpy(data, t->float_data, bytes);
    } else if (d == DT_I64) {
        memcpy(data, t->int64_data, bytes);
    } else {
        for (int64_t i = 0; i < numel; i++) {
            int32_t v = t->int32_data[i];
            switch (d) {
            case DT_I8: ((int8_t *)data)[i] = (int8_t)v; break;
            case DT_U8: case DT_BOOL: ((uint8_t *)data)[i] = (uint8_t)v; break;
            case DT_I16: ((int16_t *)data)[i] = (int16_t)v; break;
            default: ((int32_t *)data)[i] = v; break;
            }
        }
    }
    *out = data;
    return true;
}

/* ------------------------------------------------------------ nodes */

typedef struct {
    const Onnx__NodeProto *np;
    Loc loc;
    const char *desc;   /* "node 'conv1' (Conv)" */
} OnnxNode;

static int input_value(Importer *im, const OnnxNode *on, size_t i)
{
    if (i >= on->np->n_input || !on->np->input[i][0])
        return -1;
    int v = map_get(im, on->np->input[i]);
    if (v < 0)
        diag_error(im->c, on->loc, "input '%s' is not defined by any earlier node, initializer or graph input",
                   on->np->input[i]);
    return v;
}

/* The data of a constant input, or NULL after a diagnostic. */
static const Value *const_input(Importer *im, const OnnxNode *on, size_t i, const char *what)
{
    int v = input_value(im, on, i);
    if (v < 0)
        return NULL;
    const Value *val = ir_value(im->g, v);
    if (val->kind != VK_CONST) {
        diag_error(im->c, on->loc, "input %zu (%s) must be a constant for etch to compile it statically",
                   i, what);
        return NULL;
    }
    return val;
}

static bool const_ints(Importer *im, const OnnxNode *on, size_t i, const char *what, Attr *a)
{
    const Value *v = const_input(im, on, i, what);
    if (!v)
        return false;
    int64_t n = type_numel(&v->type);
    a->type = AT_INTS;
    a->n = (int)n;
    a->ints = arena_alloc(im->g->arena, (size_t)(n ? n : 1) * sizeof *a->ints);
    if (v->type.dtype != DT_I64 && v->type.dtype != DT_I32) {
        diag_error(im->c, on->loc, "input %zu (%s) must be int64, not %s", i, what,
                   dtype_name(v->type.dtype));
        return false;
    }
    for (int64_t k = 0; k < n; k++)
        a->ints[k] = v->type.dtype == DT_I64 ? ((const int64_t *)v->data)[k]
                                             : ((const int32_t *)v->data)[k];
    return true;
}

static bool const_float(Importer *im, const OnnxNode *on, size_t i, const char *what, double *out)
{
    const Value *v = const_input(im, on, i, what);
    if (!v)
        return false;
    if (type_numel(&v->type) != 1 || v->type.dtype != DT_F32) {
        diag_error(im->c, on->loc, "input %zu (%s) must be a float scalar", i, what);
        return false;
    }
    *out = ((const float *)v->data)[0];
    return true;
}

/* camelCase -> snake_case: transA -> trans_a. */
static const char *snake(Arena *a, const char *s)
{
    char *out = arena_alloc(a, strlen(s) * 2 + 1), *p = out;
    for (; *s; s++) {
        if (isupper((unsigned char)*s)) {
            if (p != out)
                *p++ = '_';
            *p++ = (char)tolower((unsigned char)*s);
        } else {
            *p++ = *s;
        }
    }
    return out;
}

static bool onnx_attr_value(Importer *im, const OnnxNode *on, const Onnx__AttributeProto *ap, Attr *a)
{
    Arena *ar = im->g->arena;
    memset(a, 0, sizeof *a);
    switch (ap->type) {
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT: a->type = AT_INT; a->i = ap->i; return true;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT: a->type = AT_FLOAT; a->f = ap->f; return true;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING:
        a->type = AT_STR;
        a->s = arena_strndup(ar, (const char *)ap->s.data, ap->s.len);
        return true;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS:
        a->type = AT_INTS;
        a->n = (int)ap->n_ints;
        a->ints = arena_memdup(ar, ap->ints, ap->n_ints * sizeof *ap->ints);
        return true;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS:
        a->type = AT_FLOATS;
        a->n = (int)ap->n_floats;
        a->floats = arena_alloc(ar, (ap->n_floats ? ap->n_floats : 1) * sizeof *a->floats);
        for (size_t i = 0; i < ap->n_floats; i++)
            a->floats[i] = ap->floats[i];
        return true;
    default:
        diag_error(im->c, on->loc, "attribute '%s' has a kind etch does not support", ap->name ? ap->name : "");
        return false;
    }
}

/* Creates an etch node; its outputs take the ONNX output names. `skip`
 * lists ONNX attributes consumed by the converter or safely ignored. */
static int emit(Importer *im, const OnnxNode *on, int op, const int *in, int nin, int nout,
                const char *const *skip)
{
    int node = ir_new_node(im->c, im->g, op, in, nin, nout, on->loc);
    for (size_t i = 0; i < on->np->n_attribute; i++) {
        const Onnx__AttributeProto *ap = on->np->attribute[i];
        const char *name = ap->name ? ap->name : "";
        bool skipped = false;
        for (int k = 0; skip && skip[k]; k++)
            skipped |= strcmp(skip[k], name) == 0;
        if (skipped)
            continue;
        const char *ename = snake(im->g->arena, name);
        if (op_attr_index(op, ename) < 0) {
            diag_error(im->c, on->loc, "attribute '%s' is not supported (opset %lld)", name,
                       (long long)im->opset);
            return -1;
        }
        Attr a;
        if (!onnx_attr_value(im, on, ap, &a) || !ir_set_attr(im->c, im->g, node, ename, &a, on->loc))
            return -1;
    }
    return node;
}

static bool finish(Importer *im, const OnnxNode *on, int node)
{
    if (node < 0 || !ir_finish_node(im->c, im->g, node))
        return false;
    const Node *n = ir_node(im->g, node);
    for (int o = 0; o < n->nout; o++) {
        const char *oname = on->np->output[o];
        if (!ir_rename_value(im->c, im->g, n->out[o], ident(im, oname), on->loc))
            return false;
        map_put(im, oname, n->out[o]);
    }
    return true;
}

static bool set_attr(Importer *im, const OnnxNode *on, int node, const char *name, Attr a)
{
    return ir_set_attr(im->c, im->g, node, name, &a, on->loc);
}

/* ONNX ops whose inputs and attributes map one to one. */
static bool import_direct(Importer *im, const OnnxNode *on, int op, const char *const *skip)
{
    int in[16];
    int nin = (int)on->np->n_input;
    if (nin > 16) {
        diag_error(im->c, on->loc, "too many inputs (%d)", nin);
        return false;
    }
    while (nin > 0 && !on->np->input[nin - 1][0])
        nin--; /* trailing omitted optional inputs */
    for (int i = 0; i < nin; i++) {
        in[i] = input_value(im, on, (size_t)i);
        if (in[i] < 0 && on->np->input[i][0])
            return false;
    }
    return finish(im, on, emit(im, on, op, in, nin, 1, skip));
}

static int count_outputs(const OnnxNode *on)
{
    int n = 0;
    for (size_t i = 0; i < on->np->n_output; i++)
        if (on->np->output[i][0])
            n = (int)i + 1;
    return n;
}

static bool import_clip(Importer *im, const OnnxNode *on)
{
    int x = input_value(im, on, 0);
    if (x < 0)
        return false;
    int node = emit(im, on, OP_CLIP, &x, 1, 1, NULL);
    if (node < 0)
        return false;
    double v;
    if (on->np->n_input > 1 && on->np->input[1][0]) {
        if (!const_float(im, on, 1, "min", &v) || !set_attr(im, on, node, "min", (Attr){.type = AT_FLOAT, .f = v}))
            return false;
    }
    if (on->np->n_input > 2 && on->np->input[2][0]) {
        if (!const_float(im, on, 2, "max", &v) || !set_attr(im, on, node, "max", (Attr){.type = AT_FLOAT, .f = v}))
            return false;
    }
    return finish(im, on, node);
}

static bool import_reshape(Importer *im, const OnnxNode *on)
{
    int x = input_value(im, on, 0);
    if (x < 0)
        return false;
    const char *skip[] = {"shape", NULL};
    Attr shape;
    int node;
    if (im->opset < 5) {
        node = emit(im, on, OP_RESHAPE, &x, 1, 1, NULL);
    } else {
        if (!const_ints(im, on, 1, "shape", &shape))
            return false;
        node = emit(im, on, OP_RESHAPE, &x, 1, 1, skip);
        if (node >= 0 && !set_attr(im, on, node, "shape", shape))
            return false;
    }
    return finish(im, on, node);
}

static bool import_pad(Importer *im, const OnnxNode *on)
{
    int x = input_value(im, on, 0);
    if (x < 0)
        return false;
    if (im->opset < 11) {
        const char *skip[] = {"paddings", NULL};
        int node = emit(im, on, OP_PAD, &x, 1, 1, skip);
        for (size_t i = 0; node >= 0 && i < on->np->n_attribute; i++) {
            const Onnx__AttributeProto *ap = on->np->attribute[i];
            if (ap->name && strcmp(ap->name, "paddings") == 0) {
                Attr a;
                if (!onnx_attr_value(im, on, ap, &a) || !set_attr(im, on, node, "pads", a))
                    return false;
            }
        }
        return finish(im, on, node);
    }
    if (on->np->n_input > 3 && on->np->input[3][0]) {
        diag_error(im->c, on->loc, "the 'axes' input of Pad is not supported");
        return false;
    }
    Attr pads;
    if (!const_ints(im, on, 1, "pads", &pads))
        return false;
    int node = emit(im, on, OP_PAD, &x, 1, 1, NULL);
    if (node < 0 || !set_attr(im, on, node, "pads", pads))
        return false;
    if (on->np->n_input > 2 && on->np->input[2][0]) {
        double v;
        if (!const_float(im, on, 2, "constant_value", &v) ||
            !set_attr(im, on, node, "value", (Attr){.type = AT_FLOAT, .f = v}))
            return false;
    }
    return finish(im, on, node);
}

static bool import_reduce(Importer *im, const OnnxNode *on, int op)
{
    int x = input_value(im, on, 0);
    if (x < 0)
        return false;
    int node = emit(im, on, op, &x, 1, 1, NULL);
    if (node < 0)
        return false;
    if (on->np->n_input > 1 && on->np->input[1][0]) {
        Attr axes;
        if (!const_ints(im, on, 1, "axes", &axes) || !set_attr(im, on, node, "axes", axes))
            return false;
    }
    return finish(im, on, node);
}

/* Softmax before opset 13 works on the input flattened to 2-D at `axis`. */
static bool import_softmax(Importer *im, const OnnxNode *on)
{
    if (im->opset >= 13)
        return import_direct(im, on, OP_SOFTMAX, NULL);
    int x = input_value(im, on, 0);
    if (x < 0)
        return false;
    int64_t axis = 1;
    for (size_t i = 0; i < on->np->n_attribute; i++)
        if (on->np->attribute[i]->name && strcmp(on->np->attribute[i]->name, "axis") == 0)
            axis = on->np->attribute[i]->i;
    const Type *t = &ir_value(im->g, x)->type;
    if (axis < 0)
        axis += t->rank;
    if (axis == t->rank - 1) {
        int node = emit(im, on, OP_SOFTMAX, &x, 1, 1, NULL);
        return finish(im, on, node);
    }
    int flat = ir_new_node(im->c, im->g, OP_FLATTEN, &x, 1, 1, on->loc);
    if (!set_attr(im, on, flat, "axis", (Attr){.type = AT_INT, .i = axis}) ||
        !ir_finish_node(im->c, im->g, flat))
        return false;
    int sm_in = ir_node(im->g, flat)->out[0];
    int sm = ir_new_node(im->c, im->g, OP_SOFTMAX, &sm_in, 1, 1, on->loc);
    if (!set_attr(im, on, sm, "axis", (Attr){.type = AT_INT, .i = 1}) ||
        !ir_finish_node(im->c, im->g, sm))
        return false;
    int back_in = ir_node(im->g, sm)->out[0];
    int back = ir_new_node(im->c, im->g, OP_RESHAPE, &back_in, 1, 1, on->loc);
    Attr shape = {.type = AT_INTS, .n = t->rank,
                  .ints = arena_memdup(im->g->arena, t->dims, sizeof t->dims)};
    return set_attr(im, on, back, "shape", shape) && finish(im, on, back);
}

/* DequantizeLinear of constants folds at import: y = (x - zero) * scale. */
static bool import_dequantize(Importer *im, const OnnxNode *on)
{
    const Value *x = const_input(im, on, 0, "x");
    const Value *s = x ? const_input(im, on, 1, "x_scale") : NULL;
    if (!s)
        return false;
    const Value *z = NULL;
    if (on->np->n_input > 2 && on->np->input[2][0] && !(z = const_input(im, on, 2, "x_zero_point")))
        return false;
    int64_t axis = 1;
    for (size_t i = 0; i < on->np->n_attribute; i++)
        if (on->np->attribute[i]->name && strcmp(on->np->attribute[i]->name, "axis") == 0)
            axis = on->np->attribute[i]->i;
    const Type *xt = &x->type;
    int64_t ns = type_numel(&s->type);
    if (axis < 0)
        axis += xt->rank;
    if (ns != 1 && (axis < 0 || axis >= xt->rank || xt->dims[axis] != ns)) {
        diag_error(im->c, on->loc, "scale has %lld entries, which matches neither per-tensor nor axis %lld of %s",
                   (long long)ns, (long long)axis, dtype_name(xt->dtype));
        return false;
    }
    if (s->type.dtype != DT_F32 || (xt->dtype != DT_I8 && xt->dtype != DT_U8 && xt->dtype != DT_I32)) {
        diag_error(im->c, on->loc, "dequantizing %s with %s scales is not supported", dtype_name(xt->dtype), dtype_name(s->type.dtype));
        return false;
    }
    int64_t numel = type_numel(xt), inner = 1;
    for (int d = (int)axis + 1; d < xt->rank; d++)
        inner *= xt->dims[d];
    Type ft = *xt;
    ft.dtype = DT_F32;
    ft.quant = NULL;
    float *out = arena_alloc(im->g->arena, (size_t)(numel ? numel : 1) * sizeof *out);
    Tensor xs = {*xt, x->data};
    for (int64_t i = 0; i < numel; i++) {
        int64_t ch = ns == 1 ? 0 : (i / inner) % ns;
        float zero = 0;
        if (z) {
            Tensor zs = {z->type, z->data};
            zero = tensor_getf(&zs, type_numel(&z->type) == 1 ? 0 : ch);
        }
        out[i] = (tensor_getf(&xs, i) - zero) * ((const float *)s->data)[ch];
    }
    const char *oname = on->np->output[0];
    int v = ir_add_const(im->c, im->g, ident(im, oname), ft, out, on->loc);
    if (v < 0)
        return false;
    map_put(im, oname, v);
    return true;
}

static bool import_constant(Importer *im, const OnnxNode *on)
{
    for (size_t i = 0; i < on->np->n_attribute; i++) {
        const Onnx__AttributeProto *ap = on->np->attribute[i];
        Type t;
        void *data;
        if (ap->name && strcmp(ap->name, "value") == 0 && ap->t) {
            if (!load_tensor(im, ap->t, on->loc, &t, &data))
                return false;
        } else if (ap->name && strcmp(ap->name, "value_float") == 0) {
            t = (Type){.dtype = DT_F32};
            data = arena_memdup(im->g->arena, &ap->f, sizeof ap->f);
        } else if (ap->name && strcmp(ap->name, "value_floats") == 0) {
            t = (Type){.dtype = DT_F32, .rank = 1, .dims = {(int64_t)ap->n_floats}};
            data = arena_memdup(im->g->arena, ap->floats, ap->n_floats * sizeof *ap->floats);
        } else if (ap->name && strcmp(ap->name, "value_int") == 0) {
            t = (Type){.dtype = DT_I64};
            data = arena_memdup(im->g->arena, &ap->i, sizeof ap->i);
        } else if (ap->name && strcmp(ap->name, "value_ints") == 0) {
            t = (Type){.dtype = DT_I64, .rank = 1, .dims = {(int64_t)ap->n_ints}};
            data = arena_memdup(im->g->arena, ap->ints, ap->n_ints * sizeof *ap->ints);
        } else {
            diag_error(im->c, on->loc, "Constant with attribute '%s' is not supported", ap->name ? ap->name : "");
            return false;
        }
        const char *oname = on->np->output[0];
        int v = ir_add_const(im->c, im->g, ident(im, oname), t, data, on->loc);
        if (v < 0)
            return false;
        map_put(im, oname, v);
        return true;
    }
    diag_error(im->c, on->loc, "Constant without a value");
    return false;
}

/* Dropout in inference is the identity; its mask output is not supported. */
static bool import_dropout(Importer *im, const OnnxNode *on)
{
    if (count_outputs(on) > 1) {
        diag_error(im->c, on->loc, "Dropout's mask output is not supported");
        return false;
    }
    if (on->np->n_input > 2 && on->np->input[2][0]) {
        const Value *tm = const_input(im, on, 2, "training_mode");
        if (!tm)
            return false;
        if (((const uint8_t *)tm->data)[0]) {
            diag_error(im->c, on->loc, "training mode is not supported");
            return false;
        }
    }
    int x = input_value(im, on, 0);
    if (x < 0)
        return false;
    const char *skip[] = {"ratio", "seed", "is_test", NULL};
    return finish(im, on, emit(im, on, OP_IDENTITY, &x, 1, 1, skip));
}

static const char *const skip_bn[] = {"momentum", "spatial", "is_test", "consumed_inputs", NULL};
static const char *const skip_none[] = {NULL};
static const char *const skip_legacy[] = {"consumed_inputs", NULL};

typedef enum { IMP_DIRECT, IMP_CLIP, IMP_RESHAPE, IMP_PAD, IMP_REDUCE, IMP_SOFTMAX,
               IMP_DEQUANT, IMP_CONST, IMP_DROPOUT } ImportKind;

static const struct {
    const char *onnx;   /* ONNX op_type */
    int op;             /* etch op */
    ImportKind kind;
    const char *const *skip; /* attributes ignored */
} importers[] = {
    {"Conv", OP_CONV, IMP_DIRECT, skip_none},
    {"Gemm", OP_GEMM, IMP_DIRECT, skip_legacy},
    {"MatMul", OP_MATMUL, IMP_DIRECT, skip_none},
    {"MaxPool", OP_MAX_POOL, IMP_DIRECT, skip_none},
    {"AveragePool", OP_AVERAGE_POOL, IMP_DIRECT, skip_none},
    {"GlobalAveragePool", OP_GLOBAL_AVERAGE_POOL, IMP_DIRECT, skip_none},
    {"GlobalMaxPool", OP_GLOBAL_MAX_POOL, IMP_DIRECT, skip_none},
    {"BatchNormalization", OP_BATCH_NORM, IMP_DIRECT, skip_bn},
    {"LayerNormalization", OP_LAYER_NORM, IMP_DIRECT, skip_none},
    {"Softmax", OP_SOFTMAX, IMP_SOFTMAX, skip_none},
    {"Add", OP_ADD, IMP_DIRECT, skip_legacy},
    {"Sub", OP_SUB, IMP_DIRECT, skip_legacy},
    {"Mul", OP_MUL, IMP_DIRECT, skip_legacy},
    {"Div", OP_DIV, IMP_DIRECT, skip_legacy},
    {"Relu", OP_RELU, IMP_DIRECT, skip_legacy},
    {"Clip", OP_CLIP, IMP_CLIP, skip_none},
    {"LeakyRelu", OP_LEAKY_RELU, IMP_DIRECT, skip_legacy},
    {"Sigmoid", OP_SIGMOID, IMP_DIRECT, skip_legacy},
    {"Tanh", OP_TANH, IMP_DIRECT, skip_legacy},
    {"Gelu", OP_GELU, IMP_DIRECT, skip_none},
    {"Exp", OP_EXP, IMP_DIRECT, skip_legacy},
    {"Log", OP_LOG, IMP_DIRECT, skip_legacy},
    {"Sqrt", OP_SQRT, IMP_DIRECT, skip_legacy},
    {"Neg", OP_NEG, IMP_DIRECT, skip_legacy},
    {"Abs", OP_ABS, IMP_DIRECT, skip_legacy},
    {"Identity", OP_IDENTITY, IMP_DIRECT, skip_none},
    {"Reshape", OP_RESHAPE, IMP_RESHAPE, skip_none},
    {"Flatten", OP_FLATTEN, IMP_DIRECT, skip_none},
    {"Transpose", OP_TRANSPOSE, IMP_DIRECT, skip_none},
    {"Concat", OP_CONCAT, IMP_DIRECT, skip_none},
    {"Pad", OP_PAD, IMP_PAD, skip_none},
    {"ReduceMean", OP_REDUCE_MEAN, IMP_REDUCE, skip_none},
    {"ReduceSum", OP_REDUCE_SUM, IMP_REDUCE, skip_none},
    {"ReduceMax", OP_REDUCE_MAX, IMP_REDUCE, skip_none},
    {"DequantizeLinear", -1, IMP_DEQUANT, skip_none},
    {"Constant", -1, IMP_CONST, skip_none},
    {"Dropout", OP_IDENTITY, IMP_DROPOUT, skip_none},
};

static const char *supported_list(Arena *a)
{
    size_t n = sizeof importers / sizeof importers[0], len = 0;
    for (size_t i = 0; i < n; i++)
        len += strlen(importers[i].onnx) + 2;
    char *s = arena_alloc(a, len + 1), *p = s;
    for (size_t i = 0; i < n; i++)
        p += sprintf(p, "%s%s", i ? ", " : "", importers[i].onnx);
    return s;
}

static bool import_node(Importer *im, const Onnx__NodeProto *np, int index)
{
    OnnxNode on = {.np = np};
    const char *op = np->op_type ? np->op_type : "";
    const char *name = np->name && np->name[0] ? np->name
                                               : arena_printf(im->g->arena, "#%d", index);
    on.desc = arena_printf(im->g->arena, "node '%s' (%s)", name, op);
    on.loc = (Loc){.file = arena_printf(im->g->arena, "%s: %s", im->path, on.desc)};
    if (np->domain && np->domain[0] && strcmp(np->domain, "ai.onnx") != 0) {
        diag_error(im->c, (Loc){.file = im->path}, "%s: operators of domain '%s' are not supported",
                   on.desc, np->domain);
        return false;
    }
    for (size_t i = 0; i < sizeof importers / sizeof importers[0]; i++) {
        if (strcmp(importers[i].onnx, op) != 0)
            continue;
        if (importers[i].kind != IMP_DROPOUT && importers[i].kind != IMP_CONST &&
            count_outputs(&on) > 1) {
            diag_error(im->c, (Loc){.file = im->path}, "%s: outputs beyond the first are not supported",
                       on.desc);
            return false;
        }
        switch (importers[i].kind) {
        case IMP_DIRECT: return import_direct(im, &on, importers[i].op, importers[i].skip);
        case IMP_CLIP:
            if (im->opset < 11)
                return import_direct(im, &on, OP_CLIP, NULL);
            return import_clip(im, &on);
        case IMP_RESHAPE: return import_reshape(im, &on);
        case IMP_PAD: return import_pad(im, &on);
        case IMP_REDUCE: return import_reduce(im, &on, importers[i].op);
        case IMP_SOFTMAX: return import_softmax(im, &on);
        case IMP_DEQUANT: return import_dequantize(im, &on);
        case IMP_CONST: return import_constant(im, &on);
        case IMP_DROPOUT: return import_dropout(im, &on);
        }
    }
    diag_error(im->c, (Loc){.file = im->path},
               "%s: unsupported ONNX op '%s' (opset %lld); etch supports: %s", on.desc, op,
               (long long)im->opset, supported_list(im->g->arena));
    return false;
}

/* ------------------------------------------------------------ graph */

static const FeShape *find_override(const FeOptions *o, const char *name)
{
    for (int i = 0; o && i < o->nshapes; i++)
        if (strcmp(o->shapes[i].name, name) == 0)
            return &o->shapes[i];
    return NULL;
}

static const FeConst *find_const(const FeOptions *o, const char *name)
{
    for (int i = 0; o && i < o->nconsts; i++)
        if (strcmp(o->consts[i].name, name) == 0)
            return &o->consts[i];
    return NULL;
}

static bool import_input(Importer *im, const Onnx__ValueInfoProto *vi)
{
    Loc loc = {.file = im->path};
    const char *name = vi->name ? vi->name : "";
    const FeConst *frozen = find_const(im->opts, name);
    if (!frozen)
        frozen = find_const(im->opts, ident(im, name));
    if (frozen) {
        int v = ir_add_const(im->c, im->g, ident(im, name), frozen->type, frozen->data, loc);
        if (v < 0)
            return false;
        map_put(im, name, v);
        return true;
    }
    if (!vi->type || vi->type->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE) {
        diag_error(im->c, loc, "graph input '%s': non-tensor inputs are not supported", name);
        return false;
    }
    const Onnx__TypeProto__Tensor *tt = vi->type->tensor_type;
    DType d = onnx_dtype(tt->has_elem_type ? tt->elem_type : 0);
    if (d == DT_NONE || tt->elem_type == ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE) {
        diag_error(im->c, loc, "graph input '%s': data type %s is not supported",
                   name, onnx_dtype_name(tt->has_elem_type ? tt->elem_type : 0));
        return false;
    }
    Type t = {.dtype = d};
    const FeShape *over = find_override(im->opts, name);
    if (!over)
        over = find_override(im->opts, ident(im, name));
    if (over) {
        t.rank = over->rank;
        memcpy(t.dims, over->dims, sizeof t.dims);
    } else if (tt->shape) {
        if (tt->shape->n_dim > IR_MAX_RANK) {
            diag_error(im->c, loc, "graph input '%s' has rank %zu; etch supports up to %d", name,
                       tt->shape->n_dim, IR_MAX_RANK);
            return false;
        }
        t.rank = (int)tt->shape->n_dim;
        for (int i = 0; i < t.rank; i++) {
            const Onnx__TensorShapeProto__Dimension *dim = tt->shape->dim[i];
            bool known = dim->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE &&
                         dim->dim_value > 0;
            t.dims[i] = known ? dim->dim_value : 1; /* symbolic: batch 1 */
        }
    } else {
        diag_error(im->c, loc, "graph input '%s' has no shape; give one with --shape %s=D0,D1,...",
                   name, name);
        return false;
    }
    if (over && over->rank != (tt->shape ? (int)tt->shape->n_dim : over->rank)) {
        diag_error(im->c, loc, "--shape %s has rank %d, the model's input has rank %zu", name,
                   over->rank, tt->shape->n_dim);
        return false;
    }
    int v = ir_add_input(im->c, im->g, ident(im, name), t, loc);
    if (v < 0)
        return false;
    map_put(im, name, v);
    return true;
}

static bool import_graph(Importer *im, const Onnx__GraphProto *gp)
{
    Loc loc = {.file = im->path};
    for (size_t i = 0; i < gp->n_initializer; i++) {
        const Onnx__TensorProto *t = gp->initializer[i];
        Type type;
        void *data;
        if (!load_tensor(im, t, loc, &type, &data))
            return false;
        const char *name = t->name ? t->name : "";
        int v = ir_add_const(im->c, im->g, ident(im, name), type, data, loc);
        if (v < 0)
            return false;
        map_put(im, name, v);
    }
    for (size_t i = 0; i < gp->n_input; i++) {
        /* Before IR version 4 initializers were listed as inputs too. */
        if (gp->input[i]->name && map_get(im, gp->input[i]->name) >= 0)
            continue;
        if (!import_input(im, gp->input[i]))
            return false;
    }
    for (size_t i = 0; i < gp->n_node; i++)
        if (!import_node(im, gp->node[i], (int)i))
            return false;
    for (size_t i = 0; i < gp->n_output; i++) {
        const char *name = gp->output[i]->name ? gp->output[i]->name : "";
        int v = map_get(im, name);
        if (v < 0) {
            diag_error(im->c, loc, "graph output '%s' is not produced by any node", name);
            return false;
        }
        if (!ir_add_output(im->c, im->g, v, loc))
            return false;
    }
    return true;
}

/* Reads a whole file into malloc'd memory; NULL after a diagnostic. */
static unsigned char *read_file(Ctx *c, const char *path, size_t *size)
{
    Loc loc = {.file = path};
    FILE *f = fopen(path, "rb");
    if (!f) {
        diag_error(c, loc, "cannot open: %s", strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, len = 0;
    unsigned char *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + len, 1, cap - len, f)) > 0) {
        len += got;
        if (len == cap) {
            unsigned char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    bool read_error = ferror(f);
    fclose(f);
    if (!buf || read_error) {
        free(buf);
        diag_error(c, loc, "cannot read the file");
        return NULL;
    }
    *size = len;
    return buf;
}

static Onnx__ModelProto *read_model(Ctx *c, const char *path)
{
    size_t len;
    unsigned char *buf = read_file(c, path, &len);
    if (!buf)
        return NULL;
    Onnx__ModelProto *mp = onnx__model_proto__unpack(NULL, len, buf);
    free(buf);
    if (!mp || !mp->graph) {
        if (mp)
            onnx__model_proto__free_unpacked(mp, NULL);
        diag_error(c, (Loc){.file = path},
                   "not a valid ONNX model (the protobuf is malformed or truncated)");
        return NULL;
    }
    return mp;
}

bool fe_read_tensor_pb(Ctx *c, const char *path, Type *t, void **data)
{
    size_t len;
    unsigned char *buf = read_file(c, path, &len);
    if (!buf)
        return false;
    Onnx__TensorProto *tp = onnx__tensor_proto__unpack(NULL, len, buf);
    free(buf);
    if (!tp) {
        diag_error(c, (Loc){.file = path}, "not a valid TensorProto (malformed or truncated)");
        return false;
    }
    Importer im = {.c = c, .path = path, .g = ir_new_graph(c->arena, "tensor")};
    bool ok = load_tensor(&im, tp, (Loc){.file = path}, t, data);
    onnx__tensor_proto__free_unpacked(tp, NULL);
    return ok;
}

static bool is_supported(const char *op)
{
    for (size_t i = 0; i < sizeof importers / sizeof importers[0]; i++)
        if (strcmp(importers[i].onnx, op) == 0)
            return true;
    return false;
}

const char *fe_onnx_unsupported_ops(Ctx *c, const char *path)
{
    Onnx__ModelProto *mp = read_model(c, path);
    if (!mp)
        return NULL;
    char *list = arena_strdup(c->arena, "");
    for (size_t i = 0; i < mp->graph->n_node; i++) {
        const Onnx__NodeProto *np = mp->graph->node[i];
        const char *op = np->op_type ? np->op_type : "";
        bool foreign = np->domain && np->domain[0] && strcmp(np->domain, "ai.onnx") != 0;
        if ((foreign || !is_supported(op)) && !strstr(list, op))
            list = arena_printf(c->arena, "%s%s%s", list, list[0] ? ", " : "", op);
    }
    onnx__model_proto__free_unpacked(mp, NULL);
    return list;
}

Graph *fe_load_onnx(Ctx *c, const char *path, const FeOptions *opts)
{
    Loc loc = {.file = path};
    Onnx__ModelProto *mp = read_model(c, path);
    if (!mp)
        return NULL;
    Importer im = {.c = c, .path = path, .opts = opts, .opset = 1};
    for (size_t i = 0; i < mp->n_opset_import; i++) {
        const Onnx__OperatorSetIdProto *os = mp->opset_import[i];
        if (!os->domain || !os->domain[0] || strcmp(os->domain, "ai.onnx") == 0)
            im.opset = os->has_version ? os->version : 1;
    }
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    size_t stem = strcspn(base, ".");
    char *gname = arena_strndup(c->arena, base, stem);
    for (char *p = gname; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '_')
            *p = '_';
    if (!gname[0] || isdigit((unsigned char)gname[0]))
        gname = arena_printf(c->arena, "m_%s", gname);
    im.g = ir_new_graph(c->arena, gname);
    im.g->path = arena_strdup(c->arena, path);
    bool ok = true;
    if (im.opset > 18) {
        diag_error(c, loc, "opset %lld is not supported; etch imports opsets up to 18",
                   (long long)im.opset);
        ok = false;
    }
    ok = ok && import_graph(&im, mp->graph);
    onnx__model_proto__free_unpacked(mp, NULL);
    return ok ? im.g : NULL;
}
