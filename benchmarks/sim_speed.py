"""One m3vit-s image through the bit-exact simulator beside PyTorch's float32 forward.

Same backbone, same process, random (seeded) weights calibrated on a few synthetic scenes.
The simulator runs without trace, the int16 preset (and edge-moe, printed too); torch runs
M3ViT.features under no_grad. Each figure is the best of several repeats. Peak memory of
the whole process is printed as well (target: under 2 GiB).
"""

from __future__ import annotations

import argparse
import resource
import timeit

import torch

from edgemoe.model.data.scenes import render_scene
from edgemoe.model.hardware_weights import hardware_weights
from edgemoe.model.m3vit import M3ViT
from edgemoe.sim.accelerator import Accelerator
from edgemoe.sim.config_file import load_accelerator_config, load_model_config
from edgemoe.sim.quant import calibrate, quantize_weights

TARGET = 5.0
MEMORY_TARGET_GIB = 2.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", default="m3vit-s")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    config = load_model_config(args.config)
    torch.manual_seed(0)
    model = M3ViT(config).eval()
    weights = hardware_weights(model)
    scenes = [render_scene(seed, config.image_height, config.image_width) for seed in range(4)]
    image = scenes[0].image
    batch = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255.0

    def torch_forward() -> None:
        with torch.no_grad():
            model.features(batch, "segmentation")

    torch_forward()
    float_seconds = min(timeit.repeat(torch_forward, number=1, repeat=args.repeat * 4))
    ratios = {}
    for preset in ("int16", "edge-moe"):
        spec = calibrate(config, weights, [s.image for s in scenes[1:]], preset)
        engine = Accelerator(config, load_accelerator_config(args.config), spec,
                             quantize_weights(weights, spec, config))
        engine.run(image, "segmentation")
        seconds = min(timeit.repeat(lambda e=engine: e.run(image, "segmentation"), number=1,
                                    repeat=args.repeat))
        ratios[preset] = seconds / float_seconds
        print(f"{config.name} simulate ({preset}): {seconds * 1e3:.1f} ms; torch float32 "
              f"forward: {float_seconds * 1e3:.1f} ms; ratio {ratios[preset]:.2f}x")
    peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"peak memory: {peak_gib:.2f} GiB (target < {MEMORY_TARGET_GIB:g} GiB)")
    print(f"sim_vs_torch_float32_edge_moe: {ratios['edge-moe']:.2f}x")
    print(f"sim_vs_torch_float32_int16: {ratios['int16']:.2f}x (target <= {TARGET:g}x)")


if __name__ == "__main__":
    main()
