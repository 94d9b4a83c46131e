"""Bit-exactness records: what the stages write and the report reads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edgemoe.sim.bitexact_record import (
    SCHEMA,
    BitExactRecordError,
    FirstMismatch,
    load_bitexact_results,
    record_bitexact,
)


def test_record_round_trips_through_its_json(tmp_path: Path) -> None:
    """A recorded mismatch reads back as written, in a file named after its stage."""
    mismatch = FirstMismatch("depth image 1 blocks.0.q", (3, 5), 12, 13)
    path = record_bitexact(tmp_path, "emulated board (csim)", compared_against="simulator",
                           compared={"images": 2, "tokens": 66}, equal=False,
                           first_mismatch=mismatch, command=["edgemoe", "run", "a"])
    assert path.name == "bitexact-emulated-board-csim.json"
    data = json.loads(path.read_text())
    assert data["schema"] == SCHEMA and data["first_mismatch"]["index"] == [3, 5], data
    [result] = load_bitexact_results(tmp_path)
    assert result.first_mismatch == mismatch and result.command == "edgemoe run a"
    assert str(mismatch) == "depth image 1 blocks.0.q at index [3, 5]: expected 12, got 13"


def test_record_refuses_a_verdict_without_its_mismatch(tmp_path: Path) -> None:
    """equal=False needs a first mismatch, equal=True must not have one."""
    with pytest.raises(BitExactRecordError, match="first mismatch exactly"):
        record_bitexact(tmp_path, "csim", compared_against="simulator", compared={"images": 1},
                        equal=False)
    with pytest.raises(BitExactRecordError, match="first mismatch exactly"):
        record_bitexact(tmp_path, "csim", compared_against="simulator", compared={"images": 1},
                        equal=True, first_mismatch=FirstMismatch("tokens"))
    assert load_bitexact_results(tmp_path) == []


def test_load_names_a_file_of_another_schema(tmp_path: Path) -> None:
    """A record without the schema tag is refused by its path."""
    (tmp_path / "bitexact-csim.json").write_text(json.dumps({"stage": "csim"}))
    with pytest.raises(BitExactRecordError, match=r"bitexact-csim\.json: schema None"):
        load_bitexact_results(tmp_path)
