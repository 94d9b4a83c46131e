"""Placing another project's tensors into our model's state dict, each checked by shape.

A weight layout (M3ViT's checkpoints, Edge-MoE's dumps) is described as a list of
``Placement``: where a source tensor goes, the shape the config implies for it, and how
its axes map onto ours. ``place`` reads each one, refuses a missing, misshapen or
non-finite tensor by name, and fills a copy of the model's state dict.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from .m3vit import M3ViT


class ImportFailure(ValueError):
    """Weights that cannot be read into the config's model."""


@dataclass(frozen=True)
class Placement:
    source: str  # the tensor's name where it comes from
    target: str  # our state-dict key
    shape: tuple[int, ...]  # the source's shape, as the config implies it
    permute: tuple[int, ...] | None = None  # the source's axes in our order
    row: int | None = None  # a stacked target (per-task gates, norms): this row of it


def fmoe_experts(sources: tuple[str, str, str, str], target: str, experts: int, dim: int,
                 hidden: int) -> list[Placement]:
    """A MoE layer's experts as FMoE stores them (M3ViT's and Edge-MoE's alike): fc1 and fc2
    weights (experts, out, in) and biases (experts, out), named ``sources`` in that order,
    into our ``target`` MoE's w1, b1, w2, b2 (weights (experts, in, out))."""
    fc1_weight, fc1_bias, fc2_weight, fc2_bias = sources
    return [Placement(fc1_weight, target + "w1", (experts, hidden, dim), permute=(0, 2, 1)),
            Placement(fc1_bias, target + "b1", (experts, hidden)),
            Placement(fc2_weight, target + "w2", (experts, dim, hidden), permute=(0, 2, 1)),
            Placement(fc2_bias, target + "b2", (experts, dim))]


Reader = Callable[[str, tuple[int, ...]], np.ndarray | None]


def place(model: M3ViT, placements: Sequence[Placement], read: Reader,
          origin: str) -> dict[str, torch.Tensor]:
    """The model's state dict with every placement's source read into it. ``read(name,
    shape)`` returns the tensor or None when the source has no such name."""
    state = {key: value.clone() for key, value in model.state_dict().items()}
    name = model.config.name
    for p in placements:
        value = read(p.source, p.shape)
        if value is None:
            raise ImportFailure(f"{origin} has no tensor {p.source} (config {name!r} needs "
                                f"one of shape {p.shape})")
        if tuple(value.shape) != p.shape:
            raise ImportFailure(f"{origin}: {p.source} has shape {tuple(value.shape)}, config "
                                f"{name!r} expects {p.shape}")
        target = state[p.target]
        if target.is_floating_point() and not np.isfinite(value).all():
            raise ImportFailure(f"{origin}: {p.source} holds NaN or infinite values")
        tensor = torch.from_numpy(np.ascontiguousarray(value))
        if p.permute is not None:
            tensor = tensor.permute(p.permute)
        if p.row is None:
            state[p.target] = tensor.reshape(target.shape).to(target.dtype)
        else:
            target[p.row] = tensor.reshape(target.shape[1:]).to(target.dtype)
    return state
