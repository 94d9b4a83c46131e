"""What a run on the board looks like: images with each task's map."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from edgemoe.sim.atomic import atomic_path
from edgemoe.sim.tasks import TASKS, normals_as_colours

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def prediction_figure(images: np.ndarray, names: list[str],
                      predictions: dict[str, np.ndarray], classes: int) -> Figure:
    """One row per image: the image, then each task's map (labels, metres, normals as
    colours, probabilities). A bare ``Figure``: no pyplot, so no backend is chosen."""
    from matplotlib.figure import Figure

    columns = 1 + len(predictions)
    figure = Figure(figsize=(3.2 * columns, 1.9 * len(images)))
    axes = figure.subplots(len(images), columns, squeeze=False)
    for row, (image, name) in enumerate(zip(images, names, strict=True)):
        axes[row, 0].imshow(image)
        axes[row, 0].set_title(name, fontsize=8)
        for column, (task, maps) in enumerate(predictions.items(), start=1):
            kind = TASKS[task].kind
            if kind == "classes":
                shown = axes[row, column].imshow(
                    maps[row], cmap="tab10", vmin=0,
                    vmax=max(TASKS[task].channels(classes) - 1, 1), interpolation="nearest")
            elif kind == "depth":
                shown = axes[row, column].imshow(maps[row], cmap="magma_r")
                figure.colorbar(shown, ax=axes[row, column], fraction=0.03, label="m")
            elif kind == "normals":
                axes[row, column].imshow(normals_as_colours(maps[row]))
            else:
                axes[row, column].imshow(maps[row], cmap="gray", vmin=0, vmax=1)
            axes[row, column].set_title(task, fontsize=8)
    for axis in axes.flat:
        axis.set_axis_off()
    figure.tight_layout()
    return figure


def plot_predictions(path: str | Path, images: np.ndarray, names: list[str],
                     predictions: dict[str, np.ndarray], classes: int) -> Path:
    """``prediction_figure`` as a PNG at ``path``."""
    figure = prediction_figure(images, names, predictions, classes)
    with atomic_path(path) as partial:
        figure.savefig(partial, dpi=100, format="png")
    return Path(path)
