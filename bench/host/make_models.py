#!/usr/bin/python3
"""make_models.py: the ONNX files bench/host feeds to ONNX Runtime.

Writes, into bench/host/models/ (committed; the bench itself needs no Python):
  overhead.onnx    y = x[0:e] for a 1-D float tensor x of any length and an int64
                   e: timing it measures the Node binding's per-call overhead
                   for an input of x's bytes and an output of e elements;
  digits_mlp.onnx  examples/digits_mlp/digits_mlp.etch, same weights;
  digits_cnn.onnx  examples/digits_cnn/digits_cnn.etch, same weights;
  dense_seq.onnx   a dense layer over a batch of sequences, as TensorFlow exports it
                   (MatMul of x [4, 32, 256] by W [256, 256], Add of a bias, Relu):
                   a gemm of 128 rows, past the MLPerf Tiny models' one-row ones;
                   weights from a seeded generator.
The examples are rebuilt op for op from their .etch files (opset 13), so ORT runs
the same math etch compiles. Run with /usr/bin/python3 (onnx, numpy).
"""
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
OUT = os.path.join(HERE, "models")


def save(graph, name):
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)],
                              producer_name="etch bench/host/make_models.py")
    model.ir_version = 7
    onnx.checker.check_model(model)
    onnx.save(model, os.path.join(OUT, name))


def weight(example, name):
    return np.load(os.path.join(ROOT, "examples", example, "weights", name)).astype(np.float32)


def init(name, array):
    return numpy_helper.from_array(array, name)


def overhead():
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n"])
    e = helper.make_tensor_value_info("e", TensorProto.INT64, [1])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["m"])
    g = helper.make_graph([helper.make_node("Slice", ["x", "s", "e"], ["y"])], "overhead", [x, e], [y],
                          [init("s", np.array([0], np.int64))])
    save(g, "overhead.onnx")


def digits_mlp():
    w = {n: weight("digits_mlp", n + ".npy") for n in ("w1", "b1", "w2", "b2")}
    nodes = [
        helper.make_node("Gemm", ["x", "w1", "b1"], ["g1"]),
        helper.make_node("Relu", ["g1"], ["h"]),
        helper.make_node("Gemm", ["h", "w2", "b2"], ["z"]),
        helper.make_node("Softmax", ["z"], ["y"], axis=1),
    ]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 64])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])
    g = helper.make_graph(nodes, "digits_mlp", [x], [y], [init(k, v) for k, v in w.items()])
    save(g, "digits_mlp.onnx")


def digits_cnn():
    files = {"conv1_w": "conv1_w", "bn1_s": "bn1_scale", "bn1_b": "bn1_bias", "bn1_m": "bn1_mean",
             "bn1_v": "bn1_var", "conv2_w": "conv2_w", "conv2_b": "conv2_b", "fc_w": "fc_w",
             "fc_b": "fc_b"}
    w = {k: weight("digits_cnn", f + ".npy") for k, f in files.items()}
    nodes = [
        helper.make_node("Conv", ["x", "conv1_w"], ["c1"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["c1", "bn1_s", "bn1_b", "bn1_m", "bn1_v"], ["n1"],
                         epsilon=1e-5),
        helper.make_node("Relu", ["n1"], ["r1"]),
        helper.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Conv", ["p1", "conv2_w", "conv2_b"], ["c2"], kernel_shape=[3, 3],
                         pads=[1, 1, 1, 1]),
        helper.make_node("Clip", ["c2", "lo", "hi"], ["r2"]),
        helper.make_node("Flatten", ["r2"], ["f"], axis=1),
        helper.make_node("Gemm", ["f", "fc_w", "fc_b"], ["z"]),
        helper.make_node("Softmax", ["z"], ["y"], axis=1),
    ]
    inits = [init(k, v) for k, v in w.items()]
    inits += [init("lo", np.array(0.0, np.float32)), init("hi", np.array(6.0, np.float32))]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 8, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])
    save(helper.make_graph(nodes, "digits_cnn", [x], [y], inits), "digits_cnn.onnx")


def dense_seq():
    rng = np.random.default_rng(20261130)
    w = (rng.standard_normal((256, 256)) / 16).astype(np.float32)
    b = rng.standard_normal(256).astype(np.float32)
    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["m"]),
        helper.make_node("Add", ["m", "b"], ["a"]),
        helper.make_node("Relu", ["a"], ["y"]),
    ]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 32, 256])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [4, 32, 256])
    save(helper.make_graph(nodes, "dense_seq", [x], [y], [init("w", w), init("b", b)]), "dense_seq.onnx")


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    overhead()
    digits_mlp()
    digits_cnn()
    dense_seq()
