#!/usr/bin/python3
"""make_models.py: the small ONNX models of the importer's unit tests.

Run with Debian's /usr/bin/python3 (python3-onnx) from this directory:
    /usr/bin/python3 make_models.py
It writes one .onnx per case next to itself; tests/unit/test_onnx_import.c
reads them (the build never runs Python). Each model exercises one importer
rule: an ONNX input that becomes an attribute (per opset), import-time
folding of shape arithmetic, multi-output and optional outputs, and the
error paths. Expected numbers are computed in the C test from the inputs,
so no data files are needed.
"""
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))


def save(name, nodes, inputs, outputs, inits=(), opset=13, ms=None):
    """ms: the com.microsoft opset to import (None: none)."""
    graph = helper.make_graph(nodes, name, inputs, outputs, initializer=list(inits))
    opsets = [helper.make_opsetid("", opset)]
    if ms is not None:
        opsets.append(helper.make_opsetid("com.microsoft", ms))
    model = helper.make_model(graph, opset_imports=opsets, producer_name="etch-tests")
    model.ir_version = 7
    onnx.save(model, os.path.join(HERE, name + ".onnx"))


def f32(name, shape):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def i64(name, values):
    return numpy_helper.from_array(np.array(values, dtype=np.int64), name)


def main():
    # Shape -> Gather -> Unsqueeze -> Concat -> Reshape, as PyTorch exports
    # x.view(x.size(0), -1): everything but the Reshape folds at import.
    save("fold_reshape", [
        helper.make_node("Shape", ["x"], ["s"], name="shape"),
        helper.make_node("Gather", ["s", "zero"], ["n"], name="gather", axis=0),
        helper.make_node("Unsqueeze", ["n", "axes0"], ["n1"], name="unsqueeze"),
        helper.make_node("Concat", ["n1", "minus1"], ["shape2"], name="concat", axis=0),
        helper.make_node("Reshape", ["x", "shape2"], ["y"], name="reshape"),
    ], [f32("x", [2, 3, 4])], [f32("y", None)],
        [i64("zero", 0), i64("axes0", [0]), i64("minus1", [-1])])

    # Squeeze: axes as an attribute (opset 11) and as an input (opset 13).
    save("squeeze11", [helper.make_node("Squeeze", ["x"], ["y"], axes=[1])],
         [f32("x", [3, 1, 4])], [f32("y", None)], opset=11)
    save("squeeze13", [helper.make_node("Squeeze", ["x", "axes"], ["y"])],
         [f32("x", [3, 1, 4])], [f32("y", None)], [i64("axes", [1])], opset=13)

    # Slice: attributes before opset 10, inputs from 10.
    save("slice9", [helper.make_node("Slice", ["x"], ["y"], starts=[1], ends=[3], axes=[1])],
         [f32("x", [2, 5])], [f32("y", None)], opset=9)
    save("slice13", [helper.make_node("Slice", ["x", "starts", "ends", "axes", "steps"], ["y"])],
         [f32("x", [2, 5])], [f32("y", None)],
         [i64("starts", [4]), i64("ends", [0]), i64("axes", [1]), i64("steps", [-2])])

    # Split: `split` input (13), num_outputs attribute (18); three outputs.
    save("split13", [helper.make_node("Split", ["x", "parts"], ["a", "b", "c"], axis=1)],
         [f32("x", [2, 6])], [f32("a", None), f32("b", None), f32("c", None)],
         [i64("parts", [1, 2, 3])])
    save("split18", [helper.make_node("Split", ["x"], ["a", "b", "c"], axis=1, num_outputs=3)],
         [f32("x", [2, 6])], [f32("a", None), f32("b", None), f32("c", None)], opset=18)

    # Softmax before opset 13 flattens at axis; from 13 it is per axis.
    save("softmax11", [helper.make_node("Softmax", ["x"], ["y"], axis=1)],
         [f32("x", [2, 3, 4])], [f32("y", None)], opset=11)

    # Resize's scales as an input; Upsample (opset 9) maps onto Resize.
    save("upsample9", [helper.make_node("Upsample", ["x", "scales"], ["y"], mode="nearest")],
         [f32("x", [1, 1, 2, 2])], [f32("y", None)],
         [numpy_helper.from_array(np.array([1, 1, 2, 3], dtype=np.float32), "scales")], opset=9)

    # Clip bounds as inputs (opset 11+), Cast's `to` as a type code.
    save("clip_cast", [
        helper.make_node("Clip", ["x", "lo", "hi"], ["c"], name="clip"),
        helper.make_node("Cast", ["c"], ["y"], name="cast", to=TensorProto.INT32),
    ], [f32("x", [6])], [helper.make_tensor_value_info("y", TensorProto.INT32, None)],
        [numpy_helper.from_array(np.array(-1.5, dtype=np.float32), "lo"),
         numpy_helper.from_array(np.array(2.5, dtype=np.float32), "hi")])

    # Constant forms, ConstantOfShape and Range fold; the Add keeps x.
    save("const_forms", [
        helper.make_node("Constant", [], ["shape"], value_ints=[2, 3]),
        helper.make_node("ConstantOfShape", ["shape"], ["ones"],
                         value=numpy_helper.from_array(np.array([1.5], dtype=np.float32))),
        helper.make_node("Constant", [], ["start"], value_float=0.0),
        helper.make_node("Constant", [], ["limit"], value_float=3.0),
        helper.make_node("Constant", [], ["delta"], value_float=1.0),
        helper.make_node("Range", ["start", "limit", "delta"], ["r"]),
        helper.make_node("Add", ["ones", "r"], ["k"]),
        helper.make_node("Add", ["x", "k"], ["y"]),
    ], [f32("x", [2, 3])], [f32("y", None)])

    # MaxPool's Indices output: fine when unused, an error when it is used.
    pool = dict(kernel_shape=[2, 2], strides=[2, 2])
    save("maxpool_indices_unused",
         [helper.make_node("MaxPool", ["x"], ["y", "idx"], name="pool", **pool)],
         [f32("x", [1, 1, 4, 4])], [f32("y", None)], opset=12)
    save("maxpool_indices_used",
         [helper.make_node("MaxPool", ["x"], ["y", "idx"], name="pool", **pool)],
         [f32("x", [1, 1, 4, 4])],
         [f32("y", None), helper.make_tensor_value_info("idx", TensorProto.INT64, None)],
         opset=12)

    # Error paths.
    save("err_unknown_op", [helper.make_node("FooBar", ["x"], ["y"], name="foo")],
         [f32("x", [2])], [f32("y", None)])
    save("err_opset", [helper.make_node("Relu", ["x"], ["y"], name="r")],
         [f32("x", [2])], [f32("y", None)], opset=19)
    save("err_resize_opset9", [helper.make_node("Resize", ["x", "s"], ["y"], name="rs")],
         [f32("x", [1, 1, 2, 2])], [f32("y", None)],
         [numpy_helper.from_array(np.array([1, 1, 2, 2], dtype=np.float32), "s")], opset=9)
    save("err_cast_f16", [helper.make_node("Cast", ["x"], ["y"], name="c",
                                           to=TensorProto.FLOAT16)],
         [f32("x", [2])], [helper.make_tensor_value_info("y", TensorProto.FLOAT16, None)])
    save("err_dynamic_shape", [helper.make_node("Reshape", ["x", "s"], ["y"], name="rs")],
         [f32("x", [2, 3]), helper.make_tensor_value_info("s", TensorProto.INT64, [2])],
         [f32("y", None)])

    # A conv net for the truncation / corruption test (a few hundred bytes
    # of weights so that byte flips land in tensors, shapes and names).
    rng = np.random.default_rng(7)
    w = numpy_helper.from_array(rng.standard_normal((4, 1, 3, 3)).astype(np.float32), "w")
    b = numpy_helper.from_array(rng.standard_normal(4).astype(np.float32), "b")
    fc = numpy_helper.from_array(rng.standard_normal((16, 3)).astype(np.float32), "fc")
    save("small_cnn", [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], name="conv", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"], name="relu"),
        helper.make_node("MaxPool", ["r"], ["p"], name="pool", kernel_shape=[4, 4],
                         strides=[4, 4]),
        helper.make_node("Flatten", ["p"], ["f"], name="flatten"),
        helper.make_node("MatMul", ["f", "fc"], ["y"], name="fc"),
    ], [f32("x", [1, 1, 8, 8])], [f32("y", None)], [w, b, fc])

    # QLinearConv with constant quantization parameters: imported as its QDQ
    # form, which fold-qdq turns into one qconv.
    q = np.random.default_rng(2)
    arr = numpy_helper.from_array
    save("qlinearconv", [
        helper.make_node("QLinearConv", ["x", "xs", "xz", "w", "ws", "wz", "ys", "yz", "b"], ["y"],
                         name="qconv", pads=[1, 1, 1, 1]),
    ], [helper.make_tensor_value_info("x", TensorProto.INT8, [1, 3, 5, 5])],
        [helper.make_tensor_value_info("y", TensorProto.INT8, None)],
        [arr(np.array(0.05, np.float32), "xs"), arr(np.array(-3, np.int8), "xz"),
         arr(q.integers(-127, 128, (4, 3, 3, 3)).astype(np.int8), "w"),
         arr(np.array([0.01, 0.02, 0.015, 0.03], np.float32), "ws"), arr(np.zeros(4, np.int8), "wz"),
         arr(np.array(0.1, np.float32), "ys"), arr(np.array(2, np.int8), "yz"),
         arr(q.integers(-2000, 2000, 4).astype(np.int32), "b")])

    qoperator_ms(arr)

    # A grouped ConvInteger whose 300-term sums could pass 2^24: etch splits
    # only ungrouped convs into exact chunks, so this is an error, not a
    # silently rounded result.
    u8 = TensorProto.UINT8
    save("err_convinteger_group", [
        helper.make_node("ConvInteger", ["x", "w"], ["y"], name="ci", group=2),
    ], [helper.make_tensor_value_info("x", u8, [1, 600, 2, 2])],
        [helper.make_tensor_value_info("y", TensorProto.INT32, None)],
        [arr(np.full((4, 300, 1, 1), 255, np.uint8), "w")])


def qoperator_ms(arr):
    """onnxruntime's com.microsoft QOperator ops: the forms ONNX Runtime
    cannot run (every zero point absent) and the error paths. Their numbers
    against ONNX Runtime are tests/onnx/models/make_qoperator.py's."""
    ms = "com.microsoft"

    def q(op, inputs, name="q", **attrs):
        return helper.make_node(op, inputs, ["y"], name=name, domain=ms, **attrs)

    def t(name, elem, shape):
        return helper.make_tensor_value_info(name, elem, shape)

    i8 = TensorProto.INT8
    s = [arr(np.array(0.05, np.float32), "s"), arr(np.array(0.1, np.float32), "t")]
    zi = [arr(np.array(3, np.int8), "z"), arr(np.array(-4, np.int8), "w")]

    # Every zero point absent: dequantize with 0, and the output keeps int8.
    save("qlinear_no_zero_points", [
        q("QLinearMul", ["a", "s", "", "b", "s", "", "t"], "mul"),
        helper.make_node("QLinearLeakyRelu", ["y", "t", "", "s"], ["r"], name="lrelu",
                         domain=ms, alpha=0.5),
    ], [t("a", i8, [2, 3]), t("b", i8, [2, 3])], [t("r", i8, None)], s, ms=1)

    # The scale a graph input: no constant, so the QDQ form runs in float.
    save("qlinear_input_scale", [q("QLinearAdd", ["a", "sa", "z", "b", "s", "z", "t", "w"], "add")],
         [t("a", i8, [2, 3]), t("b", i8, [2, 3]), t("sa", TensorProto.FLOAT, [])],
         [t("y", i8, None)], s + zi, ms=1)

    # No opset import for com.microsoft: taken as its operator set 1.
    save("qlinear_no_ms_opset", [q("QLinearSigmoid", ["a", "s", "z", "t", "w"], "sig")],
         [t("a", i8, [4])], [t("y", i8, None)], s + zi)

    # Error paths.
    a = [t("a", i8, [1, 2, 3, 3])]
    y = [t("y", i8, None)]
    save("err_qlinear_count", [q("QLinearAdd", ["a", "s", "z", "a", "s"], "add")], a, y, s + zi,
         ms=1)
    save("err_qlinear_scale_shape", [q("QLinearSigmoid", ["a", "s2", "z", "t", "w"], "sig")], a, y,
         s + zi + [arr(np.array([0.1, 0.2], np.float32), "s2")], ms=1)
    save("err_qlinear_zero_dtype", [q("QLinearLeakyRelu", ["a", "s", "zu", "t", "w"], "lrelu")],
         a, y, s + zi + [arr(np.array(3, np.uint8), "zu")], ms=1)
    save("err_qlinear_float_input", [q("QLinearSigmoid", ["x", "s", "z", "t", "w"], "sig")],
         [f32("x", [4])], y, s + zi, ms=1)
    save("err_qlinear_gap_zero", [q("QLinearGlobalAveragePool", ["a", "s", "", "t", "w"], "gap")],
         a, y, s + zi, ms=1)
    save("err_qlinear_softmax_opset", [q("QLinearSoftmax", ["a", "s", "z", "t", "w"], "sm")],
         a, y, s + zi, ms=1)
    save("err_qlinear_concat_count",
         [q("QLinearConcat", ["t", "w", "a", "s", "z", "a", "s"], "cat", axis=1)], a, y, s + zi,
         ms=1)
    save("err_ms_unknown_op", [helper.make_node("FusedGemm", ["x", "x"], ["y"], name="fg",
                                                domain=ms)],
         [f32("x", [2, 2])], [f32("y", None)], ms=1)
    save("err_ms_opset", [q("QLinearSigmoid", ["a", "s", "z", "t", "w"], "sig")], a, y, s + zi,
         ms=2)
    save("err_qlinear_default_domain",
         [helper.make_node("QLinearSigmoid", ["a", "s", "z", "t", "w"], ["y"], name="sig")],
         a, y, s + zi, ms=1)
    save("err_unknown_domain", [helper.make_node("Scaler", ["x"], ["y"], name="sc",
                                                 domain="ai.onnx.ml")],
         [f32("x", [2])], [f32("y", None)])


if __name__ == "__main__":
    main()
