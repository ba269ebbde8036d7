#!/usr/bin/python3
"""make_old_opset.py: a small CNN in ONNX opset 8, built with onnx.helper.

Writes old_opset8.onnx next to this script: Conv -> BatchNormalization ->
Clip (min/max as attributes, the opset < 11 form) -> MaxPool -> Conv -> Relu
-> Dropout (opset 7 form, inference) -> GlobalAveragePool -> Flatten -> Gemm
-> Softmax (opset < 13: coerces to 2-D at axis 1), on a [1, 3, 16, 16] float
input. IR version 3, with every initializer also listed as a graph input, as
exporters of that era did. Weights come from a seeded numpy generator, so a
rerun writes the same file. Run with /usr/bin/python3 (numpy, onnx).
"""
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def main():
    rng = np.random.default_rng(8)

    def w(name, *shape, scale=0.3):
        return numpy_helper.from_array(
            (rng.standard_normal(shape) * scale).astype(np.float32), name)

    inits = [
        w("conv1_w", 8, 3, 3, 3), w("conv1_b", 8),
        numpy_helper.from_array(rng.uniform(0.5, 1.5, 8).astype(np.float32), "bn_scale"),
        w("bn_bias", 8),
        w("bn_mean", 8, scale=0.1),
        numpy_helper.from_array(rng.uniform(0.5, 2.0, 8).astype(np.float32), "bn_var"),
        w("conv2_w", 16, 8, 3, 3, scale=0.2), w("conv2_b", 16),
        w("fc_w", 10, 16, scale=0.1), w("fc_b", 10, scale=0.1),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "conv1_w", "conv1_b"], ["c1"], name="conv1",
                         kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization",
                         ["c1", "bn_scale", "bn_bias", "bn_mean", "bn_var"], ["b1"],
                         name="bn1", epsilon=1e-5),
        helper.make_node("Clip", ["b1"], ["r1"], name="clip1", min=0.0, max=6.0),
        helper.make_node("MaxPool", ["r1"], ["p1"], name="pool1",
                         kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Conv", ["p1", "conv2_w", "conv2_b"], ["c2"], name="conv2",
                         kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c2"], ["r2"], name="relu2"),
        helper.make_node("Dropout", ["r2"], ["d2"], name="drop2", ratio=0.25),
        helper.make_node("GlobalAveragePool", ["d2"], ["g"], name="gap"),
        helper.make_node("Flatten", ["g"], ["f"], name="flatten", axis=1),
        helper.make_node("Gemm", ["f", "fc_w", "fc_b"], ["logits"], name="fc",
                         transB=1),
        helper.make_node("Softmax", ["logits"], ["prob"], name="softmax", axis=1),
    ]
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 16, 16])]
    inputs += [helper.make_tensor_value_info(t.name, TensorProto.FLOAT, list(t.dims))
               for t in inits]
    graph = helper.make_graph(
        nodes, "old_opset8", inputs,
        [helper.make_tensor_value_info("prob", TensorProto.FLOAT, [1, 10])], inits)
    model = helper.make_model(graph, producer_name="etch make_old_opset.py",
                              opset_imports=[helper.make_opsetid("", 8)])
    model.ir_version = 3
    onnx.checker.check_model(model)
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "old_opset8.onnx")
    onnx.save(model, out)
    print("wrote", out)


if __name__ == "__main__":
    main()
