"""Checkpoints: weights, optimizer state and the config document, saved together.

A checkpoint is written whole or not at all (``atomic_path``), so an interrupted run
leaves the previous one intact. Loading checks the file and the config it was trained
with, and says what is wrong instead of failing somewhere later.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from edgemoe.sim.atomic import atomic_path
from edgemoe.sim.config import ConfigError, ModelConfig
from edgemoe.sim.config_file import ConfigDocument, read_document

from .m3vit import M3ViT
from .train_config import TrainConfig

CHECKPOINT_VERSION = 1


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be used as asked."""


@dataclass
class Checkpoint:
    path: Path
    document: dict[str, Any]  # the config document: "model" and "training" sections
    settings: ConfigDocument  # the same, validated
    model_state: dict[str, torch.Tensor]
    training_state: dict[str, Any]  # optimizer, scheduler, epoch, history

    @property
    def config(self) -> ModelConfig:
        return self.settings.model

    def build_model(self) -> M3ViT:
        model = M3ViT(self.config)
        try:
            model.load_state_dict(self.model_state)
        except RuntimeError as err:
            raise CheckpointError(f"{self.path}: its weights do not fit config "
                                  f"{self.config.name!r}: {str(err).splitlines()[0]}") from None
        return model.eval()


def save_checkpoint(path: Path, model: M3ViT, document: dict[str, Any],
                    training_state: dict[str, Any]) -> None:
    payload = {"version": CHECKPOINT_VERSION, "config": document,
               "model": model.state_dict(), "training": training_state}
    payload = _on_cpu(payload)  # a GPU run's checkpoint loads where there is none
    with atomic_path(path) as scratch:
        torch.save(payload, scratch)


def _on_cpu(value: Any) -> Any:
    """``value`` with every tensor in it (nested in dicts, lists, tuples) on the CPU."""
    if isinstance(value, torch.Tensor):
        return value.cpu()
    if isinstance(value, dict):
        return {key: _on_cpu(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_on_cpu(item) for item in value)
    return value


def _differences(saved: dict[str, Any], expected: dict[str, Any]) -> list[str]:
    return [f"{key}: checkpoint {saved.get(key)!r}, expected {expected.get(key)!r}"
            for key in sorted(set(saved) | set(expected)) if saved.get(key) != expected.get(key)]


def load_checkpoint(path: str | Path, expected: ModelConfig | None = None) -> Checkpoint:
    """Read a checkpoint; with ``expected``, refuse one trained for another model shape."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several kinds for a damaged zip/pickle
        reason = (str(err).strip().splitlines() or ["no detail"])[0]
        raise CheckpointError(f"{path} is truncated or corrupt and cannot be read "
                              f"({type(err).__name__}: {reason}); restore it or train "
                              "again") from None
    if (not isinstance(payload, dict) or payload.get("version") != CHECKPOINT_VERSION
            or not {"config", "model", "training"} <= set(payload)):
        raise CheckpointError(f"{path} is not an edgemoe checkpoint of version "
                              f"{CHECKPOINT_VERSION}")
    try:
        settings = read_document(payload["config"], f"{path} (its config)")
    except ConfigError as err:
        raise CheckpointError(str(err)) from None
    try:
        if settings.training:  # an imported model may come without one
            TrainConfig.from_dict(settings.training)
    except ConfigError as err:
        raise CheckpointError(f"{path}: {err}") from None
    checkpoint = Checkpoint(path, payload["config"], settings, payload["model"],
                            payload["training"])
    if expected is not None:
        # the parsed config (its defaults filled in), not the document as it was written
        differences = _differences(settings.model.to_dict(), expected.to_dict())
        if differences:
            raise CheckpointError(f"{path} was trained for a different model; "
                                  + "; ".join(differences))
    return checkpoint
