#!/usr/bin/env python3
"""fit_fast_math.py: where passes/fast_math.c's polynomial coefficients come from.

Fits, by Lawson's iteratively reweighted least squares (which converges to the
minimax fit), in double precision with numpy:
  exp:  e^r ~ 1 + r + r^2 (c2 + c3 r + c4 r^2 + c5 r^3 + c6 r^4), |r| <= ln2/2,
        minimizing the relative error of e^r;
  tanh: tanh(x) ~ x (1 + z (q0 + q1 z + ... + q4 z^4)), z = x^2, 0 < x < 0.625,
        minimizing the relative error of tanh(x);
prints the coefficients rounded to float (as fast_math.c has them), then
simulates the pass's whole float32 algorithm (the same operations in the same
order, numpy float32 rounding each step) on every STEP-th float bit pattern
and prints the largest error in ulps of the exact result. Nothing reads its
output at build time; tests/unit/test_fast_math.c checks the compiled code.

  /usr/bin/python3 scripts/fit_fast_math.py [STEP]     (STEP default 257)
"""
import sys

import numpy as np

f32 = np.float32


def lawson(f, w, basis, lo, hi, iters=600):
    """Coefficients c minimizing max |w (basis @ c - f)| on [lo, hi]."""
    x = np.cos(np.linspace(0, np.pi, 6000)) * (hi - lo) / 2 + (hi + lo) / 2
    x = x[np.abs(x) > 1e-4]     # the fitted functions are 0/0 at 0
    a = basis(x) * w(x)[:, None]
    b = f(x) * w(x)
    u = np.ones_like(x) / len(x)
    for _ in range(iters):
        s = np.sqrt(u)
        c, *_ = np.linalg.lstsq(a * s[:, None], b * s, rcond=None)
        e = np.abs(a @ c - b)
        u = u * e
        u /= u.sum()
    return c, np.max(np.abs(a @ c - b))


def fit():
    half_ln2 = np.log(2) / 2
    cexp, eexp = lawson(lambda r: (np.exp(r) - 1 - r) / r**2, lambda r: r**2 / np.exp(r),
                        lambda r: np.stack([r**j for j in range(5)], 1), -half_ln2, half_ln2)
    ctanh, etanh = lawson(lambda x: (np.tanh(x) - x) / x**3, lambda x: x**3 / np.tanh(x),
                          lambda x: np.stack([x**(2 * j) for j in range(5)], 1), 0, 0.625)
    print("exp_poly  =", ", ".join(repr(f32(v)) + "f" for v in cexp), f"(rel err {eexp:.2g})")
    print("tanh_poly =", ", ".join(repr(f32(v)) + "f" for v in ctanh), f"(rel err {etanh:.2g})")
    return [f32(v) for v in cexp], [f32(v) for v in ctanh]


def fast_exp(x, c):
    xc = np.where(x > f32(-104), x, f32(-104)).astype(f32)
    xc = np.where(xc < f32(89), xc, f32(89)).astype(f32)
    k = (xc * f32(1.44269504088896341)).astype(f32) + f32(12582912.0)
    n = (k - f32(12582912.0)).astype(f32)
    r = (xc - n * f32(0.693359375)).astype(f32)
    r = (r - n * f32(-2.12194440e-4)).astype(f32)
    p = c[4]
    for cj in c[3::-1]:
        p = (p * r + cj).astype(f32)
    p = (p * r + f32(1)).astype(f32)
    p = (p * r + f32(1)).astype(f32)
    ni = k.view(np.int32) - np.int32(0x4B400000)
    h = ni >> 1
    s1 = ((h + 127) << 23).astype(np.int32).view(f32)
    s2 = ((ni - h + 127) << 23).astype(np.int32).view(f32)
    y = (p * s1).astype(f32) * s2
    return np.where(x == x, y, x)


def fast_tanh(x, ce, q):
    z = (x * x).astype(f32)
    acc = q[4]
    for qj in q[3::-1]:
        acc = (acc * z + qj).astype(f32)
    small = (x * (f32(1) + (z * acc).astype(f32)).astype(f32)).astype(f32)
    ax = np.abs(x)
    e = fast_exp((ax + ax).astype(f32), ce)
    big = (f32(1) - (f32(2) / (e + f32(1)).astype(f32)).astype(f32)).astype(f32)
    big = np.where(x < 0, -big, big)
    return np.where(ax < f32(0.625), small, big)


def ulps(got, exact):
    a = np.maximum(np.abs(exact), 2.0**-126)
    return np.abs(got.astype(np.float64) - exact) / 2.0**(np.floor(np.log2(a)) - 23)


def main():
    step = int(sys.argv[1]) if len(sys.argv) > 1 else 257
    ce, q = fit()
    worst = {"exp": 0.0, "tanh": 0.0, "sigmoid": 0.0}
    with np.errstate(all="ignore"):
        for start in range(0, 2**32, 2**26):
            x = np.arange(start, start + 2**26, step, dtype=np.uint64).astype(np.uint32).view(f32)
            x = x[np.isfinite(x)]
            xe = x[(x > -104) & (x < 88.72)]
            xt = x[np.abs(x) < 12]
            xs = x[(x > -87.3) & (x < 20)]
            d = {
                "exp": ulps(fast_exp(xe, ce), np.exp(xe.astype(np.float64))),
                "tanh": ulps(fast_tanh(xt, ce, q), np.tanh(xt.astype(np.float64))),
                "sigmoid": ulps((f32(1) / (f32(1) + fast_exp(-xs, ce))).astype(f32),
                                1 / (1 + np.exp(-xs.astype(np.float64)))),
            }
            for k, u in d.items():
                if len(u):
                    worst[k] = max(worst[k], float(u.max()))
    for k, v in worst.items():
        print(f"{k}: max {v:.3f} ulp over every {step}-th float")


if __name__ == "__main__":
    main()
