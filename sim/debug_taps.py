"""The debug tap: every layer's output as the kernel wrote it to scratch in debug mode,
read back as raw integers (numpy only, so the board can read it too)."""

from __future__ import annotations

import numpy as np

from .fixed_format import FixedFormat
from .kernel_interface import BufferLayout


def read_lanes(buffer: np.ndarray, start: int, elements: int, fmt: FixedFormat,
               lane_bits: int) -> np.ndarray:
    """``elements`` values in ``fmt`` from ``start`` (a byte) on: little-endian lanes
    ``lane_bits`` wide, read as the kernel reads them (flat int64)."""
    lane = np.dtype(f"<i{lane_bits // 8}")
    values = buffer[start:start + elements * lane.itemsize].view(lane).astype(np.int64)
    if len(values) != elements:
        raise ValueError(f"the buffer holds {len(values)} of {elements} values from byte "
                         f"{start} on")
    if not fmt.signed and fmt.width == lane_bits:
        values &= (1 << lane_bits) - 1  # a full-width unsigned lane
    return values


def read_taps(scratch: np.ndarray, layout: BufferLayout) -> dict[str, np.ndarray]:
    """Each tap of ``layout`` from ``scratch`` (uint8, the scratch buffer's bytes), flat
    int64 in the order the simulator traces it: words follow one another, so a tap is one
    run of lanes."""
    scratch = np.asarray(scratch)
    if scratch.dtype != np.uint8 or scratch.ndim != 1 or scratch.size < layout.scratch_bytes:
        raise ValueError(f"scratch must be {layout.scratch_bytes} uint8 bytes, got "
                         f"{scratch.dtype} {scratch.shape}")
    return {tap.name: read_lanes(scratch, tap.word * layout.word_bytes, tap.elements,
                                 tap.format, layout.feature_bits) for tap in layout.taps}
