"""The model commands: train, eval, info, on bad input too."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
import yaml
from click.testing import CliRunner

from edgemoe.host.flow.cli import main


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


def _write_folder_split(root: Path, count: int, rng) -> None:
    from PIL import Image

    for folder in ("images", "labels", "depths"):
        (root / folder).mkdir(parents=True)
    for i in range(count):
        Image.fromarray(rng.integers(0, 256, (48, 96, 3), dtype=np.uint8)).save(
            root / "images" / f"{i:03}.png")
        Image.fromarray(rng.integers(0, 7, (48, 96), dtype=np.uint8)).save(
            root / "labels" / f"{i:03}.png")
        Image.fromarray(rng.integers(500, 9000, (48, 96), dtype=np.uint16)).save(
            root / "depths" / f"{i:03}.png")


def test_train_quantize_and_export_on_your_own_folders(tmp_path: Path,
                                                       small_document: dict) -> None:
    rng = np.random.default_rng(0)
    data = tmp_path / "data"
    _write_folder_split(data / "train", 6, rng)
    _write_folder_split(data / "val", 4, rng)
    config = tmp_path / "small.yaml"
    small_document["training"]["batch_size"] = 8
    config.write_text(yaml.safe_dump(small_document))
    too_few = CliRunner().invoke(main, ["train", "--config", str(config), "--out",
                                        str(tmp_path / "none"), "--data", str(data)])
    assert too_few.exit_code == 1 and "6 training images are fewer than one batch of 8" \
        in too_few.output
    small_document["training"]["batch_size"] = 3
    config.write_text(yaml.safe_dump(small_document))
    run = tmp_path / "run"
    result = CliRunner().invoke(main, ["train", "--config", str(config), "--out", str(run),
                                       "--data", str(data)])
    assert result.exit_code == 0, result.output

    from edgemoe.model.checkpoint import load_checkpoint
    from edgemoe.model.cli import _splits

    checkpoint = load_checkpoint(run / "checkpoint.pt")
    assert checkpoint.document["training"]["data"] == str(data.resolve())
    train_set, val = _splits(checkpoint)
    assert (len(train_set), len(val)) == (6, 4)  # the folders, resized to the model's input
    assert val.images.shape == (4, 64, 128, 3) and val.images.dtype == torch.uint8
    artifact = tmp_path / "artifact"
    result = CliRunner().invoke(main, ["export", str(run / "checkpoint.pt"), "-o",
                                       str(artifact), "--vectors", "2", "--no-onnx",
                                       "--calibration-images", "4"])
    assert result.exit_code == 0, result.output
    from edgemoe.sim.artifact import Artifact

    assert np.array_equal(Artifact(artifact).vector_images(), val.images[:2].numpy())
    # the report's validation images and calibration come from the same folders
    from edgemoe.model.report.build import FloatModel, ReportOptions, _data

    shown, calibration = _data(checkpoint.config,
                               FloatModel(run, {}, ({}, {}), checkpoint.document["training"]),
                               ReportOptions(images=2, calibration_images=4))
    assert np.array_equal(shown.images.numpy(), val.images.numpy())
    assert np.array_equal(calibration, train_set.images[:4].numpy())
    # a checkpoint whose data folder has gone: one line naming it, nothing written
    (data / "val" / "images").rename(data / "val" / "moved")
    for command in (["export", str(run / "checkpoint.pt"), "-o", str(tmp_path / "again")],
                    ["quantize", str(run / "checkpoint.pt"), "-o", str(tmp_path / "q")],
                    ["eval", str(run / "checkpoint.pt")]):
        result = CliRunner().invoke(main, command)
        assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
        assert result.output.strip().splitlines()[-1].endswith(
            "val has no images/ folder (expected images/, labels/ and depths/)"), result.output
    assert not (tmp_path / "again").exists() and not (tmp_path / "q").exists()
    # without the data, unlabeled images calibrate the export and give its vectors
    from PIL import Image

    from edgemoe.sim.quant import calibrate

    unlabeled = tmp_path / "unlabeled"
    unlabeled.mkdir()
    pictures = val.images.numpy()
    for index, picture in enumerate(pictures):
        Image.fromarray(picture).save(unlabeled / f"{index}.png")
    artifact = tmp_path / "from-images"
    result = CliRunner().invoke(main, ["export", str(run / "checkpoint.pt"), "-o", str(artifact),
                                       "--vectors", "2", "--no-onnx", "--calibration-images",
                                       "3", "--calibration", str(unlabeled)])
    assert result.exit_code == 0, result.output
    loaded = Artifact(artifact)
    assert np.array_equal(loaded.vector_images(), pictures[:2])
    model = checkpoint.build_model()
    from edgemoe.model.hardware_weights import hardware_weights

    assert loaded.manifest.spec == calibrate(model.config, hardware_weights(model),
                                             pictures[:3], "int16",
                                             checkpoint.settings.approximations)
    Image.fromarray(pictures[0][:32]).save(unlabeled / "small.png")
    result = CliRunner().invoke(main, ["export", str(run / "checkpoint.pt"), "-o",
                                       str(tmp_path / "refused"), "--calibration",
                                       str(unlabeled)])
    assert result.exit_code == 1 and "small.png is 128x32" in result.output, result.output
    assert not (tmp_path / "refused").exists()


def test_train_refuses_a_data_folder_without_its_splits(tmp_path: Path,
                                                        small_document: dict) -> None:
    config = tmp_path / "small.yaml"
    config.write_text(yaml.safe_dump(small_document))
    (tmp_path / "data").mkdir()
    result = CliRunner().invoke(main, ["train", "--config", str(config), "--out",
                                       str(tmp_path / "run"), "--data", str(tmp_path / "data")])
    assert result.exit_code == 1 and "has no images/ folder" in result.output
    assert not (tmp_path / "run" / "checkpoint.pt").exists()
