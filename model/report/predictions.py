"""The report's images through the accelerator (the artifact, bit for bit) and through the
float model, with the task heads on top, and each MoE layer's expert queues."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from edgemoe.sim.accelerator import Accelerator
from edgemoe.sim.artifact import Artifact
from edgemoe.sim.network import float_forward
from edgemoe.sim.quant_eval import predict

#: images simulated together (run_batch shares them among the cores)
BATCH = 8


@dataclass
class TaskPredictions:
    accelerator: list[np.ndarray] = field(default_factory=list)  # labels or metres, (H, W)
    float: list[np.ndarray] = field(default_factory=list)  # empty without float weights
    #: per image, per MoE layer, per expert: the tokens it processed
    queues: list[dict[int, list[np.ndarray]]] = field(default_factory=list)


def run_images(artifact: Artifact, images: np.ndarray,
               float_weights: dict[str, np.ndarray] | None = None, float_images: int = 0,
               progress: bool = True) -> dict[str, TaskPredictions]:
    """Every image through every task of the artifact; the first ``float_images`` also
    through the float model (given its weights)."""
    manifest = artifact.manifest
    config = manifest.config
    engine = Accelerator.from_manifest(manifest, artifact.weights())
    layers, arrays = artifact.heads()
    out = {task: TaskPredictions() for task in manifest.tasks}
    with tqdm(total=len(images) * len(manifest.tasks), desc="simulate", unit="run",
              disable=not progress, leave=False) as bar:
        for start in range(0, len(images), BATCH):
            chunk = images[start:start + BATCH]
            for task in manifest.tasks:
                for index, result in enumerate(engine.run_batch(list(chunk), task), start):
                    out[task].accelerator.append(predict(
                        layers[task], arrays, result.tokens.to_float(), config, task))
                    out[task].queues.append(result.queues)
                    if float_weights is not None and index < float_images:
                        tokens = float_forward(float_weights, config, images[index], task)
                        out[task].float.append(predict(layers[task], arrays, tokens, config,
                                                       task))
                bar.update(len(chunk))
    return out
