#!/usr/bin/python3
"""make_qoperator.py: onnxruntime's QOperator contrib ops (com.microsoft).

Writes qop_*.onnx next to this script, built with onnx.helper: the
per-tensor QLinear ops of onnxruntime's com.microsoft domain (operator set
1), in the forms onnxruntime's quantizer writes and a few it does not
(channels_last, int8 and uint8, absent optional zero points, constant
operands, every QLinearSoftmax axis rule). tests/unit/test_models.c runs
them with etch and with ONNX Runtime (which has these contrib kernels on
CPU) on seeded random int8/uint8 inputs. Weights and parameters come from
a seeded numpy generator, so a rerun writes the same files. Run with
/usr/bin/python3 (numpy, onnx).

  qop_binary      QLinearAdd (int8, broadcast [1,8,6,6] + [1,8,1,1]; a constant
                  operand), QLinearMul (uint8, broadcast; int8 without C_zero_point)
  qop_pool        QLinearAveragePool (no padding; padding with and without
                  count_include_pad; channels_last), QLinearGlobalAveragePool
                  (NCHW uint8; channels_last int8)
  qop_activation  QLinearSigmoid (uint8), QLinearLeakyRelu (int8, alpha 0.1)
  qop_softmax     QLinearSoftmax: opset 13 last axis (uint8), opset 13 axis 1 of
                  rank 3 (int8), opset 11 axis 1 (flattened to 2-D; int8)
  qop_concat      QLinearConcat of three int8 tensors at three scales (one a
                  constant) on axis 1
  qop_dynamic     QLinearAdd, QLinearSigmoid and QLinearGlobalAveragePool with a
                  scale and a zero point that are not constants (computed in the
                  graph, or a graph input)
  qop_nhwc        com.microsoft QLinearConv, QLinearAveragePool and
                  QLinearGlobalAveragePool on channels_last uint8 tensors (what
                  onnxruntime's NHWC transformer writes)
  qop_gemm        QGemm: int8 with per-row weights (transB), bias and quantized
                  output; uint8 with alpha, transA and a float output
  qop_integer     MatMulInteger (uint8, per-column zero points) and
                  ConvInteger (uint8, 64 input channels, 3x3, padding) whose
                  int32 sums reach 2^24 and beyond (a float sum of them would
                  round): weights at the far end of their range from the zero
                  point, so every product is >= 0
  qop_net         a small int8 network as the quantizer writes it: QLinearConv
                  -> QLinearLeakyRelu -> QLinearConv -> QLinearAdd (residual)
                  -> QLinearGlobalAveragePool -> Flatten -> QLinearMatMul ->
                  QLinearSoftmax
"""
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
MS = "com.microsoft"
rng = np.random.default_rng(77)


def save(name, nodes, inputs, outputs, inits=()):
    graph = helper.make_graph(nodes, name, inputs, outputs, initializer=list(inits))
    model = helper.make_model(graph, producer_name="etch-tests", opset_imports=[
        helper.make_opsetid("", 13), helper.make_opsetid(MS, 1)])
    model.ir_version = 7
    onnx.save(model, os.path.join(HERE, name + ".onnx"))


def tensor(name, elem, shape):
    return helper.make_tensor_value_info(name, elem, shape)


def i8(name, shape):
    return tensor(name, TensorProto.INT8, shape)


def u8(name, shape):
    return tensor(name, TensorProto.UINT8, shape)


def f(name, v):
    return numpy_helper.from_array(np.array(v, np.float32), name)


def z8(name, v, dtype=np.int8):
    return numpy_helper.from_array(np.array(v, dtype), name)


def qnode(op, inputs, output, name, **attrs):
    return helper.make_node(op, inputs, [output], name=name, domain=MS, **attrs)


def binary():
    nodes = [
        qnode("QLinearAdd", ["a", "as", "az", "b", "bs", "bz", "cs", "cz"], "add", "add"),
        qnode("QLinearAdd", ["a", "as", "az", "k", "ks", "kz", "cs", "cz"], "addk", "add_const"),
        qnode("QLinearMul", ["m", "ms", "mz", "n", "ns", "nz", "os", "oz"], "mul", "mul"),
        # C_zero_point absent: 0, and the output keeps the inputs' int8 (where
        # QuantizeLinear would make it uint8). (onnxruntime fails its type
        # inference on an absent A_zero_point or B_zero_point, given as "".)
        qnode("QLinearMul", ["a", "as", "az", "a", "as", "az", "os"], "sq", "square"),
    ]
    inits = [
        f("as", 0.05), z8("az", -3), f("bs", 0.08), z8("bz", 10), f("cs", 0.1), z8("cz", 4),
        numpy_helper.from_array(rng.integers(-128, 128, (1, 8, 6, 6)).astype(np.int8), "k"),
        f("ks", 0.02), z8("kz", -1),
        f("ms", 0.03), z8("mz", 120, np.uint8), f("ns", 0.02), z8("nz", 131, np.uint8),
        f("os", 0.015), z8("oz", 128, np.uint8),
    ]
    save("qop_binary", nodes,
         [i8("a", [1, 8, 6, 6]), i8("b", [1, 8, 1, 1]), u8("m", [2, 5, 7]), u8("n", [2, 1, 7])],
         [i8("add", None), i8("addk", None), u8("mul", None), i8("sq", None)], inits)


def pool():
    nodes = [
        qnode("QLinearAveragePool", ["x", "xs", "xz", "ys", "yz"], "p1", "pool_valid",
              kernel_shape=[3, 3], strides=[2, 2]),
        qnode("QLinearAveragePool", ["x", "xs", "xz", "ys", "yz"], "p2", "pool_pad",
              kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        qnode("QLinearAveragePool", ["x", "xs", "xz", "ys", "yz"], "p3", "pool_pad_count",
              kernel_shape=[2, 3], pads=[1, 0, 1, 2], strides=[1, 2], count_include_pad=1),
        qnode("QLinearAveragePool", ["xl", "xs", "xz", "ys", "yz"], "p4", "pool_nhwc",
              kernel_shape=[2, 2], strides=[2, 2], channels_last=1),
        qnode("QLinearGlobalAveragePool", ["g", "gs", "gz", "hs", "hz"], "g1", "gap"),
        qnode("QLinearGlobalAveragePool", ["xl", "xs", "xz", "ys", "yz"], "g2", "gap_nhwc",
              channels_last=1),
    ]
    inits = [f("xs", 0.04), z8("xz", 5), f("ys", 0.03), z8("yz", -7),
             f("gs", 0.02), z8("gz", 128, np.uint8), f("hs", 0.01), z8("hz", 120, np.uint8)]
    save("qop_pool", nodes,
         [i8("x", [1, 4, 9, 9]), i8("xl", [1, 6, 8, 5]), u8("g", [2, 3, 5, 4])],
         [i8("p1", None), i8("p2", None), i8("p3", None), i8("p4", None),
          u8("g1", None), i8("g2", None)], inits)


def activation():
    nodes = [
        qnode("QLinearSigmoid", ["u", "us", "uz", "ss", "sz"], "sig", "sigmoid"),
        qnode("QLinearLeakyRelu", ["x", "xs", "xz", "ls", "lz"], "lrelu", "leaky_relu",
              alpha=0.1),
    ]
    inits = [f("us", 0.05), z8("uz", 128, np.uint8), f("ss", 1 / 256), z8("sz", 0, np.uint8),
             f("xs", 0.03), z8("xz", -20), f("ls", 0.025), z8("lz", -60)]
    save("qop_activation", nodes, [u8("u", [3, 40]), i8("x", [2, 4, 5, 6])],
         [u8("sig", None), i8("lrelu", None)], inits)


def softmax():
    nodes = [
        qnode("QLinearSoftmax", ["u", "us", "uz", "ys", "yz"], "s13", "softmax13", opset=13),
        qnode("QLinearSoftmax", ["x", "xs", "xz", "ys", "yzs"], "s13a1", "softmax13_axis1",
              opset=13, axis=1),
        qnode("QLinearSoftmax", ["x", "xs", "xz", "ys", "yzs"], "s11", "softmax11",
              opset=11, axis=1),
    ]
    inits = [f("us", 0.06), z8("uz", 100, np.uint8), f("ys", 1 / 256), z8("yz", 0, np.uint8),
             f("xs", 0.05), z8("xz", 3), z8("yzs", -128)]
    save("qop_softmax", nodes, [u8("u", [4, 10]), i8("x", [2, 6, 3])],
         [u8("s13", None), i8("s13a1", None), i8("s11", None)], inits)


def concat():
    nodes = [qnode("QLinearConcat", ["ys", "yz", "a", "as", "az", "k", "ks", "kz", "b", "bs", "bz"],
                   "y", "concat", axis=1)]
    inits = [f("ys", 0.06), z8("yz", -5), f("as", 0.05), z8("az", 2), f("bs", 0.09), z8("bz", -12),
             numpy_helper.from_array(rng.integers(-128, 128, (1, 2, 4, 4)).astype(np.int8), "k"),
             f("ks", 0.06), z8("kz", -5)]
    save("qop_concat", nodes, [i8("a", [1, 3, 4, 4]), i8("b", [1, 5, 4, 4])], [i8("y", None)],
         inits)


def net():
    def w8(name, *shape):
        return numpy_helper.from_array(rng.integers(-127, 128, shape).astype(np.int8), name)

    def bias(name, n):
        return numpy_helper.from_array(rng.integers(-3000, 3000, n).astype(np.int32), name)

    nodes = [
        helper.make_node("QLinearConv", ["x", "xs", "xz", "w1", "w1s", "w1z", "c1s", "c1z", "b1"],
                         ["c1"], name="conv1", pads=[1, 1, 1, 1]),
        qnode("QLinearLeakyRelu", ["c1", "c1s", "c1z", "r1s", "r1z"], "r1", "lrelu1", alpha=0.2),
        helper.make_node("QLinearConv", ["r1", "r1s", "r1z", "w2", "w2s", "w2z", "c2s", "c2z", "b2"],
                         ["c2"], name="conv2", pads=[1, 1, 1, 1]),
        qnode("QLinearAdd", ["r1", "r1s", "r1z", "c2", "c2s", "c2z", "ss", "sz"], "s", "residual"),
        qnode("QLinearGlobalAveragePool", ["s", "ss", "sz", "gs", "gz"], "g", "gap"),
        helper.make_node("Flatten", ["g"], ["fl"], name="flatten"),
        helper.make_node("QLinearMatMul", ["fl", "gs", "gz", "wf", "wfs", "wfz", "ls", "lz"], ["l"],
                         name="fc"),
        qnode("QLinearSoftmax", ["l", "ls", "lz", "ps", "pz"], "p", "softmax", opset=13),
    ]
    inits = [
        f("xs", 0.02), z8("xz", 0), w8("w1", 8, 3, 3, 3),
        f("w1s", rng.uniform(0.002, 0.006, 8)), z8("w1z", np.zeros(8)), f("c1s", 0.05),
        z8("c1z", -10), bias("b1", 8), f("r1s", 0.04), z8("r1z", -50),
        w8("w2", 8, 8, 3, 3), f("w2s", 0.002), z8("w2z", 0), f("c2s", 0.06), z8("c2z", 3),
        bias("b2", 8), f("ss", 0.07), z8("sz", -20), f("gs", 0.03), z8("gz", -30),
        w8("wf", 8, 10), f("wfs", 0.01), z8("wfz", 0), f("ls", 0.08), z8("lz", 0),
        f("ps", 1 / 256), z8("pz", -128),
    ]
    save("qop_net", nodes, [i8("x", [1, 3, 8, 8])], [i8("p", None)], inits)


def dynamic():
    # Quantization parameters computed in the graph, not constants: etch runs
    # the QDQ form in float (fold-qdq needs constants), as written.
    nodes = [
        helper.make_node("Abs", ["t"], ["t_abs"], name="abs"),
        helper.make_node("Add", ["t_abs", "eps"], ["as"], name="scale"),
        qnode("QLinearAdd", ["a", "as", "az", "b", "bs", "bz", "cs", "cz"], "add", "add"),
        qnode("QLinearSigmoid", ["a", "as", "az", "ss", "sz"], "sig", "sigmoid"),
        qnode("QLinearGlobalAveragePool", ["a", "as", "az", "cs", "bz"], "gap", "gap"),
    ]
    inits = [f("eps", 0.01), z8("az", 3), f("bs", 0.04), f("cs", 0.05), z8("cz", -2),
             f("ss", 1 / 256), z8("sz", -128)]
    save("qop_dynamic", nodes,
         [i8("a", [1, 3, 4, 4]), i8("b", [1, 3, 4, 4]), tensor("t", TensorProto.FLOAT, []),
          i8("bz", [])],
         [i8("add", None), i8("sig", None), i8("gap", None)], inits)


def nhwc():
    # What onnxruntime's NHWC transformer makes of a uint8 CNN: com.microsoft
    # QLinearConv and pools on channels_last tensors. The int8 weights are
    # 7-bit (onnxruntime's quantizer's reduce_range): with full-range int8
    # weights and uint8 activations onnxruntime parts from the exact result
    # by tens of LSB on an AVX2 CPU without VNNI (8-bit dot products
    # saturate there), in the ai.onnx QLinearConv too.
    nodes = [
        qnode("QLinearConv", ["x", "xs", "xz", "w", "ws", "wz", "cs", "cz", "b"], "c", "conv",
              pads=[1, 1, 1, 1], strides=[2, 1], channels_last=1),
        qnode("QLinearAveragePool", ["c", "cs", "cz", "ps", "pz"], "p", "pool",
              kernel_shape=[2, 2], strides=[1, 2], channels_last=1),
        qnode("QLinearGlobalAveragePool", ["p", "ps", "pz", "gs", "gz"], "g", "gap",
              channels_last=1),
    ]
    inits = [
        f("xs", 0.02), z8("xz", 128, np.uint8),
        numpy_helper.from_array(rng.integers(-64, 64, (6, 3, 3, 3)).astype(np.int8), "w"),
        f("ws", rng.uniform(0.004, 0.01, 6)), z8("wz", np.zeros(6)),
        numpy_helper.from_array(rng.integers(-2000, 2000, 6).astype(np.int32), "b"),
        f("cs", 0.05), z8("cz", 120, np.uint8), f("ps", 0.04), z8("pz", 125, np.uint8),
        f("gs", 0.02), z8("gz", 128, np.uint8),
    ]
    save("qop_nhwc", nodes, [u8("x", [1, 9, 8, 3])], [u8("p", None), u8("g", None)], inits)


def gemm():
    # QGemm, which onnxruntime's quantizer writes for Gemm: per-row int8
    # weights (transB) with an int32 bias and a quantized output; and uint8
    # with alpha, transA, no bias and a float output.
    nodes = [
        qnode("QGemm", ["a", "as", "az", "w", "ws", "wz", "c", "ys", "yz"], "y", "fc", transB=1),
        qnode("QGemm", ["u", "us", "uz", "v", "vs", "vz"], "f", "fc_float", alpha=0.5, transA=1),
    ]
    inits = [
        f("as", 0.03), z8("az", -5),
        numpy_helper.from_array(rng.integers(-127, 128, (10, 16)).astype(np.int8), "w"),
        f("ws", rng.uniform(0.002, 0.006, 10)), z8("wz", np.zeros(10)),
        numpy_helper.from_array(rng.integers(-3000, 3000, 10).astype(np.int32), "c"),
        f("ys", 0.1), z8("yz", 7),
        f("us", 0.02), z8("uz", 130, np.uint8),
        numpy_helper.from_array(rng.integers(0, 256, (16, 10)).astype(np.uint8), "v"),
        f("vs", 0.01), z8("vz", 128, np.uint8),
    ]
    save("qop_gemm", nodes, [i8("a", [3, 16]), u8("u", [16, 3])],
         [i8("y", None), tensor("f", TensorProto.FLOAT, None)], inits)


def integer():
    # Reductions of 600 and 576 terms of products up to 255 * 255 (all >= 0:
    # uint8 inputs over zero point 0 times weights far above theirs): sums
    # up to 3.9e7 > 2^24, exact only as integers. All uint8: onnxruntime's
    # uint8 x int8 kernels on AVX2 without VNNI saturate pairs of products
    # at 16 bits (off by 5% here), its uint8 x uint8 ones do not.
    nodes = [
        helper.make_node("MatMulInteger", ["a", "b", "az", "bz"], ["m"], name="matmul"),
        helper.make_node("ConvInteger", ["x", "w", "xz", "wz"], ["c"], name="conv", pads=[1, 1, 1, 1]),
    ]
    inits = [
        numpy_helper.from_array(rng.integers(200, 256, (600, 5)).astype(np.uint8), "b"),
        z8("az", 0, np.uint8), z8("bz", [0, 1, 10, 0, 30], np.uint8),
        numpy_helper.from_array(rng.integers(200, 256, (4, 64, 3, 3)).astype(np.uint8), "w"),
        z8("xz", 0, np.uint8), z8("wz", 0, np.uint8),
    ]
    save("qop_integer", nodes, [u8("a", [3, 600]), u8("x", [1, 64, 5, 4])],
         [tensor("m", TensorProto.INT32, None), tensor("c", TensorProto.INT32, None)], inits)


def main():
    binary()
    gemm()
    nhwc()
    dynamic()
    pool()
    activation()
    softmax()
    concat()
    net()
    integer()


if __name__ == "__main__":
    main()
