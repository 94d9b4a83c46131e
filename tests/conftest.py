"""Fixtures shared by the test folders: a tiny checkpoint trained in the session."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

SMALL_TRAINING = {"train_images": 48, "val_images": 16, "epochs": 1, "batch_size": 16}


def _small_document() -> dict:
    from edgemoe.sim.config import load_config_file

    document = copy.deepcopy(load_config_file("tiny"))
    document["training"].update(SMALL_TRAINING)
    return document


@pytest.fixture
def small_document() -> dict:
    """The tiny config with a training section small enough for a test (a fresh copy)."""
    return _small_document()


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny model trained for one short epoch by the real training loop."""
    from edgemoe.model.train import train

    out = tmp_path_factory.mktemp("run")
    train(_small_document(), out, progress=False)
    return out
