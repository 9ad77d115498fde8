"""Samples: listing with filters, details, and label updates with optimistic concurrency."""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from sqlalchemy import case, delete, event, func, select, text
from sqlalchemy.orm import Session

from modelworks.data import search
from modelworks.data.constants import STATE_TO_STATUS, STATUS_AUTO, STATUS_MANUAL, STATUS_UNLABELED
from modelworks.data.labels import check_label_type
from modelworks.data.tables import Dataset, DatasetLabel, Sample, SampleLabel
from modelworks.db import now_ms
from modelworks.errors import (
    InvalidArgument,
    LabelNotFound,
    SampleLabelsUpdateFailed,
    SampleNotFound,
)

log = logging.getLogger(__name__)

USAGES = ("TRAIN", "EVAL", "TEST", "INFERENCE")
SHAPES = ("bndbox", "polygon", "circle", "line", "dashed", "point", "polyline")
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
    return _has_triggers(session, "sample_labels", ("sample_labels_fill_create_time",))


def _has_triggers(session: Session, table: str, names: tuple[str, ...]) -> bool:
    """Whether every trigger in ``names`` exists on ``table`` (and, on PostgreSQL, is enabled): the
    kept counts and label listing fall back to plain queries where a schema lacks them."""
    listed = ", ".join(f"'{name}'" for name in names)
    if session.get_bind().dialect.name == "postgresql":
        query = (
            f"SELECT count(*) FROM pg_trigger WHERE tgrelid = to_regclass('{table}')"
            f" AND NOT tgisinternal AND tgenabled <> 'D' AND tgname IN ({listed})"
        )
    else:
        query = (
            "SELECT count(*) FROM sqlite_master"
            f" WHERE type = 'trigger' AND tbl_name = '{table}' AND name IN ({listed})"
        )
    return session.scalar(text(query)) == len(names)


_COUNT_TRIGGERS = (
    "sample_status_counts_insert",
    "sample_status_counts_delete",
    "sample_status_counts_update",
)


def status_counts(session: Session, dataset_id: str) -> dict[str, int] | None:
    """The dataset's number of samples by status, exact, kept by triggers in the same transaction as
    every insert, delete or status change of a sample: on SQLite ``sample_status_counts`` (migration
    0009), on PostgreSQL the sums of ``sample_status_deltas`` (migration 0010, insert-only deltas, so
    concurrent writers never queue on a shared row; compacted here when a dataset has more than
    ``COMPACT_ABOVE`` rows). None where those triggers are not there (a schema not built by the
    migrations), and the caller counts the samples instead. The triggers are looked up each time, in
    the same transaction as the counts: a later migration that rebuilt the table without them must
    make the lists slower, never wrong."""
    backend = session.get_bind().dialect.name
    if backend == "postgresql":
        return _pg_status_counts(session, dataset_id)
    if backend != "sqlite":
        return None
    if not _has_triggers(session, "samples", _COUNT_TRIGGERS):
        return None
    rows = session.execute(
        text("SELECT status, n FROM sample_status_counts WHERE dataset_id = :dataset_id"),
        {"dataset_id": dataset_id},
    )
    return {status: n for status, n in rows if n}


_DELTA_TRIGGERS = (
    "sample_status_deltas_insert",
    "sample_status_deltas_delete",
    "sample_status_deltas_update",
)

# A dataset's delta rows are compacted by the read that finds more than this many.
COMPACT_ABOVE = 64
# ... and a compaction of more rows than this vacuums the table.
VACUUM_AFTER_COMPACTING = 5000


def _pg_status_counts(session: Session, dataset_id: str) -> dict[str, int] | None:
    if not _has_triggers(session, "samples", _DELTA_TRIGGERS):
        return None
    rows = session.execute(
        text(
            "SELECT status, sum(n), count(*) FROM sample_status_deltas"
            " WHERE dataset_id = :dataset_id GROUP BY status"
        ),
        {"dataset_id": dataset_id},
    ).all()
    rows_seen = sum(count for _, _, count in rows)
    # The sums do not change: the compaction only rewrites rows this statement's snapshot saw.
    compacted = rows_seen > COMPACT_ABOVE and compact_status_deltas(session, dataset_id)
    if compacted and rows_seen > VACUUM_AFTER_COMPACTING:
        # An import leaves a delta row per sample: once they are summed, every later read
        # would still visit the tens of thousands of dead rows (a bitmap scan does not mark
        # them dead in the index) until autovacuum's next round. Vacuum the small table as
        # soon as the compaction is committed (VACUUM cannot run inside a transaction).
        engine = session.get_bind().engine
        event.listen(session, "after_commit", lambda _s: _vacuum_deltas(engine), once=True)
    return {status: int(n) for status, n, _ in rows if n}


def _vacuum_deltas(engine: Any) -> None:
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE sample_status_deltas")
    except Exception:  # an optimisation: a failure must not fail the read that compacted
        log.warning("could not vacuum sample_status_deltas", exc_info=True)


def compact_status_deltas(session: Session, dataset_id: str) -> bool:
    """Replace the dataset's rows of ``sample_status_deltas`` (PostgreSQL) by one row per status
    holding their sum (none where it is 0), in one statement, in the caller's transaction; False
    (and nothing done) when another transaction is compacting the same dataset.

    Why the sums stay exact whatever runs beside it (READ COMMITTED): the DELETE removes exactly the
    rows visible in its statement's snapshot, and the INSERT writes back the sums of exactly those
    rows (``moved`` is what the DELETE returned), so for every snapshot the total is unchanged:
    before this transaction commits others see the old rows, afterwards the summed ones, atomically.
    Delta rows that other transactions insert meanwhile (uncommitted, or committed after the
    snapshot) are not in the snapshot, so they are neither deleted nor summed: they stay, and still
    count once. Writers only ever insert, so the only other transaction that could delete the same
    rows is another compaction of the dataset, and ``pg_try_advisory_xact_lock`` (held to the end of
    the transaction, i.e. until the rewritten rows are committed or rolled back) rules that out
    without waiting: whoever does not get it skips, the rows wait for the next read."""
    params = {"dataset_id": dataset_id}
    locked = session.scalar(
        text("SELECT pg_try_advisory_xact_lock(hashtext('sample_status_deltas'), hashtext(:dataset_id))"),
        params,
    )
    if not locked:
        return False
    session.execute(
        text(
            "WITH moved AS (DELETE FROM sample_status_deltas WHERE dataset_id = :dataset_id"
            " RETURNING status, n)"
            " INSERT INTO sample_status_deltas (dataset_id, status, n)"
            " SELECT :dataset_id, status, sum(n) FROM moved GROUP BY status HAVING sum(n) <> 0"
        ),
        params,
    )
    return True


def refresh_status(session: Session, sample_ids: Iterable[str]) -> None:
    """Recompute the stored status of samples from their labels."""
    ids = list(set(sample_ids))
    if not ids:
        return
    kinds: dict[str, set[str]] = defaultdict(set)
    for sid, by in session.execute(
        select(SampleLabel.sample_id, SampleLabel.annotated_by).where(SampleLabel.sample_id.in_(ids))
    ):
        kinds[sid].add(by)
    for sample in session.scalars(select(Sample).where(Sample.id.in_(ids))):
        seen = kinds.get(sample.id, set())
        if seen - {"auto"}:
            sample.status = STATUS_MANUAL
        elif seen:
            sample.status = STATUS_AUTO
        else:
            sample.status = STATUS_UNLABELED
    session.flush()


def _check_feature(prop: dict[str, Any], field: str) -> None:
    shape = prop.get("@modelarts:shape")
    if shape not in SHAPES:
        raise InvalidArgument(f"must be one of {', '.join(SHAPES)}", field=f"{field}.@modelarts:shape")
    feature = prop.get("@modelarts:feature")
    points = feature if isinstance(feature, list) else None
    if shape == "circle" and isinstance(feature, list) and len(feature) == 3:
        return
    if not points or not all(
        isinstance(p, list) and len(p) == 2 and all(isinstance(v, int | float) for v in p) for p in points
    ):
        raise InvalidArgument("must be a list of [x, y] points", field=f"{field}.@modelarts:feature")
    if shape == "bndbox":
        if len(points) != 2:
            raise InvalidArgument(
                "a bndbox needs [[xmin, ymin], [xmax, ymax]]", field=f"{field}.@modelarts:feature"
            )
        (x1, y1), (x2, y2) = points
        if x1 > x2 or y1 > y2 or min(x1, y1) < 0:
            raise InvalidArgument(
                "a bndbox needs xmin <= xmax, ymin <= ymax, all >= 0", field=f"{field}.@modelarts:feature"
            )


def build_labels(
    dataset: Dataset,
    known: dict[str, DatasetLabel],
    raw_labels: Any,
    field: str,
    labeler: str | None,
    *,
    annotated_by_default: str = "human",
    fit: bool = False,
) -> list[dict[str, Any]]:
    """Validate sample labels; returns column values for SampleLabel rows (without sample ids).

    ``raw_labels`` may come from a file being imported, not only from a typed request: every field is
    checked here. A label's type must be one of the reference's; with ``fit`` (what a client sends)
    also one of the dataset's type. Imports (``records.py``) leave ``fit`` off: they keep the types
    their files give, as they always have, rather than fail records of existing manifests."""
    if not isinstance(raw_labels, list):
        raise InvalidArgument("must be a list", field=field)
    out = []
    for i, raw in enumerate(raw_labels):
        f = f"{field}[{i}]"
        if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
            raise InvalidArgument("is required", field=f"{f}.name")
        label = known.get(raw["name"])
        if label is None:
            # A body's reference to a missing label: 400, with the label's own code.
            raise LabelNotFound(
                f"label '{raw['name']}' is not a label of this dataset", field=f"{f}.name", http_status=400
            )
        prop = raw.get("property") or {}
        if not isinstance(prop, dict):
            raise InvalidArgument("must be an object", field=f"{f}.property")
        label_type = check_label_type(dataset, raw.get("type", label.type), f"{f}.type", fit=fit)
        if label_type == 1 or "@modelarts:feature" in prop:
            _check_feature(prop, f"{f}.property")
        score = raw.get("score")
        if score is not None and (not isinstance(score, int | float) or not 0 <= score <= 1):
            raise InvalidArgument("must be a number in [0, 1]", field=f"{f}.score")
        annotated_by = raw.get("annotated_by") or annotated_by_default
        if annotated_by not in ("human", "auto"):
            raise InvalidArgument("must be 'human' or 'auto'", field=f"{f}.annotated_by")
        out.append(
            {
                "dataset_id": dataset.id,
                "name": label.name,
                "type": label_type,
                "property": prop,
                "score": float(score) if score is not None else None,
                "annotated_by": annotated_by,
                "labeler": labeler,
            }
        )
    return out


def known_labels(session: Session, dataset: Dataset) -> dict[str, DatasetLabel]:
    return {
        label.name: label
        for label in session.scalars(select(DatasetLabel).where(DatasetLabel.dataset_id == dataset.id))
    }


def update_sample_labels(
    session: Session, dataset: Dataset, body: dict[str, Any], labeler: str
) -> list[dict[str, Any]]:
    """Replace the labels of each listed sample, all or nothing. ``body`` is an ``UpdateSamplesReq``
    as sent (types and enums already checked).

    A sample item may carry ``sample_version`` (as read from the sample); if the sample changed
    since, nothing is written and 409 names the samples, so two labelers never silently overwrite
    each other.
    """
    items = body["samples"]
    labeler = body.get("email") or labeler
    known = known_labels(session, dataset)
    ids = [item["sample_id"] for item in items]
    found = {
        s.id: s
        for s in session.scalars(
            # In id order: label updates no longer exclude each other on the dataset row
            # (api/samples.py), and two of them locking shared samples in different orders would
            # deadlock; PostgreSQL locks the rows as the sort returns them.
            select(Sample)
            .where(Sample.dataset_id == dataset.id, Sample.id.in_(ids))
            .order_by(Sample.id)
            .with_for_update()
        )
    }
    stale = []
    for item in items:
        sample = found.get(item["sample_id"])
        if sample is None:
            raise SampleNotFound(f"Sample '{item['sample_id']}' does not exist.")
        version = item.get("sample_version")
        if version is not None and version != sample.version:
            stale.append(sample.id)
    if stale:
        raise SampleLabelsUpdateFailed(
            "samples changed since they were read (sample_version differs): " + ", ".join(stale)
        )
    now = now_ms()
    for i, item in enumerate(items):
        sample = found[item["sample_id"]]
        rows = build_labels(
            dataset, known, item.get("labels") or [], f"samples[{i}].labels", labeler, fit=True
        )
        session.execute(delete(SampleLabel).where(SampleLabel.sample_id == sample.id))
        session.add_all(SampleLabel(sample_id=sample.id, created_at=now, **row) for row in rows)
        if item.get("metadata"):
            apply_metadata(sample, item["metadata"])
        if item.get("sample_usage"):
            sample.usage = item["sample_usage"]
        sample.labeler = labeler
        sample.version += 1
        sample.update_time = now
    session.flush()
    refresh_status(session, ids)
    # Label updates of one dataset may commit in any order (they do not lock each other out on the
    # dataset row, see api/samples.py): the time only moves forward.
    dataset.data_update_time = case((Dataset.data_update_time < now, now), else_=Dataset.data_update_time)
    return [{"success": True, "sample_id": sid} for sid in ids]


def apply_metadata(sample: Sample, metadata: dict[str, Any]) -> None:
    meta = dict(sample.meta or {})
    for key, value in metadata.items():
        if key == "@modelarts:hard":
            sample.hard = 1 if str(value).lower() in ("1", "1.0", "true") else 0
        elif key == "@modelarts:hard_coefficient":
            sample.hard_coefficient = float(value) if value is not None else None
        else:
            meta[key] = value
    sample.meta = meta
