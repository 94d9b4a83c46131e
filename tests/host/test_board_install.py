"""The board's install, as a PYNQ user makes it: a fresh virtual environment, the bundle's
wheel with ``[board]`` (numpy and pynq, no torch), then the bundle's README commands and
every cell of its notebook on the emulated board. Commands that need more name the extra."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgemoe.host.flow.cli import main

EXECUTE_NOTEBOOK = textwrap.dedent("""
    import json, sys
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read("edgemoe.ipynb", as_version=4)
    NotebookClient(notebook, timeout=600, resources={"metadata": {"path": "."}}).execute()
    outputs = [output for cell in notebook.cells if cell.cell_type == "code"
               for output in cell.outputs]
    json.dump(outputs, sys.stdout)
""")


def _run(command: list[str], cwd: Path) -> subprocess.CompletedProcess:
    # the venv's own tools first; the rest of the environment (package index settings) kept
    env = {**os.environ, "PATH": f"{Path(command[0]).parent}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=900,
                          env=env)


@pytest.fixture(scope="module")
def board(tiny_artifact: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(the bundle, the venv's bin folder) with edgemoe[board,notebook] from the bundle."""
    root = tmp_path_factory.mktemp("board")
    bundle = root / "bundle"
    result = CliRunner().invoke(main, ["bundle", str(tiny_artifact), "-o", str(bundle)])
    assert result.exit_code == 0, result.output
    done = _run([sys.executable, "-m", "venv", str(root / "venv")], root)
    assert done.returncode == 0, done.stderr
    bin_dir = root / "venv" / "bin"
    wheel = next(bundle.glob("edgemoe-*.whl"))
    done = _run([str(bin_dir / "python"), "-m", "pip", "install", "--quiet",
                 f"{wheel}[board,notebook]"], root)
    assert done.returncode == 0, done.stderr[-3000:]
    return bundle, bin_dir


def test_the_board_install_has_no_torch_and_runs_the_readme(board: tuple[Path, Path],
                                                            tmp_path: Path) -> None:
    bundle, bin_dir = board
    done = _run([str(bin_dir / "python"), "-c",
                 "import importlib.util as u; print([m for m in ('torch', 'onnx', 'hls4ml', "
                 "'cocotb') if u.find_spec(m)])"], bundle)
    assert done.stdout.strip() == "[]", done.stderr
    done = _run([str(bin_dir / "edgemoe"), "run", "artifact", "--emulate", "sim", "--validate",
                 "2", "-o", str(tmp_path / "report")], bundle)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "validation: 4 of 4 runs bit-exact over 2 images x 2 tasks" in done.stdout


@pytest.mark.parametrize(("command", "extra"), [
    (["export", "x"], "model"), (["report", "x"], "model"), (["train"], "model"),
    (["hls", "generate", "x"], "hls"), (["rtl", "test"], "rtl"), (["demo"], "model")])
def test_commands_beyond_the_board_name_their_extra(board: tuple[Path, Path],
                                                    command: list[str], extra: str) -> None:
    bundle, bin_dir = board
    done = _run([str(bin_dir / "edgemoe"), *command], bundle)
    assert done.returncode != 0
    assert done.stderr.strip().splitlines() == [
        done.stderr.strip()]  # one line, no traceback
    assert f"pip install 'edgemoe[{extra}]'" in done.stderr


def test_every_cell_of_the_notebook_runs_on_the_emulated_board(
        board: tuple[Path, Path]) -> None:
    bundle, bin_dir = board
    done = _run([str(bin_dir / "python"), "-c", EXECUTE_NOTEBOOK], bundle / "notebooks")
    assert done.returncode == 0, done.stderr[-3000:]
    outputs = json.loads(done.stdout)
    assert not [o for o in outputs if o["output_type"] == "error"]
    assert not [o for o in outputs if o.get("name") == "stderr"], outputs
    text = "".join(o.get("text", "") for o in outputs if o["output_type"] == "stream")
    assert "tiny on an emulated board: tasks segmentation, depth" in text
    assert "ms per image in the kernel" in text and "energy per image" in text
    assert "4 of 4 runs bit-exact" in text
    assert any("image/png" in o.get("data", {}) for o in outputs)  # the predictions
