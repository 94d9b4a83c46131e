"""Per-task evaluation: metrics, expert usage, and the positional-prior baseline."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from edgemoe.sim.metrics import IGNORE_LABEL
from edgemoe.sim.tasks import TASKS

from .m3vit import M3ViT


@dataclass
class TaskResult:
    task: str
    metrics: dict[str, float]
    #: per MoE layer, how many tokens chose each expert (over the whole data set)
    expert_counts: list[np.ndarray] = field(default_factory=list)


def predictions(output: torch.Tensor, task: str) -> np.ndarray:
    """The task's predictions (class ids, metres, unit normals or probabilities) from the
    model's (B, C, H, W) output."""
    return TASKS[task].predict(output.numpy())


@torch.no_grad()
def evaluate_task(model: M3ViT, dataset: Dataset, task: str, batch_size: int = 100,
                  progress: bool = False) -> TaskResult:
    model.eval()
    meter = TASKS[task].meter(model.config.classes)
    counts = [np.zeros(model.config.experts, np.int64) for _ in model.moe_modules()]
    loader = DataLoader(dataset, batch_size=batch_size)
    for batch in tqdm(loader, desc=f"evaluating {task}", disable=not progress, leave=False):
        output, routings = model.forward_with_routing(batch["image"], task)
        meter.update(predictions(output, task), batch[TASKS[task].target].numpy())
        for layer, routing in enumerate(routings):
            counts[layer] += np.bincount(routing.chosen.flatten().numpy(),
                                         minlength=model.config.experts)
    return TaskResult(task, meter.summary(), counts)


def positional_prior(dataset: Dataset, tasks: tuple[str, ...], classes: int,
                     ) -> dict[str, np.ndarray]:
    """Per task, the best guess from the pixel's position alone over ``dataset``: the most
    frequent class, the mean known depth, the mean normal, the share of positives."""
    sums: dict[str, np.ndarray] = {}
    counts: dict[str, np.ndarray] = {}
    for batch in DataLoader(dataset, batch_size=500):
        for task in tasks:
            spec = TASKS[task]
            truth = batch[spec.target].numpy()
            if spec.kind == "classes":  # votes per class and pixel
                channels, pixels = spec.channels(classes), truth[0].size
                flat = truth.reshape(len(truth), -1).astype(np.int64)
                keep = flat < channels
                where = np.broadcast_to(np.arange(pixels), flat.shape)[keep]
                total = np.bincount(flat[keep] * pixels + where, minlength=channels * pixels)
                total, known = total.reshape(channels, *truth.shape[1:]), 0  # votes alone
            elif spec.kind == "normals":
                total, known = truth.sum(axis=0), 0  # a direction: unknown ones add 0
            elif spec.kind == "depth":
                total, known = truth.sum(axis=0), (truth > 0).sum(axis=0)
            else:
                total = (truth == 1).sum(axis=0)
                known = (truth != IGNORE_LABEL).sum(axis=0)
            sums[task] = sums.get(task, 0) + total
            counts[task] = counts.get(task, 0) + known
    prior = {}
    for task in tasks:
        kind = TASKS[task].kind
        if kind == "classes":
            prior[task] = sums[task].argmax(axis=0)
        elif kind == "normals":
            norm = np.linalg.norm(sums[task], axis=0, keepdims=True)
            prior[task] = (sums[task] / np.maximum(norm, 1e-12)).astype(np.float32)
        else:
            mean = sums[task] / np.maximum(counts[task], 1)
            if kind == "depth":
                mean[counts[task] == 0] = mean[counts[task] > 0].mean()
            prior[task] = mean.astype(np.float32)
    return prior


def evaluate_prior(prior: dict[str, np.ndarray], dataset: Dataset, task: str,
                   classes: int) -> dict[str, float]:
    meter = TASKS[task].meter(classes)
    for batch in DataLoader(dataset, batch_size=500):
        truth = batch[TASKS[task].target].numpy()
        guess = prior[task]
        meter.update(np.broadcast_to(guess, (len(truth), *guess.shape)), truth)
    return meter.summary()
