"""The accelerator's block diagram (matplotlib), labelled from a config.

``python -m edgemoe.model.report.architecture docs/architecture.png --config m3vit-s``
redraws the README's copy.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from edgemoe.sim.config import AcceleratorConfig, ModelConfig
from edgemoe.sim.kernel_interface import KernelInterface, kernel_interface

# colours by role: memory, interface, compute, shared approximation units, software
COLOURS = {"memory": "#d9e8f5", "port": "#fde4c8", "compute": "#dff0d8", "unit": "#f3dff0",
           "software": "#eeeeee", "kernel": "#fbfbf4"}


def _box(axis, x: float, y: float, width: float, height: float, title: str, body: str = "",
         role: str = "compute", size: float = 9) -> None:
    from matplotlib.patches import FancyBboxPatch

    axis.add_patch(FancyBboxPatch((x, y), width, height,
                                  boxstyle="round,pad=0.02,rounding_size=0.12",
                                  facecolor=COLOURS[role], edgecolor="#555", linewidth=1))
    axis.text(x + width / 2, y + height - 0.12, title, ha="center", va="top", fontsize=size,
              fontweight="bold")
    if body:
        axis.text(x + width / 2, y + height - 0.45, body, ha="center", va="top",
                  fontsize=size - 1, linespacing=1.35)


def _arrow(axis, start: tuple[float, float], end: tuple[float, float], label: str = "",
           both: bool = True) -> None:
    axis.annotate("", xy=end, xytext=start,
                  arrowprops={"arrowstyle": "<|-|>" if both else "-|>", "color": "#444",
                              "linewidth": 1.4})
    if label:
        axis.text((start[0] + end[0]) / 2, (start[1] + end[1]) / 2 + 0.12, label,
                  ha="center", va="bottom", fontsize=7.5)


def architecture_figure(config: ModelConfig, accelerator: AcceleratorConfig,
                        kernel: KernelInterface | None = None):
    """DDR, the AXI ports, the kernel's shared units and the ARM side, as one figure: an
    artifact's ``kernel`` interface, or the one this edgemoe generates."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(14, 8.2))
    axis.set_xlim(0, 16)
    axis.set_ylim(0, 9.1)
    axis.set_axis_off()
    bundles: dict[str, list[str]] = {}
    kernel = kernel or kernel_interface(None)
    arguments = kernel.arguments
    for argument in arguments:
        if argument.bundle is not None:
            bundles.setdefault(argument.bundle, []).append(argument.name)
    scalars = ", ".join(a.name for a in arguments if a.bundle is None)

    _box(axis, 0.2, 0.4, 2.9, 6.9, "DDR4", role="memory", size=11)
    regions = [("weights.bin", "every layer, all\ntasks' gates, row-major"),
               ("images", "uint8 H x W x 3"), ("scratch", "feature maps\nbetween layers"),
               ("tokens", "output, raw words")]
    for row, (title, body) in enumerate(regions):
        _box(axis, 0.45, 5.55 - 1.55 * row, 2.4, 1.3, title, body, role="memory", size=8.5)

    _box(axis, 4.6, 0.4, 11.2, 7.0, f"{kernel.name}: Vitis HLS kernel in the PL, "
         f"{accelerator.clock_mhz:g} MHz", role="kernel", size=11)
    for row, (bundle, names) in enumerate(sorted(bundles.items(), reverse=True)):
        y = 5.9 - 2.6 * row
        _box(axis, 3.3, y - 0.8, 1.2, 1.6, "m_axi",
             f"{bundle}\n{accelerator.axi_bits} bit\n\n" + "\n".join(names), role="port",
             size=8)
        _arrow(axis, (3.1, y), (3.3, y))
        _arrow(axis, (4.5, y), (4.95, y))

    _box(axis, 4.95, 4.3, 3.3, 2.5, "Linear tile",
         f"{accelerator.tile_in} x {accelerator.tile_out} MACs, II = 1\n"
         "rows on chip, weights streamed\nQ, K, V, projection, MLP, experts\n"
         f"bias, residual, fused GELU:\n{accelerator.tile_out} results a cycle")
    _box(axis, 8.5, 4.3, 3.4, 2.5, "Reordered attention",
         f"P = {accelerator.attention_parallel} query rows, one a cycle,\n"
         "every head side by side\nK, V on chip per layer\nrow bP+o starts at key o\n"
         "single-pass softmax")
    _box(axis, 12.15, 4.3, 3.4, 2.5, "MoE",
         f"gate per task: softmax over {config.experts}\n"
         f"top-{config.top_k}, no renormalization\nper-expert token queues\n"
         "each active expert once\non the linear tile")
    _box(axis, 4.95, 1.9, 3.3, 2.1, "Patch embedding",
         f"{config.patch} x {config.patch} patches\non the linear tile\n+ positions, CLS")
    _box(axis, 8.5, 1.9, 3.4, 2.1, "LayerNorm",
         "one pass: sum and\nsum of squares\n1/sqrt(var + eps)\na word a cycle")
    _box(axis, 12.15, 1.9, 3.4, 2.1, "Weight strips",
         f"{accelerator.tile_out} rows of W, ping / pong\nthe next streams in a word\n"
         "a cycle while the current\nmeets every row")
    _box(axis, 4.95, 0.6, 10.6, 1.05, "Shared approximation units (integer tables, "
         "interpolation, Newton steps)", "exp(x <= 0)      1/x      1/sqrt(x)      "
         "GELU = ReLU - d(|x|)", role="unit", size=8.5)
    _arrow(axis, (8.25, 5.55), (8.5, 5.55))
    _arrow(axis, (11.9, 5.55), (12.15, 5.55))

    _box(axis, 4.6, 7.85, 11.2, 1.0, "ARM Cortex-A53 (PS): PYNQ driver",
         f"task heads ({', '.join(config.tasks)}) in numpy on the output tokens; "
         "the task is an argument: switching costs nothing", role="software", size=10)
    _arrow(axis, (6.2, 7.85), (6.2, 7.4))
    axis.text(6.35, 7.62, f"s_axilite control: ap_ctrl_hs; {scalars}", fontsize=8,
              va="center")
    _arrow(axis, (1.65, 7.3), (4.6, 8.35))
    axis.text(2.1, 8.0, "pynq.allocate buffers", fontsize=8, rotation=19)
    axis.set_title(f"Edge-MoE accelerator for M3ViT ({config.name}: {config.layers} layers, "
                   f"dim {config.dim}, {config.heads} heads, {config.tokens} tokens)",
                   fontsize=12)
    figure.tight_layout()
    return figure


def main() -> None:
    from edgemoe.sim.config_file import load_config_file

    parser = argparse.ArgumentParser(description="Draw the accelerator's block diagram.")
    parser.add_argument("out", type=Path)
    parser.add_argument("--config", default="m3vit-s")
    args = parser.parse_args()
    document = load_config_file(args.config)
    figure = architecture_figure(ModelConfig.from_dict(document["model"]),
                                 AcceleratorConfig.from_dict(document.get("accelerator", {})))
    figure.savefig(args.out, format="png", dpi=100)


if __name__ == "__main__":
    main()
