"""Dataset lifecycle: create (with its first import), list, get, modify, delete."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from modelworks.data import labels as label_service
from modelworks.data.constants import STATUS_AUTO, STATUS_MANUAL
from modelworks.data.tables import Dataset, DatasetLabel, Sample
from modelworks.db import now_ms
from modelworks.errors import (
    DatasetExists,
    DatasetNotFound,
    InvalidArgument,
    SubdirectoryRequired,
)
from modelworks.jobs import Task, submit
from modelworks.storage import ObjectStore
from modelworks.storage.scoped import user_path

STATUS_CREATING, STATUS_NORMAL, STATUS_DELETING = 0, 1, 2
IMPORT_KIND = "import"


def get_dataset(session: Session, project_id: str, dataset_id: str, *, for_update: bool = False) -> Dataset:
    query = select(Dataset).where(Dataset.id == dataset_id, Dataset.project_id == project_id)
    if for_update:
        query = query.with_for_update()
    dataset = session.scalar(query)
    if dataset is None or dataset.status == STATUS_DELETING:
        raise DatasetNotFound(f"Dataset '{dataset_id}' does not exist.")
    return dataset


def inner_paths(dataset: Dataset) -> dict[str, str]:
    base = dataset.work_path.rstrip("/") + f"/{dataset.name}-{dataset.id}/"
    return {
        "inner_work_path": base,
        "inner_annotation_path": base + "annotation/",
        "inner_data_path": base + "data/",
        "inner_log_path": base + "logs/",
        "inner_temp_path": base + "temp/",
        "inner_task_path": base + "task/",
    }


def create_dataset(
    session: Session, store: ObjectStore, project_id: str, body: dict[str, Any]
) -> tuple[Dataset, Task | None]:
    """``body`` is a ``CreateDatasetReq`` as sent (types, enums and name rules already checked).
    ``store`` is the caller's project's: the work path must be writable by it and every data source
    readable (a dataset on another project's bucket needs that bucket shared)."""
    name = body["dataset_name"]
    work = user_path(store, body["work_path"], field="work_path", write=True).as_dir()
    if not work.key:
        raise SubdirectoryRequired("a subdirectory must be given, not a bucket root", field="work_path")
    clean_sources = []
    for i, source in enumerate(body["data_sources"]):
        field = f"data_sources[{i}]"
        if source.get("data_type", 0) != 0:
            raise InvalidArgument("only OBS (data_type 0) sources are supported", field=f"{field}.data_type")
        path = user_path(store, str(source.get("data_path") or ""), field=f"{field}.data_path").as_dir()
        clean_sources.append({"data_type": 0, "data_path": str(path)})
    if session.scalar(select(Dataset.id).where(Dataset.project_id == project_id, Dataset.name == name)):
        raise DatasetExists(f"Dataset '{name}' already exists.")
    dataset = Dataset(
        project_id=project_id,
        name=name,
        description=body.get("description") or "",
        dataset_type=body.get("dataset_type", 0),
        data_format=body.get("data_format") or "Default",
        data_sources=clean_sources,
        work_path=str(work),
        work_path_type=body.get("work_path_type", 0),
        workspace_id=str(body.get("workspace_id") or "0"),
        label_format=body.get("label_format"),
        status=STATUS_CREATING,
    )
    session.add(dataset)
    session.flush()
    label_service.add_labels(session, dataset, body.get("labels") or [], field="labels", strict=True)
    task = submit(
        session,
        kind=IMPORT_KIND,
        project_id=project_id,
        resource_type="dataset",
        resource_id=dataset.id,
        payload={
            "dataset_id": dataset.id,
            "import_path": clean_sources[0]["data_path"],
            "import_paths": [s["data_path"] for s in clean_sources],
            "import_type": 0,
            "import_annotations": body.get("import_annotations", True) is not False,
            "initial": True,
        },
    )
    dataset.import_task_id = task.id
    return dataset, task


def list_datasets(
    session: Session,
    project_id: str,
    *,
    offset: int,
    limit: int,
    dataset_type: int | None,
    search_content: str | None,
    sort_by: str,
    order: str,
) -> tuple[int, list[Dataset]]:
    query = select(Dataset).where(Dataset.project_id == project_id, Dataset.status != STATUS_DELETING)
    if dataset_type is not None:
        query = query.where(Dataset.dataset_type == dataset_type)
    if search_content:
        query = query.where(Dataset.name.contains(search_content, autoescape=True))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    column = Dataset.name if sort_by == "dataset_name" else Dataset.created_at
    query = query.order_by(column.asc() if order == "asc" else column.desc(), Dataset.id)
    return total, list(session.scalars(query.offset(offset).limit(limit)))


def sample_counts(session: Session, dataset_id: str) -> dict[str, int]:
    rows = session.execute(
        select(Sample.status, func.count()).where(Sample.dataset_id == dataset_id).group_by(Sample.status)
    ).all()
    by_status = {status: count for status, count in rows}
    return {
        "total": sum(by_status.values()),
        "annotated": by_status.get(STATUS_MANUAL, 0),
        "unconfirmed": by_status.get(STATUS_AUTO, 0),
    }


def running_tasks(session: Session, dataset_id: str) -> list[str]:
    rows = session.scalars(
        select(Task.id).where(Task.resource_id == dataset_id, Task.status.in_(("QUEUED", "RUNNING")))
    )
    return list(rows)


def dataset_view(session: Session, dataset: Dataset, *, with_labels: bool = True) -> dict[str, Any]:
    counts = sample_counts(session, dataset.id)
    running = running_tasks(session, dataset.id)
    view: dict[str, Any] = {
        "dataset_id": dataset.id,
        "dataset_name": dataset.name,
        "dataset_type": dataset.dataset_type,
        "data_format": dataset.data_format,
        "next_version_num": dataset.next_version_num,
        "status": dataset.status,
        "data_sources": dataset.data_sources,
        "create_time": dataset.created_at,
        "update_time": dataset.updated_at,
        "data_update_time": dataset.data_update_time,
        "description": dataset.description,
        "current_version_id": dataset.current_version_id,
        "current_version_name": dataset.current_version_name,
        "total_sample_count": counts["total"],
        "annotated_sample_count": counts["annotated"],
        "unconfirmed_sample_count": counts["unconfirmed"],
        "deleted_sample_count": dataset.deleted_sample_count,
        "work_path": dataset.work_path,
        **inner_paths(dataset),
        "work_path_type": dataset.work_path_type,
        "workspace_id": dataset.workspace_id,
        "enterprise_project_id": "0",
        "exist_running_task": bool(running),
        "running_tasks_id": running,
        "exist_workforce_task": False,
        "workforce_task_count": 0,
        "feature_supports": ["0"],
        "managed": False,
        "import_data": False,
        "import_task_id": dataset.import_task_id,
        "label_task_count": 1,
        "dataset_format": 0,
        "dataset_version_count": dataset.next_version_num - 1,
        "content_labeling": True,
    }
    if dataset.label_format:
        view["label_format"] = dataset.label_format
    if with_labels:
        view["labels"] = [
            label_service.label_view(label) for label in label_service.list_labels(session, dataset)
        ]
    return view


def modify_dataset(session: Session, project_id: str, dataset_id: str, body: dict[str, Any]) -> Dataset:
    dataset = get_dataset(session, project_id, dataset_id, for_update=True)
    if body.get("dataset_name") and body["dataset_name"] != dataset.name:
        name = body["dataset_name"]
        taken = session.scalar(
            select(Dataset.id).where(Dataset.project_id == project_id, Dataset.name == name)
        )
        if taken:
            raise DatasetExists(f"Dataset '{name}' already exists.")
        dataset.name = name
    if "description" in body:
        dataset.description = body["description"] or ""
    if body.get("add_labels"):
        label_service.add_labels(session, dataset, body["add_labels"], field="add_labels", strict=True)
    if body.get("update_labels"):
        label_service.update_labels(
            session, dataset, body["update_labels"], field="update_labels", strict=True
        )
    if body.get("delete_labels"):
        label_service.delete_labels(
            session, dataset, body["delete_labels"], policy=0, field="delete_labels", strict=True
        )
    dataset.updated_at = now_ms()
    return dataset


def delete_dataset(session: Session, project_id: str, dataset_id: str) -> None:
    """Remove the dataset's rows; the files in its data sources and work path stay."""
    dataset = get_dataset(session, project_id, dataset_id, for_update=True)
    for task in session.scalars(
        select(Task).where(Task.resource_id == dataset_id, Task.status.in_(("QUEUED", "RUNNING")))
    ):
        task.cancel_requested = True
        if task.status == "QUEUED":
            task.status = "CANCELLED"
    session.execute(delete(DatasetLabel).where(DatasetLabel.dataset_id == dataset_id))
    session.delete(dataset)
