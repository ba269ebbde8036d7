#!/usr/bin/python3
"""Train etch's two example models on scikit-learn's 8x8 digits and export them.

Writes, relative to this file's directory:
  digits_mlp/weights/*.npy, digits_cnn/weights/*.npy   trained parameters (f32, C order)
  <model>/inputs/digit_<k>.npy                          4 held-out test images
  <model>/expected/digit_<k>.npy, labels.txt            torch's probabilities for them
  data/digits_test_x.npy, data/digits_test_y.npy        the whole held-out split
  data/digits_calib_x.npy                               the first 48 training images, for
                                                        int8 calibration (etch --calibrate)

Invariants:
  - Re-running on the same machine gives byte-identical files: fixed seeds, one
    thread, deterministic algorithms, no timestamps in any output.
  - The exported weights are laid out exactly as the .etch graphs consume them
    (gemm weights [in, out], conv weights [M, C, kH, kW]); before writing, a
    plain numpy evaluation of each graph's ops is checked against torch, so a
    layout slip fails here instead of in etch.
  - digit_<k>.npy is a held-out image of the digit k: of those the model gets
    right, the one it is least sure of, so the expected probabilities are not
    all 0 or 1 and a small error in etch's arithmetic shows in them.

Run with Debian's python (it has torch and sklearn):  /usr/bin/python3 examples/train_digits.py
Torch is needed by this script only, never by etch's build.
"""

import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

SEED = 0
HERE = os.path.dirname(os.path.abspath(__file__))
N_SAMPLES = 4  # held-out images exported per model: digits 0..N_SAMPLES-1
N_CALIB = 48  # training images kept for int8 calibration
MIN_TEST_ACCURACY = 0.95


def set_determinism():
    torch.manual_seed(SEED)
    np.random.seed(SEED)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)


def load_split():
    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    y = digits.target.astype(np.int64)
    return train_test_split(x, y, test_size=0.25, random_state=SEED, stratify=y)


class DigitsMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(64, 32)
        self.fc2 = nn.Linear(32, 10)

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(x)))


class DigitsCNN(nn.Module):
    # conv1 has no bias: batch_norm's shift makes one redundant.
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 16, 3, padding=1)
        self.fc = nn.Linear(16 * 4 * 4, 10)

    def forward(self, x):
        x = x.view(-1, 1, 8, 8)
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2, 2)
        x = torch.clamp(self.conv2(x), 0.0, 6.0)
        return self.fc(torch.flatten(x, 1))


def train(model, x, y, epochs, lr):
    gen = torch.Generator().manual_seed(SEED)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(len(xt), generator=gen)
        for i in range(0, len(xt), 32):
            idx = perm[i:i + 32]
            opt.zero_grad()
            loss = F.cross_entropy(model(xt[idx]), yt[idx])
            loss.backward()
            opt.step()
    model.eval()


def probabilities(model, x):
    with torch.no_grad():
        return F.softmax(model(torch.from_numpy(x)), dim=1).numpy().astype(np.float32)


def accuracy(model, x, y):
    return float((probabilities(model, x).argmax(axis=1) == y).mean())


def f32(t):
    return np.ascontiguousarray(t.detach().numpy().astype(np.float32))


def export_mlp(m):
    return {
        "w1": f32(m.fc1.weight.t()), "b1": f32(m.fc1.bias),
        "w2": f32(m.fc2.weight.t()), "b2": f32(m.fc2.bias),
    }


def export_cnn(m):
    return {
        "conv1_w": f32(m.conv1.weight),
        "bn1_scale": f32(m.bn1.weight), "bn1_bias": f32(m.bn1.bias),
        "bn1_mean": f32(m.bn1.running_mean), "bn1_var": f32(m.bn1.running_var),
        "conv2_w": f32(m.conv2.weight), "conv2_b": f32(m.conv2.bias),
        "fc_w": f32(m.fc.weight.t()), "fc_b": f32(m.fc.bias),
    }


# ---- numpy evaluation of the .etch graphs, op by op (ONNX semantics) -------

def np_softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def np_conv3x3_pad1(x, w, b=None):
    n, c, h, wd = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    out = np.zeros((n, w.shape[0], h, wd), dtype=np.float64)
    for i in range(3):
        for j in range(3):
            out += np.einsum("nchw,mc->nmhw", xp[:, :, i:i + h, j:j + wd], w[:, :, i, j])
    if b is not None:
        out += b.reshape(1, -1, 1, 1)
    return out


def np_mlp(p, x):
    h = np.maximum(x @ p["w1"] + p["b1"], 0.0)
    return np_softmax(h @ p["w2"] + p["b2"])


def np_cnn(p, x):
    x = x.reshape(1, 1, 8, 8).astype(np.float64)
    c1 = np_conv3x3_pad1(x, p["conv1_w"])
    sh = (1, -1, 1, 1)
    bn = ((c1 - p["bn1_mean"].reshape(sh)) / np.sqrt(p["bn1_var"].reshape(sh) + 1e-5)
          * p["bn1_scale"].reshape(sh) + p["bn1_bias"].reshape(sh))
    r = np.maximum(bn, 0.0)
    mp = r.reshape(1, 8, 4, 2, 4, 2).max(axis=(3, 5))
    c2 = np.clip(np_conv3x3_pad1(mp, p["conv2_w"], p["conv2_b"]), 0.0, 6.0)
    return np_softmax(c2.reshape(1, -1) @ p["fc_w"] + p["fc_b"])


# ---- output ------------------------------------------------------------------

def save(rel, arr):
    path = os.path.join(HERE, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    np.save(path, arr)


def write_text(rel, text):
    path = os.path.join(HERE, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="ascii", newline="\n") as f:
        f.write(text)


def pick_samples(model, x_test, y_test):
    """For each digit k < N_SAMPLES: the correctly classified test image of k
    with the lowest top probability (ties: the first)."""
    prob = probabilities(model, x_test)
    top = np.where(prob.argmax(axis=1) == y_test, prob.max(axis=1), np.inf)
    return [(k, int(np.argmin(np.where(y_test == k, top, np.inf)))) for k in range(N_SAMPLES)]


def export_model(name, model, params, np_graph, in_shape, x_test, y_test):
    for k, v in params.items():
        save(f"{name}/weights/{k}.npy", v)
    lines = []
    for k, idx in pick_samples(model, x_test, y_test):
        x = x_test[idx:idx + 1]
        prob = probabilities(model, x)
        ref = np_graph(params, x.astype(np.float64))
        err = float(np.abs(ref - prob).max())
        if err > 1e-5:
            sys.exit(f"{name}: numpy graph differs from torch on digit_{k} by {err:g}")
        save(f"{name}/inputs/digit_{k}.npy", np.ascontiguousarray(x.reshape(in_shape)))
        save(f"{name}/expected/digit_{k}.npy", prob)
        lines.append(f"digit_{k}.npy {int(y_test[idx])} {int(prob.argmax())}\n")
    write_text(f"{name}/expected/labels.txt", "".join(lines))


def main():
    set_determinism()
    x_train, x_test, y_train, y_test = load_split()

    mlp = DigitsMLP()
    train(mlp, x_train, y_train, epochs=60, lr=3e-3)
    cnn = DigitsCNN()
    train(cnn, x_train, y_train, epochs=40, lr=3e-3)

    ok = True
    for name, m in (("digits_mlp", mlp), ("digits_cnn", cnn)):
        tr, te = accuracy(m, x_train, y_train), accuracy(m, x_test, y_test)
        print(f"{name}: train accuracy {tr:.4f}, test accuracy {te:.4f} ({len(y_test)} images)")
        ok = ok and te >= MIN_TEST_ACCURACY
    if not ok:
        sys.exit(f"test accuracy below {MIN_TEST_ACCURACY}")

    export_model("digits_mlp", mlp, export_mlp(mlp), np_mlp, (1, 64),
                 x_test, y_test)
    export_model("digits_cnn", cnn, export_cnn(cnn), np_cnn, (1, 1, 8, 8),
                 x_test, y_test)
    save("data/digits_test_x.npy", np.ascontiguousarray(x_test, dtype=np.float32))
    save("data/digits_test_y.npy", np.ascontiguousarray(y_test, dtype=np.int64))
    save("data/digits_calib_x.npy", np.ascontiguousarray(x_train[:N_CALIB], dtype=np.float32))


if __name__ == "__main__":
    main()
