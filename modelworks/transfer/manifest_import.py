"""Imports that read labels from an annotation format: a manifest file, or a directory that a format
recognises (VOC XMLs beside images, COCO, YOLO, a manifest ...).

``run_annotated_import`` is the import task's first step: it answers None when the plain directory
import does the same work (a folder of images, class sub-folders, text files), else it runs the whole
import itself. Records stream from the format's reader in batches; each record is checked on its own
(data file present and readable, labels valid) and either inserted whole with its labels or reported
in ``error_files`` and skipped. Label names the dataset lacks are added to it, as ModelArts does.
Files under an imported directory that no annotation mentions are imported as the plain import would.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from modelworks.data.datasets import STATUS_CREATING, STATUS_NORMAL
from modelworks.data.indexing import IndexedSample, UnreadableFile, index_file, wanted
from modelworks.data.ingest import ensure_labels, insert_samples
from modelworks.data.labels import default_label_type
from modelworks.data.statuses import status_counts
from modelworks.data.tables import Dataset, DatasetLabel
from modelworks.errors import DatasetNotFound, InvalidArgument, ObsPathNotFound
from modelworks.formats import Importer, ItemError, Record, detect_format, importer
from modelworks.jobs import TaskContext
from modelworks.storage import ObjectInfo, ObsPath, parse_obs_path
from modelworks.transfer.record_samples import (
    BadRecord,
    RecordSample,
    insert_record_samples,
    sample_from_record,
)

log = logging.getLogger(__name__)
BATCH = 500
MAX_REPORTED_ERRORS = 1000
MANIFEST_TYPES = ("manifest", 1, "1")
# Formats the plain directory import reads the same way: no need to take over.
PLAIN_FORMATS = frozenset({"FOLDER", "TEXT"})


def _label_names(raw: Any) -> set[str]:
    """``included_labels`` / ``excluded_labels``: Label objects or, as the reference's example has, names."""
    out = set()
    for item in raw or []:
        name = item.get("name") if isinstance(item, dict) else item
        if isinstance(name, str) and name:
            out.add(name)
    return out


class _Filters:
    def __init__(self, payload: dict[str, Any]):
        self.included = _label_names(payload.get("included_labels"))
        self.excluded = _label_names(payload.get("excluded_labels"))
        self.difficult_only = bool(payload.get("difficult_only"))

    def __bool__(self) -> bool:
        return bool(self.included or self.excluded or self.difficult_only)

    def keep(self, names: set[str], hard: bool) -> bool:
        if self.difficult_only and not hard:
            return False
        if self.included and not names & self.included:
            return False
        return not names & self.excluded


def run_annotated_import(ctx: TaskContext, earlier: int = 0) -> dict[str, Any] | None:
    """Run the import in ``ctx`` if it involves an annotation format or label filters, else None.
    ``earlier``: samples earlier attempts of the task imported (its count starts there)."""
    payload = ctx.payload
    with ctx.db.session() as session:
        dataset = session.get(Dataset, payload["dataset_id"])
        if dataset is None:
            raise DatasetNotFound(f"Dataset '{payload['dataset_id']}' does not exist.")
    with_labels = bool(payload.get("import_annotations", True))
    filters = _Filters(payload)
    sources: list[tuple[ObsPath, Importer | None]] = []
    if payload.get("import_type") in MANIFEST_TYPES:
        path = parse_obs_path(payload["import_path"], field="import_path")
        if not ctx.store.is_file(path):
            raise ObsPathNotFound(f"manifest file {path} does not exist", field="import_path")
        sources.append((path, importer("manifest", field="import_type")))
    else:
        for raw in payload.get("import_paths") or [payload["import_path"]]:
            root = parse_obs_path(raw, field="import_path").as_dir()
            if not ctx.store.exists(root):
                raise ObsPathNotFound(f"OBS path {root} does not exist", field="import_path")
            found = detect_format(ctx.store, root, dataset.dataset_type) if with_labels else None
            if found is not None and found.name.upper() in PLAIN_FORMATS:
                found = None
            sources.append((root, found))
        if not filters and all(fmt is None for _, fmt in sources):
            return None
    return _AnnotatedImport(ctx, dataset, with_labels, filters, earlier).run(sources)


class _AnnotatedImport:
    def __init__(
        self, ctx: TaskContext, dataset: Dataset, with_labels: bool, filters: _Filters, earlier: int = 0
    ):
        self.ctx = ctx
        self.dataset = dataset
        self.with_labels = with_labels
        self.filters = filters
        self.final = ctx.payload.get("final_annotation", True) is not False
        self.errors: list[dict[str, str]] = []
        self.failed = 0
        self.created_labels: list[str] = []
        self.annotated = self.done = self.finished_size = 0
        self.imported = earlier
        self.total = 0
        self.seen: set[str] = set()
        self.bad_stems: set[str] = set()
        with ctx.db.session() as session:
            rows = session.scalars(select(DatasetLabel).where(DatasetLabel.dataset_id == dataset.id))
            self.known: dict[str, DatasetLabel] = {label.name: label for label in rows}

    def run(self, sources: list[tuple[ObsPath, Importer | None]]) -> dict[str, Any]:
        plain: list[tuple[ObsPath, ObjectInfo]] = []
        for path, _ in sources:
            if path.is_dir:
                listed = [
                    info for info in self.ctx.store.list(path) if wanted(info, self.dataset.dataset_type)
                ]
                plain.extend((path, info) for info in listed)
                self.total += len(listed)
            else:
                self.total += _count_lines(self.ctx, path)
        self.ctx.progress(0, total_file_count=self.total)
        for path, fmt in sources:
            if fmt is not None:
                self._records(
                    fmt.read(self.ctx.store, path, dataset_type=self.dataset.dataset_type, options={})
                )
        leftovers = [
            (root, info)
            for root, info in plain
            if str(info.path) not in self.seen and _stem(info.path.name) not in self.bad_stems
        ]
        for start in range(0, len(leftovers), BATCH):
            self._plain(leftovers[start : start + BATCH])
        with self.ctx.db.session() as session:
            dataset = session.get(Dataset, self.dataset.id)
            if dataset is not None and dataset.status == STATUS_CREATING:
                dataset.status = STATUS_NORMAL
            # One delta row per sample imported (PostgreSQL): summed here, not by the next list request.
            status_counts(session, self.dataset.id)
        return {
            "total_file_count": max(self.total, self.done),
            "finished_file_count": max(self.total, self.done),
            "total_sample_count": self.imported + self.failed,
            "imported_sample_count": self.imported,
            "annotated_sample_count": self.annotated,
            "error_files": self.errors,
            "failed_file_count": self.failed,
            "created_labels": self.created_labels,
        }

    def _error(self, file: str, reason: str) -> None:
        self.failed += 1
        if len(self.errors) < MAX_REPORTED_ERRORS:
            self.errors.append({"file": file, "reason": reason})

    def _records(self, items: Iterable[Record | ItemError]) -> None:
        batch: list[RecordSample] = []
        for item in items:
            self.done += 1
            if isinstance(item, ItemError):
                self._error(item.file, item.reason)
                # The data file of a broken annotation file is skipped too, not imported unlabeled.
                self.bad_stems.add(_stem(item.file))
            else:
                self._add_record(item, batch)
            if len(batch) >= BATCH:
                self._commit(batch)
                batch = []
        self._commit(batch)

    def _add_record(self, record: Record, batch: list[RecordSample]) -> None:
        if not record.source.startswith("content://"):
            with contextlib.suppress(InvalidArgument):  # sample_from_record reports a bad path
                self.seen.add(str(parse_obs_path(record.source.split("#", 1)[0])))
        names = {a.name for a in record.annotations}
        if not self.filters.keep(names, bool(record.hard)):
            return
        label_type = default_label_type(self.dataset)
        for name in names - set(self.known):
            self.known[name] = DatasetLabel(
                dataset_id=self.dataset.id, name=name, type=label_type, property={}
            )
        try:
            batch.append(
                sample_from_record(
                    self.ctx.store,
                    self.dataset,
                    record,
                    self.known,
                    with_labels=self.with_labels,
                    final=self.final,
                    import_task_id=self.ctx.task_id,
                )
            )
        except BadRecord as exc:
            self._error(record.source, str(exc))

    def _commit(self, batch: list[RecordSample]) -> None:
        if batch:
            with self.ctx.db.session() as session:
                dataset = self._dataset(session)
                names = {label["name"] for item in batch for label in item.labels}
                self.created_labels += ensure_labels(session, dataset, names)
                new = set(insert_record_samples(session, dataset, batch))
            self.imported += len(new)
            self.annotated += sum(1 for item in batch if item.labels and item.row["id"] in new)
        self._report()

    def _plain(self, files: list[tuple[ObsPath, ObjectInfo]]) -> None:
        batch: list[IndexedSample] = []
        for root, info in files:
            self.done += 1
            self.finished_size += info.size
            try:
                indexed = index_file(
                    self.ctx.store,
                    info,
                    dataset_id=self.dataset.id,
                    dataset_type=self.dataset.dataset_type,
                    root=root,
                    with_labels=self.with_labels,
                    label_format=self.dataset.label_format,
                    import_task_id=self.ctx.task_id,
                )
            except UnreadableFile as exc:
                self._error(str(info.path), str(exc))
                continue
            batch.extend(s for s in indexed if self.filters.keep(set(s.label_names), False))
        with self.ctx.db.session() as session:
            dataset = self._dataset(session)
            self.created_labels += ensure_labels(session, dataset, {n for s in batch for n in s.label_names})
            self.imported += insert_samples(session, dataset, batch)
            self.annotated += sum(1 for s in batch if s.label_names)
        self._report()

    def _dataset(self, session: Session) -> Dataset:
        dataset = session.get(Dataset, self.dataset.id)
        if dataset is None:
            raise DatasetNotFound(f"Dataset '{self.dataset.id}' was deleted during the import.")
        return dataset

    def _report(self) -> None:
        self.ctx.progress(
            100.0 * min(self.done, self.total) / max(self.total, 1) if self.total else 0.0,
            finished_file_count=self.done,
            finished_file_size=self.finished_size,
            imported_sample_count=self.imported,
            annotated_sample_count=self.annotated,
            error_files=self.errors,
            failed_file_count=self.failed,
            created_labels=self.created_labels,
        )


def _stem(path: str) -> str:
    return path.rpartition("/")[2].rpartition(".")[0] or path.rpartition("/")[2]


def _count_lines(ctx: TaskContext, path: ObsPath) -> int:
    with ctx.store.open_read(path) as stream:
        return sum(1 for line in stream if line.strip())
