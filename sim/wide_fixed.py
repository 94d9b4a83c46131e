"""Exact fixed-point intermediates wider than an int64, held as int64 limbs.

A product of two 32-bit features (edge-moe's attention, the gate weighting, LayerNorm's
squares) or a long sum of them needs 64 to 80 bits. ``FixedArray`` would hold those as
object arrays of Python ints, a hundred times slower than int64. ``WideFixed`` holds the
same exact integers as a sum of int64 arrays, each shifted: ``raw = sum(part << shift)``,
every part with a known magnitude bound. Products split their operands into limbs short
enough that each partial product fits an int64; sums split parts so the sum fits; and the
one cast at the end (``cast``) rounds and saturates from the limbs, as ``ap_fixed``'s
converting assignment does from the wide value. Only a bound no int64 can keep falls back
to Python ints, so nothing is lost either way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .fixed_array import FixedArray, _as_dtype, _handle_overflow, _round_increment
from .fixed_format import INT64_BITS, FixedFormat, product_format, sum_format

#: Limbs shorter than this make more products than splitting both factors in half.
_MIN_LIMB_BITS = 16


@dataclass(frozen=True)
class _Part:
    values: np.ndarray  # int64
    shift: int  # raw bits this part is worth: values << shift
    bits: int  # |values| <= 2**bits


def _magnitude_bits(fmt: FixedFormat) -> int:
    """Smallest m with |raw| <= 2**m for every raw value of ``fmt``."""
    return fmt.width - 1 if fmt.signed else fmt.width


def _split(part: _Part, max_bits: int) -> list[_Part]:
    """``part`` as limbs of at most ``max_bits`` magnitude bits: the low ones unsigned and
    ``max_bits`` wide, the top one keeping the sign."""
    if part.bits <= max_bits:
        return [part]
    count = -(-part.bits // max_bits)
    mask = (1 << max_bits) - 1
    limbs = [_Part((part.values >> (i * max_bits)) & mask, part.shift + i * max_bits, max_bits)
             for i in range(count - 1)]
    top = (count - 1) * max_bits
    limbs.append(_Part(part.values >> top, part.shift + top, part.bits - top))
    return limbs


def _limb_bits(a_bits: int, b_bits: int) -> tuple[int, int]:
    """Limb widths for factors of ``a_bits`` and ``b_bits`` magnitude bits so that every
    limb product fits an int64: split only the wider factor where that is enough."""
    if a_bits + b_bits <= INT64_BITS:
        return a_bits, b_bits
    if INT64_BITS - b_bits >= _MIN_LIMB_BITS and a_bits >= b_bits:
        return INT64_BITS - b_bits, b_bits
    if INT64_BITS - a_bits >= _MIN_LIMB_BITS:
        return a_bits, INT64_BITS - a_bits
    return INT64_BITS // 2, INT64_BITS // 2


def _merged(parts: list[_Part]) -> tuple[_Part, ...]:
    """As few parts as an int64 allows: each part folded into the one below it (shifted to
    its scale) while the sum still fits. Fewer parts, fewer passes over the arrays."""
    out: list[_Part] = []
    for part in sorted(parts, key=lambda p: p.shift):
        last = out[-1] if out else None
        gap = part.shift - last.shift if last is not None else 0
        if last is not None and max(last.bits, part.bits + gap) + 1 <= INT64_BITS:
            values = last.values + (part.values << gap if gap else part.values)
            out[-1] = _Part(values, last.shift, max(last.bits, part.bits + gap) + 1)
        else:
            out.append(part)
    return tuple(out)


def _bound_bits(bounds: list[int]) -> int:
    """Bits of a bound on a sum of terms bounded by 2**b each."""
    total = sum(1 << b for b in bounds if b >= 0) + sum(1 for b in bounds if b < 0)
    return max(total - 1, 0).bit_length()


class WideFixed:
    """Exact values of fixed-point format ``fmt`` (any width): raw = sum(part << shift)."""

    __slots__ = ("fmt", "parts", "shape")

    def __init__(self, parts: tuple[_Part, ...], fmt: FixedFormat,
                 shape: tuple[int, ...]) -> None:
        self.parts, self.fmt, self.shape = parts, fmt, shape

    @classmethod
    def of(cls, x: FixedArray) -> WideFixed:
        if x.raw.dtype.kind == "O":
            raise ValueError(f"WideFixed holds int64 raw bits; {x.fmt} arrives as Python ints")
        return cls((_Part(x.raw, 0, _magnitude_bits(x.fmt)),), x.fmt, x.shape)

    @classmethod
    def from_parts(cls, parts: list[tuple[np.ndarray, int, int]], fmt: FixedFormat,
                   ) -> WideFixed:
        """Raw bits given as (int64 values, shift, magnitude bits) terms."""
        kept = _merged([_Part(v, s, b) for v, s, b in parts])
        shape = np.broadcast_shapes(*(p.values.shape for p in kept))
        return cls(kept, fmt, shape)

    # ----------------------------------------------------------------- arithmetic
    def __mul__(self, other: WideFixed | FixedArray) -> WideFixed:
        other = _wide(other)
        fmt = product_format(self.fmt, other.fmt)
        split_self, split_other = _limb_bits(max(p.bits for p in self.parts),
                                             max(p.bits for p in other.parts))
        products = [_Part(a.values * b.values, a.shift + b.shift, a.bits + b.bits)
                    for pa in self.parts for a in _split(pa, split_self)
                    for pb in other.parts for b in _split(pb, split_other)]
        return WideFixed(_merged(products), fmt,
                         np.broadcast_shapes(self.shape, other.shape))

    def __add__(self, other: WideFixed | FixedArray) -> WideFixed:
        other = _wide(other)
        fmt = sum_format(self.fmt, other.fmt)
        parts = [_Part(p.values, p.shift + fmt.frac_bits - x.fmt.frac_bits, p.bits)
                 for x in (self, other) for p in x.parts]
        return WideFixed(_merged(parts), fmt, np.broadcast_shapes(self.shape, other.shape))

    def sum(self, axis: int) -> WideFixed:
        """Exact sum along ``axis``; the format grows by the bits the count needs."""
        count = self.shape[axis]
        growth = max(count - 1, 0).bit_length()
        fmt = FixedFormat(self.fmt.width + growth, self.fmt.int_bits + growth, self.fmt.signed)
        shape = self.shape[:axis % len(self.shape)] + self.shape[axis % len(self.shape) + 1:]
        parts = [_Part(np.broadcast_to(limb.values, self.shape).sum(axis=axis), limb.shift,
                       limb.bits + growth)
                 for part in self.parts for limb in _split(part, INT64_BITS - growth)]
        return WideFixed(_merged(parts), fmt, shape)

    # ----------------------------------------------------------------- results
    def cast(self, dst: FixedFormat) -> FixedArray:
        """Round by ``dst.rounding`` and overflow by ``dst.overflow``, once, from the exact
        value: ``ap_fixed``'s converting assignment."""
        raw = self._cast_in_int64(dst)
        if raw is None:
            return self.exact().cast(dst)
        return FixedArray._trusted(raw, dst)

    def _cast_in_int64(self, dst: FixedFormat) -> np.ndarray | None:
        """The cast through int64 floor and remainder; None where a bound does not fit."""
        if dst.width > INT64_BITS:
            return None
        drop = self.fmt.frac_bits - dst.frac_bits
        parts = list(self.parts)
        cut = [p for p in parts if p.shift < drop]
        if cut and dst.rounding == "RND":  # half up: add half an LSB, then floor
            low = cut[0]
            half = 1 << (drop - 1 - low.shift)
            bits = max(low.bits, drop - 1 - low.shift) + 1
            if bits <= INT64_BITS:
                parts[parts.index(low)] = cut[0] = _Part(low.values + half, low.shift, bits)
                dst_rounding = "TRN"
            else:
                dst_rounding = dst.rounding
        else:
            dst_rounding = dst.rounding
        whole = [p for p in parts if p.shift >= drop]
        floor_bounds = ([p.bits + p.shift - drop for p in whole]
                        + [p.bits - (drop - p.shift) for p in cut] + [0] * (len(cut) + 1))
        if _bound_bits(floor_bounds) + 1 > INT64_BITS or (cut and drop + len(cut).bit_length()
                                                          > INT64_BITS):
            return None
        floor = None
        for p in whole:
            term = p.values << (p.shift - drop) if p.shift != drop else p.values
            floor = term if floor is None else floor + term
        for p in cut:
            term = p.values >> (drop - p.shift)
            floor = term if floor is None else floor + term
        floor = np.broadcast_to(floor, self.shape)
        if not cut or (dst_rounding == "TRN" and len(cut) == 1):  # exact, or no carries
            return _handle_overflow(floor, dst)
        remainder = np.zeros(self.shape, np.int64)
        for p in cut:
            remainder += (p.values & ((1 << (drop - p.shift)) - 1)) << p.shift
        floor = floor + (remainder >> drop)
        remainder &= (1 << drop) - 1
        half = 1 << (drop - 1)
        increment = _round_increment(
            dst_rounding, negative=floor < 0, above_half=remainder > half,
            tie=remainder == half, inexact=remainder != 0, odd=(floor & 1) == 1)
        return _handle_overflow(floor + increment, dst)

    def exact(self) -> FixedArray:
        """The values as one ``FixedArray`` in ``fmt`` (Python ints when it is that wide)."""
        in_int64 = _bound_bits([p.bits + p.shift for p in self.parts]) <= INT64_BITS
        total = np.zeros(self.shape, np.int64 if in_int64 else object)
        for p in self.parts:
            values = p.values if in_int64 else p.values.astype(object)
            total = total + (values << p.shift)
        return FixedArray._trusted(_as_dtype(total, self.fmt.storage), self.fmt)


def _wide(x: WideFixed | FixedArray) -> WideFixed:
    return x if isinstance(x, WideFixed) else WideFixed.of(x)


def exact_product_cast(x: FixedArray, y: FixedArray, dst: FixedFormat) -> FixedArray:
    """``(x * y).cast(dst)`` without an intermediate wider than int64."""
    if product_format(x.fmt, y.fmt).width <= INT64_BITS:
        return (x * y).cast(dst)
    return (WideFixed.of(x) * WideFixed.of(y)).cast(dst)

