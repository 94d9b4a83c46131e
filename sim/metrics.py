"""Dense-prediction metrics, accumulated over a data set (numpy only: runs on the board).

Segmentation: per-class IoU from one confusion matrix over all pixels (the usual
definition: a class's IoU is TP / (TP + FP + FN) summed over the set, mIoU averages the
classes that occur in the ground truth or the predictions), and pixel accuracy.
Depth: RMSE and mean absolute relative error over pixels with known depth (> 0).
Normals: the angle between predicted and true unit normals over pixels with a normal,
its mean, median and the share within 11.25 degrees. Edges: the F-measure at the best
single threshold over the set (ODS), pixel for pixel (M3ViT's seism evaluation also
matches edges within a small distance, so it reads higher). Saliency, as M3ViT's
evaluation: per image the precision, recall and IoU at 15 thresholds from 0.2 to 0.9,
averaged over the images; the best F-measure of the mean precision and recall, and the
best mean IoU. Human parts, as M3ViT's: IoU of background and the six parts over the images
that show a person, averaged over all seven.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

IGNORE_LABEL = 255
#: Probability thresholds the edges' F-measure is taken at, and the saliency's (M3ViT's).
THRESHOLDS = np.linspace(0.01, 0.99, 99)
SALIENCY_THRESHOLDS = np.linspace(0.2, 0.9, 15)
ANGLE_BINS = 1800  # the normals' angle histogram: 0.1 degree bins
#: A true normal is known where its squared length exceeds this (unknown ones are 0).
KNOWN_NORMAL = 0.25


def normal_angles(prediction: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Degrees between unit normals (..., 3, H, W) at every pixel."""
    cosine = np.clip(np.sum(prediction * truth, axis=-3), -1.0, 1.0)
    return np.degrees(np.arccos(cosine))


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
        self.within = 0  # angles below 11.25 degrees, counted exactly

    def update(self, prediction: np.ndarray, truth: np.ndarray) -> None:
        """Unit normals (..., 3, H, W); a true normal of length 0 is unknown."""
        prediction, truth = np.asarray(prediction, np.float64), np.asarray(truth, np.float64)
        _same_shape(prediction, truth)
        known = np.sum(truth**2, axis=-3) > KNOWN_NORMAL
        angles = normal_angles(prediction, truth)[known]
        self.angle_sum += float(angles.sum())
        self.within += int(np.count_nonzero(angles < 11.25))
        self.histogram += np.bincount(np.minimum((angles * 10).astype(np.int64), ANGLE_BINS - 1),
                                      minlength=ANGLE_BINS)

    def summary(self) -> dict[str, float]:
        count = int(self.histogram.sum())
        if not count:
            return dict.fromkeys(("mean_angle", "median_angle", "within_11_25"), float("nan"))
        cumulative = np.cumsum(self.histogram)
        median = (int(np.searchsorted(cumulative, count / 2)) + 0.5) / 10
        return {"mean_angle": self.angle_sum / count, "median_angle": median,
                "within_11_25": self.within / count}


class EdgeMeter:
    """True positives, predictions and positives at every threshold, over the set."""

    def __init__(self) -> None:
        self.true_positive = np.zeros(len(THRESHOLDS))
        self.predicted = np.zeros(len(THRESHOLDS))
        self.positive = 0.0

    def update(self, prediction: np.ndarray, truth: np.ndarray) -> None:
        """Probabilities and 0/1 truth (``IGNORE_LABEL`` where unknown)."""
        prediction, truth = np.asarray(prediction, np.float64), np.asarray(truth)
        _same_shape(prediction, truth)
        known = truth != IGNORE_LABEL
        order = np.argsort(prediction[known], kind="stable")
        scores, ordered = prediction[known][order], (truth[known] == 1)[order]
        first = np.searchsorted(scores, THRESHOLDS, side="left")  # the first score >= t
        positives_from = np.concatenate([np.cumsum(ordered[::-1])[::-1], [0]])
        self.true_positive += positives_from[first]
        self.predicted += len(scores) - first
        self.positive += float(ordered.sum())

    def summary(self) -> dict[str, float]:
        precision = self.true_positive / np.maximum(self.predicted, 1)
        recall = self.true_positive / max(self.positive, 1)
        f = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
        return {"ods_f": float(f.max())}


class SaliencyMeter:
    """Per image and threshold: precision, recall and IoU, summed over the images."""

    def __init__(self) -> None:
        self.precision = np.zeros(len(SALIENCY_THRESHOLDS))
        self.recall = np.zeros(len(SALIENCY_THRESHOLDS))
        self.iou = np.zeros(len(SALIENCY_THRESHOLDS))
        self.images = 0

    def update(self, prediction: np.ndarray, truth: np.ndarray) -> None:
        """Probabilities and 0/1 truth, (H, W) or (N, H, W)."""
        prediction, truth = np.asarray(prediction, np.float64), np.asarray(truth)
        _same_shape(prediction, truth)
        predictions = prediction.reshape(-1, *prediction.shape[-2:])
        truths = truth.reshape(-1, *truth.shape[-2:]) == 1
        for scores, salient in zip(predictions, truths, strict=True):
            masks = scores[None] > SALIENCY_THRESHOLDS[:, None, None]
            hit = (masks & salient).sum(axis=(1, 2))
            found, present = masks.sum(axis=(1, 2)), salient.sum()
            union = (masks | salient).sum(axis=(1, 2))
            self.precision += hit / (found + 1e-12)
            self.recall += hit / (present + 1e-12)
            self.iou += np.where(union > 0, hit / np.maximum(union, 1), 1.0)  # both empty: 1
            self.images += 1

    def summary(self) -> dict[str, float]:
        if not self.images:
            return {"max_f": float("nan"), "iou": float("nan")}
        precision, recall = self.precision / self.images, self.recall / self.images
        f = 2 * precision * recall / (precision + recall + 1e-12)
        return {"max_f": float(f.max()), "iou": float((self.iou / self.images).max())}


class PartsMeter(SegmentationMeter):
    """Human parts: only images showing a person count; every class's IoU is averaged
    (0 for one never seen nor predicted), as M3ViT's evaluation does."""

    def update(self, prediction: np.ndarray, truth: np.ndarray) -> None:
        prediction, truth = np.asarray(prediction), np.asarray(truth)
        _same_shape(prediction, truth)
        predictions = prediction.reshape(-1, *prediction.shape[-2:])
        truths = truth.reshape(-1, *truth.shape[-2:])
        for guess, parts in zip(predictions, truths, strict=True):
            if ((parts > 0) & (parts != IGNORE_LABEL)).any():
                super().update(guess, parts)

    @property
    def miou(self) -> float:
        return float(np.mean(np.nan_to_num(self.class_iou(), nan=0.0)))
