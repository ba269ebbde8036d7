#!/usr/bin/env python3
"""bench.py: what --math fast buys where exp, tanh or sigmoid dominate.

For each activation (one op over one tensor: sigmoid, tanh, exp, gelu with
approximate = "tanh", softmax over rows of 1024, and relu as the floor: a
loop with no math), writes a one-op .etch model and a random input, then
  host:       etch run --backend c|llvm --repeat R --stats, --math exact vs
              fast: the median latency over R runs (etch run's latency_us)
              for 65536 elements;
  cortex-m4:  etch run --target cortex-m4 --stats, --math exact vs fast:
              instructions (QEMU's count, the whole app) for 1024 elements,
              per element after subtracting the same model on 0 elements'
              worth of work (an identity model: app start-up and I/O).
Prints markdown tables.

  /usr/bin/python3 bench/fastmath/bench.py [--etch build/etch] [--repeat 200] [--no-mcu]
"""
import argparse
import os
import re
import subprocess
import tempfile

import numpy as np

OPS = [
    ("relu", "relu(x)"),
    ("sigmoid", "sigmoid(x)"),
    ("tanh", "tanh(x)"),
    ("exp", "exp(x)"),
    ("gelu_tanh", 'gelu(x, approximate = "tanh")'),
    ("softmax", "softmax(x, axis = -1)"),
]


def model(dirname, name, expr, rows, cols):
    path = os.path.join(dirname, f"{name}_{rows}x{cols}.etch")
    with open(path, "w") as f:
        f.write(f"graph {name} {{\n  input x : f32[{rows}, {cols}]\n  y = {expr}\n  output y\n}}\n")
    return path


def run(etch, path, inp, outdir, extra):
    cmd = [etch, "run", path, "--input", inp, "--output-dir", outdir, "--stats"] + extra
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return {k: float(v) for k, v in re.findall(r"^(\w+): ([0-9.]+)$", out, re.M)}


def main():
    ap = argparse.ArgumentParser()
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--etch", default=os.path.join(here, "..", "..", "build", "etch"))
    ap.add_argument("--repeat", type=int, default=200)
    ap.add_argument("--no-mcu", action="store_true")
    a = ap.parse_args()
    rng = np.random.default_rng(1)
    with tempfile.TemporaryDirectory(prefix="etch-fastmath-") as d:
        def inp(rows, cols):
            p = os.path.join(d, f"x_{rows}x{cols}.npy")
            np.save(p, (rng.standard_normal((rows, cols)) * 3).astype(np.float32))
            return p
        rows, cols = 64, 1024
        x = inp(rows, cols)
        print(f"host ({rows * cols} elements, median of {a.repeat} runs, latency_us)\n")
        print("| op | C exact | C fast | speedup | LLVM exact | LLVM fast | speedup |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
        for name, expr in OPS:
            m = model(d, name, expr, rows, cols)
            t = {}
            for be in ("c", "llvm"):
                for mode in ("exact", "fast"):
                    t[be, mode] = run(a.etch, m, x, d, ["--backend", be, "--math", mode,
                                                       "--repeat", str(a.repeat)])["latency_us"]
            print(f"| {name} | {t['c', 'exact']:.1f} | {t['c', 'fast']:.1f} | "
                  f"{t['c', 'exact'] / t['c', 'fast']:.2f}x | {t['llvm', 'exact']:.1f} | "
                  f"{t['llvm', 'fast']:.1f} | {t['llvm', 'exact'] / t['llvm', 'fast']:.2f}x |")
        if a.no_mcu:
            return
        rows, cols = 1, 1024
        n = rows * cols
        x = inp(rows, cols)
        base = run(a.etch, model(d, "identity", "identity(x)", rows, cols), x, d,
                   ["--target", "cortex-m4"])["instructions"]
        print(f"\ncortex-m4 ({n} elements; instructions per element beyond an identity "
              f"model's {base:.0f} in all)\n")
        print("| op | exact | fast | ratio |")
        print("| --- | ---: | ---: | ---: |")
        for name, expr in OPS:
            m = model(d, name, expr, rows, cols)
            i = {mode: (run(a.etch, m, x, d, ["--target", "cortex-m4", "--math", mode])
                        ["instructions"] - base) / n for mode in ("exact", "fast")}
            print(f"| {name} | {i['exact']:.1f} | {i['fast']:.1f} | "
                  f"{i['exact'] / i['fast']:.2f}x |")


if __name__ == "__main__":
    main()
