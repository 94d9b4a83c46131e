"""``edgemoe train``, ``eval``, ``info`` and ``export-onnx``: the PyTorch side of the flow."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click
import numpy as np

from edgemoe.sim.atomic import atomic_path
from edgemoe.sim.config import ConfigError
from edgemoe.sim.config_file import load_config_file, load_model_config


def _fail(err: Exception) -> click.ClickException:
    return click.ClickException(str(err))


@click.command()
@click.option("--config", "config_name", default="tiny", show_default=True,
              help="A config name (tiny, m3vit-s) or a .yaml/.json file.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path),
              help="Run folder for checkpoint.pt and config.yaml [default: runs/CONFIG].")
@click.option("--epochs", type=click.IntRange(min=1), help="Override the config's epoch count.")
@click.option("--resume", is_flag=True, help="Continue the run in --out.")
@click.option("--data", "data_dir", type=click.Path(path_type=Path, file_okay=False),
              help="Your own data instead of the synthetic scenes: a folder with train/ and "
                   "val/, each holding images/, labels/ and depths/; or M3ViT's NYUD-v2 "
                   "or PASCAL-Context folder as its loaders read them.")
def train(config_name: str, out_dir: Path | None, epochs: int | None, resume: bool,
          data_dir: Path | None) -> None:
    """Train M3ViT on the synthetic multi-task scenes (or your data), then evaluate it."""
    from .checkpoint import CheckpointError
    from .distributed import join
    from .train import train as run_training

    try:
        document = load_config_file(config_name)
        if data_dir is not None:
            training = {**document.get("training", {}), "data": str(data_dir.resolve())}
            document = {**document, "training": training}
        out_dir = out_dir or Path("runs") / document["model"]["name"]
        started = time.perf_counter()
        path = run_training(document, out_dir, resume=resume, epochs=epochs)
    except (ConfigError, CheckpointError, FileNotFoundError, ValueError) as err:
        raise _fail(err) from None
    if not join().leader:  # under torchrun, rank 0 reports for all
        return
    click.echo(f"checkpoint: {path} ({time.perf_counter() - started:.0f} s)")
    _report(path, images=None, json_path=out_dir / "metrics.json")


@click.command("import")
@click.argument("source", type=click.Path(path_type=Path))
@click.option("--from", "layout", type=click.Choice(["m3vit", "edge-moe"]), required=True,
              help="m3vit: an official M3ViT checkpoint (a .pth file or its per-rank "
                   "folder); edge-moe: a folder of Edge-MoE's *.float32.bin weight dumps.")
@click.option("--config", "config_name",
              help="The model's config, a name or a .yaml/.json file [default: "
                   "m3vit-tiny-cityscapes for m3vit, m3vit-s-edge-moe for edge-moe].")
@click.option("-o", "--out", "out_dir", type=click.Path(path_type=Path),
              help="Run folder for checkpoint.pt and config.yaml [default: runs/CONFIG].")
def import_checkpoint(source: Path, layout: str, config_name: str | None,
                      out_dir: Path | None) -> None:
    """Import published M3ViT or Edge-MoE weights as a run, as if `edgemoe train` made it."""
    from .importer import DEFAULT_CONFIGS, import_run
    from .placement import ImportFailure

    try:
        document = load_config_file(config_name or DEFAULT_CONFIGS[layout])
        out_dir = out_dir or Path("runs") / document["model"]["name"]
        path, notes = import_run(source, layout, document, out_dir)
    except (ConfigError, ImportFailure, OSError) as err:
        raise _fail(err) from None
    for note in notes:
        click.echo(note)
    click.echo(f"checkpoint: {path}")


@click.command("eval")
@click.argument("checkpoint", type=click.Path(path_type=Path))
@click.option("--images", type=click.IntRange(min=1),
              help="Evaluate on the first N validation images.")
@click.option("--json", "json_path", type=click.Path(path_type=Path),
              help="Also write the results as JSON.")
def evaluate(checkpoint: Path, images: int | None, json_path: Path | None) -> None:
    """Per-task metrics of a checkpoint, its single-task paths, and the baseline."""
    _report(checkpoint, images, json_path)


def _report(checkpoint_path: Path, images: int | None, json_path: Path | None) -> None:
    import torch

    from .checkpoint import CheckpointError, load_checkpoint
    from .evaluate import evaluate_prior, evaluate_task, positional_prior
    from .flops import path_macs
    from .prune import prune_for_task

    try:
        checkpoint = load_checkpoint(checkpoint_path)
        model = checkpoint.build_model()
    except CheckpointError as err:
        raise _fail(err) from None
    config = model.config
    train_set, val_set = _splits(checkpoint)
    if images is not None:
        val_set = torch.utils.data.Subset(val_set, range(min(images, len(val_set))))
    prior = positional_prior(train_set, config.tasks, config.classes)
    results: dict[str, dict] = {}
    for task in config.tasks:
        full = evaluate_task(model, val_set, task, progress=True)
        pruned_model = prune_for_task(model, task, full.expert_counts)
        single = evaluate_task(pruned_model, val_set, task, progress=True)
        macs = path_macs(config, task)
        results[task] = {
            "model": full.metrics,
            "single_task_path": single.metrics,
            "positional_prior": evaluate_prior(prior, val_set, task, config.classes),
            "experts_kept": [int(np.count_nonzero(c)) for c in full.expert_counts],
            "expert_counts": [c.tolist() for c in full.expert_counts],
            "macs_active": macs.active,
            "macs_dense_equivalent": macs.dense_equivalent,
        }
    click.echo(f"validation: {len(val_set)} images, config {config.name!r}")
    for task, result in results.items():
        click.echo(f"\n{task}")
        for name in ("model", "single_task_path", "positional_prior"):
            values = "  ".join(f"{k} {v:.4f}" for k, v in result[name].items())
            click.echo(f"  {name:<18} {values}")
        click.echo(f"  experts kept per MoE layer: {result['experts_kept']} of {config.experts}; "
                   f"tokens per expert: {result['expert_counts']}")
        click.echo(f"  GMACs per image: {result['macs_active'] / 1e9:.4f} active, "
                   f"{result['macs_dense_equivalent'] / 1e9:.4f} with every expert "
                   f"({result['macs_active'] / result['macs_dense_equivalent']:.0%})")
    if json_path is not None:
        with atomic_path(json_path) as scratch:
            scratch.write_text(json.dumps(results, indent=2))


@click.command()
@click.option("--config", "config_name", default="tiny", show_default=True)
def info(config_name: str) -> None:
    """Build a config's model, run one forward pass, print its size and per-task MACs."""
    import torch

    from .flops import path_macs
    from .m3vit import M3ViT

    try:
        config = load_model_config(config_name)
    except ConfigError as err:
        raise _fail(err) from None
    torch.manual_seed(0)
    model = M3ViT(config).eval()
    images = torch.rand(1, 3, config.image_height, config.image_width)
    click.echo(f"{config.name}: {config.image_height}x{config.image_width} input, "
               f"{config.tokens} tokens, dim {config.dim}, {config.heads} heads, "
               f"{config.layers} layers (MoE in {list(config.moe_layers)}), {config.experts} "
               f"experts, top-{config.top_k}")
    total = sum(p.numel() for p in model.parameters())
    experts = sum(p.numel() for moe in model.moe_modules() for p in (moe.w1, moe.b1, moe.w2,
                                                                      moe.b2))
    click.echo(f"parameters: {total:,} ({experts:,} in experts)")
    with torch.no_grad():
        for task in config.tasks:
            output = model(images, task)
            macs = path_macs(config, task)
            click.echo(f"{task}: output {tuple(output.shape)}; GMACs per image "
                       f"{macs.active / 1e9:.3f} active (backbone "
                       f"{(macs.active - macs.head) / 1e9:.3f}, head {macs.head / 1e9:.3f}), "
                       f"{macs.dense_equivalent / 1e9:.3f} with every expert")


@click.command("export-onnx")
@click.argument("checkpoint", type=click.Path(path_type=Path))
@click.option("-o", "--out", "out_dir", type=click.Path(path_type=Path), required=True)
def export_onnx(checkpoint: Path, out_dir: Path) -> None:
    """Export one ONNX graph per task and check each against PyTorch in onnxruntime."""
    import torch

    from .checkpoint import CheckpointError, load_checkpoint
    from .data.datasets import SceneDataset
    from .export_onnx import MAX_DIFFERENCE, export_task

    try:
        model = load_checkpoint(checkpoint).build_model()
    except CheckpointError as err:
        raise _fail(err) from None
    config = model.config
    sample = SceneDataset("val", 8, config.image_height, config.image_width)
    images = torch.stack([sample[i]["image"] for i in range(len(sample))])
    for task in config.tasks:
        result = export_task(model, task, out_dir / f"model_{task}.onnx", images)
        click.echo(f"{result.path}: onnx.checker OK; onnxruntime vs PyTorch max difference "
                   f"{result.max_difference:.2e} (absolute up to 1, relative above; bound "
                   f"{MAX_DIFFERENCE:g})")


def _splits(checkpoint):
    """The checkpoint's training and validation data (scenes, or its --data folders); a
    data folder that is gone or broken is one line naming it."""
    from .train import build_datasets
    from .train_config import TrainConfig

    try:
        return build_datasets(checkpoint.config,
                              TrainConfig.from_dict(checkpoint.settings.training))
    except (OSError, ValueError) as err:
        raise _fail(err) from None


def _load(checkpoint_path: Path):
    from .checkpoint import CheckpointError, load_checkpoint
    from .hardware_weights import hardware_weights

    try:
        checkpoint = load_checkpoint(checkpoint_path)
        model = checkpoint.build_model()
    except CheckpointError as err:
        raise _fail(err) from None
    return checkpoint, model, hardware_weights(model)


@click.command()
@click.argument("checkpoint", type=click.Path(path_type=Path))
@click.option("--preset", "presets", multiple=True, type=click.Choice(["int16", "edge-moe"]),
              help="Presets to compare [default: both].")
@click.option("--images", type=click.IntRange(min=1), default=200, show_default=True,
              help="Validation images to compare on.")
@click.option("--calibration-images", type=click.IntRange(min=1), default=64,
              show_default=True)
@click.option("-o", "--out", "out_dir", type=click.Path(path_type=Path),
              help="Report folder [default: reports/CONFIG].")
def quantize(checkpoint: Path, presets: tuple[str, ...], images: int, calibration_images: int,
             out_dir: Path | None) -> None:
    """Calibrate fixed-point formats and compare float vs fixed per task and per layer."""
    from edgemoe.sim.output_folder import check_output_folder
    from edgemoe.sim.quant import QuantError, calibrate
    from edgemoe.sim.quant_eval import compare_float_fixed
    from edgemoe.sim.quant_report import write_quantization_report

    from .data.datasets import task_truths
    from .export import head_layers

    loaded, model, weights = _load(checkpoint)
    config = model.config
    out_dir = out_dir or Path("reports") / config.name
    try:
        check_output_folder(out_dir)  # before minutes of calibration and comparison
    except ValueError as err:
        raise _fail(err) from None
    accelerator = loaded.settings.accelerator
    train_set, val = _splits(loaded)
    calibration = train_set.images[:calibration_images].numpy()
    heads = head_layers(model)
    reports = []
    for preset in presets or ("int16", "edge-moe"):
        try:
            spec = calibrate(config, weights, calibration, preset,
                             loaded.settings.approximations)
        except QuantError as err:
            raise _fail(err) from None
        reports.append(compare_float_fixed(config, accelerator, weights, spec, heads,
                                           val.images[:images].numpy(),
                                           task_truths(val, config.tasks, images)))
        for note in spec.notes:
            click.echo(f"note ({preset}): {note}")
    try:
        click.echo(write_quantization_report(reports, out_dir))
    except ValueError as err:  # the folder's refusal
        raise _fail(err) from None


@click.command()
@click.argument("checkpoint", type=click.Path(path_type=Path))
@click.option("--preset", default="int16", show_default=True,
              type=click.Choice(["int16", "edge-moe"]))
@click.option("-o", "--out", "out_dir", type=click.Path(path_type=Path),
              help="Artifact folder [default: artifacts/CONFIG].")
@click.option("--vectors", type=click.IntRange(min=1), default=4, show_default=True,
              help="Images with golden per-layer outputs.")
@click.option("--calibration-images", type=click.IntRange(min=1), default=64,
              show_default=True)
@click.option("--calibration", "calibration_path", type=click.Path(path_type=Path),
              help="Calibrate on these images and take the vectors from them (a folder of "
                   "images of the model's size, or a .npy): no labelled data needed.")
@click.option("--onnx/--no-onnx", default=True, show_default=True,
              help="Also export the float model per task as ONNX.")
@click.option("--force", is_flag=True,
              help="Write into a non-empty folder edgemoe did not make (emptied first).")
def export(checkpoint: Path, preset: str, out_dir: Path | None, vectors: int,
           calibration_images: int, calibration_path: Path | None, onnx: bool,
           force: bool) -> None:
    """Quantize and write the artifact: manifest, weights.bin, heads, golden vectors."""
    import torch

    from edgemoe.sim.images import load_images
    from edgemoe.sim.output_folder import check_output_folder
    from edgemoe.sim.quant import QuantError, calibrate

    from .export import export_artifact

    loaded, model, weights = _load(checkpoint)
    config = model.config
    out_dir = out_dir or Path("artifacts") / config.name
    try:
        check_output_folder(out_dir, force, forceable=True)  # before minutes of calibration
        if calibration_path is not None:
            images, _ = load_images(calibration_path, config)
            calibration, shown = images[:calibration_images], images[:vectors]
        else:
            train_set, val = _splits(loaded)
            calibration = train_set.images[:calibration_images].numpy()
            shown = val.images[:vectors].numpy()
        spec = calibrate(config, weights, calibration, preset, loaded.settings.approximations)
        onnx_images = (torch.from_numpy(shown[:8]).permute(0, 3, 1, 2).float() / 255.0
                       if onnx else None)
        export_artifact(model, weights, spec, loaded.settings.accelerator, out_dir, shown,
                        onnx_images, force=force)
    except (QuantError, ValueError) as err:  # the spec's, the export's, the folder's refusal
        raise _fail(err) from None
    click.echo(f"{out_dir}: the artifact of {checkpoint} ({preset})")
