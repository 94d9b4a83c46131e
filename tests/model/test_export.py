"""The artifact: export, manifest round trip, golden vectors reproduced bit for bit, and
clear refusals of corrupt or foreign files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from edgemoe.model.checkpoint import load_checkpoint
from edgemoe.model.data.datasets import SceneDataset, task_truths
from edgemoe.model.export import export_artifact, head_layers
from edgemoe.model.hardware_weights import hardware_weights
from edgemoe.sim.accelerator import simulate
from edgemoe.sim.artifact import Artifact, ArtifactError, Manifest
from edgemoe.sim.bitexact import assert_bit_exact
from edgemoe.sim.config import AcceleratorConfig
from edgemoe.sim.network import float_forward, weight_shapes
from edgemoe.sim.quant import calibrate, quantize_weights
from edgemoe.sim.quant_eval import compare_float_fixed


@pytest.fixture(scope="module")
def trained(tiny_run: Path):
    model = load_checkpoint(tiny_run / "checkpoint.pt").build_model()
    weights = hardware_weights(model)
    images = SceneDataset("train", 48, 64, 128).images[:8].numpy()
    return model, weights, calibrate(model.config, weights, images, "int16")


@pytest.fixture(scope="module")
def artifact(trained, tmp_path_factory: pytest.TempPathFactory) -> Path:
    model, weights, spec = trained
    out = tmp_path_factory.mktemp("artifacts") / "tiny"
    images = SceneDataset("val", 16, 64, 128).images[:2].numpy()
    return export_artifact(model, weights, spec, AcceleratorConfig(), out, images,
                           progress=False)


def test_float_reference_matches_pytorch(trained) -> None:
    import torch

    model, weights, _ = trained
    image = SceneDataset("val", 16, 64, 128).images[3].numpy()
    with torch.no_grad():
        tokens, _ = model.features(torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255,
                                   "depth")
    assert np.max(np.abs(float_forward(weights, model.config, image, "depth")
                         - tokens[0].double().numpy())) < 1e-4


def test_artifact_weights_and_manifest_round_trip(artifact: Path, trained) -> None:
    model, weights, spec = trained
    loaded = Artifact(artifact)
    assert Manifest.from_json(loaded.manifest.to_json()) == loaded.manifest
    assert loaded.manifest.spec == spec and loaded.manifest.config == model.config
    unpacked = loaded.weights()
    expected = quantize_weights(weights, spec, model.config)
    assert list(unpacked) == list(weight_shapes(model.config))
    for name, value in expected.items():
        assert_bit_exact(value.raw, unpacked[name].raw, name)
    entries = list(loaded.manifest.tensors.values())
    assert [e.offset for e in entries] == [32 * e.word for e in entries]
    assert [e.word for e in entries] == sorted(e.word for e in entries)
    arguments = [a.name for a in loaded.manifest.kernel.arguments]
    assert arguments[:2] == ["weights", "images"] and "task_index" in arguments


def test_simulate_reproduces_the_golden_vectors(artifact: Path) -> None:
    """Every layer's output, every task: the artifact's vectors are the simulator's."""
    loaded = Artifact(artifact)
    weights = loaded.weights()
    images = loaded.vector_images()
    for task in loaded.manifest.tasks:
        golden = loaded.golden(task)
        assert {"embed", "blocks.1.gate_probs", "blocks.3.scores", "norm"} <= set(golden)
        for index, image in enumerate(images):
            trace = simulate(loaded.manifest, weights, image, task, trace=True).trace
            for name, value in golden.items():
                assert_bit_exact(value.raw[index], trace[name].raw, f"{task} {name}")


def test_task_switch_changes_only_the_gates(artifact: Path) -> None:
    loaded = Artifact(artifact)
    weights = loaded.weights()
    image = loaded.vector_images()[0]
    seg = simulate(loaded.manifest, weights, image, "segmentation", trace=True).trace
    dep = simulate(loaded.manifest, weights, image, "depth", trace=True).trace
    assert np.array_equal(seg["blocks.1.residual1"].raw, dep["blocks.1.residual1"].raw)
    assert not np.array_equal(seg["blocks.1.gate_probs"].raw, dep["blocks.1.gate_probs"].raw)


def test_a_flipped_byte_in_weights_bin_is_refused(artifact: Path, tmp_path: Path) -> None:
    copy = tmp_path / "tiny"
    shutil.copytree(artifact, copy)
    data = bytearray((copy / "weights.bin").read_bytes())
    data[1000] ^= 0x01
    (copy / "weights.bin").write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match=r"weights\.bin is corrupt or does not belong"):
        Artifact(copy)


def test_a_manifest_of_another_version_is_refused(artifact: Path, tmp_path: Path) -> None:
    copy = tmp_path / "tiny"
    shutil.copytree(artifact, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["format_version"] = 99
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match="format version 99; this edgemoe reads version 2"):
        Artifact(copy)
    with pytest.raises(ArtifactError, match=r"not an artifact: no manifest\.json"):
        Artifact(tmp_path)


def test_a_failed_export_leaves_the_old_artifact_and_nothing_else(
        trained, tmp_path: Path, monkeypatch) -> None:
    from edgemoe.model import export as export_module

    model, weights, spec = trained
    images = SceneDataset("val", 16, 64, 128).images[:1].numpy()
    target = tmp_path / "tiny"
    export_artifact(model, weights, spec, AcceleratorConfig(), target, images, progress=False)
    before = {p: p.read_bytes() for p in target.rglob("*") if p.is_file()}

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(export_module, "_vectors", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        export_artifact(model, weights, spec, AcceleratorConfig(), target, images,
                        progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny"]
    assert {p: p.read_bytes() for p in target.rglob("*") if p.is_file()} == before


def test_export_keeps_what_it_did_not_write_and_refuses_a_foreign_folder(
        trained, tmp_path: Path) -> None:
    from edgemoe.sim.output_folder import OutputError

    model, weights, spec = trained
    images = SceneDataset("val", 16, 64, 128).images[:1].numpy()
    foreign = tmp_path / "thesis"
    (foreign / "notes").mkdir(parents=True)
    (foreign / "notes" / "thesis.txt").write_text("chapter 1")
    with pytest.raises(OutputError, match=r"thesis exists and holds files edgemoe did not "
                                          r"write \(notes\); .* --force"):
        export_artifact(model, weights, spec, AcceleratorConfig(), foreign, images,
                        progress=False)
    assert (foreign / "notes" / "thesis.txt").read_text() == "chapter 1"
    a_file = tmp_path / "tiny.txt"
    a_file.write_text("mine")
    with pytest.raises(OutputError, match="is a file"):
        export_artifact(model, weights, spec, AcceleratorConfig(), a_file, images,
                        progress=False)
    target = tmp_path / "tiny"
    export_artifact(model, weights, spec, AcceleratorConfig(), target, images, progress=False)
    (target / "notes.txt").write_text("kept")
    export_artifact(model, weights, spec, AcceleratorConfig(), target, images, progress=False)
    assert (target / "notes.txt").read_text() == "kept"
    Artifact(target)  # every file checked


def test_int16_fixed_point_tracks_float(trained) -> None:
    """On a few images the int16 accelerator keeps the tasks' metrics within a hair."""
    model, weights, spec = trained
    val = SceneDataset("val", 16, 64, 128)
    report = compare_float_fixed(model.config, AcceleratorConfig(), weights, spec,
                                 head_layers(model), val.images[:4].numpy(),
                                 task_truths(val, model.config.tasks, 4), progress=False)
    seg, depth = report["metrics"]["segmentation"], report["metrics"]["depth"]
    assert abs(seg["float"]["miou"] - seg["fixed"]["miou"]) <= 0.01
    assert depth["fixed"]["rmse"] <= depth["float"]["rmse"] * 1.02
    assert min(report["sqnr_db"].values()) > 20  # every layer output
    tokens = report["tokens"]
    assert tokens["tokens"] == 2 * 4 * model.config.tokens and tokens["rerouted"] < 20
    assert 0 < tokens["relative_rmse"] < 0.01


def test_softmax_on_real_attention_scores_within_2_to_the_minus_10(artifact: Path) -> None:
    from edgemoe.sim.approx_report import SOFTMAX_TARGET, softmax_error

    worst, rows = softmax_error(artifact)
    assert rows == 2 * 2 * 4 * 2 * 33  # tasks x images x layers x heads x rows
    assert worst <= SOFTMAX_TARGET
