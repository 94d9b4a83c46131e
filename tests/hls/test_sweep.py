"""`edgemoe hls sweep` and `edgemoe dse --ray`: design points chosen and checked, one
project per point (one at the artifact's P is bit-exact in C simulation), syntheses sent
only to Ray workers with the vitis_hls resource (a clear message and no job where none has
it), their reports turned into model corrections; the DSE sweep on two Ray workers gives
the serial sweep's points."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgemoe.hls.csim import build_csim, run_csim
from edgemoe.hls.perf.dse import sweep, sweep_on_ray
from edgemoe.hls.sweep import (
    REPORTS,
    SweepError,
    Synthesis,
    collect,
    pareto_points,
    parse_point,
    point_name,
    write_projects,
)
from edgemoe.host.flow.cli import main
from edgemoe.sim.artifact import Artifact
from edgemoe.sim.config_file import load_model_config

from .test_csynth_report import REPORT

# One worker runs the Ray tests, one cluster at a time (pytest -n).
pytestmark = pytest.mark.xdist_group("ray")


@pytest.fixture(scope="module")
def ray_with_vitis():
    """A Ray cluster on this machine whose two CPUs both declare the vitis_hls resource
    (there is no Vitis here: what runs on them is the real `make csynth`, which fails)."""
    ray = pytest.importorskip("ray")
    ray.init(address="local", num_cpus=2, resources={"vitis_hls": 2}, include_dashboard=False,
             log_to_driver=False, configure_logging=False, object_store_memory=128 << 20)
    yield ray
    ray.shutdown()


def test_points_are_parsed_and_checked_against_the_hardware_rules(tiny_artifact) -> None:
    manifest = Artifact(tiny_artifact).manifest
    point = parse_point("parallel=8, tile=8x8,clock=250,heads=1", manifest)
    assert (point.attention_parallel, point.attention_heads, point.tile_in, point.tile_out,
            point.clock_mhz, point.axi_bits) == (8, 1, 8, 8, 250.0, manifest.accelerator.axi_bits)
    assert point_name(point) == "p8_h1_8x8_250mhz"
    assert parse_point(f"heads={manifest.config.heads}", manifest).attention_heads is None
    for text, message in (("bogus=1", "unknown key 'bogus'"), ("tile=8", "not KEY=NUMBER"),
                          ("heads=3", "does not divide"), ("clock=9000", "clock_mhz must be"),
                          ("", "names no parameter")):
        with pytest.raises(SweepError, match=message):
            parse_point(text, manifest)


def test_one_project_per_point_and_the_artifacts_p_stays_bit_exact(tiny_artifact,
                                                                    tmp_path) -> None:
    manifest = Artifact(tiny_artifact).manifest
    points = [parse_point("tile=8x8,clock=250", manifest), parse_point("parallel=8", manifest)]
    projects = write_projects(tiny_artifact, points, tmp_path / "sweep")
    assert list(projects) == ["p4_hall_8x8_250mhz", "p8_hall_16x16_300mhz"]
    config = (projects["p4_hall_8x8_250mhz"] / "include" / "config.hpp").read_text()
    assert "TILE_IN = 8;" in config and "TILE_OUT = 8;" in config
    assert "ATTENTION_PARALLEL = 8;" in (projects["p8_hall_16x16_300mhz"] / "include"
                                        / "config.hpp").read_text()
    # another tile changes how the products are scheduled, not what they are
    report = run_csim(projects["p4_hall_8x8_250mhz"], tiny_artifact,
                      binary=build_csim(projects["p4_hall_8x8_250mhz"]))
    assert report.passed
    write_projects(tiny_artifact, points[:1], tmp_path / "sweep")  # a second sweep replaces
    with pytest.raises(SweepError, match="chosen twice"):
        write_projects(tiny_artifact, points[:1] * 2, tmp_path / "again")


def test_the_pareto_front_of_a_dse_result_at_the_artifacts_precision(tiny_artifact,
                                                                     tmp_path) -> None:
    runner = CliRunner()
    done = runner.invoke(main, ["dse", "--config", "tiny", "-o", str(tmp_path / "dse")])
    assert done.exit_code == 0, done.output
    result = tmp_path / "dse" / "dse.json"
    manifest = Artifact(tiny_artifact).manifest
    document = json.loads(result.read_text())
    front = [document["points"][i] for i in document["pareto"]]
    points = pareto_points(result, manifest)
    assert len(points) == sum(row["precision"] == "int16" for row in front) > 0
    other = tmp_path / "other.json"
    other.write_text(json.dumps({**document, "config": "m3vit-s"}))
    with pytest.raises(SweepError, match="sweeps config 'm3vit-s'"):
        pareto_points(other, manifest)
    first = document["pareto"][0]
    huge_clock = [dict(row, clock_mhz=10 ** 400) if i == first else row
                  for i, row in enumerate(document["points"])]
    for text, message in (
            ("[1, 2]", "is not an `edgemoe dse` result"),
            ("[" * 100_000 + "]" * 100_000, "is not an `edgemoe dse` result"),
            (json.dumps({**document, "pareto": [-1]}), "Pareto index -1 is not one of"),
            (json.dumps({**document, "pareto": [True]}), "Pareto index True is not one of"),
            (json.dumps({**document, "pareto": [0] * 1000}), "1000 Pareto points, more than"),
            (json.dumps({**document, "points": huge_clock}), "clock_mhz must be a number")):
        other.write_text(text)
        with pytest.raises(SweepError, match=re.escape(message)):
            pareto_points(other, manifest)


def test_reports_become_the_points_corrections(tiny_artifact, tmp_path) -> None:
    manifest = Artifact(tiny_artifact).manifest
    point = parse_point("tile=8x8", manifest)
    project = write_projects(tiny_artifact, [point], tmp_path)[point_name(point)]
    reports = {"attention_csynth.xml": REPORT.format(name="attention", best=900,
                                                     worst=1800).encode()}
    corrections = collect(project, Synthesis(point_name(point), reports, 1.0), manifest, point)
    assert set(corrections) == {"attention"} and corrections["attention"] > 0
    assert (project / REPORTS / "attention_csynth.xml").is_file()
    saved = json.loads((project / "model_corrections.json").read_text())
    assert saved["corrections"] == corrections
    with pytest.raises(SweepError, match=re.escape("sent '../x_csynth.xml'")):
        collect(project, Synthesis("p", {"../x_csynth.xml": b""}, 1.0), manifest, point)


def _sweep(tmp_path: Path, *arguments: str):
    return CliRunner().invoke(main, ["hls", "sweep", *arguments, "--point", "tile=8x8",
                                     "--point", "clock=250", "-o", str(tmp_path / "sweep")])


@pytest.mark.parametrize("hours", ["inf", "nan", "0", "1e9"])
def test_a_timeout_is_a_finite_number_of_hours(tiny_artifact, tmp_path, hours) -> None:
    done = _sweep(tmp_path, str(tiny_artifact), "--timeout", hours)
    assert done.exit_code == 2 and "Invalid value for '--timeout'" in done.output
    assert not (tmp_path / "sweep").exists()


def test_without_vitis_anywhere_no_synthesis_starts(tiny_artifact, tmp_path) -> None:
    done = _sweep(tmp_path, str(tiny_artifact))
    assert done.exit_code == 1 and "no vitis_hls on PATH" in done.output
    assert "2 HLS projects in" in done.output
    done = _sweep(tmp_path, str(tiny_artifact), "--ray", "local")
    assert done.exit_code == 1
    assert ("no worker of the Ray cluster (local) has the vitis_hls resource, so no synthesis "
            "was started: vitis_hls is not on PATH here") in done.output
    assert not list((tmp_path / "sweep").rglob("*_csynth.xml"))


def test_workers_with_the_resource_run_make_csynth(ray_with_vitis, tiny_artifact,
                                                   tmp_path) -> None:
    done = _sweep(tmp_path, str(tiny_artifact), "--ray", "auto", "--timeout", "0.05")
    assert done.exit_code == 1, done.output
    # each project reached a worker, ran its Makefile's csynth, and vitis_hls was missing
    for name in ("p4_hall_8x8_300mhz", "p4_hall_16x16_250mhz"):
        assert f"{name}: make csynth failed (status 2): /bin/sh: 1: vitis_hls: not found" \
            in done.output
        assert "vitis_hls -f vitis_hls.tcl" in (tmp_path / "sweep" / name
                                                / "csynth.log").read_text()
    assert "2 of 2 syntheses failed" in done.output


def test_dse_on_two_ray_workers_gives_the_serial_points(ray_with_vitis) -> None:
    config = load_model_config("tiny")
    assert sweep_on_ray(ray_with_vitis, config, None, workers=2, progress=False) \
        == sweep(config)
