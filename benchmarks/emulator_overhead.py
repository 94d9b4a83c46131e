"""What the host driver and the emulated board add on top of the simulator.

`Accelerator.run` on the emulator (sim backend) does everything the board run does: copies
the image into a pynq buffer, flushes, writes the argument registers, starts the kernel,
polls ap_done, invalidates and decodes the output tokens. The kernel itself is the Python
simulator on the emulated DDR. This script times that against calling `simulate` directly,
and against a prebuilt simulator engine (`simulate` builds one per call), on the same image.

Without `--artifact`, a seeded random M3ViT of `--config` is quantized (int16) and exported
to a temporary folder first, so the script needs nothing from earlier runs.
"""

from __future__ import annotations

import argparse
import tempfile
import timeit
from pathlib import Path

import numpy as np

from edgemoe.host.driver import Accelerator
from edgemoe.host.emulator import emulate
from edgemoe.sim.accelerator import Accelerator as SimAccelerator
from edgemoe.sim.accelerator import simulate
from edgemoe.sim.artifact import Artifact

TARGET = 1.1


def random_artifact(config_name: str, out_dir: Path) -> Path:
    import torch

    from edgemoe.model.data.scenes import render_scene
    from edgemoe.model.export import export_artifact
    from edgemoe.model.hardware_weights import hardware_weights
    from edgemoe.model.m3vit import M3ViT
    from edgemoe.sim.config_file import load_accelerator_config, load_model_config
    from edgemoe.sim.quant import calibrate

    config = load_model_config(config_name)
    torch.manual_seed(0)
    model = M3ViT(config).eval()
    weights = hardware_weights(model)
    images = np.stack([render_scene(seed, config.image_height, config.image_width).image
                       for seed in range(6)])
    spec = calibrate(config, weights, images[2:], "int16")
    return export_artifact(model, weights, spec, load_accelerator_config(config_name),
                           out_dir / config.name, images[:2], progress=False)


def best_seconds(function, repeat: int) -> float:
    function()
    return min(timeit.repeat(function, number=1, repeat=repeat))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--artifact", type=Path, help="an exported artifact (default: a "
                        "random model exported to a temporary folder)")
    parser.add_argument("--config", default="tiny", help="config of the random model")
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="edgemoe-emulator-") as tmp:
        artifact_dir = args.artifact or random_artifact(args.config, Path(tmp))
        artifact = Artifact(artifact_dir)
        manifest, weights = artifact.manifest, artifact.weights()
        image = artifact.vector_images()[0]
        task = manifest.config.tasks[0]

        _, bitstream = emulate(artifact_dir, workdir=Path(tmp) / "emulated")
        board = Accelerator.load(artifact_dir, bitstream, max_images=1)
        engine = SimAccelerator(manifest.config, manifest.accelerator, manifest.spec, weights)
        batch = image[None]

        on_emulator = best_seconds(lambda: board.run(batch, task), args.repeat)
        direct = best_seconds(lambda: simulate(manifest, weights, image, task), args.repeat)
        prebuilt = best_seconds(lambda: engine.run(image, task), args.repeat)
        same = np.array_equal(board.run(batch, task).raw[0], engine.run(image, task).tokens.raw)

    print(f"{manifest.config.name}, task {task}, best of {args.repeat}: "
          f"Accelerator.run on the emulator {on_emulator * 1e3:.2f} ms; "
          f"simulate() {direct * 1e3:.2f} ms; prebuilt simulator engine {prebuilt * 1e3:.2f} ms; "
          f"tokens equal: {same}")
    print(f"emulator_vs_prebuilt_engine: {on_emulator / prebuilt:.3f}x")
    print(f"emulator_vs_simulate: {on_emulator / direct:.3f}x (target <= {TARGET:g}x)")


if __name__ == "__main__":
    main()
