"""The task heads as the ARM cores run them (numpy, batch norm folded) against PyTorch."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from edgemoe.model.export import head_layers
from edgemoe.model.heads import OfficialHead
from edgemoe.sim.heads import conv1x1, run_head, upsample2x

RNG = np.random.default_rng(3)


@pytest.mark.parametrize("shape", [(3, 1, 1), (2, 1, 5), (4, 3, 7), (5, 8, 16)])
def test_upsampling_is_torchs_bilinear_without_aligned_corners(shape: tuple) -> None:
    x = RNG.normal(size=shape).astype(np.float32)
    expected = F.interpolate(torch.from_numpy(x)[None], scale_factor=2, mode="bilinear",
                             align_corners=False)[0].numpy()
    assert np.max(np.abs(upsample2x(x) - expected)) < 1e-6


def test_a_1x1_convolution_is_torchs() -> None:
    x = RNG.normal(size=(6, 4, 5)).astype(np.float32)
    conv = torch.nn.Conv2d(6, 3, 1)
    with torch.no_grad():
        expected = conv(torch.from_numpy(x)[None])[0].numpy()
    got = conv1x1(x, conv.weight.detach().numpy(), conv.bias.detach().numpy())
    assert np.max(np.abs(got - expected)) < 1e-5


@pytest.mark.parametrize("patch", [4, 16])
def test_the_official_head_with_batch_norm_folded_is_the_torch_head(model_variant,
                                                                    patch: int) -> None:
    """M3ViT's head (3x3 conv, BN, ReLU, bilinear 2x; a 1x1 conv and a last 2x), its batch
    norm statistics drawn at random so that folding them matters."""
    model = model_variant(task_head="official")
    torch.manual_seed(patch)
    head = OfficialHead(dim=24, patch=patch, out_channels=5).eval()
    with torch.no_grad():
        for norm in head.norms:
            norm.running_mean.normal_(0, 0.5), norm.running_var.uniform_(0.5, 2.0)
            norm.weight.normal_(1, 0.3), norm.bias.normal_(0, 0.3)
    model.heads["segmentation"] = head
    layers, arrays = head_layers(model)
    grid = RNG.normal(size=(24, 3, 4)).astype(np.float32)
    with torch.no_grad():
        expected = head(torch.from_numpy(grid)[None])[0].numpy()
    got = run_head(layers["segmentation"], arrays, grid)
    assert got.shape == (5, 3 * patch, 4 * patch)
    assert np.max(np.abs(got - expected)) <= 1e-5 * np.max(np.abs(expected))
    assert [layer.op.value for layer in layers["depth"]][-2:] == ["conv1x1", "upsample2x"]
