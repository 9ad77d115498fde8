"""Auto grouping: k-means on image embeddings, optionally with image-quality measures added.

The measures the API can ask for are ``ambiguity`` (blur: the log of the Laplacian variance),
``image_brightness`` and ``image_colorfulness``. Each requested measure is standardised (median and
MAD, so outliers do not squash the rest) and weighted against the embedding block, which is scaled to
unit total variance: with ``measure_weight`` 1 one measure counts as much as the whole embedding, so
asking for a measure visibly groups by it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.cluster import KMeans

from modelworks.ml.quality import QUALITY_COLUMNS

GROUPING_MEASURES: dict[str, str] = {
    "ambiguity": "sharpness",
    "image_brightness": "brightness",
    "image_colorfulness": "colorfulness",
}
"""API flag -> quality column it groups by."""


def grouping_features(
    embeddings: np.ndarray,
    quality: np.ndarray | None = None,
    measures: Sequence[str] = (),
    measure_weight: float = 1.0,
) -> np.ndarray:
    """The matrix k-means runs on: scaled embeddings, then one column per requested measure."""
    unknown = [m for m in measures if m not in GROUPING_MEASURES]
    if unknown:
        raise ValueError(f"unknown grouping measures {unknown}; known: {', '.join(GROUPING_MEASURES)}")
    x = np.asarray(embeddings, dtype=np.float64)
    total_sd = float(np.sqrt(x.var(axis=0).sum()))
    blocks = [x / total_sd if total_sd > 0 else x]
    if measures:
        if quality is None:
            raise ValueError("quality measures are needed to group by " + ", ".join(measures))
        for measure in measures:
            column = np.asarray(
                quality[:, QUALITY_COLUMNS.index(GROUPING_MEASURES[measure])], dtype=np.float64
            )
            if measure == "ambiguity":
                column = -np.log1p(column)  # blur is the opposite of sharpness, on a log scale
            blocks.append(measure_weight * _robust_standardise(column)[:, None])
    return np.hstack(blocks)


def _robust_standardise(column: np.ndarray) -> np.ndarray:
    centre = np.median(column)
    spread = 1.4826 * np.median(np.abs(column - centre))
    if spread <= 0:
        spread = float(column.std())
    return (column - centre) / spread if spread > 0 else np.zeros_like(column)


class AutoGrouper:
    """k-means grouping (scikit-learn estimator conventions): ``fit`` sets ``labels_`` and ``centers_``."""

    def __init__(
        self,
        n_clusters: int = 10,
        *,
        measures: Sequence[str] = (),
        measure_weight: float = 1.0,
        n_init: int = 4,
        random_state: int = 0,
    ) -> None:
        self.n_clusters = n_clusters
        self.measures = measures
        self.measure_weight = measure_weight
        self.n_init = n_init
        self.random_state = random_state

    def fit(self, embeddings: np.ndarray, quality: np.ndarray | None = None) -> AutoGrouper:
        features = grouping_features(embeddings, quality, self.measures, self.measure_weight)
        n_clusters = min(self.n_clusters, len(features))
        kmeans = KMeans(n_clusters=n_clusters, n_init=self.n_init, random_state=self.random_state)
        self.labels_ = kmeans.fit_predict(features).astype(np.int64)
        self.centers_ = kmeans.cluster_centers_
        return self

    def fit_predict(self, embeddings: np.ndarray, quality: np.ndarray | None = None) -> np.ndarray:
        return self.fit(embeddings, quality).labels_
