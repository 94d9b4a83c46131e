"""Raw fixed-point words in the DDR layout the kernel reads.

Each tensor starts on an AXI word boundary (``axi_bits / 8`` bytes: 32 for a 256-bit
port); its values follow in row-major order, each in the smallest power-of-two number of
bytes that holds its width (a 16-bit weight in 2 bytes: 16 to a 256-bit word), as
little-endian two's complement. The same layout serves the golden vectors.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from pydantic import model_validator

from .fixed_array import FixedArray
from .fixed_format import FixedFormat
from .schema import Count, Positive, Record

_CONTAINERS = {1: np.int8, 2: np.int16, 4: np.int32, 8: np.int64}
Container = Literal[1, 2, 4, 8]


class PackError(ValueError):
    """A weight pack or tensor that does not match its description."""


def container_bytes(fmt: FixedFormat) -> int:
    size = 1
    while size * 8 < fmt.width:
        size *= 2
    if size > 8:
        raise PackError(f"{fmt} is wider than 64 bits and cannot be packed")
    return size


def aligned(offset: int, word_bytes: int) -> int:
    return -(-offset // word_bytes) * word_bytes


class TensorEntry(Record):
    """Where one tensor lies in a pack: its byte offset and AXI word, shape and format."""

    offset: Count
    word: Count
    shape: tuple[Positive, ...]
    format: FixedFormat
    container_bytes: Container
    bytes: Count
    cpp_type: str

    @model_validator(mode="after")
    def _sizes_follow_the_format(self) -> TensorEntry:
        container = container_bytes(self.format)
        if self.container_bytes != container:
            raise ValueError(f"container_bytes {self.container_bytes}: a {self.format} value "
                             f"takes {container}")
        if self.bytes != math.prod(self.shape) * container:
            raise ValueError(f"bytes {self.bytes}: shape {list(self.shape)} of {container}-byte "
                             f"values takes {math.prod(self.shape) * container}")
        if self.cpp_type != self.format.cpp_type:
            raise ValueError(f"cpp_type {self.cpp_type!r} is not the format's "
                             f"{self.format.cpp_type!r}")
        return self

    @classmethod
    def at(cls, offset: int, shape: tuple[int, ...], fmt: FixedFormat,
           word_bytes: int) -> TensorEntry:
        container = container_bytes(fmt)
        return cls(offset=offset, word=offset // word_bytes, shape=tuple(shape), format=fmt,
                   container_bytes=container, bytes=math.prod(shape) * container,
                   cpp_type=fmt.cpp_type)


def to_bytes(value: FixedArray) -> bytes:
    dtype = np.dtype(_CONTAINERS[container_bytes(value.fmt)]).newbyteorder("<")
    return np.ascontiguousarray(value.raw).astype(dtype).tobytes()


def from_bytes(data: bytes | memoryview, fmt: FixedFormat, shape: tuple[int, ...],
               name: str) -> FixedArray:
    """Read one tensor; values outside its format mean a corrupt or mismatched pack."""
    dtype = np.dtype(_CONTAINERS[container_bytes(fmt)]).newbyteorder("<")
    count = math.prod(shape)
    if len(data) < count * dtype.itemsize:
        raise PackError(f"{name}: {len(data)} bytes, need {count * dtype.itemsize}")
    raw = np.frombuffer(data, dtype=dtype, count=count).astype(np.int64).reshape(shape)
    if fmt.signed is False and container_bytes(fmt) * 8 == fmt.width:
        raw = raw & ((1 << fmt.width) - 1)  # a full-width unsigned value read as signed
    try:
        return FixedArray(raw, fmt)
    except ValueError as err:
        raise PackError(f"{name}: {err}") from None


def layout(shapes: dict[str, tuple[int, ...]], formats: dict[str, FixedFormat],
           word_bytes: int) -> tuple[dict[str, TensorEntry], int]:
    """Every tensor in the given order, each starting on an AXI word, and the pack's size
    (whole words)."""
    entries, end = {}, 0
    for name, shape in shapes.items():
        entries[name] = TensorEntry.at(aligned(end, word_bytes), shape, formats[name],
                                       word_bytes)
        end = entries[name].offset + entries[name].bytes
    return entries, aligned(end, word_bytes)


def pack(tensors: dict[str, FixedArray], word_bytes: int,
         ) -> tuple[bytes, dict[str, TensorEntry]]:
    """All tensors, in the given order, each starting on an AXI word."""
    entries, size = layout({n: tuple(v.shape) for n, v in tensors.items()},
                           {n: v.fmt for n, v in tensors.items()}, word_bytes)
    blob = bytearray(size)
    for name, value in tensors.items():
        data = to_bytes(value)
        blob[entries[name].offset:entries[name].offset + len(data)] = data
    return bytes(blob), entries


def unpack(blob: bytes, entries: dict[str, TensorEntry]) -> dict[str, FixedArray]:
    view = memoryview(blob)
    out = {}
    for name, entry in entries.items():
        if entry.offset + entry.bytes > len(blob):
            raise PackError(f"{name}: bytes {entry.offset}..{entry.offset + entry.bytes} lie "
                            f"past the end of the pack ({len(blob)} bytes)")
        out[name] = from_bytes(view[entry.offset:entry.offset + entry.bytes], entry.format,
                               entry.shape, name)
    return out
