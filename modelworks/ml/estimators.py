"""Classifiers over embeddings for auto labeling, with scikit-learn conventions.

``__init__`` only stores parameters; ``fit(X, y, X_unlabeled=None)`` learns and returns ``self``;
learned state ends in ``_``; ``predict_proba`` rows sum to 1 over ``classes_``. Probabilities are
temperature-scaled on out-of-fold predictions of the labeled samples, so that a score of 0.8 means
about 80 % right.

    fast       logistic regression on the human labels only
    accurate   semi-supervised: the logistic regression's probabilities spread over the kNN graph of
               labeled and unlabeled embeddings (label spreading), so that dense groups of unlabeled
               samples pull their members towards one class
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, Self

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.neighbors import NearestNeighbors

from modelworks.ml._calibration import apply_temperature, fit_temperature
from modelworks.ml._graph import knn_graph, spread_labels
from modelworks.ml.errors import NotEnoughLabels
from modelworks.registry import Registry

MIN_LABELS = 2
MIN_SAMPLES_PER_LABEL = 5


def check_enough_labels(
    y: np.ndarray, min_labels: int = MIN_LABELS, min_per_label: int = MIN_SAMPLES_PER_LABEL
) -> None:
    """Refuse to train on fewer than ``min_labels`` labels or ``min_per_label`` samples of any label."""
    classes, counts = np.unique(np.asarray(y), return_counts=True)
    if len(classes) < min_labels:
        raise NotEnoughLabels(
            f"auto labeling needs at least {min_labels} labels; the samples have {len(classes)}"
        )
    few = [str(c) for c, n in zip(classes, counts, strict=True) if n < min_per_label]
    if few:
        raise NotEnoughLabels(
            f"auto labeling needs {min_per_label} labeled samples per label; too few for: {', '.join(few)}"
        )


class Classifier(BaseEstimator, ABC):
    """A classifier over embedding rows. Subclasses set ``classes_`` in ``fit``."""

    classes_: np.ndarray

    @abstractmethod
    def fit(self, X: np.ndarray, y: np.ndarray, X_unlabeled: np.ndarray | None = None) -> Self:
        """Learn from labeled rows ``X`` with labels ``y`` (and, if the method uses them, unlabeled rows).

        Called once per auto-labeling run, on the executor. Must raise
        :class:`~modelworks.ml.errors.NotEnoughLabels` before any heavy work when ``y`` is too thin.
        """

    @abstractmethod
    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """``(len(X), len(classes_))`` probabilities, rows summing to 1; called after ``fit``."""

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(self.classes_[self.predict_proba(X).argmax(axis=1)])


def _folds(targets: np.ndarray, n_folds: int, random_state: int) -> list[tuple[np.ndarray, np.ndarray]]:
    n_splits = min(n_folds, int(np.bincount(targets).min()))
    if n_splits < 2:
        return []
    return list(StratifiedKFold(n_splits, shuffle=True, random_state=random_state).split(targets, targets))


class FastClassifier(Classifier):
    """Multinomial logistic regression trained on the human labels only."""

    def __init__(
        self,
        C: float = 20.0,
        max_iter: int = 1000,
        calibrate: bool = True,
        n_folds: int = 3,
        random_state: int = 0,
    ):
        self.C = C
        self.max_iter = max_iter
        self.calibrate = calibrate
        self.n_folds = n_folds
        self.random_state = random_state

    def fit(self, X: np.ndarray, y: np.ndarray, X_unlabeled: np.ndarray | None = None) -> Self:
        check_enough_labels(y)
        self.classes_, targets = np.unique(np.asarray(y), return_inverse=True)
        self.model_ = _logistic(X, targets, self.C, self.max_iter)
        self.temperature_ = 1.0
        if self.calibrate:
            out_of_fold = np.zeros((len(X), len(self.classes_)))
            folds = _folds(targets, self.n_folds, self.random_state)
            for train, held in folds:
                model = _logistic(X[train], targets[train], self.C, self.max_iter)
                out_of_fold[held] = _proba(model, X[held], len(self.classes_))
            if folds:
                self.temperature_ = fit_temperature(out_of_fold, targets)
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return apply_temperature(_proba(self.model_, X, len(self.classes_)), self.temperature_)


class AccurateClassifier(Classifier):
    """Label spreading over the kNN graph of labeled + unlabeled rows, seeded by a logistic regression.

    Seeds are the one-hot human labels plus ``prior_weight`` times the regression's probabilities;
    ``alpha`` is how much a sample listens to its neighbours rather than its seed. :meth:`predict_proba`
    answers the spreading result for rows it was fitted on (e.g. ``X_unlabeled``), and for new rows one
    spreading step from their ``n_neighbors`` nearest fitted rows.
    """

    def __init__(
        self,
        C: float = 20.0,
        n_neighbors: int = 10,
        alpha: float = 0.7,
        prior_weight: float = 0.5,
        n_iter: int = 30,
        max_iter: int = 1000,
        calibrate: bool = True,
        n_folds: int = 3,
        random_state: int = 0,
    ):
        self.C = C
        self.n_neighbors = n_neighbors
        self.alpha = alpha
        self.prior_weight = prior_weight
        self.n_iter = n_iter
        self.max_iter = max_iter
        self.calibrate = calibrate
        self.n_folds = n_folds
        self.random_state = random_state

    def _spread(
        self, graph: Any, rows: np.ndarray, labeled: np.ndarray, targets: np.ndarray, k: int
    ) -> tuple[np.ndarray, LogisticRegression]:
        prior = _logistic(rows[labeled], targets, self.C, self.max_iter)
        seeds = self.prior_weight * _proba(prior, rows, k)
        seeds[labeled, targets] += 1.0
        return spread_labels(graph, seeds, self.alpha, self.n_iter), prior

    def fit(self, X: np.ndarray, y: np.ndarray, X_unlabeled: np.ndarray | None = None) -> Self:
        check_enough_labels(y)
        self.classes_, targets = np.unique(np.asarray(y), return_inverse=True)
        k = len(self.classes_)
        rows = X if X_unlabeled is None or len(X_unlabeled) == 0 else np.vstack([X, X_unlabeled])
        labeled = np.arange(len(X))
        graph, self.bandwidth_ = knn_graph(rows, self.n_neighbors)
        self.spread_proba_, self.prior_ = self._spread(graph, rows, labeled, targets, k)
        self.neighbours_ = NearestNeighbors(n_neighbors=min(self.n_neighbors, len(rows))).fit(rows)
        self.temperature_ = 1.0
        if self.calibrate:
            # Hide one fold's labels at a time and read what spreading says about those samples.
            out_of_fold = np.zeros((len(X), k))
            folds = _folds(targets, self.n_folds, self.random_state)
            for train, held in folds:
                proba, _ = self._spread(graph, rows, labeled[train], targets[train], k)
                out_of_fold[held] = proba[held]
            if folds:
                self.temperature_ = fit_temperature(out_of_fold, targets)
        return self

    def prior_proba(self, X: np.ndarray) -> np.ndarray:
        """The seeding logistic regression's (uncalibrated) probabilities: a second opinion on ``X``."""
        return _proba(self.prior_, X, len(self.classes_))

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        distances, indices = self.neighbours_.kneighbors(X)
        weights = np.exp(-((distances / self.bandwidth_) ** 2))
        weights /= np.maximum(weights.sum(axis=1, keepdims=True), 1e-12)
        from_neighbours = np.einsum("nk,nkc->nc", weights, self.spread_proba_[indices])
        proba = self.alpha * from_neighbours + (1 - self.alpha) * _proba(self.prior_, X, len(self.classes_))
        proba /= proba.sum(axis=1, keepdims=True)
        fitted = distances[:, 0] <= 1e-6 * self.bandwidth_
        proba[fitted] = self.spread_proba_[indices[fitted, 0]]
        return apply_temperature(proba, self.temperature_)


def _logistic(X: np.ndarray, targets: np.ndarray, C: float, max_iter: int) -> LogisticRegression:
    return LogisticRegression(C=C, max_iter=max_iter).fit(X, targets)


def _proba(model: LogisticRegression, rows: np.ndarray, k: int) -> np.ndarray:
    """``model``'s probabilities over all ``k`` classes (it may have seen only some of them)."""
    out = np.zeros((len(rows), k))
    out[:, model.classes_] = model.predict_proba(rows)
    return out


classifiers: Registry[Callable[..., Classifier]] = Registry("classifier")
"""Classifier factories by the API's ``algorithm_type`` (``fast``, ``accurate``)."""


def register(name: str, factory: Callable[..., Classifier]) -> None:
    """Make ``factory(**params)`` build the classifier for ``algorithm_type`` ``name`` (once per name)."""
    classifiers.register(name, factory)


def classifier_names() -> list[str]:
    return classifiers.names()


def create_classifier(name: str, **params: Any) -> Classifier:
    """Build the classifier ``name``; ``UnknownName`` (a ``KeyError``) listing the known ones."""
    return classifiers.get(name)(**params)


classifiers.register("fast", FastClassifier)
classifiers.register("accurate", AccurateClassifier)
