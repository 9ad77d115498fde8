"""Hard examples of object detection: which auto-labeled images a person should look at first, and why.

Each predicted image gets a coefficient in [0, 1], from how likely it holds a wrong box or misses one:

    max(kept_weight x (1 - the lowest score of its boxes),                  no box at all: 1
        the highest objectness among its near misses (peaks scoring under the threshold))
    + 0.25 x how far its worst measure lies past the offset threshold       (capped at 0.25)

On the generated Fashion-MNIST detection set (40 % of the images with a wrong or a missing box)
this ranks the images with errors first with an ROC AUC of about 0.73; the mean score, or doubt as
closeness to 0.5, rank worse (0.59, 0.45), as the scores of right boxes spread widely.

Measures are compared with the human boxes of the labeled images by robust z-scores (median, MAD):
the image's quality (reasons 5-10, :mod:`modelworks.ml.quality`) and its boxes (reasons 11-18, the
reference's "image frames"):

    11 number of boxes          15 edge: the box's distance to the image border, / the shorter side
                                   (our reading of the reference's "edge of image frames")
    12 spread of box areas      16 brightness: mean luma inside the box
    13 box aspect ratio         17 definition: Laplacian variance of the luma inside the box
    14 box area / image area    18 stack: the box's largest IoU with another box of the image

The highest coefficients, at most ``max_fraction`` of the images, are flagged hard. Reasons: 0 when
nothing was found, 1 when a box or a near miss is doubtful, each offset measure, and 19-22 when the
detections on an augmented copy (where computed) do not match those of the original.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Self

import numpy as np
from PIL import Image
from sklearn.base import BaseEstimator

from modelworks.ml.detection.boxes import areas, iou_matrix
from modelworks.ml.hard_examples import AUGMENTATION_REASONS, QUALITY_REASONS
from modelworks.ml.quality import QUALITY_COLUMNS, laplacian_variance

BOX_REASONS: dict[str, int] = {
    "count": 11,
    "area_spread": 12,
    "aspect_ratio": 13,
    "area_portion": 14,
    "edge": 15,
    "brightness": 16,
    "definition": 17,
    "stack": 18,
}
"""Box measure -> hard reason (the reference's 11-18)."""
_PER_BOX = ("aspect_ratio", "area_portion", "edge", "brightness", "definition", "stack")


@dataclass
class BoxMeasures:
    """Per image, the measures of its boxes: ``images`` ``(n, 2)`` count and area spread, and for
    each image a ``(k, 6)`` array of per-box measures (columns as ``_PER_BOX``)."""

    images: np.ndarray
    boxes: list[np.ndarray]

    @staticmethod
    def concatenate(parts: Sequence[BoxMeasures]) -> BoxMeasures:
        images = [p.images for p in parts]
        return BoxMeasures(
            np.vstack(images) if images else np.zeros((0, 2)), [b for p in parts for b in p.boxes]
        )


def measure_boxes(images: Sequence[Image.Image], boxes: Sequence[np.ndarray]) -> BoxMeasures:
    """The measures of each image's ``(k, 4)`` xyxy pixel boxes (logarithms where sizes multiply)."""
    per_image = np.zeros((len(images), 2))
    per_box = []
    for i, (image, found) in enumerate(zip(images, boxes, strict=True)):
        width, height = image.size
        portion = areas(found) / max(width * height, 1)
        per_image[i] = (len(found), float(np.sqrt(portion).std()) if len(found) > 1 else 0.0)
        luma = np.asarray(image.convert("L"), dtype=np.float32)
        rows = np.zeros((len(found), len(_PER_BOX)))
        overlaps = iou_matrix(found, found) - np.eye(len(found))
        for k, (x0, y0, x1, y1) in enumerate(found):
            w, h = max(float(x1 - x0), 1.0), max(float(y1 - y0), 1.0)
            edge = min(x0, y0, width - x1, height - y1) / max(min(width, height), 1)
            patch = luma[int(max(y0, 0)) : int(np.ceil(y1)), int(max(x0, 0)) : int(np.ceil(x1))]
            brightness = float(patch.mean()) if patch.size else 0.0
            sharpness = laplacian_variance(patch) if patch.size else 0.0
            stack = float(overlaps[k].max()) if len(found) > 1 else 0.0
            rows[k] = (np.log(w / h), np.log(portion[k] + 1e-6), edge, brightness, np.log1p(sharpness), stack)
        per_box.append(rows)
    return BoxMeasures(per_image, per_box)


@dataclass(frozen=True)
class HardDetections:
    """Per image: ``hard`` flags, ``coefficient`` in [0, 1], ``reasons`` (empty unless hard)."""

    hard: np.ndarray
    coefficient: np.ndarray
    reasons: list[list[int]]


class _Robust:
    """Median and robust spread of the columns of training rows; z-scores of new rows."""

    def __init__(self, rows: np.ndarray) -> None:
        self.centre = np.median(rows, axis=0) if len(rows) else np.zeros(rows.shape[1])
        spread = 1.4826 * np.median(np.abs(rows - self.centre), axis=0) if len(rows) else self.centre
        fallback = rows.std(axis=0) if len(rows) else self.centre
        self.spread = np.where(spread > 0, spread, fallback)

    def z(self, rows: np.ndarray) -> np.ndarray:
        offset = np.abs(rows - self.centre)
        varied = self.spread > 0
        z = np.where(varied, offset / np.where(varied, self.spread, 1.0), 0.0)
        # A measure that never varied in training is "a large offset" as soon as it differs at all.
        return np.asarray(np.where(~varied & (offset > 1e-9), np.inf, z))


class DetectionHardExampleMiner(BaseEstimator):
    """Learns the labeled images' quality and box measures in ``fit``; scores detections in ``score``.

    ``offset_z`` is the robust z-score beyond which a measure is "a large offset"; a box scoring below
    ``low_confidence``, or a near miss with an objectness of at least ``doubtful_objectness``, makes
    reason 1. With ``confidence_scope`` ``(low, high)`` only images whose lowest box score lies in that
    range (0 without boxes) may be flagged.
    """

    def __init__(
        self,
        max_fraction: float = 0.25,
        kept_weight: float = 0.4,
        low_confidence: float = 0.4,
        doubtful_objectness: float = 0.3,
        offset_z: float = 4.0,
        min_coefficient: float = 0.05,
        confidence_scope: tuple[float, float] | None = None,
    ):
        self.max_fraction = max_fraction
        self.kept_weight = kept_weight
        self.low_confidence = low_confidence
        self.doubtful_objectness = doubtful_objectness
        self.offset_z = offset_z
        self.min_coefficient = min_coefficient
        self.confidence_scope = confidence_scope

    def fit(self, quality: np.ndarray, measures: BoxMeasures) -> Self:
        """Learn from the labeled images' quality rows and the measures of their human boxes."""
        self.quality_ = _Robust(quality)
        self.images_ = _Robust(measures.images)
        boxes = [b for b in measures.boxes if len(b)]
        self.boxes_ = _Robust(np.vstack(boxes) if boxes else np.zeros((0, len(_PER_BOX))))
        return self

    def score(
        self,
        scores: Sequence[np.ndarray],
        near_misses: Sequence[np.ndarray],
        quality: np.ndarray,
        measures: BoxMeasures,
        inconsistent: Mapping[str, np.ndarray] | None = None,
    ) -> HardDetections:
        """Score each image from its box ``scores``, the objectness of its ``near_misses`` (peaks below
        the score threshold), its quality row and box measures; ``inconsistent`` maps an augmentation
        (:data:`~modelworks.ml.hard_examples.AUGMENTATION_REASONS`) to per-image flags."""
        n = len(scores)
        confidence = np.zeros(n)
        base = np.ones(n)
        fired: dict[int, np.ndarray] = {r: np.zeros(n, dtype=bool) for r in (0, 1)}
        for i in range(n):
            if len(scores[i]):
                confidence[i] = float(np.min(scores[i]))
                missed = float(np.max(near_misses[i], initial=0.0))
                base[i] = max(self.kept_weight * (1 - confidence[i]), missed)
            fired[0][i] = len(scores[i]) == 0
            fired[1][i] = (len(scores[i]) > 0 and confidence[i] < self.low_confidence) or bool(
                np.any(near_misses[i] >= self.doubtful_objectness)
            )
        z = np.zeros(n)
        quality_z = self.quality_.z(quality)
        for column, reason in QUALITY_REASONS.items():
            fired[reason] = quality_z[:, QUALITY_COLUMNS.index(column)] > self.offset_z
        z = np.maximum(z, quality_z.max(axis=1, initial=0.0))
        image_z = self.images_.z(measures.images)
        for k, name in enumerate(("count", "area_spread")):
            fired[BOX_REASONS[name]] = image_z[:, k] > self.offset_z
        z = np.maximum(z, image_z.max(axis=1, initial=0.0))
        for name in _PER_BOX:
            fired[BOX_REASONS[name]] = np.zeros(n, dtype=bool)
        for i, rows in enumerate(measures.boxes):
            if len(rows):
                box_z = self.boxes_.z(rows).max(axis=0)
                for k, name in enumerate(_PER_BOX):
                    fired[BOX_REASONS[name]][i] = box_z[k] > self.offset_z
                z[i] = max(z[i], float(box_z.max()))
        for name, flags in (inconsistent or {}).items():
            fired[AUGMENTATION_REASONS[name]] = np.asarray(flags, dtype=bool)
        excess = np.clip((z - self.offset_z) / self.offset_z, 0.0, 1.0)
        coefficient = np.clip(base + 0.25 * excess, 0.0, 1.0)
        hard = self._flag(coefficient, confidence)
        reasons: list[list[int]] = []
        for i in range(n):
            found = sorted(r for r, mask in fired.items() if mask[i]) if hard[i] else []
            reasons.append(found or ([1] if hard[i] else []))
        return HardDetections(hard=hard, coefficient=coefficient, reasons=reasons)

    def _flag(self, coefficient: np.ndarray, confidence: np.ndarray) -> np.ndarray:
        eligible = coefficient >= self.min_coefficient
        if self.confidence_scope is not None:
            low, high = self.confidence_scope
            eligible &= (confidence >= low) & (confidence <= high)
        budget = int(np.floor(self.max_fraction * len(coefficient)))
        order = np.argsort(-coefficient, kind="stable")
        hard = np.zeros(len(coefficient), dtype=bool)
        hard[order[eligible[order]][:budget]] = True
        return hard
