"""Edge-MoE's weight dumps (sharc-lab/Edge-MoE, ``weights/*.float32.bin``): where each goes.

Each tensor is a file of raw little-endian float32 in C order, no header:
``patch_embed_weight`` (dim, 3, patch, patch), ``pos_embed`` (tokens, dim) whose row 0
already holds the CLS token, and per layer N ``lN_norm1_weight``, ``lN_qkv_weight``
(3 dim, dim: q, k, v rows), ``lN_attn_proj_weight``, ``lN_norm2_*``, then ``lN_fc1_*`` and
``lN_fc2_*`` in dense layers or ``lN_htoh4_*`` / ``lN_h4toh_*`` (experts, out, in) and
``lN_w_gate_T_taskK`` (experts, dim) in MoE layers. Task K is the K-th of the model's
tasks in M3ViT's order (segmentation before depth). The kernel ends after the last block
(no final norm) and its dumps hold no task heads. Other files (the test image, reference
activations) are left alone.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgemoe.sim.config import ModelConfig
from edgemoe.sim.tasks import OFFICIAL_ORDER

from .m3vit_layout import official_name
from .placement import ImportFailure, Placement, fmoe_experts

SUFFIX = ".float32.bin"


def read_dump(folder: Path, name: str, shape: tuple[int, ...]) -> np.ndarray | None:
    """``name``'s dump, or None if there is none; a file of the wrong size is refused."""
    path = folder / f"{name}{SUFFIX}"
    if not path.is_file():
        return None
    expected = 4 * int(np.prod(shape))
    size = path.stat().st_size
    if size != expected:
        raise ImportFailure(f"{path} has {size} bytes; the config's shape {shape} needs "
                            f"{expected} (float32)")
    return np.fromfile(path, dtype="<f4").reshape(shape)


def placements(config: ModelConfig) -> list[Placement]:
    if config.has_final_norm:
        raise ImportFailure(f"Edge-MoE's kernel has no final norm; config {config.name!r} has "
                            f"final_norm: {config.final_norm} (use one with final_norm: none, "
                            "such as m3vit-s-edge-moe)")
    dim, patch, experts = config.dim, config.patch, config.experts
    order = sorted(config.tasks, key=lambda t: OFFICIAL_ORDER.index(official_name(t)))
    out = [Placement("patch_embed_weight", "patch_embed.weight", (dim, 3, patch, patch)),
           Placement("patch_embed_bias", "patch_embed.bias", (dim,)),
           Placement("pos_embed", "pos_embed", (config.tokens, dim))]
    for layer in range(config.layers):
        src, dst = f"l{layer}_", f"blocks.{layer}."
        for norm in ("norm1", "norm2"):
            out += [Placement(f"{src}{norm}_weight", f"{dst}{norm}.weight", (dim,)),
                    Placement(f"{src}{norm}_bias", f"{dst}{norm}.bias", (dim,))]
        out += [Placement(src + "qkv_weight", dst + "attn.qkv.weight", (3 * dim, dim)),
                Placement(src + "qkv_bias", dst + "attn.qkv.bias", (3 * dim,)),
                Placement(src + "attn_proj_weight", dst + "attn.proj.weight", (dim, dim)),
                Placement(src + "attn_proj_bias", dst + "attn.proj.bias", (dim,))]
        if layer in config.moe_layers:
            names = tuple(f"{src}{linear}_{part}" for linear in ("htoh4", "h4toh")
                          for part in ("weight", "bias"))
            out += fmoe_experts(names, dst + "mlp.", experts, dim, config.expert_hidden)
            out += [Placement(f"{src}w_gate_T_task{order.index(task)}", dst + "mlp.gates",
                              (experts, dim), row=row)
                    for row, task in enumerate(config.tasks)]
        else:
            hidden = config.mlp_hidden
            out += [Placement(src + "fc1_weight", dst + "mlp.fc1.weight", (hidden, dim)),
                    Placement(src + "fc1_bias", dst + "mlp.fc1.bias", (hidden,)),
                    Placement(src + "fc2_weight", dst + "mlp.fc2.weight", (dim, hidden)),
                    Placement(src + "fc2_bias", dst + "mlp.fc2.bias", (dim,))]
    return out
