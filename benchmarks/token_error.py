"""Fixed point against float64 on an M3ViT-S as Edge-MoE runs it: the tokens after the last
block, relative RMSE over the tokens every MoE layer routes as the float model does (the
others are counted, not measured), for both precision presets.

Edge-MoE's trained weights cannot be downloaded here, so the model is m3vit-s-edge-moe
trained briefly on the synthetic scenes (realistic weight and activation statistics, which
random weights lack), written in Edge-MoE's dump layout and read back with
``edgemoe import --from edge-moe``: the path a user's weights take.
"""

from __future__ import annotations

import argparse
import copy
import tempfile
from pathlib import Path

import numpy as np

from edgemoe.model.checkpoint import load_checkpoint
from edgemoe.model.data.datasets import SceneDataset, task_truths
from edgemoe.model.export import head_layers
from edgemoe.model.hardware_weights import hardware_weights
from edgemoe.model.importer import import_model
from edgemoe.model.train import train
from edgemoe.sim.config_file import load_accelerator_config, load_config_file
from edgemoe.sim.quant import calibrate
from edgemoe.sim.quant_eval import compare_float_fixed
from edgemoe.sim.quant_report import token_error_line

TARGETS = {"int16": 0.003, "edge-moe": 0.009}


def edge_moe_dumps(model, folder: Path) -> None:
    """The backbone's tensors as Edge-MoE dumps them (float32, CLS inside position 0)."""
    state = {k: v.detach().double().numpy() for k, v in model.state_dict().items()}
    folder.mkdir()

    def dump(name: str, value: np.ndarray) -> None:
        np.asarray(value, "<f4").tofile(folder / f"{name}.float32.bin")

    dump("patch_embed_weight", state["patch_embed.weight"])
    dump("patch_embed_bias", state["patch_embed.bias"])
    position = state["pos_embed"][0].copy()
    position[0] += state["cls_token"][0, 0]
    dump("pos_embed", position)
    for layer in range(model.config.layers):
        src, dst = f"blocks.{layer}.", f"l{layer}_"
        for norm in ("norm1", "norm2"):
            dump(f"{dst}{norm}_weight", state[f"{src}{norm}.weight"])
            dump(f"{dst}{norm}_bias", state[f"{src}{norm}.bias"])
        dump(dst + "qkv_weight", state[src + "attn.qkv.weight"])
        dump(dst + "qkv_bias", state[src + "attn.qkv.bias"])
        dump(dst + "attn_proj_weight", state[src + "attn.proj.weight"])
        dump(dst + "attn_proj_bias", state[src + "attn.proj.bias"])
        if layer in model.config.moe_layers:
            dump(dst + "htoh4_weight", state[src + "mlp.w1"].transpose(0, 2, 1))
            dump(dst + "htoh4_bias", state[src + "mlp.b1"])
            dump(dst + "h4toh_weight", state[src + "mlp.w2"].transpose(0, 2, 1))
            dump(dst + "h4toh_bias", state[src + "mlp.b2"])
            for task in range(len(model.config.tasks)):
                dump(f"{dst}w_gate_T_task{task}", state[src + "mlp.gates"][task])
        else:
            for name in ("fc1", "fc2"):
                dump(f"{dst}{name}_weight", state[f"{src}mlp.{name}.weight"])
                dump(f"{dst}{name}_bias", state[f"{src}mlp.{name}.bias"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--train-images", type=int, default=512)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--images", type=int, default=8, help="validation images measured")
    args = parser.parse_args()
    document = copy.deepcopy(load_config_file("m3vit-s-edge-moe"))
    document["training"].update({"train_images": args.train_images, "val_images": 32,
                                 "epochs": args.epochs})
    with tempfile.TemporaryDirectory() as scratch:
        run = Path(scratch) / "run"
        trained = train(document, run)
        edge_moe_dumps(load_checkpoint(trained).build_model(), Path(scratch) / "weights")
        model, _ = import_model(Path(scratch) / "weights", "edge-moe", document)
    config = model.config
    weights = hardware_weights(model)
    size = (config.image_height, config.image_width)
    calibration = SceneDataset("train", 64, *size).images[:32].numpy()
    val = SceneDataset("val", 32, *size)
    accelerator = load_accelerator_config("m3vit-s-edge-moe")
    results = {}
    for preset in ("int16", "edge-moe"):
        spec = calibrate(config, weights, calibration, preset)
        report = compare_float_fixed(config, accelerator, weights, spec, head_layers(model),
                                     val.images[:args.images].numpy(),
                                     task_truths(val, config.tasks, args.images))
        results[preset] = report["tokens"]
        print(token_error_line(preset, report["tokens"]))
    for preset in ("int16", "edge-moe"):
        name = f"token_relative_rmse_{preset.replace('-', '_')}"
        print(f"{name}: {100 * results[preset]['relative_rmse']:.3f}% "
              f"(target <= {100 * TARGETS[preset]:g}%)")


if __name__ == "__main__":
    main()
