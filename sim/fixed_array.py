"""Arrays of fixed-point values, held as integer arrays of raw bits.

``FixedArray(raw, fmt)`` is what an array of ``ap_fixed`` holds in hardware: ``raw`` are
the two's-complement integers, the value of each is ``raw * 2**-fmt.frac_bits``. Casts
round and overflow exactly as ``ap_fixed``'s converting assignment does; ``+ - *`` give the
exact result format ``ap_fixed`` gives (see ``fixed_format``); shifts keep the format and
move raw bits as ``ap_fixed``'s ``<<``/``>>`` do.

Raw arrays are int64 for formats up to ``INT64_BITS`` wide, object arrays of Python ints
beyond, so every width is exact.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import numpy as np

from .fixed_format import (
    INT64_BITS,
    FixedFormat,
    difference_format,
    negation_format,
    product_format,
    sum_format,
)


def _work_dtype(bits: int) -> np.dtype:
    """dtype able to hold an intermediate of ``bits`` magnitude bits."""
    return np.dtype(np.int64) if bits <= INT64_BITS else np.dtype(object)


def _as_dtype(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    if not isinstance(values, np.ndarray):  # arithmetic on 0-d arrays gives scalars
        values = np.asarray(values)
    if values.dtype == dtype:
        return values
    if dtype.kind == "O":
        # Python ints, never numpy scalars: those would overflow past 64 bits.
        if values.dtype.kind in "iub":
            return values.astype(object)
        return np.asarray(np.frompyfunc(int, 1, 1)(values), dtype=object)
    return values.astype(dtype)


def _round_increment(mode: str, *, negative: np.ndarray, above_half: np.ndarray,
                     tie: np.ndarray, inexact: np.ndarray, odd: np.ndarray) -> np.ndarray:
    """Whether the floor of a value must be incremented to round it in ``mode``.

    ``above_half``/``tie``/``inexact``: the dropped fraction is > 1/2, == 1/2, != 0 LSB.
    The sign is the source value's (``ap_fixed``'s ``quantization_adjust``).
    """
    if mode == "TRN":
        return np.zeros_like(tie)
    if mode == "TRN_ZERO":
        return negative & inexact
    if mode == "RND":
        return above_half | tie
    if mode == "RND_ZERO":
        return above_half | (tie & negative)
    if mode == "RND_MIN_INF":
        return above_half
    if mode == "RND_INF":
        return above_half | (tie & ~negative)
    if mode == "RND_CONV":
        return above_half | (tie & odd)
    raise AssertionError(f"unhandled rounding mode {mode}")


def _handle_overflow(values: np.ndarray, fmt: FixedFormat, owned: bool = False) -> np.ndarray:
    """Bring exact integers into ``fmt``'s raw range by its overflow mode (in place when
    the caller ``owned`` a fresh int64 array)."""
    if fmt.storage.kind == "O" or not isinstance(values, np.ndarray):
        values = _as_dtype(values, np.dtype(object))  # limits and mask beyond an int64
    lo, hi = fmt.min_raw, fmt.max_raw
    if fmt.overflow == "WRAP":  # keep the low width bits, sign-extended when signed
        mask = (1 << fmt.width) - 1
        if fmt.signed:
            half = 1 << (fmt.width - 1)
            return _as_dtype(((values + half) & mask) - half, fmt.storage)
        return _as_dtype(values & mask, fmt.storage)
    if fmt.overflow == "SAT_ZERO":
        out = np.where((values > hi) | (values < lo), 0, values)
    else:
        if fmt.overflow == "SAT_SYM" and fmt.signed and fmt.width > 1:
            lo = -hi  # the most negative value is given up so the range is symmetric
        if values.dtype.kind == "O":
            out = np.where(values > hi, hi, np.where(values < lo, lo, values))
        else:
            out = np.clip(values, lo, hi, out=values if owned else None)
    return _as_dtype(out, fmt.storage)


@lru_cache(maxsize=4096)
def _always_fits(src: FixedFormat, dst: FixedFormat) -> bool:
    """Whether every ``src`` value, rounded either way to ``dst``'s LSB, lies in ``dst``'s
    range (the part its overflow mode leaves alone): then no cast needs overflow handling."""
    shift = src.frac_bits - dst.frac_bits
    if shift > 0:
        low, high = src.min_raw >> shift, -((-src.max_raw) >> shift)  # floor, ceiling
    else:
        low, high = src.min_raw << -shift, src.max_raw << -shift
    lowest = -dst.max_raw if dst.overflow == "SAT_SYM" and dst.signed else dst.min_raw
    return lowest <= low and high <= dst.max_raw


def _overflow_unless_fits(values: np.ndarray, src: FixedFormat, dst: FixedFormat,
                          owned: bool) -> np.ndarray:
    """``values`` in ``dst``'s range, a fresh array (a cast never shares its source's)."""
    if _always_fits(src, dst):
        out = _as_dtype(values, dst.storage)
        return out if owned or out is not values else out.copy()
    return _handle_overflow(values, dst, owned)


def quantize(raw: np.ndarray, src: FixedFormat, dst: FixedFormat) -> np.ndarray:
    """Raw bits of ``src`` values cast to ``dst``: round by ``dst.rounding``, then
    overflow by ``dst.overflow``, as ``ap_fixed``'s converting assignment."""
    shift = src.frac_bits - dst.frac_bits
    work = _work_dtype(src.width + max(0, -shift) + 2)
    values = _as_dtype(raw, work)
    if shift > 0:
        # Past width+1 dropped bits, floor and every rounding decision are already fixed.
        shift = min(shift, src.width + 1)
        if dst.rounding == "TRN":
            return _overflow_unless_fits(values >> shift, src, dst, owned=True)
        if dst.rounding == "RND":  # half up: one add and one shift
            rounded = values + (1 << (shift - 1))
            rounded >>= shift
            return _overflow_unless_fits(rounded, src, dst, owned=True)
        floor = values >> shift
        dropped = values - (floor << shift)
        half = 1 << (shift - 1)
        increment = _round_increment(
            dst.rounding, negative=values < 0, above_half=dropped > half,
            tie=dropped == half, inexact=dropped != 0, odd=(floor & 1) == 1)
        values = floor + _as_dtype(increment, work)
    elif shift < 0:
        return _overflow_unless_fits(values << -shift, src, dst, owned=True)
    return _overflow_unless_fits(values, src, dst, owned=values is not raw)


def quantize_float(values: np.ndarray, dst: FixedFormat) -> np.ndarray:
    """Raw bits of float64 ``values`` cast to ``dst``, as ``ap_fixed``'s ctor from double.

    Scaling by ``2**frac_bits`` is exact for most doubles; where it would leave the double
    range (1e308 into a format with fraction bits), underflow to zero (a subnormal into one
    with few) or pass the int64 range, the double is taken as the exact fixed-point value it
    is (53 bits of mantissa and an exponent) and cast with ``quantize``."""
    values = np.asarray(values, dtype=np.float64)
    if not np.all(np.isfinite(values)):
        bad = values[~np.isfinite(values)].flat[0]
        raise ValueError(f"cannot convert {bad} to fixed point {dst}: not a finite number")
    with np.errstate(over="ignore", under="ignore"):
        scaled = np.ldexp(values, dst.frac_bits)
    limit = float(1 << INT64_BITS)
    exact = ~(np.abs(scaled) < limit) | ((scaled == 0) & (values != 0))
    scaled = np.where(exact, 0.0, scaled)
    floor = np.floor(scaled)
    dropped = scaled - floor  # exact, in [0, 1)
    increment = _round_increment(
        dst.rounding, negative=values < 0, above_half=dropped > 0.5, tie=dropped == 0.5,
        inexact=dropped != 0, odd=np.fmod(floor, 2) != 0)
    ints = (floor + increment).astype(np.int64)
    if not exact.any():
        return _handle_overflow(ints, dst)
    out = _handle_overflow(ints, dst).astype(object).reshape(-1)
    for index in np.flatnonzero(exact):
        out[index] = _exact_from_float(float(values.flat[index]), dst)
    return _as_dtype(out.reshape(values.shape), dst.storage)


def _exact_from_float(value: float, dst: FixedFormat) -> int:
    """One double's raw bits in ``dst``: the double is ``m * 2**(e - 53)`` exactly, an
    ap_fixed<54, e + 1> of raw ``m``."""
    mantissa, exponent = math.frexp(value)
    raw = np.array([int(mantissa * (1 << 53))], dtype=object)
    return int(quantize(raw, FixedFormat(54, exponent + 1), dst)[0])


def _exact_to_float(raw: int, frac_bits: int) -> float:
    """``raw * 2**-frac_bits`` rounded once to a double (Python's int division is correctly
    rounded), +-inf past the largest."""
    raw = int(raw)
    try:
        return raw / (1 << frac_bits) if frac_bits >= 0 else float(raw << -frac_bits)
    except OverflowError:
        return math.inf if raw > 0 else -math.inf


def _check_raw(raw: Any, fmt: FixedFormat) -> np.ndarray:
    array = np.asarray(raw)
    if array.dtype.kind == "O":
        if not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool)
                   for v in array.flat):
            raise TypeError(f"raw values for {fmt} must be integers; the object array "
                            "holds something else")
    elif array.dtype.kind not in "iu":
        raise TypeError(f"raw values for {fmt} must be an integer array, got dtype "
                        f"{array.dtype}; use FixedArray.from_float for real numbers")
    if array.size:
        lo, hi = array.min(), array.max()
        if lo < fmt.min_raw or hi > fmt.max_raw:
            bad = lo if lo < fmt.min_raw else hi
            raise ValueError(f"raw value {int(bad)} does not fit {fmt} "
                             f"(raw range [{fmt.min_raw}, {fmt.max_raw}])")
    return _as_dtype(array, fmt.storage)


def _ap_fixed_operands(x: FixedArray, y: FixedArray) -> tuple[tuple[np.ndarray, int], ...]:
    """The integers ``ap_fixed`` compares and their widths: the operand with fewer fraction
    bits moved to the other's LSB (the left one with a bit to spare, as its code does)."""
    fx, fy = x.fmt.frac_bits, y.fmt.frac_bits
    width_x, width_y = x.fmt.width, y.fmt.width
    if fx > fy:
        width_y = max(width_y + fx - fy, 1)
    elif fx < fy:
        width_x = max(width_x + fy - fx + 1, 1)
    work = _work_dtype(max(width_x, width_y) + 2)
    a, b = _as_dtype(x.raw, work), _as_dtype(y.raw, work)
    return ((a << max(fy - fx, 0) if fy > fx else a, width_x),
            (b << max(fx - fy, 0) if fx > fy else b, width_y))


def _pattern(values: np.ndarray, bits: int) -> np.ndarray:
    """Two's-complement bit patterns of ``bits`` bits, as non-negative integers."""
    return _as_dtype(values, _work_dtype(bits + 1)) & ((1 << bits) - 1)


class FixedArray:
    """An array of ``ap_fixed`` values: integer raw bits and their format."""

    __slots__ = ("_memo", "fmt", "raw")
    __hash__ = None  # comparisons are element-wise, as numpy's

    def __init__(self, raw: Any, fmt: FixedFormat) -> None:
        if not isinstance(fmt, FixedFormat):
            raise TypeError(f"fmt must be a FixedFormat, got {type(fmt).__name__}")
        self.raw = _check_raw(raw, fmt)
        self.fmt = fmt
        self._memo: dict | None = None

    @classmethod
    def _trusted(cls, raw: np.ndarray, fmt: FixedFormat) -> FixedArray:
        """Wrap raw bits computed here, known to be in range and of the right dtype."""
        out = cls.__new__(cls)
        out.raw, out.fmt, out._memo = raw, fmt, None
        return out

    def frozen(self) -> FixedArray:
        """This array made read-only, so what is derived from it (its transpose, the float
        slices fx_matmul multiplies) can be kept: for weights, used over and over."""
        if self._memo is None:
            self.raw.flags.writeable = False
            self._memo = {}
        return self

    def memo(self) -> dict | None:
        """Derived data of a frozen array (None when the array may still change)."""
        return self._memo

    @classmethod
    def from_float(cls, values: Any, fmt: FixedFormat) -> FixedArray:
        """Quantize real numbers (a float array, or Python numbers) to ``fmt``."""
        array = np.asarray(values)
        if array.dtype.kind != "f" and not isinstance(values, (int, float)):
            raise TypeError(f"from_float needs a float array, got dtype {array.dtype}; "
                            "raw bits go through FixedArray(raw, fmt)")
        return cls._trusted(quantize_float(array.astype(np.float64), fmt), fmt)

    def to_float(self) -> np.ndarray:
        """float64 values, each the exact value rounded once to the nearest double (ties to
        even); beyond the double range they are +-inf, below its smallest subnormal +-0.
        (ap_fixed.h's ``to_double`` agrees wherever the value is a normal double, and gives
        no meaningful result beyond.)"""
        fmt = self.fmt
        if fmt.width <= 53 or (fmt.frac_bits <= 1022 and fmt.width - fmt.frac_bits <= 1023):
            with np.errstate(over="ignore"):  # raw exact, or a normal result: one rounding
                return np.ldexp(self.raw.astype(np.float64), -fmt.frac_bits)
        return np.vectorize(_exact_to_float, otypes=[np.float64])(self.raw, fmt.frac_bits)

    def cast(self, fmt: FixedFormat) -> FixedArray:
        return FixedArray._trusted(quantize(self.raw, self.fmt, fmt), fmt)

    # ----------------------------------------------------------------- array protocol
    @property
    def shape(self) -> tuple[int, ...]:
        return self.raw.shape

    @property
    def ndim(self) -> int:
        return self.raw.ndim

    @property
    def size(self) -> int:
        return self.raw.size

    def __len__(self) -> int:
        return len(self.raw)

    def __getitem__(self, index: Any) -> FixedArray:
        return FixedArray._trusted(np.asarray(self.raw[index], dtype=self.raw.dtype), self.fmt)

    def reshape(self, *shape: Any) -> FixedArray:
        return FixedArray._trusted(self.raw.reshape(*shape), self.fmt)

    @property
    def T(self) -> FixedArray:
        if self._memo is None:
            return FixedArray._trusted(self.raw.T, self.fmt)
        if "T" not in self._memo:
            self._memo["T"] = FixedArray._trusted(self.raw.T, self.fmt).frozen()
        return self._memo["T"]

    def __repr__(self) -> str:
        return f"FixedArray({self.fmt}, {self.to_float()!r})"

    # ----------------------------------------------------------------- arithmetic
    def _aligned(self, other: FixedArray, result: FixedFormat) -> tuple[np.ndarray, ...]:
        """Both raw arrays scaled to ``result``'s LSB, in a dtype that holds ``result``."""
        work = _work_dtype(result.width)
        out = []
        for x in (self, other):
            raw, shift = _as_dtype(x.raw, work), result.frac_bits - x.fmt.frac_bits
            out.append(raw << shift if shift else raw)
        return tuple(out)

    def _exact(self, other: Any, result_format: Callable, op: Callable) -> FixedArray:
        if not isinstance(other, FixedArray):
            return NotImplemented
        result = result_format(self.fmt, other.fmt)
        a, b = self._aligned(other, result)
        return FixedArray._trusted(_as_dtype(op(a, b), result.storage), result)

    def __add__(self, other: Any) -> FixedArray:
        return self._exact(other, sum_format, operator.add)

    def __sub__(self, other: Any) -> FixedArray:
        return self._exact(other, difference_format, operator.sub)

    def __mul__(self, other: Any) -> FixedArray:
        if not isinstance(other, FixedArray):
            return NotImplemented
        result = product_format(self.fmt, other.fmt)
        work = _work_dtype(result.width)
        raw = _as_dtype(self.raw, work) * _as_dtype(other.raw, work)
        return FixedArray._trusted(_as_dtype(raw, result.storage), result)

    def __neg__(self) -> FixedArray:
        result = negation_format(self.fmt)
        return FixedArray._trusted(-_as_dtype(self.raw, result.storage), result)

    def _shifted(self, amount: int, left: bool) -> FixedArray:
        """``ap_fixed`` shifts: same format, raw bits moved, no rounding or saturation;
        a negative amount shifts the other way."""
        if not isinstance(amount, (int, np.integer)) or isinstance(amount, bool):
            return NotImplemented
        amount = int(amount)
        if amount < 0:
            amount, left = -amount, not left
        if left:
            work = _work_dtype(self.fmt.width + amount + 1)
            moved = _as_dtype(self.raw, work) << amount
            wrap = self.fmt.with_modes("TRN", "WRAP")
            return FixedArray._trusted(_handle_overflow(moved, wrap), self.fmt)
        amount = min(amount, self.fmt.width)  # beyond the width only sign bits remain
        return FixedArray._trusted(self.raw >> amount, self.fmt)

    def __lshift__(self, amount: int) -> FixedArray:
        return self._shifted(amount, left=True)

    def __rshift__(self, amount: int) -> FixedArray:
        return self._shifted(amount, left=False)

    def _compare(self, other: Any, op: Callable) -> np.ndarray:
        """``ap_fixed``'s comparison: both values aligned to the finer LSB as ``ap_fixed``
        aligns them, then compared as its integers compare, which follows C's rules where
        the signs differ: ``==`` compares bit patterns, each value sign- or zero-extended
        to the wider width and at least 32 bits (to 64 when the widths are equal and at
        most 64), and an order compares the patterns unsigned when the unsigned operand is
        at least as wide as the signed one and either reaches 32 bits (so a negative value
        can be larger than a positive one), by value otherwise."""
        if not isinstance(other, FixedArray):
            return NotImplemented
        (a, width_a), (b, width_b) = _ap_fixed_operands(self, other)
        signed_a, signed_b = self.fmt.signed, other.fmt.signed
        if op in (operator.eq, operator.ne):
            same = 64 if width_a <= 64 else width_a  # a cast of both to uint64_t
            bits = same if width_a == width_b else max(width_a, width_b, 32)
            a, b = _pattern(a, bits), _pattern(b, bits)
        elif signed_a != signed_b and not (width_a < 32 and width_b < 32):
            unsigned, signed = (width_b, width_a) if signed_a else (width_a, width_b)
            if unsigned >= signed:
                bits = max(width_a, width_b) + 1
                a, b = _pattern(a, bits), _pattern(b, bits)
        return np.asarray(op(a, b), dtype=bool)

    def __eq__(self, other: Any) -> np.ndarray:  # type: ignore[override]
        return self._compare(other, operator.eq)

    def __ne__(self, other: Any) -> np.ndarray:  # type: ignore[override]
        return self._compare(other, operator.ne)

    def __lt__(self, other: Any) -> np.ndarray:
        return self._compare(other, operator.lt)

    def __le__(self, other: Any) -> np.ndarray:
        return self._compare(other, operator.le)

    def __gt__(self, other: Any) -> np.ndarray:
        return self._compare(other, operator.gt)

    def __ge__(self, other: Any) -> np.ndarray:
        return self._compare(other, operator.ge)
