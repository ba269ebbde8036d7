/* onnx_import.h: what the node-level ONNX importer's files share.
 *
 * onnx_ops.c holds the op table and imports a node by its row;
 * onnx_quant.c imports the quantized forms (QuantizeLinear and
 * DequantizeLinear, the QOperator ops of the default and com.microsoft
 * domains) as the QDQ graphs they mean, building nodes through
 * onnx_build() like every other row.
 */
#ifndef ETCH_ONNX_IMPORT_H
#define ETCH_ONNX_IMPORT_H

#include "frontend.h"
#include "onnx.pb-c.h"

#define MAX_IN 64
#define MAX_ATTRS 24

typedef struct OnnxOp OnnxOp;

typedef struct {
    const Onnx__NodeProto *np;
    const OnnxOp *row;  /* its row of the op table (onnx_ops.c) */
    Loc loc;
    const char *desc;   /* "node 'conv1' (Conv)" */
    const char *opset;  /* "opset 13", "com.microsoft opset 1": for messages */
    bool ms;            /* of the com.microsoft domain */
} OnnxNode;

/* A node about to be built: op, inputs, attributes by etch name. */
typedef struct {
    int op;
    int in[MAX_IN];
    int nin, nout;
    const char *names[MAX_ATTRS];
    Attr attrs[MAX_ATTRS];
    int nattrs;
    int64_t legacy_axis;    /* opset < 7 binary ops: where b aligns; -1 trailing */
} Pending;

void onnx_pend_attr(Pending *p, const char *name, Attr a);
/* The value of ONNX input i (-1: absent, -2: error reported). */
int onnx_input_value(FeOnnx *im, const OnnxNode *on, size_t i);
/* Converts ONNX attribute ap by the node's row into p. */
bool onnx_convert_attr(FeOnnx *im, const OnnxNode *on, const Onnx__AttributeProto *ap, Pending *p);
/* Adds p's node (or folds it, when its inputs are constants); *outv is its output. */
bool onnx_build(FeOnnx *im, const OnnxNode *on, const Pending *p, int *outv);
/* Binds value v as the node's ONNX output k. */
bool onnx_bind_output(FeOnnx *im, const OnnxNode *on, int k, int v);
int64_t onnx_attr_int(const OnnxNode *on, const char *name, int64_t def);
/* The etch op of the node's row. */
int onnx_row_op(const OnnxNode *on);

/* onnx_quant.c: the SP_QDQ and SP_QOPERATOR rows. */
bool onnx_import_qdq(FeOnnx *im, const OnnxNode *on);
bool onnx_import_qoperator(FeOnnx *im, const OnnxNode *on);

#endif
