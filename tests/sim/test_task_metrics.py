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


def test_saliency_takes_the_best_threshold_of_per_image_means_as_m3vit_does() -> None:
    meter = SaliencyMeter()
    meter.update(np.array([[0.9, 0.3, 0.6, 0.1]]), np.array([[1, 1, 0, 0]]))
    # below 0.3: both found and one false (precision 2/3, recall 1, IoU 2/3, F 0.8);
    # from 0.3: one found, one false; from 0.6: one found alone (F 2/3, IoU 1/2)
    assert meter.summary() == pytest.approx({"max_f": 0.8, "iou": 2 / 3})
    meter.update(np.zeros((1, 4)), np.zeros((1, 4)))  # nothing salient, nothing found: IoU 1
    assert meter.summary()["iou"] == pytest.approx((2 / 3 + 1) / 2)


def test_human_parts_count_only_images_with_a_person() -> None:
    meter = TASKS["human_parts"].meter(7)
    meter.update(np.zeros((1, 2, 2), np.int64), np.zeros((1, 2, 2), np.int64))  # nobody
    assert meter.confusion.sum() == 0
    meter.update(np.array([[[0, 1], [1, 2]]]), np.array([[[0, 1], [1, 1]]]))
    assert meter.summary()["miou"] == pytest.approx((1 + 2 / 3) / 7)


def test_predictions_from_head_outputs() -> None:
    out = np.zeros((2, 3, 2, 2), np.float32)
    out[:, 1] = 1.0
    assert (TASKS["segmentation"].predict(out) == 1).all()
    normals = TASKS["normals"].predict(out * 5)
    assert np.allclose(np.linalg.norm(normals, axis=1), 1)
    assert TASKS["edges"].predict(out[:, :1]) == pytest.approx(0.5)
    assert [TASKS[t].channels(40) for t in TASKS] == [40, 7, 1, 3, 1, 1]
