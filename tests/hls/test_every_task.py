"""Every M3ViT task through the whole flow: a tiny config with NYUD-v2's four tasks
(segmentation, depth, surface normals, edges) and one with PASCAL-Context's five trains on
the synthetic scenes, exports, and runs bit-exact in csim and on the emulated board, each
task through its own gate."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from edgemoe.host.flow.cli import main

NYUD = ["segmentation", "depth", "normals", "edges"]
PASCAL = ["segmentation", "human_parts", "saliency", "normals", "edges"]


@pytest.mark.parametrize("tasks", [NYUD, PASCAL], ids=["nyud", "pascal"])
def test_a_config_of_these_tasks_trains_exports_and_runs_bit_exact(
        small_document: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        tasks: list[str]) -> None:
    monkeypatch.chdir(tmp_path)
    document = copy.deepcopy(small_document)
    document["model"]["tasks"] = tasks
    Path("tasks.yaml").write_text(yaml.safe_dump(document))

    def invoke(*arguments: str) -> str:
        result = CliRunner().invoke(main, list(arguments))
        assert result.exit_code == 0, result.output
        return result.output

    trained = invoke("train", "--config", "tasks.yaml", "--out", "run")
    metrics = json.loads(Path("run/metrics.json").read_text())
    assert list(metrics) == tasks
    names = {"normals": "mean_angle", "edges": "ods_f", "saliency": "max_f",
             "human_parts": "miou", "segmentation": "miou", "depth": "rmse"}
    for task in tasks:
        assert names[task] in metrics[task]["model"] and task in trained
    invoke("export", "run/checkpoint.pt", "-o", "artifact", "--vectors", "2",
           "--calibration-images", "8")
    csim = invoke("hls", "csim", "artifact", "-o", "hls")  # exits 1 unless all equal
    assert "tokens equal" in csim
    board = invoke("run", "artifact", "--emulate", "sim", "--validate", "2", "-o", "out")
    runs = 2 * len(tasks)
    assert f"validation: {runs} of {runs} runs bit-exact" in board
    record = json.loads(Path("out/run.json").read_text())["validation"]
    assert all(c["passed"] for c in record["checks"]), record["checks"]
    assert {c["task"] for c in record["checks"]} == set(tasks)
