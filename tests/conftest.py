"""Fixtures shared by the test folders: a tiny checkpoint trained in the session.

Under pytest-xdist (``make test``) the session's artifacts are made once for all workers,
and each worker computes on one thread: the workers are the parallelism.
"""

from __future__ import annotations

import os

if "PYTEST_XDIST_WORKER" in os.environ:  # before numpy or torch read them
    for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(variable, "1")

import copy
from collections.abc import Callable
from pathlib import Path

import pytest

from edgemoe.sim.approx import ExpTable, GeluTable, NewtonTable, Tables

SMALL_TRAINING = {"train_images": 48, "val_images": 16, "epochs": 1, "batch_size": 16}
COARSE_TABLES = Tables(exp=ExpTable(table_bits=4, frac_bits=16),
                       reciprocal=NewtonTable(seed_bits=4, newton_steps=2, work_bits=18),
                       rsqrt=NewtonTable(seed_bits=5, newton_steps=1, work_bits=22),
                       gelu=GeluTable(step_bits=4, limit=4.0, frac_bits=18))


def _small_document() -> dict:
    from edgemoe.sim.config_file import load_config_file

    document = copy.deepcopy(load_config_file("tiny"))
    document["training"].update(SMALL_TRAINING)
    return document


@pytest.fixture
def small_document() -> dict:
    """The tiny config with a training section small enough for a test (a fresh copy)."""
    return _small_document()


def _made_once(factory: pytest.TempPathFactory, name: str,
               make: Callable[[Path], Path]) -> Path:
    """``make(folder)``'s result: under pytest-xdist made by the first worker that asks, in
    the session's folder all workers share, and read by the others once it is whole."""
    if "PYTEST_XDIST_WORKER" not in os.environ:
        return make(factory.mktemp(name))
    from filelock import FileLock

    shared = factory.getbasetemp().parent
    done, failed = shared / f"{name}.done", shared / f"{name}.failed"
    with FileLock(str(shared / f"{name}.lock")):
        if failed.exists():
            raise RuntimeError(f"another worker could not make {name}: {failed.read_text()}")
        if not done.exists():
            try:
                done.write_text(str(make(factory.mktemp(name))))
            except Exception as err:
                failed.write_text(f"{type(err).__name__}: {err}")
                raise
    return Path(done.read_text())


def _train(out: Path) -> Path:
    from edgemoe.model.train import train

    train(_small_document(), out, progress=False)
    return out


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny model trained for one short epoch by the real training loop."""
    return _made_once(tmp_path_factory, "run", _train)


@pytest.fixture(scope="session")
def tiny_artifact(tiny_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model exported as `edgemoe export` does (int16): four golden vector
    images and the float model's ONNX graphs."""
    from edgemoe.model.checkpoint import load_checkpoint
    from edgemoe.model.data.datasets import SceneDataset
    from edgemoe.model.export import export_artifact
    from edgemoe.model.hardware_weights import hardware_weights
    from edgemoe.sim.config import AcceleratorConfig
    from edgemoe.sim.quant import calibrate

    def export(folder: Path) -> Path:
        model = load_checkpoint(tiny_run / "checkpoint.pt").build_model()
        weights = hardware_weights(model)
        calibration = SceneDataset("train", 48, 64, 128).images[:8].numpy()
        spec = calibrate(model.config, weights, calibration, "int16")
        val = SceneDataset("val", 16, 64, 128)
        onnx_images = val.images[:2].permute(0, 3, 1, 2).float() / 255.0
        return export_artifact(model, weights, spec, AcceleratorConfig(), folder / "tiny",
                               val.images[:4].numpy(), onnx_images, progress=False)

    return _made_once(tmp_path_factory, "artifact", export)


@pytest.fixture(scope="session")
def coarse_artifact(tiny_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model exported with other approximation tables than the defaults (coarser
    segments, two reciprocal Newton steps), 128-bit AXI words and attention one head at a
    time (the head groups taking turns): one vector image."""
    from edgemoe.sim.config import AcceleratorConfig

    return _made_once(tmp_path_factory, "coarse", lambda folder: _export_design(
        tiny_run, folder / "tiny", AcceleratorConfig(axi_bits=128, attention_heads=1),
        COARSE_TABLES))


@pytest.fixture(scope="session")
def export_design(tiny_run: Path):
    """Export the tiny model for another design point: ``export_design(out, accelerator,
    tables)``."""
    return lambda out, accelerator, tables: _export_design(tiny_run, out, accelerator, tables)


def _export_design(tiny_run: Path, out: Path, accelerator, tables) -> Path:
    """The tiny model exported (int16, one vector image) for another design point."""
    from edgemoe.model.checkpoint import load_checkpoint
    from edgemoe.model.data.datasets import SceneDataset
    from edgemoe.model.export import export_artifact
    from edgemoe.model.hardware_weights import hardware_weights
    from edgemoe.sim.quant import calibrate

    model = load_checkpoint(tiny_run / "checkpoint.pt").build_model()
    weights = hardware_weights(model)
    calibration = SceneDataset("train", 48, 64, 128).images[:8].numpy()
    spec = calibrate(model.config, weights, calibration, "int16", tables)
    images = SceneDataset("val", 16, 64, 128).images[:1].numpy()
    return export_artifact(model, weights, spec, accelerator, out, images, progress=False)


@pytest.fixture(scope="session")
def model_variant(tiny_run: Path):
    """``model_variant(**config_changes)``: the trained tiny model with other semantics
    (final_norm, gate, task_head). What the trained model lacks (per-task norms, official
    heads) is drawn at random, batch-norm running statistics included, so that every
    weight matters."""
    import dataclasses

    import torch

    from edgemoe.model.checkpoint import load_checkpoint
    from edgemoe.model.m3vit import M3ViT

    trained = load_checkpoint(tiny_run / "checkpoint.pt").build_model()

    def build(**changes) -> M3ViT:
        torch.manual_seed(0)
        model = M3ViT(dataclasses.replace(trained.config, **changes)).eval()
        mine = model.state_dict()
        state = {k: v for k, v in trained.state_dict().items()
                 if k in mine and mine[k].shape == v.shape}
        model.load_state_dict(state, strict=False)
        generator = torch.Generator().manual_seed(0)
        with torch.no_grad():  # norms start as identities: make them matter
            for key, value in model.state_dict().items():
                if key in state or "norm" not in key or not value.is_floating_point():
                    continue
                drawn = torch.randn(value.shape, generator=generator)
                if key.endswith("running_var"):
                    value.copy_(1 + 0.3 * drawn.abs())
                else:
                    value.copy_((1 if key.endswith("weight") else 0) + 0.3 * drawn)
        return model

    return build
