"""M3ViT: a multi-task ViT whose odd layers are mixture-of-experts, one gate per task.

As in M3ViT (NeurIPS 2022) and as the Edge-MoE accelerator computes it: pre-LayerNorm
blocks, multi-head attention with a biased qkv projection, dense GELU MLPs in even layers
and MoE layers in odd ones. An MoE layer gates each token with the task's own bias-free
linear gate, takes a softmax over all experts and keeps the top-k, weighting each kept
expert's output by its softmax probability: *without renormalizing* over the k (the
``softmax-all`` gate, M3ViT's at inference) or renormalized (``renormalized-top-k``).
Ties in the top-k go to the lower expert index, everywhere in this project. The final
LayerNorm is shared by the tasks, one per task, or absent (``final_norm``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from edgemoe.sim.config import ModelConfig

from .heads import task_head

#: The upsampling depth head predicts log(depth / DEPTH_SCALE); forward returns metres.
DEPTH_SCALE = 10.0


def expert_ranks(probs: torch.Tensor) -> torch.Tensor:
    """Rank of every expert (0 = best) by probability; ties go to the lower expert index.

    Counting, for each expert, the experts that beat it is exact and order-free, so
    PyTorch, an exported ONNX graph and the accelerator's comparator all agree on ties
    (torch.topk does not promise an order for them).
    """
    experts = probs.shape[-1]
    index = torch.arange(experts, device=probs.device)
    other, this = probs.unsqueeze(-2), probs.unsqueeze(-1)  # (..., 1, E) and (..., E, 1)
    beats = (other > this) | ((other == this) & (index < index.unsqueeze(-1)))
    return beats.sum(dim=-1)


def top_k_experts(probs: torch.Tensor, k: int) -> torch.Tensor:
    """Ids of the k most probable experts, best first, ties to the lower index."""
    ranks = expert_ranks(probs)
    return torch.stack([(ranks == rank).int().argmax(dim=-1) for rank in range(k)], dim=-1)


@dataclass
class Routing:
    """What one MoE layer's gate decided for a batch."""

    probs: torch.Tensor  # (B, T, E) softmax over all experts
    ranks: torch.Tensor  # (B, T, E) 0 = most probable
    top_k: int

    @property
    def chosen(self) -> torch.Tensor:
        """(B, T, k) expert ids, most probable first."""
        return torch.stack([(self.ranks == rank).int().argmax(dim=-1)
                            for rank in range(self.top_k)], dim=-1)


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=True)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, tokens, dim = x.shape
        qkv = self.qkv(x).reshape(batch, tokens, 3, self.heads, dim // self.heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, k, v)  # softmax(q k^T / sqrt(d)) v
        return self.proj(out.transpose(1, 2).reshape(batch, tokens, dim))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class MoE(nn.Module):
    """Experts as stacked weights; gates one per task.

    ``expert_ids`` names the experts this module holds: all of them in a full model, the
    ones a task uses in a pruned one. The gate always scores every expert, so a pruned
    model's probabilities (and outputs) are the full model's.
    """

    def __init__(self, dim: int, hidden: int, experts: int, top_k: int, tasks: int,
                 renormalize: bool = False) -> None:
        super().__init__()
        self.top_k, self.renormalize = top_k, renormalize
        self.gates = nn.Parameter(torch.empty(tasks, experts, dim))
        self.w1 = nn.Parameter(torch.empty(experts, dim, hidden))
        self.b1 = nn.Parameter(torch.empty(experts, hidden))
        self.w2 = nn.Parameter(torch.empty(experts, hidden, dim))
        self.b2 = nn.Parameter(torch.empty(experts, dim))
        self.register_buffer("expert_ids", torch.arange(experts))
        self.dense_dispatch = False  # True while exporting a graph
        self._init(dim, hidden)

    def _init(self, dim: int, hidden: int) -> None:
        for weight, bias, fan_in in ((self.w1, self.b1, dim), (self.w2, self.b2, hidden)):
            bound = 1.0 / math.sqrt(fan_in)  # nn.Linear's default
            nn.init.uniform_(weight, -bound, bound)
            nn.init.uniform_(bias, -bound, bound)
        nn.init.normal_(self.gates, std=0.02)

    def forward(self, x: torch.Tensor, task: int) -> tuple[torch.Tensor, Routing]:
        probs = (x @ self.gates[task].t()).softmax(dim=-1)
        ranks = expert_ranks(probs)
        weights = torch.where(ranks < self.top_k, probs, torch.zeros_like(probs))
        if self.renormalize:
            weights = weights / weights.sum(dim=-1, keepdim=True)
        weights = weights[..., self.expert_ids]  # (B, T, held experts)
        run = self._all_experts if self.dense_dispatch else self._chosen_experts
        return run(x, weights), Routing(probs, ranks, self.top_k)

    def _chosen_experts(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """Each expert on the tokens that chose it (gather), outputs weighted and added
        back into their rows (scatter): the work the hardware does."""
        tokens = x.reshape(-1, x.shape[-1])
        gates = weights.reshape(-1, weights.shape[-1])
        out = torch.zeros_like(tokens)
        for expert in range(gates.shape[1]):
            chosen = torch.nonzero(gates[:, expert]).squeeze(1)
            if chosen.numel() == 0:
                continue
            hidden = F.gelu(tokens[chosen] @ self.w1[expert] + self.b1[expert])
            update = (hidden @ self.w2[expert] + self.b2[expert]) * gates[chosen, expert, None]
            out = out.index_add(0, chosen, update)
        return out.reshape(x.shape)

    def _all_experts(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """Every held expert on every token, unchosen ones weighted 0: shapes that do not
        depend on the data, for graph export. sum_e w_e (h_e W2_e + b2_e) is
        [w_1 h_1 ... w_E h_E] [W2_1; ...; W2_E] + w b2: two matrix products."""
        experts, dim, hidden = self.w1.shape
        h = F.gelu(x @ self.w1.permute(1, 0, 2).reshape(dim, experts * hidden)
                   + self.b1.reshape(-1))
        h = (h.unflatten(-1, (experts, hidden)) * weights.unsqueeze(-1)).flatten(-2)
        return h @ self.w2.reshape(experts * hidden, dim) + weights @ self.b2


class TaskLayerNorm(nn.Module):
    """One LayerNorm per task, stacked: ``weight`` and ``bias`` are (tasks, dim)."""

    def __init__(self, tasks: int, dim: int, eps: float) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(tasks, dim))
        self.bias = nn.Parameter(torch.zeros(tasks, dim))

    def forward(self, x: torch.Tensor, task: int) -> torch.Tensor:
        return F.layer_norm(x, x.shape[-1:], self.weight[task], self.bias[task], self.eps)


def final_norm(config: ModelConfig) -> nn.Module | None:
    if config.final_norm == "shared":
        return nn.LayerNorm(config.dim, eps=config.layer_norm_eps)
    if config.final_norm == "per-task":
        return TaskLayerNorm(len(config.tasks), config.dim, config.layer_norm_eps)
    return None


class Block(nn.Module):
    def __init__(self, config: ModelConfig, moe: bool) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(config.dim, eps=config.layer_norm_eps)
        self.attn = Attention(config.dim, config.heads)
        self.norm2 = nn.LayerNorm(config.dim, eps=config.layer_norm_eps)
        if moe:
            self.mlp = MoE(config.dim, config.expert_hidden, config.experts, config.top_k,
                           len(config.tasks), renormalize=config.renormalizes_top_k)
        else:
            self.mlp = Mlp(config.dim, config.mlp_hidden)

    def forward(self, x: torch.Tensor, task: int) -> tuple[torch.Tensor, Routing | None]:
        x = x + self.attn(self.norm1(x))
        if isinstance(self.mlp, MoE):
            update, routing = self.mlp(self.norm2(x), task)
            return x + update, routing
        return x + self.mlp(self.norm2(x)), None


class M3ViT(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        # the input's normalization is inside the model, so exported graphs and the
        # accelerator take plain [0, 1] images
        self.register_buffer("mean", torch.tensor(config.image_mean).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(config.image_std).view(1, 3, 1, 1))
        self.patch_embed = nn.Conv2d(3, config.dim, config.patch, stride=config.patch)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, config.dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, config.tokens, config.dim))
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        self.blocks = nn.ModuleList(Block(config, layer in config.moe_layers)
                                    for layer in range(config.layers))
        self.norm = final_norm(config)
        self.heads = nn.ModuleDict({
            task: task_head(config.task_head, config.dim, config.patch, config.outputs(task))
            for task in config.tasks})

    def check_images(self, images: torch.Tensor) -> None:
        expected = (3, self.config.image_height, self.config.image_width)
        if images.ndim != 4 or tuple(images.shape[1:]) != expected:
            raise ValueError(f"expected images of shape (batch, {', '.join(map(str, expected))})"
                             f" for config {self.config.name!r}, got {tuple(images.shape)}")

    def features(self, images: torch.Tensor, task: str) -> tuple[torch.Tensor, list[Routing]]:
        """Token features after the final LayerNorm if any (CLS first), and each MoE's
        routing."""
        self.check_images(images)
        task_index = self.config.task_index(task)
        x = self.patch_embed((images - self.mean) / self.std).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        routings = []
        for block in self.blocks:
            x, routing = block(x, task_index)
            if routing is not None:
                routings.append(routing)
        if isinstance(self.norm, TaskLayerNorm):
            return self.norm(x, task_index), routings
        return (x if self.norm is None else self.norm(x)), routings

    def forward_with_routing(self, images: torch.Tensor, task: str,
                             ) -> tuple[torch.Tensor, list[Routing]]:
        tokens, routings = self.features(images, task)
        rows, cols = self.config.grid
        grid = tokens[:, 1:].transpose(1, 2).reshape(tokens.shape[0], self.config.dim, rows, cols)
        out = self.heads[task](grid)
        if task == "depth" and self.config.log_depth:
            out = torch.exp(out) * DEPTH_SCALE
        return out, routings

    def forward(self, images: torch.Tensor, task: str) -> torch.Tensor:
        """Segmentation logits (B, C, H, W) or depth in metres (B, 1, H, W)."""
        return self.forward_with_routing(images, task)[0]

    def moe_modules(self) -> list[MoE]:
        return [block.mlp for block in self.blocks if isinstance(block.mlp, MoE)]
