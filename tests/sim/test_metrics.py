"""Metrics on hand-made maps whose mIoU, accuracy, RMSE and abs-rel are known."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edgemoe.sim.metrics import DepthMeter, SegmentationMeter


def test_miou_and_pixel_accuracy_of_a_known_map() -> None:
    truth = np.array([[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 2, 2]])
    guess = np.array([[0, 0, 0, 1], [0, 0, 1, 1], [2, 2, 1, 1]])
    meter = SegmentationMeter(classes=4)
    meter.update(guess, truth)
    # class 0: TP 4, FP 1 -> 4/5; class 1: TP 3, FP 2, FN 1 -> 3/6; class 2: TP 2, FN 2 -> 2/4
    assert np.allclose(meter.class_iou()[:3], [0.8, 0.5, 0.5])
    assert math.isnan(meter.class_iou()[3])  # absent everywhere: not averaged
    assert meter.miou == pytest.approx(0.6)
    assert meter.pixel_accuracy == pytest.approx(9 / 12)


def test_ignored_pixels_count_nowhere_and_batches_accumulate() -> None:
    meter = SegmentationMeter(classes=2)
    meter.update(np.array([0, 1, 1]), np.array([0, 1, 255]))
    meter.update(np.array([1]), np.array([0]))
    assert meter.confusion.tolist() == [[1, 1], [0, 1]]


def test_labels_out_of_range_are_refused() -> None:
    with pytest.raises(ValueError, match="below 3"):
        SegmentationMeter(classes=3).update(np.array([3]), np.array([0]))


def test_rmse_and_abs_rel_of_known_depths() -> None:
    meter = DepthMeter()
    meter.update(np.array([1.0, 3.0, 5.0, 7.0]), np.array([2.0, 3.0, 4.0, 0.0]))
    # errors -1, 0, 1 on known pixels (depth 0 is unknown)
    assert meter.rmse == pytest.approx(math.sqrt(2 / 3))
    assert meter.abs_rel == pytest.approx((0.5 + 0 + 0.25) / 3)
