"""fx_matmul: exact against Python integers, for every splitting path."""

from __future__ import annotations

import random

import numpy as np
import pytest

from edgemoe.sim import FixedArray, FixedFormat, accumulator_format, fx_matmul


def random_fixed(rng: random.Random, fmt: FixedFormat, shape: tuple[int, int],
                 extreme: bool = False) -> FixedArray:
    count = shape[0] * shape[1]
    if extreme:  # the worst case for the accumulator: every value at one end
        values = [rng.choice([fmt.min_raw, fmt.max_raw]) for _ in range(count)]
    else:
        values = [rng.getrandbits(fmt.width) + fmt.min_raw for _ in range(count)]
    return FixedArray(np.array(values, dtype=object).reshape(shape), fmt)


def reference(a: FixedArray, b: FixedArray) -> list[list[int]]:
    rows, cols = a.raw.tolist(), b.raw.T.tolist()
    return [[sum(x * y for x, y in zip(row, col, strict=True)) for col in cols] for row in rows]


@pytest.mark.parametrize(
    ("fa", "fb", "length"),
    [
        (FixedFormat(16, 6), FixedFormat(16, 6), 768),         # one product, one block
        (FixedFormat(32, 12), FixedFormat(16, 4), 768),        # blocks of the reduction
        (FixedFormat(32, 12), FixedFormat(32, 12), 200),       # bit slices, result > 62 bits
        (FixedFormat(48, 20), FixedFormat(12, 4, False), 50),  # bit slices, unsigned operand
        (FixedFormat(70, 30), FixedFormat(9, 2), 17),          # object-stored operand
        (FixedFormat(8, 8, False), FixedFormat(8, 8, False), 1),
    ],
    ids=str,
)
@pytest.mark.parametrize("extreme", [False, True], ids=["random", "extreme"])
def test_fx_matmul_is_exact(fa: FixedFormat, fb: FixedFormat, length: int,
                            extreme: bool) -> None:
    """Every dot product equals the Python-integer sum, in a format that holds it."""
    rng = random.Random(length * 31 + fa.width)
    a = random_fixed(rng, fa, (5, length), extreme)
    b = random_fixed(rng, fb, (length, 7), extreme)
    got = fx_matmul(a, b)
    assert got.fmt == accumulator_format(fa, fb, length)
    assert got.raw.tolist() == reference(a, b)
    assert all(got.fmt.min_raw <= v <= got.fmt.max_raw for v in got.raw.flat)


def test_fx_matmul_does_not_leak_its_workspace() -> None:
    """A second call must not change the first call's result (scratch is reused)."""
    fmt = FixedFormat(16, 6)
    a = FixedArray(np.arange(12).reshape(3, 4), fmt)
    first = fx_matmul(a, a.T)
    kept = first.raw.copy()
    fx_matmul(FixedArray(-np.arange(12).reshape(3, 4), fmt), a.T)
    assert np.array_equal(first.raw, kept)


def test_fx_matmul_of_an_empty_reduction_is_zero() -> None:
    fmt = FixedFormat(16, 6)
    got = fx_matmul(FixedArray(np.zeros((2, 0), np.int64), fmt),
                    FixedArray(np.zeros((0, 3), np.int64), fmt))
    assert got.raw.tolist() == [[0, 0, 0], [0, 0, 0]]


@pytest.mark.parametrize(("sa", "sb"), [((2, 3), (4, 2)), ((6,), (6, 1))])
def test_fx_matmul_rejects_mismatched_shapes(sa: tuple, sb: tuple) -> None:
    fmt = FixedFormat(8, 4)
    with pytest.raises(ValueError, match="fx_matmul"):
        fx_matmul(FixedArray(np.zeros(sa, np.int64), fmt), FixedArray(np.zeros(sb, np.int64), fmt))


def test_fx_matmul_of_a_long_reduction_does_not_overflow() -> None:
    """2**15 products at the format's extreme: each block is exact in float64, and their
    sum passes 2**63, more than one int64 total holds."""
    fmt = FixedFormat(25, 5)
    length = 2**15
    a = FixedArray(np.full((1, length), fmt.min_raw), fmt)
    got = fx_matmul(a, a.T)
    assert got.raw.tolist() == [[length * fmt.min_raw**2]]


def test_fx_matmul_grouped_equals_each_group_alone() -> None:
    """Row groups times their own matrices (empty groups among them), 32x32-bit operands
    that need bit slices, matrices not frozen."""
    from edgemoe.sim.fx_matmul import fx_matmul_grouped

    rng = random.Random(7)
    fa, fb = FixedFormat(32, 10), FixedFormat(32, 12)
    bounds = [0, 3, 3, 7, 8]
    a = random_fixed(rng, fa, (8, 20))
    matrices = [random_fixed(rng, fb, (20, 5)) for _ in range(4)]
    got = fx_matmul_grouped(a, matrices, bounds).exact()
    for group, matrix in enumerate(matrices):
        rows = slice(bounds[group], bounds[group + 1])
        assert got.raw[rows].tolist() == fx_matmul(a[rows], matrix).raw.tolist()


@pytest.mark.parametrize("bounds", [[0, 5, 8], [0, 3, 2, 8], [1, 3, 4, 8], [0, 3, 4, 7]])
def test_fx_matmul_grouped_rejects_bounds_that_do_not_cover_the_rows(bounds: list) -> None:
    from edgemoe.sim.fx_matmul import fx_matmul_grouped

    fmt = FixedFormat(16, 6)
    a = FixedArray(np.zeros((8, 4), np.int64), fmt)
    matrices = [FixedArray(np.zeros((4, 2), np.int64), fmt)] * 3
    with pytest.raises(ValueError, match="bounds"):
        fx_matmul_grouped(a, matrices, bounds)
