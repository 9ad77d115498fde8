"""Writing indexed samples and their labels into a dataset, skipping samples it already has."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from modelworks.data.constants import STATUS_MANUAL
from modelworks.data.indexing import IndexedSample
from modelworks.data.labels import default_label_type
from modelworks.data.tables import Dataset, DatasetLabel, Sample, SampleLabel
from modelworks.db import now_ms


def ensure_labels(session: Session, dataset: Dataset, names: set[str]) -> list[str]:
    """Add the named labels the dataset lacks; returns the names it added."""
    if not names:
        return []
    have = set(session.scalars(select(DatasetLabel.name).where(DatasetLabel.dataset_id == dataset.id)))
    added = sorted(names - have)
    label_type = default_label_type(dataset)
    for name in added:
        session.add(DatasetLabel(dataset_id=dataset.id, name=name, type=label_type, property={}))
    session.flush()
    return added


def insert_samples(
    session: Session, dataset: Dataset, items: Sequence[IndexedSample], *, labeler: str | None = None
) -> int:
    """Insert the samples that are new to the dataset, with their labels; returns how many were new."""
    if not items:
        return 0
    ids = [item.row["id"] for item in items]
    existing = set(session.scalars(select(Sample.id).where(Sample.id.in_(ids))))
    fresh = [item for item in items if item.row["id"] not in existing]
    if not fresh:
        return 0
    now = now_ms()
    label_type = default_label_type(dataset)
    sample_rows: list[dict[str, Any]] = []
    label_rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    for item in fresh:
        if item.row["id"] in seen:
            continue
        seen.add(item.row["id"])
        row = {
            "text": None,
            "meta": {},
            "status": STATUS_MANUAL if item.label_names else "UN_ANNOTATION",
            "create_time": now,
            "update_time": now,
            "version": 1,
            "hard": 0,
            **item.row,
        }
        sample_rows.append(row)
        for name in item.label_names:
            label_rows.append(
                {
                    "sample_id": item.row["id"],
                    "dataset_id": dataset.id,
                    "name": name,
                    "type": label_type,
                    "property": {},
                    "annotated_by": "human",
                    "labeler": labeler,
                    "created_at": now,
                }
            )
    session.execute(insert(Sample), sample_rows)
    if label_rows:
        session.execute(insert(SampleLabel), label_rows)
    dataset.data_update_time = now
    return len(sample_rows)
