"""The published models, written here from their papers' equations and their code's
weight layouts, independently of edgemoe's model: random weights in M3ViT's checkpoint
layout and in Edge-MoE's dump layout, and a float64 forward of each.

M3ViT (VITA-Group/M3ViT): a pre-norm ViT (LayerNorm eps 1e-6, qkv with bias, attention
scale head_dim^-0.5), MoE in odd blocks with FMoE experts stored (experts, out, in) and
per-task gates w_gate stored (dim, experts); each task's VisionTransformerUpHead: its own
LayerNorm, four 3x3 convs of 256 (BatchNorm eval, ReLU, bilinear 2x between them), a 1x1
conv and a last bilinear 2x (align_corners False). Edge-MoE: the same backbone, the CLS
token inside row 0 of the position embedding, pixels read as byte / 256, no final norm.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

EPS = 1e-6
BATCH_NORM_EPS = 1e-5
CHANNELS = 256
TASKS = ("semseg", "depth")  # M3ViT's order; gate t is task t's


def random_m3vit(dims: dict, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """An M3ViT multi-gate checkpoint's tensors (no ``module.`` prefix) for ``dims``."""
    d, p, e = dims["dim"], dims["patch"], dims["experts"]
    tokens = dims["rows"] * dims["cols"] + 1

    def w(*shape: int, fan_in: int) -> np.ndarray:
        return rng.normal(0, 1 / math.sqrt(fan_in), shape).astype(np.float32)

    def around(value: float, *shape: int) -> np.ndarray:
        return (value + 0.2 * rng.normal(size=shape)).astype(np.float32)

    sd = {"backbone.patch_embed.proj.weight": w(d, 3, p, p, fan_in=3 * p * p),
          "backbone.patch_embed.proj.bias": around(0, d),
          "backbone.cls_token": around(0, 1, 1, d), "backbone.pos_embed": around(0, 1, tokens, d)}
    for i in range(dims["layers"]):
        b = f"backbone.blocks.{i}."
        for n in ("norm1", "norm2"):
            sd[b + n + ".weight"], sd[b + n + ".bias"] = around(1, d), around(0, d)
        sd[b + "attn.qkv.weight"], sd[b + "attn.qkv.bias"] = w(3 * d, d, fan_in=d), around(0, 3 * d)
        sd[b + "attn.proj.weight"], sd[b + "attn.proj.bias"] = w(d, d, fan_in=d), around(0, d)
        if i % 2:
            h = dims["expert_hidden"]
            sd[b + "mlp.experts.htoh4.weight"] = w(e, h, d, fan_in=d)
            sd[b + "mlp.experts.htoh4.bias"] = around(0, e, h)
            sd[b + "mlp.experts.h4toh.weight"] = w(e, d, h, fan_in=h)
            sd[b + "mlp.experts.h4toh.bias"] = around(0, e, d)
            for t in range(len(TASKS)):
                sd[b + f"mlp.gate.{t}.w_gate"] = w(d, e, fan_in=d) * 4
        else:
            h = dims["mlp_hidden"]
            sd[b + "mlp.fc1.weight"], sd[b + "mlp.fc1.bias"] = w(h, d, fan_in=d), around(0, h)
            sd[b + "mlp.fc2.weight"], sd[b + "mlp.fc2.bias"] = w(d, h, fan_in=h), around(0, d)
    for task in TASKS:
        k = f"decoders.{task}."
        sd[k + "norm.weight"], sd[k + "norm.bias"] = around(1, d), around(0, d)
        for i in range(4):
            sd[k + f"conv_{i}.weight"] = w(CHANNELS, d if i == 0 else CHANNELS, 3, 3,
                                           fan_in=9 * (d if i == 0 else CHANNELS))
            sd[k + f"conv_{i}.bias"] = around(0, CHANNELS)
            bn = k + f"syncbn_fc_{i}."
            sd[bn + "weight"], sd[bn + "bias"] = around(1, CHANNELS), around(0, CHANNELS)
            sd[bn + "running_mean"] = around(0, CHANNELS)
            sd[bn + "running_var"] = (1 + np.abs(rng.normal(size=CHANNELS))).astype(np.float32)
            sd[bn + "num_batches_tracked"] = np.array(1000, dtype=np.int64)
        outputs = dims["classes"] if task == "semseg" else 1
        sd[k + "conv_4.weight"] = w(outputs, CHANNELS, 1, 1, fan_in=CHANNELS)
        sd[k + "conv_4.bias"] = around(0, outputs)
    return sd


def save_m3vit(sd: dict[str, np.ndarray], path: Path, ranks: int = 1) -> None:
    """As M3ViT's training saves it: one file, or a folder with a file per rank holding
    its share of the experts (rank 0 everything else too)."""
    def tensors(items):
        return {"module." + k: torch.from_numpy(np.asarray(v)) for k, v in items}

    if ranks == 1:
        torch.save({"epoch": 99, "state_dict": tensors(sd.items()), "best_result": {"miou": 0.5}},
                   path)
        return
    path.mkdir()
    for rank in range(ranks):
        share = {}
        for key, value in sd.items():
            if ".mlp.experts." in key:
                share[key] = np.array_split(value, ranks)[rank]
            elif rank == 0:
                share[key] = value
        torch.save({"state_dict": tensors(share.items())}, path / f"{rank}.pth")


def edge_moe_dumps(sd: dict[str, np.ndarray], folder: Path) -> None:
    """The M3ViT backbone's tensors as Edge-MoE dumps them (CLS folded into row 0)."""
    folder.mkdir()

    def dump(name: str, value: np.ndarray) -> None:
        np.asarray(value, "<f4").tofile(folder / f"{name}.float32.bin")

    dump("patch_embed_weight", sd["backbone.patch_embed.proj.weight"])
    dump("patch_embed_bias", sd["backbone.patch_embed.proj.bias"])
    position = sd["backbone.pos_embed"][0].copy()
    position[0] += sd["backbone.cls_token"][0, 0]
    dump("pos_embed", position)
    layer = 0
    while f"backbone.blocks.{layer}.norm1.weight" in sd:
        b, n = f"backbone.blocks.{layer}.", f"l{layer}_"
        for src, dst in (("norm1.weight", "norm1_weight"), ("norm1.bias", "norm1_bias"),
                         ("norm2.weight", "norm2_weight"), ("norm2.bias", "norm2_bias"),
                         ("attn.qkv.weight", "qkv_weight"), ("attn.qkv.bias", "qkv_bias"),
                         ("attn.proj.weight", "attn_proj_weight"),
                         ("attn.proj.bias", "attn_proj_bias"),
                         ("mlp.fc1.weight", "fc1_weight"), ("mlp.fc1.bias", "fc1_bias"),
                         ("mlp.fc2.weight", "fc2_weight"), ("mlp.fc2.bias", "fc2_bias"),
                         ("mlp.experts.htoh4.weight", "htoh4_weight"),
                         ("mlp.experts.htoh4.bias", "htoh4_bias"),
                         ("mlp.experts.h4toh.weight", "h4toh_weight"),
                         ("mlp.experts.h4toh.bias", "h4toh_bias")):
            if b + src in sd:
                dump(n + dst, sd[b + src])
        for t in range(len(TASKS)):
            if b + f"mlp.gate.{t}.w_gate" in sd:
                dump(n + f"w_gate_T_task{t}", sd[b + f"mlp.gate.{t}.w_gate"].T)
        layer += 1
    dump("image", np.zeros((3, 4, 4)))  # Edge-MoE's test input: not a weight


# ----------------------------------------------------------------------------- forwards
def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + EPS) * weight + bias


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


_erf = np.vectorize(math.erf)


def _gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1 + _erf(x / math.sqrt(2)))


def backbone(sd: dict[str, np.ndarray], pixels: np.ndarray, dims: dict, task: int,
             renormalize: bool) -> np.ndarray:
    """Tokens after the last block; ``pixels`` (3, H, W) as the model's first conv sees them
    (normalized), ``task`` the gate's index."""
    f = {k: np.asarray(v, np.float64) for k, v in sd.items()}
    p, d, heads, k = dims["patch"], dims["dim"], dims["heads"], dims["top_k"]
    conv = f["backbone.patch_embed.proj.weight"]
    rows, cols = pixels.shape[1] // p, pixels.shape[2] // p
    patches = pixels.reshape(3, rows, p, cols, p).transpose(1, 3, 0, 2, 4).reshape(-1, 3 * p * p)
    x = patches @ conv.reshape(d, -1).T + f["backbone.patch_embed.proj.bias"]
    x = np.concatenate([f["backbone.cls_token"][0], x]) + f["backbone.pos_embed"][0]
    hd = d // heads
    for i in range(dims["layers"]):
        b = f"backbone.blocks.{i}."
        h = _layer_norm(x, f[b + "norm1.weight"], f[b + "norm1.bias"])
        qkv = (h @ f[b + "attn.qkv.weight"].T + f[b + "attn.qkv.bias"]).reshape(-1, 3, heads, hd)
        q, kk, v = qkv[:, 0].transpose(1, 0, 2), qkv[:, 1].transpose(1, 0, 2), \
            qkv[:, 2].transpose(1, 0, 2)
        attended = _softmax(q @ kk.transpose(0, 2, 1) * hd**-0.5) @ v
        x = x + attended.transpose(1, 0, 2).reshape(-1, d) @ f[b + "attn.proj.weight"].T \
            + f[b + "attn.proj.bias"]
        h = _layer_norm(x, f[b + "norm2.weight"], f[b + "norm2.bias"])
        if i % 2:
            logits = h @ f[b + f"mlp.gate.{task}.w_gate"]
            probs = _softmax(logits)
            update = np.zeros_like(x)
            for t in range(len(x)):
                top = sorted(range(probs.shape[1]), key=lambda e: (-probs[t, e], e))[:k]
                scores = _softmax(logits[t, top]) if renormalize else probs[t, top]
                for e, score in zip(top, scores, strict=True):
                    hidden = _gelu(h[t] @ f[b + "mlp.experts.htoh4.weight"][e].T
                                   + f[b + "mlp.experts.htoh4.bias"][e])
                    update[t] += score * (hidden @ f[b + "mlp.experts.h4toh.weight"][e].T
                                          + f[b + "mlp.experts.h4toh.bias"][e])
            x = x + update
        else:
            hidden = _gelu(h @ f[b + "mlp.fc1.weight"].T + f[b + "mlp.fc1.bias"])
            x = x + hidden @ f[b + "mlp.fc2.weight"].T + f[b + "mlp.fc2.bias"]
    return x


def _bilinear_matrix(n: int) -> np.ndarray:
    """(2n, n): 2x up-sampling of n samples, half-pixel centres, clamped at the edges."""
    out = np.zeros((2 * n, n))
    for o in range(2 * n):
        src = max((o + 0.5) / 2 - 0.5, 0.0)
        low = min(math.floor(src), n - 1)
        high, frac = min(low + 1, n - 1), src - math.floor(src)
        out[o, low] += 1 - frac
        out[o, high] += frac
    return out


def _up(x: np.ndarray) -> np.ndarray:
    _, rows, cols = x.shape
    return np.einsum("ri,cij,sj->crs", _bilinear_matrix(rows), x, _bilinear_matrix(cols))


def _conv(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    size = weight.shape[-1]
    pad = size // 2
    padded = np.pad(x, ((0, 0), (pad, pad), (pad, pad)))
    _, rows, cols = x.shape
    out = np.zeros((weight.shape[0], rows, cols))
    for dy in range(size):
        for dx in range(size):
            out += np.einsum("oc,chw->ohw", weight[:, :, dy, dx],
                             padded[:, dy:dy + rows, dx:dx + cols])
    return out + bias[:, None, None]


def head(sd: dict[str, np.ndarray], tokens: np.ndarray, dims: dict, task: str) -> np.ndarray:
    """M3ViT's VisionTransformerUpHead on the backbone's tokens (CLS first)."""
    f = {k: np.asarray(v, np.float64) for k, v in sd.items() if k.startswith("decoders.")}
    k = f"decoders.{task}."
    x = _layer_norm(tokens[1:], f[k + "norm.weight"], f[k + "norm.bias"])
    x = x.T.reshape(-1, dims["rows"], dims["cols"])
    for i in range(4):
        bn = k + f"syncbn_fc_{i}."
        x = _conv(x, f[k + f"conv_{i}.weight"], f[k + f"conv_{i}.bias"])
        x = (x - f[bn + "running_mean"][:, None, None]) / np.sqrt(
            f[bn + "running_var"][:, None, None] + BATCH_NORM_EPS)
        x = np.maximum(x * f[bn + "weight"][:, None, None] + f[bn + "bias"][:, None, None], 0)
        if i < 3:
            x = _up(x)
    return _up(_conv(x, f[k + "conv_4.weight"], f[k + "conv_4.bias"]))
