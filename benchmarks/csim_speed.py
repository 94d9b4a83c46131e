"""m3vit-s in C simulation beside the Python simulator: compile time, one image each.

Random (seeded) weights calibrated on a few synthetic scenes, at both precision presets:
each project is generated and compiled into a fresh cache (so the compile is timed
cold), then one image runs through the compiled kernel (the shared-library build, task 0,
no debug tap) and through `simulate`, and both token sets are compared.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from edgemoe.hls.csim import CsimKernel
from edgemoe.hls.generator import generate
from edgemoe.model.data.scenes import render_scene
from edgemoe.model.export import export_artifact
from edgemoe.model.hardware_weights import hardware_weights
from edgemoe.model.m3vit import M3ViT
from edgemoe.sim.accelerator import simulate
from edgemoe.sim.artifact import Artifact
from edgemoe.sim.config import ModelConfig
from edgemoe.sim.config_file import load_accelerator_config, load_model_config
from edgemoe.sim.quant import calibrate

#: One image, one task, in C simulation (issue 15's targets), per precision preset.
TARGET_SECONDS = {"int16": 4.0, "edge-moe": 10.0}


def measure(config: ModelConfig, model: M3ViT, weights: dict, scenes: list[np.ndarray], preset: str,
            root: Path) -> tuple[float, float, float, bool]:
    """(compile, csim, simulate seconds, tokens equal) of one image at ``preset``."""
    spec = calibrate(config, weights, scenes[1:], preset)
    artifact = export_artifact(model, weights, spec, load_accelerator_config(config.name),
                               root / preset / config.name, np.stack(scenes[:1]),
                               progress=False)
    project = generate(artifact, root / preset / "hls")
    started = time.perf_counter()
    kernel = CsimKernel(project)
    compile_seconds = time.perf_counter() - started

    loaded = Artifact(artifact)
    blob = np.frombuffer((artifact / "weights.bin").read_bytes(), np.uint8).copy()
    tokens = np.zeros(kernel.token_bytes, np.uint8)
    scratch_buffer = np.zeros(kernel.scratch_bytes, np.uint8)
    image = scenes[0]
    started = time.perf_counter()
    kernel.run(blob, np.ascontiguousarray(image.reshape(-1)), tokens, scratch_buffer,
               task=0, num_images=1)
    csim_seconds = time.perf_counter() - started

    quantized = loaded.weights()
    started = time.perf_counter()
    expected = simulate(loaded.manifest, quantized, image, config.tasks[0]).tokens
    simulate_seconds = time.perf_counter() - started
    got = np.frombuffer(tokens.tobytes(), "<i2" if expected.fmt.width <= 16 else "<i4")
    equal = np.array_equal(got[:expected.size], expected.raw.reshape(-1))
    return compile_seconds, csim_seconds, simulate_seconds, equal


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", default="m3vit-s")
    args = parser.parse_args()
    config = load_model_config(args.config)
    torch.manual_seed(0)
    model = M3ViT(config).eval()
    weights = hardware_weights(model)
    scenes = [render_scene(s, config.image_height, config.image_width).image for s in range(4)]
    results = {}
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        os.environ["EDGEMOE_CACHE"] = str(root / "cache")  # a cold compile
        for preset in TARGET_SECONDS:
            results[preset] = measure(config, model, weights, scenes, preset, root)
    name = config.name.replace("-", "_")
    for preset, (compile_seconds, csim_seconds, simulate_seconds, equal) in results.items():
        print(f"{config.name} {preset}: csim compile {compile_seconds:.1f} s; one image: csim "
              f"{csim_seconds:.2f} s, simulate {simulate_seconds:.3f} s; tokens "
              f"{'equal' if equal else 'DIFFER'}")
    slowest = max(results.values(), key=lambda r: r[0])[0]
    print(f"csim_compile_seconds_{name}: {slowest:.1f} s (target <= 120 s)")
    for preset, (_, csim_seconds, _, _) in results.items():
        print(f"csim_one_image_{name}_{preset.replace('-', '_')}: {csim_seconds:.2f} s "
              f"(target <= {TARGET_SECONDS[preset]:g} s)")


if __name__ == "__main__":
    main()
