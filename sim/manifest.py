"""``manifest.json``: the contract between every part of the flow, as one typed schema.

Export resolves every fact once and writes it here: the model and accelerator configs,
each tensor's format, the approximation tables and every site that uses them, where each
weight lies in ``weights.bin`` (bytes and AXI words), the DDR buffer layout, the kernel's
arguments and registers as Vitis HLS names them, the task heads, the golden vectors and
every file's size and SHA-256. Every consumer (simulator, HLS and RTL generators, driver,
emulator, cosimulation, estimate, report) reads these resolved fields and nothing else.

Loading validates the whole document before anything runs: structure (a missing or
unknown key is named), types, ranges, identifiers (anything that reaches generated code
matches a strict pattern), paths (relative, inside the artifact), and consistency: the
resolved sections must be exactly what ``sim`` derives from the model and the formats,
and the model must satisfy every rule of the generated hardware. ``manifest.schema.json``
beside this module is this schema as JSON Schema (``python -m edgemoe.sim.manifest``
writes it).
"""

from __future__ import annotations

import dataclasses
import json
import math
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, model_validator

from .approx import ExpTable, GeluTable, NewtonTable, Tables
from .config import AcceleratorConfig, ModelConfig
from .fixed_format import FixedFormat
from .hardware_rules import design_problems
from .heads import DOUBLINGS, HeadLayer
from .kernel_interface import (
    BufferLayout,
    KernelInterface,
    buffer_layout,
    container_bits,
    kernel_interface,
    weight_bits,
)
from .network import is_addend, tokens_name, weight_shapes
from .quant import (
    PIXELS,
    PRESETS,
    QuantSpec,
    approximation_sites,
    format_problem,
    required_formats,
)
from .schema import (
    Count,
    Name,
    Positive,
    Record,
    RelativePath,
    Sha256,
    TensorName,
    Text,
    describe,
)
from .weight_pack import Container, TensorEntry, container_bytes, layout

FORMAT_VERSION = 2
MANIFEST = "manifest.json"
SCHEMA_FILE = Path(__file__).with_name("manifest.schema.json")
TaskName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")]


class ManifestError(ValueError):
    """A manifest that does not describe a usable artifact."""


class FileEntry(Record):
    """A file of the artifact, with the size and SHA-256 it must have."""

    file: RelativePath
    bytes: Count
    sha256: Sha256


class WeightsSection(FileEntry):
    word_bytes: Literal[16, 32, 64]  # tensors start on AXI words
    #: every weight's lane but the addends' (in feature lanes): the widest one's container
    lane_bits: Literal[8, 16, 32, 64]
    tensors: dict[TensorName, TensorEntry]


class QuantizationSection(Record):
    preset: Literal[PRESETS]  # type: ignore[valid-type]
    notes: tuple[Text, ...] = ()
    formats: dict[TensorName, FixedFormat]


class ApproximationSite(Record):
    function: Literal["exp", "reciprocal", "rsqrt", "gelu"]
    input: FixedFormat
    output: FixedFormat


class ApproximationsSection(Record):
    """The tables' parameters (one table per function in hardware) and every use site."""

    exp: ExpTable
    reciprocal: NewtonTable
    rsqrt: NewtonTable
    gelu: GeluTable
    sites: dict[TensorName, ApproximationSite]

    @property
    def tables(self) -> Tables:
        return Tables(self.exp, self.reciprocal, self.rsqrt, self.gelu)


class HeadsSection(FileEntry):
    layers: dict[TaskName, tuple[HeadLayer, ...]]
    grid: tuple[Positive, Positive]


class ImagesEntry(FileEntry):
    shape: tuple[Positive, Positive, Positive, Literal[3]]
    dtype: Literal["uint8"]


class GoldenEntry(FileEntry):
    shape: tuple[Positive, ...]
    format: FixedFormat
    container_bytes: Container


class VectorsSection(Record):
    images: ImagesEntry
    outputs: dict[TaskName, dict[TensorName, GoldenEntry]]


class OnnxEntry(FileEntry):
    max_difference: Annotated[float, Field(ge=0)]


class Manifest(Record):
    format_version: Literal[2]
    name: Name
    config: ModelConfig = Field(alias="model")
    accelerator: AcceleratorConfig
    quantization: QuantizationSection
    approximations: ApproximationsSection
    weights: WeightsSection
    buffers: BufferLayout
    kernel: KernelInterface
    heads: HeadsSection
    vectors: VectorsSection
    onnx: dict[TaskName, OnnxEntry] = {}  # noqa: RUF012 - pydantic copies defaults

    model_config = Record.model_config | {"populate_by_name": True}

    @cached_property
    def spec(self) -> QuantSpec:
        q = self.quantization
        return QuantSpec(q.preset, dict(q.formats), q.notes, self.approximations.tables,
                         self.config.layer_norm_eps)

    @property
    def tasks(self) -> tuple[str, ...]:
        return self.config.tasks

    @property
    def tensors(self) -> dict[str, TensorEntry]:
        return self.weights.tensors

    def files(self) -> list[FileEntry]:
        """Every file the artifact holds, as the manifest describes it."""
        entries: list[FileEntry] = [self.weights, self.heads, self.vectors.images]
        entries += [e for outputs in self.vectors.outputs.values() for e in outputs.values()]
        return entries + list(self.onnx.values())

    @model_validator(mode="after")
    def _consistent(self) -> Manifest:
        problems = _problems(self)
        if problems:
            raise ValueError("; ".join(problems[:3]))
        return self

    def to_json(self) -> str:
        return self.model_dump_json(by_alias=True, indent=2)

    def with_accelerator(self, accelerator: AcceleratorConfig) -> Manifest:
        """This manifest for another design point, checked as a whole again (the weights'
        layout holds for the same ``axi_bits`` only)."""
        data = json.loads(self.to_json())
        data["accelerator"] = dataclasses.asdict(accelerator)
        return Manifest.from_json(json.dumps(data), "the design point")

    @classmethod
    def from_json(cls, text: str | bytes, source: str = MANIFEST) -> Manifest:
        try:
            data = json.loads(text)
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise ManifestError(f"{source} is not valid JSON: {err}") from None
        except RecursionError:
            raise ManifestError(f"{source} nests deeper than any manifest") from None
        version = data.get("format_version") if isinstance(data, dict) else None
        if version != FORMAT_VERSION:
            raise ManifestError(f"{source} has format version {version!r}; this edgemoe reads "
                                f"version {FORMAT_VERSION}: export the artifact again")
        try:
            return cls.model_validate_json(text)
        except ValidationError as err:
            raise ManifestError(describe(err, source)) from None


# ------------------------------------------------------------------------ consistency
def _difference(stored: Any, derived: Any, path: str) -> str | None:
    """The first place two JSON-like values differ, as ``path: stored vs derived``."""
    if isinstance(stored, dict) and isinstance(derived, dict):
        if list(stored) != list(derived):
            missing = [k for k in derived if k not in stored]
            extra = [k for k in stored if k not in derived]
            what = (f"lacks {missing[:3]}" if missing else f"has unexpected {extra[:3]}"
                    if extra else "lists its keys in another order")
            return f"{path} {what}"
        for key in stored:
            found = _difference(stored[key], derived[key], f"{path}.{key}")
            if found:
                return found
        return None
    if isinstance(stored, list) and isinstance(derived, list):
        if len(stored) != len(derived):
            return f"{path} has {len(stored)} entries, expected {len(derived)}"
        for index, (a, b) in enumerate(zip(stored, derived, strict=True)):
            found = _difference(a, b, f"{path}.{index}")
            if found:
                return found
        return None
    return None if stored == derived else f"{path} is {stored!r}, expected {derived!r}"


def _compare(problems: list[str], name: str, stored: Record | dict, derived: Any) -> None:
    def dump(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: dump(v) for k, v in value.items()}
        return value.model_dump(mode="json") if isinstance(value, Record) else value

    difference = _difference(dump(stored), dump(derived), name)
    if difference:
        problems.append(f"{difference} (what the model and its formats give)")


def _problems(m: Manifest) -> list[str]:
    """Everything in ``m`` that contradicts its model, its formats or the hardware."""
    config, problems = m.config, []
    formats = m.quantization.formats
    required = required_formats(config)
    missing = [n for n in required if n not in formats]
    extra = sorted(set(formats) - set(required))
    if missing or extra:
        return [f"quantization.formats: missing {missing[:3]}, unexpected {extra[:3]} for "
                f"model {config.name!r}"]
    problems += [f"quantization.formats.{p}" for p in
                 (format_problem(n, f) for n, f in formats.items()) if p]
    if problems:
        return problems
    spec = m.spec
    shapes = weight_shapes(config)
    word_bytes = m.accelerator.axi_bits // 8
    tensors, size = layout(shapes, formats, word_bytes)
    lane_bits = weight_bits(spec, shapes)
    derived_buffers = buffer_layout(config, spec, m.accelerator.axi_bits)
    problems += [f"model {config.name!r}: {p}" for p in design_problems(
        config, m.accelerator, derived_buffers.feature_bits, lane_bits)]
    _compare(problems, "weights.tensors", m.weights.tensors, tensors)
    problems += [f"weights.tensors.{name} is {entry.format.cpp_type}: an addend sits in the "
                 f"{derived_buffers.feature_bits}-bit feature lanes"
                 for name, entry in tensors.items() if is_addend(name)
                 and container_bits(entry.format.width) != derived_buffers.feature_bits]
    for key, value in (("word_bytes", word_bytes), ("lane_bits", lane_bits), ("bytes", size)):
        if getattr(m.weights, key) != value:
            problems.append(f"weights.{key} is {getattr(m.weights, key)}, expected {value}")
    _compare(problems, "buffers", m.buffers, derived_buffers)
    _compare(problems, "kernel", m.kernel, kernel_interface(spec.fmt(tokens_name(m.config))))
    _compare(problems, "approximations.sites", m.approximations.sites,
             approximations_section(config, spec).sites)
    if formats["pixels"] != PIXELS:
        problems.append(f"quantization.formats.pixels is {formats['pixels']}, the 8-bit "
                        f"images' {PIXELS}")
    _check_tasks(problems, m)
    _check_vectors(problems, m, derived_buffers)
    _check_file_names(problems, m)
    return problems


def _check_file_names(problems: list[str], m: Manifest) -> None:
    """Each file under the name the csim testbench and every tool open it by."""
    expected: list[tuple[str, FileEntry, str]] = [
        ("weights", m.weights, "weights.bin"), ("heads", m.heads, "heads.npz"),
        ("vectors.images", m.vectors.images, "vectors/images.bin")]
    expected += [(f"vectors.outputs.{task}.{name}", entry, f"vectors/{task}/{name}.bin")
                 for task, outputs in m.vectors.outputs.items()
                 for name, entry in outputs.items()]
    expected += [(f"onnx.{task}", entry, f"model_{task}.onnx") for task, entry in m.onnx.items()]
    for where, entry, name in expected:
        if entry.file != name:
            problems.append(f"{where}.file is {entry.file!r}, expected {name!r}")
            return


def approximations_section(config: ModelConfig, spec: QuantSpec) -> ApproximationsSection:
    """The tables' parameters and every site that uses them, resolved."""
    tables = spec.tables
    sites = {name: ApproximationSite(function=unit.name, input=unit.input_fmt,
                                     output=unit.output_fmt)
             for name, unit in approximation_sites(config, spec).items()}
    return ApproximationsSection(exp=tables.exp, reciprocal=tables.reciprocal,
                                 rsqrt=tables.rsqrt, gelu=tables.gelu, sites=sites)


def _check_tasks(problems: list[str], m: Manifest) -> None:
    tasks = list(m.config.tasks)
    if list(m.heads.layers) != tasks:
        problems.append(f"heads.layers has tasks {list(m.heads.layers)}, the model {tasks}")
    if m.heads.grid != m.config.grid:
        problems.append(f"heads.grid is {list(m.heads.grid)}, the model's patch grid "
                        f"{list(m.config.grid)}")
    for task, layers in m.heads.layers.items():
        doublings = sum(layer.op in DOUBLINGS for layer in layers)
        if 2**doublings != m.config.patch:
            problems.append(f"heads.{task} doubles the patch grid {doublings} times; its "
                            f"pixels are {m.config.patch} times the grid")
    unknown = [t for t in m.onnx if t not in tasks]
    if unknown:
        problems.append(f"onnx has tasks {unknown} the model does not")
    if list(m.vectors.outputs) != tasks:
        problems.append(f"vectors.outputs has tasks {list(m.vectors.outputs)}, the model "
                        f"{tasks}")


def _check_vectors(problems: list[str], m: Manifest, buffers: BufferLayout) -> None:
    images = m.vectors.images
    expected = (m.config.image_height, m.config.image_width, 3)
    if images.shape[1:] != expected:
        problems.append(f"vectors.images.shape is {list(images.shape)}, the model takes "
                        f"(n, {', '.join(map(str, expected))})")
    if images.bytes != math.prod(images.shape):
        problems.append(f"vectors.images.bytes is {images.bytes}, its shape holds "
                        f"{math.prod(images.shape)}")
    count = images.shape[0]
    for task, outputs in m.vectors.outputs.items():
        names = [t.name for t in buffers.taps]
        if list(outputs) != names:
            problems.append(f"vectors.outputs.{task} holds {len(outputs)} layers, not the "
                            f"{len(names)} taps of the buffer layout")
            continue
        for tap in buffers.taps:
            entry, where = outputs[tap.name], f"vectors.outputs.{task}.{tap.name}"
            if entry.shape[0] != count or math.prod(entry.shape[1:]) != tap.elements:
                problems.append(f"{where}.shape is {list(entry.shape)}: {count} images of "
                                f"{tap.elements} values expected")
            elif entry.format != tap.format:
                problems.append(f"{where}.format is {entry.format}, the layer's {tap.format}")
            elif entry.container_bytes != container_bytes(entry.format) or (
                    entry.bytes != math.prod(entry.shape) * entry.container_bytes):
                problems.append(f"{where}: bytes {entry.bytes} and container "
                                f"{entry.container_bytes} do not fit its shape and format")


def json_schema() -> dict[str, Any]:
    return Manifest.model_json_schema(by_alias=True)


if __name__ == "__main__":
    SCHEMA_FILE.write_text(json.dumps(json_schema(), indent=2) + "\n")
    print(f"wrote {SCHEMA_FILE}")
