"""Training, checkpoints and their failure modes: nothing overwritten, clear errors."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest
import torch
import yaml

from edgemoe.model.checkpoint import CheckpointError, load_checkpoint
from edgemoe.model.m3vit import Routing
from edgemoe.model.train import (
    balance_loss,
    build_datasets,
    class_weights,
    train,
)
from edgemoe.model.train_config import TrainConfig
from edgemoe.sim.config import ConfigError
from edgemoe.sim.config_file import load_config_file, load_model_config


def test_a_run_saves_checkpoint_and_config_together(tiny_run: Path) -> None:
    checkpoint = load_checkpoint(tiny_run / "checkpoint.pt", expected=load_model_config("tiny"))
    assert checkpoint.training_state["epoch"] == 1
    assert set(checkpoint.training_state["history"][0]) >= {"segmentation", "depth", "balance"}
    assert yaml.safe_load((tiny_run / "config.yaml").read_text()) == checkpoint.document
    assert not list(tiny_run.glob("*.part"))


def test_resume_continues_where_the_run_stopped(tiny_run: Path, tmp_path: Path,
                                                small_document: dict) -> None:
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    train(small_document, run, resume=True, epochs=2, progress=False)
    state = load_checkpoint(run / "checkpoint.pt").training_state
    assert [h["epoch"] for h in state["history"]] == [1, 2]


def test_an_existing_run_is_not_overwritten(tiny_run: Path, small_document: dict) -> None:
    before = (tiny_run / "checkpoint.pt").read_bytes()
    with pytest.raises(CheckpointError, match="exists; pass --resume"):
        train(small_document, tiny_run, progress=False)
    assert (tiny_run / "checkpoint.pt").read_bytes() == before


def test_resuming_with_another_config_is_refused(tiny_run: Path, tmp_path: Path,
                                                 small_document: dict) -> None:
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    document = small_document
    document["model"]["dim"] = 96
    with pytest.raises(CheckpointError, match="dim: checkpoint 64, expected 96"):
        train(document, run, resume=True, progress=False)


@pytest.mark.parametrize("keep", [5000, 0])
def test_a_truncated_or_empty_checkpoint_is_named_as_such(tiny_run: Path, tmp_path: Path,
                                                         keep: int) -> None:
    damaged = tmp_path / "checkpoint.pt"
    damaged.write_bytes((tiny_run / "checkpoint.pt").read_bytes()[:keep])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_checkpoint(damaged)


def test_a_checkpoint_with_a_hostile_config_is_refused(tiny_run: Path, tmp_path: Path) -> None:
    payload = torch.load(tiny_run / "checkpoint.pt", weights_only=True)
    payload["config"]["accelerator"] = {"attention_parallel": 1000}
    torch.save(payload, tmp_path / "checkpoint.pt")
    with pytest.raises(CheckpointError, match=r"its config\): accelerator: accelerator: "
                                              r"attention_parallel must be an integer from 1 "
                                              r"to 256"):
        load_checkpoint(tmp_path / "checkpoint.pt")
    payload["config"]["accelerator"] = {}
    payload["config"]["training"]["epochs"] = 0
    torch.save(payload, tmp_path / "checkpoint.pt")
    with pytest.raises(CheckpointError, match=r"training config: epochs: Input should be "
                                              r"greater than or equal to 1"):
        load_checkpoint(tmp_path / "checkpoint.pt")


def test_a_checkpoint_for_another_shape_is_refused(tiny_run: Path) -> None:
    other = dataclasses.replace(load_model_config("tiny"), experts=8)
    with pytest.raises(CheckpointError, match="experts: checkpoint 4, expected 8"):
        load_checkpoint(tiny_run / "checkpoint.pt", expected=other)


def test_balance_loss_is_one_when_balanced_and_higher_when_not() -> None:
    ranks = torch.tensor([[[0, 1, 2, 3], [2, 3, 0, 1], [0, 1, 2, 3], [2, 3, 0, 1]]])
    even = Routing(torch.full((1, 4, 4), 0.25), ranks, top_k=2)
    assert float(balance_loss(even)) == pytest.approx(1.0)
    skewed = Routing(torch.tensor([[[0.7, 0.2, 0.05, 0.05]] * 4]),
                     torch.tensor([[[0, 1, 2, 3]] * 4]), top_k=2)
    assert float(balance_loss(skewed)) > 1.5


def test_rare_classes_weigh_more() -> None:
    labels = torch.tensor([0] * 90 + [1] * 9 + [2] * 1 + [255] * 5)
    weights = class_weights(labels, 4)
    assert weights[2] > weights[1] > weights[0] and weights[3] == 1.0


def test_a_config_whose_classes_the_scenes_do_not_have_is_refused() -> None:
    config = dataclasses.replace(load_model_config("tiny"), classes=5)
    training = TrainConfig.from_dict(load_config_file("tiny")["training"])
    with pytest.raises(ConfigError, match="classes: 5, but the synthetic scenes have 7"):
        build_datasets(config, training)
