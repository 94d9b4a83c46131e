"""The Python fixed-point core against Xilinx's real ap_fixed.h, integer for integer.

One C++ program (built once, cached) runs every case; each test compares one group.
Inputs are random raw bits plus the values where modes differ: zero, the extremes,
exact half-LSB ties and their neighbours, and values just past the range.
"""

from __future__ import annotations

import itertools
import random

import numpy as np
import pytest

from edgemoe.hls.ap_fixed_oracle import COMPARISONS, OracleCase, run_oracle
from edgemoe.sim import (
    OVERFLOW_MODES,
    ROUNDING_MODES,
    FixedArray,
    FixedFormat,
    accumulator_format,
    fx_matmul,
)
from edgemoe.sim.bitexact import assert_bit_exact

F = FixedFormat
MODE_PAIRS = list(itertools.product(ROUNDING_MODES, OVERFLOW_MODES))
RANDOM_PER_CASE = 1000
MIN_CASES_PER_MODE_PAIR = 10_000

# (source, destination shape); the destination takes every rounding x overflow pair.
CAST_SHAPES = [
    (F(16, 6), F(8, 3)),                 # narrower at both ends
    (F(16, 6), F(8, 3, False)),          # signed to unsigned
    (F(12, 4, False), F(8, 2)),          # unsigned to signed
    (F(12, 4, False), F(6, 3, False)),
    (F(40, 10), F(18, 5)),               # W > 32
    (F(70, 20), F(40, 12)),              # W > 64 source
    (F(80, 40), F(66, 30)),              # W > 64 on both sides
    (F(16, -2), F(8, -4)),               # I <= 0: all fraction
    (F(10, 14), F(6, 12)),               # I > W: the LSB weighs 16 and 64
    (F(24, 8), F(12, 16)),
    (F(8, 3), F(16, 6)),                 # widening: nothing to round or clip
    (F(16, 6), F(16, 6)),                # same shape: only SAT_SYM changes min
    (F(20, 3), F(1, 1)),                 # one signed bit
    (F(20, 3), F(1, 0, False)),          # one unsigned bit
]
FLOAT_SHAPES = [F(8, 3), F(12, 4, False), F(40, 10), F(70, 30), F(10, 14), F(16, -2)]
TO_FLOAT_SHAPES = [F(16, 6), F(12, 4, False), F(60, 30), F(70, 20), F(80, -5, False)]
OPERAND_PAIRS = [
    (F(16, 6), F(8, 3)),
    (F(16, 6), F(12, 4, False)),
    (F(12, 4, False), F(8, 6, False)),
    (F(40, 10), F(24, -3)),
    (F(10, 14), F(16, 2)),
    (F(70, 20), F(16, 6)),
]
SHIFT_SHAPES = [F(16, 6), F(12, 4, False), F(40, 10), F(70, 20)]
DOT_CASES = [  # operands, reduction length, output format of the one final cast
    (F(16, 6), F(16, 6), 768, F(16, 6, True, "RND", "SAT")),
    (F(32, 12), F(16, 4), 768, F(32, 12, True, "RND_CONV", "SAT")),
    (F(12, 4, False), F(8, 2, False), 100, F(10, 6, False, "RND_INF", "SAT_ZERO")),
    (F(16, 6), F(8, 1, False), 33, F(12, 4, True, "RND_ZERO", "WRAP")),
]
DOTS_PER_CASE = 40


def random_raw(rng: random.Random, fmt: FixedFormat, count: int) -> np.ndarray:
    values = [rng.getrandbits(fmt.width) + fmt.min_raw for _ in range(count)]
    return np.array(values, dtype=fmt.storage)


def raws(fmt: FixedFormat, candidates: list[int]) -> np.ndarray:
    """The candidates that fit ``fmt``, without repeats."""
    kept = sorted({v for v in candidates if fmt.min_raw <= v <= fmt.max_raw})
    return np.array(kept, dtype=fmt.storage)


def cast_edges(src: FixedFormat, dst: FixedFormat) -> list[int]:
    """Raw source values at the points where rounding and overflow modes disagree."""
    shift = src.frac_bits - dst.frac_bits
    edges = [0, 1, -1, 2, -2, src.min_raw, src.min_raw + 1, src.max_raw, src.max_raw - 1]
    dst_points = [*range(-4, 5), dst.min_raw - 1, dst.min_raw, dst.min_raw + 1,
                  dst.max_raw - 1, dst.max_raw, dst.max_raw + 1, -dst.max_raw]
    for k in dst_points:
        if shift > 0:
            base = k << shift
            half = 1 << (shift - 1)
            edges += [base, base + half, base + half - 1, base + half + 1, base - 1, base + 1]
        else:
            edges += [k >> -shift, (k >> -shift) + 1, (k >> -shift) - 1]
    return edges


def float_edges(dst: FixedFormat) -> np.ndarray:
    lsb = dst.lsb
    grid = [k * lsb / 2 for k in range(-9, 10)]
    limits = [dst.max_value, dst.min_value, dst.max_value + lsb / 2, dst.min_value - lsb / 2,
              dst.max_value + lsb, dst.min_value - lsb, -dst.max_value, -dst.max_value - lsb / 2]
    extreme = [0.0, -0.0, 1e30, -1e30, 1e-30, -1e-30, lsb / 4, -lsb / 4, 3 * lsb / 4]
    return np.array(grid + limits + extreme, dtype=np.float64)


def random_floats(rng: np.random.Generator, dst: FixedFormat, count: int) -> np.ndarray:
    lo, hi = dst.min_value * 1.25 - dst.lsb, dst.max_value * 1.25 + dst.lsb
    uniform = rng.uniform(lo, hi, count // 2)
    # exact multiples of half an LSB: ties for every rounding mode
    steps = rng.integers(max(int(lo / dst.lsb * 2), -2**62), min(int(hi / dst.lsb * 2), 2**62),
                         count - count // 2)
    return np.concatenate([uniform, steps * (dst.lsb / 2)])


def build_batch() -> dict[OracleCase, dict[str, np.ndarray]]:
    rng = random.Random(20261129)
    np_rng = np.random.default_rng(20261129)
    batch: dict[OracleCase, dict[str, np.ndarray]] = {}
    for (rounding, overflow), (src, shape) in itertools.product(MODE_PAIRS, CAST_SHAPES):
        dst = shape.with_modes(rounding, overflow)
        values = np.concatenate([raws(src, cast_edges(src, dst)),
                                 random_raw(rng, src, RANDOM_PER_CASE)])
        batch[OracleCase("cast", (src, dst))] = {"a": values}
    for (rounding, overflow), shape in itertools.product(MODE_PAIRS, FLOAT_SHAPES):
        dst = shape.with_modes(rounding, overflow)
        values = np.concatenate([float_edges(dst), random_floats(np_rng, dst, RANDOM_PER_CASE)])
        batch[OracleCase("from_float", (dst,))] = {"a": values}
    for fmt in TO_FLOAT_SHAPES:
        values = np.concatenate([raws(fmt, [0, 1, -1, fmt.min_raw, fmt.max_raw]),
                                 random_raw(rng, fmt, RANDOM_PER_CASE)])
        batch[OracleCase("to_float", (fmt,))] = {"a": values}
    for fa, fb in OPERAND_PAIRS:
        count = RANDOM_PER_CASE
        a = np.concatenate([raws(fa, [0, fa.min_raw, fa.max_raw, fa.min_raw, fa.max_raw]),
                            random_raw(rng, fa, count)])
        b = np.concatenate([raws(fb, [0, fb.min_raw, fb.max_raw, fb.max_raw, fb.min_raw]),
                            random_raw(rng, fb, count)])
        size = min(len(a), len(b))
        for op in ("add", "sub", "mul", "compare"):
            batch[OracleCase(op, (fa, fb))] = {"a": a[:size], "b": b[:size]}
        batch[OracleCase("neg", (fa,))] = {"a": a}
    for fmt in SHIFT_SHAPES:
        a = np.concatenate([raws(fmt, [fmt.min_raw, fmt.max_raw, -1, 1]),
                            random_raw(rng, fmt, RANDOM_PER_CASE)])
        amount = np.array([rng.randrange(-fmt.width + 1, fmt.width) for _ in a])
        for op in ("shift_left", "shift_right"):
            batch[OracleCase(op, (fmt,))] = {"a": a, "amount": amount}
    for fa, fb, length, out in DOT_CASES:
        acc = accumulator_format(fa, fb, length)
        rows_a = [np.full(length, fa.min_raw), np.full(length, fa.max_raw),
                  np.full(length, fa.min_raw)]
        rows_b = [np.full(length, fb.min_raw), np.full(length, fb.max_raw),
                  np.full(length, fb.max_raw)]
        rows_a += [random_raw(rng, fa, length) for _ in range(DOTS_PER_CASE)]
        rows_b += [random_raw(rng, fb, length) for _ in range(DOTS_PER_CASE)]
        case = OracleCase("dot", (fa, fb, acc, out), length=length)
        batch[case] = {"a": np.array(rows_a, dtype=fa.storage),
                       "b": np.array(rows_b, dtype=fb.storage)}
    return batch


@pytest.fixture(scope="module")
def oracle() -> dict[OracleCase, tuple[dict, dict]]:
    batch = build_batch()
    outputs = run_oracle(list(batch.items()))
    return {case: (inputs, out) for (case, inputs), out in zip(batch.items(), outputs, strict=True)}


def check_cast(oracle: dict, rounding: str, overflow: str) -> int:
    compared = 0
    for src, shape in CAST_SHAPES:
        dst = shape.with_modes(rounding, overflow)
        inputs, expected = oracle[OracleCase("cast", (src, dst))]
        got = FixedArray(inputs["a"], src).cast(dst).raw
        assert_bit_exact(expected["raw"], got, f"cast {src} -> {dst}")
        compared += len(got)
    return compared


def check_from_float(oracle: dict, rounding: str, overflow: str) -> int:
    compared = 0
    for shape in FLOAT_SHAPES:
        dst = shape.with_modes(rounding, overflow)
        inputs, expected = oracle[OracleCase("from_float", (dst,))]
        got = FixedArray.from_float(inputs["a"], dst).raw
        assert_bit_exact(expected["raw"], got, f"from_float -> {dst}")
        compared += len(got)
    return compared


@pytest.mark.parametrize(("rounding", "overflow"), MODE_PAIRS)
def test_cast_matches_ap_fixed(oracle: dict, rounding: str, overflow: str) -> None:
    """Casting between formats rounds and overflows exactly as ap_fixed's assignment."""
    compared = check_cast(oracle, rounding, overflow)
    assert compared >= MIN_CASES_PER_MODE_PAIR


@pytest.mark.parametrize(("rounding", "overflow"), MODE_PAIRS)
def test_from_float_matches_ap_fixed(oracle: dict, rounding: str, overflow: str) -> None:
    """Quantizing doubles matches ap_fixed's constructor from double."""
    check_from_float(oracle, rounding, overflow)


@pytest.mark.parametrize("fmt", TO_FLOAT_SHAPES, ids=str)
def test_to_float_matches_ap_fixed(oracle: dict, fmt: FixedFormat) -> None:
    """to_float gives to_double()'s value, rounded to nearest even past 53 bits."""
    inputs, expected = oracle[OracleCase("to_float", (fmt,))]
    got = FixedArray(inputs["a"], fmt).to_float()
    assert_bit_exact(expected["value"].view(np.int64), got.view(np.int64), f"to_float {fmt}")


@pytest.mark.parametrize("op", ["add", "sub", "mul"])
@pytest.mark.parametrize(("fa", "fb"), OPERAND_PAIRS, ids=str)
def test_arithmetic_matches_ap_fixed(oracle: dict, op: str, fa: FixedFormat,
                                     fb: FixedFormat) -> None:
    """+, -, * give ap_fixed's exact result format and value."""
    inputs, expected = oracle[OracleCase(op, (fa, fb))]
    a, b = FixedArray(inputs["a"], fa), FixedArray(inputs["b"], fb)
    got = {"add": a + b, "sub": a - b, "mul": a * b}[op]
    assert got.fmt == expected["format"], f"{fa} {op} {fb}: format {got.fmt} vs ap_fixed's"
    assert_bit_exact(expected["raw"], got.raw, f"{fa} {op} {fb}")


@pytest.mark.parametrize("fa", [pair[0] for pair in OPERAND_PAIRS], ids=str)
def test_negation_matches_ap_fixed(oracle: dict, fa: FixedFormat) -> None:
    """Unary minus widens by one bit so -min is exact."""
    inputs, expected = oracle[OracleCase("neg", (fa,))]
    got = -FixedArray(inputs["a"], fa)
    assert got.fmt == expected["format"]
    assert_bit_exact(expected["raw"], got.raw, f"-{fa}")


@pytest.mark.parametrize(("fa", "fb"), OPERAND_PAIRS, ids=str)
def test_comparisons_match_ap_fixed(oracle: dict, fa: FixedFormat, fb: FixedFormat) -> None:
    """All six comparisons across formats compare exact values."""
    inputs, expected = oracle[OracleCase("compare", (fa, fb))]
    a, b = FixedArray(inputs["a"], fa), FixedArray(inputs["b"], fb)
    got = {"eq": a == b, "ne": a != b, "lt": a < b, "le": a <= b, "gt": a > b, "ge": a >= b}
    for name in COMPARISONS:
        assert np.array_equal(got[name], expected[name]), f"{fa} {name} {fb}"


@pytest.mark.parametrize("op", ["shift_left", "shift_right"])
@pytest.mark.parametrize("fmt", SHIFT_SHAPES, ids=str)
def test_shifts_match_ap_fixed(oracle: dict, op: str, fmt: FixedFormat) -> None:
    """Shifts keep the format and move raw bits; negative amounts shift the other way."""
    inputs, expected = oracle[OracleCase(op, (fmt,))]
    a = FixedArray(inputs["a"], fmt)
    got = np.array([(a[i] << int(n) if op == "shift_left" else a[i] >> int(n)).raw
                    for i, n in enumerate(inputs["amount"])], dtype=fmt.storage)
    assert_bit_exact(expected["raw"], got, f"{op} {fmt}")


@pytest.mark.parametrize(("fa", "fb", "length", "out"), DOT_CASES, ids=str)
def test_matmul_accumulator_matches_ap_fixed(oracle: dict, fa: FixedFormat, fb: FixedFormat,
                                             length: int, out: FixedFormat) -> None:
    """fx_matmul equals a MAC loop in accumulator_format, which never wraps (extreme rows
    included), and one final cast rounds it like ap_fixed."""
    acc = accumulator_format(fa, fb, length)
    inputs, expected = oracle[OracleCase("dot", (fa, fb, acc, out), length=length)]
    a, b = FixedArray(inputs["a"], fa), FixedArray(inputs["b"], fb)
    products = fx_matmul(a, b.T)
    diagonal = np.diagonal(products.raw).copy()
    assert products.fmt == acc
    assert_bit_exact(expected["acc"], diagonal, f"dot {fa} x {fb} over {length}")
    assert_bit_exact(expected["out"], FixedArray(diagonal, acc).cast(out).raw,
                     f"dot cast to {out}")


def test_differential_test_catches_a_wrong_rounding_mode(oracle: dict, monkeypatch) -> None:
    """A rounding mode broken only on negative ties (RND_INF computed as RND) is caught."""
    from edgemoe.sim import fixed_array

    real = fixed_array._round_increment

    def wrong(mode: str, **flags: np.ndarray) -> np.ndarray:
        return real("RND" if mode == "RND_INF" else mode, **flags)

    monkeypatch.setattr(fixed_array, "_round_increment", wrong)
    with pytest.raises(AssertionError, match="differ"):
        check_cast(oracle, "RND_INF", "WRAP")
    with pytest.raises(AssertionError, match="differ"):
        check_from_float(oracle, "RND_INF", "SAT")


def test_differential_test_catches_a_wrong_overflow_mode(oracle: dict, monkeypatch) -> None:
    """SAT_SYM that keeps the most negative value (computed as SAT) is caught."""
    from edgemoe.sim import fixed_array

    real = fixed_array._handle_overflow

    def wrong(values: np.ndarray, fmt: FixedFormat, owned: bool = False) -> np.ndarray:
        return real(values, fmt.with_modes(overflow="SAT") if fmt.overflow == "SAT_SYM" else fmt,
                    owned)

    monkeypatch.setattr(fixed_array, "_handle_overflow", wrong)
    with pytest.raises(AssertionError, match="differ"):
        check_cast(oracle, "TRN", "SAT_SYM")
