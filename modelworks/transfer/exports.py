"""Export tasks (reference 16.1.57–16.1.59): a dataset's samples to a storage directory in a format, or
to a new dataset.

The request is checked and normalised here and queued as an "export" task; ``export_task.py``
runs it. The task echoes the request's ``export_params`` with their defaults filled in.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from modelworks.data import search
from modelworks.data.constants import STATUS_MANUAL, STATUS_UNLABELED
from modelworks.data.datasets import get_dataset
from modelworks.data.tables import Dataset, Sample
from modelworks.db.base import new_short_id
from modelworks.errors import (
    DatasetExists,
    ExportTaskNotFound,
    InvalidExportPath,
    InvalidTaskParameter,
    TaskStopped,
)
from modelworks.formats import exporter
from modelworks.jobs import Task, submit
from modelworks.jobs.service import resource_task, resource_tasks
from modelworks.storage import ObjectStore
from modelworks.storage.scoped import user_path
from modelworks.transfer.steps import parse_ratio
from modelworks.transfer.versions import version_for_export

EXPORT_KIND = "export"
LABELED, UNLABELED, ALL, BY_CONDITION = 0, 1, 2, 3
TREE, TILE = 1, 2
TREE_FORMATS = frozenset({"manifest", "folder"})
"""The formats whose exports follow ``export_format``; VOC, COCO and YOLO have layouts of their own."""
TABLE_DATASET = 400
DEST_DIR, DEST_NEW_DATASET = "DIR", "NEW_DATASET"
_STATUS = {
    "QUEUED": "INIT",
    "RUNNING": "RUNNING",
    # The reference spells the finished state so (Chinese page of 16.1.58).
    "SUCCEEDED": "SUCCESSED",
    "FAILED": "FAILED",
    "CANCELLED": "FAILED",
}
# Names the API uses for a format, beside the names the formats registry knows.
_ALIASES = {"PASCAL VOC": "VOC", "PASCAL_VOC": "VOC", "PASCALVOC": "VOC", "DEFAULT": "manifest"}
_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,100}$")


def _invalid(message: str, field: str) -> InvalidTaskParameter:
    return InvalidTaskParameter(message, field=field)


def _format_name(raw: str | None) -> str:
    if not raw:
        return "manifest"
    return _ALIASES.get(raw.strip().upper(), raw.strip())


def _check_version_format(dataset: Dataset, value: str | None, prefix: str = "") -> str:
    if value and value != "Default" and dataset.dataset_type != TABLE_DATASET:
        field = f"{prefix}export_dataset_version_format" if prefix else "version_format"
        raise _invalid("CarbonData and CSV are the formats of table datasets", field)
    return value or "Default"


def export_filters(payload: dict[str, Any], dataset_id: str | None = None) -> list[ColumnElement[bool]]:
    """SQL conditions selecting the samples an export covers (for an export of the live dataset).
    With the dataset's ``dataset_id`` the label conditions are dataset-scoped IN instead of
    correlated EXISTS (``search.any_of``): cheaper to count with, see ``export_task``."""
    params = payload["export_params"]
    where: list[ColumnElement[bool]] = []
    export_type = payload["export_type"]
    if export_type == LABELED:
        where.append(Sample.status == STATUS_MANUAL)
    elif export_type == UNLABELED:
        where.append(Sample.status == STATUS_UNLABELED)
    where.append(search.state_filter(params.get("sample_state") or None))
    if params.get("samples"):
        where.append(Sample.id.in_(params["samples"]))
    conditions = params.get("search_conditions") or []
    if conditions:
        where.append(search.any_of(conditions, "export_params.search_conditions", dataset_id))
    return where


def create_export_task(session: Session, store: ObjectStore, dataset: Dataset, body: dict[str, Any]) -> Task:
    """Queue an export of ``dataset`` (locked by the caller). ``body`` is a ``CreateExportTaskReq``
    dump: types and enums are checked there, what depends on the dataset or the store here."""
    fmt = exporter(_format_name(body.get("annotation_format")))
    params = dict(body.get("export_params") or {})
    dest = params.get("export_dest") or DEST_DIR
    params["export_dest"] = dest
    export_format = body.get("export_format") or TILE
    tree_meaningful = fmt.name in TREE_FORMATS and not 100 <= dataset.dataset_type < 200
    if export_format == TREE and dest == DEST_DIR and not tree_meaningful:
        raise _invalid(
            "1 (tree) lays data files out by label folder: it applies to the manifest and folder "
            f"formats of file datasets, not to {fmt.name} of a type {dataset.dataset_type} dataset",
            "export_format",
        )
    _check_version_format(dataset, params.get("export_dataset_version_format"), "export_params.")
    version_format = _check_version_format(dataset, body.get("version_format"))
    if dest == DEST_DIR and dataset.dataset_type not in fmt.dataset_types:
        raise _invalid(
            f"{fmt.name} cannot carry datasets of type {dataset.dataset_type}", "annotation_format"
        )
    state = params.get("sample_state") or body.get("sample_state") or ""
    search.state_filter(state or None)  # refuses an unknown state
    params["sample_state"] = state
    conditions = search.parse_conditions(params.get("search_conditions"), "export_params.search_conditions")
    search.any_of(conditions, "export_params.search_conditions")  # refuses malformed conditions
    params["search_conditions"] = conditions
    params["samples"] = samples = params.get("samples") or []
    export_type = body.get("export_type")
    if export_type is None:
        export_type = BY_CONDITION if state or conditions or samples else ALL
    for key, default in (("clear_hard_property", True), ("ratio_sample_usage", False)):
        params[key] = default if params.get(key) is None else params[key]
    ratio = params.get("train_sample_ratio")
    params["train_sample_ratio"] = "1.00" if ratio in (None, "") else str(ratio)
    parse_ratio(params["train_sample_ratio"], "export_params.train_sample_ratio")
    header = body.get("source_type_header") or "obs://"
    path = body.get("path")
    if not path:
        raise InvalidExportPath("is required to export to OBS or to a new dataset", field="path")
    out = user_path(store, path, field="path", write=True).as_dir()
    version_id = body.get("version_id") or None
    manifest_path = None
    if version_id is not None:
        version = version_for_export(session, dataset.project_id, dataset.id, str(version_id))
        search.check_testable(conditions, "export_params.search_conditions")
        manifest_path = version.manifest_path
    payload: dict[str, Any] = {
        "dataset_id": dataset.id,
        "annotation_format": fmt.name,
        "export_format": export_format,
        "export_type": export_type,
        "export_params": params,
        "path": str(out),
        "source_type_header": header,
        "version_id": version_id,
        "version_format": version_format,
        "manifest_path": manifest_path,
        "with_column_header": body.get("with_column_header") is not False,
    }
    if dest == DEST_NEW_DATASET:
        payload["new_dataset_id"] = new_short_id()
        _check_new_dataset(session, store, dataset, params, out)
    elif params.get("export_dataset_version_name"):
        name = params["export_dataset_version_name"]
        if not isinstance(name, str) or not re.match(r"^[A-Za-z0-9_.-]{1,64}$", name):
            raise _invalid(
                "must be 1 to 64 letters, digits, '.', '_' or '-'",
                "export_params.export_dataset_version_name",
            )
    return submit(
        session,
        kind=EXPORT_KIND,
        project_id=dataset.project_id,
        resource_type="dataset",
        resource_id=dataset.id,
        payload=payload,
    )


def _check_new_dataset(
    session: Session, store: ObjectStore, dataset: Dataset, params: dict[str, Any], data_path: Any
) -> None:
    name = params.get("export_new_dataset_name")
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise _invalid(
            "must be 1 to 100 letters, digits, underscores or hyphens",
            "export_params.export_new_dataset_name",
        )
    if session.scalar(
        select(Dataset.id).where(Dataset.project_id == dataset.project_id, Dataset.name == name)
    ):
        raise DatasetExists(f"Dataset '{name}' already exists.")
    raw = params.get("export_new_dataset_work_path")
    if not isinstance(raw, str) or not raw:
        raise _invalid("is required to export to a new dataset", "export_params.export_new_dataset_work_path")
    work = user_path(store, raw, field="export_params.export_new_dataset_work_path", write=True).as_dir()
    if not work.key:
        raise _invalid(
            "a subdirectory must be given, not a bucket root", "export_params.export_new_dataset_work_path"
        )
    if work.is_relative_to(data_path) or data_path.is_relative_to(work):
        raise _invalid(
            "the work path and the data path (path) must not be the same or inside each other",
            "export_params.export_new_dataset_work_path",
        )
    params["export_new_dataset_work_path"] = str(work)
    version_name = params.get("export_dataset_version_name")
    if version_name not in (None, "") and (
        not isinstance(version_name, str) or not re.match(r"^[A-Za-z0-9_-]{1,32}$", version_name)
    ):
        raise _invalid(
            "must be 1 to 32 letters, digits, underscores or hyphens",
            "export_params.export_dataset_version_name",
        )


def export_task_view(task: Task) -> dict[str, Any]:
    payload, result = task.payload, task.result or {}
    view: dict[str, Any] = {
        "task_id": task.id,
        "path": payload.get("path"),
        "export_type": payload.get("export_type"),
        "export_format": payload.get("export_format"),
        "annotation_format": payload.get("annotation_format"),
        "version_format": payload.get("version_format", "Default"),
        "with_column_header": payload.get("with_column_header", True),
        "export_params": payload.get("export_params", {}),
        "status": _STATUS.get(task.status, task.status),
        "progress": task.progress,
        "total_sample_count": result.get("total_sample_count", 0),
        "finished_sample_count": result.get("finished_sample_count", 0),
        "create_time": task.created_at,
        "update_time": task.updated_at,
    }
    if payload.get("version_id"):
        view["version_id"] = payload["version_id"]
    if task.error_code:
        view["error_code"], view["error_msg"] = task.error_code, task.error_msg
    elif task.status == "CANCELLED":
        view["error_code"], view["error_msg"] = TaskStopped.error_code, "The export task was stopped."
    return view


def list_export_tasks(
    session: Session, project_id: str, dataset_id: str, *, export_type: int | None, offset: int, limit: int
) -> tuple[int, list[Task]]:
    get_dataset(session, project_id, dataset_id)
    where = () if export_type is None else (Task.payload["export_type"].as_integer() == export_type,)
    return resource_tasks(
        session, project_id, dataset_id, EXPORT_KIND, offset=offset, limit=limit, where=where
    )


def get_export_task(session: Session, project_id: str, dataset_id: str, task_id: str) -> Task:
    get_dataset(session, project_id, dataset_id)
    task = resource_task(session, project_id, dataset_id, EXPORT_KIND, task_id)
    if task is None:
        raise ExportTaskNotFound(f"Export task '{task_id}' does not exist.")
    return task
