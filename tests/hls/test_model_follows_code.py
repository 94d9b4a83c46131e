"""The cycle model follows the generated code, both ways: every labelled loop of the
templates has its entry in ``loops.LOOPS`` with the code's scheduling, pragma II and trip
count, and every entry is in the code and costed by the model."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgemoe.hls.generator import generate
from edgemoe.hls.perf.cycle_model import Design, costed_loops, latency
from edgemoe.hls.perf.loops import LOOPS
from edgemoe.sim.artifact import Artifact

pytest.importorskip("clang.cindex")


@pytest.fixture(scope="module", params=["tiny", "coarse"])
def code_and_design(request, tiny_artifact: Path, coarse_artifact: Path,
                    tmp_path_factory: pytest.TempPathFactory):
    """The loops of a generated project and the model's Design of the same artifact (the
    default tables at 256-bit words, and other tables at 128-bit words)."""
    from edgemoe.hls.lint.loops import loop_facts
    from edgemoe.hls.lint.source import read_program

    artifact = tiny_artifact if request.param == "tiny" else coarse_artifact
    project = generate(artifact, tmp_path_factory.mktemp(request.param) / "hls")
    program = read_program(sorted((project / "src").glob("*.cpp")), [project],
                           [project / "include"])
    manifest = Artifact(artifact).manifest
    design = Design(manifest.config, manifest.accelerator, manifest.buffers.feature_bits,
                    manifest.weights.lane_bits, manifest.approximations)
    return loop_facts(program), design


def test_every_labelled_loop_is_modelled_and_every_model_loop_exists(code_and_design) -> None:
    code, _ = code_and_design
    assert sorted(set(code) - set(LOOPS)) == [], "loops in the code the model lacks"
    assert sorted(set(LOOPS) - set(code)) == [], "loops in the model the code lacks"


def test_scheduling_matches_the_pragmas(code_and_design) -> None:
    code, design = code_and_design
    for label, facts in code.items():
        model = LOOPS[label]
        assert model.kind == facts.kind, f"{label}: code {facts.kind}, model {model.kind}"
        if facts.kind != "pipelined":
            continue
        ii = model.ii(design)
        if model.recurrence:
            # the model may charge more than the pragma asks, for the reason it names
            assert ii >= (facts.ii or 1), label
        else:
            assert ii == (facts.ii or 1), f"{label}: pragma II {facts.ii}, model II {ii}"


def test_trip_counts_match_the_code(code_and_design) -> None:
    code, design = code_and_design
    compared = 0
    for label, facts in code.items():
        model = LOOPS[label]
        if facts.trip is None or model.trip is None:
            assert (facts.trip is None) == (model.trip is None) or facts.kind == "unrolled", \
                f"{label}: code trip {facts.trip}, model {model.trip}"
            continue
        assert model.trip(design) == facts.trip, \
            f"{label}: the code runs it {facts.trip} times at most, the model {model.trip(design)}"
        compared += 1
    assert compared >= 50


def test_the_model_costs_every_loop_that_runs(code_and_design) -> None:
    """Every pipelined or sequential loop (outside the debug tap) is costed by name; an
    unrolled loop is costed inside the loop that holds it."""
    code, design = code_and_design
    with costed_loops() as costed:
        latency(design)
    runs = {label for label, facts in code.items()
            if facts.kind != "unrolled" and not LOOPS[label].debug_only}
    assert sorted(runs - costed) == []
    assert costed <= set(code)
