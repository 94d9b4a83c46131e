"""M3ViT's checkpoints (VITA-Group/M3ViT): reading them, and where each tensor goes.

A checkpoint is one file (``torch.save`` of a dict whose ``state_dict`` holds the
weights, keys prefixed ``module.`` by the data-parallel wrapper), or, as its MoE training
saves it, a folder of per-rank files ``0.pth``, ``1.pth`` ...: rank 0 holds everything
with its own experts, every other rank only its experts, which follow in rank order.

The layout: ``backbone.patch_embed.proj``, ``backbone.cls_token``, ``backbone.pos_embed``
and ``backbone.blocks.N``; a MoE layer's experts are FMoE linears stored (experts, out, in)
as ``mlp.experts.htoh4`` and ``mlp.experts.h4toh``, its per-task gates
``mlp.gate.T.w_gate`` stored (dim, experts). The backbone has no final norm: each task's
``decoders.TASK`` (``VisionTransformerUpHead``) starts with its own LayerNorm, then
``conv_0`` ... ``conv_3`` (3x3) with ``syncbn_fc_0`` ... ``syncbn_fc_3`` and ``conv_4``
(1x1). A multi-gate model's gate T belongs to the T-th of its tasks in M3ViT's own task
order, whatever order a config lists them in; a model trained without ``--multi_gate``
has one ``mlp.gate.w_gate`` that every task uses.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import torch

from edgemoe.sim.config import ModelConfig
from edgemoe.sim.tasks import OFFICIAL_ORDER, TASKS

from .heads import OFFICIAL_CHANNELS
from .placement import ImportFailure, Placement, fmoe_experts

#: Keys that take no part in inference: the task-attention modules only training uses,
#: and the noise weights of GShard-style gates (no noise at inference).
TRAINING_ONLY = re.compile(r"^tam_model\d*\.|\.w_noise$")
RANK_FILE = re.compile(r"^(\d+)\.pth$")
EXPERT_KEY = ".mlp.experts."


def _state_dict(path: Path) -> dict[str, torch.Tensor]:
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several kinds for a damaged or foreign file
        reason = (str(err).strip().splitlines() or ["no detail"])[0]
        raise ImportFailure(f"{path} cannot be read as a PyTorch checkpoint "
                            f"({type(err).__name__}: {reason})") from None
    if isinstance(payload, dict):
        for key in ("state_dict", "model"):
            if isinstance(payload.get(key), dict):
                payload = payload[key]
                break
    if not isinstance(payload, dict) or not payload or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in payload.items()):
        raise ImportFailure(f"{path} holds no state dict (a mapping of names to tensors, "
                            "alone or under 'state_dict')")
    state = {}
    for key, value in payload.items():
        if value.layout != torch.strided or value.is_complex() or value.is_quantized:
            raise ImportFailure(f"{path}: {key} is a {value.layout} {value.dtype} tensor; the "
                                "importer reads dense real ones")
        # float32 holds every float16 and bfloat16; float64 stays exact for the checks
        if value.is_floating_point() and value.dtype != torch.float64:
            value = value.to(torch.float32)
        state[key.removeprefix("module.")] = value
    return state


def read_checkpoint(source: Path) -> dict[str, np.ndarray]:
    """Every tensor of an M3ViT checkpoint file or per-rank folder, by name, experts of
    all ranks concatenated."""
    if not source.is_dir():
        if not source.is_file():
            raise ImportFailure(f"no M3ViT checkpoint at {source}")
        return {k: v.numpy() for k, v in _state_dict(source).items()}
    ranks = sorted((int(m.group(1)), p) for p in source.iterdir()
                   if (m := RANK_FILE.match(p.name)))
    if not ranks or [r for r, _ in ranks] != list(range(len(ranks))):
        raise ImportFailure(f"{source} is a folder but not an M3ViT per-rank checkpoint "
                            "(0.pth, 1.pth, ... with no rank missing)")
    states = [_state_dict(path) for _, path in ranks]
    merged = dict(states[0])
    for rank, state in enumerate(states[1:], start=1):
        for key, value in state.items():
            if EXPERT_KEY not in key or key not in merged:
                raise ImportFailure(f"{ranks[rank][1]} holds {key}, which is no expert of "
                                    "rank 0's model")
            if value.shape[1:] != merged[key].shape[1:] or value.dtype != merged[key].dtype:
                raise ImportFailure(f"{ranks[rank][1]}: {key} is {value.dtype} "
                                    f"{tuple(value.shape)}, rank 0's experts are "
                                    f"{merged[key].dtype} {tuple(merged[key].shape)}")
            merged[key] = torch.cat([merged[key], value])
    return {k: v.numpy() for k, v in merged.items()}


def checkpoint_tasks(tensors: dict[str, np.ndarray]) -> list[str]:
    """The official names of the tasks a checkpoint has decoders for, in M3ViT's order."""
    present = {key.split(".")[1] for key in tensors if key.startswith("decoders.")}
    return [task for task in OFFICIAL_ORDER if task in present]


def official_name(task: str) -> str:
    return TASKS[task].official


def shared_gate(tensors: dict[str, np.ndarray]) -> bool:
    """Whether the checkpoint's MoE layers have one gate for every task."""
    return any(key.endswith(".mlp.gate.w_gate") for key in tensors)


def placements(config: ModelConfig, tasks: list[str], one_gate: bool = False,
               ) -> list[Placement]:
    """Where every tensor of an M3ViT checkpoint with decoders for ``tasks`` (official
    names, M3ViT's order) goes in the config's model; ``one_gate``: its MoE layers have one
    gate for every task."""
    problems = [f"{field} must be {value!r}" for field, value in (
        ("final_norm", "per-task"), ("task_head", "official")) if getattr(config, field) != value]
    missing = [t for t in config.tasks if official_name(t) not in tasks]
    if missing:
        problems.append(f"its tasks {missing} have no decoders in the checkpoint (it has "
                        f"{tasks})")
    if problems:
        raise ImportFailure(f"an M3ViT checkpoint cannot fill config {config.name!r}: "
                            + "; ".join(problems))
    dim, patch, experts = config.dim, config.patch, config.experts
    out = [Placement("backbone.patch_embed.proj.weight", "patch_embed.weight",
                     (dim, 3, patch, patch)),
           Placement("backbone.patch_embed.proj.bias", "patch_embed.bias", (dim,)),
           Placement("backbone.cls_token", "cls_token", (1, 1, dim)),
           Placement("backbone.pos_embed", "pos_embed", (1, config.tokens, dim))]
    for layer in range(config.layers):
        src, dst = f"backbone.blocks.{layer}.", f"blocks.{layer}."

        def same(name: str, shape: tuple[int, ...], src: str = src, dst: str = dst) -> Placement:
            return Placement(src + name, dst + name, shape)

        for norm in ("norm1", "norm2"):
            out += [same(f"{norm}.weight", (dim,)), same(f"{norm}.bias", (dim,))]
        out += [same("attn.qkv.weight", (3 * dim, dim)), same("attn.qkv.bias", (3 * dim,)),
                same("attn.proj.weight", (dim, dim)), same("attn.proj.bias", (dim,))]
        if layer in config.moe_layers:
            names = tuple(f"{src}mlp.experts.{linear}.{part}" for linear in ("htoh4", "h4toh")
                          for part in ("weight", "bias"))
            out += fmoe_experts(names, dst + "mlp.", experts, dim, config.expert_hidden)
            out += [Placement(f"{src}mlp.gate.w_gate" if one_gate else
                              f"{src}mlp.gate.{tasks.index(official_name(task))}.w_gate",
                              dst + "mlp.gates", (dim, experts), permute=(1, 0), row=row)
                    for row, task in enumerate(config.tasks)]
        else:
            hidden = config.mlp_hidden
            out += [same("mlp.fc1.weight", (hidden, dim)), same("mlp.fc1.bias", (hidden,)),
                    same("mlp.fc2.weight", (dim, hidden)), same("mlp.fc2.bias", (dim,))]
    for row, task in enumerate(config.tasks):
        out += _head(config, task, row)
    return out


def _head(config: ModelConfig, task: str, row: int) -> list[Placement]:
    src, dst = f"decoders.{official_name(task)}.", f"heads.{task}."
    out = [Placement(src + "norm.weight", "norm.weight", (config.dim,), row=row),
           Placement(src + "norm.bias", "norm.bias", (config.dim,), row=row)]
    stages, channels = int(math.log2(config.patch)), OFFICIAL_CHANNELS
    for stage in range(stages):
        inputs = config.dim if stage == 0 else channels
        out += [Placement(f"{src}conv_{stage}.weight", f"{dst}convs.{stage}.weight",
                          (channels, inputs, 3, 3)),
                Placement(f"{src}conv_{stage}.bias", f"{dst}convs.{stage}.bias", (channels,))]
        out += [Placement(f"{src}syncbn_fc_{stage}.{name}", f"{dst}norms.{stage}.{name}",
                          (channels,))
                for name in ("weight", "bias", "running_mean", "running_var")]
        out.append(Placement(f"{src}syncbn_fc_{stage}.num_batches_tracked",
                             f"{dst}norms.{stage}.num_batches_tracked", ()))
    outputs = config.outputs(task)
    return [*out, Placement(f"{src}conv_{stages}.weight", f"{dst}classifier.weight",
                            (outputs, channels, 1, 1)),
            Placement(f"{src}conv_{stages}.bias", f"{dst}classifier.bias", (outputs,))]


def left_over(tensors: dict[str, np.ndarray], placed: list[Placement],
              tasks: list[str], config: ModelConfig) -> list[str]:
    """Names the checkpoint holds that change the forward and that nothing placed: the
    tasks the config leaves out are fine, training-only modules too."""
    used = {p.source for p in placed}
    kept = {official_name(t) for t in config.tasks}
    dropped_gates = [str(tasks.index(t)) for t in tasks if t not in kept]
    return sorted(
        key for key in tensors
        if key not in used and not TRAINING_ONLY.search(key)
        and not (key.startswith("decoders.") and key.split(".")[1] not in kept)
        and not any(f".mlp.gate.{g}." in key for g in dropped_gates))
