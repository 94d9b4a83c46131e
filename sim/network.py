"""The backbone as the accelerator sees it: tensor names, shapes, and a float64 forward.

Weights are a dict of numpy arrays named as below, already folded for the hardware
(input normalization into the patch embedding, 1/sqrt(head dim) into the query, CLS token
into position 0). ``float_forward`` runs the same dataflow as the fixed-point simulator in
float64 and reports every intermediate through ``tap``, under the names the quantization
spec gives formats to: calibration observes it, tests compare against it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import TypeVar

import numpy as np

from .approx import gelu_reference
from .config import ModelConfig

Tap = Callable[[str, np.ndarray], None]
Tensor = TypeVar("Tensor")
#: Pixels are 8-bit; the hardware reads them as ap_ufixed<8,0>, value = byte / 256.
PIXEL_SCALE = 256.0


def block_prefix(layer: int) -> str:
    return f"blocks.{layer}."


def weight_shapes(config: ModelConfig) -> dict[str, tuple[int, ...]]:
    """Every weight tensor in the order it is packed, with its shape."""
    dim, patch = config.dim, config.patch
    shapes: dict[str, tuple[int, ...]] = {
        "patch_embed.weight": (dim, 3 * patch * patch),
        "patch_embed.bias": (dim,),
        "embed.position": (config.tokens, dim),
    }
    for layer in range(config.layers):
        p = block_prefix(layer)
        shapes |= {p + "norm1.weight": (dim,), p + "norm1.bias": (dim,)}
        for name in ("q", "k", "v", "proj"):
            shapes |= {p + f"attn.{name}.weight": (dim, dim), p + f"attn.{name}.bias": (dim,)}
        shapes |= {p + "norm2.weight": (dim,), p + "norm2.bias": (dim,)}
        if layer in config.moe_layers:
            experts, hidden = config.experts, config.expert_hidden
            shapes |= {p + "moe.gate.weight": (len(config.tasks), experts, dim),
                       p + "moe.fc1.weight": (experts, hidden, dim),
                       p + "moe.fc1.bias": (experts, hidden),
                       p + "moe.fc2.weight": (experts, dim, hidden),
                       p + "moe.fc2.bias": (experts, dim)}
        else:
            hidden = config.mlp_hidden
            shapes |= {p + "mlp.fc1.weight": (hidden, dim), p + "mlp.fc1.bias": (hidden,),
                       p + "mlp.fc2.weight": (dim, hidden), p + "mlp.fc2.bias": (dim,)}
    if config.final_norm == "shared":
        shapes |= {"norm.weight": (dim,), "norm.bias": (dim,)}
    elif config.final_norm == "per-task":  # row t is task t's
        shapes |= {"norm.weight": (len(config.tasks), dim), "norm.bias": (len(config.tasks), dim)}
    return shapes


def tokens_name(config: ModelConfig) -> str:
    """The value the backbone hands the heads: the final LayerNorm's output, or the last
    block's when the config has no final LayerNorm."""
    return "norm" if config.has_final_norm else block_prefix(config.layers - 1) + "out"


def final_norm_weights(weights: Mapping[str, Tensor], config: ModelConfig,
                       task_index: int) -> tuple[Tensor, Tensor]:
    """The final LayerNorm's (gamma, beta) for a task (the config must have one), from
    float or fixed-point weights."""
    gamma, beta = weights["norm.weight"], weights["norm.bias"]
    if config.final_norm == "per-task":
        return gamma[task_index], beta[task_index]
    return gamma, beta


def check_weights(weights: dict[str, np.ndarray], config: ModelConfig) -> None:
    expected = weight_shapes(config)
    missing = sorted(set(expected) - set(weights))
    extra = sorted(set(weights) - set(expected))
    if missing or extra:
        raise ValueError(f"weights do not match config {config.name!r}: missing {missing[:5]}, "
                         f"unexpected {extra[:5]}")
    for name, shape in expected.items():
        if tuple(weights[name].shape) != shape:
            raise ValueError(f"weight {name} has shape {tuple(weights[name].shape)}, config "
                             f"{config.name!r} needs {shape}")


def check_image(image: np.ndarray, config: ModelConfig) -> None:
    expected = (config.image_height, config.image_width, 3)
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        raise ValueError(f"images must be uint8 numpy arrays of shape {expected}, got "
                         f"{getattr(image, 'dtype', type(image).__name__)}")
    if image.shape != expected:
        raise ValueError(f"image shape {image.shape} does not match config {config.name!r}: "
                         f"expected (height, width, channels) = {expected}")


def patches_of(image: np.ndarray, patch: int) -> np.ndarray:
    """(H, W, 3) to (patches, 3 * patch * patch) in raster order, rows in (c, y, x) order."""
    height, width, channels = image.shape
    grid = image.reshape(height // patch, patch, width // patch, patch, channels)
    return grid.transpose(0, 2, 4, 1, 3).reshape(-1, channels * patch * patch)


def layer_norm_float(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float,
                     name: str, tap: Tap) -> np.ndarray:
    mean = x.mean(axis=1)
    var = np.maximum((x * x).mean(axis=1) - mean**2, 0) + eps
    inv_std = 1 / np.sqrt(var)
    normalized = (x - mean[:, None]) * inv_std[:, None]
    for suffix, value in (("mean", mean), ("var", var), ("inv_std", inv_std),
                          ("normalized", normalized)):
        tap(f"{name}.{suffix}", value)
    out = normalized * gamma + beta
    tap(name, out)
    return out


def softmax_float(scores: np.ndarray, name: str, tap: Tap) -> np.ndarray:
    exps = np.exp(scores - scores.max(axis=-1, keepdims=True))
    total = exps.sum(axis=-1, keepdims=True)
    tap(f"{name}.sum", total)
    return exps / total


def top_k_float(probs: np.ndarray, k: int) -> np.ndarray:
    """(tokens, k) ids, highest first, ties to the lower index (a stable sort)."""
    return np.argsort(-probs, axis=1, kind="stable")[:, :k]


def float_forward(weights: dict[str, np.ndarray], config: ModelConfig, image: np.ndarray,
                  task: str, tap: Tap | None = None) -> np.ndarray:
    """The backbone in float64: (tokens, dim) features after the final LayerNorm (after the
    last block when the config has none)."""
    tap = tap or (lambda name, value: None)
    task_index = config.task_index(task)
    check_image(image, config)
    w = weights
    pixels = patches_of(image.astype(np.float64) / PIXEL_SCALE, config.patch)
    tap("pixels", pixels)
    embedded = pixels @ w["patch_embed.weight"].T + w["patch_embed.bias"]
    x = np.concatenate([np.zeros((1, config.dim)), embedded]) + w["embed.position"]
    tap("embed", x)
    heads, width, eps = config.heads, config.head_dim, config.layer_norm_eps
    for layer in range(config.layers):
        p = block_prefix(layer)
        n1 = layer_norm_float(x, w[p + "norm1.weight"], w[p + "norm1.bias"], eps, p + "norm1",
                              tap)
        q, k, v = (n1 @ w[p + f"attn.{n}.weight"].T + w[p + f"attn.{n}.bias"] for n in "qkv")
        for name, value in (("q", q), ("k", k), ("v", v)):
            tap(p + name, value)
        split = [slice(h * width, (h + 1) * width) for h in range(heads)]
        scores = np.stack([q[:, s] @ k[:, s].T for s in split])
        tap(p + "scores", scores)
        probs = softmax_float(scores, p + "softmax", tap)
        attended = np.concatenate([probs[h] @ v[:, s] for h, s in enumerate(split)], axis=1)
        tap(p + "attn", attended)
        x = attended @ w[p + "attn.proj.weight"].T + w[p + "attn.proj.bias"] + x
        tap(p + "residual1", x)
        n2 = layer_norm_float(x, w[p + "norm2.weight"], w[p + "norm2.bias"], eps, p + "norm2",
                              tap)
        if layer in config.moe_layers:
            logits = n2 @ w[p + "moe.gate.weight"][task_index].T
            tap(p + "gate_logits", logits)
            gate = softmax_float(logits, p + "gate", tap)
            chosen = top_k_float(gate, config.top_k)
            if config.renormalizes_top_k:
                kept = np.take_along_axis(gate, chosen, axis=1)
                gate = np.zeros_like(gate)
                np.put_along_axis(gate, chosen, kept / kept.sum(axis=1, keepdims=True), axis=1)
            tap(p + "gate_probs", gate)
            update = np.zeros_like(x)
            for expert in range(config.experts):
                tokens = np.nonzero((chosen == expert).any(axis=1))[0]
                if len(tokens) == 0:
                    continue
                pre = n2[tokens] @ w[p + "moe.fc1.weight"][expert].T + w[p + "moe.fc1.bias"][expert]
                hidden = gelu_reference(pre)
                out = hidden @ w[p + "moe.fc2.weight"][expert].T + w[p + "moe.fc2.bias"][expert]
                tap(p + "fc1", pre)
                tap(p + "hidden", hidden)
                tap(p + "expert_out", out)
                update[tokens] += gate[tokens, expert][:, None] * out
            x = x + update
        else:
            pre = n2 @ w[p + "mlp.fc1.weight"].T + w[p + "mlp.fc1.bias"]
            tap(p + "fc1", pre)
            hidden = gelu_reference(pre)
            tap(p + "hidden", hidden)
            x = hidden @ w[p + "mlp.fc2.weight"].T + w[p + "mlp.fc2.bias"] + x
        tap(p + "out", x)
    if not config.has_final_norm:
        return x
    gamma, beta = final_norm_weights(w, config, task_index)
    return layer_norm_float(x, gamma, beta, eps, "norm", tap)


def fold_scale(head_dim: int) -> float:
    """The attention scale folded into the query projection."""
    return 1.0 / math.sqrt(head_dim)


def fold_shift(head_dim: int) -> int:
    """The binary places the folded scale moves the query's values right: log2(sqrt(head
    dim)), whole (exact when the head dim is a power of four)."""
    return (head_dim.bit_length() - 1) // 2


def is_addend(name: str) -> bool:
    """A tensor the datapath adds rather than multiplies: the linear layers' biases and the
    position embedding. Those sit in weights.bin in feature lanes, at the features'
    precision or finer; every other weight in the multipliers' weight lanes."""
    return name == "embed.position" or (name.endswith(".bias") and ".norm" not in f".{name}")

