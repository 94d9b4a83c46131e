"""Task heads: light convolutional up-sampling from the patch-token grid to pixels.

They run on the board's ARM cores (in numpy there), so they use only what is cheap and
simple to write again: transposed 2x2 convolutions with stride 2 (each pixel expands into
a 2x2 block), 3x3 convolutions and ReLU. One stage doubles the resolution; the last of
the log2(patch) doublings is a single transposed convolution straight to the outputs, so
nothing runs at full resolution but that one cheap layer.
"""

from __future__ import annotations

import math

import torch
from torch import nn

#: Channels after each up-sampling stage, coarse to fine (the last ones repeat as needed).
STAGE_CHANNELS = (48, 32, 16)


class UpsamplingHead(nn.Module):
    def __init__(self, dim: int, patch: int, out_channels: int,
                 channels: tuple[int, ...] = STAGE_CHANNELS) -> None:
        super().__init__()
        stages = int(math.log2(patch))
        if 2**stages != patch:
            raise ValueError(f"the up-sampling heads need a power-of-two patch size, got {patch}")
        widths = [channels[min(i, len(channels) - 1)] for i in range(stages - 1)]
        layers: list[nn.Module] = []
        previous = dim
        for width in widths:
            layers += [nn.ConvTranspose2d(previous, width, 2, stride=2), nn.ReLU(),
                       nn.Conv2d(width, width, 3, padding=1), nn.ReLU()]
            previous = width
        layers.append(nn.ConvTranspose2d(previous, out_channels, 2, stride=2))
        self.layers = nn.Sequential(*layers)

    def forward(self, grid: torch.Tensor) -> torch.Tensor:
        return self.layers(grid)
