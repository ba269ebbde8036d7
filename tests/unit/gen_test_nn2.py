#!/usr/bin/python3
"""gen_test_nn2.py: expected outputs for tests/unit/test_nn2.c.

Replays the tests' xorshift32 input stream (values k/256, k in [-1000, 1000],
exact in float) for each case's seed and input shapes, computes the expected
output with PyTorch (float64) or, where PyTorch's semantics differ from
ONNX's (LRN with an even size, asymmetric conv_transpose pads), with numpy
following the ONNX definition, and rewrites the block between the GENERATED
markers in test_nn2.c. Run: /usr/bin/python3 tests/unit/gen_test_nn2.py
"""
import os
import re

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))


def stream(seed):
    s = seed
    while True:
        s ^= (s << 13) & 0xFFFFFFFF
        s ^= s >> 17
        s ^= (s << 5) & 0xFFFFFFFF
        yield ((s % 2001) - 1000) / 256.0


def inputs(seed, *shapes):
    g = stream(seed)
    out = []
    for sh in shapes:
        n = int(np.prod(sh)) if sh else 1
        out.append(torch.tensor([next(g) for _ in range(n)], dtype=torch.float64).reshape(sh))
    return out


def lrn_onnx(x, size, alpha, beta, bias):
    x = x.numpy()
    C = x.shape[1]
    sq = np.zeros_like(x)
    for c in range(C):
        lo, hi = max(0, c - (size - 1) // 2), min(C - 1, c + (size - 1) - (size - 1) // 2)
        sq[:, c] = (x[:, lo:hi + 1] ** 2).sum(axis=1)
    return torch.tensor(x / (bias + alpha / size * sq) ** beta)


def ct_crop(y, pads):
    """Crops a pad-0 transposed conv output by ONNX pads [begin..., end...]."""
    ns = len(pads) // 2
    sl = [slice(None), slice(None)]
    for d in range(ns):
        sl.append(slice(pads[d], y.shape[2 + d] - pads[ns + d]))
    return y[tuple(sl)]


CASES = {}


def case(name):
    def deco(fn):
        CASES[name] = fn
        return fn
    return deco


@case("log_softmax_ax1")
def _():
    (x,) = inputs(11, (2, 3, 4))
    return torch.log_softmax(x * 4, dim=1)  # the test scales x by 4


@case("log_softmax_last")
def _():
    (x,) = inputs(12, (3, 5))
    return torch.log_softmax(x, dim=-1)


@case("instance_norm")
def _():
    x, s, b = inputs(21, (2, 3, 4, 5), (3,), (3,))
    return F.instance_norm(x, weight=s, bias=b, eps=1e-3)


@case("instance_norm_1d")
def _():
    x, s, b = inputs(22, (1, 4, 6), (4,), (4,))
    return F.instance_norm(x, weight=s, bias=b, eps=1e-5)


@case("lrn3")
def _():
    (x,) = inputs(31, (2, 5, 3, 3))
    return torch.nn.LocalResponseNorm(3, alpha=0.02, beta=0.75, k=2.0)(x)


@case("lrn4")
def _():
    (x,) = inputs(32, (1, 6, 2, 2))
    return lrn_onnx(x, 4, 0.05, 0.5, 1.5)


@case("ct2d")
def _():
    x, w, b = inputs(41, (1, 2, 4, 4), (2, 3, 3, 3), (3,))
    return F.conv_transpose2d(x, w, b)


@case("ct2d_stride_pad_dil")
def _():
    x, w, b = inputs(42, (1, 2, 3, 4), (2, 2, 3, 2), (2,))
    return F.conv_transpose2d(x, w, b, stride=(2, 3), padding=(1, 1), output_padding=(1, 2),
                              dilation=(1, 2))


@case("ct2d_group")
def _():
    x, w = inputs(43, (2, 4, 3, 3), (4, 3, 2, 2))
    return F.conv_transpose2d(x, w, None, stride=2, groups=2)


@case("ct1d_asym")
def _():
    x, w, b = inputs(44, (1, 3, 5), (3, 2, 4), (2,))
    return ct_crop(F.conv_transpose1d(x, w, b, stride=2), [2, 1])


@case("ct_output_shape")
def _():
    # x [1,1,3,3], w [1,2,3,3], strides 3, output_shape [10, 8]: natural size
    # 3*2+3 = 9, totals -1 and 1; begin = total - floor(total/2): H gets a row
    # at the end (pads 0, -1), W loses its first column (pads 1, 0).
    x, w = inputs(45, (1, 1, 3, 3), (1, 2, 3, 3))
    full = F.conv_transpose2d(x, w, None, stride=3)  # [1, 2, 9, 9]
    full = F.pad(full, (0, 0, 0, 1))  # H: pads (0, -1): one more row at the end
    return full[:, :, :, 1:]  # W: pads (1, 0)


@case("resize_nearest_asym")
def _():
    (x,) = inputs(51, (1, 2, 2, 3))
    return F.interpolate(x, size=(4, 9), mode="nearest")


@case("resize_nearest_exact")
def _():
    (x,) = inputs(52, (1, 1, 7, 3))
    return F.interpolate(x, size=(3, 7), mode="nearest-exact")


@case("resize_bilinear")
def _():
    (x,) = inputs(53, (1, 2, 4, 5))
    return F.interpolate(x, size=(7, 3), mode="bilinear", align_corners=False)


@case("resize_bilinear_ac")
def _():
    (x,) = inputs(54, (1, 1, 3, 4))
    return F.interpolate(x, size=(5, 7), mode="bilinear", align_corners=True)


@case("resize_trilinear")
def _():
    (x,) = inputs(55, (1, 1, 3, 4, 2))
    return F.interpolate(x, size=(5, 3, 4), mode="trilinear", align_corners=False)


@case("resize_bicubic")
def _():
    (x,) = inputs(56, (1, 1, 4, 4))
    return F.interpolate(x, size=(6, 3), mode="bicubic", align_corners=False)


@case("resize_linear1d")
def _():
    (x,) = inputs(57, (2, 3, 5))
    return F.interpolate(x, size=(8,), mode="linear", align_corners=False)


def fmt(name, y):
    v = y.detach().numpy().astype(np.float32).ravel()
    lines = []
    row = []
    for f in v:
        s = "%.9gf" % f
        if "." not in s and "e" not in s:
            s = s[:-1] + ".0f"
        row.append(s)
        if len(row) == 6:
            lines.append("    " + ", ".join(row) + ",")
            row = []
    if row:
        lines.append("    " + ", ".join(row) + ",")
    return "static const float exp_%s[%d] = {\n%s\n};\n" % (name, len(v), "\n".join(lines))


def main():
    block = "".join(fmt(n, fn()) for n, fn in CASES.items())
    path = os.path.join(HERE, "test_nn2.c")
    text = open(path).read()
    begin, end = "/* BEGIN GENERATED by gen_test_nn2.py */\n", "/* END GENERATED */\n"
    text = re.sub(re.escape(begin) + ".*?" + re.escape(end), lambda m: begin + block + end,
                  text, flags=re.S)
    open(path, "w").write(text)


if __name__ == "__main__":
    main()
