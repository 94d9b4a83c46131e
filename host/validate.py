"""Self-validation: the board's tokens against the simulator bit for bit, against the
artifact's golden vectors where the image is one of them, and the end tasks against the
float model's ONNX graph within stated bounds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from edgemoe.sim.accelerator import Accelerator as Simulator
from edgemoe.sim.artifact import ArtifactError
from edgemoe.sim.metrics import normal_angles
from edgemoe.sim.onnx_graph import can_check
from edgemoe.sim.tasks import TASKS

from .driver import Accelerator


@dataclass(frozen=True)
class Bounds:
    """How far the board's predictions may stray from the float model's."""

    min_agreement: float = 0.90  # classes: share of pixels labelled as the float model
    max_depth_error: float = 0.05  # depth: mean |board - float| / float
    max_angle_error: float = 5.0  # normals: mean angle to the float model's, degrees
    max_probability_error: float = 0.05  # edges, saliency: mean |board - float|

    def describe(self) -> str:
        return (f"label agreement >= {self.min_agreement:.0%}, depth error <= "
                f"{self.max_depth_error:.1%}, normals within {self.max_angle_error:g} degrees, "
                f"probabilities within {self.max_probability_error:g}")


@dataclass(frozen=True)
class FloatComparison:
    """One task's prediction on the board against the float model's."""

    measure: str
    value: float
    bound: float
    at_least: bool  # the value must reach the bound (else stay under it)

    @property
    def within(self) -> bool:
        return self.value >= self.bound if self.at_least else self.value <= self.bound

    def __str__(self) -> str:
        return (f"{self.measure} against float {self.value:.4g} (bound "
                f"{'>=' if self.at_least else '<='} {self.bound:g})")


def compare_with_float(task: str, board: np.ndarray, reference: np.ndarray,
                       bounds: Bounds) -> FloatComparison:
    """The board's prediction of ``task`` against the float model's raw output (C, H, W)."""
    spec = TASKS[task]
    expected = spec.predict(reference)
    if spec.kind == "classes":
        return FloatComparison("label agreement", float(np.mean(board == expected)),
                               bounds.min_agreement, at_least=True)
    if spec.kind == "depth":
        error = np.mean(np.abs(board - expected) / np.maximum(np.abs(expected), 1e-6))
        return FloatComparison("depth error", float(error), bounds.max_depth_error, False)
    if spec.kind == "normals":
        return FloatComparison("normal angle (degrees)",
                               float(normal_angles(board, expected).mean()),
                               bounds.max_angle_error, at_least=False)
    return FloatComparison("probability error", float(np.mean(np.abs(board - expected))),
                           bounds.max_probability_error, at_least=False)


@dataclass(frozen=True)
class ImageCheck:
    task: str
    image: int
    equal: bool  # the board's tokens are the simulator's
    first_difference: tuple[int, int, int, int] | None  # token, dim, expected, got
    golden: bool | None  # the tokens are the golden vector's (None: not a vector image)
    comparison: FloatComparison | None  # against the float model, where there is one

    @property
    def within_bounds(self) -> bool:
        return self.comparison is None or self.comparison.within

    @property
    def passed(self) -> bool:
        return self.equal and self.golden is not False and self.within_bounds

    def __str__(self) -> str:
        verdict = "bit-exact" if self.equal else (
            "first difference at token {}, dim {}: expected {}, got {}".format(
                *self.first_difference))
        if self.golden is not None:
            verdict += ("; equals the golden vector" if self.golden
                        else "; DIFFERS from the golden vector")
        if self.comparison is not None:
            verdict += f"; {self.comparison}"
        return f"{self.task} image {self.image}: {verdict}"


def first_difference(expected: np.ndarray, got: np.ndarray) -> tuple[int, int, int, int] | None:
    differ = np.argwhere(expected != got)
    if len(differ) == 0:
        return None
    token, dim = (int(i) for i in differ[0])
    return token, dim, int(expected[token, dim]), int(got[token, dim])


def _float_models(accelerator: Accelerator) -> dict[str, Any]:
    """onnxruntime sessions of the artifact's float model per task, where onnx and
    onnxruntime are installed and the artifact has the graph (checked when it was loaded)."""
    if not can_check():
        return {}
    try:
        import onnxruntime
    except ImportError:
        return {}
    sessions = {}
    for task in accelerator.manifest.tasks:
        graph = accelerator.artifact.onnx_model(task)
        if graph is None:
            continue
        try:
            sessions[task] = onnxruntime.InferenceSession(
                graph, providers=["CPUExecutionProvider"])
        except Exception as err:  # onnxruntime's own error kinds
            raise ArtifactError(f"onnxruntime cannot load model_{task}.onnx: "
                                f"{str(err).splitlines()[0]}") from None
    return sessions


def _vector_index(vectors: np.ndarray, image: np.ndarray) -> int | None:
    return next((i for i, vector in enumerate(vectors) if np.array_equal(vector, image)), None)


def validate(accelerator: Accelerator, images: np.ndarray, tasks: list[str] | None = None,
             progress: bool = False, bounds: Bounds = Bounds()) -> list[ImageCheck]:
    """Each image through the board once per task, compared with ``simulate``, with the
    golden vectors where the image is one, and with the float model where it exists.

    Images run one at a time with the task changing between runs, as a multi-task
    deployment switches, so a weight reload on a task switch would show in
    ``accelerator.weight_loads``.
    """
    artifact, manifest = accelerator.artifact, accelerator.manifest
    simulator = Simulator.from_manifest(manifest, artifact.weights())
    models = _float_models(accelerator)
    vectors = artifact.vector_images()
    tasks = list(tasks or manifest.tasks)
    golden = {task: artifact.golden_tokens(task) for task in tasks}
    checks = []
    runs = [(index, task) for index in range(len(images)) for task in tasks]
    for index, task in tqdm(runs, desc="validate", unit="run", disable=not progress):
        image = images[index]
        result = accelerator.run(image, task)
        expected = simulator.run(image, task).tokens.raw
        difference = first_difference(expected, result.raw[0])
        vector = _vector_index(vectors, image)
        matches_golden = None if vector is None else bool(
            np.array_equal(golden[task][vector], result.raw[0]))
        comparison = None
        if task in models:
            board = accelerator.predict(result)[0]
            pixels = image.transpose(2, 0, 1)[None].astype(np.float32) / 255.0
            reference = models[task].run(None, {"images": pixels})[0][0]
            comparison = compare_with_float(task, board, reference, bounds)
        checks.append(ImageCheck(task, index, difference is None, difference, matches_golden,
                                 comparison))
    return checks
