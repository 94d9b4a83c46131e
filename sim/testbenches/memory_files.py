"""The files through which the cosimulation's testbench fills and reads the memory inside
the simulator (``$readmemh`` and ``$writememh`` of 64-bit words, word i of the window at
``base + 8 i``, little-endian): numpy only, as the testbench runs inside cocotb."""

from __future__ import annotations

import numpy as np

LOAD_FILE = "edgemoe_memory_in.hex"
DUMP_FILE = "edgemoe_memory_out.hex"
WORD_BYTES = 8


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


def dumped_bytes(text: str) -> bytes:
    """The words ``$writememh`` wrote (comments and address marks skipped), as bytes."""
    words = [int(token, 16) for line in text.splitlines()
             for token in line.split("//", 1)[0].split() if not token.startswith("@")]
    return np.array(words, dtype="<u8").tobytes()
