"""``edgemoe run`` and ``edgemoe board-info``: the board's commands (numpy and pynq only)."""

from __future__ import annotations

import json
from pathlib import Path

import click
import numpy as np
from tqdm.auto import tqdm

from edgemoe.sim.artifact import Artifact, ArtifactError
from edgemoe.sim.atomic import atomic_path
from edgemoe.sim.config import ConfigError

from .driver import DEFAULT_TIMEOUT, Accelerator, DriverError

USER_ERRORS = (ArtifactError, ConfigError, DriverError, ValueError, FileNotFoundError,
               TimeoutError, MemoryError)


def _device(bitstream: Path | None, emulate: str | None, artifact: Path) -> Path:
    """The bitstream to program: the user's, or an emulated design made the active device."""
    if (bitstream is None) == (emulate is None):
        raise click.UsageError("give exactly one of --bitstream and --emulate")
    if bitstream is not None:
        return bitstream
    from .emulator import emulate as make_emulated

    return make_emulated(artifact, emulate)[1]


def _tasks(artifact: Artifact, chosen: tuple[str, ...]) -> list[str]:
    for task in chosen:
        artifact.manifest.config.task_index(task)  # ConfigError names the known tasks
    return list(chosen) or list(artifact.manifest.tasks)


def _predict(accelerator: Accelerator, images: np.ndarray, tasks: list[str],
             ) -> dict[str, np.ndarray]:
    maps: dict[str, list[np.ndarray]] = {task: [] for task in tasks}
    batches = [(task, start) for task in tasks
               for start in range(0, len(images), accelerator.max_images)]
    for task, start in tqdm(batches, desc="run", unit="batch"):
        result = accelerator.run(images[start:start + accelerator.max_images], task)
        maps[task].append(accelerator.predict(result))
    return {task: np.concatenate(parts) for task, parts in maps.items()}


def _describe(task: str, prediction: np.ndarray, classes: int) -> str:
    if task == "segmentation":
        shares = np.bincount(prediction.reshape(-1), minlength=classes) / prediction.size
        top = np.argsort(shares)[::-1][:3]
        return "classes " + ", ".join(f"{c}: {shares[c]:.0%}" for c in top)
    return f"depth {prediction.min():.2f} to {prediction.max():.2f} m"


@click.command("run")
@click.argument("artifact", type=click.Path(path_type=Path))
@click.option("--bitstream", type=click.Path(path_type=Path),
              help="The design's .bit (its .hwh beside it), on a board.")
@click.option("--emulate", type=click.Choice(["sim", "csim"]),
              help="No board: an emulated ZCU104 running the Python simulator or the "
                   "generated C++.")
@click.option("--task", "tasks", multiple=True, help="Task to run (repeatable) [default: all].")
@click.option("--images", "images_path", type=click.Path(path_type=Path),
              help="Folder of images, or a .npy (n, H, W, 3) uint8 [default: the artifact's "
                   "vector images].")
@click.option("--validate", "validate_count", type=click.IntRange(min=1),
              help="Compare N images with the simulator bit for bit, every task.")
@click.option("--measure", is_flag=True, help="Latency, throughput and power.")
@click.option("--runs", type=click.IntRange(min=2), default=20, show_default=True,
              help="Single-image runs for --measure.")
@click.option("--batch", type=click.IntRange(min=1), default=8, show_default=True,
              help="Images per kernel call (buffer size).")
@click.option("--timeout", type=float, default=DEFAULT_TIMEOUT, show_default=True,
              help="Seconds to wait for ap_done.")
@click.option("-o", "--out", "out_dir", type=click.Path(path_type=Path),
              help="Report folder [default: reports/ARTIFACT-NAME].")
def run(artifact: Path, bitstream: Path | None, emulate: str | None, tasks: tuple[str, ...],
        images_path: Path | None, validate_count: int | None, measure: bool, runs: int,
        batch: int, timeout: float, out_dir: Path | None) -> None:
    """Run ARTIFACT's kernel on the board (or the emulator): predictions, or with
    --validate and --measure, bit-exactness and speed."""
    try:
        loaded = Artifact(artifact)
        chosen = _tasks(loaded, tasks)
        if images_path is not None:
            from .images import load_images

            images, names = load_images(images_path, loaded.manifest.config)
        else:
            images = loaded.vector_images()
            names = [f"vector {i}" for i in range(len(images))]
        if validate_count is not None and validate_count > len(images):
            raise ValueError(f"--validate {validate_count} but only {len(images)} images; "
                             "give more with --images")
        design = _device(bitstream, emulate, artifact)
        accelerator = Accelerator.load(artifact, design, max_images=batch, timeout=timeout)
        out_dir = out_dir or Path("reports") / artifact.resolve().name
        record: dict = {"artifact": str(artifact), "device": emulate or str(bitstream)}
        failed = False
        if validate_count is None and not measure:
            record["predictions"] = _run_predictions(accelerator, images, names, chosen,
                                                     out_dir)
        if validate_count is not None:
            record["validation"], failed = _run_validation(accelerator,
                                                           images[:validate_count], chosen)
        if measure:
            from .measure import measure as measure_kernel

            measurement = measure_kernel(accelerator, images, chosen, runs=runs, progress=True)
            click.echo(measurement.table())
            record["measurement"] = measurement.to_dict()
    except USER_ERRORS as err:
        raise click.ClickException(str(err)) from None
    with atomic_path(out_dir / "run.json") as partial:
        partial.write_text(json.dumps(record, indent=2) + "\n")
    click.echo(f"report: {out_dir / 'run.json'}")
    if failed:
        raise click.ClickException("validation failed: see the differences above")


def _run_predictions(accelerator: Accelerator, images: np.ndarray, names: list[str],
                     tasks: list[str], out_dir: Path) -> dict[str, str]:
    from .report import plot_predictions

    classes = accelerator.manifest.config.classes
    maps = _predict(accelerator, images, tasks)
    for index, name in enumerate(names):
        click.echo(f"{name}: " + "; ".join(_describe(task, maps[task][index], classes)
                                           for task in tasks))
    with atomic_path(out_dir / "predictions.npz") as partial, partial.open("wb") as file:
        np.savez_compressed(file, images=images, **maps)
    figure = plot_predictions(out_dir / "predictions.png", images, names, maps, classes)
    click.echo(f"predictions: {out_dir / 'predictions.npz'}, {figure}")
    return {"arrays": str(out_dir / "predictions.npz"), "figure": str(figure)}


def _run_validation(accelerator: Accelerator, images: np.ndarray, tasks: list[str],
                    ) -> tuple[dict, bool]:
    from .validate import validate

    loads_before = accelerator.weight_loads
    checks = validate(accelerator, images, tasks, progress=True)
    for check in checks:
        click.echo(str(check))
    exact = sum(check.equal for check in checks)
    reloads = accelerator.weight_loads - loads_before
    click.echo(f"validation: {exact} of {len(checks)} runs bit-exact over {len(images)} images "
               f"x {len(tasks)} tasks; weight reloads on task switches: {reloads}")
    summary = {"runs": len(checks), "bit_exact": exact, "weight_reloads": reloads,
               "checks": [{"task": c.task, "image": c.image, "equal": c.equal,
                           "first_difference": c.first_difference, "agreement": c.agreement,
                           "depth_error": c.depth_error} for c in checks]}
    return summary, exact != len(checks) or reloads != 0


@click.command("board-info")
@click.option("--bitstream", type=click.Path(path_type=Path),
              help="The design's .bit (its .hwh beside it), on a board.")
@click.option("--emulate", "emulated_artifact", type=click.Path(path_type=Path),
              help="No board: the emulated design of this artifact.")
@click.option("--artifact", type=click.Path(path_type=Path),
              help="Also check the kernel's registers against this artifact's manifest.")
def board_info(bitstream: Path | None, emulated_artifact: Path | None,
               artifact: Path | None) -> None:
    """List the overlay's IPs, PL clocks, the kernel's register map and the power rails."""
    import pynq

    from .driver import EdgeMoEKernel
    from .measure import power_rails

    try:
        if (bitstream is None) == (emulated_artifact is None):
            raise click.UsageError("give exactly one of --bitstream and --emulate")
        if emulated_artifact is not None:
            bitstream = _device(None, "sim", emulated_artifact)
            artifact = artifact or emulated_artifact
        if not bitstream.with_suffix(".hwh").is_file():
            raise DriverError(f"no hardware handoff {bitstream.with_suffix('.hwh')}")
        overlay = pynq.Overlay(str(bitstream))
        click.echo(f"device: {type(overlay.device).__name__} {overlay.device.name}")
        click.echo(f"bitstream: {overlay.bitfile_name}")
        for index, clock in sorted(overlay.clock_dict.items()):
            if clock.get("enable"):
                click.echo(f"PL clock {index}: {clock.get('frequency', '?')} MHz")
        for name, ip in sorted(overlay.ip_dict.items()):
            address = ip.get("phys_addr")
            where = f" at {address:#x} (+{ip['addr_range']:#x})" if address is not None else ""
            click.echo(f"IP {name}: {ip['type']}{where}, driver {ip['driver'].__name__}")
            for register, fields in sorted((ip.get("registers") or {}).items(),
                                           key=lambda item: item[1]["address_offset"]):
                click.echo(f"    {fields['address_offset']:#06x}  {register} "
                           f"({fields['size']} bits, {fields['access']})")
        if artifact is not None:
            manifest = Artifact(artifact).manifest
            kernels = [getattr(overlay, name) for name, ip in overlay.ip_dict.items()
                       if ip["driver"] is EdgeMoEKernel]
            if not kernels:
                raise DriverError("the overlay holds no edgemoe kernel")
            for kernel in kernels:
                kernel.check_registers(manifest)
            click.echo(f"register map matches {artifact}'s manifest")
        rails = power_rails()
        click.echo("power rails: " + (", ".join(sorted(rails)) or "none (not on a board)"))
    except USER_ERRORS as err:
        raise click.ClickException(str(err)) from None
