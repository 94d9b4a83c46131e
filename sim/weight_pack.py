"""Raw fixed-point words in the DDR layout the kernel reads.

Each tensor starts on an AXI word boundary (256 bits = 32 bytes); its values follow in
row-major order, each in the smallest power-of-two number of bytes that holds its width
(a 16-bit weight in 2 bytes: 16 to a 256-bit word), as little-endian two's complement.
The same layout serves the golden vectors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .fixed_array import FixedArray
from .fixed_format import FixedFormat

ALIGNMENT = 32  # bytes: one 256-bit AXI word
_CONTAINERS = {1: np.int8, 2: np.int16, 4: np.int32, 8: np.int64}


class PackError(ValueError):
    """A weight pack or tensor that does not match its description."""


def container_bytes(fmt: FixedFormat) -> int:
    size = 1
    while size * 8 < fmt.width:
        size *= 2
    if size > 8:
        raise PackError(f"{fmt} is wider than 64 bits and cannot be packed")
    return size


def aligned(offset: int) -> int:
    return -(-offset // ALIGNMENT) * ALIGNMENT


def to_bytes(value: FixedArray) -> bytes:
    dtype = np.dtype(_CONTAINERS[container_bytes(value.fmt)]).newbyteorder("<")
    return np.ascontiguousarray(value.raw).astype(dtype).tobytes()


def from_bytes(data: bytes | memoryview, fmt: FixedFormat, shape: tuple[int, ...],
               name: str) -> FixedArray:
    """Read one tensor; values outside its format mean a corrupt or mismatched pack."""
    dtype = np.dtype(_CONTAINERS[container_bytes(fmt)]).newbyteorder("<")
    count = int(np.prod(shape))
    if len(data) < count * dtype.itemsize:
        raise PackError(f"{name}: {len(data)} bytes, need {count * dtype.itemsize}")
    raw = np.frombuffer(data, dtype=dtype, count=count).astype(np.int64).reshape(shape)
    if fmt.signed is False and container_bytes(fmt) * 8 == fmt.width:
        raw = raw & ((1 << fmt.width) - 1)  # a full-width unsigned value read as signed
    try:
        return FixedArray(raw, fmt)
    except ValueError as err:
        raise PackError(f"{name}: {err}") from None


@dataclass(frozen=True)
class TensorEntry:
    offset: int
    shape: tuple[int, ...]
    fmt: FixedFormat

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape)) * container_bytes(self.fmt)

    def to_dict(self) -> dict[str, Any]:
        return {"offset": self.offset, "shape": list(self.shape), "bytes": self.nbytes,
                "container_bytes": container_bytes(self.fmt), "format": self.fmt.to_dict(),
                "cpp_type": self.fmt.cpp_type}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TensorEntry:
        return cls(int(data["offset"]), tuple(data["shape"]), FixedFormat.from_dict(data["format"]))


def pack(tensors: dict[str, FixedArray]) -> tuple[bytes, dict[str, TensorEntry]]:
    """All tensors, in the given order, each starting on an AXI word."""
    blob = bytearray()
    entries = {}
    for name, value in tensors.items():
        offset = aligned(len(blob))
        blob.extend(b"\0" * (offset - len(blob)))
        entries[name] = TensorEntry(offset, tuple(value.shape), value.fmt)
        blob.extend(to_bytes(value))
    blob.extend(b"\0" * (aligned(len(blob)) - len(blob)))
    return bytes(blob), entries


def unpack(blob: bytes, entries: dict[str, TensorEntry]) -> dict[str, FixedArray]:
    view = memoryview(blob)
    out = {}
    for name, entry in entries.items():
        if entry.offset % ALIGNMENT:
            raise PackError(f"{name}: offset {entry.offset} is not {ALIGNMENT}-byte aligned")
        if entry.offset + entry.nbytes > len(blob):
            raise PackError(f"{name}: bytes {entry.offset}..{entry.offset + entry.nbytes} lie "
                            f"past the end of the pack ({len(blob)} bytes)")
        out[name] = from_bytes(view[entry.offset:entry.offset + entry.nbytes], entry.fmt,
                               entry.shape, name)
    return out
