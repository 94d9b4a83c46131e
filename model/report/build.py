"""Assemble the report folder: ``index.html`` (self-contained), the PNGs and ``report.json``.

The report's files are written to scratch space and moved into place
(``sim.output_folder``), so a failure leaves the previous report whole, and the files other
stages wrote there (``run.json`` of ``edgemoe run``, ``results/``) are read where they are
and never touched.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from edgemoe.sim.artifact import Artifact
from edgemoe.sim.output_folder import output_folder

from ..data.datasets import task_truths
from .accuracy import QUANTIZATION_JSON, accuracy_sections, compare_presets, load_quantization
from .approximations import approximations_section
from .bitexact import bitexact_section, expected_stages, gather
from .experts import experts_section
from .gallery import gallery_section
from .page import Section, render_html, save_figure
from .predictions import run_images
from .resources import RESOURCES_JSON, resources_section

SECTION_IDS = ("architecture", "accuracy", "sqnr", "gallery", "approximations", "experts",
               "bitexact", "resources")


class ReportError(ValueError):
    """Inputs the report cannot be built from."""


@dataclass(frozen=True)
class ReportOptions:
    images: int = 16  # validation scenes for float vs fixed and expert usage
    gallery: int = 3  # of those, shown per task
    calibration_images: int = 64  # for the preset the artifact was not exported with
    results: Path | None = None  # stage records [default: OUT/results]
    rtl_dir: Path = Path("build") / "rtl"  # where `edgemoe rtl estimate` wrote resources.json
    progress: bool = True


@dataclass(frozen=True)
class FloatModel:
    """What the checkpoint gives the report: float weights, heads, and the training section
    (which data, which seed)."""

    path: Path
    weights: dict[str, np.ndarray]
    heads: tuple[dict, dict]
    training: dict


def load_float_model(checkpoint: Path, artifact: Artifact) -> FloatModel:
    """The checkpoint's float model; refused unless the artifact was exported from it."""
    from edgemoe.sim.quant import quantize_weights

    from ..checkpoint import CheckpointError, load_checkpoint
    from ..export import head_layers
    from ..hardware_weights import hardware_weights

    manifest = artifact.manifest
    try:
        loaded = load_checkpoint(checkpoint, expected=manifest.config)
        model = loaded.build_model()
    except CheckpointError as err:
        raise ReportError(f"{err} (the artifact {artifact.root} has config "
                          f"{manifest.config.name!r})") from None
    weights = hardware_weights(model)
    exported = artifact.weights()
    for name, value in quantize_weights(weights, manifest.spec, manifest.config).items():
        if not np.array_equal(value.raw, exported[name].raw):
            raise ReportError(f"{checkpoint} is not the checkpoint {artifact.root} was exported "
                              f"from: weight {name} differs; give that run's checkpoint.pt")
    return FloatModel(checkpoint, weights, head_layers(model),
                      dict(loaded.document.get("training", {})))


def _data(config, float_model: FloatModel | None, options: ReportOptions):
    """(validation split, calibration images): the checkpoint's own data folders when it was
    trained on them (``edgemoe train --data``), else the synthetic scenes of its seed."""
    training = float_model.training if float_model else {}
    if training.get("data"):
        from ..train import build_datasets
        from ..train_config import TrainConfig

        train_set, val = build_datasets(config, TrainConfig.from_dict(training))
        return val, train_set.images[:options.calibration_images].numpy()
    from ..data.datasets import SceneDataset

    size, seed = (config.image_height, config.image_width), int(training.get("seed", 0))
    val = SceneDataset("val", options.images, *size, seed=seed)
    calibration = SceneDataset("train", options.calibration_images, *size, seed=seed)
    return val, calibration.images.numpy()


def _class_names(classes: int) -> tuple[str, ...]:
    from ..data.scenes import CLASSES

    return CLASSES if len(CLASSES) == classes else tuple(f"class {i}" for i in range(classes))


def _architecture(artifact: Artifact, folder: Path) -> Section:
    from .architecture import architecture_figure

    manifest = artifact.manifest
    figure = save_figure(architecture_figure(manifest.config, manifest.accelerator,
                                             manifest.kernel), folder,
                         "architecture", "block diagram of the accelerator this artifact "
                                         "configures")
    return Section("architecture", "Architecture", figures=[figure],
                   summary="Layers run in sequence with feature maps in DDR; one linear tile, "
                           "one attention unit and one MoE unit serve every layer.")


def _sections(artifact: Artifact, float_model: FloatModel | None, folder: Path,
              existing: Path, options: ReportOptions, bar: tqdm) -> list[Section]:
    """The sections, their figures written to ``folder``; the other stages' records are
    read from the report folder as it is (``existing``)."""
    manifest = artifact.manifest
    config = manifest.config
    root = artifact.root
    results = options.results or existing / "results"
    checkpoint_hint = f"edgemoe report {root} --checkpoint runs/{config.name}/checkpoint.pt"

    def step(name: str) -> None:
        bar.set_postfix_str(name)
        bar.update()

    # the stages' records first: a malformed one stops the report before the slow parts
    stages = gather(artifact, [results, existing], options.progress)
    sections = [bitexact_section(stages, expected_stages(root, results))]
    step("bit-exactness")
    sections.append(_architecture(artifact, folder))
    step("architecture")
    val, calibration = _data(config, float_model, options)
    images = val.images[:options.images].numpy()
    truths = task_truths(val, config.tasks, options.images)
    if float_model is not None:
        reports = compare_presets(artifact, float_model.weights, float_model.heads, calibration,
                                  images, truths)
    else:
        reports = load_quantization([results / QUANTIZATION_JSON,
                                     existing / QUANTIZATION_JSON])
    sections += accuracy_sections(reports, folder, checkpoint_hint)
    step("accuracy")
    predictions = run_images(artifact, images, float_model.weights if float_model else None,
                             options.gallery, options.progress)
    sections.append(gallery_section(images[:options.gallery], truths, predictions,
                                    _class_names(config.classes), folder,
                                    None if float_model else checkpoint_hint))
    step("gallery")
    sections.append(approximations_section(root, folder))
    step("approximations")
    sections.append(experts_section(config, predictions, folder))
    step("experts")
    sections.append(resources_section(
        [results / RESOURCES_JSON, options.rtl_dir / RESOURCES_JSON],
        f"edgemoe rtl generate --artifact {root} -o {options.rtl_dir} && "
        f"edgemoe rtl estimate {options.rtl_dir}"))
    step("resources")
    order = {name: index for index, name in enumerate(SECTION_IDS)}
    return sorted(sections, key=lambda section: order[section.id])


def _summary(artifact: Artifact, float_model: FloatModel | None,
             options: ReportOptions) -> list[tuple[str, str]]:
    manifest = artifact.manifest
    config = manifest.config
    return [("artifact", str(artifact.root)), ("config", config.name),
            ("preset", manifest.spec.preset), ("tasks", ", ".join(manifest.tasks)),
            ("model", f"{config.layers} layers, dim {config.dim}, {config.experts} experts, "
                      f"top-{config.top_k}, {config.image_height}x{config.image_width} input"),
            ("checkpoint", str(float_model.path) if float_model else "not given"),
            ("validation scenes", f"{options.images} ({options.gallery} in the gallery)")]


def build_report(artifact_path: str | Path, out_dir: str | Path,
                 checkpoint: str | Path | None = None,
                 options: ReportOptions | None = None) -> Path:
    """Write ``OUT/index.html``, its PNGs and ``report.json``; return the page's path."""
    options = options or ReportOptions()
    if not 1 <= options.gallery <= options.images:
        raise ReportError(f"gallery {options.gallery} must be between 1 and the {options.images} "
                          "images")
    artifact = Artifact(artifact_path)
    float_model = load_float_model(Path(checkpoint), artifact) if checkpoint else None
    out_dir = Path(out_dir)
    with output_folder(out_dir, "report") as folder, tqdm(
            total=len(SECTION_IDS) - 1, desc="report", unit="section",
            disable=not options.progress) as bar:
        sections = _sections(artifact, float_model, folder, out_dir, options, bar)
        facts = _summary(artifact, float_model, options)
        title = f"edgemoe report: {artifact.root.resolve().name}"
        (folder / "index.html").write_text(render_html(title, facts, sections, folder))
        record = {"title": title, "facts": dict(facts),
                  "sections": {s.id: {"title": s.title, "status": "not run" if s.not_run
                                      else "ok", "command": s.not_run, "data": s.data,
                                      "figures": [f.file for f in s.figures]}
                               for s in sections}}
        (folder / "report.json").write_text(json.dumps(record, indent=2) + "\n")
    return out_dir / "index.html"
