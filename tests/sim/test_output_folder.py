"""Output folders: a tool replaces what it wrote and nothing else, refuses what is not its
to write, and leaves nothing half done behind, even when killed or run twice at once."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from edgemoe.sim.output_folder import MARKER, OutputError, output_folder


def _write(tool: str, target: Path, files: dict[str, str]) -> None:
    with output_folder(target, tool) as scratch:
        for name, text in files.items():
            (scratch / name).parent.mkdir(parents=True, exist_ok=True)
            (scratch / name).write_text(text)


def test_a_rerun_replaces_its_own_files_and_keeps_everything_else(tmp_path: Path) -> None:
    target = tmp_path / "project"
    _write("generate", target, {"a.cpp": "1", "src/old.cpp": "old"})
    (target / "hls_project").mkdir()
    (target / "hls_project" / "solution1.log").write_text("hours of synthesis")
    (target / "notes.txt").write_text("mine")
    _write("report", target, {"index.html": "report"})
    _write("generate", target, {"a.cpp": "2", "b.cpp": "new"})
    assert (target / "a.cpp").read_text() == "2" and (target / "b.cpp").read_text() == "new"
    assert not (target / "src").exists()  # written last time, not this time: removed
    assert (target / "hls_project" / "solution1.log").read_text() == "hours of synthesis"
    assert (target / "notes.txt").read_text() == "mine"
    assert (target / "index.html").read_text() == "report"  # another tool's
    marker = json.loads((target / MARKER).read_text())["files"]
    assert {tool: sorted(files) for tool, files in marker.items()} == {
        "generate": ["a.cpp", "b.cpp"], "report": ["index.html"]}


def test_a_foreign_folder_is_refused_by_name_unless_forced(tmp_path: Path) -> None:
    target = tmp_path / "thesis"
    (target / "notes").mkdir(parents=True)
    (target / "notes" / "thesis.txt").write_text("chapter 1")
    with pytest.raises(OutputError, match=r"thesis exists and holds files edgemoe did not "
                                          r"write \(notes\); choose another folder, or "
                                          r"empty it first"):
        _write("generate", target, {"a.cpp": "1"})
    assert (target / "notes" / "thesis.txt").read_text() == "chapter 1"
    with output_folder(target, "generate", force=True) as scratch:
        (scratch / "a.cpp").write_text("1")
    assert sorted(p.name for p in target.iterdir()) == [MARKER, "a.cpp"]


def test_a_file_as_the_target_and_a_file_in_the_way_are_refused(tmp_path: Path) -> None:
    afile = tmp_path / "out"
    afile.write_text("a user's file")
    with pytest.raises(OutputError, match="is a file; give a folder"):
        _write("generate", afile, {"a.cpp": "1"})
    assert afile.read_text() == "a user's file"
    target = tmp_path / "project"
    _write("generate", target, {"a.cpp": "1"})
    (target / "b.cpp").write_text("the user's b")
    with pytest.raises(OutputError, match=r"b\.cpp is in the way and edgemoe did not write"):
        _write("generate", target, {"a.cpp": "2", "b.cpp": "ours"})
    assert (target / "a.cpp").read_text() == "1" and (target / "b.cpp").read_text() == (
        "the user's b")


def test_removal_never_follows_a_link_or_trusts_the_marker_alone(tmp_path: Path) -> None:
    """A generated folder replaced by a link, or a marker listing a user's file: the files
    behind them survive the next run."""
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "a.txt").write_text("keep")
    target = tmp_path / "project"
    _write("generate", target, {"sub/a.txt": "generated", "b.cpp": "1"})
    shutil.rmtree(target / "sub")
    (target / "sub").symlink_to(precious)
    (target / "notes.txt").write_text("the user's")
    marker = json.loads((target / MARKER).read_text())
    marker["files"]["generate"]["notes.txt"] = marker["files"]["generate"]["b.cpp"]
    (target / MARKER).write_text(json.dumps(marker))
    _write("generate", target, {"b.cpp": "2"})
    assert (precious / "a.txt").read_text() == "keep"
    assert (target / "notes.txt").read_text() == "the user's"


def test_an_edited_generated_file_is_kept_aside_or_kept(tmp_path: Path, caplog) -> None:
    """Generated again: the edit moves aside as NAME.edited; no longer generated: the
    edited file stays; another tool's edited file is not taken over."""
    target = tmp_path / "project"
    _write("generate", target, {"config.hpp": "generated", "old.cpp": "generated"})
    (target / "config.hpp").write_text("tuned by hand")
    (target / "old.cpp").write_text("edited")
    _write("generate", target, {"config.hpp": "regenerated"})
    assert (target / "config.hpp").read_text() == "regenerated"
    assert (target / "config.hpp.edited").read_text() == "tuned by hand"
    assert "config.hpp was edited since edgemoe wrote it" in caplog.text
    assert (target / "old.cpp").read_text() == "edited"
    with pytest.raises(OutputError, match=r"config\.hpp changed since edgemoe wrote it"):
        (target / "config.hpp").write_text("tuned again")
        _write("report", target, {"config.hpp": "the report's"})


def test_a_tool_may_take_over_another_tools_file_and_keeps_it(tmp_path: Path) -> None:
    target = tmp_path / "reports"
    _write("quantize", target, {"quantization.json": "from quantize", "q.png": "plot"})
    _write("report", target, {"quantization.json": "from report", "index.html": "page"})
    _write("quantize", target, {"q.png": "plot 2"})  # no quantization.json this time
    assert (target / "quantization.json").read_text() == "from report"
    assert (target / "q.png").read_text() == "plot 2"


def test_a_failure_leaves_the_target_as_it_was_and_no_scratch(tmp_path: Path) -> None:
    target = tmp_path / "project"
    _write("generate", target, {"a.cpp": "1"})
    with pytest.raises(RuntimeError, match="disk full"), \
            output_folder(target, "generate") as scratch:
        (scratch / "a.cpp").write_text("half")
        raise RuntimeError("disk full")
    assert (target / "a.cpp").read_text() == "1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["project"]


def test_a_killed_run_leaves_scratch_the_next_run_removes(tmp_path: Path) -> None:
    target = tmp_path / "project"
    child = subprocess.Popen([sys.executable, "-c",
                              "import sys, time; from edgemoe.sim.output_folder import "
                              "output_folder\n"
                              "with output_folder(sys.argv[1], 'generate') as s:\n"
                              "    (s / 'a.cpp').write_text('half'); print('ready', flush=True)"
                              "; time.sleep(60)", str(target)],
                             stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "ready"
    child.send_signal(signal.SIGKILL)
    child.wait()
    leftovers = [p for p in tmp_path.iterdir() if p.name != "project"]
    assert leftovers, "the killed run should have left its scratch folder"
    _write("generate", target, {"a.cpp": "whole"})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["project"]
    assert (target / "a.cpp").read_text() == "whole"


REPLACE_MANY = """
import sys
from edgemoe.sim.output_folder import output_folder
tool, tag = sys.argv[2], sys.argv[3]
for index in range(15):
    with output_folder(sys.argv[1], tool) as scratch:
        (scratch / f"{tool}.txt").write_text(f"{tag} {index}")
        (scratch / "shared").mkdir()
        (scratch / "shared" / f"{tag}-{index % 3}.txt").write_text(tag)
"""


def test_concurrent_replacements_of_one_target_never_raise(tmp_path: Path) -> None:
    """Two runs of one tool and a run of another, at once, each changing its file set
    every time: none fails, and the folder ends as the last runs left it."""
    target = tmp_path / "project"
    workers = [subprocess.Popen([sys.executable, "-c", REPLACE_MANY, str(target), tool, tag],
                                stderr=subprocess.PIPE, text=True)
               for tool, tag in (("generate", "first"), ("generate", "second"),
                                 ("report", "third"))]
    errors = [worker.communicate(timeout=120)[1] for worker in workers]
    assert [w.returncode for w in workers] == [0, 0, 0], errors
    assert (target / "generate.txt").read_text().split()[1] == "14"
    assert (target / "report.txt").read_text() == "third 14"
    marker = json.loads((target / MARKER).read_text())["files"]
    assert set(marker["report"]) == {"report.txt", "shared/third-2.txt"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["project"]


def test_scratch_of_a_live_process_is_left_alone(tmp_path: Path) -> None:
    busy = tmp_path / f".project.edgemoe-scratch-{os.getpid()}-0000"
    busy.mkdir()
    _write("generate", tmp_path / "project", {"a.cpp": "1"})
    assert busy.is_dir()
