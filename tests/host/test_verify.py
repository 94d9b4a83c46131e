"""`edgemoe verify`: every layer of every (image, task) pair, csim against the golden
vectors or the simulator, on this core and on a local Ray cluster of two workers (the
same verdicts, failing pairs included); a kernel built for other approximation tables and
golden vectors that differ by one value are caught at their first differing layer; the
outcome reaches the report's records; bad input is one line."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from edgemoe.host.flow.cli import main
from edgemoe.host.flow.verify import (
    GOLDEN,
    OUTPUT_TOKENS,
    SIMULATOR,
    PairChecker,
    project_files,
    verify_pairs,
)
from edgemoe.model.data.scenes import render_scene
from edgemoe.sim.artifact import Artifact
from edgemoe.sim.config import AcceleratorConfig

from ..conftest import COARSE_TABLES

# One worker runs the Ray tests, one cluster at a time (pytest -n).
pytestmark = pytest.mark.xdist_group("ray")


def _scenes(count: int) -> np.ndarray:
    return np.stack([render_scene(5000 + seed, 64, 128).image for seed in range(count)])


@pytest.fixture(scope="module")
def loaded(tiny_artifact: Path) -> Artifact:
    return Artifact(tiny_artifact)


@pytest.fixture(scope="module")
def one_golden_value_off(tiny_artifact: Path, tmp_path_factory) -> Path:
    """The artifact with one value of depth's golden blocks.1.q (vector image 0, value 70)
    one higher, its manifest saying so: an export whose simulator differed by one LSB."""
    copy = tmp_path_factory.mktemp("off") / "tiny"
    shutil.copytree(tiny_artifact, copy)
    golden = copy / "vectors" / "depth" / "blocks.1.q.bin"
    values = np.frombuffer(golden.read_bytes(), "<i2").copy()
    values[70] += 1
    golden.write_bytes(values.tobytes())
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["vectors"]["outputs"]["depth"]["blocks.1.q"]["sha256"] = hashlib.sha256(
        golden.read_bytes()).hexdigest()
    (copy / "manifest.json").write_text(json.dumps(manifest))
    return copy


@pytest.fixture(scope="module")
def images(tiny_artifact: Path) -> np.ndarray:
    """The artifact's 4 vector images, then 2 scenes it has no golden vectors of."""
    return np.concatenate([Artifact(tiny_artifact).vector_images(), _scenes(2)])


def test_csim_every_layer_against_golden_vectors_or_the_simulator(tiny_artifact,
                                                                  images) -> None:
    manifest = Artifact(tiny_artifact).manifest
    tasks = list(manifest.config.tasks)
    results = verify_pairs(Artifact(tiny_artifact), images, tasks, "csim", progress=False)
    assert [(r.image, r.task) for r in results] == [(i, t) for i in range(6) for t in tasks]
    assert all(r.equal for r in results)
    assert [r.reference for r in results[::2]] == [GOLDEN] * 4 + [SIMULATOR] * 2
    assert {r.layers for r in results} == {len(manifest.buffers.taps) + 1}  # + output tokens


def test_two_ray_workers_give_the_serial_verdicts(loaded, images,
                                                  one_golden_value_off) -> None:
    tasks = list(loaded.manifest.config.tasks)
    chosen = images[[0, 4, 5]]
    serial = verify_pairs(loaded, chosen, tasks, "csim", progress=False)
    spread = verify_pairs(loaded, chosen, tasks, "csim", ray_address="local", workers=2,
                          progress=False)
    assert spread == serial and len(spread) == 6 and all(r.equal for r in spread)
    off = Artifact(one_golden_value_off)
    vectors = verify_pairs(off, images[:4], ["depth"], "sim", ray_address="local",
                           workers=2, progress=False)
    assert vectors == verify_pairs(off, images[:4], ["depth"], "sim", progress=False)
    assert [(r.equal, r.reference) for r in vectors] == [(False, GOLDEN)] + [(True, GOLDEN)] * 3
    first = vectors[0].first
    assert (first.where, first.index, first.got - first.expected) == ("blocks.1.q", (70,), -1)
    assert vectors[0].layers == 1 + [t.name for t in off.manifest.buffers.taps].index(
        "blocks.1.q")


def test_a_kernel_for_other_tables_fails_at_its_first_differing_layer(
        tiny_artifact, export_design, images, tmp_path) -> None:
    other = export_design(tmp_path / "coarse" / "tiny", AcceleratorConfig(), COARSE_TABLES)
    loaded = Artifact(tiny_artifact)
    assert Artifact(other).manifest.buffers == loaded.manifest.buffers  # same buffers
    wrong = project_files(other, tmp_path / "project" / "tiny" / "hls")
    checker = PairChecker(loaded.contents(), wrong, images, "csim")
    for index, reference in ((0, GOLDEN), (5, SIMULATOR)):
        result = checker.check(index, "depth")
        assert (result.equal, result.reference) == (False, reference)
        # the patch embedding has no approximation; the first LayerNorm's 1/sqrt does
        assert result.first.where == "blocks.0.norm1"
        assert result.first.expected != result.first.got
    assert checker.check(0, "depth").first.where != OUTPUT_TOKENS


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def invoke(*arguments) -> object:
    return CliRunner().invoke(main, ["verify", *(str(a) for a in arguments)])


def test_cli_lists_the_pairs_and_records_them_for_the_report(tiny_artifact, images,
                                                             in_tmp) -> None:
    np.save("images.npy", images[3:5])
    result = invoke(tiny_artifact, "--images", "images.npy", "--task", "depth")
    assert result.exit_code == 0, result.output
    assert "verify (csim): 2 of 2 pairs (2 images x 1 tasks) bit-exact in every layer" \
        in result.output
    record = json.loads((in_tmp / "reports" / "tiny" / "results"
                         / "bitexact-csim-verify.json").read_text())
    assert (record["stage"], record["equal"]) == ("csim (verify)", True)
    assert record["compared_against"] == "golden vectors and simulator"
    assert record["compared"]["images"] == 2
    assert record["command"] == (f"edgemoe verify {tiny_artifact} --backend csim --images "
                                 "images.npy --task depth")


def test_cli_lists_every_failing_pair_and_records_the_first(one_golden_value_off,
                                                           in_tmp) -> None:
    result = invoke(one_golden_value_off, "--backend", "sim", "--results", "results")
    assert result.exit_code == 1
    assert ("depth vector image 0: differs from the golden vectors first at blocks.1.q at "
            "index [70]: expected") in result.output
    assert "verify (sim): 7 of 8 pairs (4 images x 2 tasks)" in result.output
    assert "1 of 8 pairs differ" in result.output
    record = json.loads((in_tmp / "results" / "bitexact-simulator-verify.json").read_text())
    assert (record["equal"], record["first_mismatch"]["where"]) == (
        False, "depth vector image 0 blocks.1.q")


@pytest.mark.parametrize(("arguments", "message"), [
    (["--task", "classification"], "unknown task 'classification'"),
    (["--workers", "2"], "--workers shares the pairs out on Ray: give --ray too"),
    (["--images", "empty.npy"], "empty.npy holds no images"),
    (["--task", "depth", "--task", "depth"], "depth given more than once"),
    (["--backend", "sim", "--images", "images.npy"],
     "1 of 2 images have none (first: images.npy[1])"),
    (["--images", "missing"], "missing is neither a folder of images nor a .npy file"),
    (["--backend", "rtl"], "'rtl' is not one of 'sim', 'csim'"),
])
def test_bad_input_is_one_line_and_records_nothing(tiny_artifact, images, in_tmp, arguments,
                                                   message) -> None:
    np.save("images.npy", images[3:5])
    np.save("empty.npy", images[:0])
    result = invoke(tiny_artifact, *arguments)
    assert result.exit_code != 0
    assert message in result.output and "Traceback" not in result.output
    assert not (in_tmp / "reports").exists()


def test_a_missing_artifact_is_one_line(in_tmp) -> None:
    result = invoke(in_tmp / "nowhere")
    assert result.exit_code != 0 and "is not an artifact folder" in result.output
