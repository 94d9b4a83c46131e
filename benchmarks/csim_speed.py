"""m3vit-s in C simulation beside the Python simulator: compile time, one image each.

Random (seeded) weights calibrated on a few synthetic scenes, int16 preset: the project is
generated and compiled into a fresh cache (so the compile is timed cold), then one image
runs through the compiled kernel (the shared-library build, task 0, no debug tap) and
through `simulate`, and both token sets are compared.
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
from edgemoe.sim.config_file import load_accelerator_config, load_model_config
from edgemoe.sim.quant import calibrate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", default="m3vit-s")
    args = parser.parse_args()
    config = load_model_config(args.config)
    torch.manual_seed(0)
    model = M3ViT(config).eval()
    weights = hardware_weights(model)
    scenes = [render_scene(s, config.image_height, config.image_width).image for s in range(4)]
    spec = calibrate(config, weights, scenes[1:], "int16")
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        os.environ["EDGEMOE_CACHE"] = str(root / "cache")  # a cold compile
        artifact = export_artifact(model, weights, spec, load_accelerator_config(args.config),
                                   root / config.name, np.stack(scenes[:1]), progress=False)
        project = generate(artifact, root / "hls")
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
    print(f"{config.name}: csim compile {compile_seconds:.1f} s; one image: csim "
          f"{csim_seconds:.2f} s, simulate {simulate_seconds:.3f} s; tokens "
          f"{'equal' if equal else 'DIFFER'}")
    print(f"csim_compile_seconds_{config.name.replace('-', '_')}: {compile_seconds:.1f} s "
          "(target <= 120 s)")
    print(f"csim_one_image_vs_simulate_{config.name.replace('-', '_')}: "
          f"{csim_seconds / simulate_seconds:.1f}x (target <= 100x)")


if __name__ == "__main__":
    main()
