"""FixedArray: construction, dtype and range checks, storage, basic semantics."""

from __future__ import annotations

import numpy as np
import pytest

from edgemoe.sim import FixedArray, FixedFormat

Q6_10 = FixedFormat(16, 6)


def test_raw_of_the_wrong_dtype_is_rejected() -> None:
    """Float raw bits are a mistake, not something to cast silently."""
    with pytest.raises(TypeError, match="integer array"):
        FixedArray(np.array([1.0, 2.0]), Q6_10)
    with pytest.raises(TypeError, match="integer array"):
        FixedArray(np.array([True]), Q6_10)
    with pytest.raises(TypeError, match="must be integers"):
        FixedArray(np.array([1, "x"], dtype=object), Q6_10)


def test_raw_out_of_range_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"raw value 32768 does not fit Q6\.10"):
        FixedArray(np.array([0, 32768]), Q6_10)
    with pytest.raises(ValueError, match="raw value -1"):
        FixedArray(np.array([-1], dtype=np.int8), FixedFormat(8, 8, signed=False))


def test_from_float_rejects_integers_and_non_finite_values() -> None:
    with pytest.raises(TypeError, match="float array"):
        FixedArray.from_float(np.array([1, 2]), Q6_10)
    with pytest.raises(ValueError, match="not a finite number"):
        FixedArray.from_float(np.array([0.5, np.nan]), Q6_10)
    with pytest.raises(ValueError, match="not a finite number"):
        FixedArray.from_float(np.array([np.inf]), Q6_10)


def test_from_float_takes_python_numbers_and_float32() -> None:
    assert FixedArray.from_float(1.5, Q6_10).raw == 1536
    assert FixedArray.from_float(2, Q6_10).raw == 2048
    halves = FixedArray.from_float(np.array([0.5, -0.25], dtype=np.float32), Q6_10)
    assert halves.raw.tolist() == [512, -256]


def test_storage_is_int64_then_python_ints() -> None:
    """Narrow formats use int64 arrays; wide ones stay exact in object arrays."""
    narrow = FixedArray(np.array([1, -1], dtype=np.int16), Q6_10)
    assert narrow.raw.dtype == np.int64
    wide_fmt = FixedFormat(100, 50)
    wide = FixedArray(np.array([wide_fmt.max_raw, wide_fmt.min_raw], dtype=object), wide_fmt)
    assert wide.raw.dtype == object
    assert (wide + wide).raw.tolist() == [2 * wide_fmt.max_raw, 2 * wide_fmt.min_raw]
    assert (wide * wide).raw[0] == wide_fmt.max_raw**2


def test_round_trip_and_rounding_of_a_tie() -> None:
    rnd = FixedFormat(8, 4, rounding="RND_CONV", overflow="SAT")
    values = np.array([0.03125, 0.09375, -0.03125, 100.0, -100.0])  # ties at 1/16 LSB
    got = FixedArray.from_float(values, rnd)
    assert got.raw.tolist() == [0, 2, 0, 127, -128]
    assert got.to_float().tolist() == [0.0, 0.125, 0.0, 7.9375, -8.0]


def test_indexing_reshape_and_transpose_keep_the_format() -> None:
    x = FixedArray(np.arange(6).reshape(2, 3), Q6_10)
    assert x[1].raw.tolist() == [3, 4, 5] and x[1].fmt == Q6_10
    assert x.T.shape == (3, 2) and x.reshape(6).shape == (6,)
    assert x[0, 2].raw == 2 and len(x) == 2 and x.size == 6 and x.ndim == 2


def test_arithmetic_with_non_fixed_operands_is_a_type_error() -> None:
    x = FixedArray(np.arange(3), Q6_10)
    with pytest.raises(TypeError):
        x + 1.5
    with pytest.raises(TypeError):
        x << 1.0
