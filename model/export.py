"""``edgemoe export``: a trained checkpoint to an artifact folder.

artifacts/NAME/
  manifest.json      the contract: shapes, formats, tensor offsets, kernel interface, SHA-256s
  weights.bin        raw fixed-point words in the kernel's DDR layout
  heads.npz          the float task heads the board's ARM cores run
  vectors/           input images and the simulator's per-layer outputs for each task
  model_<task>.onnx  the float model per task (optional)

Everything is written into a scratch folder beside the target and moved into place at the
end (``sim.output_folder``), so a failed export leaves no half artifact, an old one stays
intact, and nothing in the folder that export did not write is touched. The manifest is
built as the typed, validated ``sim.manifest.Manifest``: export cannot write one that a
reader would refuse.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from edgemoe import sim
from edgemoe.sim import identifiers
from edgemoe.sim.accelerator import Accelerator
from edgemoe.sim.artifact import sha256_of
from edgemoe.sim.config import AcceleratorConfig, ModelConfig
from edgemoe.sim.hardware_rules import design_problems
from edgemoe.sim.heads import HeadLayer, HeadOp
from edgemoe.sim.kernel_interface import (
    BufferLayout,
    buffer_layout,
    kernel_interface,
    weight_bits,
)
from edgemoe.sim.manifest import (
    FORMAT_VERSION,
    MANIFEST,
    GoldenEntry,
    HeadsSection,
    ImagesEntry,
    Manifest,
    OnnxEntry,
    QuantizationSection,
    VectorsSection,
    WeightsSection,
    approximations_section,
)
from edgemoe.sim.network import tokens_name, weight_shapes
from edgemoe.sim.output_folder import check_output_folder, output_folder
from edgemoe.sim.quant import QuantSpec, check_finite, quantize_weights
from edgemoe.sim.weight_pack import container_bytes, pack, to_bytes

from .heads import OfficialHead
from .m3vit import DEPTH_SCALE, M3ViT


class ExportError(ValueError):
    """An artifact that cannot be written as asked."""


Operands = tuple[np.ndarray, np.ndarray]  # a convolution's weight and bias


def _float64(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().double().numpy()


def fold_batch_norm(conv: nn.Conv2d, norm: nn.BatchNorm2d) -> Operands:
    """The convolution followed by batch norm (its running statistics) as one convolution."""
    scale = _float64(norm.weight) / np.sqrt(_float64(norm.running_var) + norm.eps)
    shift = _float64(norm.bias) - _float64(norm.running_mean) * scale
    return (_float64(conv.weight) * scale[:, None, None, None],
            _float64(conv.bias) * scale + shift)


def _head_modules(head: nn.Module) -> list[tuple[HeadOp, Operands | None]]:
    """A head's layers in order: each op with its (weight, bias) if it is a convolution."""
    if isinstance(head, OfficialHead):
        layers: list[tuple[HeadOp, Operands | None]] = []
        for index, (conv, norm) in enumerate(zip(head.convs, head.norms, strict=True)):
            layers += [(HeadOp.CONV3X3, fold_batch_norm(conv, norm)), (HeadOp.RELU, None)]
            if index < len(head.convs) - 1:
                layers.append((HeadOp.UPSAMPLE2X, None))
        classifier = (_float64(head.classifier.weight), _float64(head.classifier.bias))
        return [*layers, (HeadOp.CONV1X1, classifier), (HeadOp.UPSAMPLE2X, None)]
    ops = {nn.ReLU: HeadOp.RELU, nn.ConvTranspose2d: HeadOp.CONV_TRANSPOSE2X2,
           nn.Conv2d: HeadOp.CONV3X3}
    return [(ops[type(module)], None if isinstance(module, nn.ReLU)
             else (_float64(module.weight), _float64(module.bias)))
            for module in head.layers]


def head_layers(model: M3ViT) -> tuple[dict[str, tuple[HeadLayer, ...]], dict[str, np.ndarray]]:
    """Each task head as its layers plus their arrays (float32, batch norm folded)."""
    described: dict[str, tuple[HeadLayer, ...]] = {}
    arrays: dict[str, np.ndarray] = {}
    for task, head in model.heads.items():
        layers: list[HeadLayer] = []
        for index, (op, operands) in enumerate(_head_modules(head)):
            if operands is None:
                layers.append(HeadLayer(op=op))
                continue
            key = f"{task}.{index}"
            arrays[f"{key}.weight"] = operands[0].astype(np.float32)
            arrays[f"{key}.bias"] = operands[1].astype(np.float32)
            layers.append(HeadLayer(op=op, weight=f"{key}.weight", bias=f"{key}.bias"))
        if task == "depth" and model.config.log_depth:
            layers.append(HeadLayer(op=HeadOp.EXP_SCALE, scale=DEPTH_SCALE))
        described[task] = tuple(layers)
    return described, arrays


def _write(root: Path, relative: str, data: bytes) -> dict[str, Any]:
    """Write one file of the artifact; its manifest entry's file, size and SHA-256."""
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return {"file": relative, "bytes": len(data), "sha256": sha256_of(data)}


def _vectors(accelerator: Accelerator, images: np.ndarray, tasks: Sequence[str],
             layout: BufferLayout, scratch: Path) -> VectorsSection:
    """The vector images and every layer's output for each (the buffer layout's taps)."""
    images_entry = ImagesEntry(**_write(scratch, "vectors/images.bin", images.tobytes()),
                               shape=tuple(images.shape), dtype="uint8")
    outputs: dict[str, dict[str, GoldenEntry]] = {}
    for task in tasks:
        traces = [accelerator.run(image, task, trace=True).trace for image in images]
        entries = {}
        for tap in layout.taps:  # every layer's outputs, stacked over the images
            stacked = sim.FixedArray(np.stack([t[tap.name].raw for t in traces]), tap.format)
            entries[tap.name] = GoldenEntry(
                **_write(scratch, f"vectors/{task}/{tap.name}.bin", to_bytes(stacked)),
                shape=tuple(stacked.shape), format=tap.format,
                container_bytes=container_bytes(tap.format))
        outputs[task] = entries
    return VectorsSection(images=images_entry, outputs=outputs)


def check_export(config: ModelConfig, spec: QuantSpec, accelerator: AcceleratorConfig,
                 out_dir: Path, force: bool = False) -> None:
    """Refuse, before any file is written, what the artifact could not hold: a name that is
    not one, a design the hardware cannot build, an output folder that is not ours."""
    try:
        identifiers.name(out_dir.name)
    except identifiers.IdentifierError as err:
        raise ExportError(f"artifact folder name: {err}") from None
    layout = buffer_layout(config, spec, accelerator.axi_bits)
    problems = design_problems(config, accelerator, layout.feature_bits,
                               weight_bits(spec, weight_shapes(config)))
    if problems:
        raise ExportError("the accelerator cannot be built for this model: "
                          + "; ".join(problems))
    check_output_folder(out_dir, force, forceable=True)


def export_artifact(model: M3ViT, weights: dict[str, np.ndarray], spec: QuantSpec,
                    accelerator: AcceleratorConfig, out_dir: Path, vector_images: np.ndarray,
                    onnx_images: torch.Tensor | None = None, progress: bool = True,
                    force: bool = False) -> Path:
    """Write the artifact for ``model`` quantized by ``spec`` to ``out_dir``."""
    config = model.config
    check_export(config, spec, accelerator, out_dir, force)
    check_finite(weights)
    quantized = quantize_weights(weights, spec, config)
    blob, entries = pack({name: quantized[name] for name in weight_shapes(config)},
                         accelerator.axi_bits // 8)
    layout = buffer_layout(config, spec, accelerator.axi_bits)
    with output_folder(out_dir, "export", force, forceable=True) as scratch:
        steps = tqdm(total=4 if onnx_images is not None else 3, desc="export", unit="step",
                     disable=not progress, leave=False)
        weights_entry = WeightsSection(
            **_write(scratch, "weights.bin", blob), word_bytes=accelerator.axi_bits // 8,
            lane_bits=weight_bits(spec, entries), tensors=entries)
        steps.update()
        layers, arrays = head_layers(model)
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        heads = HeadsSection(**_write(scratch, "heads.npz", buffer.getvalue()), layers=layers,
                             grid=config.grid)
        steps.update()
        engine = Accelerator(config, accelerator, spec, quantized)
        vectors = _vectors(engine, vector_images, config.tasks, layout, scratch)
        steps.update()
        onnx: dict[str, OnnxEntry] = {}
        if onnx_images is not None:
            from .export_onnx import export_task

            for task in config.tasks:
                name = f"model_{task}.onnx"
                result = export_task(model, task, scratch / name, onnx_images)
                data = (scratch / name).read_bytes()
                onnx[task] = OnnxEntry(file=name, bytes=len(data), sha256=sha256_of(data),
                                       max_difference=result.max_difference)
            steps.update()
        steps.close()
        manifest = Manifest(
            format_version=FORMAT_VERSION, name=out_dir.name, config=config,
            accelerator=accelerator,
            quantization=QuantizationSection(preset=spec.preset, notes=spec.notes,
                                             formats=spec.formats),
            approximations=approximations_section(config, spec), weights=weights_entry,
            buffers=layout, kernel=kernel_interface(spec.fmt(tokens_name(config))), heads=heads,
            vectors=vectors, onnx=onnx)
        text = manifest.to_json()
        Manifest.from_json(text, "the exported manifest")  # what every reader will check
        (scratch / MANIFEST).write_text(text)
    return out_dir

