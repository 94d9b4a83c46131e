"""Self-validation: the board's tokens against the simulator, bit for bit, and the end
tasks against the float model's ONNX where it is available."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from edgemoe.sim.accelerator import Accelerator as Simulator
from edgemoe.sim.quant_eval import predict

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
             ) -> list[ImageCheck]:
    """Every image through the board for every task, compared with ``simulate``."""
    manifest = accelerator.manifest
    simulator = Simulator(manifest.config, manifest.accelerator, manifest.spec,
                          accelerator.artifact.weights())
    layers, arrays = accelerator.artifact.heads()
    models = _float_models(accelerator)
    checks = []
    for task in tasks or manifest.tasks:
        for start in range(0, len(images), accelerator.max_images):
            batch = images[start:start + accelerator.max_images]
            result = accelerator.run(batch, task)
            for offset, image in enumerate(batch):
                expected = simulator.run(image, task).tokens.raw
                difference = first_difference(expected, result.raw[offset])
                agreement = depth_error = None
                if task in models:
                    board = predict(layers[task], arrays, result.tokens[offset],
                                    manifest.config, task)
                    pixels = image.transpose(2, 0, 1)[None].astype(np.float32) / 255.0
                    reference = models[task].run(None, {"images": pixels})[0][0]
                    if task == "segmentation":
                        agreement = float(np.mean(board == reference.argmax(axis=0)))
                    else:
                        depth_error = float(np.max(np.abs(board - reference[0])))
                checks.append(ImageCheck(task, start + offset, difference is None, difference,
                                         agreement, depth_error))
    return checks
