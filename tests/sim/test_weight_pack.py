"""The weight pack: DDR layout, round trip, and refusing what does not fit."""

from __future__ import annotations

import numpy as np
import pytest

from edgemoe.sim import FixedArray, FixedFormat
from edgemoe.sim.weight_pack import PackError, container_bytes, pack, unpack


@pytest.mark.parametrize("word_bytes", [16, 32, 64])
def test_tensors_start_on_axi_words_and_round_trip(word_bytes: int) -> None:
    tensors = {
        "a": FixedArray(np.arange(-5, 5).reshape(2, 5), FixedFormat(16, 2)),
        "b": FixedArray(np.array([0, 255, 128]), FixedFormat(8, 0, signed=False)),
        "c": FixedArray(np.array([[-(2**31), 2**31 - 1]]), FixedFormat(32, 10)),
        "d": FixedArray(np.array([1, -1, 7]), FixedFormat(12, 4)),
    }
    blob, entries = pack(tensors, word_bytes)
    assert all(e.offset == e.word * word_bytes for e in entries.values())
    assert entries["b"].word == -(-20 // word_bytes) and len(blob) % word_bytes == 0  # a: 20 B
    assert [container_bytes(t.fmt) for t in tensors.values()] == [2, 1, 4, 2]
    # 16-bit values: 16 to a 256-bit word, little endian
    assert blob[entries["a"].offset:entries["a"].offset + 4] == bytes([0xFB, 0xFF, 0xFC, 0xFF])
    back = unpack(blob, entries)
    for name, value in tensors.items():
        assert back[name].fmt == value.fmt and back[name].raw.tolist() == value.raw.tolist()


def test_values_outside_their_format_are_refused() -> None:
    blob, entries = pack({"w": FixedArray(np.array([100, -3]), FixedFormat(12, 4))}, 32)
    corrupted = bytearray(blob)
    corrupted[1] = 0x7F  # 0x7F64 does not fit 12 bits
    with pytest.raises(PackError, match="w: raw value"):
        unpack(bytes(corrupted), entries)


def test_a_pack_too_short_is_refused() -> None:
    blob, entries = pack({"w": FixedArray(np.zeros(40, np.int64), FixedFormat(16, 4))}, 32)
    with pytest.raises(PackError, match="past the end of the pack"):
        unpack(blob[:32], entries)


def test_wider_than_64_bits_cannot_be_packed() -> None:
    with pytest.raises(PackError, match="wider than 64 bits"):
        container_bytes(FixedFormat(70, 10))
