"""Task heads in numpy, as they run on the board's ARM cores, in float on the tokens.

A head is a list of layers, stored in an artifact's ``heads.npz`` beside a description
in the manifest: ``conv_transpose2x2`` (stride 2: each pixel becomes a 2x2 block),
``conv3x3`` (padding 1), ``conv1x1``, ``relu``, ``upsample2x`` (bilinear, as torch's
``interpolate`` with ``align_corners=False``), and the output transform (``exp_scale``
for a depth head that predicts log depth).
"""

from __future__ import annotations

from enum import Enum
from typing import Annotated

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from pydantic import Field, model_validator

from .schema import Record, TensorName


class HeadOp(str, Enum):
    RELU = "relu"
    CONV3X3 = "conv3x3"
    CONV1X1 = "conv1x1"
    CONV_TRANSPOSE2X2 = "conv_transpose2x2"
    UPSAMPLE2X = "upsample2x"
    EXP_SCALE = "exp_scale"


#: The convolutions and their kernels' size; the ops that double the grid.
KERNEL_SIZES = {HeadOp.CONV3X3: (3, 3), HeadOp.CONV1X1: (1, 1),
                HeadOp.CONV_TRANSPOSE2X2: (2, 2)}
DOUBLINGS = (HeadOp.CONV_TRANSPOSE2X2, HeadOp.UPSAMPLE2X)


class HeadLayer(Record):
    """One layer of a task head: a convolution names its arrays in ``heads.npz``."""

    op: HeadOp
    weight: TensorName | None = None
    bias: TensorName | None = None
    scale: Annotated[float, Field(gt=0)] | None = None

    @model_validator(mode="after")
    def _operands_fit_the_op(self) -> HeadLayer:
        convolution = self.op in KERNEL_SIZES
        if convolution != (self.weight is not None and self.bias is not None):
            raise ValueError(f"{self.op.value} takes " + ("a weight and a bias array"
                                                          if convolution else "no arrays"))
        if (self.op == HeadOp.EXP_SCALE) != (self.scale is not None):
            raise ValueError("a scale belongs to exp_scale and to nothing else")
        return self


def conv_transpose2x2(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """(C, H, W) -> (O, 2H, 2W); weight (C, O, 2, 2) as torch.nn.ConvTranspose2d."""
    _, height, width = x.shape
    out = np.einsum("chw,coab->ohawb", x, weight).reshape(weight.shape[1], 2 * height,
                                                           2 * width)
    return out + bias[:, None, None]


def conv3x3(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """(C, H, W) -> (O, H, W), zero padding 1; weight (O, C, 3, 3) as torch.nn.Conv2d."""
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1)))
    windows = sliding_window_view(padded, (3, 3), axis=(1, 2))  # (C, H, W, 3, 3)
    return np.einsum("chwab,ocab->ohw", windows, weight, optimize=True) + bias[:, None, None]


def conv1x1(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """(C, H, W) -> (O, H, W); weight (O, C, 1, 1) as torch.nn.Conv2d."""
    return np.einsum("chw,oc->ohw", x, weight[:, :, 0, 0], optimize=True) + bias[:, None, None]


def _upsample_axis(x: np.ndarray, axis: int) -> np.ndarray:
    """Twice the samples along ``axis``, bilinear with half-pixel centres: output i reads
    input (i + 0.5) / 2 - 0.5, clamped at the edges, so each output is 3/4 of its nearer
    input and 1/4 of the other neighbour (the edge's own value beyond the ends)."""
    x = np.moveaxis(x, axis, -1)
    before = np.concatenate([x[..., :1], x[..., :-1]], axis=-1)
    after = np.concatenate([x[..., 1:], x[..., -1:]], axis=-1)
    out = np.empty((*x.shape[:-1], 2 * x.shape[-1]), dtype=x.dtype)
    out[..., 0::2] = 0.75 * x + 0.25 * before
    out[..., 1::2] = 0.75 * x + 0.25 * after
    return np.moveaxis(out, -1, axis)


def upsample2x(x: np.ndarray) -> np.ndarray:
    """(C, H, W) -> (C, 2H, 2W), bilinear as torch's interpolate(align_corners=False)."""
    return _upsample_axis(_upsample_axis(x, 1), 2)


CONVOLUTION = {HeadOp.CONV3X3: conv3x3, HeadOp.CONV1X1: conv1x1,
               HeadOp.CONV_TRANSPOSE2X2: conv_transpose2x2}


def run_head(layers: tuple[HeadLayer, ...], arrays: dict[str, np.ndarray],
             grid: np.ndarray) -> np.ndarray:
    """Apply one head to the patch-token grid (dim, rows, cols)."""
    x = grid.astype(np.float32)
    for layer in layers:
        if layer.op == HeadOp.RELU:
            x = np.maximum(x, 0)
        elif layer.op == HeadOp.EXP_SCALE:
            x = np.exp(x) * np.float32(layer.scale)
        elif layer.op == HeadOp.UPSAMPLE2X:
            x = upsample2x(x)
        else:
            x = CONVOLUTION[layer.op](x, arrays[layer.weight], arrays[layer.bias])
        x = x.astype(np.float32)
    return x


def token_grid(tokens: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Patch tokens (without CLS) as a (dim, rows, cols) grid."""
    return tokens[1:].T.reshape(tokens.shape[1], rows, cols)
