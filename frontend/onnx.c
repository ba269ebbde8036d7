/* onnx.c: the ONNX importer, model level.
 *
 * Decodes a ModelProto with protobuf-c bindings generated at build time from
 * the system's onnx.proto (default domain, opsets up to 18; and operator set 1
 * of com.microsoft, for onnxruntime's QOperator ops), then builds Graph IR
 * through the IR builder only:
 * initializers become constants, graph inputs become inputs (or constants,
 * when the caller freezes them), and each node goes to onnx_ops.c, which
 * maps it through its op table or folds it to constants.
 * Symbolic dimensions default to 1 unless the caller overrides an input's
 * shape. Value names are sanitized to graph-language identifiers, so an
 * imported graph dumps as a program that parses back in.
 * Every failure is a diagnostic naming the file and, for nodes, the node
 * and op; malformed files are errors, never crashes: tensor sizes are
 * checked against what the message holds before anything is allocated.
 */
#include "frontend.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "onnx.pb-c.h"

/* ------------------------------------------------------------ name table */

static uint32_t hash_name(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}


static void map_grow(FeOnnx *im)
{
    const char **keys = im->keys;
    int *ids = im->ids, old = im->cap;
    im->cap = old ? old * 2 : 256;
    im->count = 0;
    im->keys = arena_alloc(im->g->arena, (size_t)im->cap * sizeof *im->keys);
    im->ids = arena_alloc(im->g->arena, (size_t)im->cap * sizeof *im->ids);
    for (int i = 0; i < old; i++)
        if (keys[i])
            fe_onnx_bind(im, keys[i], ids[i]);
}

static int map_slot(const FeOnnx *im, const char *name)
{
    uint32_t mask = (uint32_t)im->cap - 1;
    for (uint32_t i = hash_name(name) & mask;; i = (i + 1) & mask)
        if (!im->keys[i] || strcmp(im->keys[i], name) == 0)
            return (int)i;
}

void fe_onnx_bind(FeOnnx *im, const char *name, int id)
{
    if (!im->cap || im->count * 2 >= im->cap)
        map_grow(im);
    int s = map_slot(im, name);
    if (!im->keys[s])
        im->count++;
    im->keys[s] = name;
    im->ids[s] = id;
}

int fe_onnx_lookup(const FeOnnx *im, const char *name)
{
    if (!im->cap)
        return -1;
    int s = map_slot(im, name);
    return im->keys[s] ? im->ids[s] : -1;
}

const char *fe_onnx_absent(const FeOnnx *im, const char *name)
{
    for (int i = 0; i < im->nabsent; i++)
        if (strcmp(im->absent[i], name) == 0)
            return im->absent_why[i];
    return NULL;
}

const char *fe_onnx_ident(FeOnnx *im, const char *name)
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
static void *read_external(FeOnnx *im, const Onnx__TensorProto *t, size_t want, Loc loc)
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

bool fe_onnx_tensor(FeOnnx *im, const Onnx__TensorProto *t, Loc loc, Type *type, void **out)
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
    if (numel == 0) {
        /* an empty tensor (ONNX's way to say "no axes", "no splits") */
    } else if (raw && is_double) {
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

const FeConst *fe_onnx_on_demand(const FeOnnx *im, int value)
{
    const FeOptions *o = im->opts;
    if (ir_value(im->g, value)->kind != VK_INPUT)
        return NULL;
    for (int i = 0; o && i < o->nconsts; i++)
        if (o->consts[i].on_demand && (fe_onnx_lookup(im, o->consts[i].name) == value ||
                                       ir_find_value(im->g, o->consts[i].name) == value))
            return &o->consts[i];
    return NULL;
}

static bool import_input(FeOnnx *im, const Onnx__ValueInfoProto *vi)
{
    Loc loc = {.file = im->path};
    const char *name = vi->name ? vi->name : "";
    const FeConst *frozen = find_const(im->opts, name);
    if (!frozen)
        frozen = find_const(im->opts, fe_onnx_ident(im, name));
    if (frozen && !frozen->on_demand) {
        const Onnx__TypeProto__Tensor *tt =
            vi->type && vi->type->value_case == ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE
                ? vi->type->tensor_type : NULL;
        bool dtype_ok = !tt || !tt->has_elem_type || onnx_dtype(tt->elem_type) == frozen->type.dtype;
        bool rank_ok = !tt || !tt->shape || (int)tt->shape->n_dim == frozen->type.rank;
        for (int i = 0; rank_ok && tt && tt->shape && i < frozen->type.rank; i++) {
            const Onnx__TensorShapeProto__Dimension *dim = tt->shape->dim[i];
            if (dim->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE &&
                dim->dim_value > 0 && dim->dim_value != frozen->type.dims[i])
                rank_ok = false;
        }
        if (!dtype_ok || !rank_ok) {
            char have[128];
            diag_error(im->c, loc, "--const %s: the file holds %s, which does not fit the model's input",
                       name, type_str(&frozen->type, have, sizeof have));
            return false;
        }
        int v = ir_add_const(im->c, im->g, fe_onnx_ident(im, name), frozen->type, frozen->data, loc);
        if (v < 0)
            return false;
        fe_onnx_bind(im, name, v);
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
        over = find_override(im->opts, fe_onnx_ident(im, name));
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
    int v = ir_add_input(im->c, im->g, fe_onnx_ident(im, name), t, loc);
    if (v < 0)
        return false;
    fe_onnx_bind(im, name, v);
    return true;
}

static bool import_graph(FeOnnx *im, const Onnx__GraphProto *gp)
{
    Loc loc = {.file = im->path};
    for (size_t i = 0; i < gp->n_initializer; i++) {
        const Onnx__TensorProto *t = gp->initializer[i];
        Type type;
        void *data;
        if (!fe_onnx_tensor(im, t, loc, &type, &data))
            return false;
        const char *name = t->name ? t->name : "";
        int v = ir_add_const(im->c, im->g, fe_onnx_ident(im, name), type, data, loc);
        if (v < 0)
            return false;
        fe_onnx_bind(im, name, v);
    }
    for (size_t i = 0; i < gp->n_input; i++) {
        /* Before IR version 4 initializers were listed as inputs too. */
        if (gp->input[i]->name && fe_onnx_lookup(im, gp->input[i]->name) >= 0)
            continue;
        if (!import_input(im, gp->input[i]))
            return false;
    }
    for (size_t i = 0; i < gp->n_node; i++)
        if (!fe_onnx_node(im, gp->node[i], (int)i))
            return false;
    for (size_t i = 0; i < gp->n_output; i++) {
        const char *name = gp->output[i]->name ? gp->output[i]->name : "";
        int v = fe_onnx_lookup(im, name);
        const char *why = v < 0 ? fe_onnx_absent(im, name) : NULL;
        if (why) {
            diag_error(im->c, loc, "graph output '%s' is %s", name, why);
            return false;
        }
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
    FeOnnx im = {.c = c, .path = path, .g = ir_new_graph(c->arena, "tensor")};
    bool ok = fe_onnx_tensor(&im, tp, (Loc){.file = path}, t, data);
    onnx__tensor_proto__free_unpacked(tp, NULL);
    return ok;
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
        /* Listed once: look for ", Op," in ", list,". */
        const char *key = arena_printf(c->arena, ", %s,", op);
        if (!fe_onnx_op_known(np->domain, op) &&
            !strstr(arena_printf(c->arena, ", %s,", list), key))
            list = arena_printf(c->arena, "%s%s%s", list, list[0] ? ", " : "", op);
    }
    onnx__model_proto__free_unpacked(mp, NULL);
    return list;
}

const char **fe_onnx_input_names(Ctx *c, const char *path, int *count)
{
    Onnx__ModelProto *mp = read_model(c, path);
    if (!mp)
        return NULL;
    const Onnx__GraphProto *gp = mp->graph;
    const char **names = arena_alloc(c->arena, (gp->n_input + 1) * sizeof *names);
    *count = 0;
    for (size_t i = 0; i < gp->n_input; i++) {
        const char *name = gp->input[i]->name ? gp->input[i]->name : "";
        bool init = false;
        for (size_t k = 0; k < gp->n_initializer && !init; k++)
            init = gp->initializer[k]->name && strcmp(gp->initializer[k]->name, name) == 0;
        if (!init)
            names[(*count)++] = arena_strdup(c->arena, name);
    }
    onnx__model_proto__free_unpacked(mp, NULL);
    return names;
}

Graph *fe_load_onnx(Ctx *c, const char *path, const FeOptions *opts)
{
    Loc loc = {.file = path};
    Onnx__ModelProto *mp = read_model(c, path);
    if (!mp)
        return NULL;
    FeOnnx im = {.c = c, .path = path, .opts = opts, .opset = 1};
    for (size_t i = 0; i < mp->n_opset_import; i++) {
        const Onnx__OperatorSetIdProto *os = mp->opset_import[i];
        if (!os->domain || !os->domain[0] || strcmp(os->domain, "ai.onnx") == 0)
            im.opset = os->has_version ? os->version : 1;
        else if (strcmp(os->domain, "com.microsoft") == 0)
            im.ms_opset = os->has_version ? os->version : 1;
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
    if (im.ms_opset > 1) {
        diag_error(c, loc, "com.microsoft opset %lld is not supported; etch imports its operator set 1",
                   (long long)im.ms_opset);
        ok = false;
    }
    ok = ok && import_graph(&im, mp->graph);
    onnx__model_proto__free_unpacked(mp, NULL);
    return ok ? im.g : NULL;
}
