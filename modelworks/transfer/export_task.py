"""The background export task: stream the selected samples into a format under a storage directory, or
copy them into a new dataset.

Nothing appears at the destination until the export is complete: files are written below
``<path>/.mw-export-<task_id>/`` and moved into place at the end; a failed or cancelled export
deletes that prefix (and the new dataset it was filling), so it leaves no partial files behind.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from sqlalchemy import delete, select

from modelworks.data import search
from modelworks.data.constants import STATE_LABELED, STATE_UNLABELED
from modelworks.data.datasets import STATUS_CREATING, STATUS_NORMAL, inner_paths
from modelworks.data.ingest import ensure_labels
from modelworks.data.labels import default_label_type, label_view, list_labels
from modelworks.data.samples import sample_id_for
from modelworks.data.tables import Dataset, DatasetLabel, DatasetVersion, Sample, SampleLabel
from modelworks.errors import DatasetExists, DatasetNotFound, InvalidExportPath, InvalidTaskParameter
from modelworks.formats import ItemError, Record, exporter, importer
from modelworks.jobs import TaskContext, TaskHandler, register
from modelworks.storage import ObsPath, parse_obs_path
from modelworks.transfer.exports import (
    DEST_NEW_DATASET,
    EXPORT_KIND,
    LABELED,
    UNLABELED,
    export_filters,
)
from modelworks.transfer.publishing import publish_version
from modelworks.transfer.record_samples import (
    BadRecord,
    RecordSample,
    insert_record_samples,
    placeholder_labels,
    sample_from_record,
)
from modelworks.transfer.records import count_samples, iter_records
from modelworks.transfer.staging import publish_output
from modelworks.transfer.steps import UsageSplit, clear_hard, labeled, mapped, parse_ratio
from modelworks.transfer.versions import create_version

BATCH = 500
PROGRESS_EVERY = 200


def temp_dir(payload: dict[str, Any], task_id: str) -> ObsPath:
    return parse_obs_path(payload["path"]).as_dir().join(f".mw-export-{task_id}/")


class ExportTask(TaskHandler):
    kind = EXPORT_KIND

    def run(self, ctx: TaskContext) -> dict[str, Any]:
        payload = ctx.payload
        with ctx.db.session(readonly=True) as session:
            dataset = session.get(Dataset, payload["dataset_id"])
            if dataset is None:
                raise DatasetNotFound(f"Dataset '{payload['dataset_id']}' does not exist.")
            labels = [label_view(label) for label in list_labels(session, dataset)]
        dest = parse_obs_path(payload["path"]).as_dir()
        if dest.key and ctx.store.is_file(ObsPath(dest.bucket, dest.key.rstrip("/"))):
            raise InvalidExportPath(f"export path {dest} is an existing file, not a directory", field="path")
        temp = temp_dir(payload, ctx.task_id)
        ctx.store.delete_prefix(temp)  # a retried attempt starts clean
        records, total, to_split = self._source(ctx, dataset)
        params = payload["export_params"]
        steps: list[Callable[[Record], Record | None]] = []
        if params["ratio_sample_usage"]:
            ratio = parse_ratio(params["train_sample_ratio"], "export_params.train_sample_ratio")
            steps.append(UsageSplit(ratio, to_split, ctx.task_id))
        if params["clear_hard_property"]:
            steps.append(clear_hard)
        counted = _Progress(ctx, total)
        stream = counted.wrap(mapped(records, *steps))
        if params["export_dest"] == DEST_NEW_DATASET:
            _NewDataset(ctx, dataset, labels, temp).fill(stream)
        else:
            fmt = exporter(payload["annotation_format"])
            options = {
                "export_format": payload["export_format"],
                "copy_data": True,
                "name": params.get("export_dataset_version_name") or dataset.name,
                "source_scheme": payload["source_type_header"],
                # temp is this task's own prefix, published in one move below and deleted by
                # on_failed: the exporter may skip per-file atomic writes there.
                "staging": True,
            }
            summary = fmt.export(
                ctx.store, stream, temp, dataset_type=dataset.dataset_type, labels=labels, options=options
            )
            publish_output(ctx.store, summary.index_files, temp, dest)
        return {"total_sample_count": counted.done, "finished_sample_count": counted.done}

    def _source(self, ctx: TaskContext, dataset: Dataset) -> tuple[Iterator[Record], int, int]:
        """The records to export, how many there are and how many of them carry labels."""
        payload = ctx.payload
        if payload.get("manifest_path"):
            total = to_split = 0
            for record in _version_records(ctx, dataset):  # a counting pass: the manifest is not held
                total += 1
                to_split += bool(record.annotations)
            return _version_records(ctx, dataset), total, to_split
        # Counted with label conditions as dataset-scoped IN (the matching ids are collected once from
        # the label index). Read the same way on PostgreSQL, where ``iter_records`` is one streamed
        # scan (a hash semi join); on SQLite paged with correlated EXISTS: a page walks the listing
        # index in order and stops at 1000 records, where an IN would rebuild its list every page.
        counting = export_filters(payload, dataset.id)
        with ctx.db.session(readonly=True) as session:
            total = count_samples(session, dataset.id, counting)
            to_split = count_samples(session, dataset.id, [*counting, labeled()])
        reading = counting if ctx.db.backend == "postgresql" else export_filters(payload)
        return iter_records(ctx.db, dataset.id, reading), total, to_split

    def on_failed(self, ctx: TaskContext, error: BaseException) -> None:
        ctx.store.delete_prefix(temp_dir(ctx.payload, ctx.task_id))
        new_id = ctx.payload.get("new_dataset_id")
        if new_id:
            _drop_new_dataset(ctx, new_id)


def _version_records(ctx: TaskContext, dataset: Dataset) -> Iterator[Record]:
    """The published version's records (read back from its manifest) that the export selects."""
    payload = ctx.payload
    params = payload["export_params"]
    wanted_ids = set(params.get("samples") or [])
    # The same selection as ``export_filters`` makes in SQL, as tests of the records.
    of_type = search.state_test(
        {LABELED: STATE_LABELED, UNLABELED: STATE_UNLABELED}.get(payload["export_type"])
    )
    in_state = search.state_test(params.get("sample_state") or None)
    matching = search.any_of_test(params.get("search_conditions") or [], "export_params.search_conditions")
    path = parse_obs_path(payload["manifest_path"])
    for item in importer("manifest").read(ctx.store, path, dataset_type=dataset.dataset_type, options={}):
        if isinstance(item, ItemError):
            continue
        if of_type(item) and in_state(item) and (not wanted_ids or item.id in wanted_ids) and matching(item):
            yield item


class _Progress:
    def __init__(self, ctx: TaskContext, total: int):
        self.ctx, self.total, self.done = ctx, total, 0

    def wrap(self, records: Iterator[Record]) -> Iterator[Record]:
        self.ctx.progress(0, total_sample_count=self.total, finished_sample_count=0)
        for record in records:
            yield record
            self.done += 1
            if self.done % PROGRESS_EVERY == 0:
                percent = 95.0 * min(self.done, self.total) / max(self.total, 1)
                self.ctx.progress(percent, finished_sample_count=self.done)
        self.ctx.progress(95.0, finished_sample_count=self.done, total_sample_count=self.done)


class _NewDataset:
    """Copies the exported samples' files below ``path`` and inserts them, with their labels and usage,
    into a new dataset of the same type whose data source is ``path``."""

    def __init__(self, ctx: TaskContext, source: Dataset, labels: list[dict[str, Any]], temp: ObsPath):
        payload = ctx.payload
        params = payload["export_params"]
        self.ctx, self.temp = ctx, temp
        self.dest = parse_obs_path(payload["path"]).as_dir()
        self.export_format = payload["export_format"]
        self.used: set[str] = set()
        self.copied: dict[str, str] = {}
        with ctx.db.session() as session:
            if session.get(Dataset, payload["new_dataset_id"]) is None:
                taken = session.scalar(
                    select(Dataset.id).where(
                        Dataset.project_id == source.project_id,
                        Dataset.name == params["export_new_dataset_name"],
                    )
                )
                if taken:
                    raise DatasetExists(
                        f"Dataset '{params['export_new_dataset_name']}' already exists.",
                        field="export_params.export_new_dataset_name",
                    )
                session.add(
                    Dataset(
                        id=payload["new_dataset_id"],
                        project_id=source.project_id,
                        name=params["export_new_dataset_name"],
                        dataset_type=source.dataset_type,
                        data_format=source.data_format,
                        data_sources=[{"data_type": 0, "data_path": str(self.dest)}],
                        work_path=params["export_new_dataset_work_path"],
                        work_path_type=0,
                        label_format=source.label_format,
                        status=STATUS_CREATING,
                    )
                )
                session.flush()
                for label in labels:
                    session.add(
                        DatasetLabel(
                            dataset_id=payload["new_dataset_id"],
                            name=label["name"],
                            type=label["type"],
                            property=label["property"],
                            attributes=label.get("attributes"),
                        )
                    )
            dataset = session.get(Dataset, payload["new_dataset_id"])
            assert dataset is not None
            self.dataset: Dataset = dataset
            self.known = {label.name: label for label in list_labels(session, dataset)}

    def fill(self, records: Iterator[Record]) -> None:
        batch: list[RecordSample] = []
        for record in records:
            batch.append(self._sample(record))
            if len(batch) >= BATCH:
                self._insert(batch)
                batch = []
        self._insert(batch)
        if self.ctx.store.exists(self.temp):
            self.ctx.store.move(self.temp, self.dest)
        with self.ctx.db.session() as session:
            dataset = session.get(Dataset, self.dataset.id)
            if dataset is not None:
                dataset.status = STATUS_NORMAL
        version_name = self.ctx.payload["export_params"].get("export_dataset_version_name")
        if version_name:
            self._publish(version_name)

    def _target(self, record: Record, source: ObsPath) -> str:
        folder = record.annotations[0].name + "/" if self.export_format == 1 and record.annotations else ""
        name = source.name
        n = 0
        while folder + name in self.used or self.ctx.store.exists(self.dest.join(folder + name)):
            n += 1
            stem, dot, ext = source.name.rpartition(".")
            name = f"{stem}_{n}.{ext}" if dot else f"{source.name}_{n}"
        self.used.add(folder + name)
        return folder + name

    def _sample(self, record: Record) -> RecordSample:
        if not record.source.startswith("content://"):
            file_part, sep, line = record.source.partition("#")
            source = parse_obs_path(file_part)
            if file_part not in self.copied:
                relative = self._target(record, source)
                self.ctx.store.copy(source, self.temp.join(relative))
                self.copied[file_part] = relative
            record.source = f"{self.temp.join(self.copied[file_part])}{sep}{line}"
        self.known = placeholder_labels(self.dataset, self.known, [record], default_label_type(self.dataset))
        try:
            item = sample_from_record(self.ctx.store, self.dataset, record, self.known)
        except BadRecord as exc:
            raise InvalidTaskParameter(f"cannot export {record.source}: {exc}") from exc
        final = item.row["source"].replace(str(self.temp), str(self.dest), 1)
        item.row.update(
            {
                "source": final,
                "id": sample_id_for(self.dataset.id, final),
                "sample_dir": str(parse_obs_path(final.split("#", 1)[0]).parent)
                if "://" not in final
                else "",
                "import_task_id": self.ctx.task_id,
            }
        )
        return item

    def _insert(self, batch: list[RecordSample]) -> None:
        if not batch:
            return
        with self.ctx.db.session() as session:
            dataset = session.get(Dataset, self.dataset.id)
            if dataset is None:
                raise DatasetNotFound("The new dataset was deleted during the export.")
            ensure_labels(session, dataset, {label["name"] for item in batch for label in item.labels})
            insert_record_samples(session, dataset, batch)

    def _publish(self, version_name: str) -> None:
        params = self.ctx.payload["export_params"]
        with self.ctx.db.session() as session:
            dataset = session.get(Dataset, self.dataset.id, with_for_update=True)
            assert dataset is not None
            version = create_version(
                session,
                dataset,
                {
                    "version_name": version_name,
                    "version_format": params.get("export_dataset_version_format") or "Default",
                    "remove_sample_usage": False,
                    "clear_hard_property": params["clear_hard_property"],
                },
                queue=False,
            )
            version_id = version.id
        publish_version(self.ctx.db, self.ctx.store, version_id, self.ctx.task_id, lambda *a, **k: None)


def _drop_new_dataset(ctx: TaskContext, dataset_id: str) -> None:
    """Remove the half-filled new dataset and the files this export copied for it."""
    dest = parse_obs_path(ctx.payload["path"]).as_dir()
    with ctx.db.session() as session:
        dataset = session.get(Dataset, dataset_id)
        if dataset is None:
            return
        sources = session.scalars(
            select(Sample.source).where(Sample.dataset_id == dataset_id, Sample.import_task_id == ctx.task_id)
        )
        files = {s.split("#", 1)[0] for s in sources if not s.startswith("content://")}
        ids = select(Sample.id).where(Sample.dataset_id == dataset_id)
        session.execute(delete(SampleLabel).where(SampleLabel.sample_id.in_(ids)))
        session.execute(delete(Sample).where(Sample.dataset_id == dataset_id))
        session.execute(delete(DatasetLabel).where(DatasetLabel.dataset_id == dataset_id))
        session.execute(delete(DatasetVersion).where(DatasetVersion.dataset_id == dataset_id))
        work = parse_obs_path(inner_paths(dataset)["inner_work_path"])
        session.delete(dataset)
    for file in sorted(files):
        path = parse_obs_path(file)
        if path.is_relative_to(dest):
            ctx.store.delete(path)
    ctx.store.delete_prefix(work)


register(ExportTask())
