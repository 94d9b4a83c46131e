"""The fastest float32 PyTorch forward of an M3ViT backbone written here: the baseline the
simulator's speed is honestly measured against.

The same computation as ``M3ViT.features`` (its weights, its semantics: gate kind, final
norm), but inference mode, fused attention, and each MoE layer's experts as two batched
products: the tokens gathered into a (experts, most tokens an expert took, dim) block, fc1
and fc2 as ``baddbmm`` over all experts at once, the gate-weighted rows added back. The
model's own forward runs the experts one after another (and ONNX export runs them densely),
which is what the hardware does but not the fastest float path.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from edgemoe.model.m3vit import M3ViT, MoE, TaskLayerNorm, expert_ranks


def _moe(moe: MoE, x: torch.Tensor, task: int) -> torch.Tensor:
    tokens = x.reshape(-1, x.shape[-1])
    probs = (tokens @ moe.gates[task].t()).softmax(dim=-1)
    ranks = expert_ranks(probs)
    weights = torch.where(ranks < moe.top_k, probs, torch.zeros_like(probs))
    if moe.renormalize:
        weights = weights / weights.sum(dim=-1, keepdim=True)
    token, expert = torch.nonzero(ranks < moe.top_k, as_tuple=True)
    order = torch.argsort(expert, stable=True)
    token, expert = token[order], expert[order]
    counts = torch.bincount(expert, minlength=moe.w1.shape[0])
    starts = torch.cumsum(counts, 0) - counts
    slot = torch.arange(len(expert)) - starts[expert]
    block = tokens.new_zeros(moe.w1.shape[0], int(counts.max()), tokens.shape[1])
    block[expert, slot] = tokens[token]
    hidden = F.gelu(torch.baddbmm(moe.b1[:, None, :], block, moe.w1))
    out = torch.baddbmm(moe.b2[:, None, :], hidden, moe.w2)[expert, slot]
    update = torch.zeros_like(tokens).index_add_(0, token, out * weights[token, expert, None])
    return update.reshape(x.shape)


@torch.inference_mode()
def fast_features(model: M3ViT, images: torch.Tensor, task: str) -> torch.Tensor:
    """``model.features(images, task)[0]``, faster (float32 rounding aside)."""
    config = model.config
    task_index = config.task_index(task)
    x = model.patch_embed((images - model.mean) / model.std).flatten(2).transpose(1, 2)
    x = torch.cat([model.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + model.pos_embed
    for block in model.blocks:
        x = x + block.attn(block.norm1(x))
        normed = block.norm2(x)
        x = x + (_moe(block.mlp, normed, task_index) if isinstance(block.mlp, MoE)
                 else block.mlp(normed))
    if isinstance(model.norm, TaskLayerNorm):
        return model.norm(x, task_index)
    return x if model.norm is None else model.norm(x)
