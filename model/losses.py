"""Each task's training loss, as M3ViT trains it.

Segmentation and human parts: cross-entropy (``IGNORE_LABEL`` ignored; segmentation's
classes weighted). Depth: L1 on log depth for a head that predicts it, else L1 on metres,
over pixels of known depth. Normals: L1 between the unit-normalized prediction and the
truth, per component, over pixels with a normal. Edges: binary cross-entropy weighting edge
pixels 0.95 and the rest 0.05 (edges are rare). Saliency: binary cross-entropy balanced by
the share of salient pixels in the batch.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from edgemoe.sim.metrics import IGNORE_LABEL, KNOWN_NORMAL
from edgemoe.sim.tasks import TASKS

EDGE_POSITIVE_WEIGHT = 0.95
#: How much each task's loss counts, as M3ViT weighs them on PASCAL-Context (depth's comes
#: from the training config).
LOSS_WEIGHTS = {"segmentation": 1.0, "human_parts": 2.0, "saliency": 5.0, "normals": 10.0,
                "edges": 50.0}


def _balanced_bce(logits: torch.Tensor, truth: torch.Tensor, positive_weight: torch.Tensor | float,
                  ) -> torch.Tensor:
    known = truth != IGNORE_LABEL
    target = (truth == 1).float()
    weight = torch.where(target > 0, positive_weight, 1 - positive_weight)
    losses = F.binary_cross_entropy_with_logits(logits, target, reduction="none") * weight
    return losses[known].sum() / known.sum().clamp(min=1)


def task_loss(task: str, output: torch.Tensor, batch: dict[str, torch.Tensor],
              weights: torch.Tensor | None = None, log_depth: bool = True) -> torch.Tensor:
    """``output`` is the model's (B, C, H, W) for ``task``; ``weights`` segmentation's class
    weights."""
    truth = batch[TASKS[task].target]
    if task == "segmentation":
        return F.cross_entropy(output, truth, weight=weights, ignore_index=IGNORE_LABEL)
    if task == "human_parts":  # a batch without a person (all ignored) has a loss of 0
        losses = F.cross_entropy(output, truth, ignore_index=IGNORE_LABEL, reduction="none")
        return losses.sum() / (truth != IGNORE_LABEL).sum().clamp(min=1)
    if task == "depth":
        known = truth > 0
        if not log_depth:
            return (output[:, 0][known] - truth[known]).abs().mean()
        return (torch.log(output[:, 0][known]) - torch.log(truth[known])).abs().mean()
    if task == "normals":
        known = (truth**2).sum(dim=1) > KNOWN_NORMAL
        unit = F.normalize(output, dim=1)
        return (unit - truth).abs().permute(0, 2, 3, 1)[known].mean()
    if task == "edges":
        return _balanced_bce(output[:, 0], truth, EDGE_POSITIVE_WEIGHT)
    known = truth != IGNORE_LABEL
    share = ((truth == 1) & known).sum() / known.sum().clamp(min=1)
    return _balanced_bce(output[:, 0], truth, 1 - share)
