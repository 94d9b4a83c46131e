"""``edgemoe hls generate`` and ``edgemoe hls csim``."""

from __future__ import annotations

import time
from pathlib import Path

import click

from edgemoe.sim.artifact import Artifact, ArtifactError

from .generator import GenerateError, generate


def _default_project(artifact: Path) -> Path:
    return Path("build") / artifact.resolve().name / "hls"


@click.group()
def hls() -> None:
    """Generate the Vitis HLS project of an artifact and run it in C simulation."""


@hls.command("generate")
@click.argument("artifact", type=click.Path(path_type=Path))
@click.option("-o", "--out", "out_dir", type=click.Path(path_type=Path),
              help="Project folder [default: build/NAME/hls].")
def generate_command(artifact: Path, out_dir: Path | None) -> None:
    """Write the HLS sources, testbench, tcl scripts and Makefile for ARTIFACT."""
    try:
        project = generate(artifact, out_dir or _default_project(artifact))
    except (ArtifactError, GenerateError) as err:
        raise click.ClickException(str(err)) from None
    files = sorted(p.relative_to(project) for p in project.rglob("*") if p.is_file())
    click.echo(f"{project}: {', '.join(str(f) for f in files)}")


@hls.command("csim")
@click.argument("artifact", type=click.Path(path_type=Path))
@click.option("-o", "--out", "out_dir", type=click.Path(path_type=Path),
              help="Project folder [default: build/NAME/hls], generated first.")
def csim_command(artifact: Path, out_dir: Path | None) -> None:
    """Build the generated project with g++ and compare every layer to the simulator."""
    from .csim import build_csim, run_csim

    try:
        Artifact(artifact)
        project = generate(artifact, out_dir or _default_project(artifact))
    except (ArtifactError, GenerateError) as err:
        raise click.ClickException(str(err)) from None
    started = time.perf_counter()
    build_csim(project)
    built = time.perf_counter()
    report = run_csim(project, artifact)
    ran = time.perf_counter()
    for tap in report.taps:
        if not tap.equal:
            click.echo(str(tap))
    equal = sum(t.equal for t in report.taps)
    click.echo(f"csim: {equal} of {len(report.taps)} layer outputs equal the simulator bit for "
               f"bit; tokens {'equal' if report.tokens_equal else 'DIFFER'} "
               f"(build {built - started:.1f} s, run {ran - built:.1f} s)")
    if not report.passed:
        raise click.ClickException("C simulation does not match the simulator")
