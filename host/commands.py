"""``edgemoe run`` and ``edgemoe board-info``: the board's commands (numpy and pynq only)."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import click
import numpy as np
from tqdm.auto import tqdm

from edgemoe.sim.artifact import Artifact, ArtifactError
from edgemoe.sim.config import ConfigError
from edgemoe.sim.output_folder import check_output_folder, output_folder
from edgemoe.sim.tasks import TASKS

from .driver import DEFAULT_TIMEOUT, Accelerator, DriverError
from .emulator import BackendFactory, emulate, sim_backend
from .validate import Bounds, validate

USER_ERRORS = (ArtifactError, ConfigError, DriverError, ValueError, FileNotFoundError,
               TimeoutError, MemoryError)


def _device(bitstream: Path | None, backend: BackendFactory | None,
            artifact: Path | Artifact) -> Path:
    """The bitstream to program: the user's, or an emulated design made the active device."""
    if (bitstream is None) == (backend is None):
        raise click.UsageError("give exactly one of --bitstream and --emulate")
    if bitstream is not None:
        return bitstream
    return emulate(artifact, backend=backend)[1]


class Seconds(click.ParamType):
    """A finite number of seconds above 0 (no nan, no inf)."""

    name = "seconds"

    def convert(self, value: object, param: click.Parameter | None,
                ctx: click.Context | None) -> float:
        try:
            seconds = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number of seconds", param, ctx)
        if not (math.isfinite(seconds) and seconds > 0):
            self.fail(f"{value!r} must be a finite number of seconds above 0", param, ctx)
        return seconds


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
    kind = TASKS[task].kind
    if kind == "classes":
        channels = TASKS[task].channels(classes)
        shares = np.bincount(prediction.reshape(-1), minlength=channels) / prediction.size
        top = np.argsort(shares)[::-1][:3]
        return "classes " + ", ".join(f"{c}: {shares[c]:.0%}" for c in top)
    if kind == "depth":
        return f"depth {prediction.min():.2f} to {prediction.max():.2f} m"
    if kind == "normals":
        facing = np.mean(prediction[2] < 0)  # towards the camera: z < 0
        return f"normals, {facing:.0%} of them facing the camera"
    return f"{task} above 0.5 on {np.mean(prediction > 0.5):.1%} of the pixels"


@dataclass(frozen=True)
class RunRequest:
    """What ``edgemoe run`` was asked to do."""

    artifact: Path
    bitstream: Path | None
    emulate: str | None
    tasks: tuple[str, ...]
    images: Path | None
    validate: int | None
    measure: bool
    runs: int
    batch: int
    timeout: float
    out: Path | None
    bounds: Bounds


def run_command(backends: Mapping[str, BackendFactory]) -> click.Command:
    """``edgemoe run``, its ``--emulate`` choosing among ``backends`` (the flow adds the
    generated C++ to the Python simulator; the board needs neither)."""

    @click.command("run")
    @click.argument("artifact", type=click.Path(path_type=Path))
    @click.option("--bitstream", type=click.Path(path_type=Path),
                  help="The design's .bit (its .hwh beside it), on a board.")
    @click.option("--emulate", type=click.Choice(sorted(backends)),
                  help="No board: an emulated ZCU104 running the Python simulator or the "
                       "generated C++.")
    @click.option("--task", "tasks", multiple=True,
                  help="Task to run (repeatable, each once) [default: all].")
    @click.option("--images", type=click.Path(path_type=Path),
                  help="Folder of images, or a .npy (n, H, W, 3) uint8 [default: the "
                       "artifact's vector images].")
    @click.option("--validate", type=click.IntRange(min=1),
                  help="Compare N images with the simulator bit for bit (and with the "
                       "golden vectors and the float model), every task.")
    @click.option("--min-agreement", type=click.FloatRange(0, 1), default=0.90,
                  show_default=True,
                  help="--validate fails below this share of pixels labelled as the float "
                       "model does.")
    @click.option("--max-depth-error", type=click.FloatRange(min=0), default=0.05,
                  show_default=True,
                  help="--validate fails above this mean relative depth difference to the "
                       "float model.")
    @click.option("--measure", is_flag=True, help="Latency, throughput and power.")
    @click.option("--runs", type=click.IntRange(min=2), default=20, show_default=True,
                  help="Single-image runs for --measure.")
    @click.option("--batch", type=click.IntRange(min=1, max=1024), default=8,
                  show_default=True, help="Images per kernel call (buffer size).")
    @click.option("--timeout", type=Seconds(), default=DEFAULT_TIMEOUT, show_default=True,
                  help="Seconds to wait for ap_done.")
    @click.option("-o", "--out", type=click.Path(path_type=Path),
                  help="Report folder [default: reports/ARTIFACT-NAME].")
    def run(artifact: Path, bitstream: Path | None, emulate: str | None,
            tasks: tuple[str, ...], images: Path | None, validate: int | None,
            min_agreement: float, max_depth_error: float, measure: bool, runs: int,
            batch: int, timeout: float, out: Path | None) -> None:
        """Run ARTIFACT's kernel on the board (or the emulator): predictions, or with
        --validate and --measure, bit-exactness and speed."""
        request = RunRequest(artifact, bitstream, emulate, tasks, images, validate, measure,
                             runs, batch, timeout, out, Bounds(min_agreement, max_depth_error))
        _run(request, backends[emulate] if emulate else None)

    return run


def _run(request: RunRequest, backend: BackendFactory | None) -> None:
    try:
        loaded = Artifact(request.artifact)
        chosen = loaded.manifest.config.chosen_tasks(request.tasks)
        if request.images is not None:
            from edgemoe.sim.images import load_images

            images, names = load_images(request.images, loaded.manifest.config)
        else:
            images = loaded.vector_images()
            names = [f"vector {i}" for i in range(len(images))]
        if request.validate is not None and request.validate > len(images):
            raise ValueError(f"--validate {request.validate} but only {len(images)} images; "
                             "give more with --images")
        out_dir = request.out or Path("reports") / request.artifact.resolve().name
        check_output_folder(out_dir)
        design = _device(request.bitstream, backend, loaded)
        accelerator = Accelerator.load(loaded, design, max_images=request.batch,
                                       timeout=request.timeout)
        record: dict = {"artifact": str(request.artifact),
                        "device": request.emulate or str(request.bitstream)}
        failed = False
        with output_folder(out_dir, "run") as folder:
            if request.validate is None and not request.measure:
                record["predictions"] = _run_predictions(accelerator, images, names, chosen,
                                                         folder)
            if request.validate is not None:
                record["validation"], failed = _run_validation(
                    accelerator, images[:request.validate], chosen, request.bounds)
            if request.measure:
                from .measure import measure as measure_kernel

                measurement = measure_kernel(accelerator, images, chosen, runs=request.runs,
                                             progress=True)
                click.echo(measurement.table())
                record["measurement"] = measurement.to_dict()
            (folder / "run.json").write_text(json.dumps(record, indent=2) + "\n")
    except USER_ERRORS as err:
        raise click.ClickException(str(err)) from None
    click.echo(f"report: {out_dir / 'run.json'}")
    if failed:
        raise click.ClickException("validation failed: see the checks above")


def _run_predictions(accelerator: Accelerator, images: np.ndarray, names: list[str],
                     tasks: list[str], folder: Path) -> dict[str, str]:
    from .report import plot_predictions

    classes = accelerator.manifest.config.classes
    maps = _predict(accelerator, images, tasks)
    for index, name in enumerate(names):
        click.echo(f"{name}: " + "; ".join(_describe(task, maps[task][index], classes)
                                           for task in tasks))
    with (folder / "predictions.npz").open("wb") as file:
        np.savez_compressed(file, images=images, **maps)
    plot_predictions(folder / "predictions.png", images, names, maps, classes)
    click.echo("predictions: predictions.npz, predictions.png")
    return {"arrays": "predictions.npz", "figure": "predictions.png"}


def _run_validation(accelerator: Accelerator, images: np.ndarray, tasks: list[str],
                    bounds: Bounds) -> tuple[dict, bool]:
    loads_before = accelerator.weight_loads
    checks = validate(accelerator, images, tasks, progress=True, bounds=bounds)
    for check in checks:
        click.echo(str(check))
    exact = sum(check.equal for check in checks)
    golden = [c for c in checks if c.golden is not None]
    outside = [c for c in checks if not c.within_bounds]
    reloads = accelerator.weight_loads - loads_before
    click.echo(f"validation: {exact} of {len(checks)} runs bit-exact over {len(images)} images "
               f"x {len(tasks)} tasks; {sum(c.golden for c in golden)} of {len(golden)} equal "
               f"their golden vectors; {len(outside)} outside the bounds ({bounds.describe()}"
               f"); weight reloads on task switches: {reloads}")
    if not any(c.comparison is not None for c in checks):
        click.echo("the artifact holds no float model (exported with --no-onnx): accuracy "
                   "against float not checked")
    summary = {"runs": len(checks), "bit_exact": exact, "weight_reloads": reloads,
               "bounds": dataclasses.asdict(bounds),
               "checks": [{"task": c.task, "image": c.image, "equal": c.equal,
                           "first_difference": c.first_difference, "golden": c.golden,
                           "comparison": None if c.comparison is None
                           else dataclasses.asdict(c.comparison),
                           "passed": c.passed} for c in checks]}
    return summary, not all(c.passed for c in checks) or reloads != 0


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
            bitstream = _device(None, sim_backend, emulated_artifact)
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
