"""Dataset samples as format ``Record`` s and back.

Reading pages through a dataset's samples by ``(create_time, id)``, a page of ~1000 rows at a time
in a short transaction of its own, so exports and publishing run in flat memory and never hold a
database lock while they write files. The other way, a ``Record`` read from a manifest or an
annotation format becomes a sample row with its labels (``RecordSample``), ready to insert.
"""

from __future__ import annotations

import hashlib
import random
import tempfile
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, BinaryIO, cast

from sqlalchemy import ColumnElement, Row, and_, exists, func, insert, or_, select, text
from sqlalchemy.orm import Session, aliased

from modelworks.data.constants import (
    SAMPLE_IMAGE,
    STATUS_AUTO,
    STATUS_MANUAL,
    STATUS_UNLABELED,
    sample_type_for,
)
from modelworks.data.indexing import IndexedSample, UnreadableFile, image_size
from modelworks.data.ingest import insert_samples
from modelworks.data.samples import USAGES, build_labels, sample_id_for
from modelworks.data.tables import Dataset, DatasetLabel, Sample, SampleLabel
from modelworks.db import now_ms
from modelworks.errors import InvalidArgument, InvalidTaskParameter, ModelworksError
from modelworks.formats import Annotation, Record
from modelworks.storage import ObjectStore, ObsPath, parse_obs_path

if TYPE_CHECKING:
    from modelworks.db import Database

PAGE = 1000
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
HARD_KEYS = ("@modelarts:hard", "@modelarts:hard_coefficient", "@modelarts:hard_reasons")


# -- samples -> records ------------------------------------------------------------------------------


def format_time(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime(TIME_FORMAT)


def parse_time(text: str | None) -> int | None:
    if not text:
        return None
    try:
        return int(datetime.strptime(text, TIME_FORMAT).replace(tzinfo=UTC).timestamp() * 1000)
    except ValueError:
        return None


def _hard_reasons(value: Any) -> list[int] | None:
    if value in (None, "", []):
        return None
    parts = value.split("-") if isinstance(value, str) else value if isinstance(value, list) else []
    try:
        return [int(p) for p in parts]
    except (TypeError, ValueError):
        return None


def annotation_of(label: SampleLabel | Row[Any]) -> Annotation:
    """``label``: a SampleLabel, or a row of ``_LABEL_COLUMNS`` (same attribute names)."""
    prop = dict(label.property or {})
    hard = prop.get("@modelarts:hard")
    coefficient = prop.get("@modelarts:hard_coefficient")
    return Annotation(
        name=label.name,
        type=label.type,
        property=prop,
        score=label.score,
        annotated_by=label.annotated_by,
        creation_time=format_time(label.created_at),
        hard=None if hard is None else str(hard).lower() in ("1", "1.0", "true"),
        hard_coefficient=float(coefficient) if isinstance(coefficient, int | float) else None,
    )


def record_of(sample: Sample | Row[Any], labels: Sequence[SampleLabel | Row[Any]]) -> Record:
    """``sample``: a Sample, or a row of ``_RECORD_COLUMNS`` (same attribute names)."""
    meta = sample.meta or {}
    size = meta.get("@modelarts:size")
    return Record(
        source=sample.source,
        name=sample.name,
        sample_type=sample.sample_type,
        usage=sample.usage,
        id=sample.id,
        text=sample.text,
        size=(int(size[0]), int(size[1]), int(size[2]))
        if isinstance(size, list) and len(size) == 3
        else None,
        hard=True if sample.hard else None,
        hard_coefficient=sample.hard_coefficient,
        hard_reasons=_hard_reasons(meta.get("@modelarts:hard_reasons")),
        annotations=[annotation_of(label) for label in labels],
    )


def clear_hard(record: Record) -> Record:
    """The record without hard-example attributes (``clear_hard_property``)."""
    record.hard = record.hard_coefficient = record.hard_reasons = None
    for annotation in record.annotations:
        annotation.hard = annotation.hard_coefficient = None
        annotation.property = {k: v for k, v in annotation.property.items() if k not in HARD_KEYS}
    return record


def count_samples(session: Session, dataset_id: str, where: Sequence[ColumnElement[bool]] = ()) -> int:
    query = select(func.count()).select_from(Sample).where(Sample.dataset_id == dataset_id, *where)
    return session.scalar(query) or 0


# What a record needs, read as plain rows: a page of 1000 samples and their labels is several times
# cheaper to load this way than as ORM objects (no identity map, no attribute instrumentation).
_RECORD_COLUMNS = (
    Sample.id,
    Sample.source,
    Sample.name,
    Sample.sample_type,
    Sample.usage,
    Sample.text,
    Sample.meta,
    Sample.hard,
    Sample.hard_coefficient,
    Sample.create_time,
)
_LABEL_COLUMNS = (
    SampleLabel.sample_id,
    SampleLabel.name,
    SampleLabel.type,
    SampleLabel.property,
    SampleLabel.score,
    SampleLabel.annotated_by,
    SampleLabel.created_at,
)


def _page_labels(session: Session, sample_ids: list[str]) -> dict[str, list[Row[Any]]]:
    """The labels of a page of samples, in label id order, with one query."""
    by_sample: dict[str, list[Row[Any]]] = defaultdict(list)
    if sample_ids:
        query = (
            select(*_LABEL_COLUMNS)
            # sample_id alone: with dataset_id too SQLite would walk the dataset's labels by name.
            .where(SampleLabel.sample_id.in_(sample_ids))
            .order_by(SampleLabel.id)
        )
        for row in session.execute(query):
            by_sample[row.sample_id].append(row)
    return by_sample


def iter_records(
    db: Database, dataset_id: str, where: Sequence[ColumnElement[bool]] = (), *, page: int = PAGE
) -> Iterator[Record]:
    """The dataset's samples matching ``where`` as records, oldest first.

    On PostgreSQL one ordered scan streamed through a server-side cursor, ``page`` rows at a time: a
    filtered export becomes one hash semi join and one sort (about 50 ms for 8,000 of 100,000
    samples) instead of a walk of the listing index per page that probes every sample it passes
    (about 100 ms per page of 1,000). The read transaction stays open while the caller consumes the
    records, which PostgreSQL's MVCC allows without blocking any writer. On SQLite a long read
    transaction would stop WAL checkpoints, so there it reads one keyset page per transaction."""
    if db.backend == "postgresql":
        yield from _streamed_records(db, dataset_id, where, page)
        return
    last: tuple[int, str] | None = None
    while True:
        # Read-only: on SQLite a plain session takes the write lock, and a long export would make
        # every label update wait for each of its pages.
        with db.session(readonly=True) as session:
            query = select(*_RECORD_COLUMNS).where(Sample.dataset_id == dataset_id, *where)
            if last is not None:
                created, sid = last
                query = query.where(
                    or_(Sample.create_time > created, and_(Sample.create_time == created, Sample.id > sid))
                )
            rows = list(session.execute(query.order_by(Sample.create_time, Sample.id).limit(page)))
            labels = _page_labels(session, [s.id for s in rows])
            records = [record_of(s, labels.get(s.id, ())) for s in rows]
        yield from records
        if len(rows) < page:
            return
        last = (rows[-1].create_time, rows[-1].id)


def _streamed_records(
    db: Database, dataset_id: str, where: Sequence[ColumnElement[bool]], page: int
) -> Iterator[Record]:
    with db.session(readonly=True) as session:
        # Every row will be read: plan for the whole result, not for the first tenth of it as
        # PostgreSQL does for cursors by default (which picks the per-sample walk again).
        session.execute(text("SET LOCAL cursor_tuple_fraction = 1.0"))
        query = (
            select(*_RECORD_COLUMNS)
            .where(Sample.dataset_id == dataset_id, *where)
            .order_by(Sample.create_time, Sample.id)
            .execution_options(yield_per=page)
        )
        for rows in session.execute(query).partitions():
            labels = _page_labels(session, [s.id for s in rows])
            yield from (record_of(s, labels.get(s.id, ())) for s in rows)


# -- filtering records read back from a version manifest ---------------------------------------------

_RECORD_CONDITION_KEYS = frozenset(
    {"label_list", "sample_name", "sample_dir", "hard", "score", "coefficient"}
)


def check_record_conditions(conditions: list[Any], field: str = "search_conditions") -> None:
    """Refuse search conditions a published version's records cannot be filtered by."""
    for i, condition in enumerate(conditions):
        if not isinstance(condition, dict):
            raise InvalidArgument("must be an object", field=f"{field}[{i}]")
        unknown = sorted(
            k for k, v in condition.items() if v not in (None, "") and k not in _RECORD_CONDITION_KEYS
        )
        if unknown:
            known = ", ".join(sorted(_RECORD_CONDITION_KEYS))
            raise InvalidTaskParameter(
                f"{', '.join(unknown)} cannot filter a dataset version's samples; use {known}",
                field=f"{field}[{i}]",
            )


def _in_range(value: float | None, spec: Any) -> bool:
    from modelworks.data.search import parse_range

    if value is None:
        return False
    low, high = parse_range(str(spec), "search_conditions")
    return low <= value <= high


def _label_matches(annotation: Annotation, wanted: dict[str, Any]) -> bool:
    if wanted.get("name") and annotation.name != wanted["name"]:
        return False
    if wanted.get("type") is not None and annotation.type != int(wanted["type"]):
        return False
    checks = [
        (key in annotation.property)
        if values is None
        else str(annotation.property.get(key)) in map(str, values)
        for key, values in (wanted.get("property") or {}).items()
    ]
    if not checks:
        return True
    return any(checks) if wanted.get("op") == "OR" else all(checks)


def record_matches(record: Record, condition: dict[str, Any]) -> bool:
    """``condition`` (one SearchCondition, checked by ``check_record_conditions``) holds for the record."""
    label_list = condition.get("label_list")
    if label_list:
        parts = [
            any(_label_matches(a, w) for a in record.annotations) for w in label_list.get("labels") or []
        ]
        if not (any(parts) if label_list.get("op") == "OR" else all(parts)):
            return False
    path = record.source.split("#", 1)[0]
    if condition.get("sample_name") and record.name != condition["sample_name"]:
        return False
    if condition.get("sample_dir") and path.rpartition("/")[0] + "/" != condition["sample_dir"]:
        return False
    if condition.get("hard") not in (None, "") and bool(record.hard) != (
        str(condition["hard"]) in ("1", "true")
    ):
        return False
    if condition.get("score") not in (None, "") and not any(
        _in_range(a.score, condition["score"]) for a in record.annotations
    ):
        return False
    return condition.get("coefficient") in (None, "") or _in_range(
        record.hard_coefficient, condition["coefficient"]
    )


def state_matches(record: Record, sample_state: str | None) -> bool:
    """``sample_state`` for a record: __ALL__ labeled, __NONE__ unlabeled, __AUTO_ANNOTATION__ to confirm."""
    return {
        None: True,
        "": True,
        "__ALL__": status_of(record.annotations) == STATUS_MANUAL,
        "__NONE__": not record.annotations,
        "__AUTO_ANNOTATION__": status_of(record.annotations) == STATUS_AUTO,
    }.get(sample_state, False)


def status_of(annotations: Iterable[Annotation]) -> str:
    by = {a.annotated_by for a in annotations}
    if by - {"auto"}:
        return STATUS_MANUAL
    return STATUS_AUTO if by else STATUS_UNLABELED


# -- records -> sample rows --------------------------------------------------------------------------


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
            "status": status_of_rows(labels),
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


def status_of_rows(labels: Sequence[dict[str, Any]]) -> str:
    by = {label["annotated_by"] for label in labels}
    if by - {"auto"}:
        return STATUS_MANUAL
    return STATUS_AUTO if by else STATUS_UNLABELED


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


def mapped(records: Iterable[Record], *steps: Callable[[Record], Record | None]) -> Iterator[Record]:
    """Apply each step in turn; a step answering None drops the record."""
    for record in records:
        current: Record | None = record
        for step in steps:
            if current is None:
                break
            current = step(current)
        if current is not None:
            yield current


# -- train/validation split --------------------------------------------------------------------------


def labeled() -> ColumnElement[bool]:
    """Samples with at least one label: the ones a train/validation split assigns. (A correlated
    EXISTS on purpose: as an IN, SQLite would build the list of every labeled sample first.)"""
    label = aliased(SampleLabel)
    return exists().where(label.sample_id == Sample.id)


def parse_ratio(value: Any, field: str) -> float:
    try:
        ratio = float(value)
    except (TypeError, ValueError) as exc:
        raise InvalidArgument('must be a number from 0 to 1, like "0.8"', field=field) from exc
    if not 0.0 <= ratio <= 1.0:
        raise InvalidArgument('must be a number from 0 to 1, like "0.8"', field=field)
    return ratio


class UsageSplit:
    """Gives labeled records TRAIN or EVAL: exactly ``round(ratio * labeled)`` of the first ``labeled``
    labeled records are TRAIN, chosen by a shuffle seeded with ``seed`` (a retried task splits the
    same way). With ``keep_existing`` a record that has a usage keeps it and is not counted;
    otherwise unlabeled records lose theirs."""

    def __init__(self, ratio: float, labeled: int, seed: str, *, keep_existing: bool = False):
        self.ratio = ratio
        self.labeled = labeled
        self.keep_existing = keep_existing
        self._rng = random.Random(seed)
        self._train = set(self._rng.sample(range(labeled), round(ratio * labeled)))
        self._index = 0

    def __call__(self, record: Record) -> Record:
        if self.keep_existing and record.usage:
            return record
        if not record.annotations:
            if not self.keep_existing:
                record.usage = None
            return record
        i, self._index = self._index, self._index + 1
        train = i in self._train if i < self.labeled else self._rng.random() < self.ratio
        record.usage = "TRAIN" if train else "EVAL"
        return record


# -- publishing finished output ----------------------------------------------------------------------


def publish_output(store: ObjectStore, files: Sequence[str], temp: ObsPath, final: ObsPath) -> list[str]:
    """Move everything an exporter wrote below ``temp`` to ``final`` (one ``move`` of the prefix, not
    file by file); returns the final paths of ``files``, the export's index files
    (``ExportSummary.index_files``: manifests, COCO JSON ...), which is all it needs to know.

    Manifests name their own VOC files by absolute path, so the temporary prefix in them is
    rewritten first (it holds a task id: no other text can contain it)."""
    old, new = f"{temp.bucket}/{temp.key}".encode(), f"{final.bucket}/{final.key}".encode()
    for file in files:
        if file.endswith(".manifest"):
            _replace_in_lines(store, parse_obs_path(file), old, new)
    if store.exists(temp):
        store.move(temp, final)
    return [file.replace(str(temp), str(final), 1) for file in files]


def _replace_in_lines(store: ObjectStore, path: ObsPath, old: bytes, new: bytes) -> None:
    """Replace ``old`` with ``new`` in the text object ``path`` (if it occurs), a line at a time: a
    manifest of 100,000 samples is tens of MB, which must not be held in memory."""
    with store.open_read(path) as source, tempfile.TemporaryFile() as out:
        changed = False
        for line in source:
            if old in line:
                line, changed = line.replace(old, new), True
            out.write(line)
        if changed:
            out.seek(0)
            store.write_stream(path, cast(BinaryIO, out))
