"""Reading Vitis HLS synthesis reports and turning them into model corrections."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from edgemoe.hls.perf.csynth_report import (
    LoopReport,
    ReportError,
    compare,
    read_csynth,
    read_loops,
    read_solution,
    save_corrections,
)

REPORT = """<?xml version="1.0" encoding="UTF-8"?>
<profile>
  <ReportVersion><Version>2023.2</Version></ReportVersion>
  <UserAssignments>
    <unit>ns</unit>
    <ProductFamily>zynquplus</ProductFamily>
    <Part>xczu7ev-ffvc1156-2-e</Part>
    <TopModelName>{name}</TopModelName>
    <TargetClockPeriod>3.33</TargetClockPeriod>
  </UserAssignments>
  <PerformanceEstimates>
    <SummaryOfTimingAnalysis><unit>ns</unit><EstimatedClockPeriod>2.91</EstimatedClockPeriod>
    </SummaryOfTimingAnalysis>
    <SummaryOfOverallLatency>
      <unit>clock cycles</unit>
      <Best-caseLatency>{best}</Best-caseLatency>
      <Average-caseLatency>{worst}</Average-caseLatency>
      <Worst-caseLatency>{worst}</Worst-caseLatency>
    </SummaryOfOverallLatency>
  </PerformanceEstimates>
  <AreaEstimates>
    <Resources><BRAM_18K>12</BRAM_18K><DSP>260</DSP><FF>30000</FF><LUT>25000</LUT>
      <URAM>4</URAM></Resources>
  </AreaEstimates>
</profile>
"""


def _solution(tmp_path: Path) -> Path:
    folder = tmp_path / "solution1" / "syn" / "report"
    folder.mkdir(parents=True)
    (folder / "attention_csynth.xml").write_text(
        REPORT.format(name="attention", best=1000, worst=2000))
    (folder / "moe_layer_csynth.xml").write_text(
        REPORT.format(name="moe_layer", best="undef", worst="undef"))
    return tmp_path / "solution1"


def test_a_report_is_read(tmp_path: Path) -> None:
    report = read_csynth(_solution(tmp_path) / "syn/report/attention_csynth.xml")
    assert (report.function, report.latency_best, report.latency_worst) == ("attention", 1000,
                                                                              2000)
    assert (report.dsp, report.bram18, report.uram, report.lut, report.ff) == (260, 12, 4,
                                                                               25000, 30000)
    assert report.target_ns == pytest.approx(3.33) and report.estimated_ns == pytest.approx(2.91)


def test_undefined_latency_gives_no_correction(tmp_path: Path) -> None:
    reports = read_solution(_solution(tmp_path))
    rows = compare({"attention": 1600, "moe_layer": 5000, "linear": 10}, reports)
    by_name = {r.function: r for r in rows}
    assert by_name["attention"].correction == pytest.approx(1.25)
    assert by_name["moe_layer"].correction is None and by_name["linear"].hls_cycles is None
    factors = save_corrections(rows, tmp_path / "corrections.json")
    assert factors == {"attention": pytest.approx(1.25)}
    assert json.loads((tmp_path / "corrections.json").read_text())["corrections"]


def test_not_a_report_is_refused(tmp_path: Path) -> None:
    (tmp_path / "x_csynth.xml").write_text("<profile><Other/></profile>")
    with pytest.raises(ReportError, match=r"not a Vitis HLS csynth\.xml"):
        read_csynth(tmp_path / "x_csynth.xml")
    with pytest.raises(ReportError, match=r"no \*_csynth\.xml"):
        read_solution(tmp_path / "missing")


LOOP_REPORT = """<?xml version="1.0" encoding="UTF-8"?>
<profile>
  <PerformanceEstimates>
    <SummaryOfOverallLatency><Best-caseLatency>undef</Best-caseLatency>
      <Worst-caseLatency>undef</Worst-caseLatency></SummaryOfOverallLatency>
    <SummaryOfLoopLatency>
      <attention_blocks>
        <TripCount>9</TripCount><Latency>undef</Latency><PipelineII>-</PipelineII>
        <attention_key_steps>
          <TripCount>36</TripCount><Latency>120</Latency><PipelineII>{ii}</PipelineII>
          <PipelineDepth>24</PipelineDepth>
        </attention_key_steps>
      </attention_blocks>
    </SummaryOfLoopLatency>
  </PerformanceEstimates>
  <AreaEstimates><Resources><DSP>1</DSP></Resources></AreaEstimates>
</profile>
"""


def _loop_solution(tmp_path: Path, ii: int) -> Path:
    folder = tmp_path / "solution1" / "syn" / "report"
    folder.mkdir(parents=True)
    (folder / "attention_csynth.xml").write_text(LOOP_REPORT.format(ii=ii))
    return tmp_path / "solution1"


def test_every_labelled_loop_of_the_reports_is_read(tmp_path: Path) -> None:
    loops = read_loops(_loop_solution(tmp_path, 3))
    assert loops["attention_key_steps"] == LoopReport("attention_key_steps", 3, 36, 24, 120)
    assert loops["attention_blocks"] == LoopReport("attention_blocks", None, 9, None, None)


def test_a_reported_ii_replaces_the_models_in_the_estimate(tiny_artifact: Path,
                                                          tmp_path: Path) -> None:
    from click.testing import CliRunner

    from edgemoe.hls.perf.cli import estimate

    def run(*extra: str) -> str:
        result = CliRunner().invoke(estimate, [str(tiny_artifact), "--images", "1", *extra])
        assert result.exit_code == 0, result.output
        return result.output

    def attention_cycles(output: str) -> int:
        line = next(x for x in output.splitlines() if x.strip().startswith("attention "))
        return int(line.split()[1].replace(",", ""))

    modelled = run()
    assert re.search(r"loop attention_key_steps +II [2-9].* model", modelled)
    reported = run("--csynth", str(_loop_solution(tmp_path, 1)))
    assert re.search(r"loop attention_key_steps +II 1, trip <= 36 +csynth", reported)
    assert re.search(r"loop attention_values +II 1.* model", reported)
    assert attention_cycles(reported) < attention_cycles(modelled)
