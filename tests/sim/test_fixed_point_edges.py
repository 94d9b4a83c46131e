"""The fixed-point core at its edges, against the real ap_fixed.h: widths around the int64
fast path (63-65) and two machine words (127-129) in every operation, comparisons of
signed and unsigned formats of every width ordering, doubles at zero, subnormals, 1e-300,
1e308 and DBL_MAX of either sign, and 0-d arrays and Python ints wherever an array goes.
``to_float`` beyond the double range is settled against exact arithmetic (ap_fixed.h's
``to_double`` gives no meaningful result there)."""

from __future__ import annotations

import itertools
import random
import sys
from fractions import Fraction

import numpy as np
import pytest

from edgemoe.hls.ap_fixed_oracle import COMPARISONS, OracleCase, run_oracle
from edgemoe.sim import ROUNDING_MODES, FixedArray, FixedFormat
from edgemoe.sim.bitexact import assert_bit_exact

F = FixedFormat
MODES = [*((r, o) for r in ROUNDING_MODES for o in ("WRAP", "SAT")),
         ("TRN", "SAT_ZERO"), ("TRN", "SAT_SYM")]
EDGE_WIDTHS = (63, 64, 65, 127, 128, 129)
EDGE_FORMATS = [F(w, i, s) for w in EDGE_WIDTHS for i, s in ((w // 2, True), (w - 3, False))]
NARROW = F(16, 6)
SIGN_WIDTHS = (8, 31, 32, 33, 63, 64, 65)
DOUBLES = np.array([0.0, -0.0, 5e-324, -5e-324, 2.2250738585072014e-308,
                    -2.2250738585072014e-308, 1e-300, -1e-300, 1e308, -1e308, sys.float_info.max,
                    -sys.float_info.max, 1.0, -1.0, 0.5, -0.5, 3.75, -3.75])
DOUBLE_TARGETS = [F(16, 6), F(1, 0), F(1, 1), F(8, 30), F(8, -1080), F(16, 1030),
                  F(64, 32), F(70, 20), F(12, 4, False)]
RANDOM = 200


def _random(rng: random.Random, fmt: FixedFormat, count: int = RANDOM) -> list[int]:
    return [rng.getrandbits(fmt.width) + fmt.min_raw for _ in range(count)]


def _raws(fmt: FixedFormat, values: list[int]) -> np.ndarray:
    kept = [v for v in values if fmt.min_raw <= v <= fmt.max_raw]
    return np.array(kept, dtype=fmt.storage)


def _edges(fmt: FixedFormat) -> list[int]:
    return [0, 1, -1, 2, -2, fmt.min_raw, fmt.min_raw + 1, fmt.max_raw, fmt.max_raw - 1,
            1 << 62, -(1 << 62), (1 << 63) - 1, -(1 << 63), 1 << 63, 1 << 64, 5, 37]


def build_batch() -> dict[OracleCase, dict[str, np.ndarray]]:
    rng = random.Random(20261203)
    batch: dict[OracleCase, dict[str, np.ndarray]] = {}
    for wide, (rounding, overflow) in itertools.product(EDGE_FORMATS, MODES):
        into = wide.with_modes(rounding, overflow)
        batch[OracleCase("cast", (NARROW, into))] = {
            "a": _raws(NARROW, _edges(NARROW) + _random(rng, NARROW))}
        batch[OracleCase("cast", (wide, NARROW.with_modes(rounding, overflow)))] = {
            "a": _raws(wide, _edges(wide) + _random(rng, wide))}
        batch[OracleCase("from_float", (into,))] = {"a": np.concatenate([
            DOUBLES, np.random.default_rng(len(batch)).uniform(-1e3, 1e3, RANDOM)])}
    for a, b in itertools.permutations(EDGE_FORMATS[::2], 2):  # across every boundary
        batch[OracleCase("cast", (a, b.with_modes("RND_CONV", "SAT")))] = {
            "a": _raws(a, _edges(a) + _random(rng, a))}
    for wide in EDGE_FORMATS:
        for other in (NARROW, F(20, 5, False), EDGE_FORMATS[(EDGE_FORMATS.index(wide) + 3)
                                                           % len(EDGE_FORMATS)]):
            a = _raws(wide, _edges(wide) + _random(rng, wide))
            b = _raws(other, _edges(other) + _random(rng, other, len(a)))
            size = min(len(a), len(b))
            for op in ("add", "sub", "mul", "compare"):
                batch[OracleCase(op, (wide, other))] = {"a": a[:size], "b": b[:size]}
        values = _raws(wide, _edges(wide) + _random(rng, wide))
        batch[OracleCase("neg", (wide,))] = {"a": values}
        batch[OracleCase("to_float", (wide,))] = {"a": values}
        amount = np.array([rng.randrange(-wide.width + 1, wide.width) for _ in values])
        for op in ("shift_left", "shift_right"):
            batch[OracleCase(op, (wide,))] = {"a": values, "amount": amount}
    for (s, u), fractional in itertools.product(itertools.product(SIGN_WIDTHS, SIGN_WIDTHS),
                                                (False, True)):
        # integers, or fraction bits that differ (ap_fixed then widens one operand)
        signed = F(s, s // 2) if fractional else F(s, s)
        unsigned = F(u, u - 3, False) if fractional else F(u, u, False)
        a = _raws(signed, [-1, 0, 1, signed.min_raw, signed.max_raw, -2, 2,
                           *_random(rng, signed, 60)])
        # -1 beside the all-ones pattern: equal bits, where ap_fixed compares bits
        b = _raws(unsigned, [unsigned.max_raw, 0, 1, unsigned.max_raw, 0, 2,
                             unsigned.max_raw - 1, *_random(rng, unsigned, 60)])
        size = min(len(a), len(b))
        batch[OracleCase("compare", (signed, unsigned))] = {"a": a[:size], "b": b[:size]}
        batch[OracleCase("compare", (unsigned, signed))] = {"a": b[:size], "b": a[:size]}
    for target, (rounding, overflow) in itertools.product(DOUBLE_TARGETS, MODES):
        batch[OracleCase("from_float", (target.with_modes(rounding, overflow),))] = {
            "a": DOUBLES}
    return batch


@pytest.fixture(scope="module")
def oracle() -> dict[OracleCase, tuple[dict, dict]]:
    batch = build_batch()
    outputs = run_oracle(list(batch.items()))
    return {case: (inputs, out) for (case, inputs), out in zip(batch.items(), outputs,
                                                                strict=True)}


def _cases(oracle: dict, op: str) -> list[tuple[OracleCase, dict, dict]]:
    return [(case, inputs, out) for case, (inputs, out) in oracle.items() if case.op == op]


def _scalar_forms(value) -> list:
    """A value as a 0-d array and as a Python number."""
    return [np.array(value, dtype=np.asarray(value).dtype), value.item()
            if isinstance(value, np.generic) else value]


def test_casts_at_the_width_edges(oracle: dict) -> None:
    """Into and out of widths 63-65 and 127-129, every rounding with wrap and saturate:
    array, 0-d array and Python int inputs give ap_fixed.h's bits."""
    compared = 0
    for case, inputs, expected in _cases(oracle, "cast"):
        src, dst = case.formats
        got = FixedArray(inputs["a"], src).cast(dst).raw
        assert_bit_exact(expected["raw"], got, case.description)
        for index in range(min(4, len(got))):
            for scalar in _scalar_forms(inputs["a"][index]):
                one = FixedArray(scalar, src).cast(dst)
                assert one.shape == () and int(one.raw) == int(expected["raw"][index]), (
                    f"{case.description}: {scalar!r}")
        compared += len(got)
    assert compared > 50_000


def test_doubles_at_their_edges(oracle: dict) -> None:
    """Zero of either sign, subnormals, 1e-300, 1e308 and DBL_MAX into narrow, wide, all-
    fraction and all-integer formats, every mode: ap_fixed.h's bits, from arrays, 0-d
    arrays and Python floats."""
    for case, inputs, expected in _cases(oracle, "from_float"):
        (dst,) = case.formats
        got = FixedArray.from_float(inputs["a"], dst).raw
        assert_bit_exact(expected["raw"], got, case.description)
        for index in range(len(DOUBLES)):
            for scalar in _scalar_forms(inputs["a"][index]):
                one = FixedArray.from_float(scalar, dst)
                assert one.shape == () and int(one.raw) == int(expected["raw"][index]), (
                    f"{case.description}: {scalar!r}")


@pytest.mark.parametrize("op", ["add", "sub", "mul"])
def test_arithmetic_at_the_width_edges(oracle: dict, op: str) -> None:
    for case, inputs, expected in _cases(oracle, op):
        fa, fb = case.formats
        a, b = FixedArray(inputs["a"], fa), FixedArray(inputs["b"], fb)
        got = {"add": a + b, "sub": a - b, "mul": a * b}[op]
        assert got.fmt == expected["format"], case.description
        assert_bit_exact(expected["raw"], got.raw, case.description)
        a0, b0 = FixedArray(inputs["a"][0], fa), FixedArray(int(inputs["b"][0]), fb)
        first = {"add": a0 + b0, "sub": a0 - b0, "mul": a0 * b0}[op]
        assert first.shape == () and int(first.raw) == int(expected["raw"][0])


def test_negation_shifts_and_to_float_at_the_width_edges(oracle: dict) -> None:
    for case, inputs, expected in _cases(oracle, "neg"):
        got = -FixedArray(inputs["a"], case.formats[0])
        assert got.fmt == expected["format"]
        assert_bit_exact(expected["raw"], got.raw, case.description)
    for op in ("shift_left", "shift_right"):
        for case, inputs, expected in _cases(oracle, op):
            (fmt,) = case.formats
            got = [(FixedArray(v, fmt) << int(n) if op == "shift_left"
                    else FixedArray(v, fmt) >> int(n)).raw
                   for v, n in zip(inputs["a"], inputs["amount"], strict=True)]
            assert_bit_exact(expected["raw"], np.array(got, dtype=fmt.storage),
                             case.description)
    for case, inputs, expected in _cases(oracle, "to_float"):
        got = FixedArray(inputs["a"], case.formats[0]).to_float()
        assert_bit_exact(expected["value"].view(np.int64), got.view(np.int64),
                         case.description)


def test_comparisons_of_every_sign_and_width_ordering(oracle: dict) -> None:
    """Signed against unsigned and back, widths 8 to 65 on either side, all six
    comparisons: ap_fixed.h's verdicts."""
    cases = [c for c in _cases(oracle, "compare")]
    assert len(cases) >= 4 * len(SIGN_WIDTHS) ** 2
    for case, inputs, expected in cases:
        fa, fb = case.formats
        a, b = FixedArray(inputs["a"], fa), FixedArray(inputs["b"], fb)
        got = {"eq": a == b, "ne": a != b, "lt": a < b, "le": a <= b, "gt": a > b,
               "ge": a >= b}
        for name in COMPARISONS:
            assert np.array_equal(got[name], expected[name]), f"{case.description} {name}"


@pytest.mark.parametrize("fmt", [F(60, -1100), F(60, -1000), F(1000, -100), F(200, 1100),
                                 F(1024, 1024, False), F(40, -1060)], ids=str)
def test_to_float_beyond_the_double_range_rounds_once(fmt: FixedFormat) -> None:
    """Deliberately unlike ap_fixed.h (whose to_double is not defined there): the exact
    value rounded once to the nearest double, +-inf past DBL_MAX, +-0 below the smallest
    subnormal."""
    rng = random.Random(fmt.width)
    raw = _raws(fmt, [0, 1, -1, fmt.max_raw, fmt.min_raw, *_random(rng, fmt, 50)])
    expected = []
    for value in raw:
        exact = Fraction(int(value), 1) / Fraction(2) ** fmt.frac_bits
        try:
            expected.append(float(exact))
        except OverflowError:
            expected.append(float("inf") if exact > 0 else float("-inf"))
    got = FixedArray(raw, fmt).to_float()
    assert np.array_equal(got.view(np.int64), np.array(expected).view(np.int64)), fmt
