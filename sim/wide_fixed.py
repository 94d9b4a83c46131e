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

from typing import NamedTuple

import numpy as np

from .fixed_array import FixedArray, _as_dtype, _handle_overflow, _round_increment
from .fixed_format import (
    INT64_BITS,
    FixedFormat,
    growth_bits,
    product_format,
    sum_format,
    sum_of_format,
)

#: Limbs shorter than this make more products than splitting both factors in half.
_MIN_LIMB_BITS = 16


class _Part(NamedTuple):
    values: np.ndarray  # int64
    shift: int  # raw bits this part is worth: values << shift
    bits: int  # |values| <= 2**bits


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
    limb product fits an int64 with a bit to spare (a rounding constant, a carry): split
    only the wider factor where that is enough."""
    budget = INT64_BITS - 1
    if a_bits + b_bits <= budget:
        return a_bits, b_bits
    if budget - b_bits >= _MIN_LIMB_BITS and a_bits >= b_bits:
        return budget - b_bits, b_bits
    if budget - a_bits >= _MIN_LIMB_BITS:
        return a_bits, budget - a_bits
    return budget // 2, budget // 2


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
        self.parts = tuple(sorted(parts, key=lambda p: p.shift))  # casts walk them upwards
        self.fmt, self.shape = fmt, shape

    @classmethod
    def of(cls, x: FixedArray) -> WideFixed:
        if x.raw.dtype.kind == "O":
            raise ValueError(f"WideFixed holds int64 raw bits; {x.fmt} arrives as Python ints")
        return cls((_Part(x.raw, 0, x.fmt.magnitude_bits),), x.fmt, x.shape)

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
        growth = growth_bits(count)
        fmt = sum_of_format(self.fmt, count)
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
        """The cast in int64: the floor part by part, the dropped bits carried up from
        the lowest part (a sticky bit for what falls off below); None where a bound does
        not fit."""
        drop = self.fmt.frac_bits - dst.frac_bits
        parts = list(self.parts)  # sorted by shift
        rounding = dst.rounding
        if parts[0].shift < drop and rounding == "RND":  # half up: add half an LSB, floor
            low = parts[0]
            bits = max(low.bits, drop - 1 - low.shift) + 1
            if bits <= INT64_BITS:
                parts[0] = _Part(low.values + (1 << (drop - 1 - low.shift)), low.shift, bits)
                rounding = "TRN"
        cut = [p for p in parts if p.shift < drop]
        whole = parts[len(cut):]
        carried = [len(cut).bit_length()] * bool(cut)  # the dropped bits' carry, < len(cut)
        floor_bounds = ([p.bits + p.shift - drop for p in whole]
                        + [p.bits - (drop - p.shift) for p in cut] + carried)
        if (dst.width > INT64_BITS or _bound_bits(floor_bounds) + 1 > INT64_BITS
                or (cut and drop - cut[0].shift > INT64_BITS - 1)):
            return None
        terms = [p.values << (p.shift - drop) if p.shift != drop else p.values for p in whole]
        carry, carry_shift, carry_bits, sticky = None, 0, 0, None
        if len(cut) == 1 and rounding == "TRN":
            terms.append(cut[0].values >> drop - cut[0].shift)
        elif cut:
            for p in cut:
                dropped = drop - p.shift
                terms.append(p.values >> dropped)
                low = p.values & ((1 << dropped) - 1)
                if carry is not None:
                    gap = p.shift - carry_shift
                    if rounding != "TRN":
                        lost = (carry & ((1 << gap) - 1)) != 0
                        sticky = lost if sticky is None else sticky | lost
                    low = low + (carry >> gap)
                    carry_bits = max(dropped, carry_bits - gap) + 1
                else:
                    carry_bits = dropped
                if carry_bits > INT64_BITS:
                    return None
                carry, carry_shift = low, p.shift
            dropped = drop - carry_shift
            terms.append(carry >> dropped)
            carry &= (1 << dropped) - 1  # the dropped bits' top part
        floor = terms[0]
        for term in terms[1:]:
            floor = floor + term
        if floor.shape != self.shape:
            floor = np.broadcast_to(floor, self.shape)
        if carry is None or rounding == "TRN":
            return _handle_overflow(floor, dst)
        half = 1 << (dropped - 1)
        above, tie, inexact = carry > half, carry == half, carry != 0
        if sticky is not None:
            above, tie, inexact = above | (tie & sticky), tie & ~sticky, inexact | sticky
        increment = _round_increment(rounding, negative=floor < 0, above_half=above, tie=tie,
                                     inexact=inexact, odd=(floor & 1) == 1)
        return _handle_overflow(floor + increment, dst, owned=True)

    def exact(self) -> FixedArray:
        """The values as one ``FixedArray`` in ``fmt`` (Python ints when it is that wide); a
        single unshifted part is returned as it is, sharing its memory."""
        in_int64 = _bound_bits([p.bits + p.shift for p in self.parts]) <= INT64_BITS
        if in_int64 and len(self.parts) == 1 and self.parts[0].values.shape == self.shape:
            part = self.parts[0]
            return FixedArray._trusted(part.values << part.shift if part.shift else part.values,
                                       self.fmt)
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

