"""Dense-prediction metrics, accumulated over a data set (numpy only: runs on the board).

Segmentation: per-class IoU from one confusion matrix over all pixels (the usual
definition: a class's IoU is TP / (TP + FP + FN) summed over the set, mIoU averages the
classes that occur in the ground truth or the predictions), and pixel accuracy.
Depth: RMSE and mean absolute relative error over pixels with known depth (> 0).
Normals: the angle between predicted and true unit normals over pixels with a normal,
its mean, median and the share within 11.25 degrees. Edges: the F-measure at the best
single threshold over the set (ODS), pixel for pixel (M3ViT's seism evaluation also
matches edges within a small distance, so it reads higher). Saliency: the best F-measure
(beta^2 = 0.3) over thresholds, and the IoU at 0.5.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

IGNORE_LABEL = 255
#: Probability thresholds the binary tasks' F-measures are taken at.
THRESHOLDS = np.linspace(0.01, 0.99, 99)
ANGLE_BINS = 1800  # the normals' angle histogram: 0.1 degree bins


class Meter(Protocol):
    def update(self, prediction: np.ndarray, truth: np.ndarray) -> None: ...

    def summary(self) -> dict[str, float]: ...


def _same_shape(prediction: np.ndarray, truth: np.ndarray) -> None:
    if prediction.shape != truth.shape:
        raise ValueError(f"prediction {prediction.shape} and truth {truth.shape} differ")


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


class NormalsMeter:
    """Angles in a histogram of 0.1 degree bins (the median is read from it)."""

    def __init__(self) -> None:
        self.histogram = np.zeros(ANGLE_BINS, dtype=np.int64)
        self.angle_sum = 0.0

    def update(self, prediction: np.ndarray, truth: np.ndarray) -> None:
        """Unit normals (..., 3, H, W); a true normal of length 0 is unknown."""
        prediction, truth = np.asarray(prediction, np.float64), np.asarray(truth, np.float64)
        _same_shape(prediction, truth)
        known = np.sum(truth**2, axis=-3) > 0.25
        cosine = np.clip(np.sum(prediction * truth, axis=-3), -1.0, 1.0)[known]
        angles = np.degrees(np.arccos(cosine))
        self.angle_sum += float(angles.sum())
        self.histogram += np.bincount(np.minimum((angles * 10).astype(np.int64), ANGLE_BINS - 1),
                                      minlength=ANGLE_BINS)

    def summary(self) -> dict[str, float]:
        count = int(self.histogram.sum())
        if not count:
            return dict.fromkeys(("mean_angle", "median_angle", "within_11_25"), float("nan"))
        cumulative = np.cumsum(self.histogram)
        median = (int(np.searchsorted(cumulative, count / 2)) + 0.5) / 10
        return {"mean_angle": self.angle_sum / count, "median_angle": median,
                "within_11_25": float(cumulative[int(11.25 * 10) - 1] / count)}


class _BinaryCounts:
    """True and false positives and negatives at every threshold, over a set."""

    def __init__(self) -> None:
        self.true_positive = np.zeros(len(THRESHOLDS))
        self.predicted = np.zeros(len(THRESHOLDS))
        self.positive = 0.0

    def update(self, prediction: np.ndarray, truth: np.ndarray) -> None:
        """Probabilities and 0/1 truth (``IGNORE_LABEL`` where unknown)."""
        prediction, truth = np.asarray(prediction, np.float64), np.asarray(truth)
        _same_shape(prediction, truth)
        known = truth != IGNORE_LABEL
        scores, positive = prediction[known], truth[known] == 1
        order = np.argsort(scores)
        sorted_scores, sorted_positive = scores[order], positive[order]
        above = len(scores) - np.searchsorted(sorted_scores, THRESHOLDS, side="left")
        positives_above = np.concatenate([np.cumsum(sorted_positive[::-1])[::-1], [0]])
        first = np.searchsorted(sorted_scores, THRESHOLDS, side="left")
        self.true_positive += positives_above[first]
        self.predicted += above
        self.positive += float(positive.sum())

    def f_measure(self, beta_squared: float) -> np.ndarray:
        precision = self.true_positive / np.maximum(self.predicted, 1)
        recall = self.true_positive / max(self.positive, 1)
        return ((1 + beta_squared) * precision * recall
                / np.maximum(beta_squared * precision + recall, 1e-12))


class EdgeMeter(_BinaryCounts):
    def summary(self) -> dict[str, float]:
        return {"ods_f": float(self.f_measure(1.0).max())}


class SaliencyMeter(_BinaryCounts):
    def summary(self) -> dict[str, float]:
        half = int(np.argmin(np.abs(THRESHOLDS - 0.5)))
        union = self.predicted[half] + self.positive - self.true_positive[half]
        return {"max_f": float(self.f_measure(0.3).max()),
                "iou": float(self.true_positive[half] / max(union, 1))}

