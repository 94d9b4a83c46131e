"""``edgemoe import``: checkpoints written in M3ViT's and Edge-MoE's layouts from random
weights come back as our model, whose float forward is the published models' (written in
``published_models.py`` from their equations), and bad input is one line naming it."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from edgemoe.host.flow.cli import main
from edgemoe.model.checkpoint import load_checkpoint
from edgemoe.model.importer import import_run
from edgemoe.model.placement import ImportFailure
from edgemoe.sim.config_file import load_config_file

DIMS = {"rows": 2, "cols": 4, "patch": 16, "dim": 48, "heads": 3, "layers": 4, "experts": 4,
        "top_k": 2, "expert_hidden": 32, "mlp_hidden": 96, "classes": 7}
TOLERANCE = 1e-5  # relative RMSE against the float64 forwards


def document(base: str, **changes) -> dict:
    """``base``'s config at the test's small dims."""
    doc = copy.deepcopy(load_config_file(base))
    doc["model"].update({"name": "small", "image_height": DIMS["rows"] * DIMS["patch"],
                         "image_width": DIMS["cols"] * DIMS["patch"],
                         **{k: DIMS[k] for k in ("patch", "dim", "heads", "layers", "experts",
                                                 "top_k", "expert_hidden", "mlp_hidden",
                                                 "classes")}, **changes})
    return doc


def relative_rmse(got: np.ndarray, expected: np.ndarray) -> float:
    return float(np.sqrt(np.mean((got - expected) ** 2) / np.mean(expected**2)))


@pytest.fixture(scope="module")
def weights(published) -> dict[str, np.ndarray]:
    return published.random_m3vit(DIMS, np.random.default_rng(0))


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    return np.random.default_rng(1).integers(0, 256, (32, 64, 3), dtype=np.uint8)


def _ours(run: Path, image: np.ndarray, task: str) -> tuple[np.ndarray, np.ndarray]:
    model = load_checkpoint(run / "checkpoint.pt").build_model().double()
    pixels = torch.from_numpy(image).permute(2, 0, 1)[None].double() / 255
    with torch.no_grad():
        tokens, _ = model.features(pixels, task)
        return tokens[0].numpy(), model(pixels, task)[0].numpy()


@pytest.mark.parametrize(("gate", "ranks"), [("softmax-all", 1), ("renormalized-top-k", 2)])
def test_an_m3vit_checkpoint_imports_as_the_published_model(
        published, weights, image, tmp_path: Path, gate: str, ranks: int) -> None:
    """One file or a per-rank folder; every task through its own gate and head."""
    source = tmp_path / ("model.pth.tar" if ranks == 1 else "best_model.pth.tar")
    published.save_m3vit(weights, source, ranks)
    import_run(source, "m3vit", document("m3vit-tiny-cityscapes", gate=gate), tmp_path / "run")
    for index, (task, official) in enumerate((("segmentation", "semseg"), ("depth", "depth"))):
        tokens, out = _ours(tmp_path / "run", image, task)
        backbone = published.backbone(weights, image.transpose(2, 0, 1) / 255.0, DIMS, index,
                                      renormalize=gate == "renormalized-top-k")
        norm = f"decoders.{official}.norm."
        normalized = published._layer_norm(backbone, weights[norm + "weight"],
                                           weights[norm + "bias"])
        assert relative_rmse(tokens, normalized) < TOLERANCE
        assert relative_rmse(out, published.head(weights, backbone, DIMS, official)) < TOLERANCE


def test_a_checkpoint_with_one_gate_gives_it_to_every_task(published, weights, image,
                                                           tmp_path: Path) -> None:
    """Trained without --multi_gate: one mlp.gate.w_gate per MoE layer."""
    single = {k: v for k, v in weights.items() if ".mlp.gate." not in k}
    for key in [k for k in weights if k.endswith(".mlp.gate.0.w_gate")]:
        single[key.replace(".gate.0.", ".gate.")] = weights[key]
    published.save_m3vit(single, tmp_path / "model.pth")
    import_run(tmp_path / "model.pth", "m3vit", document("m3vit-tiny-cityscapes"),
               tmp_path / "run")
    tokens, _ = _ours(tmp_path / "run", image, "depth")
    backbone = published.backbone(weights, image.transpose(2, 0, 1) / 255.0, DIMS, 0,
                                  renormalize=False)  # depth through gate 0, the only one
    norm = "decoders.depth.norm."
    expected = published._layer_norm(backbone, weights[norm + "weight"], weights[norm + "bias"])
    assert relative_rmse(tokens, expected) < TOLERANCE


@pytest.mark.parametrize("gate", ["softmax-all", "renormalized-top-k"])
def test_edge_moe_dumps_import_as_its_kernel_computes(published, weights, image, tmp_path: Path,
                                                      gate: str) -> None:
    """No final norm, pixels as byte / 256, the CLS token inside the position row 0."""
    published.edge_moe_dumps(weights, tmp_path / "weights")
    _, notes = import_run(tmp_path / "weights", "edge-moe",
                          document("m3vit-s-edge-moe", gate=gate), tmp_path / "run")
    assert any("no task heads" in note for note in notes)
    for index, task in enumerate(("segmentation", "depth")):
        tokens, _ = _ours(tmp_path / "run", image, task)
        expected = published.backbone(weights, image.transpose(2, 0, 1) / 256.0, DIMS, index,
                                      renormalize=gate == "renormalized-top-k")
        assert relative_rmse(tokens, expected) < TOLERANCE


def _spoiled(weights: dict, change: str) -> dict:
    spoiled = dict(weights)
    if change == "shape":
        spoiled["backbone.blocks.1.mlp.experts.htoh4.weight"] = np.zeros((4, 64, 48), np.float32)
    elif change == "missing":
        del spoiled["backbone.blocks.2.norm1.bias"]
    elif change == "unmapped":
        spoiled["backbone.gate_task_represent.fc1.weight"] = np.zeros((8, 48), np.float32)
    else:
        spoiled["decoders.depth.conv_4.bias"] = np.array([np.nan], np.float32)
    return spoiled


@pytest.mark.parametrize(("change", "message"), [
    ("shape", r"backbone.blocks.1.mlp.experts.htoh4.weight has shape \(4, 64, 48\), config "
              r"'small' expects \(4, 32, 48\)"),
    ("missing", "has no tensor backbone.blocks.2.norm1.bias .* shape \\(48,\\)"),
    ("unmapped", "no place for .*backbone.gate_task_represent.fc1.weight"),
    ("not finite", "decoders.depth.conv_4.bias holds NaN")])
def test_a_checkpoint_that_does_not_fit_is_refused_by_name_and_nothing_is_written(
        published, weights, tmp_path: Path, change: str, message: str) -> None:
    source = tmp_path / "model.pth"
    published.save_m3vit(_spoiled(weights, change), source)
    with pytest.raises(ImportFailure, match=message):
        import_run(source, "m3vit", document("m3vit-tiny-cityscapes"), tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_edge_moe_dumps_of_the_wrong_size_or_missing_are_named(published, weights,
                                                               tmp_path: Path) -> None:
    folder = tmp_path / "weights"
    published.edge_moe_dumps(weights, folder)
    (folder / "l3_htoh4_bias.float32.bin").write_bytes(b"\0" * 12)
    with pytest.raises(ImportFailure, match=r"l3_htoh4_bias.float32.bin has 12 bytes; the "
                                            r"config's shape \(4, 32\) needs 512"):
        import_run(folder, "edge-moe", document("m3vit-s-edge-moe"), tmp_path / "run")
    (folder / "l3_htoh4_bias.float32.bin").unlink()
    with pytest.raises(ImportFailure, match="has no tensor l3_htoh4_bias"):
        import_run(folder, "edge-moe", document("m3vit-s-edge-moe"), tmp_path / "run")
    with pytest.raises(ImportFailure, match="no final norm; config 'small' has final_norm: "
                                            "per-task"):
        import_run(folder, "edge-moe", document("m3vit-tiny-cityscapes"), tmp_path / "run")


def test_the_command_imports_then_export_takes_the_run_and_nothing_is_overwritten(
        published, weights, tmp_path: Path) -> None:
    import yaml

    source, config, run = tmp_path / "model.pth", tmp_path / "small.yaml", tmp_path / "run"
    published.save_m3vit(weights, source)
    small = document("m3vit-tiny-cityscapes")
    small["training"].update({"train_images": 16, "val_images": 8})
    config.write_text(yaml.safe_dump(small))
    command = ["import", str(source), "--from", "m3vit", "--config", str(config), "-o", str(run)]
    result = CliRunner().invoke(main, command)
    assert result.exit_code == 0, result.output
    assert "checkpoint:" in result.output and (run / "config.yaml").is_file()
    again = CliRunner().invoke(main, command)
    assert again.exit_code != 0 and "exists; import into another folder" in again.output
    assert "Traceback" not in again.output and len(again.output.strip().splitlines()) == 1
    exported = CliRunner().invoke(main, ["export", str(run / "checkpoint.pt"), "-o",
                                         str(tmp_path / "artifact"), "--no-onnx", "--vectors",
                                         "1", "--calibration-images", "4"])
    assert exported.exit_code == 0, exported.output
    broken = CliRunner().invoke(main, ["import", str(tmp_path / "nothing.pth"), "--from",
                                       "m3vit", "-o", str(tmp_path / "other")])
    assert broken.exit_code != 0 and "no M3ViT checkpoint at" in broken.output
    assert not (tmp_path / "other").exists()
