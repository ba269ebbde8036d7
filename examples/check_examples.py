#!/usr/bin/python3
"""Check the example graphs against their expected outputs, without etch.

A deliberately small numpy evaluator for the subset of the graph language that
the examples use (input, const = npy(...), one call per statement with an
optional type annotation, output) and for the ops they call, with ONNX
semantics. It reads each .etch file itself, so it catches a wrong weight name,
attribute or annotation in the graph text, not only in the training script.

Invariants:
  - Every annotated type is checked against the shape the evaluator computed.
  - Each model's outputs for inputs/digit_<k>.npy must match expected/ to 1e-5
    and the predictions in expected/labels.txt.
  - Over data/digits_test_*.npy each model's accuracy must be >= 95%.

Usage: /usr/bin/python3 examples/check_examples.py      (exit status 0 when all hold)
Only numpy is needed.
"""

import os
import re
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = ("digits_mlp", "digits_cnn")
TOL = 1e-5


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return re.sub(r"#[^\n]*", "", text)


def parse_type(s):
    m = re.fullmatch(r"\s*f32\[([^\]]*)\]\s*", s)
    if not m:
        raise ValueError(f"unsupported type {s!r}")
    return tuple(int(d) for d in m.group(1).split(",") if d.strip())


def parse_value(s):
    s = s.strip()
    if s.startswith("["):
        return [parse_value(v) for v in s[1:-1].split(",") if v.strip()]
    if s.startswith('"'):
        return s[1:-1]
    return float(s) if re.search(r"[.eE]|inf", s) else int(s)


def split_args(s):
    """Splits a call's argument text at top-level commas."""
    parts, depth, cur = [], 0, ""
    for ch in s:
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur.strip())
            cur = ""
        else:
            cur += ch
    if cur.strip():
        parts.append(cur.strip())
    return parts


def parse_call(s):
    """Parses `op(arg, ..., attr = value, ...)`; an argument is a name or a nested call."""
    m = re.fullmatch(r"(\w+)\((.*)\)", s.strip(), flags=re.S)
    args, attrs = [], {}
    for a in split_args(m.group(2)):
        if am := re.fullmatch(r"(\w+)\s*=\s*(.+)", a):
            attrs[am.group(1)] = parse_value(am.group(2))
        else:
            args.append(parse_call(a) if "(" in a else a)
    return m.group(1), args, attrs


def eval_call(env, call):
    op, args, attrs = call
    vals = [eval_call(env, a) if isinstance(a, tuple) else env[a] for a in args]
    return OPS[op](*vals, **attrs)


def parse_graph(path):
    text = strip_comments(open(path, encoding="utf-8").read())
    body = re.search(r"graph\s+\w+\s*\{(.*)\}", text, flags=re.S).group(1)
    g = {"inputs": [], "consts": {}, "nodes": [], "outputs": []}
    for line in (ln.strip() for ln in body.split("\n")):
        if not line:
            continue
        if m := re.fullmatch(r"input\s+(\w+)\s*:\s*(.+)", line):
            g["inputs"].append((m.group(1), parse_type(m.group(2))))
        elif m := re.fullmatch(r'const\s+(\w+)\s*:\s*(.+?)\s*=\s*npy\("([^"]+)"\)', line):
            arr = np.load(os.path.join(os.path.dirname(path), m.group(3)))
            if arr.dtype != np.float32 or arr.shape != parse_type(m.group(2)):
                raise ValueError(f"{m.group(1)}: file holds {arr.dtype}{list(arr.shape)}")
            g["consts"][m.group(1)] = arr
        elif m := re.fullmatch(r"output\s+(\w+)", line):
            g["outputs"].append(m.group(1))
        elif m := re.fullmatch(r"(\w+)\s*(?::\s*([^=]+?))?\s*=\s*(\w+\(.*\))", line):
            ty = parse_type(m.group(2)) if m.group(2) else None
            g["nodes"].append((m.group(1), ty, parse_call(m.group(3))))
        else:
            raise ValueError(f"{path}: cannot read {line!r}")
    return g


def conv(x, w, b=None, kernel_shape=None, pads=(0, 0, 0, 0), strides=(1, 1)):
    m, c, kh, kw = w.shape
    assert kernel_shape in (None, [kh, kw]) and x.shape[1] == c
    xp = np.pad(x, ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])))
    oh = (xp.shape[2] - kh) // strides[0] + 1
    ow = (xp.shape[3] - kw) // strides[1] + 1
    out = np.zeros((x.shape[0], m, oh, ow))
    for i in range(kh):
        for j in range(kw):
            win = xp[:, :, i:i + strides[0] * oh:strides[0], j:j + strides[1] * ow:strides[1]]
            out += np.einsum("nchw,mc->nmhw", win, w[:, :, i, j])
    return out if b is None else out + b.reshape(1, -1, 1, 1)


def max_pool(x, kernel_shape, strides=None):
    kh, kw = kernel_shape
    sh, sw = strides or (1, 1)
    oh, ow = (x.shape[2] - kh) // sh + 1, (x.shape[3] - kw) // sw + 1
    out = np.full(x.shape[:2] + (oh, ow), -np.inf)
    for i in range(kh):
        for j in range(kw):
            out = np.maximum(out, x[:, :, i:i + sh * oh:sh, j:j + sw * ow:sw])
    return out


def batch_norm(x, s, b, mean, var, epsilon=1e-5):
    r = (1, -1) + (1,) * (x.ndim - 2)
    return (x - mean.reshape(r)) / np.sqrt(var.reshape(r) + epsilon) * s.reshape(r) + b.reshape(r)


def softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


OPS = {
    "conv": conv,
    "batch_norm": batch_norm,
    "max_pool": max_pool,
    "relu": lambda x: np.maximum(x, 0.0),
    "clip": lambda x, min=-np.inf, max=np.inf: np.clip(x, min, max),
    "flatten": lambda x, axis=1: x.reshape(int(np.prod(x.shape[:axis])), -1),
    "global_average_pool": lambda x: x.mean(axis=(2, 3), keepdims=True),
    "gemm": lambda a, b, c=0.0: a @ b + c,
    "softmax": softmax,
}


def run_graph(g, feeds):
    env = {k: v.astype(np.float64) for k, v in g["consts"].items()}
    for name, shape in g["inputs"]:
        if feeds[name].shape != shape:
            raise ValueError(f"input {name}: got {feeds[name].shape}, graph says {shape}")
        env[name] = feeds[name].astype(np.float64)
    for out, ty, call in g["nodes"]:
        env[out] = eval_call(env, call)
        if ty is not None and env[out].shape != ty:
            raise ValueError(f"{out} = {call[0]}: computed {env[out].shape}, annotated {ty}")
    return [env[o] for o in g["outputs"]]


def check_model(name, x_test, y_test):
    d = os.path.join(HERE, name)
    g = parse_graph(os.path.join(d, name + ".etch"))
    (in_name, in_shape), = g["inputs"]
    problems = []
    for line in open(os.path.join(d, "expected", "labels.txt"), encoding="ascii"):
        fname, label, pred = line.split()
        x = np.load(os.path.join(d, "inputs", fname))
        want = np.load(os.path.join(d, "expected", fname))
        got, = run_graph(g, {in_name: x})
        err = float(np.abs(got - want).max())
        if err > TOL or int(got.argmax()) != int(pred):
            problems.append(f"{fname}: max abs err {err:g}, argmax {got.argmax()} "
                            f"(expected {pred}, label {label})")
    hits = sum(int(run_graph(g, {in_name: x.reshape(in_shape)})[0].argmax()) == int(y)
               for x, y in zip(x_test, y_test))
    acc = hits / len(y_test)
    if acc < 0.95:
        problems.append(f"accuracy {acc:.4f} below 0.95")
    print(f"{name}: test accuracy {acc:.4f}; "
          + ("; ".join(problems) if problems else "all expected outputs match"))
    return not problems


def main():
    x_test = np.load(os.path.join(HERE, "data", "digits_test_x.npy"))
    y_test = np.load(os.path.join(HERE, "data", "digits_test_y.npy"))
    ok = all([check_model(m, x_test, y_test) for m in MODELS])
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
