"""A tiny checkpoint trained in the test session: the real training loop, a few steps."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from edgemoe.model.train import train
from edgemoe.sim.config import load_config_file

SMALL_TRAINING = {"train_images": 48, "val_images": 16, "epochs": 1, "batch_size": 16}


def small_document() -> dict:
    document = copy.deepcopy(load_config_file("tiny"))
    document["training"].update(SMALL_TRAINING)
    return document


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("run")
    train(small_document(), out, progress=False)
    return out
