"""Vitis HLS synthesis reports (``csynth.xml``) beside the cycle and resource model.

Where a user has run ``csynth_design``, each function's report lies in
``<solution>/syn/report/<function>_csynth.xml`` (a pipelined loop of a function often in a
``<function>_Pipeline_<label>_csynth.xml`` of its own). This reads the latency (cycles;
``None`` where HLS reports it as undefined), the clock and the resources, and lines them up
with the model per kernel, so the ratios can be saved and given back to the model as
corrections; and every labelled loop's II, trip count and depth
(``PerformanceEstimates/SummaryOfLoopLatency/<label>``), which replace the model's
assumptions for those loops.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass
from pathlib import Path

from edgemoe.sim.atomic import atomic_path

#: The model's kernels under the names of the HLS functions that implement them (the
#: units that stay functions: every wrapper is inlined into the top).
MODEL_KERNELS = {"layer_norm": ("layer_norm",),
                 "linear_rows": ("linear q/k/v", "linear proj", "linear fc1+gelu", "linear fc2",
                                 "moe experts", "patch_embed"),
                 "attention": ("attention",)}


class ReportError(ValueError):
    """Not a Vitis HLS synthesis report."""


@dataclass(frozen=True)
class SynthesisReport:
    function: str
    target_ns: float | None
    estimated_ns: float | None
    latency_best: int | None
    latency_worst: int | None
    bram18: int
    dsp: int
    ff: int
    lut: int
    uram: int


def _number(text: str | None) -> int | None:
    """A report's count; None where it has none ("undef", "-", empty)."""
    try:
        return int(float(text)) if text is not None else None
    except ValueError:
        return None


def _float(text: str | None) -> float | None:
    return None if text is None or not text.strip() else float(text)


def read_csynth(path: str | Path) -> SynthesisReport:
    path = Path(path)
    try:
        root = ET.parse(path).getroot()
    except (ET.ParseError, OSError) as err:
        raise ReportError(f"{path} is not a readable XML report: {err}") from None
    latency = root.find("PerformanceEstimates/SummaryOfOverallLatency")
    resources = root.find("AreaEstimates/Resources")
    if latency is None or resources is None:
        raise ReportError(f"{path} has no PerformanceEstimates/SummaryOfOverallLatency or "
                          "AreaEstimates/Resources: not a Vitis HLS csynth.xml")
    function = root.findtext("UserAssignments/TopModelName") or path.name.split("_csynth")[0]
    return SynthesisReport(
        function=function,
        target_ns=_float(root.findtext("UserAssignments/TargetClockPeriod")),
        estimated_ns=_float(root.findtext(
            "PerformanceEstimates/SummaryOfTimingAnalysis/EstimatedClockPeriod")),
        latency_best=_number(latency.findtext("Best-caseLatency")),
        latency_worst=_number(latency.findtext("Worst-caseLatency")),
        **{key: _number(resources.findtext(tag)) or 0 for key, tag in (
            ("bram18", "BRAM_18K"), ("dsp", "DSP"), ("ff", "FF"), ("lut", "LUT"),
            ("uram", "URAM"))})


def _report_files(solution: str | Path) -> list[Path]:
    solution = Path(solution)
    folder = solution / "syn" / "report" if (solution / "syn" / "report").is_dir() else solution
    paths = sorted(folder.glob("*_csynth.xml"))
    if not paths:
        raise ReportError(f"no *_csynth.xml in {folder}: run csynth_design first "
                          "(vitis_hls -f vitis_hls.tcl)")
    return paths


def read_solution(solution: str | Path) -> dict[str, SynthesisReport]:
    """Every ``*_csynth.xml`` under ``solution/syn/report`` (or the folder itself)."""
    reports = {}
    for path in _report_files(solution):
        report = read_csynth(path)
        reports[report.function] = report
    return reports


@dataclass(frozen=True)
class LoopReport:
    label: str
    ii: int | None
    trip: int | None
    depth: int | None
    latency: int | None


def _loops_in(element: ET.Element) -> list[LoopReport]:
    """A SummaryOfLoopLatency's loops, nested loops included (each is an element named by
    its label, holding its inner loops as elements of their own)."""
    found = []
    for loop in element:
        if loop.find("TripCount") is None and loop.find("PipelineII") is None:
            continue
        found.append(LoopReport(loop.findtext("Name") or loop.tag,
                                _number(loop.findtext("PipelineII")),
                                _number(loop.findtext("TripCount")),
                                _number(loop.findtext("PipelineDepth")),
                                _number(loop.findtext("Latency"))))
        found += _loops_in(loop)
    return found


def read_loops(solution: str | Path) -> dict[str, LoopReport]:
    """Every labelled loop any report of the solution shows, by label."""
    loops: dict[str, LoopReport] = {}
    for path in _report_files(solution):
        try:
            root = ET.parse(path).getroot()
        except (ET.ParseError, OSError) as err:
            raise ReportError(f"{path} is not a readable XML report: {err}") from None
        for summary in root.iter("SummaryOfLoopLatency"):
            for loop in _loops_in(summary):
                loops.setdefault(loop.label, loop)
    return loops


@dataclass(frozen=True)
class Comparison:
    function: str
    model_cycles: int  # per call
    hls_cycles: int | None

    @property
    def correction(self) -> float | None:
        return self.hls_cycles / self.model_cycles if self.hls_cycles else None


def compare(per_call_model: dict[str, int], reports: dict[str, SynthesisReport],
            ) -> list[Comparison]:
    """Model cycles per call of each HLS function beside the report's worst case."""
    rows = []
    for function, model in per_call_model.items():
        report = reports.get(function)
        rows.append(Comparison(function, model, report.latency_worst if report else None))
    return rows


def save_corrections(rows: list[Comparison], path: str | Path) -> dict[str, float]:
    """Per model kernel, the factor HLS's figure is off by, as ``latency()`` takes it."""
    factors = {}
    for row in rows:
        if row.correction is not None:
            for kernel in MODEL_KERNELS.get(row.function, (row.function,)):
                factors[kernel] = row.correction
    with atomic_path(path) as target:
        target.write_text(json.dumps({"corrections": factors,
                                      "rows": [asdict(r) for r in rows]}, indent=2))
    return factors
