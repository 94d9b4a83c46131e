"""Exact fixed-point matrix product on float64 BLAS.

``fx_matmul(a, b)`` returns every dot product exactly, in a format that cannot overflow
(``accumulator_format``): "accumulate exactly, round once". A float64 product of integers
is exact as long as every partial sum stays within 2**53, so the reduction is cut into
blocks short enough for that bound; operands too wide for even one term are split into
bit slices first. Tiling and loop order then cannot change a bit.
"""

from __future__ import annotations

import itertools
import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .fixed_array import FixedArray
from .fixed_format import INT64_BITS, FixedFormat, accumulator_format, growth_bits
from .wide_fixed import WideFixed

#: float64 represents every integer of magnitude <= 2**53.
EXACT_FLOAT_BITS = 53
#: Blocks shorter than this waste BLAS; split operands into bit slices instead.
MIN_BLOCK = 32
MAX_SLICES = 6
#: Shaped views of the scratch buffers kept for reuse (shapes vary with queue lengths).
MAX_VIEWS = 256


@dataclass(frozen=True)
class _Plan:
    a_slice_bits: int
    a_slices: int
    b_slice_bits: int
    b_slices: int
    block: int


def _slice_bits(total: int, slice_bits: int, slices: int, index: int) -> int:
    """Magnitude bits of slice ``index``: low slices are unsigned ``slice_bits`` wide, the
    top slice keeps the sign and whatever bits remain."""
    return slice_bits if index < slices - 1 else total - slice_bits * (slices - 1)


def _slice_magnitude_bits(total: int, slice_bits: int, slices: int) -> int:
    """Magnitude bits of the widest slice."""
    return max(_slice_bits(total, slice_bits, slices, i) for i in range(slices))


@lru_cache(maxsize=1024)
def _plan(a: FixedFormat, b: FixedFormat, length: int) -> _Plan:
    ma, mb = a.magnitude_bits, b.magnitude_bits
    for a_slices, b_slices in sorted(
            itertools.product(range(1, MAX_SLICES + 1), repeat=2), key=lambda n: n[0] * n[1]):
        a_bits, b_bits = -(-ma // a_slices), -(-mb // b_slices)
        term_bits = (_slice_magnitude_bits(ma, a_bits, a_slices)
                     + _slice_magnitude_bits(mb, b_bits, b_slices))
        if term_bits > EXACT_FLOAT_BITS:
            continue
        block = 1 << (EXACT_FLOAT_BITS - term_bits)
        if block >= min(length, MIN_BLOCK):
            # equal blocks: ceil(length / block) of them, as long as each must be
            blocks = max(1, -(-length // block))
            return _Plan(a_bits, a_slices, b_bits, b_slices, max(1, -(-length // blocks)))
    raise ValueError(f"fx_matmul: operands {a} x {b} are too wide to multiply exactly")


class _Workspace(threading.local):
    """Scratch arrays reused from call to call, one set per thread.

    The float64 copies of the operands and the BLAS output are large; allocating them
    fresh on every call costs more in page faults than the conversions themselves.
    """

    def __init__(self) -> None:
        self.buffers: dict[str, np.ndarray] = {}
        self.views: dict[tuple, np.ndarray] = {}

    def get(self, name: str, shape: tuple[int, ...], dtype: type) -> np.ndarray:
        key = (name, shape, dtype)
        view = self.views.get(key)
        if view is not None:
            return view
        size = math.prod(shape)
        buffer = self.buffers.get(name)
        if buffer is None or buffer.size < size or buffer.dtype != dtype:
            buffer = self.buffers[name] = np.empty(size, dtype=dtype)
            self.views = {k: v for k, v in self.views.items() if k[0] != name}
        if len(self.views) > MAX_VIEWS:
            self.views.clear()
        view = self.views[key] = buffer[:size].reshape(shape)
        return view


_workspace = _Workspace()


def _float_slices(x: FixedArray, slice_bits: int, slices: int, name: str) -> list[np.ndarray]:
    """float64 bit slices with ``raw == sum(slice_i << (i * slice_bits))``: the low ones
    unsigned ``slice_bits`` wide, the top one signed. Kept with a frozen array (weights);
    in the per-thread workspace otherwise."""
    memo = x.memo()
    key = ("float_slices", slice_bits, slices)
    if memo is not None and key in memo:
        return memo[key]
    raw = x.raw
    out = []
    for i in range(slices):
        if memo is None:
            floats = _workspace.get(f"{name}{i}", raw.shape, np.float64)
        else:
            floats = np.empty(raw.shape, np.float64)
        if slices == 1:
            np.copyto(floats, raw, casting="unsafe")
        elif raw.dtype.kind == "O":
            part = raw >> (i * slice_bits)
            if i < slices - 1:
                part = part & ((1 << slice_bits) - 1)
            np.copyto(floats, part.astype(np.float64))
        else:
            ints = _workspace.get(f"{name}_int", raw.shape, np.int64)
            np.right_shift(raw, i * slice_bits, out=ints)
            if i < slices - 1:
                np.bitwise_and(ints, (1 << slice_bits) - 1, out=ints)
            np.copyto(floats, ints, casting="unsafe")
        out.append(floats)
    if memo is not None:
        memo[key] = out
    return out


def fx_matmul_wide(a: FixedArray, b: FixedArray) -> WideFixed:
    """Exact ``a @ b`` in ``accumulator_format(a, b, K)`` as int64 limbs, one per pair of
    bit slices: nothing wider than an int64 is formed, however wide the format. Operands
    are 2-D, or stacks of matrices with the same leading dimensions."""
    if a.ndim < 2 or a.ndim != b.ndim or a.shape[:-2] != b.shape[:-2]:
        raise ValueError(f"fx_matmul needs matrices or equal stacks of them, got shapes "
                         f"{a.shape} and {b.shape}")
    if a.shape[-1] != b.shape[-2]:
        raise ValueError(f"fx_matmul: inner dimensions differ, {a.shape} @ {b.shape}")
    plan = _plan(a.fmt, b.fmt, a.shape[-1])
    b_parts = _float_slices(b, plan.b_slice_bits, plan.b_slices, "b")

    def multiply(a_part: np.ndarray, j: int, block: slice, out: np.ndarray) -> None:
        np.matmul(a_part[..., block], b_parts[j][..., block, :], out=out)

    return _sliced_product(a, b.fmt, plan, a.shape[:-1] + b.shape[-1:], multiply)


def fx_matmul_grouped(a: FixedArray, b: Sequence[FixedArray],
                      bounds: Sequence[int]) -> WideFixed:
    """Row groups of ``a``, each times its own matrix: rows ``bounds[g]:bounds[g + 1]``
    times ``b[g]`` (MoE experts over their queues), exact as ``fx_matmul``. The operands
    are sliced and the products converted once for all groups; only the BLAS calls are
    per group. Every ``b[g]`` has the same shape and format."""
    if (len(b) + 1 != len(bounds) or bounds[0] != 0 or bounds[-1] != a.shape[0]
            or any(hi < lo for lo, hi in itertools.pairwise(bounds))):
        raise ValueError(f"fx_matmul_grouped: {len(b)} matrices need {len(b) + 1} rising "
                         f"bounds from 0 to {a.shape[0]}, got {list(bounds)}")
    if a.ndim != 2 or any(m.shape != b[0].shape or m.fmt != b[0].fmt for m in b) \
            or a.shape[1] != b[0].shape[0]:
        raise ValueError(f"fx_matmul_grouped: rows {a.shape} do not fit matrices "
                         f"{sorted({(m.shape, str(m.fmt)) for m in b})}")
    plan = _plan(a.fmt, b[0].fmt, a.shape[1])
    b_parts = [_float_slices(m, plan.b_slice_bits, plan.b_slices, f"b{g}")
               for g, m in enumerate(b)]
    groups = [(g, slice(lo, hi)) for g, (lo, hi) in enumerate(itertools.pairwise(bounds))
              if hi > lo]

    def multiply(a_part: np.ndarray, j: int, block: slice, out: np.ndarray) -> None:
        for g, rows in groups:
            np.matmul(a_part[rows, block], b_parts[g][j][block], out=out[rows])

    return _sliced_product(a, b[0].fmt, plan, (a.shape[0], b[0].shape[1]), multiply)


def _sliced_product(a: FixedArray, b_fmt: FixedFormat, plan: _Plan, shape: tuple[int, ...],
                    multiply: Callable[[np.ndarray, int, slice, np.ndarray], None],
                    ) -> WideFixed:
    """The limbs of a product: per pair of bit slices (a's i-th, b's j-th), the blocks of
    the reduction ``multiply`` computes in float64, summed exactly in int64."""
    length = a.shape[-1]
    a_parts = _float_slices(a, plan.a_slice_bits, plan.a_slices, "a")
    product = _workspace.get("product", shape, np.float64)
    a_bits = [_slice_bits(a.fmt.magnitude_bits, plan.a_slice_bits, plan.a_slices, i)
              for i in range(plan.a_slices)]
    b_bits = [_slice_bits(b_fmt.magnitude_bits, plan.b_slice_bits, plan.b_slices, j)
              for j in range(plan.b_slices)]
    block_growth = growth_bits(min(plan.block, length))
    parts = []
    for (i, a_part), j in itertools.product(enumerate(a_parts), range(plan.b_slices)):
        shift, block_bits = i * plan.a_slice_bits + j * plan.b_slice_bits, \
            a_bits[i] + b_bits[j] + block_growth  # every block sum is below 2**53: exact
        # an int64 total holds this many block sums; a longer reduction starts another
        per_total = 1 << max(INT64_BITS - block_bits, 0)
        total, count = None, 0
        for start in range(0, length, plan.block):
            multiply(a_part, j, slice(start, start + plan.block), product)
            if count == per_total:
                parts.append((total, shift, block_bits + growth_bits(count)))
                total, count = None, 0
            if total is None:
                total = product.astype(np.int64)
            else:
                total += product.astype(np.int64)
            count += 1
        if total is None:  # an empty reduction
            total = np.zeros(shape, np.int64)
        parts.append((total, shift, block_bits + growth_bits(count)))
    return WideFixed.from_parts(parts, accumulator_format(a.fmt, b_fmt, max(length, 1)))


def fx_matmul(a: FixedArray, b: FixedArray) -> FixedArray:
    """Exact ``a @ b`` for fixed-point matrices (or equal stacks of them), in
    ``accumulator_format(a, b, K)``."""
    return fx_matmul_wide(a, b).exact()
