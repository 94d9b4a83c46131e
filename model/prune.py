"""A single-task model holding only the experts its task selects.

The gate keeps scoring every expert (its softmax is over all of them, or over the top-k
it chose when it renormalizes), so the pruned model's outputs equal the full model's as
long as every expert a token picks was kept, which holds on the data the counts came from.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
from torch import nn

from .m3vit import M3ViT, MoE


def prune_for_task(model: M3ViT, task: str, expert_counts: list[np.ndarray]) -> M3ViT:
    """The ``task`` path of ``model`` with, in each MoE layer, the experts whose count > 0."""
    task_index = model.config.task_index(task)
    moe_layers = model.moe_modules()
    if len(expert_counts) != len(moe_layers):
        raise ValueError(f"expert counts for {len(expert_counts)} MoE layers; the model has "
                         f"{len(moe_layers)}")
    pruned = M3ViT(dataclasses.replace(model.config, tasks=(task,)))
    state = {key: value for key, value in model.state_dict().items()
             if not key.startswith("heads.") or key.startswith(f"heads.{task}.")}
    if model.config.final_norm == "per-task":  # the task's own row
        for name in ("norm.weight", "norm.bias"):
            state[name] = state[name][task_index:task_index + 1]
    for layer, (block, counts) in enumerate(zip(pruned.blocks, _counts_per_block(
            model, expert_counts), strict=True)):
        if counts is None:
            continue
        kept = torch.from_numpy(np.flatnonzero(counts))
        prefix = f"blocks.{layer}.mlp."
        state[prefix + "gates"] = state[prefix + "gates"][task_index:task_index + 1]
        for name in ("w1", "b1", "w2", "b2"):
            state[prefix + name] = state[prefix + name][kept]
        state[prefix + "expert_ids"] = kept
        _resize(block.mlp, len(kept))
    pruned.load_state_dict(state)
    return pruned.eval()


def _counts_per_block(model: M3ViT, expert_counts: list[np.ndarray]) -> list:
    counts = iter(expert_counts)
    return [next(counts) if isinstance(block.mlp, MoE) else None for block in model.blocks]


def _resize(moe: MoE, experts: int) -> None:
    """Give a freshly built MoE room for ``experts`` experts before loading them."""
    for name in ("w1", "b1", "w2", "b2"):
        old = getattr(moe, name)
        setattr(moe, name, nn.Parameter(old.new_empty((experts, *old.shape[1:]))))
    moe.expert_ids = moe.expert_ids.new_empty(experts)
