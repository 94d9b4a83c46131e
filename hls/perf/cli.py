"""``edgemoe estimate`` and ``edgemoe dse``: latency, FPS and resources of the generated
accelerator on a ZCU104 from the cycle and resource models, before any synthesis."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import click

from edgemoe.sim.atomic import atomic_path
from edgemoe.sim.output_folder import OutputError, check_output_folder, output_folder

from .dse import PRECISIONS, with_point


def _stats_per_task(artifact: Path, images: int):
    """Per task, the expert statistics of each vector image (the simulator's trace)."""
    from edgemoe.sim.accelerator import Accelerator
    from edgemoe.sim.artifact import Artifact

    from .cycle_model import ExpertStats

    loaded = Artifact(artifact)
    manifest = loaded.manifest
    engine = Accelerator.from_manifest(manifest, loaded.weights())
    pictures = loaded.vector_images()[:images]
    return {task: [ExpertStats.from_queues(result.queues)
                   for result in (engine.run_batch(pictures, task) if len(pictures) else [])]
            for task in manifest.config.tasks}


def _design(artifact: Path):
    from edgemoe.sim.artifact import Artifact

    from .cycle_model import Design

    manifest = Artifact(artifact).manifest
    return manifest, Design.of_manifest(manifest)


def _reported_loops(csynth: Path) -> dict:
    """Each labelled loop a synthesis report shows (a one-line error if it has none)."""
    from edgemoe.hls.perf.csynth_report import ReportError, read_loops
    from edgemoe.sim.config import ConfigError

    try:
        return read_loops(csynth)
    except ReportError as err:
        raise ConfigError(str(err)) from None


def _parse_tile(tile: str | None) -> tuple[int, int] | None:
    if tile is None:
        return None
    try:
        tile_in, tile_out = (int(side) for side in tile.lower().split("x"))
    except ValueError:
        raise click.BadParameter(f"{tile!r} is not INxOUT (e.g. 32x16)",
                                 param_hint="--tile") from None
    return tile_in, tile_out


@click.command()
@click.argument("artifact", type=click.Path(path_type=Path))
@click.option("--images", type=click.IntRange(min=1), default=4, show_default=True,
              help="vector images whose expert routing is averaged")
@click.option("--csynth", type=click.Path(path_type=Path),
              help="a Vitis HLS solution folder: put its per-function latency and resources "
                   "beside the model's, and save the corrections")
@click.option("--json", "out_json", type=click.Path(path_type=Path))
@click.option("--parallel", type=click.IntRange(min=1),
              help="model another attention parallelism P than the artifact's")
@click.option("--attention-heads", "heads", type=click.IntRange(min=1),
              help="model another number of heads attention computes side by side")
@click.option("--tile", type=str, metavar="INxOUT", help="model another linear tile, e.g. 32x16")
@click.option("--precision", type=click.Choice(sorted(PRECISIONS)),
              help="model another precision preset's feature and weight widths")
@click.option("--clock", "clock_mhz", type=click.FloatRange(min=1), help="kernel clock, MHz")
@click.option("--layers", "per_layer", is_flag=True, help="also print every layer's kernels")
def estimate(artifact: Path, images: int, csynth: Path | None, out_json: Path | None,
             parallel: int | None, heads: int | None, tile: str | None,
             precision: str | None, clock_mhz: float | None, per_layer: bool) -> None:
    """Latency, FPS, per-kernel breakdown and resources of ARTIFACT's accelerator (or, with
    the options, of another design point running ARTIFACT's model and routing)."""
    from edgemoe.hls.perf.cycle_model import latency, per_call
    from edgemoe.hls.perf.resource_model import ZCU104, resources
    from edgemoe.sim.artifact import ArtifactError
    from edgemoe.sim.config import ConfigError
    from edgemoe.sim.hardware_rules import design_problems

    try:
        manifest, design = _design(artifact)
        stats = _stats_per_task(artifact, images)
        design = with_point(design, parallel, _parse_tile(tile), precision, clock_mhz, heads)
        problems = design_problems(design.config, design.accelerator, design.feature_bits,
                                   design.weight_bits)
        if problems:
            raise ConfigError("this design point cannot be built: " + "; ".join(problems))
        reported = _reported_loops(csynth) if csynth else {}
    except (ArtifactError, ConfigError) as err:
        raise click.ClickException(str(err)) from None
    design = dataclasses.replace(design, reported_ii=tuple(
        (label, loop.ii) for label, loop in sorted(reported.items()) if loop.ii))
    a = design.accelerator
    click.echo(f"{manifest.config.name}: P={a.attention_parallel}, "
               f"{design.attention_heads} of {design.config.heads} heads side by side, "
               f"tile {a.tile_in}x"
               f"{a.tile_out}, {design.feature_bits}-bit features, {design.weight_bits}-bit "
               f"weights, {a.clock_mhz:g} MHz")
    summary: dict = {"tasks": {}}
    for task, per_image in stats.items():
        runs = [latency(design, s) for s in per_image]
        seconds = sum(r.seconds for r in runs) / len(runs)
        summary["tasks"][task] = {"ms": seconds * 1e3, "fps": 1 / seconds,
                                  "experts_active": {str(layer): sum(s.active(layer)
                                                                     for s in per_image)
                                                     / len(per_image)
                                                     for layer in manifest.config.moe_layers}}
        click.echo(f"  {task:13} {seconds * 1e3:9.2f} ms  {1 / seconds:8.1f} FPS")
    first = latency(design, next(iter(stats.values()))[0])
    if per_layer:
        click.echo("  per layer (first task, first image):")
        for step in first.steps:
            click.echo(f"    {step.layer:9} {step.kernel:17} {step.cost.cycles:>10,} cycles  "
                       f"{step.cost.bound}-bound")
    click.echo("  breakdown (first task, first image):")
    summary["breakdown"] = {}
    for kernel, cost in sorted(first.by_kernel().items(), key=lambda kv: -kv[1].cycles):
        share = cost.cycles / first.cycles
        summary["breakdown"][kernel] = {"cycles": cost.cycles, "bound": cost.bound}
        click.echo(f"    {kernel:17} {cost.cycles:>12,} cycles {share:6.1%}  {cost.bound}-bound")
    used = resources(design)
    summary["resources"] = {k: getattr(used, k) for k in ZCU104}
    click.echo("  resources (xczu7ev budget):")
    for key, budget in ZCU104.items():
        value = getattr(used, key)
        click.echo(f"    {key:7} {value:>10,.0f} of {budget:>9,} ({value / budget:6.1%})")
    click.echo(f"  fits a ZCU104: {'yes' if used.fits() else 'NO'}")
    from edgemoe.hls.perf.assumptions import assumptions

    table = assumptions(design, reported)
    summary["assumptions"] = [dataclasses.asdict(row) for row in table]
    click.echo("  assumptions (model, or the synthesis report where --csynth gives one):")
    for row in table:
        click.echo(f"    {row.name:38} {row.value:34} {row.source}")
    if csynth:
        from edgemoe.hls.perf.csynth_report import (
            ReportError,
            compare,
            read_solution,
            save_corrections,
        )

        try:
            rows = compare(per_call(design), read_solution(csynth))
        except ReportError as err:
            raise click.ClickException(str(err)) from None
        click.echo("  model vs Vitis HLS (cycles per call):")
        for row in rows:
            hls = f"{row.hls_cycles:,}" if row.hls_cycles else "-"
            ratio = f"{row.correction:.2f}x" if row.correction else ""
            click.echo(f"    {row.function:13} {row.model_cycles:>12,} {hls:>12} {ratio}")
        corrections = save_corrections(rows, Path(csynth) / "model_corrections.json")
        summary["corrections"] = corrections
    if out_json:
        with atomic_path(out_json) as path:
            path.write_text(json.dumps(summary, indent=2))


@click.command()
@click.option("--config", "config_name", default="m3vit-s", show_default=True)
@click.option("--artifact", type=click.Path(path_type=Path),
              help="take the expert routing from this artifact's simulator trace "
                   "(default: every expert active with an equal share)")
@click.option("-o", "--out", "out_dir", type=click.Path(path_type=Path),
              help="report folder [default: reports/dse-CONFIG]")
@click.option("--ray", "ray_address", metavar="ADDRESS",
              help="share the points out among Ray workers: 'local' (a cluster on this "
                   "machine), 'auto' (the one `ray start` runs here) or a cluster's address")
@click.option("--workers", type=click.IntRange(min=1),
              help="Ray workers [default: the cluster's CPUs]")
def dse(config_name: str, artifact: Path | None, out_dir: Path | None,
        ray_address: str | None, workers: int | None) -> None:
    """Sweep P, the heads side by side, the linear tile, the precision and the clock; plot
    the Pareto front."""
    from edgemoe.hls.perf.dse import EDGE_MOE_POINT, pareto, sweep, sweep_on_ray
    from edgemoe.sim.artifact import Artifact, ArtifactError
    from edgemoe.sim.cluster import ClusterError, cluster, worker_count
    from edgemoe.sim.config import ConfigError
    from edgemoe.sim.config_file import load_model_config

    from .dse_plot import plot_pareto

    if workers is not None and ray_address is None:
        raise click.UsageError("--workers shares the points out on Ray: give --ray too")
    stats = None
    try:
        config = load_model_config(config_name)
        if artifact:
            if Artifact(artifact).manifest.config != config:
                raise ConfigError(f"{artifact} holds another model than config "
                                  f"{config_name!r}: give that config with --config")
            stats = _stats_per_task(artifact, 1)[config.tasks[0]][0]
    except (ConfigError, ArtifactError) as err:
        raise click.ClickException(str(err)) from None
    out_dir = out_dir or Path("reports") / f"dse-{config.name}"
    try:
        check_output_folder(out_dir)  # before the sweep
    except OutputError as err:
        raise click.ClickException(str(err)) from None
    if ray_address is None:
        points = sweep(config, stats)
    else:
        try:
            with cluster(ray_address, workers) as ray:
                points = sweep_on_ray(ray, config, stats, worker_count(ray, workers))
        except ClusterError as err:
            raise click.ClickException(str(err)) from None
    front = pareto(points)
    rows = [{"parallel": p.parallel, "attention_heads": p.heads or config.heads,
             "tile": list(p.tile), "precision": p.precision,
             "clock_mhz": p.clock_mhz, "ms": p.seconds * 1e3, "fps": p.fps, "fits": p.fits,
             "dsp": p.resources.dsp, "bram36": p.resources.bram36, "uram": p.resources.uram,
             "lut": p.resources.lut, "ff": p.resources.ff} for p in points]
    try:
        with output_folder(out_dir, "dse") as folder:
            plot_pareto(points, front, folder / "pareto.png")
            (folder / "dse.json").write_text(json.dumps(
                {"config": config.name, "points": rows,
                 "pareto": [points.index(p) for p in front]}, indent=2))
    except OutputError as err:
        raise click.ClickException(str(err)) from None
    reference = next(p for p in points if p.matches(EDGE_MOE_POINT))
    click.echo(f"{len(points)} points, {sum(p.fits for p in points)} fit a ZCU104; "
               f"Pareto front: {len(front)}")
    click.echo(f"Edge-MoE point (P=4, 16x16, 32-bit, 300 MHz): {reference.seconds * 1e3:.1f} ms, "
               f"{reference.resources.dsp} DSP, {reference.resources.bram36:.0f} BRAM36, "
               f"{reference.resources.uram} URAM, fits: {reference.fits}")
    for point in front:
        click.echo(f"  P={point.parallel:<2} heads {point.heads or config.heads:<2} "
                   f"{point.tile[0]}x{point.tile[1]:<3} "
                   f"{point.precision:8} {point.clock_mhz:4.0f} MHz  {point.seconds * 1e3:8.2f} ms "
                   f"{point.fps:7.1f} FPS  {point.resources.dsp:5} DSP")
    click.echo(f"wrote {out_dir / 'pareto.png'} and {out_dir / 'dse.json'}")
