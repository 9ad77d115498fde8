"""Exact dataset statistics (reference 16.1.6)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from modelworks.data import labels as label_service
from modelworks.data.constants import STATE_TO_STATUS, STATUS_AUTO, STATUS_MANUAL, STATUS_UNLABELED
from modelworks.data.datasets import inner_paths
from modelworks.data.search import state_filter
from modelworks.data.statuses import status_counts
from modelworks.data.tables import Dataset, Sample


def dataset_stats(session: Session, dataset: Dataset, sample_state: str | None = None) -> dict[str, Any]:
    where = [Sample.dataset_id == dataset.id, state_filter(sample_state)]
    kept = status_counts(session, dataset.id) if not sample_state or sample_state in STATE_TO_STATUS else None
    if kept is not None:
        wanted = STATE_TO_STATUS.get(sample_state or "")
        by_status = {s: n for s, n in kept.items() if wanted is None or s == wanted}
    else:
        by_status = dict(
            session.execute(select(Sample.status, func.count()).where(*where).group_by(Sample.status)).all()
        )
    total = sum(by_status.values())
    hard = session.scalar(select(func.count()).select_from(Sample).where(*where, Sample.hard == 1)) or 0
    counts = label_service.label_counts(session, dataset)
    label_stats = []
    grouped: dict[str, list[dict[str, Any]]] = {}
    for label in label_service.list_labels(session, dataset):
        count, samples = counts.get((label.name, label.type), (0, 0))
        entry = {**label_service.label_view(label), "count": count, "sample_count": samples}
        label_stats.append(entry)
        grouped.setdefault(str(label.type), []).append(entry)
    manual = by_status.get(STATUS_MANUAL, 0)
    return {
        "label_stats": label_stats,
        "grouped_label_stats": grouped,
        "sample_stats": {
            "un_annotation": by_status.get(STATUS_UNLABELED, 0),
            "all": total,
            "total": total,
            "deleted": dataset.deleted_sample_count,
            "manual_annotation": manual,
            "auto_annotation": by_status.get(STATUS_AUTO, 0),
            "lefted": total,
        },
        "key_sample_stats": {"total": total, "non_key_sample": total - hard, "key_sample": hard},
        "hard_detail_stats": {},
        "metadata_stats": {},
        "data_path": inner_paths(dataset)["inner_data_path"],
        "data_splitting_enable": manual > 0 and len(label_stats) > 0,
    }
