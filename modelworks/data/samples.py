"""Samples: ids, views and signed content URLs, and listing with filters (``search``).

Statuses and their kept counts live in ``statuses``, label checks and updates in ``sample_labels``;
``update_sample_labels`` is imported here as part of the samples service the API calls.
"""

from __future__ import annotations

import hashlib
import hmac
from collections import defaultdict
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from modelworks.data import search
from modelworks.data.constants import STATE_TO_STATUS
from modelworks.data.sample_labels import update_sample_labels as update_sample_labels
from modelworks.data.statuses import has_triggers, status_counts
from modelworks.data.tables import Dataset, Sample, SampleLabel
from modelworks.db import now_ms
from modelworks.errors import SampleNotFound

USAGES = ("TRAIN", "EVAL", "TEST", "INFERENCE")
CONTENT_URL_TTL_MS = 3600 * 1000


def sample_id_for(dataset_id: str, source: str) -> str:
    """Deterministic id, so that a re-run import never duplicates a sample."""
    return hashlib.md5(f"{dataset_id}\0{source}".encode()).hexdigest()


def content_signature(secret: str, project_id: str, sample_id: str, expires: int) -> str:
    message = f"{project_id}/{sample_id}/{expires}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def content_url(endpoint: str, secret: str, dataset: Dataset, sample_id: str) -> str:
    expires = now_ms() + CONTENT_URL_TTL_MS
    sig = content_signature(secret, dataset.project_id, sample_id, expires)
    return (
        f"{endpoint}/v2/{dataset.project_id}/datasets/{dataset.id}/data-annotations/samples/"
        f"{sample_id}/content?Expires={expires}&Signature={sig}"
    )


def get_sample(session: Session, dataset: Dataset, sample_id: str) -> Sample:
    sample = session.scalar(select(Sample).where(Sample.id == sample_id, Sample.dataset_id == dataset.id))
    if sample is None:
        raise SampleNotFound(f"Sample '{sample_id}' does not exist.")
    return sample


def labels_of(session: Session, sample_ids: list[str]) -> dict[str, list[SampleLabel]]:
    by_sample: dict[str, list[SampleLabel]] = defaultdict(list)
    if sample_ids:
        rows = session.scalars(
            select(SampleLabel).where(SampleLabel.sample_id.in_(sample_ids)).order_by(SampleLabel.id)
        )
        for label in rows:
            by_sample[label.sample_id].append(label)
    return by_sample


def sample_label_view(label: SampleLabel) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": str(label.id),
        "name": label.name,
        "type": label.type,
        "property": label.property or {},
        "annotated_by": label.annotated_by,
    }
    if label.score is not None:
        view["score"] = label.score
    return view


def sample_view(sample: Sample, labels: list[SampleLabel], source_url: str) -> dict[str, Any]:
    metadata = dict(sample.meta or {})
    if sample.hard or sample.hard_coefficient is not None:
        # As the reference's examples show them: a boolean and a number.
        metadata["@modelarts:hard"] = bool(sample.hard)
    if sample.hard_coefficient is not None:
        metadata["@modelarts:hard_coefficient"] = sample.hard_coefficient
    view: dict[str, Any] = {
        "sample_id": sample.id,
        "sample_type": sample.sample_type,
        "labels": [sample_label_view(label) for label in labels],
        "source": source_url,
        "metadata": metadata,
        "sample_time": sample.sample_time,
        "sample_status": sample.status,
        "sample_name": sample.name,
        "sample_dir": sample.sample_dir,
        "sample_size": sample.size,
        "sample_version": sample.version,
        "labelers": [{"email": sample.labeler, "worker_id": "", "role": 0}] if sample.labeler else [],
    }
    if sample.usage:
        view["sample_usage"] = sample.usage
    if sample.text is not None:
        view["sample_data"] = [sample.text]
    return view


def list_samples(
    session: Session,
    dataset: Dataset,
    *,
    offset: int,
    limit: int,
    order: str = "desc",
    sample_state: str | None = None,
    label_name: str | None = None,
    label_type: int | None = None,
    low_score: float | None = None,
    high_score: float | None = None,
    sample_type: int | None = None,
    search_conditions: Any = None,
) -> tuple[int, list[Sample]]:
    where = [Sample.dataset_id == dataset.id, search.state_filter(sample_state)]
    if label_name:
        where.append(search.label_filter(label_name, label_type, dataset.id))
    if low_score is not None or high_score is not None:
        where.append(search.score_filter(low_score, high_score, dataset.id))
    if sample_type is not None:
        where.append(Sample.sample_type == sample_type)
    conditions = search.parse_conditions(search_conditions)
    where.append(search.all_of(conditions, dataset_id=dataset.id))
    other_filters = bool(
        low_score is not None or high_score is not None or sample_type is not None or conditions
    )
    kept = (
        status_counts(session, dataset.id)
        if not (label_name or other_filters) and (not sample_state or sample_state in STATE_TO_STATUS)
        else None
    )
    if kept is not None:
        # Only the state filter, if any: the counts the triggers keep answer it.
        total = kept.get(STATE_TO_STATUS[sample_state], 0) if sample_state else sum(kept.values())
    elif label_name and not (sample_state or other_filters):
        # Counted on the label index alone, without visiting the samples.
        count_query = select(func.count(SampleLabel.sample_id.distinct())).where(
            SampleLabel.dataset_id == dataset.id, SampleLabel.name == label_name
        )
        if label_type is not None:
            count_query = count_query.where(SampleLabel.type == label_type)
        total = session.scalar(count_query) or 0
    else:
        total = session.scalar(select(func.count()).select_from(Sample).where(*where)) or 0
    if offset >= total:
        return total, []
    ascending = order == "asc"
    # An OFFSET walks every skipped index entry: a page past the middle is read from the other end
    # (with the exact total just counted) and turned round, so no page skips more than half.
    from_end = offset > total // 2
    if from_end:
        ascending = not ascending
        offset, limit = max(0, total - offset - limit), min(limit, total - offset)
    direction = "asc" if ascending else "desc"
    if label_name and label_type is None and not (sample_state or other_filters) and _labels_listed(session):
        # Only a label filter: the page comes from the labels' own listing index (migration 0011).
        key = (SampleLabel.sample_create_time, SampleLabel.sample_id)
        page = (
            select(*key)
            .where(SampleLabel.dataset_id == dataset.id, SampleLabel.name == label_name)
            .distinct()
            .order_by(*(getattr(column, direction)() for column in key))
            .offset(offset)
            .limit(limit)
        )
        ids = [sample_id for _, sample_id in session.execute(page)]
    else:
        # The page's ids first (answered from the listing index), then only those rows: a deep
        # page no longer reads every skipped row in full.
        ordering = (getattr(Sample.create_time, direction)(), getattr(Sample.id, direction)())
        ids = list(
            session.scalars(select(Sample.id).where(*where).order_by(*ordering).offset(offset).limit(limit))
        )
    if from_end:
        ids.reverse()
    if not ids:
        return total, []
    by_id = {s.id: s for s in session.scalars(select(Sample).where(Sample.id.in_(ids)))}
    return total, [by_id[i] for i in ids if i in by_id]


def _labels_listed(session: Session) -> bool:
    """Whether ``sample_labels.sample_create_time`` is kept by migration 0011's trigger (a schema built
    without the migrations leaves it empty, and the label filter then walks the samples instead)."""
    return has_triggers(session, "sample_labels", ("sample_labels_fill_create_time",))
