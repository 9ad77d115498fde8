"""Records read from a manifest or an annotation format, as sample rows with their labels.

``sample_from_record`` checks a record's data file and labels and builds the row (``RecordSample``);
``insert_record_samples`` inserts the ones a dataset does not have yet.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from modelworks.data.constants import SAMPLE_IMAGE, sample_type_for, status_for
from modelworks.data.indexing import IndexedSample, UnreadableFile, image_size
from modelworks.data.ingest import insert_samples
from modelworks.data.sample_labels import build_labels
from modelworks.data.samples import USAGES, sample_id_for
from modelworks.data.tables import Dataset, DatasetLabel, Sample, SampleLabel
from modelworks.db import now_ms
from modelworks.errors import InvalidArgument, ModelworksError
from modelworks.formats import Annotation, Record
from modelworks.storage import ObjectStore, parse_obs_path
from modelworks.transfer.records import parse_time


class BadRecord(Exception):
    """A record that cannot become a sample; the message is the reason reported in ``error_files``."""


@dataclass
class RecordSample:
    """A sample row built from a record, with the column values of its labels (no sample id yet)."""

    row: dict[str, Any]
    labels: list[dict[str, Any]] = field(default_factory=list)


def _text_source(record: Record) -> tuple[str, str]:
    text = record.text if record.text is not None else record.source.removeprefix("content://")
    source = (
        record.source
        if len(record.source) <= 1000
        else "content://" + hashlib.sha1(text.encode()).hexdigest()
    )
    return source, text


def sample_from_record(
    store: ObjectStore,
    dataset: Dataset,
    record: Record,
    known: dict[str, DatasetLabel],
    *,
    with_labels: bool = True,
    final: bool = True,
    import_task_id: str | None = None,
    labeler: str | None = None,
) -> RecordSample:
    """Check the record's data file and labels; ``known`` must hold every label name it carries.

    Raises ``BadRecord`` (nothing is inserted for it) for a missing or unreadable file or a bad label.
    """
    sample_type = sample_type_for(dataset.dataset_type)
    meta: dict[str, Any] = {"@modelarts:import_origin": 0}
    if record.source.startswith("content://"):
        source, text = _text_source(record)
        row: dict[str, Any] = {
            "source": source,
            "name": record.name or text[:64],
            "sample_dir": "",
            "size": len(text.encode()),
            "text": text,
            "sample_time": now_ms(),
        }
    else:
        file_part, sep, line = record.source.partition("#")
        try:
            path = parse_obs_path(file_part, field="source")
            info = store.stat(path)
        except ModelworksError as exc:
            raise BadRecord(f"the data file is missing or its path is invalid: {exc.message}") from exc
        row = {
            "source": f"{path}{sep}{line}",
            "name": record.name or path.name,
            "sample_dir": str(path.parent),
            "size": info.size if record.text is None else len(record.text.encode()),
            "text": record.text,
            "sample_time": info.mtime_ms,
        }
        if sample_type == SAMPLE_IMAGE:
            try:
                size = list(record.size) if record.size else image_size(store, path)
            except UnreadableFile as exc:
                raise BadRecord(str(exc)) from exc
            meta["@modelarts:size"] = size
    if record.hard_reasons:
        meta["@modelarts:hard_reasons"] = "-".join(str(r) for r in record.hard_reasons)
    meta.update({k: v for k, v in record.extra.items() if isinstance(k, str)})
    usage = (record.usage or "").upper() or None
    labels: list[dict[str, Any]] = []
    if with_labels and record.annotations:
        raw = [
            {
                "name": a.name,
                "type": a.type,
                "property": _label_property(a),
                "score": a.score,
                "annotated_by": "human" if final and a.annotated_by == "human" else "auto",
            }
            for a in record.annotations
        ]
        try:
            labels = build_labels(dataset, known, raw, "annotation", labeler)
        except InvalidArgument as exc:
            raise BadRecord(exc.message) from exc
        for built, annotation in zip(labels, record.annotations, strict=True):
            built["created_at"] = parse_time(annotation.creation_time) or now_ms()
    row.update(
        {
            "id": sample_id_for(dataset.id, row["source"]),
            "dataset_id": dataset.id,
            "sample_type": sample_type,
            "usage": usage if usage in USAGES else None,
            "meta": meta,
            "hard": 1 if record.hard else 0,
            "hard_coefficient": record.hard_coefficient,
            "import_task_id": import_task_id,
            "status": status_for(label["annotated_by"] for label in labels),
            "labeler": labeler if labels else None,
        }
    )
    return RecordSample(row, labels)


def _label_property(annotation: Annotation) -> dict[str, Any]:
    prop = dict(annotation.property)
    if annotation.hard is not None:
        prop["@modelarts:hard"] = annotation.hard
    if annotation.hard_coefficient is not None:
        prop["@modelarts:hard_coefficient"] = annotation.hard_coefficient
    return prop


def insert_record_samples(session: Session, dataset: Dataset, items: Sequence[RecordSample]) -> list[str]:
    """Insert the samples the dataset does not have yet, with their labels; returns the new ids.

    Sample ids derive from the source, so a sample already in the dataset (an earlier import, the
    same file twice in one manifest) is skipped with its labels, never merged.
    """
    unique: dict[str, RecordSample] = {}
    for item in items:
        unique.setdefault(item.row["id"], item)
    existing = set(session.scalars(select(Sample.id).where(Sample.id.in_(list(unique)))))
    fresh = [item for sid, item in unique.items() if sid not in existing]
    if not fresh:
        return []
    insert_samples(session, dataset, [IndexedSample(item.row) for item in fresh])
    now = now_ms()
    label_rows = [
        {"created_at": now, **label, "sample_id": item.row["id"]} for item in fresh for label in item.labels
    ]
    if label_rows:
        session.execute(insert(SampleLabel), label_rows)
    return [item.row["id"] for item in fresh]


def placeholder_labels(
    dataset: Dataset, known: dict[str, DatasetLabel], records: Iterable[Record], label_type: int
) -> dict[str, DatasetLabel]:
    """``known`` plus unsaved labels for the names only the records carry, so they validate."""
    out = dict(known)
    for record in records:
        for annotation in record.annotations:
            if annotation.name not in out:
                out[annotation.name] = DatasetLabel(
                    dataset_id=dataset.id, name=annotation.name, type=label_type, property={}
                )
    return out
