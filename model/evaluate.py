"""Per-task evaluation: metrics, expert usage, and the positional-prior baseline."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from edgemoe.sim.metrics import DepthMeter, SegmentationMeter

from .m3vit import M3ViT


@dataclass
class TaskResult:
    task: str
    metrics: dict[str, float]
    #: per MoE layer, how many tokens chose each expert (over the whole data set)
    expert_counts: list[np.ndarray] = field(default_factory=list)


def _meter(task: str, classes: int) -> SegmentationMeter | DepthMeter:
    return SegmentationMeter(classes) if task == "segmentation" else DepthMeter()


def _truth(task: str, batch: dict[str, torch.Tensor]) -> np.ndarray:
    return batch["label" if task == "segmentation" else "depth"].numpy()


def predictions(output: torch.Tensor, task: str) -> np.ndarray:
    """Label maps (B, H, W) from logits, or depth maps (B, H, W) in metres."""
    if task == "segmentation":
        return output.argmax(dim=1).numpy()
    return output[:, 0].numpy()


@torch.no_grad()
def evaluate_task(model: M3ViT, dataset: Dataset, task: str, batch_size: int = 100,
                  progress: bool = False) -> TaskResult:
    model.eval()
    meter = _meter(task, model.config.classes)
    counts = [np.zeros(model.config.experts, np.int64) for _ in model.moe_modules()]
    loader = DataLoader(dataset, batch_size=batch_size)
    for batch in tqdm(loader, desc=f"evaluating {task}", disable=not progress, leave=False):
        output, routings = model.forward_with_routing(batch["image"], task)
        meter.update(predictions(output, task), _truth(task, batch))
        for layer, routing in enumerate(routings):
            counts[layer] += np.bincount(routing.chosen.flatten().numpy(),
                                         minlength=model.config.experts)
    return TaskResult(task, meter.summary(), counts)


def positional_prior(dataset: Dataset, classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Per pixel, the most frequent class and the mean known depth over ``dataset``."""
    votes, depth_sum, depth_count = None, None, None
    for batch in DataLoader(dataset, batch_size=500):
        labels, depths = batch["label"].numpy(), batch["depth"].numpy()
        if votes is None:
            votes = np.zeros((classes, *labels.shape[1:]), np.int64)
            depth_sum = np.zeros(labels.shape[1:])
            depth_count = np.zeros(labels.shape[1:])
        for cls in range(classes):
            votes[cls] += (labels == cls).sum(axis=0)
        depth_sum += depths.sum(axis=0)
        depth_count += (depths > 0).sum(axis=0)
    mean_depth = depth_sum / np.maximum(depth_count, 1)
    mean_depth[depth_count == 0] = mean_depth[depth_count > 0].mean()
    return votes.argmax(axis=0), mean_depth


def evaluate_prior(prior: tuple[np.ndarray, np.ndarray], dataset: Dataset, task: str,
                   classes: int) -> dict[str, float]:
    meter = _meter(task, classes)
    guess = prior[0] if task == "segmentation" else prior[1]
    for batch in DataLoader(dataset, batch_size=500):
        truth = _truth(task, batch)
        meter.update(np.broadcast_to(guess, truth.shape), truth)
    return meter.summary()
