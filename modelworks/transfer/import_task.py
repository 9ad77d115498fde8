"""The background import task: index the files under a storage directory into a dataset."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import delete, select

from modelworks.data.datasets import IMPORT_KIND, STATUS_CREATING, STATUS_NORMAL
from modelworks.data.indexing import IndexedSample, UnreadableFile, index_file, wanted
from modelworks.data.ingest import ensure_labels, insert_samples
from modelworks.data.statuses import status_counts
from modelworks.data.tables import Dataset, DatasetLabel, Sample, SampleLabel
from modelworks.errors import DatasetNotFound, ObsPathNotFound
from modelworks.jobs import TaskContext, TaskHandler, register
from modelworks.storage import ObjectInfo, parse_obs_path
from modelworks.transfer.manifest_import import run_annotated_import
from modelworks.transfer.records import count_samples
from modelworks.transfer.steps import labeled

log = logging.getLogger(__name__)
BATCH = 500
ANALYZE_AFTER = 1000
"""An import that adds this many samples refreshes the planner's statistics (PostgreSQL), so the
first listings after a large import do not sort the whole dataset on empty-table estimates."""
MAX_REPORTED_ERRORS = 1000


class ImportTask(TaskHandler):
    """Indexes every file under ``import_paths``; unreadable files are reported and skipped.

    Re-running after a crash is safe: sample ids derive from their source path, so samples the
    first attempt committed are skipped. A failed or cancelled import removes what it added.
    """

    kind = IMPORT_KIND

    def run(self, ctx: TaskContext) -> dict[str, Any]:
        # An attempt after a worker stopped or died skips what the earlier ones committed, so its own
        # counts miss those samples: the task's counts start from them and are read back at the end.
        earlier = _imported_by(ctx)
        # manifests and annotation formats (VOC, COCO ...) first, else plain files
        result = run_annotated_import(ctx, earlier) or self._index_files(ctx, earlier)
        if earlier:
            result.update(_imported_counts(ctx))
            result["total_sample_count"] = result["imported_sample_count"] + result.get(
                "failed_file_count", 0
            )
        if result.get("imported_sample_count", 0) >= ANALYZE_AFTER:
            ctx.db.analyze("samples", "sample_labels")
        return result

    def _index_files(self, ctx: TaskContext, earlier: int) -> dict[str, Any]:
        payload = ctx.payload
        dataset_id = payload["dataset_id"]
        with ctx.db.session(readonly=True) as session:
            dataset = session.get(Dataset, dataset_id)
            if dataset is None:
                raise DatasetNotFound(f"Dataset '{dataset_id}' does not exist.")
            dataset_type, label_format = dataset.dataset_type, dataset.label_format
        roots = [
            parse_obs_path(p, field="import_path").as_dir()
            for p in payload.get("import_paths") or [payload["import_path"]]
        ]
        files: list[tuple[Any, ObjectInfo]] = []
        total_size = 0
        for root in roots:
            if not ctx.store.exists(root):
                raise ObsPathNotFound(f"OBS path {root} does not exist", field="import_path")
            for info in ctx.store.list(root):
                if wanted(info, dataset_type):
                    files.append((root, info))
                    total_size += info.size
        ctx.progress(0, total_file_count=len(files), total_file_size=total_size)
        errors: list[dict[str, str]] = []
        imported, annotated, finished_size = earlier, 0, 0
        created_labels: list[str] = []
        with_labels = bool(payload.get("import_annotations", True))
        for start in range(0, len(files), BATCH):
            batch: list[IndexedSample] = []
            for root, info in files[start : start + BATCH]:
                try:
                    batch.extend(
                        index_file(
                            ctx.store,
                            info,
                            dataset_id=dataset_id,
                            dataset_type=dataset_type,
                            root=root,
                            with_labels=with_labels,
                            label_format=label_format,
                            import_task_id=ctx.task_id,
                        )
                    )
                except UnreadableFile as exc:
                    if len(errors) < MAX_REPORTED_ERRORS:
                        errors.append({"file": str(info.path), "reason": str(exc)})
                finished_size += info.size
            with ctx.db.session() as session:
                dataset = session.get(Dataset, dataset_id)
                if dataset is None:
                    raise DatasetNotFound(f"Dataset '{dataset_id}' was deleted during the import.")
                created_labels += ensure_labels(session, dataset, {n for s in batch for n in s.label_names})
                imported += insert_samples(session, dataset, batch)
                annotated += sum(1 for s in batch if s.label_names)
            done = min(start + BATCH, len(files))
            ctx.progress(
                100.0 * done / max(len(files), 1),
                finished_file_count=done,
                finished_file_size=finished_size,
                imported_sample_count=imported,
                annotated_sample_count=annotated,
                error_files=errors,
                created_labels=created_labels,
            )
        with ctx.db.session() as session:
            dataset = session.get(Dataset, dataset_id)
            if dataset is not None and dataset.status == STATUS_CREATING:
                dataset.status = STATUS_NORMAL
            # One delta row per sample imported (PostgreSQL): summed here, not by the next list request.
            status_counts(session, dataset_id)
        return {
            "total_file_count": len(files),
            "finished_file_count": len(files),
            "total_sample_count": imported + len(errors),
            "imported_sample_count": imported,
            "annotated_sample_count": annotated,
            "error_files": errors,
            "failed_file_count": len(errors),
        }

    def on_failed(self, ctx: TaskContext, error: BaseException) -> None:
        """Remove the samples and labels this import added; the dataset is as it was before."""
        dataset_id = ctx.payload["dataset_id"]
        with ctx.db.session() as session:
            ids = select(Sample.id).where(
                Sample.dataset_id == dataset_id, Sample.import_task_id == ctx.task_id
            )
            session.execute(delete(SampleLabel).where(SampleLabel.sample_id.in_(ids)))
            session.execute(
                delete(Sample).where(Sample.dataset_id == dataset_id, Sample.import_task_id == ctx.task_id)
            )
            from modelworks.jobs import Task

            task = session.get(Task, ctx.task_id)
            created = (task.result or {}).get("created_labels", []) if task else []
            if created:
                used = set(
                    session.scalars(select(SampleLabel.name).where(SampleLabel.dataset_id == dataset_id))
                )
                session.execute(
                    delete(DatasetLabel).where(
                        DatasetLabel.dataset_id == dataset_id,
                        DatasetLabel.name.in_([n for n in created if n not in used]),
                    )
                )
            dataset = session.get(Dataset, dataset_id)
            if dataset is not None and dataset.status == STATUS_CREATING:
                dataset.status = STATUS_NORMAL


def _imported_by(ctx: TaskContext) -> int:
    """How many samples earlier attempts of this task committed (0 on a first attempt)."""
    with ctx.db.session(readonly=True) as session:
        return count_samples(session, ctx.payload["dataset_id"], [Sample.import_task_id == ctx.task_id])


def _imported_counts(ctx: TaskContext) -> dict[str, int]:
    """The samples this task added over all its attempts, and how many of them carry labels."""
    mine = [Sample.import_task_id == ctx.task_id]
    with ctx.db.session(readonly=True) as session:
        imported = count_samples(session, ctx.payload["dataset_id"], mine)
        annotated = count_samples(session, ctx.payload["dataset_id"], [*mine, labeled()])
    return {"imported_sample_count": imported, "annotated_sample_count": annotated}


register(ImportTask())
