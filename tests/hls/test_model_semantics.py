"""The model's semantics as configuration (final LayerNorm shared, per task or absent; the
gate's top-k weighted over all experts or renormalized; our heads or M3ViT's): torch, the
float64 forward, the simulator and csim agree, the fixed-point ones bit for bit on every
layer, and the artifact's heads are the torch ones."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from edgemoe.hls.csim import run_csim
from edgemoe.hls.generator import generate
from edgemoe.model.export import head_layers
from edgemoe.sim.artifact import Artifact
from edgemoe.sim.heads import run_head, token_grid
from edgemoe.sim.network import float_forward, tokens_name


@pytest.mark.parametrize(("final_norm", "gate", "head"), [
    ("per-task", "renormalized-top-k", "official"), ("none", "softmax-all", "upsampling")])
def test_every_semantics_is_bit_exact_from_the_simulator_to_csim(
        model_variant, tmp_path: Path, final_norm: str, gate: str, head: str) -> None:
    from edgemoe.model.data.datasets import SceneDataset
    from edgemoe.model.export import export_artifact
    from edgemoe.model.hardware_weights import hardware_weights
    from edgemoe.sim.accelerator import simulate
    from edgemoe.sim.config import AcceleratorConfig
    from edgemoe.sim.quant import calibrate

    model = model_variant(final_norm=final_norm, gate=gate, task_head=head)
    weights = hardware_weights(model)
    image = SceneDataset("val", 16, 64, 128).images[:1].numpy()
    pixels = torch.from_numpy(image[0]).permute(2, 0, 1)[None].double() / 255
    for task in model.config.tasks:
        with torch.no_grad():
            tokens, _ = model.double().features(pixels, task)
            out = model(pixels, task)[0].numpy()
        reference = float_forward(weights, model.config, image[0], task)
        assert np.max(np.abs(reference - tokens[0].numpy())) < 1e-9
        layers, arrays = head_layers(model)
        on_arm = run_head(layers[task], arrays, token_grid(reference, *model.config.grid))
        assert np.max(np.abs(on_arm - out)) <= 1e-4 * max(1.0, np.max(np.abs(out)))
    calibration = SceneDataset("train", 48, 64, 128).images[:8].numpy()
    spec = calibrate(model.config, weights, calibration, "int16")
    artifact = export_artifact(model.float(), weights, spec, AcceleratorConfig(),
                               tmp_path / "tiny", image, progress=False)
    loaded = Artifact(artifact)
    manifest = loaded.manifest
    (stored_layers, stored), (layers, arrays) = loaded.heads(), head_layers(model)
    assert stored_layers == layers and stored.keys() == arrays.keys()
    assert all(np.array_equal(stored[name], arrays[name]) for name in arrays)
    assert (manifest.config.final_norm, manifest.config.gate) == (final_norm, gate)
    assert ("norm" in manifest.vectors.outputs["depth"]) == (final_norm != "none")
    results = {task: simulate(manifest, loaded.weights(), image[0], task, trace=True)
               for task in model.config.tasks}
    for task, result in results.items():
        assert np.array_equal(result.tokens.raw, loaded.golden_tokens(task)[0])
        assert np.array_equal(result.tokens.raw, result.trace[tokens_name(model.config)].raw)
    if gate == "renormalized-top-k":  # the kept weights of a token sum to one, as rounded
        probs = results["depth"].trace["blocks.1.gate_probs"].to_float()
        assert np.all(np.count_nonzero(probs, axis=1) <= model.config.top_k)
        assert np.max(np.abs(probs.sum(axis=1) - 1)) < 2**-10
    report = run_csim(generate(artifact, tmp_path / "hls"), artifact)
    assert report.passed, "\n".join(str(t) for t in report.taps if not t.equal)
