"""Dense-prediction metrics, accumulated over a data set (numpy only: runs on the board).

Segmentation: per-class IoU from one confusion matrix over all pixels (the usual
definition: a class's IoU is TP / (TP + FP + FN) summed over the set, mIoU averages the
classes that occur in the ground truth or the predictions), and pixel accuracy.
Depth: RMSE and mean absolute relative error over pixels with known depth (> 0).
"""

from __future__ import annotations

import numpy as np

IGNORE_LABEL = 255


class SegmentationMeter:
    def __init__(self, classes: int) -> None:
        self.classes = classes
        self.confusion = np.zeros((classes, classes), dtype=np.int64)  # [truth, prediction]

    def update(self, prediction: np.ndarray, truth: np.ndarray) -> None:
        prediction, truth = np.asarray(prediction), np.asarray(truth)
        if prediction.shape != truth.shape:
            raise ValueError(f"prediction {prediction.shape} and truth {truth.shape} differ")
        keep = truth != IGNORE_LABEL
        truth, prediction = truth[keep].astype(np.int64), prediction[keep].astype(np.int64)
        if truth.size and (truth.max() >= self.classes or prediction.max() >= self.classes
                           or min(truth.min(), prediction.min()) < 0):
            raise ValueError(f"labels must be class ids below {self.classes} (or "
                             f"{IGNORE_LABEL} = unlabelled)")
        self.confusion += np.bincount(truth * self.classes + prediction,
                                      minlength=self.classes**2).reshape(self.classes, -1)

    def class_iou(self) -> np.ndarray:
        """IoU per class; NaN for a class absent from both truth and predictions."""
        true_positive = np.diag(self.confusion).astype(np.float64)
        union = self.confusion.sum(0) + self.confusion.sum(1) - true_positive
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(union > 0, true_positive / union, np.nan)

    @property
    def miou(self) -> float:
        return float(np.nanmean(self.class_iou()))

    @property
    def pixel_accuracy(self) -> float:
        total = self.confusion.sum()
        return float(np.trace(self.confusion) / total) if total else float("nan")

    def summary(self) -> dict[str, float]:
        return {"miou": self.miou, "pixel_accuracy": self.pixel_accuracy}


class DepthMeter:
    def __init__(self) -> None:
        self.squared_error = 0.0
        self.relative_error = 0.0
        self.pixels = 0

    def update(self, prediction: np.ndarray, truth: np.ndarray) -> None:
        prediction, truth = np.asarray(prediction, np.float64), np.asarray(truth, np.float64)
        if prediction.shape != truth.shape:
            raise ValueError(f"prediction {prediction.shape} and truth {truth.shape} differ")
        known = truth > 0
        error = prediction[known] - truth[known]
        self.squared_error += float(np.sum(error**2))
        self.relative_error += float(np.sum(np.abs(error) / truth[known]))
        self.pixels += int(known.sum())

    @property
    def rmse(self) -> float:
        return float(np.sqrt(self.squared_error / self.pixels)) if self.pixels else float("nan")

    @property
    def abs_rel(self) -> float:
        return self.relative_error / self.pixels if self.pixels else float("nan")

    def summary(self) -> dict[str, float]:
        return {"rmse": self.rmse, "abs_rel": self.abs_rel}
