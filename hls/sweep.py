"""``edgemoe hls sweep``: one HLS project per chosen design point of an artifact, each
synthesized (``make csynth``) where Vitis HLS is, and each synthesis report turned into
the cycle model's corrections beside the model's own figures.

Synthesis takes hours a point, so the projects go to the workers of a Ray cluster that
declare the custom resource ``vitis_hls`` (``ray start ... --resources
'{"vitis_hls": 1}'``), one synthesis per unit: the sources travel through the object store
and the reports come back, so workers need no shared folder. Without ``--ray``, the
projects are synthesized here one after another when ``vitis_hls`` is on PATH.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from edgemoe.sim.artifact import write_files
from edgemoe.sim.atomic import atomic_path
from edgemoe.sim.config import AcceleratorConfig, ConfigError
from edgemoe.sim.manifest import Manifest, ManifestError
from edgemoe.sim.output_folder import check_output_folder

from .generator import generate
from .perf.csynth_report import ReportError, compare, read_solution, save_corrections
from .perf.cycle_model import Design, per_call

#: Where `make csynth` leaves the reports (the generated Makefile's hls_project).
REPORTS = Path("hls_project") / "solution1" / "syn" / "report"
RESOURCE = "vitis_hls"
POINT_KEYS = ("parallel", "heads", "tile", "clock")
MAX_DSE_BYTES = 16 << 20
MAX_PARETO_POINTS = 256  # a front is a few dozen points; each is checked as an export
#: the report files a worker may send back (Vitis names them after the functions)
REPORT_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}_csynth\.xml")
LOG_CHARS = 64_000  # of make's output, kept as csynth.log


class SweepError(ValueError):
    """A design point or sweep file that cannot be built or read."""


def point_name(accelerator: AcceleratorConfig) -> str:
    """A folder name that says the point: ``p8_hall_32x16_250mhz``."""
    a = accelerator
    heads = "all" if a.attention_heads is None else a.attention_heads
    return f"p{a.attention_parallel}_h{heads}_{a.tile_in}x{a.tile_out}_{a.clock_mhz:g}mhz"


def _replace(base: AcceleratorConfig, manifest: Manifest, **changes) -> AcceleratorConfig:
    try:
        point = dataclasses.replace(base, **changes)
        if point.attention_heads == manifest.config.heads:
            point = dataclasses.replace(point, attention_heads=None)  # every head
        manifest.with_accelerator(point)  # the hardware rules, as an export would check
    except (ConfigError, ManifestError) as err:
        raise SweepError(f"design point {changes}: {str(err).splitlines()[0]}") from None
    return point


def parse_point(text: str, manifest: Manifest) -> AcceleratorConfig:
    """``parallel=8,tile=32x16,clock=250,heads=3``: any of the keys, the artifact's value
    for the others."""
    changes: dict = {}
    for item in filter(None, text.replace(" ", "").split(",")):
        key, _, value = item.partition("=")
        try:
            if key == "parallel":
                changes["attention_parallel"] = int(value)
            elif key == "heads":
                changes["attention_heads"] = int(value)
            elif key == "tile":
                changes["tile_in"], changes["tile_out"] = (int(v) for v in value.split("x"))
            elif key == "clock":
                changes["clock_mhz"] = float(value)
            else:
                raise SweepError(f"--point {text!r}: unknown key {key!r}; keys are "
                                 f"{', '.join(POINT_KEYS)}")
        except ValueError as err:
            if isinstance(err, SweepError):
                raise
            raise SweepError(f"--point {text!r}: {item!r} is not KEY=NUMBER (tile=INxOUT)") \
                from None
    if not changes:
        raise SweepError(f"--point {text!r} names no parameter; keys are "
                         f"{', '.join(POINT_KEYS)}")
    return _replace(manifest.accelerator, manifest, **changes)


def pareto_points(dse_json: Path, manifest: Manifest) -> list[AcceleratorConfig]:
    """The Pareto front of an ``edgemoe dse`` result at the artifact's precision."""
    try:
        if dse_json.stat().st_size > MAX_DSE_BYTES:
            raise SweepError(f"{dse_json} is larger than any dse.json edgemoe writes")
        document = json.loads(dse_json.read_bytes())
        rows = _pareto_rows(document, dse_json, manifest.config.name)
        points = [_replace(manifest.accelerator, manifest,
                           attention_parallel=row["parallel"],
                           attention_heads=row["attention_heads"],
                           tile_in=row["tile"][0], tile_out=row["tile"][1],
                           clock_mhz=row["clock_mhz"])
                  for row in rows if row["precision"] == manifest.quantization.preset]
    except OSError as err:
        raise SweepError(f"cannot read {dse_json}: {err.strerror}") from None
    except SweepError:
        raise
    except (ValueError, KeyError, IndexError, TypeError, RecursionError) as err:
        raise SweepError(f"{dse_json} is not an `edgemoe dse` result ({err!r:.120})") from None
    if not points:
        raise SweepError(f"{dse_json}'s Pareto front has no {manifest.quantization.preset} "
                         "point (sweep the artifact's config and precision)")
    return points


def _pareto_rows(document: object, dse_json: Path, config_name: str) -> list[dict]:
    if not isinstance(document, dict):
        raise TypeError("not an object")
    swept = document.get("config", config_name)
    if swept != config_name:
        raise SweepError(f"{dse_json} sweeps config {str(swept)[:64]!r}, the artifact is "
                         f"{config_name!r}: run `edgemoe dse --config {config_name}`")
    points, front = document["points"], document["pareto"]
    if not isinstance(points, list) or not isinstance(front, list):
        raise TypeError("points and pareto must be lists")
    if len(front) > MAX_PARETO_POINTS:
        raise SweepError(f"{dse_json} has {len(front)} Pareto points, more than "
                         f"{MAX_PARETO_POINTS}: choose points with --point")
    for index in front:
        if type(index) is not int or not 0 <= index < len(points):
            raise SweepError(f"{dse_json}: Pareto index {str(index)[:32]} is not one of its "
                             "points")
        if not isinstance(points[index], dict):
            raise SweepError(f"{dse_json}: point {index} is not an object")
    return [points[i] for i in front]


def write_projects(artifact: Path, points: list[AcceleratorConfig], out: Path,
                   force: bool = False) -> dict[str, Path]:
    """One project per point under ``out/NAME``, each written whole (the points were
    checked when they were chosen, so a bad one stops the sweep before any is written)."""
    names = [point_name(p) for p in points]
    if len(set(names)) != len(names):
        raise SweepError("the same design point is chosen twice")
    for name in names:
        check_output_folder(out / name, force, forceable=True)
    return {name: generate(artifact, out / name, force, accelerator=point)
            for name, point in zip(names, points, strict=True)}


@dataclass(frozen=True)
class Synthesis:
    name: str
    reports: dict[str, bytes]  # *_csynth.xml by file name
    seconds: float
    error: str | None = None
    log: str = ""  # the tail of make's output


def _first_error(output: str, stderr: str) -> str:
    """Vitis HLS's first ERROR line, else the shell's first complaint."""
    lines = [line for line in output.splitlines() if line.startswith("ERROR")]
    lines = lines or stderr.strip().splitlines() or output.strip().splitlines()
    return lines[0] if lines else "no output"


class CsynthWorker:
    """Runs ``make csynth`` on a project sent as files (in a Ray worker on a Vitis machine).
    Whatever goes wrong is that point's failed synthesis, never the end of the others."""

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s

    def synthesize(self, name: str, files: dict[str, bytes]) -> Synthesis:
        started = time.perf_counter()
        try:
            with tempfile.TemporaryDirectory(prefix="edgemoe-csynth-") as scratch:
                project = Path(scratch) / name
                write_files(files, project)
                status, output, first = self._make(project)
                reports = {path.name: path.read_bytes()
                           for path in sorted((project / REPORTS).glob("*_csynth.xml"))}
        except (OSError, ValueError) as err:
            return Synthesis(name, {}, time.perf_counter() - started,
                             f"the worker could not run make csynth: {err}")
        error = None
        if status is None:
            error = f"make csynth did not finish within {self.timeout_s:g} s"
        elif status != 0 or not reports:
            error = f"make csynth failed (status {status}): {first}"
        return Synthesis(name, reports, time.perf_counter() - started, error,
                         output[-LOG_CHARS:])

    def _make(self, project: Path) -> tuple[int | None, str, str]:
        """make's status (None: stopped at the timeout, with everything it started, such
        as vitis_hls), its output, and its first error line."""
        make = subprocess.Popen(["make", "csynth"], cwd=project, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, start_new_session=True)
        try:
            stdout, stderr = make.communicate(timeout=self.timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(make.pid, signal.SIGKILL)
            stdout, stderr = make.communicate()
            return None, _decode(stdout) + _decode(stderr), ""
        out, err = _decode(stdout), _decode(stderr)
        return make.returncode, out + err, _first_error(out, err)


def _decode(output: bytes) -> str:
    return output.decode("utf-8", errors="replace")


def collect(project: Path, synthesis: Synthesis, manifest: Manifest,
            point: AcceleratorConfig) -> dict[str, float]:
    """Keep the worker's log as ``csynth.log``; put the reports into the project as Vitis
    would, and save the model's corrections for this point beside them
    (``model_corrections.json``). A failed synthesis is a ``SweepError`` naming the log."""
    strays = [n for n in synthesis.reports if not REPORT_NAME.fullmatch(n)]
    if strays:
        raise SweepError(f"{synthesis.name}: a worker sent {strays[0][:64]!r} as a report")
    with atomic_path(project / "csynth.log") as target:
        target.write_text(synthesis.log)
    if synthesis.error is not None:
        raise SweepError(f"{synthesis.name}: {synthesis.error}; see {project / 'csynth.log'}")
    folder = project / REPORTS
    folder.mkdir(parents=True, exist_ok=True)
    for file_name, data in synthesis.reports.items():
        with atomic_path(folder / file_name) as target:
            target.write_bytes(data)
    design = dataclasses.replace(Design.of_manifest(manifest), accelerator=point)
    try:
        rows = compare(per_call(design), read_solution(folder.parent.parent))
    except ReportError as err:
        raise SweepError(f"{synthesis.name}: {err}") from None
    return save_corrections(rows, project / "model_corrections.json")


def vitis_here() -> bool:
    return shutil.which("vitis_hls") is not None
