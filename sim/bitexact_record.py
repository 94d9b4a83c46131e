"""Bit-exactness results as small JSON files, one per stage, for the report to gather.

Each stage of the flow that compares its integers with the simulator (C simulation, the
RTL units under cocotb, the emulated or real board) records its outcome with
``record_bitexact`` into a results folder (``reports/NAME/results/`` by default);
``edgemoe report`` reads them back with ``load_bitexact_results``. numpy-free and
torch-free, so it runs on the board too.

Stage names the report knows (any other is listed too): ``csim``, ``rtl units``,
``rtl cosim``, ``emulated board (sim)``, ``emulated board (csim)``, ``board``. A stage
``NAME (...)`` counts as ``NAME`` for the report's "not run" rows.

Schema ``edgemoe.bitexact/1``, one file ``bitexact-<stage>.json`` per stage::

    {
      "schema": "edgemoe.bitexact/1",
      "stage": "csim",                      # what produced the integers
      "compared_against": "simulator",      # the reference they were compared with
      "compared": {"images": 8, "tokens": 528},   # what was compared, counted by kind
      "equal": false,                       # every compared value equal
      "first_mismatch": {                   # null when equal
        "where": "segmentation image 0 blocks.0.q",
        "index": [3, 5], "expected": 12, "got": 13       # each may be null
      },
      "command": "edgemoe hls csim artifacts/tiny",      # how to reproduce; may be null
      "recorded": "2025-01-31T12:00:00+00:00"            # UTC, ISO 8601
    }
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .output_folder import output_folder

SCHEMA = "edgemoe.bitexact/1"
PREFIX = "bitexact-"


class BitExactRecordError(ValueError):
    """A bit-exactness record that does not follow the schema."""


@dataclass(frozen=True)
class FirstMismatch:
    """Where a stage first differed from its reference: a place, and the raw integers."""

    where: str
    index: tuple[int, ...] | None = None
    expected: int | None = None
    got: int | None = None

    def __str__(self) -> str:
        text = self.where
        if self.index is not None:
            text += f" at index {list(self.index)}"
        if self.expected is not None or self.got is not None:
            text += f": expected {self.expected}, got {self.got}"
        return text


@dataclass(frozen=True)
class BitExactResult:
    stage: str
    compared_against: str
    compared: dict[str, int]
    equal: bool
    first_mismatch: FirstMismatch | None = None
    command: str | None = None
    recorded: str | None = None

    def __post_init__(self) -> None:
        if not self.stage or not self.compared_against:
            raise BitExactRecordError("a bit-exactness record needs a stage and what it was "
                                      "compared against")
        if any(not isinstance(n, int) or n < 0 for n in self.compared.values()):
            raise BitExactRecordError(f"{self.stage}: counts compared must be integers >= 0, "
                                      f"got {self.compared}")
        if self.equal == (self.first_mismatch is not None):
            raise BitExactRecordError(f"{self.stage}: equal={self.equal} but first_mismatch is "
                                      f"{self.first_mismatch}; give a first mismatch exactly "
                                      "when the stage is not equal")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        if self.first_mismatch is not None and self.first_mismatch.index is not None:
            data["first_mismatch"]["index"] = list(self.first_mismatch.index)
        return {"schema": SCHEMA, **data}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "record") -> BitExactResult:
        if data.get("schema") != SCHEMA:
            raise BitExactRecordError(f"{source}: schema {data.get('schema')!r}, expected "
                                      f"{SCHEMA!r}")
        try:
            mismatch = data.get("first_mismatch")
            if mismatch is not None:
                index = mismatch.get("index")
                mismatch = FirstMismatch(str(mismatch["where"]),
                                         None if index is None else tuple(int(i) for i in index),
                                         mismatch.get("expected"), mismatch.get("got"))
            return cls(str(data["stage"]), str(data["compared_against"]),
                       dict(data["compared"]), bool(data["equal"]), mismatch,
                       data.get("command"), data.get("recorded"))
        except (KeyError, TypeError, AttributeError) as err:
            raise BitExactRecordError(f"{source}: incomplete record ({err})") from None


def _file_name(stage: str) -> str:
    return PREFIX + re.sub(r"[^a-z0-9]+", "-", stage.lower()).strip("-") + ".json"


def record_bitexact(results_dir: str | Path, stage: str, *, compared_against: str,
                    compared: Mapping[str, int], equal: bool,
                    first_mismatch: FirstMismatch | None = None,
                    command: str | Sequence[str] | None = None) -> Path:
    """Write one stage's outcome as ``RESULTS_DIR/bitexact-<stage>.json`` (atomically,
    replacing that stage's previous record) and return the file's path.

    ``compared`` counts what was compared by kind (``{"images": 4, "tokens": 264}``,
    ``{"inputs": 65536}``); ``first_mismatch`` is given exactly when ``equal`` is False.
    """
    if command is not None and not isinstance(command, str):
        command = " ".join(command)
    result = BitExactResult(stage, compared_against, dict(compared), equal, first_mismatch,
                            command, datetime.now(timezone.utc).isoformat(timespec="seconds"))
    with output_folder(results_dir, f"record {stage}") as folder:
        (folder / _file_name(stage)).write_text(json.dumps(result.to_dict(), indent=2) + "\n")
    return Path(results_dir) / _file_name(stage)


def load_bitexact_results(results_dir: str | Path) -> list[BitExactResult]:
    """Every record in ``results_dir`` (none if it does not exist), by stage name."""
    folder = Path(results_dir)
    if not folder.is_dir():
        return []
    results = []
    for path in sorted(folder.glob(PREFIX + "*.json")):
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as err:
            raise BitExactRecordError(f"{path} is not valid JSON: {err}") from None
        results.append(BitExactResult.from_dict(data, str(path)))
    return results
