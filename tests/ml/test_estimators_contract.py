"""One contract over every registered classifier (scikit-learn conventions), on synthetic blobs."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone

from modelworks.ml.errors import NotEnoughLabels
from modelworks.ml.estimators import (
    AccurateClassifier,
    Classifier,
    FastClassifier,
    classifier_names,
    create_classifier,
    register,
)


def _blobs(n_per_class: int = 40, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(3, 16)) * 3
    x = np.vstack([c + rng.normal(size=(n_per_class, 16)) for c in centres])
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    y = np.repeat(np.array(["cat", "dog", "fox"]), n_per_class)
    return x.astype(np.float32), y


@pytest.fixture(params=classifier_names())
def classifier(request: pytest.FixtureRequest) -> Classifier:
    return create_classifier(request.param)


def test_registry_has_the_api_algorithm_types() -> None:
    assert classifier_names() == ["accurate", "fast"]
    with pytest.raises(ValueError, match="already registered"):
        register("fast", FastClassifier)
    with pytest.raises(KeyError, match="known: accurate, fast"):
        create_classifier("slow")


def test_init_only_stores_parameters(classifier: Classifier) -> None:
    params = classifier.get_params()
    assert params
    assert not [name for name in vars(classifier) if name.endswith("_") and not name.startswith("_")]
    assert clone(classifier).get_params() == params


def test_fit_returns_self_and_learns_state_ending_in_underscore(classifier: Classifier) -> None:
    x, y = _blobs()
    labeled = np.arange(len(y)) % 4 == 0
    assert classifier.fit(x[labeled], y[labeled], x[~labeled]) is classifier
    assert list(classifier.classes_) == ["cat", "dog", "fox"]


def test_predict_proba_rows_are_distributions_over_classes(classifier: Classifier) -> None:
    x, y = _blobs()
    labeled = np.arange(len(y)) % 4 == 0
    classifier.fit(x[labeled], y[labeled], x[~labeled])
    proba = classifier.predict_proba(x[~labeled])
    assert proba.shape == (int((~labeled).sum()), 3)
    assert np.all(proba >= 0)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-9)
    assert list(classifier.predict(x[~labeled])) == list(classifier.classes_[proba.argmax(axis=1)])
    assert (classifier.predict(x[~labeled]) == y[~labeled]).mean() > 0.9


def test_fit_works_without_unlabeled_rows(classifier: Classifier) -> None:
    x, y = _blobs(10)
    classifier.fit(x, y)
    assert classifier.predict_proba(x[:3]).shape == (3, 3)


def test_fit_is_deterministic(classifier: Classifier) -> None:
    x, y = _blobs()
    labeled = np.arange(len(y)) % 3 == 0
    first = clone(classifier).fit(x[labeled], y[labeled], x[~labeled]).predict_proba(x)
    second = clone(classifier).fit(x[labeled], y[labeled], x[~labeled]).predict_proba(x)
    np.testing.assert_allclose(first, second)


@pytest.mark.parametrize(
    ("labels", "message"),
    [(["cat"] * 10, "at least 2 labels"), (["cat"] * 10 + ["dog"] * 4, "too few for: dog")],
)
def test_too_few_labels_fail_fast(classifier: Classifier, labels: list[str], message: str) -> None:
    x = np.random.default_rng(0).normal(size=(len(labels), 8))
    with pytest.raises(NotEnoughLabels, match=message) as raised:
        classifier.fit(x, np.array(labels))
    assert raised.value.error_code == "ModelArts.4405"


def test_accurate_answers_its_spreading_for_fitted_rows_and_extends_it_to_new_ones() -> None:
    x, y = _blobs()
    labeled = np.arange(len(y)) % 4 == 0
    model = AccurateClassifier(calibrate=False).fit(x[labeled], y[labeled], x[~labeled])
    np.testing.assert_allclose(model.predict_proba(x[~labeled]), model.spread_proba_[labeled.sum() :])
    new_x, new_y = _blobs(seed=0)
    new_x = new_x + 0.01  # near, but not on, the fitted rows
    assert (model.predict(new_x) == new_y).mean() > 0.9
