"""Every generated unit bit-exact with sim under Verilator (and Icarus where installed), the
Verilog lint-clean, and a corrupted table entry caught."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from edgemoe.hls.perf.cycle_model import unit_stream_cycles
from edgemoe.hls.rtl.check import TESTED_UNITS, check_unit
from edgemoe.hls.rtl.cocotb_run import simulator_available
from edgemoe.hls.rtl.lint import lint


def test_every_generated_module_is_lint_clean(rtl_dir: Path) -> None:
    assert set(lint(rtl_dir)) >= {*TESTED_UNITS, "vector_kernel", "fixed_cast"}


@pytest.mark.parametrize("module", TESTED_UNITS)
def test_unit_matches_sim_under_verilator(rtl_dir: Path, module: str) -> None:
    found = check_unit(rtl_dir, module)
    assert found["passed"], found
    # the cycle model of a fixed-latency stream, against the cycles the simulation took
    run = found["back_to_back"]
    values = run["beats"] if module == "mac_tile" else run["inputs"]
    modelled = unit_stream_cycles(values, found["latency"])
    assert abs(modelled - run["cycles"]) <= 0.1 * run["cycles"], (modelled, run["cycles"])
    for run in ("back_to_back", "stalled"):
        assert not found[run]["mismatches"], found[run]
        assert found[run]["latencies"] == [found["latency"]]
    if module in ("gelu_unit", "exp_unit"):  # 16-bit inputs: every one of them
        assert found["exhaustive"] and found["back_to_back"]["inputs"] == 2**16
    else:
        assert found["back_to_back"]["inputs"] >= 100_000


@pytest.mark.skipif(not simulator_available("icarus"), reason="Icarus (iverilog) not installed")
@pytest.mark.parametrize("module", TESTED_UNITS)
def test_unit_matches_sim_under_icarus(rtl_dir: Path, module: str) -> None:
    found = check_unit(rtl_dir, module, simulator="icarus", samples=3000, exhaustive=False)
    assert found["passed"], found


def test_a_corrupted_table_entry_is_caught(rtl_dir: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(rtl_dir, broken)
    source = broken / "gelu_unit.v"
    text = source.read_text()
    entry = re.search(r"9'd100: begin base3 <= 19'sd(\d+);", text)
    assert entry, "the GELU table has no entry 100 to corrupt"
    source.write_text(text.replace(entry.group(0), entry.group(0).replace(
        entry.group(1), str(int(entry.group(1)) + (1 << 12)))))  # a bit above the output LSB
    found = check_unit(broken, "gelu_unit")
    assert not found["passed"]
    mismatch = found["back_to_back"]["mismatches"]["out_data"]
    # entry 100 covers |x| in [100, 101) table steps of 2^-6: inputs 6400..6463 LSBs of Q4.12
    assert 100 * 64 <= abs(mismatch["inputs"]["in_data"]) < 101 * 64 + 64


def test_units_at_an_artifacts_formats_and_tables_are_bit_exact(coarse_artifact: Path,
                                                                 tmp_path: Path) -> None:
    """The calibrated formats and the table parameters of a real export (not the preset's
    defaults): the units are generated from the manifest's and checked against sim's."""
    from edgemoe.hls.rtl.generate import generate_rtl, read_units
    from edgemoe.sim.approx import Tables
    from edgemoe.sim.artifact import Artifact
    from edgemoe.sim.unit_specs import UnitSpecs

    manifest = Artifact(coarse_artifact).manifest
    rtl = generate_rtl(tmp_path / "rtl", UnitSpecs.from_manifest(manifest))
    written, tables = read_units(rtl).unit_specs, manifest.approximations.tables
    assert tables.gelu != Tables().gelu and tables.reciprocal != Tables().reciprocal
    assert (written.gelu.step_bits, written.reciprocal.newton_steps) == (
        tables.gelu.step_bits, tables.reciprocal.newton_steps)
    assert lint(rtl)
    for module in ("gelu_unit", "softmax_update"):  # the approximations' formats vary most
        found = check_unit(rtl, module, samples=5000)
        assert found["passed"], found
