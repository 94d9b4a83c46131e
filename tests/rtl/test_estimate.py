"""yosys resource estimates: a unit maps to few DSPs and no 2^16-word ROM; the naive full
table it replaces needs block RAM."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from edgemoe.hls.rtl.estimate import estimate, table


@pytest.mark.skipif(shutil.which("yosys") is None, reason="yosys not installed")
def test_gelu_unit_beside_its_full_table(rtl_dir: Path, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    # a folder given relative to where the user stands (yosys runs in its own folder)
    monkeypatch.chdir(rtl_dir.parent)
    relative = Path(rtl_dir.name)
    rows = {r.module: r for r in estimate(relative, tmp_path / "resources.json",
                                          units=("gelu_unit",),
                                          references=("gelu_full_table",))}
    unit, naive = rows["gelu_unit"], rows["gelu_full_table"]
    assert 1 <= unit.dsp <= 2 and unit.bram36 <= 1
    assert naive.bram36 >= 16  # 2^16 x 16 bits
    assert (tmp_path / "resources.json").is_file()
    assert "gelu_full_table" in table(list(rows.values()))
