"""Which experts each task's gate selects in each MoE layer, and how many tokens each gets."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgemoe.sim.config import ModelConfig

from .page import Section, Table, save_figure
from .predictions import TaskPredictions


def expert_tokens(config: ModelConfig, predictions: dict[str, TaskPredictions],
                  ) -> dict[str, np.ndarray]:
    """Per task, tokens routed to each expert, (MoE layers, experts), over all images."""
    counts = {}
    for task, found in predictions.items():
        table = np.zeros((len(config.moe_layers), config.experts), dtype=np.int64)
        for queues in found.queues:
            for row, layer in enumerate(config.moe_layers):
                table[row] += [len(queue) for queue in queues[layer]]
        counts[task] = table
    return counts


def _heat_map(config: ModelConfig, counts: dict[str, np.ndarray], images: int):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(counts), squeeze=False,
                                figsize=(1.2 + 4.2 * len(counts),
                                         1.2 + 0.45 * len(config.moe_layers)))
    top = max(int(table.max()) for table in counts.values()) or 1
    for axis, (task, table) in zip(axes[0], counts.items(), strict=True):
        shown = axis.imshow(table, cmap="viridis", vmin=0, vmax=top, aspect="auto")
        axis.set_title(task, fontsize=10)
        axis.set_xlabel("expert")
        axis.set_ylabel("MoE layer")
        axis.set_xticks(range(config.experts))
        axis.set_yticks(range(len(config.moe_layers)), [str(i) for i in config.moe_layers])
        if config.experts <= 16:
            for (row, column), value in np.ndenumerate(table):
                axis.text(column, row, str(value), ha="center", va="center", fontsize=7,
                          color="white" if value < top / 2 else "black")
    figure.colorbar(shown, ax=axes[0].tolist(), label=f"tokens over {images} images")
    return figure


def experts_section(config: ModelConfig, predictions: dict[str, TaskPredictions],
                    folder: Path) -> Section:
    counts = expert_tokens(config, predictions)
    images = len(next(iter(predictions.values())).queues)
    section = Section("experts", "Expert usage per task and layer")
    section.figures.append(save_figure(
        _heat_map(config, counts, images), folder, "expert_usage",
        f"tokens each expert processes (top-{config.top_k} of {config.experts}), from the "
        "simulator's expert queues"))
    rows = [[task, str(layer), str(int(np.count_nonzero(table[row]))),
             ", ".join(str(e) for e in np.argsort(-table[row], kind="stable")[:config.top_k])]
            for task, table in counts.items() for row, layer in enumerate(config.moe_layers)]
    section.tables.append(Table(["task", "MoE layer", "experts used", "busiest"], rows))
    section.summary = (f"{images} validation images per task, {config.tokens} tokens each. "
                       "Experts a task never selects need not be loaded for it.")
    section.data = {"images": images, "moe_layers": list(config.moe_layers),
                    "tokens": {task: table.tolist() for task, table in counts.items()}}
    return section
