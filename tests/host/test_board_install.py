"""The board's install, as a user of the bundle makes it: a fresh virtual environment, then
the three commands of the bundle's README, run as written: its wheel with ``[board,notebook]``
(numpy, pynq and nbconvert, no torch), ``edgemoe run`` on the emulated board, and every cell
of the notebook. Commands that need more name the extra that installs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgemoe.host.flow.cli import main

# One worker builds the fresh venv every test here uses (pytest -n).
pytestmark = pytest.mark.xdist_group("board-install")


def _run(command: list[str], cwd: Path, bin_dir: Path | None = None,
         ) -> subprocess.CompletedProcess:
    """``command`` with ``bin_dir`` (a venv's tools) first on PATH; the rest of the
    environment (the package index settings) kept."""
    path = os.environ["PATH"] if bin_dir is None else f"{bin_dir}{os.pathsep}{os.environ['PATH']}"
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=900,
                          env={**os.environ, "PATH": path})


def _readme_commands(bundle: Path) -> list[str]:
    readme = (bundle / "README.md").read_text()
    return readme.split("```\n")[1].strip().splitlines()


def _shell(command: str, bin_dir: Path, cwd: Path) -> subprocess.CompletedProcess:
    return _run(["/bin/sh", "-c", command], cwd, bin_dir)


@pytest.fixture(scope="module")
def board(tiny_artifact: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(the bundle, the venv's bin folder) after the README's install command."""
    root = tmp_path_factory.mktemp("board")
    bundle = root / "bundle"
    result = CliRunner().invoke(main, ["bundle", str(tiny_artifact), "-o", str(bundle)])
    assert result.exit_code == 0, result.output
    done = _run([sys.executable, "-m", "venv", str(root / "venv")], root)
    assert done.returncode == 0, done.stderr
    bin_dir = root / "venv" / "bin"
    install = _readme_commands(bundle)[0]
    assert install.startswith("pip install './edgemoe-")
    done = _shell(install, bin_dir, bundle)
    assert done.returncode == 0, done.stderr[-3000:]
    return bundle, bin_dir


def test_the_readme_runs_on_an_install_without_torch(board: tuple[Path, Path]) -> None:
    bundle, bin_dir = board
    done = _run([str(bin_dir / "python"), "-c",
                 "import importlib.util as u; print([m for m in ('torch', 'onnx', 'hls4ml', "
                 "'cocotb') if u.find_spec(m)])"], bundle, bin_dir)
    assert done.stdout.strip() == "[]", done.stderr
    _, run, notebook = _readme_commands(bundle)
    assert run == "edgemoe run artifact --emulate sim --validate 2"
    done = _shell(run, bin_dir, bundle)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "validation: 4 of 4 runs bit-exact over 2 images x 2 tasks" in done.stdout
    done = _shell(notebook, bin_dir, bundle)
    assert done.returncode == 0, done.stderr[-3000:]
    executed = json.loads((bundle / "notebooks" / "edgemoe.nbconvert.ipynb").read_text())
    outputs = [output for cell in executed["cells"] if cell["cell_type"] == "code"
               for output in cell["outputs"]]
    assert not [o for o in outputs if o["output_type"] == "error"]
    assert not [o for o in outputs if o.get("name") == "stderr"], outputs
    text = "".join("".join(o.get("text", "")) for o in outputs if o["output_type"] == "stream")
    assert "tiny on an emulated board: tasks segmentation, depth" in text
    assert "ms per image in the kernel" in text and "energy per image" in text
    assert "4 of 4 runs bit-exact" in text
    assert any("image/png" in o.get("data", {}) for o in outputs)  # the predictions


@pytest.mark.parametrize(("command", "extra"), [
    (["export", "x"], "model"), (["report", "x"], "model"), (["train"], "model"),
    (["hls", "generate", "x"], "hls"), (["rtl", "test"], "rtl"), (["rtl", "lint"], "rtl"),
    (["demo"], "model")])
def test_commands_beyond_the_board_name_their_extra(board: tuple[Path, Path],
                                                    command: list[str], extra: str) -> None:
    bundle, bin_dir = board
    done = _run([str(bin_dir / "edgemoe"), *command], bundle, bin_dir)
    assert done.returncode != 0
    assert done.stderr.strip().splitlines() == [
        done.stderr.strip()]  # one line, no traceback
    assert f"pip install 'edgemoe[{extra}]'" in done.stderr
