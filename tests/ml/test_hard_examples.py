"""Hard-example scoring: flag budget, coefficients, and the reference's numbered reasons."""

from __future__ import annotations

import numpy as np

from modelworks.ml.hard_examples import (
    AUGMENTATION_REASONS,
    HARD_REASONS,
    QUALITY_REASONS,
    HardExampleMiner,
    augmentation_candidates,
)
from modelworks.ml.quality import QUALITY_COLUMNS


def _setup(n: int = 60, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Training rows of 2 well-separated classes and predicted rows drawn from the same classes."""
    rng = np.random.default_rng(seed)
    centres = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    y = np.repeat([0, 1], n // 2)
    x_train = centres[y] + 0.05 * rng.normal(size=(n, 3))
    truth = np.repeat([0, 1], n // 2)
    x = centres[truth] + 0.05 * rng.normal(size=(n, 3))
    return x_train, y, x, truth


def _quality(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    q = np.tile([28.0, 1.0, 100.0, 0.0, 0.0, 500.0], (n, 1))
    q[:, 2] += rng.normal(0, 5, n)
    q[:, 5] += rng.normal(0, 50, n)
    return q


def test_reason_table_follows_the_reference_numbering() -> None:
    assert HARD_REASONS[1] == "The confidence is low."
    assert list(QUALITY_REASONS.values()) == [5, 6, 7, 8, 9, 10]
    assert list(QUALITY_REASONS) == list(QUALITY_COLUMNS)
    assert AUGMENTATION_REASONS == {"GaussianBlur": 19, "fliplr": 20, "Crop": 21, "flipud": 22}
    assert "fliplr" in HARD_REASONS[20] and "definition" in HARD_REASONS[10]


def test_at_most_max_fraction_is_flagged_and_coefficients_are_in_range() -> None:
    x_train, y, x, truth = _setup()
    rng = np.random.default_rng(1)
    confidence = rng.uniform(0.5, 1.0, len(x))
    proba = np.where(np.eye(2)[truth] == 1, confidence[:, None], 1 - confidence[:, None])
    result = HardExampleMiner(max_fraction=0.2).fit(x_train, y).score(proba, x)
    assert result.hard.sum() == 12
    assert np.all((result.coefficient >= 0) & (result.coefficient <= 1))
    # the flagged ones are the least confident: nothing else tells them apart here
    assert set(np.flatnonzero(result.hard)) == set(np.argsort(confidence)[:12])
    assert all(result.reasons[i] for i in np.flatnonzero(result.hard))
    assert not any(result.reasons[i] for i in np.flatnonzero(~result.hard))


def test_low_confidence_and_neighbourhood_disagreement_are_reasons_1_and_2() -> None:
    x_train, y, x, truth = _setup()
    proba = np.eye(2)[truth] * 0.98 + 0.01
    proba[0] = [0.45, 0.55]  # a class-0 sample predicted as class 1, without conviction
    result = HardExampleMiner(max_fraction=0.05).fit(x_train, y).score(proba, x)
    assert result.hard[0]
    assert result.reasons[0][:2] == [1, 2]
    assert result.reasons_text(0).startswith("1-2")


def test_far_from_the_class_training_data_is_reason_3() -> None:
    x_train, y, x, truth = _setup()
    x[5] = [1.0, 0.0, 3.0]  # still closest to class 0, but far from every training sample
    proba = np.eye(2)[truth] * 0.9 + 0.05
    proba[5] = [0.6, 0.4]
    result = HardExampleMiner(max_fraction=0.05).fit(x_train, y).score(proba, x)
    assert result.hard[5] and 3 in result.reasons[5]


def test_quality_offsets_raise_the_coefficient_with_their_reason() -> None:
    x_train, y, x, truth = _setup()
    proba = np.eye(2)[truth] * 0.9 + 0.05
    quality = _quality(len(x), seed=2)
    quality[7, QUALITY_COLUMNS.index("brightness")] = 5.0  # far darker than any training image
    quality[8, QUALITY_COLUMNS.index("resolution")] = 640.0  # training images were all 28 px
    miner = HardExampleMiner(max_fraction=0.05).fit(x_train, y, _quality(len(x_train)))
    result = miner.score(proba, x, quality)
    assert result.hard[7] and 7 in result.reasons[7]
    assert result.hard[8] and 5 in result.reasons[8]
    assert result.coefficient[7] > np.median(result.coefficient)


def test_prediction_changes_under_augmentation_are_reasons_19_to_22() -> None:
    x_train, y, x, truth = _setup()
    proba = np.eye(2)[truth] * 0.9 + 0.05
    proba[3] = [0.55, 0.45]
    flipped = np.full_like(proba, np.nan)
    flipped[3] = [0.2, 0.8]  # fliplr changes the prediction of sample 3
    blurred = np.full_like(proba, np.nan)
    blurred[3] = [0.9, 0.1]
    miner = HardExampleMiner(max_fraction=0.05).fit(x_train, y)
    result = miner.score(proba, x, augmented_proba={"fliplr": flipped, "GaussianBlur": blurred})
    assert result.hard[3]
    assert 20 in result.reasons[3] and 19 not in result.reasons[3]


def test_confidence_scope_limits_what_may_be_flagged() -> None:
    x_train, y, x, truth = _setup()
    confidence = np.linspace(0.5, 0.99, len(x))
    proba = np.where(np.eye(2)[truth] == 1, confidence[:, None], 1 - confidence[:, None])
    miner = HardExampleMiner(max_fraction=0.5, confidence_scope=(0.7, 0.9)).fit(x_train, y)
    result = miner.score(proba, x)
    flagged = confidence[result.hard]
    assert len(flagged) and flagged.min() >= 0.7 and flagged.max() <= 0.9


def test_augmentation_candidates_are_the_highest_coefficients() -> None:
    coefficient = np.array([0.1, 0.9, 0.5, 0.7, 0.2])
    assert list(augmentation_candidates(coefficient, 0.4)) == [1, 3]
