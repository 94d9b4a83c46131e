"""The model commands: train, eval, info, on bad input too."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from click.testing import CliRunner

from edgemoe.host.cli import main


def test_info_builds_m3vit_s_and_prints_its_size() -> None:
    result = CliRunner().invoke(main, ["info", "--config", "m3vit-s"])
    assert result.exit_code == 0, result.output
    assert "129 tokens, dim 192, 3 heads, 12 layers" in result.output
    assert "parameters: 18,139,592" in result.output
    assert "segmentation: output (1, 7, 128, 256)" in result.output
    assert "depth: output (1, 1, 128, 256)" in result.output


def test_train_from_a_config_file_then_refuse_to_overwrite(tmp_path: Path,
                                                            small_document: dict) -> None:
    config = tmp_path / "small.yaml"
    config.write_text(yaml.safe_dump(small_document))
    run = tmp_path / "run"
    first = CliRunner().invoke(main, ["train", "--config", str(config), "--out", str(run)])
    assert first.exit_code == 0, first.output
    assert "segmentation" in first.output and "positional_prior" in first.output
    metrics = json.loads((run / "metrics.json").read_text())
    assert set(metrics) == {"segmentation", "depth"}
    assert metrics["depth"]["model"] == metrics["depth"]["single_task_path"]
    again = CliRunner().invoke(main, ["train", "--config", str(config), "--out", str(run)])
    assert again.exit_code == 1 and "exists; pass --resume" in again.output


def test_unknown_config_and_missing_checkpoint_are_clear_errors(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["train", "--config", "huge", "--out", str(tmp_path)])
    assert result.exit_code == 1 and "no config named 'huge'" in result.output
    result = CliRunner().invoke(main, ["eval", str(tmp_path / "nothing.pt")])
    assert result.exit_code == 1 and "no checkpoint at" in result.output
