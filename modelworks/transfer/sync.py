"""Synchronizing a dataset with its data sources (reference 16.1.60, 16.1.61).

A sync is an import of the dataset's data sources ("sync" task): files the dataset already has are
skipped (sample ids derive from the source path), new ones are added with the labels their folders or
annotation files carry; then samples whose file was removed from a data source are deleted.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from modelworks.data.datasets import IMPORT_KIND
from modelworks.data.tables import Dataset, Sample, SampleLabel
from modelworks.db import now_ms
from modelworks.errors import ImportTaskRunning, SyncTaskRunning, UnsupportedDatasetOperation
from modelworks.jobs import Task, TaskContext, register, submit
from modelworks.storage import parse_obs_path
from modelworks.transfer.import_task import ImportTask
from modelworks.transfer.records import count_samples

SYNC_KIND = "sync"
PAGE = 1000
_STATUS = {
    "QUEUED": "QUEUING",
    "RUNNING": "RUNNING",
    "SUCCEEDED": "COMPLETED",
    "FAILED": "FAILED",
    "CANCELLED": "FAILED",
}


def start_sync(session: Session, dataset: Dataset) -> Task:
    """Queue a sync of ``dataset`` (locked by the caller)."""
    if 100 <= dataset.dataset_type < 200:
        raise UnsupportedDatasetOperation(
            f"Unsupported operation, dataset {dataset.id} type is {dataset.dataset_type}: text datasets "
            "cannot be synchronized."
        )
    busy = session.scalars(
        select(Task.kind).where(
            Task.resource_id == dataset.id,
            Task.kind.in_((IMPORT_KIND, SYNC_KIND)),
            Task.status.in_(("QUEUED", "RUNNING")),
        )
    ).first()
    if busy == SYNC_KIND:
        raise SyncTaskRunning("Sync data source task exist.")
    if busy == IMPORT_KIND:
        raise ImportTaskRunning("Dataset already has running import task.")
    paths = [source["data_path"] for source in dataset.data_sources if source.get("data_path")]
    return submit(
        session,
        kind=SYNC_KIND,
        project_id=dataset.project_id,
        resource_type="dataset",
        resource_id=dataset.id,
        payload={
            "dataset_id": dataset.id,
            "import_path": paths[0] if paths else "",
            "import_paths": paths,
            "import_type": 0,
            "import_annotations": True,
        },
    )


def sync_status(session: Session, dataset: Dataset) -> dict[str, Any]:
    task = session.scalars(
        select(Task)
        .where(Task.resource_id == dataset.id, Task.kind == SYNC_KIND)
        .order_by(Task.created_at.desc(), Task.id)
        .limit(1)
    ).first()
    if task is None:
        return {"dataset_id": dataset.id, "status": "NOT_EXIST"}
    result = task.result or {}
    end = task.finished_at or now_ms()
    view: dict[str, Any] = {
        "task_id": task.id,
        "dataset_id": dataset.id,
        "status": _STATUS.get(task.status, task.status),
        "create_time": task.created_at,
        "duration_time": max(0, end - task.started_at) if task.started_at else 0,
        "add_sample_count": result.get("imported_sample_count", 0),
        "deleted_sample_count": result.get("deleted_sample_count", 0),
        "total_sample_count": result.get("dataset_sample_count", 0),
    }
    if task.error_code:
        view["error_code"], view["error_msg"] = task.error_code, task.error_msg
    return view


class SyncTask(ImportTask):
    """An import of the data sources, then removal of the samples whose files are gone."""

    kind = SYNC_KIND

    def run(self, ctx: TaskContext) -> dict[str, Any]:
        result = super().run(ctx)
        deleted = _remove_vanished(ctx)
        with ctx.db.session() as session:
            total = count_samples(session, ctx.payload["dataset_id"])
        return {**result, "deleted_sample_count": deleted, "dataset_sample_count": total}


def _remove_vanished(ctx: TaskContext) -> int:
    dataset_id = ctx.payload["dataset_id"]
    roots = [parse_obs_path(p).as_dir() for p in ctx.payload["import_paths"]]
    present = {str(info.path) for root in roots for info in ctx.store.list(root)}
    gone: list[str] = []
    for root in roots:
        last = ""
        while True:
            with ctx.db.session() as session:
                rows = session.execute(
                    select(Sample.id, Sample.source)
                    .where(
                        Sample.dataset_id == dataset_id,
                        Sample.source.startswith(str(root), autoescape=True),
                        Sample.id > last,
                    )
                    .order_by(Sample.id)
                    .limit(PAGE)
                ).all()
            gone += [row.id for row in rows if row.source.split("#", 1)[0] not in present]
            if len(rows) < PAGE:
                break
            last = rows[-1].id
    gone = list(dict.fromkeys(gone))  # overlapping data sources list a sample twice
    for start in range(0, len(gone), PAGE):
        ids = gone[start : start + PAGE]
        with ctx.db.session() as session:
            session.execute(delete(SampleLabel).where(SampleLabel.sample_id.in_(ids)))
            session.execute(delete(Sample).where(Sample.id.in_(ids)))
            dataset = session.get(Dataset, dataset_id)
            if dataset is not None:
                dataset.deleted_sample_count += len(ids)
                dataset.data_update_time = now_ms()
    return len(gone)


register(SyncTask())
