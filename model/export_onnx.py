"""ONNX export, one graph per task: a [0, 1] image in, that task's output out.

Each graph is checked with ``onnx.checker`` and run in onnxruntime beside PyTorch on the
same images; the largest difference is returned and must stay within bound. The
difference is absolute for outputs up to 1 and relative above (depth is in metres, up to
80: float32 itself only resolves about 5e-6 m there).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from edgemoe.sim.atomic import atomic_path

from .m3vit import M3ViT

OPSET = 18
#: onnxruntime and PyTorch order float sums differently; this bounds the difference.
MAX_DIFFERENCE = 1e-4


class TaskGraph(nn.Module):
    """The model with its task fixed, as the exporter wants a tensor-only signature."""

    def __init__(self, model: M3ViT, task: str) -> None:
        super().__init__()
        model.config.task_index(task)
        self.model, self.task = model, task

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.model(images, self.task)


@contextlib.contextmanager
def dense_dispatch(model: M3ViT) -> Iterator[None]:
    """Run every expert on every token (weighted 0 where unchosen) while exporting: the
    graph then has no data-dependent shapes. The outputs are the same."""
    for moe in model.moe_modules():
        moe.dense_dispatch = True
    try:
        yield
    finally:
        for moe in model.moe_modules():
            moe.dense_dispatch = False


@dataclass(frozen=True)
class ExportResult:
    task: str
    path: Path
    max_difference: float  # |onnxruntime - torch| / max(1, |torch|)


def export_task(model: M3ViT, task: str, path: Path, images: torch.Tensor) -> ExportResult:
    """Write ``path`` (atomically), check it, and compare onnxruntime to PyTorch."""
    import onnx
    import onnxruntime

    model.eval()
    graph = TaskGraph(model, task).eval()
    with atomic_path(path) as scratch, dense_dispatch(model):
        # torch.export's path; the example batch of 2 keeps the batch dimension symbolic
        torch.onnx.export(graph, (images[:2],), str(scratch), input_names=["images"],
                          output_names=[task], opset_version=OPSET, dynamo=True,
                          dynamic_shapes={"images": {0: torch.export.Dim("batch")}},
                          external_data=False, verbose=False)
        onnx.checker.check_model(onnx.load(str(scratch)), full_check=True)
        session = onnxruntime.InferenceSession(str(scratch), providers=["CPUExecutionProvider"])
        ours = session.run(None, {"images": images.numpy()})[0]
        with torch.no_grad():
            theirs = graph(images).numpy()
        difference = float(np.max(np.abs(ours - theirs) / np.maximum(1.0, np.abs(theirs))))
        if not difference <= MAX_DIFFERENCE:
            raise RuntimeError(f"ONNX export of {task!r}: onnxruntime differs from PyTorch by "
                               f"{difference:.3g} (bound {MAX_DIFFERENCE:g})")
    return ExportResult(task, path, difference)
