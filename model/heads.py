"""Task heads: convolutional up-sampling from the patch-token grid to pixels.

They run on the board's ARM cores (in numpy there), so they use only what is simple to
write again. Two kinds (the config's ``head``):

- ``upsampling`` (ours, light): transposed 2x2 convolutions with stride 2 (each pixel
  expands into a 2x2 block), 3x3 convolutions and ReLU. One stage doubles the resolution;
  the last of the log2(patch) doublings is a single transposed convolution straight to
  the outputs, so nothing runs at full resolution but that one cheap layer.
- ``official``: M3ViT's ``VisionTransformerUpHead`` after its LayerNorm (the backbone's
  per-task final norm is that LayerNorm): log2(patch) 3x3 convolutions, each followed by
  batch norm and ReLU, with a 2x bilinear up-sampling after each but the last; a 1x1
  convolution to the outputs and a last 2x bilinear up-sampling (align_corners False).
  Batch norm is folded into its convolution at export.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

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


#: The official head's convolution width (M3ViT's ``VisionTransformerUpHead``).
OFFICIAL_CHANNELS = 256
#: torch's BatchNorm2d default, and mmcv's SyncBN's, which M3ViT's head uses.
BATCH_NORM_EPS = 1e-5


def upsample2x(x: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)


class OfficialHead(nn.Module):
    def __init__(self, dim: int, patch: int, out_channels: int,
                 channels: int = OFFICIAL_CHANNELS) -> None:
        super().__init__()
        stages = int(math.log2(patch))
        if 2**stages != patch:
            raise ValueError(f"the official heads need a power-of-two patch size, got {patch}")
        self.convs = nn.ModuleList(nn.Conv2d(dim if i == 0 else channels, channels, 3, padding=1)
                                   for i in range(stages))
        self.norms = nn.ModuleList(nn.BatchNorm2d(channels, eps=BATCH_NORM_EPS)
                                   for _ in range(stages))
        self.classifier = nn.Conv2d(channels, out_channels, 1)

    def forward(self, grid: torch.Tensor) -> torch.Tensor:
        x = grid
        for index, (conv, norm) in enumerate(zip(self.convs, self.norms, strict=True)):
            x = F.relu(norm(conv(x)))
            if index < len(self.convs) - 1:
                x = upsample2x(x)
        return upsample2x(self.classifier(x))


def task_head(kind: str, dim: int, patch: int, out_channels: int) -> nn.Module:
    """The config's kind of head (``upsampling`` or ``official``)."""
    return (OfficialHead if kind == "official" else UpsamplingHead)(dim, patch, out_channels)
