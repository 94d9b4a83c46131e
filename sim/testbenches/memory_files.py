"""The files through which the cosimulation's testbench fills and reads the memory inside
the simulator (``$readmemh`` and ``$writememh`` of 64-bit words, word i of the window at
``base + 8 i``, little-endian): numpy only, as the testbench runs inside cocotb."""

from __future__ import annotations

import numpy as np

LOAD_FILE = "edgemoe_memory_in.hex"
DUMP_FILE = "edgemoe_memory_out.hex"
TOUCHED_FILE = "edgemoe_memory_touched.hex"
WORD_BYTES = 8
PAGE_BYTES = 4096


def load_file(writes: list[tuple[int, bytes]], base: int) -> str:
    """``$readmemh`` text placing each (address, bytes) into the window from ``base``; a
    region's last word is padded with zeros (regions are word-aligned and apart)."""
    lines = []
    for address, data in writes:
        if (address - base) % WORD_BYTES:
            raise ValueError(f"region at {address:#x} is not {WORD_BYTES}-byte aligned")
        padded = data + bytes(-len(data) % WORD_BYTES)
        lines.append(f"@{(address - base) // WORD_BYTES:x}")
        lines.extend(f"{word:016x}" for word in np.frombuffer(padded, "<u8"))
    return "\n".join(lines) + "\n"


def _values(text: str) -> dict[int, int]:
    """Index -> value of what ``$writememh`` wrote (an ``@`` mark sets the next index,
    comments are skipped), indices from the first value's."""
    values, index = {}, 0
    for line in text.splitlines():
        for token in line.split("//", 1)[0].split():
            if token.startswith("@"):
                index = int(token[1:], 16)
            else:
                values[index] = int(token, 16)
                index += 1
    return values


def dumped_bytes(text: str) -> bytes:
    """The words ``$writememh`` wrote, in order, as bytes."""
    values = _values(text)
    return np.array([values[i] for i in sorted(values)], dtype="<u8").tobytes()


def touched_pages(text: str, base: int) -> list[int]:
    """The addresses of the pages ``$writememh`` of the touched bits marks."""
    return [base + PAGE_BYTES * page for page, bit in sorted(_values(text).items()) if bit]
