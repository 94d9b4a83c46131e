"""`edgemoe run` and `edgemoe board-info` on the emulated board: every image bit-exact for
every task with both backends, no weight reload on task switches, and clear errors that
leave no report behind."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from edgemoe.host.flow.cli import main


@pytest.fixture(autouse=True)
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # emulated designs go to build/, reports to reports/


def invoke(*arguments: str):
    return CliRunner().invoke(main, [str(a) for a in arguments])


@pytest.mark.parametrize("backend", ["sim", "csim"])
def test_validate_is_bit_exact_on_every_task_without_reloads(tiny_artifact, backend) -> None:
    result = invoke("run", tiny_artifact, "--emulate", backend, "--validate", 4, "-o", "out")
    assert result.exit_code == 0, result.output
    assert ("validation: 8 of 8 runs bit-exact over 4 images x 2 tasks; 8 of 8 equal their "
            "golden vectors; 0 outside the bounds (label agreement >= 90%, depth error <= "
            "5.0%, normals within 5 degrees, probabilities within 0.05); weight reloads on task "
            "switches: 0") in result.output
    assert "label agreement against float" in result.output
    assert "depth error against float" in result.output
    record = json.loads(Path("out/run.json").read_text())["validation"]
    assert (record["bit_exact"], record["weight_reloads"]) == (8, 0)
    assert all(c["golden"] and c["passed"] for c in record["checks"])
    assert [(c["image"], c["task"]) for c in record["checks"][:3]] == [
        (0, "segmentation"), (0, "depth"), (1, "segmentation")]  # the task switches each run


def test_run_writes_predictions_and_measure_a_table(tiny_artifact) -> None:
    result = invoke("run", tiny_artifact, "--emulate", "sim", "--task", "segmentation",
                    "-o", "out")
    assert result.exit_code == 0, result.output
    with np.load("out/predictions.npz") as predictions:
        assert predictions["segmentation"].shape == (4, 64, 128)
        assert "depth" not in predictions
    assert Path("out/predictions.png").stat().st_size > 0
    result = invoke("run", tiny_artifact, "--emulate", "sim", "--measure", "--runs", 4,
                    "--batch", 2, "-o", "out")
    assert result.exit_code == 0, result.output
    assert "kernel after task switch" in result.output
    measurement = json.loads(Path("out/run.json").read_text())["measurement"]
    assert measurement["weight_loads"] == 1 and measurement["batch_images"] == 2


def _wrong_size_folder() -> Path:
    folder = Path("pictures")
    folder.mkdir()
    Image.new("RGB", (64, 64)).save(folder / "square.png")
    return folder


@pytest.mark.parametrize(("arguments", "message"), [
    (["--emulate", "sim", "--task", "classification"], "unknown task 'classification'"),
    (["--emulate", "sim", "--validate", 5], "--validate 5 but only 4 images"),
    (["--bitstream", "missing.bit"], "no bitstream at missing.bit"),
    (["--emulate", "sim", "--images", "pictures"], "square.png is 64x64"),
    (["--emulate", "gpu"], "'gpu' is not one of 'csim', 'sim'"),
    ([], "give exactly one of --bitstream and --emulate"),
    *[(["--emulate", "sim", "--timeout", value], "must be a finite number of seconds above 0")
      for value in ("nan", "inf", "0", "-1")],
    (["--emulate", "sim", "--task", "depth", "--task", "depth"], "depth given more than once"),
    (["--emulate", "sim", "--batch", "0"], "0 is not in the range"),
    (["--emulate", "sim", "--bitstream", "x.bit"], "give exactly one of"),
])
def test_bad_input_is_an_error_that_writes_nothing(tiny_artifact, arguments, message) -> None:
    _wrong_size_folder()
    result = invoke("run", tiny_artifact, *arguments, "-o", "out")
    assert result.exit_code != 0 and message in result.output, result.output
    assert not Path("out").exists()


def test_a_corrupt_artifact_is_named(tiny_artifact, tmp_path) -> None:
    result = invoke("run", tmp_path / "nowhere", "--emulate", "sim")
    assert result.exit_code == 1 and "nowhere" in result.output


def test_board_info_lists_the_kernel_registers(tiny_artifact) -> None:
    result = invoke("board-info", "--emulate", tiny_artifact)
    assert result.exit_code == 0, result.output
    assert "edgemoe.org:hls:edgemoe_top:1.0 at 0xa0000000" in result.output
    assert "driver EdgeMoEKernel" in result.output
    assert "0x0010  weights_1" in result.output and "0x0014  weights_2" in result.output
    assert "register map matches" in result.output
    assert "power rails: none" in result.output
