"""Input, ground truth, float prediction and accelerator prediction, per task."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgemoe.sim.tasks import TASKS, normals_as_colours

from .page import Section, save_figure
from .predictions import TaskPredictions


def _shown(kind: str, values: np.ndarray) -> np.ndarray:
    """What is drawn: normals as colours, the rest as they are."""
    return normals_as_colours(values) if kind == "normals" else values


def _figure(task: str, images: np.ndarray, truth: np.ndarray, found: TaskPredictions,
            class_names: tuple[str, ...]):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    columns = [("input", None), ("ground truth", truth)]
    if found.float:
        columns.append(("float model", found.float))
    columns.append(("accelerator", found.accelerator))
    figure, axes = plt.subplots(len(images), len(columns), squeeze=False,
                                figsize=(2.9 * len(columns) + 1.0, 1.7 * len(images) + 0.6))
    kind = TASKS[task].kind
    segmentation = task == "segmentation"
    palette = 10 if len(class_names) <= 10 else 20
    colours = plt.get_cmap(f"tab{palette}")
    for row, image in enumerate(images):
        known = truth[row] > 0
        top = float(truth[row][known].max()) if kind == "depth" and known.any() else 1.0
        for column, (title, maps) in enumerate(columns):
            axis = axes[row, column]
            axis.set_axis_off()
            if row == 0:
                axis.set_title(title, fontsize=9)
            if maps is None:
                axis.imshow(image)
            elif kind == "classes":
                axis.imshow(maps[row], cmap=colours, vmin=0, vmax=palette - 1,
                            interpolation="nearest")
            elif kind == "depth":  # unknown depth (sky, 0 m) shown blank
                shown = np.ma.masked_where(maps[row] <= 0, maps[row])
                mapped = axis.imshow(shown, cmap="magma_r", vmin=0, vmax=top)
            else:  # normals as colours; edges and saliency as probabilities (0/1 truth)
                axis.imshow(_shown(kind, maps[row]), cmap="gray", vmin=0, vmax=1)
        if kind == "depth":
            figure.colorbar(mapped, ax=axes[row, :].tolist(), fraction=0.02, label="depth (m)")
    if segmentation:
        handles = [Patch(color=colours(i), label=name) for i, name in enumerate(class_names)]
        figure.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=8)
        figure.subplots_adjust(bottom=0.1)
    return figure


def gallery_section(images: np.ndarray, truths: dict[str, np.ndarray],
                    predictions: dict[str, TaskPredictions], class_names: tuple[str, ...],
                    folder: Path, float_command: str | None) -> Section:
    """One figure per task; ``float_command`` says how to add the float column if absent."""
    section = Section("gallery", "Gallery: ground truth, float and accelerator")
    count = len(images)
    for task, found in predictions.items():
        shown = TaskPredictions(found.accelerator[:count], found.float[:count])
        section.figures.append(save_figure(
            _figure(task, images, truths[task][:count], shown, class_names), folder,
            f"gallery_{task}", f"{task}: validation scenes, the float model and the "
                               "accelerator (bit-accurate simulator of the artifact)"))
    section.summary = (f"{count} validation scenes per task. The accelerator column is what "
                       "the board computes: the artifact's integers, then the float task head.")
    if float_command is not None:
        section.summary += f" The float model's column needs the checkpoint: {float_command}."
    return section
