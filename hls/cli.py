"""``edgemoe hls generate``, ``edgemoe hls lint`` and ``edgemoe hls csim``."""

from __future__ import annotations

import math
import time
from pathlib import Path

import click

from edgemoe.sim.artifact import Artifact, ArtifactError, read_files

from .cxx_build import CompileError, CompilerNotFoundError
from .generator import generate
from .headers import HeadersNotFoundError

#: What a user can cause and fix: each becomes one line naming the problem.
USER_ERRORS = (ArtifactError, ValueError, HeadersNotFoundError, CompilerNotFoundError,
               CompileError)

MAX_SYNTHESIS_HOURS = 7 * 24.0



def _not_nan(ctx: click.Context, param: click.Parameter, value: float) -> float:
    if math.isnan(value):  # a range lets nan through: it compares false both ways
        raise click.BadParameter("nan is not a number of hours")
    return value


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


@hls.command("sweep")
@click.argument("artifact", type=click.Path(path_type=Path))
@click.option("--point", "point_specs", multiple=True, metavar="KEY=VALUE,...",
              help="a design point, e.g. parallel=8,tile=32x16,clock=250,heads=3 (the "
                   "artifact's value for a key not given); repeat for more")
@click.option("--dse", "dse_json", type=click.Path(path_type=Path),
              help="the Pareto front of an `edgemoe dse` result (dse.json) at the "
                   "artifact's precision")
@click.option("-o", "--out", "out_dir", type=click.Path(path_type=Path),
              help="Folder of the projects [default: build/NAME/sweep].")
@_FORCE
@click.option("--ray", "ray_address", metavar="ADDRESS",
              help="synthesize on the Ray workers with the vitis_hls resource: 'local', "
                   "'auto' or a cluster's address")
@click.option("--timeout", "timeout_h", type=click.FloatRange(min=0, max=MAX_SYNTHESIS_HOURS,
                                                              min_open=True),
              default=12.0, show_default=True, callback=_not_nan,
              help="hours one synthesis may take")
def sweep_command(artifact: Path, point_specs: tuple[str, ...], dse_json: Path | None,
                  out_dir: Path | None, force: bool, ray_address: str | None,
                  timeout_h: float) -> None:
    """One HLS project per design point of ARTIFACT, each synthesized with `make csynth`
    where Vitis HLS is, its reports turned into the cycle model's corrections."""
    from edgemoe.sim.cluster import ClusterError, cluster, cluster_resource, run_jobs

    from .sweep import (
        RESOURCE,
        CsynthWorker,
        SweepError,
        pareto_points,
        parse_point,
        point_name,
        vitis_here,
        write_projects,
    )

    out = out_dir or Path("build") / artifact.resolve().name / "sweep"
    try:
        manifest = Artifact(artifact).manifest
        points = [parse_point(spec, manifest) for spec in point_specs]
        points += pareto_points(dse_json, manifest) if dse_json else []
        if not points:
            raise SweepError("choose design points with --point or --dse")
        projects = write_projects(artifact, points, out, force)
    except (*USER_ERRORS, SweepError) as err:
        raise click.ClickException(str(err).splitlines()[0]) from None
    click.echo(f"{len(projects)} HLS projects in {out}: {', '.join(projects)}")
    own = manifest.accelerator.attention_parallel
    if any(p.attention_parallel != own for p in points):
        click.echo(f"note: a point with another P than the artifact's ({own}) visits keys in "
                   "another order, so its C simulation differs from the artifact's golden "
                   "vectors: export with that P to run it")
    by_name = {point_name(p): p for p in points}
    jobs = [(name, read_files(path)) for name, path in projects.items()]
    timeout_s = timeout_h * 3600
    try:
        if ray_address is None:
            if not vitis_here():
                raise click.ClickException(
                    "no vitis_hls on PATH: run `make csynth` in each project where Vitis HLS "
                    f"is installed, or give --ray with workers that have the {RESOURCE} "
                    "resource")
            worker = CsynthWorker(timeout_s)
            failed = _collect_syntheses((worker.synthesize(*job) for job in jobs), projects,
                                        manifest, by_name)
        else:
            local = {RESOURCE: 1.0} if vitis_here() else None
            with cluster(ray_address, resources=local) as ray:
                units = int(cluster_resource(ray, RESOURCE))
                if units < 1:
                    where = ("vitis_hls is not on PATH here" if ray_address == "local" else
                             "on each machine with Vitis HLS run `ray start --address "
                             f"HEAD:6379 --resources '{{\"{RESOURCE}\": 1}}'`")
                    raise click.ClickException(
                        f"no worker of the Ray cluster ({ray_address}) has the {RESOURCE} "
                        f"resource, so no synthesis was started: {where}")
                failed = _collect_syntheses(
                    run_jobs(ray, CsynthWorker, (timeout_s,), jobs, "synthesize", units,
                             resources={RESOURCE: 1}, desc="csynth"),
                    projects, manifest, by_name)
    except (ClusterError, SweepError) as err:
        raise click.ClickException(str(err).splitlines()[0]) from None
    if failed:
        raise click.ClickException(f"{failed} of {len(jobs)} syntheses failed")


def _collect_syntheses(done, projects: dict[str, Path], manifest, by_name: dict) -> int:
    """Each synthesis's log, reports and the model's corrections into its project; the
    number that failed."""
    from .sweep import SweepError, collect

    failed = 0
    for synthesis in done:
        if synthesis.name not in projects:
            raise SweepError(f"a worker answered for {synthesis.name[:64]!r}, not a point "
                             "of this sweep")
        try:
            corrections = collect(projects[synthesis.name], synthesis, manifest,
                                  by_name[synthesis.name])
        except SweepError as err:
            click.echo(str(err))
            failed += 1
            continue
        factors = ", ".join(f"{k} {v:.2f}x" for k, v in sorted(corrections.items()))
        click.echo(f"{synthesis.name}: synthesized in {synthesis.seconds / 60:.1f} min; "
                   f"Vitis HLS against the model: {factors or 'no comparable function'}")
    return failed
