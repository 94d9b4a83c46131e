"""Time of the exact fixed-point matmul beside float32 numpy.matmul, same shapes.

The shape is M3ViT-S's widest linear layer: 129 tokens x 192 features times 192 x 768.
Each figure is the best of several repeats, both measured in this one run.
"""

from __future__ import annotations

import argparse
import timeit

import numpy as np

from edgemoe.sim import FixedArray, FixedFormat, fx_matmul

TOKENS, DIM, HIDDEN = 129, 192, 768
TARGET = 5.0


def best_seconds(call, repeat: int) -> float:
    number = 10
    return min(timeit.repeat(call, number=number, repeat=repeat)) / number


def ratio(a_bits: int, b_bits: int, repeat: int) -> tuple[float, float, float]:
    rng = np.random.default_rng(0)
    fa, fb = FixedFormat(a_bits, a_bits // 2), FixedFormat(b_bits, 4)
    a = FixedArray(rng.integers(fa.min_raw, fa.max_raw + 1, (TOKENS, DIM)), fa)
    b = FixedArray(rng.integers(fb.min_raw, fb.max_raw + 1, (DIM, HIDDEN)), fb)
    af, bf = a.to_float().astype(np.float32), b.to_float().astype(np.float32)
    fixed = best_seconds(lambda: fx_matmul(a, b), repeat)
    single = best_seconds(lambda: np.matmul(af, bf), repeat)
    return fixed, single, fixed / single


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    results = {}
    for a_bits, b_bits in ((16, 16), (32, 16)):
        fixed, single, r = ratio(a_bits, b_bits, args.repeat)
        results[a_bits, b_bits] = r
        print(f"{TOKENS}x{DIM} @ {DIM}x{HIDDEN}, {a_bits}-bit x {b_bits}-bit: fx_matmul "
              f"{fixed * 1e3:.3f} ms, float32 matmul {single * 1e3:.3f} ms, ratio {r:.2f}x")
    print(f"fx_matmul_16x16_vs_float32: {results[16, 16]:.2f}x (target <= {TARGET:g}x)")
    print(f"fx_matmul_32x16_vs_float32: {results[32, 16]:.2f}x (target <= {TARGET:g}x)")


if __name__ == "__main__":
    main()
