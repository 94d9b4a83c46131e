"""Self-validation: the board's tokens against the simulator, bit for bit, and the end
tasks against the float model's ONNX where it is available."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from edgemoe.sim.accelerator import Accelerator as Simulator

from .driver import Accelerator


@dataclass(frozen=True)
class ImageCheck:
    task: str
    image: int
    equal: bool
    first_difference: tuple[int, int, int, int] | None  # token, dim, expected, got
    agreement: float | None  # segmentation: pixel agreement with the float model
    depth_error: float | None  # depth: max abs difference to the float model, metres

    def __str__(self) -> str:
        verdict = "bit-exact" if self.equal else (
            "first difference at token {}, dim {}: expected {}, got {}".format(
                *self.first_difference))
        extra = ""
        if self.agreement is not None:
            extra = f"; label agreement with float {self.agreement:.2%}"
        if self.depth_error is not None:
            extra = f"; depth max |board - float| {self.depth_error:.3f} m"
        return f"{self.task} image {self.image}: {verdict}{extra}"


def first_difference(expected: np.ndarray, got: np.ndarray) -> tuple[int, int, int, int] | None:
    differ = np.argwhere(expected != got)
    if len(differ) == 0:
        return None
    token, dim = (int(i) for i in differ[0])
    return token, dim, int(expected[token, dim]), int(got[token, dim])


def _float_models(accelerator: Accelerator) -> dict[str, Any]:
    """onnxruntime sessions of the artifact's float model, per task, where both exist."""
    try:
        import onnxruntime
    except ImportError:
        return {}
    sessions = {}
    for task in accelerator.manifest.tasks:
        path = accelerator.artifact.root / f"model_{task}.onnx"
        if path.is_file():
            sessions[task] = onnxruntime.InferenceSession(str(path),
                                                          providers=["CPUExecutionProvider"])
    return sessions


def validate(accelerator: Accelerator, images: np.ndarray, tasks: list[str] | None = None,
             progress: bool = False) -> list[ImageCheck]:
    """Each image through the board once per task, compared with ``simulate``.

    Images run one at a time with the task changing between runs, as a multi-task
    deployment switches, so a weight reload on a task switch would show in
    ``accelerator.weight_loads``.
    """
    manifest = accelerator.manifest
    simulator = Simulator(manifest.config, manifest.accelerator, manifest.spec,
                          accelerator.artifact.weights())
    models = _float_models(accelerator)
    tasks = list(tasks or manifest.tasks)
    checks = []
    runs = [(index, task) for index in range(len(images)) for task in tasks]
    for index, task in tqdm(runs, desc="validate", unit="run", disable=not progress):
        image = images[index]
        result = accelerator.run(image, task)
        expected = simulator.run(image, task).tokens.raw
        difference = first_difference(expected, result.raw[0])
        agreement = depth_error = None
        if task in models:
            board = accelerator.predict(result)[0]
            pixels = image.transpose(2, 0, 1)[None].astype(np.float32) / 255.0
            reference = models[task].run(None, {"images": pixels})[0][0]
            if task == "segmentation":
                agreement = float(np.mean(board == reference.argmax(axis=0)))
            else:
                depth_error = float(np.max(np.abs(board - reference[0])))
        checks.append(ImageCheck(task, index, difference is None, difference, agreement,
                                 depth_error))
    return checks
