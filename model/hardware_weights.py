"""The trained model's weights as the accelerator uses them (numpy, float64, folded).

Folding moves work from the hardware into constants: the input normalization (and the
256/255 between the model's pixel scale and the hardware's ap_ufixed<8,0>) into the patch
embedding, 1/sqrt(head dim) into the query projection, the CLS token into position 0.
"""

from __future__ import annotations

import numpy as np
import torch

from edgemoe.sim.network import PIXEL_SCALE, block_prefix, check_weights, fold_scale

from .m3vit import M3ViT, MoE


def hardware_weights(model: M3ViT) -> dict[str, np.ndarray]:
    config = model.config
    state = {k: v.detach().to(torch.float64).numpy() for k, v in model.state_dict().items()}
    mean, std = state["mean"].reshape(3), state["std"].reshape(3)
    conv = state["patch_embed.weight"]  # (dim, 3, p, p) applied to (x - mean) / std
    pixel = PIXEL_SCALE / 255.0  # the model's x = byte / 255 = (byte / 256) * 256 / 255
    weights = {
        "patch_embed.weight": (conv * (pixel / std)[None, :, None, None]).reshape(config.dim, -1),
        "patch_embed.bias": state["patch_embed.bias"]
        - np.einsum("dcyx,c->d", conv, mean / std),
    }
    position = state["pos_embed"][0].copy()
    position[0] += state["cls_token"][0, 0]
    weights["embed.position"] = position
    scale = fold_scale(config.head_dim)
    for layer, block in enumerate(model.blocks):
        p, src = block_prefix(layer), f"blocks.{layer}."
        for norm in ("norm1", "norm2"):
            weights[p + f"{norm}.weight"] = state[src + f"{norm}.weight"]
            weights[p + f"{norm}.bias"] = state[src + f"{norm}.bias"]
        qkv_w = state[src + "attn.qkv.weight"].reshape(3, config.dim, config.dim)
        qkv_b = state[src + "attn.qkv.bias"].reshape(3, config.dim)
        for index, name in enumerate("qkv"):
            factor = scale if name == "q" else 1.0
            weights[p + f"attn.{name}.weight"] = qkv_w[index] * factor
            weights[p + f"attn.{name}.bias"] = qkv_b[index] * factor
        weights[p + "attn.proj.weight"] = state[src + "attn.proj.weight"]
        weights[p + "attn.proj.bias"] = state[src + "attn.proj.bias"]
        if isinstance(block.mlp, MoE):
            weights[p + "moe.gate.weight"] = state[src + "mlp.gates"]
            weights[p + "moe.fc1.weight"] = state[src + "mlp.w1"].transpose(0, 2, 1)
            weights[p + "moe.fc1.bias"] = state[src + "mlp.b1"]
            weights[p + "moe.fc2.weight"] = state[src + "mlp.w2"].transpose(0, 2, 1)
            weights[p + "moe.fc2.bias"] = state[src + "mlp.b2"]
        else:
            for name in ("fc1", "fc2"):
                weights[p + f"mlp.{name}.weight"] = state[src + f"mlp.{name}.weight"]
                weights[p + f"mlp.{name}.bias"] = state[src + f"mlp.{name}.bias"]
    if config.has_final_norm:
        weights["norm.weight"], weights["norm.bias"] = state["norm.weight"], state["norm.bias"]
    check_weights(weights, config)
    return {name: np.ascontiguousarray(value) for name, value in weights.items()}
