"""The dense tasks M3ViT learns, as the board sees them: how many channels each head
gives, how a head's output becomes a prediction, and the metric it is scored by (numpy
only: runs on the board).

The names are ours; ``official`` is M3ViT's for the same task (its checkpoints' decoders,
its task order). ``target`` is the data set item that holds a task's ground truth.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .metrics import (
    DepthMeter,
    EdgeMeter,
    Meter,
    NormalsMeter,
    PartsMeter,
    SaliencyMeter,
    SegmentationMeter,
)

#: Human parts as M3ViT's PASCAL-Context counts them: background and six parts.
HUMAN_PARTS = 7


@dataclass(frozen=True)
class Task:
    name: str
    official: str
    target: str
    kind: str  # "classes", "depth", "normals" or "binary"
    metrics: tuple[str, ...]

    def channels(self, classes: int) -> int:
        """The head's output channels (``classes``: the config's semantic classes)."""
        if self.name == "segmentation":
            return classes
        if self.name == "human_parts":
            return HUMAN_PARTS
        return 3 if self.kind == "normals" else 1

    def predict(self, output: np.ndarray) -> np.ndarray:
        """A head's output (..., C, H, W) as the task's prediction: class ids, depth in
        metres, unit normals (..., 3, H, W) or a probability."""
        if self.kind == "classes":
            return output.argmax(axis=-3)
        if self.kind == "normals":
            norm = np.sqrt(np.sum(output.astype(np.float64) ** 2, axis=-3, keepdims=True))
            return (output / np.maximum(norm, 1e-12)).astype(np.float32)
        if self.kind == "binary":  # the sigmoid, without overflow for large logits
            logits = output[..., 0, :, :].astype(np.float64)
            return np.exp(-np.logaddexp(0, -logits)).astype(np.float32)
        return output[..., 0, :, :]

    def meter(self, classes: int) -> Meter:
        if self.name == "human_parts":
            return PartsMeter(HUMAN_PARTS)
        if self.kind == "classes":
            return SegmentationMeter(self.channels(classes))
        if self.kind == "depth":
            return DepthMeter()
        if self.kind == "normals":
            return NormalsMeter()
        return EdgeMeter() if self.name == "edges" else SaliencyMeter()


def normals_as_colours(normals: np.ndarray) -> np.ndarray:
    """(3, H, W) unit normals as an (H, W, 3) image: (n + 1) / 2."""
    return np.clip((np.moveaxis(normals, 0, -1) + 1) / 2, 0, 1)


TASKS = {task.name: task for task in (
    Task("segmentation", "semseg", "label", "classes", ("miou", "pixel_accuracy")),
    Task("human_parts", "human_parts", "parts", "classes", ("miou", "pixel_accuracy")),
    Task("saliency", "sal", "saliency", "binary", ("max_f", "iou")),
    Task("normals", "normals", "normals", "normals",
         ("mean_angle", "median_angle", "within_11_25")),
    Task("edges", "edge", "edges", "binary", ("ods_f",)),
    Task("depth", "depth", "depth", "depth", ("rmse", "abs_rel")),
)}
#: M3ViT's task order (its utils/config.py): a multi-gate checkpoint's gate t is the t-th
#: of its tasks in this order.
OFFICIAL_ORDER = tuple(task.official for task in TASKS.values())
