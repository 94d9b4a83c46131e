"""WideFixed: products, sums and casts held in int64 limbs equal the Python-int path.

The reference is ``FixedArray`` arithmetic on object arrays (itself checked against the
real ap_fixed headers in test_ap_fixed_differential), cast by the same destination
format, for every rounding and overflow mode and at the ends of each range.
"""

from __future__ import annotations

import itertools
import random

import numpy as np
import pytest

from edgemoe.sim import FixedArray, FixedFormat
from edgemoe.sim.fixed_format import OVERFLOW_MODES, ROUNDING_MODES
from edgemoe.sim.fx_matmul import fx_matmul_wide
from edgemoe.sim.wide_fixed import WideFixed, _Part, exact_product_cast

SHAPE = (6, 40)


def random_fixed(rng: np.random.Generator, fmt: FixedFormat,
                 shape: tuple[int, ...] = SHAPE) -> FixedArray:
    """Raw values of log-uniform magnitude (so products land inside, at the edge of and
    beyond a destination's range alike), with both ends of the range and zero."""
    raw = rng.integers(fmt.min_raw, fmt.max_raw, size=shape, endpoint=True, dtype=np.int64)
    raw >>= rng.integers(0, fmt.width, size=shape)
    flat = raw.reshape(-1)
    flat[:3] = [fmt.min_raw, fmt.max_raw, 0]
    return FixedArray(raw, fmt)


def as_object(x: FixedArray) -> FixedArray:
    return FixedArray._trusted(x.raw.astype(object), x.fmt)


OPERANDS = [  # the two formats, and whether the cast to Q10.22 stays in int64
    (FixedFormat(32, 10), FixedFormat(32, 10), True),       # edge-moe features times features
    (FixedFormat(32, 1, False), FixedFormat(32, 10), True),  # probabilities times values
    (FixedFormat(39, 8, False), FixedFormat(32, 1, False), True),  # a sum times a factor
    (FixedFormat(33, 11), FixedFormat(32, 6, False), True),  # centred times 1/std
    (FixedFormat(16, 6), FixedFormat(16, 4), True),          # narrow: one limb each
    (FixedFormat(62, 20), FixedFormat(62, 40), False),       # beyond: Python ints
]
DESTINATIONS = [FixedFormat(32, 10, True, rounding, overflow)
                for rounding, overflow in itertools.product(ROUNDING_MODES, OVERFLOW_MODES)]


@pytest.mark.parametrize(("fa", "fb", "in_int64"), OPERANDS, ids=str)
def test_products_sums_and_casts_equal_the_python_int_path(fa: FixedFormat, fb: FixedFormat,
                                                           in_int64: bool) -> None:
    rng = np.random.default_rng(fa.width * 97 + fb.width)
    a, b = random_fixed(rng, fa), random_fixed(rng, fb)
    addend = random_fixed(rng, FixedFormat(32, 10))[:, 0]
    wide_sum = (WideFixed.of(a) * WideFixed.of(b)).sum(axis=1)
    wide = wide_sum + addend
    slow_sum = FixedArray._trusted((as_object(a) * as_object(b)).raw.sum(axis=1), wide_sum.fmt)
    assert wide_sum.fmt.width == (a * b).fmt.width + 6  # 40 terms: the sum grew 6 bits
    reference = slow_sum + as_object(addend)
    assert wide.fmt == reference.fmt
    assert wide.exact().raw.tolist() == reference.raw.tolist()
    for dst in [*DESTINATIONS, FixedFormat(48, 5, False, "RND_CONV", "SAT"),
                FixedFormat(20, -4, True, "RND", "WRAP")]:
        got = wide.cast(dst)
        assert got.raw.dtype == np.int64
        assert got.raw.tolist() == reference.cast(dst).raw.tolist(), dst
    assert (wide._cast_in_int64(DESTINATIONS[0]) is not None) == in_int64


def test_a_product_of_a_wide_sum_casts_exactly() -> None:
    """Limbs of limbs: a 70-bit sum of products times a 25-bit constant (LayerNorm's
    mean of squares), split again so each partial product fits."""
    rng = np.random.default_rng(11)
    x = random_fixed(rng, FixedFormat(32, 10), (6, 192))
    inverse = FixedArray(np.array(round(2**24 / 192)), FixedFormat(25, 1, False))
    wide = (WideFixed.of(x) * WideFixed.of(x)).sum(axis=1) * WideFixed.of(inverse)
    reference = FixedArray._trusted((as_object(x) * as_object(x)).raw.sum(axis=1),
                                    (WideFixed.of(x) * WideFixed.of(x)).sum(axis=1).fmt)
    reference = reference * as_object(inverse)
    for dst in DESTINATIONS:
        assert wide.cast(dst).raw.tolist() == reference.cast(dst).raw.tolist(), dst
    assert wide._cast_in_int64(FixedFormat(32, 1, False, "TRN", "SAT")) is not None


@pytest.mark.parametrize("dst", DESTINATIONS, ids=str)
def test_exact_product_cast_rounds_once(dst: FixedFormat) -> None:
    """Element-wise products cast once, also where the product reaches 64 bits."""
    rng = np.random.default_rng(len(dst.rounding) * 7 + len(dst.overflow))
    x = random_fixed(rng, FixedFormat(32, 1, False))
    y = random_fixed(rng, FixedFormat(32, 10))
    got = exact_product_cast(x, y, dst)
    assert got.raw.tolist() == (as_object(x) * as_object(y)).cast(dst).raw.tolist()


COARSE = [FixedFormat(24, 12, True, rounding, overflow)  # drops 32 of a product's 44 bits
          for rounding, overflow in itertools.product(ROUNDING_MODES, OVERFLOW_MODES)]


@pytest.mark.parametrize("dst", DESTINATIONS + COARSE, ids=str)
def test_ties_round_as_each_mode_says(dst: FixedFormat) -> None:
    """Products that end exactly half an LSB above a value, of both signs, odd and even,
    and just above and below half (by a low bit or a high one); the coarse destinations
    drop bits from two limbs, so the half is decided by a carry and the bits below it."""
    drop = 44 - dst.frac_bits
    odd = np.arange(-9, 10, 2)
    x = np.repeat(odd, len(odd)) << (drop - 22)
    y = np.tile(odd, len(odd)) << 21
    for nudge_x, nudge_y in itertools.product((0, 1, -1), repeat=2):  # bits low and high
        a = FixedArray(x + nudge_x, FixedFormat(32, 10))
        b = FixedArray(y + nudge_y, FixedFormat(32, 10))
        got = exact_product_cast(a, b, dst)
        reference = (as_object(a) * as_object(b)).cast(dst)
        assert got.raw.tolist() == reference.raw.tolist(), (nudge_x, nudge_y)


@pytest.mark.parametrize("dst", COARSE, ids=str)
def test_bits_carried_between_limbs_decide_the_rounding(dst: FixedFormat) -> None:
    """Two limbs, 30 bits apart, cast dropping 32 bits: the half LSB sits in the upper
    limb and any bit of the lower one, down to its last, breaks the tie."""
    low = np.array([0, 1, 2, 2**29, 2**30 - 1, -1, -(2**30)])
    high = np.array([0, 1, 2, 3, 4, -1, -2, -3])
    lows, highs = (v.reshape(-1) for v in np.meshgrid(low, high))
    wide = WideFixed.from_parts([(lows, 0, 31), (highs << 30, 0, 33)],  # one limb
                                FixedFormat(60, 16))
    split = WideFixed((_Part(lows, 0, 31), _Part(highs, 30, 3)), FixedFormat(60, 16),
                      lows.shape)  # as a product's limbs arrive, unmerged
    assert split._cast_in_int64(dst) is not None
    assert split.cast(dst).raw.tolist() == wide.exact().cast(dst).raw.tolist()


def test_casts_beyond_int64_fall_back_exactly() -> None:
    """A destination wider than an int64, or a finer one than the value's: still exact."""
    rng = np.random.default_rng(5)
    a, b = random_fixed(rng, FixedFormat(40, 10)), random_fixed(rng, FixedFormat(40, 10))
    wide = WideFixed.of(a) * WideFixed.of(b)
    reference = as_object(a) * as_object(b)
    for dst in (FixedFormat(90, 30), FixedFormat(60, 10, True, "RND", "SAT"),
                FixedFormat(62, 2, True, "RND_INF", "SAT_SYM")):
        assert wide.cast(dst).raw.tolist() == reference.cast(dst).raw.tolist(), dst


@pytest.mark.parametrize(("fa", "fb", "length"), [
    (FixedFormat(32, 10), FixedFormat(32, 10), 64),
    (FixedFormat(32, 1, False), FixedFormat(32, 10), 129),
    (FixedFormat(32, 10), FixedFormat(16, 1), 192),
])
def test_matrix_stacks_cast_as_each_matrix_alone(fa: FixedFormat, fb: FixedFormat,
                                                 length: int) -> None:
    """A stack of products (attention's heads at once) cast from limbs equals each
    matrix multiplied in Python ints and cast."""
    rng = np.random.default_rng(length)
    a = random_fixed(rng, fa, (3, 5, length))
    b = random_fixed(rng, fb, (3, length, 7))
    dst = FixedFormat(32, 10, True, "RND", "SAT")
    got = fx_matmul_wide(a, b).cast(dst)
    for head in range(3):
        rows, cols = a.raw[head].tolist(), b.raw[head].T.tolist()
        exact = np.array([[sum(x * y for x, y in zip(r, c, strict=True)) for c in cols]
                          for r in rows], dtype=object)
        fmt = fx_matmul_wide(a[head], b[head]).fmt
        assert got.raw[head].tolist() == FixedArray(exact, fmt).cast(dst).raw.tolist()


def test_the_simulators_wide_casts_stay_in_int64() -> None:
    """The edge-moe datapath's widest values (32x32-bit dot products of 129 terms, cast
    to the feature format) are cast without Python ints."""
    rng = random.Random(3)
    fmt = FixedFormat(32, 10)
    raw = np.array([[rng.getrandbits(32) - 2**31 for _ in range(129)] for _ in range(4)])
    x = FixedArray(raw, fmt)
    product = fx_matmul_wide(x, x.T)
    assert product.fmt.width > 64
    assert product._cast_in_int64(FixedFormat(32, 10, True, "RND", "SAT")) is not None


def test_casts_that_skip_overflow_handling_could_not_overflow(monkeypatch) -> None:
    """Every pair of small formats and modes: a cast that skips the overflow step (the
    source cannot leave the destination's range) equals one that takes it."""
    from edgemoe.sim import fixed_array

    formats = [FixedFormat(width, int_bits, signed, rounding, overflow)
               for width in (1, 2, 3, 5) for int_bits in (-1, 0, 2, 4) for signed in (True, False)
               for rounding in ("TRN", "RND", "RND_CONV") for overflow in OVERFLOW_MODES]
    pairs = [(src, dst) for src in formats[::3] for dst in formats
             if fixed_array._always_fits(src, dst)]
    assert len(pairs) > 100
    every = {src: np.arange(src.min_raw, src.max_raw + 1) for src, _ in pairs}
    skipped = [fixed_array.quantize(every[src], src, dst).tolist() for src, dst in pairs]
    monkeypatch.setattr(fixed_array, "_always_fits", lambda src, dst: False)
    for (src, dst), got in zip(pairs, skipped, strict=True):
        assert got == fixed_array.quantize(every[src], src, dst).tolist(), (src, dst)
