"""``edgemoe export``: a trained checkpoint to an artifact folder.

artifacts/NAME/
  manifest.json      the contract: shapes, formats, tensor offsets, kernel interface, SHA-256s
  weights.bin        raw fixed-point words in the kernel's DDR layout
  heads.npz          the float task heads the board's ARM cores run
  vectors/           input images and the simulator's per-layer outputs for each task
  model_<task>.onnx  the float model per task (optional)

Everything is written into a scratch folder beside the target and renamed into place at
the end, so a failed export leaves no half artifact (and an old one stays intact).
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from edgemoe import sim
from edgemoe.sim.accelerator import Accelerator
from edgemoe.sim.approx import ExpSpec, GeluSpec, ReciprocalSpec, RsqrtSpec
from edgemoe.sim.artifact import FORMAT_VERSION, MANIFEST, sha256_of
from edgemoe.sim.atomic import atomic_directory
from edgemoe.sim.config import AcceleratorConfig
from edgemoe.sim.kernel_interface import KERNEL_NAME, register_map
from edgemoe.sim.network import weight_shapes
from edgemoe.sim.quant import QuantSpec, quantize_weights
from edgemoe.sim.weight_pack import ALIGNMENT, container_bytes, pack, to_bytes

from .m3vit import DEPTH_SCALE, M3ViT


def head_layers(model: M3ViT) -> tuple[dict[str, list[dict[str, Any]]], dict[str, np.ndarray]]:
    """Each task head as a list of layers plus its arrays (float32)."""
    described: dict[str, list[dict[str, Any]]] = {}
    arrays: dict[str, np.ndarray] = {}
    for task, head in model.heads.items():
        layers: list[dict[str, Any]] = []
        for index, module in enumerate(head.layers):
            if isinstance(module, nn.ReLU):
                layers.append({"op": "relu"})
                continue
            op = "conv_transpose2x2" if isinstance(module, nn.ConvTranspose2d) else "conv3x3"
            key = f"{task}.{index}"
            arrays[f"{key}.weight"] = module.weight.detach().float().numpy()
            arrays[f"{key}.bias"] = module.bias.detach().float().numpy()
            layers.append({"op": op, "weight": f"{key}.weight", "bias": f"{key}.bias"})
        if task == "depth":
            layers.append({"op": "exp_scale", "scale": DEPTH_SCALE})
        described[task] = layers
    return described, arrays


def approximation_parameters(spec: QuantSpec) -> dict[str, Any]:
    """The table parameters the generators need (formats are in the quantization spec)."""
    exp = ExpSpec(spec.fmt("blocks.0.softmax.diff"), spec.fmt("blocks.0.softmax.exp"))
    reciprocal = ReciprocalSpec(spec.fmt("blocks.0.softmax.sum"),
                                spec.fmt("blocks.0.softmax.inv_sum"))
    rsqrt = RsqrtSpec(spec.fmt("norm.var"), spec.fmt("norm.inv_std"))
    gelu = GeluSpec(spec.fmt("blocks.0.fc1"), spec.fmt("blocks.0.hidden"))
    return {"exp": {"table_bits": exp.table_bits, "frac_bits": exp.frac_bits},
            "reciprocal": {"seed_bits": reciprocal.seed_bits,
                           "newton_steps": reciprocal.newton_steps,
                           "work_bits": reciprocal.work_bits},
            "rsqrt": {"seed_bits": rsqrt.seed_bits, "newton_steps": rsqrt.newton_steps,
                      "work_bits": rsqrt.work_bits},
            "gelu": {"step_bits": gelu.step_bits, "limit": gelu.limit,
                     "frac_bits": gelu.frac_bits}}


def _file_entry(path: Path, root: Path, data: bytes, **extra: Any) -> dict[str, Any]:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return {"file": str(path.relative_to(root)), "bytes": len(data),
            "sha256": sha256_of(data), **extra}


def _vectors(accelerator: Accelerator, images: np.ndarray, tasks: Sequence[str],
             scratch: Path) -> dict[str, Any]:
    section: dict[str, Any] = {"images": _file_entry(
        scratch / "vectors" / "images.bin", scratch, images.tobytes(),
        shape=list(images.shape), dtype="uint8")}
    outputs: dict[str, dict[str, Any]] = {}
    for task in tasks:
        traces = [accelerator.run(image, task, trace=True).trace for image in images]
        entries = {}
        for name in traces[0]:  # every layer's outputs, stacked over the images
            stacked = sim.FixedArray(np.stack([t[name].raw for t in traces]),
                                     traces[0][name].fmt)
            entries[name] = _file_entry(
                scratch / "vectors" / task / f"{name}.bin", scratch, to_bytes(stacked),
                offset=0, shape=list(stacked.shape), format=stacked.fmt.to_dict(),
                cpp_type=stacked.fmt.cpp_type, container_bytes=container_bytes(stacked.fmt))
        outputs[task] = entries
    section["outputs"] = outputs
    return section


def export_artifact(model: M3ViT, weights: dict[str, np.ndarray], spec: QuantSpec,
                    accelerator: AcceleratorConfig, out_dir: Path, vector_images: np.ndarray,
                    onnx_images: torch.Tensor | None = None, progress: bool = True) -> Path:
    """Write the artifact for ``model`` quantized by ``spec`` to ``out_dir``."""
    config = model.config
    quantized = quantize_weights(weights, spec, config)
    blob, entries = pack({name: quantized[name] for name in weight_shapes(config)})
    with atomic_directory(out_dir) as scratch:
        steps = tqdm(total=4 if onnx_images is not None else 3, desc="export", unit="step",
                     disable=not progress, leave=False)
        manifest: dict[str, Any] = {
            "format_version": FORMAT_VERSION,
            "name": out_dir.name,
            "model": config.to_dict(),
            "accelerator": accelerator.to_dict(),
            "tasks": list(config.tasks),
            "quantization": spec.to_dict(),
            "approximations": approximation_parameters(spec),
            "weights": _file_entry(scratch / "weights.bin", scratch, blob, alignment=ALIGNMENT,
                                   tensors={n: e.to_dict() for n, e in entries.items()}),
            "kernel": {"name": KERNEL_NAME, "arguments": register_map(),
                       "output_format": spec.fmt("norm").to_dict()},
        }
        steps.update()
        layers, arrays = head_layers(model)
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        manifest["heads"] = _file_entry(scratch / "heads.npz", scratch, buffer.getvalue(),
                                        layers=layers, grid=list(config.grid))
        steps.update()
        engine = Accelerator(config, accelerator, spec, quantized)
        manifest["vectors"] = _vectors(engine, vector_images, config.tasks, scratch)
        steps.update()
        if onnx_images is not None:
            from .export_onnx import export_task

            manifest["onnx"] = {}
            for task in config.tasks:
                result = export_task(model, task, scratch / f"model_{task}.onnx", onnx_images)
                manifest["onnx"][task] = {"file": result.path.name,
                                          "max_difference": result.max_difference}
            steps.update()
        steps.close()
        (scratch / MANIFEST).write_text(json.dumps(manifest, indent=2))
    return out_dir
