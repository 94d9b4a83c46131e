"""One m3vit-s image through the bit-exact simulator beside two float32 PyTorch forwards,
and a batch of eight through ``run_batch`` beside one image alone.

Same backbone, same process, random (seeded) weights calibrated on a few synthetic scenes.
The simulator runs without trace, at both presets. The baselines: the model's own forward
(``M3ViT.features`` under no_grad, its experts one after another), and the fastest float32
forward of the same computation written here (``fast_float``: inference mode, every
expert in two batched products), checked against the model's output first. The final lines
measure against the fast one. Each figure is the best of several repeats. The batch line
is the time per image of eight images in one ``run_batch`` call over the time of one image
alone. Memory: the simulator's own peak (its weights, one image and the batch, traced by
tracemalloc, which numpy reports its arrays to) against the target, and the whole
process's peak (torch and the float model included) beside it.
"""

from __future__ import annotations

import argparse
import resource
import timeit
import tracemalloc

import torch
from fast_float import fast_features

from edgemoe.model.data.scenes import render_scene
from edgemoe.model.hardware_weights import hardware_weights
from edgemoe.model.m3vit import M3ViT
from edgemoe.sim.accelerator import Accelerator
from edgemoe.sim.config_file import load_accelerator_config, load_model_config
from edgemoe.sim.quant import calibrate, quantize_weights

TARGETS = {"int16": 4.0, "edge-moe": 8.0}  # against the fast float32 forward
BATCH = 8
BATCH_TARGET = 0.7  # per-image time of a batch over one image alone
MEMORY_TARGET_GIB = 1.0
#: how far the fast forward may stray from the model's (float32 sums in another order)
FLOAT_TOLERANCE = 1e-4


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
    with torch.no_grad():
        reference = model.features(batch, "segmentation")[0]
    difference = (fast_features(model, batch, "segmentation") - reference).abs().max().item()
    if difference > FLOAT_TOLERANCE * reference.abs().max().item():
        raise SystemExit(f"the fast float32 forward differs from the model's by {difference}")
    fast_seconds = min(timeit.repeat(lambda: fast_features(model, batch, "segmentation"),
                                     number=1, repeat=args.repeat * 4))
    print(f"float32 forwards: the model's {float_seconds * 1e3:.1f} ms, the fast one "
          f"{fast_seconds * 1e3:.1f} ms (max difference {difference:.1e})")
    ratios, fast_ratios, batch_ratios = {}, {}, {}
    batch_images = [scenes[i % len(scenes)].image for i in range(BATCH)]
    simulator_peak = 0
    for preset in ("int16", "edge-moe"):
        spec = calibrate(config, weights, [s.image for s in scenes[1:]], preset)
        tracemalloc.start()
        engine = Accelerator(config, load_accelerator_config(args.config), spec,
                             quantize_weights(weights, spec, config))
        engine.run(image, "segmentation")
        engine.run_batch(batch_images, "segmentation")
        simulator_peak = max(simulator_peak, tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        engine.run(image, "segmentation")
        seconds = min(timeit.repeat(lambda e=engine: e.run(image, "segmentation"), number=1,
                                    repeat=args.repeat))
        engine.run_batch(batch_images, "segmentation")
        batch_seconds = min(timeit.repeat(
            lambda e=engine: e.run_batch(batch_images, "segmentation"), number=1,
            repeat=max(1, args.repeat // 2))) / BATCH
        batch_ratios[preset] = batch_seconds / seconds
        ratios[preset] = seconds / float_seconds
        fast_ratios[preset] = seconds / fast_seconds
        print(f"{config.name} simulate ({preset}): {seconds * 1e3:.1f} ms; "
              f"{ratios[preset]:.2f}x the model's forward, {fast_ratios[preset]:.2f}x the "
              f"fast one; in a batch of {BATCH}: {batch_seconds * 1e3:.1f} ms per image "
              f"({batch_ratios[preset]:.2f}x)")
    process_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"peak memory: the simulator {simulator_peak / 2**30:.2f} GiB (target < "
          f"{MEMORY_TARGET_GIB:g} GiB); the whole process {process_gib:.2f} GiB")
    for preset in ("int16", "edge-moe"):
        print(f"sim_vs_torch_float32_{preset.replace('-', '_')}: {ratios[preset]:.2f}x")
    for preset in ("int16", "edge-moe"):
        print(f"sim_batch_{BATCH}_per_image_{preset.replace('-', '_')}: "
              f"{batch_ratios[preset]:.2f}x (target <= {BATCH_TARGET:g}x)")
    for preset in ("int16", "edge-moe"):
        print(f"sim_vs_fast_float32_{preset.replace('-', '_')}: {fast_ratios[preset]:.2f}x "
              f"(target <= {TARGETS[preset]:g}x)")


if __name__ == "__main__":
    main()
