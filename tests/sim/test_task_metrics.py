"""The tasks' metrics against hand-made cases, and the tasks' predictions from outputs."""

from __future__ import annotations

import numpy as np
import pytest

from edgemoe.sim.metrics import IGNORE_LABEL, EdgeMeter, NormalsMeter, SaliencyMeter
from edgemoe.sim.tasks import TASKS


def _unit(angle_degrees: np.ndarray) -> np.ndarray:
    """(3, N) unit vectors at ``angle_degrees`` from +z in the x-z plane."""
    radians = np.radians(angle_degrees)
    return np.stack([np.sin(radians), np.zeros_like(radians), np.cos(radians)])


def test_normals_meter_reads_angles_mean_median_and_share() -> None:
    meter = NormalsMeter()
    angles = np.array([0.0, 5.0, 10.0, 20.0, 40.0])
    truth = _unit(np.zeros(6))[..., None]  # (3, 6, 1) as (3, H, W)
    truth[:, 5] = 0  # a pixel without a normal: left out
    prediction = _unit(np.append(angles, 90.0))[..., None]
    meter.update(prediction, truth)
    got = meter.summary()
    assert got["mean_angle"] == pytest.approx(angles.mean(), abs=1e-9)
    assert got["median_angle"] == pytest.approx(10.0, abs=0.1)  # 0.1-degree bins
    assert got["within_11_25"] == pytest.approx(3 / 5)


def test_edge_f_measure_is_one_when_perfect_and_ignores_unknown_pixels() -> None:
    truth = np.array([[0, 1, 1, 0], [0, 0, 1, IGNORE_LABEL]])
    perfect = EdgeMeter()
    perfect.update(np.where(truth == 1, 0.9, 0.1), truth)
    assert perfect.summary()["ods_f"] == pytest.approx(1.0)
    half = EdgeMeter()  # finds two of the three edges and one false one, at any threshold
    half.update(np.array([[0.0, 0.8, 0.8, 0.8], [0.0, 0.0, 0.0, 0.9]]), truth)
    precision, recall = 2 / 3, 2 / 3
    assert half.summary()["ods_f"] == pytest.approx(2 * precision * recall
                                                    / (precision + recall))


def test_saliency_max_f_weights_precision_and_gives_iou_at_one_half() -> None:
    truth = np.array([[1, 1, 0, 0]])
    meter = SaliencyMeter()
    meter.update(np.array([[0.9, 0.3, 0.6, 0.1]]), truth)
    # at 0.5: one of two found, one false: precision 1/2, recall 1/2, IoU 1/3;
    # above 0.6: one found alone: precision 1, recall 1/2 -> F(0.3) = 1.3 * 0.5 / (0.3 + 0.5)
    assert meter.summary()["iou"] == pytest.approx(1 / 3)
    assert meter.summary()["max_f"] == pytest.approx(1.3 * 0.5 / 0.8)


def test_predictions_from_head_outputs() -> None:
    out = np.zeros((2, 3, 2, 2), np.float32)
    out[:, 1] = 1.0
    assert (TASKS["segmentation"].predict(out) == 1).all()
    normals = TASKS["normals"].predict(out * 5)
    assert np.allclose(np.linalg.norm(normals, axis=1), 1)
    assert TASKS["edges"].predict(out[:, :1]) == pytest.approx(0.5)
    assert [TASKS[t].channels(40) for t in TASKS] == [40, 7, 1, 3, 1, 1]
