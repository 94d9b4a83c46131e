"""Measurement on the emulated board: latency, task switches, throughput, and power read
through pynq's PMBus classes (sysfs sensors over files) when rails exist."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pynq.pmbus import Rail, SysFSSensor

from edgemoe.host.driver import Accelerator
from edgemoe.host.emulator import emulate
from edgemoe.host.measure import measure
from edgemoe.sim.artifact import Artifact


@pytest.fixture
def accelerator(tiny_artifact: Path, tmp_path: Path) -> Accelerator:
    _, bitstream = emulate(tiny_artifact, tmp_path / "design")
    return Accelerator.load(tiny_artifact, bitstream, max_images=2)


def _rail(folder: Path, name: str, microwatts: int) -> Rail:
    """A rail as pynq builds it from hwmon's power*_input files (microwatts)."""
    reading = folder / f"{name}_power1_input"
    reading.write_text(f"{microwatts}\n")
    rail = Rail(name)
    rail.power = SysFSSensor(str(reading), "W", f"{name}_power", 1e-6)
    return rail


def test_without_rails_latency_and_task_switches_are_measured(accelerator, tiny_artifact,
                                                              tmp_path) -> None:
    images = Artifact(tiny_artifact).vector_images()
    result = measure(accelerator, images, ["segmentation", "depth"], runs=6, rails={})
    assert result.runs == 6 and result.weight_loads == 1 and result.batch_images == 2
    assert 0 < result.kernel.min_ms <= result.kernel.median_ms <= result.kernel.p90_ms
    assert result.end_to_end.median_ms > result.kernel.median_ms  # heads run on top
    assert result.same_task_kernel_ms is not None and result.switched_task_kernel_ms is not None
    assert result.throughput > 0 and result.power_w is None and result.energy_mj_per_image is None
    assert "no PMBus rails" in result.table()
    written = json.loads(result.write_json(tmp_path / "m.json").read_text())
    assert written["kernel"]["median_ms"] == result.kernel.median_ms
    assert written["switched_task_kernel_ms"] == result.switched_task_kernel_ms


def test_power_comes_from_the_rails_and_gives_energy_per_image(accelerator, tiny_artifact,
                                                               tmp_path) -> None:
    images = Artifact(tiny_artifact).vector_images()
    rails = {"VCCINT": _rail(tmp_path, "VCCINT", 2_500_000),
             "VCC_PSINTFP": _rail(tmp_path, "VCC_PSINTFP", 500_000)}
    result = measure(accelerator, images, ["depth"], runs=2, rails=rails)
    assert result.power_w == pytest.approx(3.0)
    assert result.rails == ["VCCINT", "VCC_PSINTFP"]
    assert result.energy_mj_per_image == pytest.approx(3.0 / result.throughput * 1e3)
    assert "3.000 W over 2 rails" in result.table()


def test_measure_needs_a_task(accelerator, tiny_artifact) -> None:
    with pytest.raises(ValueError, match="at least one task"):
        measure(accelerator, Artifact(tiny_artifact).vector_images(), [], rails={})
