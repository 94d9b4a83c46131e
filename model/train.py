"""Multi-task training of M3ViT on the synthetic scenes.

Every batch goes through the backbone once per task (each task has its own gates) and
the task losses (``losses``) add up, plus the Switch-Transformer load-balancing loss of
every MoE layer. The checkpoint is saved
after every epoch, so a run can be resumed exactly where it stopped.

Under ``torchrun --nproc_per_node N`` the same loop runs as DistributedDataParallel: each
process takes 1/N of every batch (``DistributedSampler``, so N processes see the batches
one process would), gradients are averaged, the losses shown are the processes' mean, and
only rank 0 writes the run folder. The checkpoint is the one a single process writes.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import torch
import yaml
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler
from tqdm import tqdm

from edgemoe.sim.atomic import atomic_path
from edgemoe.sim.config import ConfigError, ModelConfig
from edgemoe.sim.config_file import read_document
from edgemoe.sim.metrics import IGNORE_LABEL
from edgemoe.sim.tasks import TASKS

from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .data.datasets import ArrayDataset, FolderDataset, SceneDataset
from .data.m3vit_folders import M3ViTFolders, layout_of
from .data.scenes import CLASSES as SCENE_CLASSES
from .distributed import Group, join
from .losses import LOSS_WEIGHTS, task_loss
from .m3vit import M3ViT, Routing
from .train_config import TrainConfig

CHECKPOINT_NAME = "checkpoint.pt"
CONFIG_NAME = "config.yaml"
WARMUP_FRACTION = 0.05


def balance_loss(routing: Routing) -> torch.Tensor:
    """Switch Transformer's auxiliary loss: experts * sum_e(share of picks_e * mean prob_e);
    1.0 when tokens spread evenly over the experts, up to the expert count when not."""
    experts = routing.probs.shape[-1]
    picked = (routing.ranks < routing.top_k).float()  # (B, T, E)
    share = picked.mean(dim=(0, 1)) / routing.top_k
    return experts * torch.sum(share * routing.probs.mean(dim=(0, 1)))


def class_weights(labels: torch.Tensor, classes: int) -> torch.Tensor:
    """Cross-entropy weights that lift rare classes (people, poles): each class's pixel
    frequency relative to the median class, to the power -1/2."""
    counts = torch.bincount(labels[labels != IGNORE_LABEL].flatten().long(),
                            minlength=classes).double()
    frequency = counts / counts.sum()
    present = frequency > 0
    weights = torch.ones(classes, dtype=torch.float64)
    weights[present] = (frequency[present].median() / frequency[present]) ** 0.5
    return weights.float()


class MultiTaskLoss(nn.Module):
    """One training step's loss: every task through the backbone, each task's loss weighted,
    plus the load-balancing loss. One forward call, as DistributedDataParallel wants."""

    def __init__(self, model: M3ViT, training: TrainConfig,
                 class_weights: torch.Tensor | None) -> None:
        super().__init__()
        self.model, self.training, self.class_weights = model, training, class_weights

    def forward(self, batch: dict[str, torch.Tensor],
                ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        config = self.model.config
        zero = batch["image"].new_zeros((), dtype=torch.float32)
        loss, parts = zero, {"balance": zero}
        for task in config.tasks:
            output, routings = self.model.forward_with_routing(batch["image"], task)
            parts[task] = task_loss(task, output, batch, self.class_weights, config.log_depth)
            balance = sum(balance_loss(r) for r in routings) / max(len(routings), 1)
            scale = (self.training.depth_loss_weight if task == "depth"
                     else LOSS_WEIGHTS[task])
            loss = loss + scale * parts[task] + self.training.balance_loss_weight * balance
            parts["balance"] = parts["balance"] + balance / len(config.tasks)
        return loss, parts


def _schedule(total_steps: int) -> Any:
    warmup = max(1, int(total_steps * WARMUP_FRACTION))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total_steps - warmup)
        return 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
    return factor


def build_datasets(config: ModelConfig, training: TrainConfig,
                   ) -> tuple[ArrayDataset, ArrayDataset]:
    """The training and validation splits: synthetic scenes, or ``training.data``'s
    folders."""
    size = (config.image_height, config.image_width)
    if training.data is not None:
        root = Path(training.data)
        if layout_of(root) is not None:  # M3ViT's own NYUD-v2 or PASCAL-Context folders
            return (M3ViTFolders(root, "train", *size, config.tasks, config.classes),
                    M3ViTFolders(root, "val", *size, config.tasks, config.classes))
        return (FolderDataset(root / "train", *size, config.classes),
                FolderDataset(root / "val", *size, config.classes))
    if config.classes != len(SCENE_CLASSES):
        raise ConfigError(f"config {config.name!r} has classes: {config.classes}, but the "
                          f"synthetic scenes have {len(SCENE_CLASSES)} "
                          f"({', '.join(SCENE_CLASSES)}); set classes: {len(SCENE_CLASSES)} "
                          "or train on your own data (--data)")
    return (SceneDataset("train", training.train_images, *size, seed=training.seed),
            SceneDataset("val", training.val_images, *size, seed=training.seed))


def _training_set(config: ModelConfig, training: TrainConfig, group: Group) -> ArrayDataset:
    """The training split, made (and cached) by rank 0 before the others read it."""
    if not group.leader:
        group.barrier()
    train_set, _ = build_datasets(config, training)
    if group.leader:
        group.barrier()
    return train_set


def train(document: dict[str, Any], out_dir: Path, resume: bool = False,
          epochs: int | None = None, progress: bool = True) -> Path:
    """Train (or resume) and return the checkpoint's path. Refuses to overwrite a run
    unless resuming it, and to resume a run of another config."""
    config = read_document(document, "the config").model
    training = TrainConfig.from_dict(document.get("training", {}))
    if epochs is not None:
        training = TrainConfig.from_dict({**training.model_dump(), "epochs": epochs})
        document = {**document, "training": training.model_dump()}
    path = out_dir / CHECKPOINT_NAME
    previous = None
    if path.exists():
        if not resume:
            raise CheckpointError(f"{path} exists; pass --resume to continue that run, or "
                                  "choose another --out")
        previous = load_checkpoint(path, expected=config)
    elif resume:
        raise CheckpointError(f"nothing to resume: no checkpoint at {path}")

    group = join()
    if training.batch_size % group.size:
        raise ConfigError(f"training.batch_size {training.batch_size} does not split over "
                          f"{group.size} processes")
    group.barrier()  # every process has looked before rank 0 writes
    torch.manual_seed(training.seed)
    model = M3ViT(config).to(group.device)  # before the optimizer: its state follows
    optimizer = torch.optim.AdamW(model.parameters(), lr=training.learning_rate,
                                  weight_decay=training.weight_decay)
    train_set = _training_set(config, training, group)
    lacking = [t for t in config.tasks if TASKS[t].target not in train_set.targets]
    if lacking:
        raise ConfigError(f"tasks {lacking} need targets the training data lacks: it has "
                          f"{list(train_set.targets)}")
    if len(train_set) < training.batch_size:
        raise ConfigError(f"{len(train_set)} training images are fewer than one batch of "
                          f"{training.batch_size} (training.batch_size)")
    weights = (None if train_set.labels is None  # M3ViT's folders: unweighted, as M3ViT
               else class_weights(train_set.labels, config.classes))
    steps_per_epoch = math.ceil(len(train_set) / training.batch_size)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, _schedule(steps_per_epoch * training.epochs))
    state: dict[str, Any] = {"epoch": 0, "history": [], "seconds": 0.0}
    if previous is not None:
        model.load_state_dict(previous.model_state)
        optimizer.load_state_dict(previous.training_state["optimizer"])
        scheduler.load_state_dict(previous.training_state["scheduler"])
        state = {key: previous.training_state[key] for key in state}

    if group.leader:
        out_dir.mkdir(parents=True, exist_ok=True)
        with atomic_path(out_dir / CONFIG_NAME) as scratch:
            scratch.write_text(yaml.safe_dump(document, sort_keys=False))
    step = MultiTaskLoss(model, training, None if weights is None else weights.to(group.device))
    if group.size > 1:  # experts a batch routes no token to have no gradient
        step = DistributedDataParallel(
            step, device_ids=[group.device.index] if group.device.type == "cuda" else None,
            find_unused_parameters=True)
    # the same order when resumed, and N processes together take the batches one would
    sampler = DistributedSampler(train_set, num_replicas=group.size, rank=group.rank,
                                 shuffle=True, seed=training.seed, drop_last=True)
    loader = DataLoader(train_set, batch_size=training.batch_size // group.size,
                        sampler=sampler, drop_last=True)
    for epoch in range(state["epoch"], training.epochs):
        started = time.perf_counter()
        sampler.set_epoch(epoch)
        model.train()
        totals = {task: 0.0 for task in config.tasks} | {"balance": 0.0}
        bar = tqdm(loader, desc=f"epoch {epoch + 1}/{training.epochs}", unit="batch",
                   disable=not (progress and group.leader), leave=False)
        for batch in bar:
            loss, parts = step({key: value.to(group.device) for key, value in batch.items()})
            for name, value in parts.items():
                totals[name] += value.item()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            bar.set_postfix(loss=f"{loss.item():.3f}")
        state["seconds"] += time.perf_counter() - started
        state["epoch"] = epoch + 1
        means = group.mean([value / len(loader) for value in totals.values()])
        state["history"].append({"epoch": epoch + 1, **dict(zip(totals, means, strict=True))})
        if group.leader:
            save_checkpoint(path, model, document, {
                **state, "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict()})
        if progress and group.leader:
            losses = ", ".join(f"{k} {v:.4f}" for k, v in state["history"][-1].items()
                               if k != "epoch")
            tqdm.write(f"epoch {epoch + 1}/{training.epochs}: {losses} "
                       f"({state['seconds']:.0f} s so far)")
    return path
