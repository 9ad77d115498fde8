"""Checks of start requests that several task kinds share."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from modelworks.data.constants import (
    IMAGE_CLASSIFICATION,
    OBJECT_DETECTION,
    STATUS_MANUAL,
    TEXT_CLASSIFICATION,
)
from modelworks.data.tables import Dataset, Sample, SampleLabel
from modelworks.errors import InvalidArgument, InvalidTaskParameter, UnsupportedDatasetOperation
from modelworks.ml.errors import NotEnoughLabels
from modelworks.ml.estimators import MIN_LABELS, MIN_SAMPLES_PER_LABEL

LABELING_TYPES = (IMAGE_CLASSIFICATION, OBJECT_DETECTION, TEXT_CLASSIFICATION)
"""The dataset types the labeling kinds (auto-label, pre-label) support."""
LABELING_DATASETS = "image classification, object detection and text classification"

_SCOPE = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*-\s*([0-9]*\.?[0-9]+)\s*$")


def invalid(message: str, field: str) -> InvalidArgument:
    return InvalidTaskParameter(message, field=field)


def unsupported(task: str, types: str) -> InvalidArgument:
    return UnsupportedDatasetOperation(f"{task} supports {types} datasets", field="task_type")


def parse_confidence_scope(value: Any) -> tuple[float, float] | None:
    """(low, high) of a ``confidence_scope``; the request model refused malformed ones already, the
    checks here guard callers that did not come through it."""
    if value in (None, ""):
        return None
    match = _SCOPE.match(str(value))
    if match is None:
        raise invalid(
            "must be two numbers from 0 to 1 separated by '-', e.g. 0.10-0.90", "config.confidence_scope"
        )
    low, high = float(match.group(1)), float(match.group(2))
    if not 0 <= low <= high <= 1:
        raise invalid(
            "must be two numbers from 0 to 1, the first not above the second", "config.confidence_scope"
        )
    return low, high


def _label_counts(session: Session, dataset: Dataset) -> dict[str, int]:
    """Human-labeled samples per label (auto labels waiting for confirmation do not teach)."""
    rows = session.execute(
        select(SampleLabel.name, func.count(SampleLabel.sample_id.distinct()))
        .join(Sample, Sample.id == SampleLabel.sample_id)
        .where(
            SampleLabel.dataset_id == dataset.id,
            SampleLabel.annotated_by != "auto",
            Sample.status == STATUS_MANUAL,
        )
        .group_by(SampleLabel.name)
    )
    return {name: int(count) for name, count in rows}


def check_labels(session: Session, dataset: Dataset) -> dict[str, int]:
    """Fail fast, before anything is queued, when the human labels are too few to learn from."""
    counts = _label_counts(session, dataset)
    if len(counts) < MIN_LABELS:
        raise NotEnoughLabels(
            f"auto labeling needs at least {MIN_LABELS} labels with {MIN_SAMPLES_PER_LABEL} labeled samples "
            f"each; the dataset has {len(counts)} label(s) in use"
        )
    few = sorted(name for name, n in counts.items() if n < MIN_SAMPLES_PER_LABEL)
    if few:
        raise NotEnoughLabels(
            f"auto labeling needs at least {MIN_SAMPLES_PER_LABEL} labeled samples per label; too few for: "
            + ", ".join(few)
        )
    return counts
