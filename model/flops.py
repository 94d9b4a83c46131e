"""Multiply-accumulates of one image through one task's path, counted from the config.

Only the matrix work is counted (LayerNorm, softmax and GELU are element-wise and small).
An MoE layer activates its gate and ``top_k`` experts per token; the dense equivalent runs
all of its experts on every token, which is what the MoE saves.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from edgemoe.sim.config import ModelConfig

from .heads import OFFICIAL_CHANNELS, STAGE_CHANNELS


@dataclass(frozen=True)
class PathMacs:
    patch_embed: int
    attention: int
    dense_mlp: int
    moe_active: int
    moe_all_experts: int
    head: int

    @property
    def active(self) -> int:
        return (self.patch_embed + self.attention + self.dense_mlp + self.moe_active
                + self.head)

    @property
    def dense_equivalent(self) -> int:
        return self.active - self.moe_active + self.moe_all_experts


def head_macs(config: ModelConfig, out_channels: int) -> int:
    rows, cols = config.grid
    stages = int(math.log2(config.patch))
    if config.task_head == "official":  # 3x3 convs, 2x between them; then a 1x1
        macs, previous = 0, config.dim
        for stage in range(stages):
            macs += rows * cols * previous * OFFICIAL_CHANNELS * 9
            previous = OFFICIAL_CHANNELS
            if stage < stages - 1:
                rows, cols = rows * 2, cols * 2
        return macs + rows * cols * OFFICIAL_CHANNELS * out_channels
    macs, previous = 0, config.dim
    for stage in range(stages - 1):
        width = STAGE_CHANNELS[min(stage, len(STAGE_CHANNELS) - 1)]
        rows, cols = rows * 2, cols * 2
        macs += rows * cols * previous * width  # 2x2 transposed: each output pixel once
        macs += rows * cols * width * width * 9
        previous = width
    return macs + rows * 2 * cols * 2 * previous * out_channels


def path_macs(config: ModelConfig, task: str) -> PathMacs:
    config.task_index(task)
    tokens, dim = config.tokens, config.dim
    attention = tokens * dim * 3 * dim + 2 * tokens * tokens * dim + tokens * dim * dim
    expert = 2 * tokens * dim * config.expert_hidden
    gate = tokens * dim * config.experts
    moe_layers = len(config.moe_layers)
    dense_layers = config.layers - moe_layers
    out_channels = config.outputs(task)
    return PathMacs(
        patch_embed=config.patches * 3 * config.patch**2 * dim,
        attention=config.layers * attention,
        dense_mlp=dense_layers * 2 * tokens * dim * config.mlp_hidden,
        moe_active=moe_layers * (gate + config.top_k * expert),
        moe_all_experts=moe_layers * (gate + config.experts * expert),
        head=head_macs(config, out_channels),
    )
