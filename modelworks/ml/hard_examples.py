"""Hard examples: which auto labels a person should look at first, and why (``@modelarts:hard*``).

Each predicted sample gets a coefficient in [0, 1]: one minus a weighted mean of how much the evidence
agrees with its predicted class --

    the classifier's (calibrated) confidence                                          weight 2
    the share of its nearest neighbours (human labels, other predictions) in that class   weight 1
    a second model's probability of that class (the accurate model's prior), if given  weight 1
    the mean probability of that class on augmented copies, where computed        ``augmentation_weight``

-- raised by large offsets of its image quality from the training images. The highest coefficients,
at most ``max_fraction`` of the samples, are flagged hard. Reasons use the reference's numbering
(:data:`HARD_REASONS`): each hard sample lists every check it fails, or 1 when it fails none and is
hard only on the weighed evidence.

``augmentation_weight`` defaults to 0: on Fashion-MNIST the augmented predictions did not improve the
ranking (confidence and neighbourhood already carry it), so augmentations only explain (reasons
19-22) and need computing for the flagged samples alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Self

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.neighbors import NearestNeighbors

from modelworks.ml.quality import QUALITY_COLUMNS

_OFFSET = "There is a large offset between {} and the feature distribution of the training dataset."
_AUGMENTED = (
    "The data augmentation result based on {} is inconsistent "
    "with the prediction result of the original image."
)

HARD_REASONS: dict[int, str] = {
    0: "No object is identified.",
    1: "The confidence is low.",
    2: "The clustering result based on the training dataset is inconsistent with the prediction result.",
    3: "The prediction result is greatly different from the data of the same type in the training dataset.",
    4: "The prediction results of multiple consecutive similar images are inconsistent.",
    5: _OFFSET.format("the image resolution"),
    6: _OFFSET.format("the aspect ratio of the image"),
    7: _OFFSET.format("the brightness of the image"),
    8: _OFFSET.format("the saturation of the image"),
    9: _OFFSET.format("the color richness of the image"),
    10: _OFFSET.format("the definition of the image"),
    11: _OFFSET.format("the number of frames of the image"),
    12: _OFFSET.format("the standard deviation of area of image frames"),
    13: _OFFSET.format("the aspect ratio of image frames"),
    14: _OFFSET.format("the area portion of image frames"),
    15: _OFFSET.format("the edge of image frames"),
    16: _OFFSET.format("the brightness of image frames"),
    17: _OFFSET.format("the definition of image frames"),
    18: _OFFSET.format("the stack of image frames"),
    19: _AUGMENTED.format("GaussianBlur"),
    20: _AUGMENTED.format("fliplr"),
    21: _AUGMENTED.format("Crop"),
    22: _AUGMENTED.format("flipud"),
}
"""The reasons Modelworks gives (the reference lists 0-30). 11-18 concern the boxes ("frames") of object
detection and are given by :mod:`modelworks.ml.detection.hard`."""

QUALITY_REASONS: dict[str, int] = dict(zip(QUALITY_COLUMNS, range(5, 11), strict=True))
"""Quality column -> reason (resolution 5 ... sharpness 10)."""
AUGMENTATION_REASONS: dict[str, int] = {"GaussianBlur": 19, "fliplr": 20, "Crop": 21, "flipud": 22}
"""Augmentation (``modelworks.ml.images.AUGMENTATIONS``) -> reason."""


@dataclass(frozen=True)
class HardExamples:
    """Per predicted sample: ``hard`` flags, ``coefficient`` in [0, 1], ``reasons`` (empty unless hard)."""

    hard: np.ndarray
    coefficient: np.ndarray
    reasons: list[list[int]]

    def reasons_text(self, index: int) -> str:
        """The reasons as ``@modelarts:hard_reasons`` writes them: IDs joined by hyphens, e.g. ``"1-20"``."""
        return "-".join(str(r) for r in self.reasons[index])


class HardExampleMiner(BaseEstimator):
    """Learns the training distribution in ``fit`` (embeddings, labels, quality) and scores predictions.

    ``quality_z`` is the robust z-score (median/MAD) beyond which a quality measure is "a large offset";
    ``distance_quantile`` the share of training samples whose nearest same-class neighbour is closer
    than what counts as "greatly different" (reason 3). With ``confidence_scope`` ``(low, high)`` only
    samples whose confidence lies in that range may be flagged.
    """

    def __init__(
        self,
        max_fraction: float = 0.25,
        n_neighbors: int = 10,
        low_confidence: float = 0.6,
        quality_z: float = 4.0,
        distance_quantile: float = 0.95,
        min_coefficient: float = 0.05,
        augmentation_weight: float = 0.0,
        confidence_scope: tuple[float, float] | None = None,
    ):
        self.max_fraction = max_fraction
        self.n_neighbors = n_neighbors
        self.low_confidence = low_confidence
        self.quality_z = quality_z
        self.distance_quantile = distance_quantile
        self.min_coefficient = min_coefficient
        self.augmentation_weight = augmentation_weight
        self.confidence_scope = confidence_scope

    def fit(self, X: np.ndarray, y: np.ndarray, quality: np.ndarray | None = None) -> Self:
        """Learn from the classifier's training rows ``X``, labels ``y`` and their quality measures."""
        self.classes_, self.targets_ = np.unique(np.asarray(y), return_inverse=True)
        self.X_ = np.asarray(X)
        self.class_index_: dict[int, NearestNeighbors] = {}
        self.distance_threshold_ = np.full(len(self.classes_), np.inf)
        for c in range(len(self.classes_)):
            rows = self.X_[self.targets_ == c]
            self.class_index_[c] = NearestNeighbors(n_neighbors=1).fit(rows)
            if len(rows) > 2:
                # Each training sample's distance to its nearest other sample of the class.
                distances, _ = NearestNeighbors(n_neighbors=2).fit(rows).kneighbors(rows)
                self.distance_threshold_[c] = float(np.quantile(distances[:, 1], self.distance_quantile))
        self.quality_centre_: np.ndarray | None = None
        if quality is not None and len(quality):
            self.quality_centre_ = np.median(quality, axis=0)
            spread = 1.4826 * np.median(np.abs(quality - self.quality_centre_), axis=0)
            fallback = quality.std(axis=0)
            self.quality_spread_ = np.where(spread > 0, spread, fallback)
        return self

    def score(
        self,
        proba: np.ndarray,
        X: np.ndarray,
        quality: np.ndarray | None = None,
        augmented_proba: Mapping[str, np.ndarray] | None = None,
        second_opinion: np.ndarray | None = None,
    ) -> HardExamples:
        """Score predictions: ``proba`` over ``classes_`` (as the classifier gave them) for rows ``X``.

        ``augmented_proba`` maps an augmentation name (:data:`AUGMENTATION_REASONS`) to the classifier's
        probabilities for the augmented copies, with rows of NaN where a sample was not augmented.
        ``second_opinion``: another model's probabilities for the same rows and classes.
        """
        n = len(proba)
        rows = np.arange(n)
        predicted = proba.argmax(axis=1)
        confidence = proba[rows, predicted]
        agreement = self._neighbour_agreement(X, predicted)
        fired: dict[int, np.ndarray] = {
            1: confidence < self.low_confidence,
            2: agreement < 0.5,
            3: self._far_from_class(X, predicted),
        }
        total = 2.0 * confidence + agreement
        weight = np.full(n, 3.0)
        if second_opinion is not None:
            total += second_opinion[rows, predicted]
            weight += 1.0
        aug_sum, aug_count = np.zeros(n), np.zeros(n)
        for name, aug in (augmented_proba or {}).items():
            done = ~np.isnan(aug).any(axis=1)
            aug_sum[done] += aug[done, predicted[done]]
            aug_count[done] += 1
            fired[AUGMENTATION_REASONS[name]] = done & (
                np.nan_to_num(aug, nan=-1.0).argmax(axis=1) != predicted
            )
        has_aug = aug_count > 0
        if self.augmentation_weight > 0:
            total[has_aug] += self.augmentation_weight * aug_sum[has_aug] / aug_count[has_aug]
            weight[has_aug] += self.augmentation_weight
        coefficient = 1.0 - total / weight
        if quality is not None and self.quality_centre_ is not None:
            excess = self._quality_excess(quality, fired)
            coefficient = coefficient + 0.25 * np.minimum(excess, 1.0)
        coefficient = np.clip(coefficient, 0.0, 1.0)
        hard = self._flag(coefficient, confidence)
        reasons: list[list[int]] = []
        for i in range(n):
            found = sorted(r for r, mask in fired.items() if mask[i]) if hard[i] else []
            reasons.append(found or ([1] if hard[i] else []))
        return HardExamples(hard=hard, coefficient=coefficient, reasons=reasons)

    def _neighbour_agreement(self, X: np.ndarray, predicted: np.ndarray) -> np.ndarray:
        """Share of each row's neighbours, among training rows and the other predictions, in its class."""
        pool = np.vstack([self.X_, X])
        labels = np.concatenate([self.targets_, predicted])
        k = min(self.n_neighbors + 1, len(pool))
        _, indices = NearestNeighbors(n_neighbors=k).fit(pool).kneighbors(X)
        own = np.arange(len(self.X_), len(pool))
        others = indices != own[:, None]  # leave the row itself out
        same = (labels[indices] == predicted[:, None]) & others
        return same.sum(axis=1) / np.maximum(others.sum(axis=1), 1)

    def _far_from_class(self, X: np.ndarray, predicted: np.ndarray) -> np.ndarray:
        far = np.zeros(len(X), dtype=bool)
        for c, index in self.class_index_.items():
            members = np.flatnonzero(predicted == c)
            if len(members):
                distances, _ = index.kneighbors(X[members])
                far[members] = distances[:, 0] > self.distance_threshold_[c]
        return far

    def _quality_excess(self, quality: np.ndarray, fired: dict[int, np.ndarray]) -> np.ndarray:
        """How far past ``quality_z`` the worst measure of each row is, in units of ``quality_z``."""
        assert self.quality_centre_ is not None
        offset = np.abs(quality - self.quality_centre_)
        varied = self.quality_spread_ > 0
        z = np.where(varied, offset / np.where(varied, self.quality_spread_, 1.0), 0.0)
        # A measure that never varied in training is "a large offset" as soon as it differs at all.
        z = np.where(~varied & (offset > 1e-9), np.inf, z)
        for column, reason in QUALITY_REASONS.items():
            fired[reason] = z[:, QUALITY_COLUMNS.index(column)] > self.quality_z
        excess = (z.max(axis=1) - self.quality_z) / self.quality_z
        return np.clip(excess, 0.0, None)

    def _flag(self, coefficient: np.ndarray, confidence: np.ndarray) -> np.ndarray:
        eligible = coefficient >= self.min_coefficient
        if self.confidence_scope is not None:
            low, high = self.confidence_scope
            eligible &= (confidence >= low) & (confidence <= high)
        budget = int(np.floor(self.max_fraction * len(coefficient)))
        order = np.argsort(-coefficient, kind="stable")
        hard = np.zeros(len(coefficient), dtype=bool)
        chosen = order[eligible[order]][:budget]
        hard[chosen] = True
        return hard


def augmentation_candidates(coefficient: np.ndarray, fraction: float) -> np.ndarray:
    """Indices of the ``fraction`` of samples with the highest coefficients: those worth augmenting."""
    count = int(np.ceil(fraction * len(coefficient)))
    return np.sort(np.argsort(-coefficient, kind="stable")[:count])
