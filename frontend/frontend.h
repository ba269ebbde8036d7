/* frontend.h: etch's internal interface for the frontends.
 *
 * Frontends only call IR builder functions (ir/ir.h): they know nothing of
 * passes or backends. Every node keeps its source location.
 */
#ifndef ETCH_FRONTEND_H
#define ETCH_FRONTEND_H

#include "../ir/ir.h"

/* ---------------------------------------------------------------- parse.c */

/* Parses a graph-language file into a new graph; NULL after diagnostics. */
Graph *fe_parse_file(Ctx *c, const char *path);
/* Parses text (named `path` in diagnostics; .npy paths resolve relative to
 * its directory). */
Graph *fe_parse_string(Ctx *c, const char *path, const char *text);

/* ------------------------------------------------------------------ npy.c */

/* Reads a .npy file (little-endian f4/i1/u1/i2/i4/i8/b1, C order; f8 is
 * converted to f32). On success fills *t and *data (arena) and returns
 * true; else a diagnostic at `loc` saying what is wrong with the file. */
bool fe_read_npy(Ctx *c, const char *path, Loc loc, Type *t, void **data);
/* Writes a tensor as .npy; false (with errno set) on I/O failure. */
bool fe_write_npy(const char *path, const Type *t, const void *data);

/* ----------------------------------------------------------------- onnx.c */

/* An input shape given on the command line (--shape NAME=1,32,32,3). */
typedef struct {
    const char *name;
    int rank;
    int64_t dims[IR_MAX_RANK];
} FeShape;

/* A graph input frozen to a constant (--const NAME=FILE.npy): inputs that
 * feed shapes (Reshape's shape, Reduce's axes) then fold at compile time. */
typedef struct {
    const char *name;
    Type type;
    void *data;
    /* false: the input becomes this constant. true: it stays a graph input,
     * and the constant stands in for it only where an op needs a constant
     * (Resize's scales, Pad's pads, ...); the conformance runner uses this. */
    bool on_demand;
} FeConst;

typedef struct {
    const FeShape *shapes;
    int nshapes;
    const FeConst *consts;
    int nconsts;
} FeOptions;

/* Imports an ONNX model (opsets 7-18, and onnxruntime's com.microsoft
 * QOperator ops); NULL after diagnostics. */
Graph *fe_load_onnx(Ctx *c, const char *path, const FeOptions *opts);
/* Reads a serialized TensorProto (.pb, as in ONNX's test data). */
bool fe_read_tensor_pb(Ctx *c, const char *path, Type *t, void **data);
/* The op types of an ONNX model's graph that etch cannot import, as a
 * comma-separated list (empty when all are supported); NULL if unreadable. */
const char *fe_onnx_unsupported_ops(Ctx *c, const char *path);
/* The ONNX names of a model's graph inputs that are not initializers, in
 * order (arena); NULL if unreadable. */
const char **fe_onnx_input_names(Ctx *c, const char *path, int *count);

/* -------------------------------------------- onnx.c, onnx_ops.c (internal) */

/* The importer's state, shared by its two halves: onnx.c decodes the
 * protobuf and builds inputs, initializers and outputs; onnx_ops.c maps
 * nodes through its op table. Protobuf types stay opaque here. */
struct Onnx__NodeProto;
struct Onnx__TensorProto;

typedef struct {
    Ctx *c;
    Graph *g;
    const char *path;
    const FeOptions *opts;
    int64_t opset;          /* of the default domain (ai.onnx) */
    int64_t ms_opset;       /* of com.microsoft; 0 when not imported */
    /* ONNX tensor name -> value id, open addressing. */
    const char **keys;
    int *ids;
    int cap, count;
    /* Optional outputs etch does not compute (MaxPool's Indices, Dropout's
     * mask): an error only where something uses them. */
    const char **absent, **absent_why;
    int nabsent, capabsent, capabsent_why;
} FeOnnx;

void fe_onnx_bind(FeOnnx *im, const char *name, int id);
int fe_onnx_lookup(const FeOnnx *im, const char *name); /* -1 if unbound */
/* Why `name` has no value (an absent optional output), or NULL. */
const char *fe_onnx_absent(const FeOnnx *im, const char *name);
/* A graph-language identifier for an ONNX name, unique in the graph. */
const char *fe_onnx_ident(FeOnnx *im, const char *name);
/* Decodes a TensorProto into a type and arena data; false after a diagnostic. */
bool fe_onnx_tensor(FeOnnx *im, const struct Onnx__TensorProto *t, Loc loc, Type *type,
                    void **data);
/* A graph input's on-demand constant (FeConst.on_demand), or NULL. */
const FeConst *fe_onnx_on_demand(const FeOnnx *im, int value);
/* Imports node `index`: builds etch nodes or folds it to constants. */
bool fe_onnx_node(FeOnnx *im, const struct Onnx__NodeProto *np, int index);
/* Whether etch imports op_type of `domain` ("" or "ai.onnx", "com.microsoft"). */
bool fe_onnx_op_known(const char *domain, const char *op_type);

/* --------------------------------------------------------------- model.c */

/* Loads a model by extension (.etch or .onnx). `opts` (may be NULL) applies
 * to ONNX models; a --shape naming no graph input, or any --shape on a
 * .etch model, is an error. */
Graph *fe_load_model(Ctx *c, const char *path, const FeOptions *opts);

#endif /* ETCH_FRONTEND_H */
