"""Import tasks as the API shows them (reference 16.1.54–16.1.56)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from modelworks.data.datasets import IMPORT_KIND, get_dataset
from modelworks.data.tables import Dataset
from modelworks.errors import ImportTaskRunning, NotImplementedYet, TaskNotFound, TaskStopped
from modelworks.jobs import Task, submit
from modelworks.jobs.service import resource_task, resource_tasks
from modelworks.storage import ObjectStore
from modelworks.storage.scoped import user_path

_STATUS = {
    "QUEUED": "QUEUING",
    "RUNNING": "RUNNING",
    "SUCCEEDED": "COMPLETED",
    "FAILED": "FAILED",
    "CANCELLED": "FAILED",
}


def create_import_task(session: Session, store: ObjectStore, dataset: Dataset, body: dict[str, Any]) -> Task:
    """Queue an import into ``dataset`` (locked by the caller). ``body`` is a ``CreateImportTaskReq``
    dump: types and enums are checked there."""
    import_path = body["import_path"]
    manifest = body.get("import_type") in ("manifest", 1, "1")
    if body.get("import_origin") not in (None, "obs"):
        raise NotImplementedYet(f"import_origin '{body['import_origin']}' is not supported; use 'obs'")
    path = user_path(store, import_path, field="import_path")
    path = path if manifest else path.as_dir()
    busy = session.scalar(
        select(Task.id).where(
            Task.resource_id == dataset.id,
            Task.kind.in_((IMPORT_KIND, "sync")),
            Task.status.in_(("QUEUED", "RUNNING")),
        )
    )
    if busy:
        raise ImportTaskRunning(f"Dataset already has running import task {busy}.")
    return submit(
        session,
        kind=IMPORT_KIND,
        project_id=dataset.project_id,
        resource_type="dataset",
        resource_id=dataset.id,
        payload={
            "dataset_id": dataset.id,
            "import_path": str(path),
            "import_paths": [str(path)],
            "import_type": 1 if manifest else 0,
            "import_annotations": body.get("import_annotations", True) is not False,
            "final_annotation": body.get("final_annotation", True) is not False,
            "difficult_only": body.get("difficult_only") is True,
            "included_labels": body.get("included_labels") or [],
            "excluded_labels": body.get("excluded_labels") or [],
        },
    )


def import_task_view(task: Task) -> dict[str, Any]:
    result = task.result or {}
    end = task.finished_at or task.updated_at
    elapsed = max(0, (end - task.started_at) // 1000) if task.started_at and end else 0
    view: dict[str, Any] = {
        "task_id": task.id,
        "dataset_id": task.resource_id,
        "import_path": task.payload.get("import_path"),
        "import_type": 1 if task.payload.get("import_type") == 1 else 0,
        "status": _STATUS.get(task.status, task.status),
        "progress": task.progress,
        "total_sample_count": result.get("total_sample_count", result.get("total_file_count", 0)),
        "imported_sample_count": result.get("imported_sample_count", 0),
        "annotated_sample_count": result.get("annotated_sample_count", 0),
        "unconfirmed_sample_count": 0,
        "total_sub_sample_count": 0,
        "imported_sub_sample_count": 0,
        "total_file_count": result.get("total_file_count", 0),
        "finished_file_count": result.get("finished_file_count", 0),
        "total_file_size": result.get("total_file_size", 0),
        "finished_file_size": result.get("finished_file_size", 0),
        "file_statistics": {
            "file_num_total": result.get("total_file_count", 0),
            "file_num_finished": result.get("finished_file_count", 0),
            "file_size_total": result.get("total_file_size", 0),
            "file_size_finished": result.get("finished_file_size", 0),
        },
        "data_source": {"data_type": 0, "data_path": task.payload.get("import_path")},
        "create_time": task.created_at,
        "update_ms": task.updated_at,
        "elapsed_time": elapsed,
        "error_files": result.get("error_files", []),
    }
    if task.error_code:
        view["error_code"] = task.error_code
        view["error_msg"] = task.error_msg
    elif task.status == "CANCELLED":
        view["error_code"], view["error_msg"] = TaskStopped.error_code, "The import task was stopped."
    return view


def list_import_tasks(
    session: Session, project_id: str, dataset_id: str, offset: int, limit: int
) -> tuple[int, list[Task]]:
    get_dataset(session, project_id, dataset_id)
    return resource_tasks(session, project_id, dataset_id, IMPORT_KIND, offset=offset, limit=limit)


def get_import_task(session: Session, project_id: str, dataset_id: str, task_id: str) -> Task:
    get_dataset(session, project_id, dataset_id)
    task = resource_task(session, project_id, dataset_id, IMPORT_KIND, task_id)
    if task is None:
        raise TaskNotFound(f"Import task '{task_id}' does not exist.")
    return task
