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
} FeConst;

typedef struct {
    const FeShape *shapes;
    int nshapes;
    const FeConst *consts;
    int nconsts;
} FeOptions;

/* Imports an ONNX model (opsets 7-18); NULL after diagnostics. */
Graph *fe_load_onnx(Ctx *c, const char *path, const FeOptions *opts);
/* Reads a serialized TensorProto (.pb, as in ONNX's test data). */
bool fe_read_tensor_pb(Ctx *c, const char *path, Type *t, void **data);
/* The op types of an ONNX model's graph that etch cannot import, as a
 * comma-separated list (empty when all are supported); NULL if unreadable. */
const char *fe_onnx_unsupported_ops(Ctx *c, const char *path);

/* --------------------------------------------------------------- model.c */

/* Loads a model by extension (.etch; .onnx once the importer exists). */
Graph *fe_load_model(Ctx *c, const char *path);

#endif /* ETCH_FRONTEND_H */
