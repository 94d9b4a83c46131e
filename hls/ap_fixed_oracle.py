"""Run fixed-point operations through Xilinx's real ``ap_fixed.h``.

The Python core in ``edgemoe.sim`` claims to compute the same integers as ``ap_fixed``;
this module is how that claim is checked. It renders one C++ program for a list of
cases (an operation and its compile-time formats), compiles it once (cached by content),
and streams raw values through it. Values change from run to run without a rebuild.
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import numpy as np

from edgemoe.sim import FixedFormat

from .cxx_build import compile_cxx

TEMPLATES = Path(__file__).parent / "templates"
COMPARISONS = ("eq", "ne", "lt", "le", "gt", "ge")
_ARITY = {"cast": 2, "from_float": 1, "to_float": 1, "add": 2, "sub": 2, "mul": 2, "neg": 1,
          "compare": 2, "shift_left": 1, "shift_right": 1, "dot": 4}
_ARITHMETIC = {"add": "Arithmetic::add", "sub": "Arithmetic::sub", "mul": "Arithmetic::mul"}
_SHIFTS = {"shift_left": "Shift::left", "shift_right": "Shift::right"}


def full_cpp_type(fmt: FixedFormat) -> str:
    """The C++ type with every template argument spelled out."""
    base = "ap_fixed" if fmt.signed else "ap_ufixed"
    return f"{base}<{fmt.width}, {fmt.int_bits}, AP_{fmt.rounding}, AP_{fmt.overflow}>"


@dataclass(frozen=True)
class OracleCase:
    """One operation at fixed formats.

    ``cast``: formats (src, dst); ``from_float``: (dst,); ``to_float``/``neg``/shifts:
    (a,); ``add``/``sub``/``mul``/``compare``: (a, b); ``dot``: (a, b, acc, out) with
    ``length`` products accumulated in ``acc`` and the sum cast to ``out``.
    """

    op: str
    formats: tuple[FixedFormat, ...]
    length: int = 0

    def __post_init__(self) -> None:
        if self.op not in _ARITY:
            raise ValueError(f"unknown oracle operation {self.op!r}")
        if len(self.formats) != _ARITY[self.op]:
            raise ValueError(f"{self.op} takes {_ARITY[self.op]} formats, "
                             f"got {len(self.formats)}")
        if (self.op == "dot") != (self.length > 0):
            raise ValueError("length is given for dot cases and only for them")

    @property
    def call(self) -> str:
        types = [full_cpp_type(f) for f in self.formats]
        if self.op in _ARITHMETIC:
            return f"run_arithmetic<{_ARITHMETIC[self.op]}, {', '.join(types)}>()"
        if self.op in _SHIFTS:
            return f"run_shift<{_SHIFTS[self.op]}, {types[0]}>()"
        if self.op == "dot":
            types.append(str(self.length))
        return f"run_{self.op}<{', '.join(types)}>()"

    @property
    def description(self) -> str:
        return f"{self.op} {' '.join(str(f) for f in self.formats)}"


def render_program(cases: Sequence[OracleCase]) -> str:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES),
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                             trim_blocks=True, lstrip_blocks=True)
    return env.get_template("ap_fixed_oracle.cpp.j2").render(cases=cases)


# ----------------------------------------------------------------------- raw bits as words
def _word_count(fmt: FixedFormat) -> int:
    return -(-fmt.width // 64)


def _to_words(raw: np.ndarray, fmt: FixedFormat) -> np.ndarray:
    flat = np.asarray(raw).reshape(-1)
    if raw.dtype.kind != "O":
        return (flat & ((1 << fmt.width) - 1)).astype(np.uint64)
    mask = (1 << 64) - 1
    words = [(int(v) >> (64 * i)) & mask for v in flat for i in range(_word_count(fmt))]
    return np.array(words, dtype=np.uint64)


def _from_words(words: np.ndarray, fmt: FixedFormat) -> np.ndarray:
    count = _word_count(fmt)
    if fmt.storage.kind != "O":
        raw = (words & np.uint64((1 << fmt.width) - 1)).astype(np.int64)
        if fmt.signed:
            raw = np.where(raw > fmt.max_raw, raw - (1 << fmt.width), raw)
        return raw
    values = []
    for start in range(0, len(words), count):
        value = sum(int(w) << (64 * i) for i, w in enumerate(words[start:start + count]))
        if fmt.signed and value > fmt.max_raw:
            value -= 1 << fmt.width
        values.append(value)
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


class _Reader:
    def __init__(self, words: np.ndarray) -> None:
        self.words, self.at = words, 0

    def take(self, count: int) -> np.ndarray:
        if self.at + count > len(self.words):
            raise RuntimeError("ap_fixed oracle wrote less output than its cases need")
        chunk = self.words[self.at:self.at + count]
        self.at += count
        return chunk

    def raw(self, fmt: FixedFormat, count: int) -> np.ndarray:
        return _from_words(self.take(count * _word_count(fmt)), fmt)

    def format(self) -> FixedFormat:
        width, int_bits, signed = (int(w) for w in self.take(3))
        return FixedFormat(width, int_bits - (1 << 64) if int_bits >= 1 << 63 else int_bits,
                           signed=bool(signed))


def _encode(case: OracleCase, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
    a = np.asarray(inputs["a"])
    count = len(a)
    parts = [np.array([count], dtype=np.uint64)]
    if case.op == "from_float":
        parts.append(a.astype(np.float64).view(np.uint64))
    elif case.op == "dot":
        fa, fb = case.formats[:2]
        b = np.asarray(inputs["b"])
        if a.shape != (count, case.length) or b.shape != a.shape:
            raise ValueError(f"dot inputs must be ({count}, {case.length}) arrays")
        for i in range(count):
            parts += [_to_words(a[i], fa), _to_words(b[i], fb)]
    else:
        parts.append(_to_words(a, case.formats[0]))
        if "b" in inputs:
            parts.append(_to_words(np.asarray(inputs["b"]), case.formats[1]))
        if "amount" in inputs:
            parts.append(np.asarray(inputs["amount"], dtype=np.int64).view(np.uint64))
    return parts


def _decode(case: OracleCase, count: int, reader: _Reader) -> dict[str, Any]:
    op, formats = case.op, case.formats
    if op in ("cast", "from_float"):
        return {"raw": reader.raw(formats[-1], count)}
    if op == "to_float":
        return {"value": reader.take(count).view(np.float64)}
    if op in _ARITHMETIC or op == "neg":
        result = reader.format()
        return {"format": result, "raw": reader.raw(result, count)}
    if op == "compare":
        bits = reader.take(count)
        return {name: (bits >> np.uint64(i)) & np.uint64(1) == 1
                for i, name in enumerate(COMPARISONS)}
    if op in _SHIFTS:
        return {"raw": reader.raw(formats[0], count)}
    acc, out = formats[2], formats[3]
    pairs = [(reader.raw(acc, 1), reader.raw(out, 1)) for _ in range(count)]
    return {"acc": np.concatenate([p[0] for p in pairs]) if pairs else np.zeros(0, np.int64),
            "out": np.concatenate([p[1] for p in pairs]) if pairs else np.zeros(0, np.int64)}


def run_oracle(batch: Sequence[tuple[OracleCase, dict[str, np.ndarray]]],
               ) -> list[dict[str, Any]]:
    """Run each ``(case, inputs)`` through ``ap_fixed.h`` and return its outputs.

    Inputs: ``a`` (raw bits, or floats for ``from_float``), ``b`` for two-operand cases,
    ``amount`` (ints) for shifts; ``dot`` takes ``a`` and ``b`` of shape (n, length).
    Outputs: ``raw`` (and the result ``format`` for arithmetic), ``value`` for
    ``to_float``, one bool array per comparison, ``acc``/``out`` for ``dot``.
    """
    program = compile_cxx(render_program([case for case, _ in batch]),
                          name="ap_fixed_oracle", extra_flags=["-O1"])
    stream = np.concatenate([w for case, inputs in batch for w in _encode(case, inputs)])
    with tempfile.TemporaryDirectory() as scratch:
        in_path, out_path = Path(scratch, "in.bin"), Path(scratch, "out.bin")
        stream.tofile(in_path)
        subprocess.run([str(program), str(in_path), str(out_path)], check=True,
                       capture_output=True, timeout=600)
        reader = _Reader(np.fromfile(out_path, dtype=np.uint64))
    results = [_decode(case, len(inputs["a"]), reader) for case, inputs in batch]
    if reader.at != len(reader.words):
        raise RuntimeError("ap_fixed oracle wrote more output than its cases need")
    return results
