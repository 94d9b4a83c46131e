"""``edgemoe hls generate``, ``edgemoe hls lint`` and ``edgemoe hls csim``."""

from __future__ import annotations

import time
from pathlib import Path

import click

from edgemoe.sim.artifact import ArtifactError

from .cxx_build import CompileError, CompilerNotFoundError
from .generator import generate
from .headers import HeadersNotFoundError

#: What a user can cause and fix: each becomes one line naming the problem.
USER_ERRORS = (ArtifactError, ValueError, HeadersNotFoundError, CompilerNotFoundError,
               CompileError)

_OUT = click.option("-o", "--out", "out_dir", type=click.Path(path_type=Path),
                    help="Project folder [default: build/NAME/hls].")
_FORCE = click.option("--force", is_flag=True,
                      help="Write into a non-empty folder edgemoe did not make (emptied "
                           "first).")


def _default_project(artifact: Path) -> Path:
    return Path("build") / artifact.resolve().name / "hls"


def _generate(artifact: Path, out_dir: Path | None, force: bool) -> Path:
    try:
        return generate(artifact, out_dir or _default_project(artifact), force)
    except USER_ERRORS as err:
        raise click.ClickException(str(err).splitlines()[0]) from None


def _lint(project: Path) -> None:
    """Every finding on its own line, then a summary; a finding fails the command."""
    from .lint import RULES, LintError, lint_project

    try:
        findings = lint_project(project)
    except LintError as err:
        raise click.ClickException(str(err).splitlines()[0]) from None
    for finding in findings:
        click.echo(str(finding))
    if findings:
        raise click.ClickException(f"hls lint: {len(findings)} findings in {project}")
    click.echo(f"hls lint: {project} follows all {len(RULES)} rules")


@click.group()
def hls() -> None:
    """Generate the Vitis HLS project of an artifact and run it in C simulation."""


@hls.command("generate")
@click.argument("artifact", type=click.Path(path_type=Path))
@_OUT
@_FORCE
def generate_command(artifact: Path, out_dir: Path | None, force: bool) -> None:
    """Write the HLS sources, testbench, tcl scripts and Makefile for ARTIFACT (what else
    is in the folder, such as hls_project/ or bitstream/, stays)."""
    project = _generate(artifact, out_dir, force)
    click.echo(f"{project}: the Vitis HLS project of {artifact}")
    _lint(project)


@hls.command("lint")
@click.argument("project", type=click.Path(path_type=Path, exists=True, file_okay=False))
def lint_command(project: Path) -> None:
    """Check PROJECT's HLS sources (src/*.cpp and include/) for what Vitis HLS would refuse
    or build far below its pragmas: pointers in structs, pointer comparisons, unsized array
    parameters, run-time division in pipelined loops, variable loops without
    loop_tripcount, units built more than once, indirect updates without a dependence
    pragma, HDL keywords as ports, and pragmas UG1399 does not know."""
    _lint(project)


@hls.command("csim")
@click.argument("artifact", type=click.Path(path_type=Path))
@_OUT
@_FORCE
def csim_command(artifact: Path, out_dir: Path | None, force: bool) -> None:
    """Build the generated project with g++ and compare every layer to the simulator."""
    from .csim import CsimError, build_csim, run_csim

    project = _generate(artifact, out_dir, force)  # checks every file the testbench reads
    try:
        started = time.perf_counter()
        build_csim(project)
        built = time.perf_counter()
        report = run_csim(project, artifact)
        ran = time.perf_counter()
    except (*USER_ERRORS, CsimError) as err:
        raise click.ClickException(str(err).splitlines()[0]) from None
    for tap in report.taps:
        if not tap.equal:
            click.echo(str(tap))
    equal = sum(t.equal for t in report.taps)
    click.echo(f"csim: {equal} of {len(report.taps)} layer outputs equal the simulator bit for "
               f"bit; tokens {'equal' if report.tokens_equal else 'DIFFER'} "
               f"(build {built - started:.1f} s, run {ran - built:.1f} s)")
    if not report.passed:
        raise click.ClickException("C simulation does not match the simulator")
