"""atomic_path: the old file or the new one, never a part; nothing left behind."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgemoe.sim.atomic import atomic_path


def test_success_replaces_the_target(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "out.txt"
    with atomic_path(target) as scratch:
        scratch.write_text("new")
        assert not target.exists()
    assert target.read_text() == "new" and list(target.parent.iterdir()) == [target]


def test_failure_keeps_the_old_file_and_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as scratch:
        scratch.write_text("half")
        raise RuntimeError("interrupted")
    assert target.read_text() == "old" and list(tmp_path.iterdir()) == [target]
