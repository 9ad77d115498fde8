"""Intelligent tasks of a dataset (reference 16.1.64–16.1.67): checking a start request, queuing it,
listing, describing and stopping tasks.

A task is a row of the durable ``tasks`` table of kind ``intelligent-task`` (``handler.py`` runs it),
with ``resource_id`` the dataset and ``resource_type`` ``dataset:<task_type>`` so that lists filter on
an indexed column. The request's ``config`` is echoed back with the defaults that were applied; fields
that have no meaning here (training flavors, pool ids, OBS log URLs ...) are kept and reported
unchanged.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from modelworks.data.constants import STATUS_AUTO, STATUS_MANUAL
from modelworks.data.tables import Dataset, Sample
from modelworks.db import now_ms
from modelworks.errors import SampleNotFound, TaskAlreadyRunning, TaskNotFound
from modelworks.iam.service import Principal
from modelworks.intelligence._requests import check_labels, parse_confidence_scope
from modelworks.intelligence.base import (
    AUTO_DEPLOY,
    AUTO_GROUPING,
    AUTO_LABEL,
    INTELLIGENT_TASK_KIND,
    PRE_LABEL,
    TaskRequest,
)
from modelworks.intelligence.kinds import task_kinds
from modelworks.jobs import Task, TaskStatus, request_cancel, submit
from modelworks.ml.hard_examples import HARD_REASONS
from modelworks.storage import ObjectStore
from modelworks.storage.scoped import user_path

__all__ = [
    "AUTO_DEPLOY",
    "AUTO_GROUPING",
    "AUTO_LABEL",
    "INTELLIGENT_TASK_KIND",
    "PRE_LABEL",
    "check_labels",
    "create_task",
    "get_task",
    "hard_details",
    "list_tasks",
    "parse_confidence_scope",
    "status_code",
    "stop_task",
    "task_view",
    "task_views",
]

TASK_TYPES = {name: kind.type_number for name, kind in task_kinds.items()}
"""task_type -> the integer ``type`` of a RunningTask (the seed's legacy body sends ``"type": 2``)."""
TYPE_NAMES = {number: name for name, number in TASK_TYPES.items()}

# RunningTask.status
QUEUING, INITIALIZING, RUNNING, FAILED, SUCCEEDED, STOPPING, STOPPED = -1, 0, 1, 2, 3, 4, 5

SUCCESS_CODE = "ModelArts.4996"
"""``code`` of a task that succeeded (seeds 000/001): an outcome, not an error."""


def _task_type(body: dict[str, Any]) -> str:
    """``task_type``, else the legacy integer ``type``, else auto-label (both checked by the request
    model)."""
    if body.get("task_type"):
        return str(body["task_type"])
    if body.get("type") is not None:
        return TYPE_NAMES[int(body["type"])]
    return AUTO_LABEL


def _running(session: Session, dataset: Dataset, task_type: str) -> Task | None:
    return session.scalar(
        select(Task).where(
            Task.resource_id == dataset.id,
            Task.kind == INTELLIGENT_TASK_KIND,
            Task.resource_type == f"dataset:{task_type}",
            Task.status.in_([TaskStatus.QUEUED.value, TaskStatus.RUNNING.value]),
        )
    )


OUTPUT_PATH_FIELDS = ("annotation_output", "key_sample_output", "infer_result_output_dir", "output_dir")
"""Config fields that name storage directories a task writes to."""


def create_task(
    session: Session,
    store: ObjectStore,
    dataset: Dataset,
    body: dict[str, Any],
    *,
    principal: Principal | None = None,
    multi_node_training: bool = False,
) -> Task:
    """Check a start request (16.1.65) and queue it; the caller's commit makes it visible to workers.

    ``body`` is a ``CreateTaskReq`` as the client sent it (``api/schemas/tasks.py`` checked types,
    enums and bounds); what is left here depends on the dataset, the project and the task type.
    ``principal`` (the caller) is kept with the task for the ones that act on the caller's behalf:
    pre-label deploys a service, auto-deploy trains, registers and deploys a model.
    ``multi_node_training``: training jobs may use more than one node (the Ray executor is set up),
    so auto-deploy can honour ``worker_server_num`` above 1."""
    task_type = _task_type(body)
    kind = task_kinds.get(task_type)
    config = dict(body.get("config") or {})
    name = config.get("name") or body.get("task_name")
    for key in OUTPUT_PATH_FIELDS:
        # Checked now, not when the run ends: a path the project may not write is refused before
        # anything is queued.
        if config.get(key):
            config[key] = str(user_path(store, config[key], field=f"config.{key}", write=True).as_dir())
    sample_ids = [str(item["sample_id"]) for item in config.get("samples") or []]
    if sample_ids:
        found = session.scalar(
            select(func.count())
            .select_from(Sample)
            .where(Sample.dataset_id == dataset.id, Sample.id.in_(sample_ids))
        )
        if found != len(set(sample_ids)):
            raise SampleNotFound(
                "names samples that are not in the dataset", field="config.samples", http_status=400
            )

    payload: dict[str, Any] = {"dataset_id": dataset.id, "task_type": task_type, "sample_ids": sample_ids}
    request = TaskRequest(
        session=session,
        store=store,
        dataset=dataset,
        body=body,
        config=config,
        payload=payload,
        model_id=body.get("model_id"),
        multi_node_training=multi_node_training,
    )
    kind.prepare(request)
    running = _running(session, dataset, task_type)
    if running is not None:
        raise TaskAlreadyRunning(
            f"task {running.id} ({task_type}) is still running on this dataset; stop it or wait for it"
        )
    payload["config"] = config
    payload["name"] = name or f"{task_type}-{now_ms()}"
    payload["model_id"] = request.model_id
    if principal is not None:
        payload["principal"] = asdict(principal)
    return submit(
        session,
        kind=INTELLIGENT_TASK_KIND,
        project_id=dataset.project_id,
        payload=payload,
        resource_type=f"dataset:{task_type}",
        resource_id=dataset.id,
        max_attempts=2,
    )


def _query(dataset: Dataset) -> Any:
    return select(Task).where(Task.resource_id == dataset.id, Task.kind == INTELLIGENT_TASK_KIND)


def list_tasks(
    session: Session,
    dataset: Dataset,
    *,
    task_type: str | None,
    task_name: str | None,
    offset: int,
    limit: int,
) -> tuple[int, list[Task], bool]:
    """Tasks of a dataset, newest first; without ``type`` the auto-labeling ones (active learning and
    pre-labeling), as 16.1.64 says. Also whether a one-click deployment is running."""
    types = (
        [task_type] if task_type else [name for name, kind in task_kinds.items() if kind.listed_by_default]
    )
    query = _query(dataset).where(Task.resource_type.in_([f"dataset:{t}" for t in types]))
    rows = list(session.scalars(query.order_by(Task.created_at.desc(), Task.id.desc())))
    if task_name:
        rows = [t for t in rows if task_name.lower() in str(t.payload.get("name", "")).lower()]
    deploying = session.scalar(
        _query(dataset)
        .where(
            Task.resource_type == f"dataset:{AUTO_DEPLOY}",
            Task.status.in_([TaskStatus.QUEUED.value, TaskStatus.RUNNING.value]),
        )
        .limit(1)
    )
    return len(rows), rows[offset : offset + limit], deploying is not None


def get_task(session: Session, dataset: Dataset, task_id: str, *, for_update: bool = False) -> Task:
    query = _query(dataset).where(Task.id == task_id)
    if for_update:
        query = query.with_for_update()
    task = session.scalar(query)
    if task is None:
        raise TaskNotFound(f"Task '{task_id}' does not exist.")
    return task


def stop_task(session: Session, dataset: Dataset, task_id: str) -> Task:
    """Ask a running task to stop (it writes nothing once it sees the request); a queued one ends now."""
    task = get_task(session, dataset, task_id, for_update=True)
    return request_cancel(session, task.id)


def status_code(task: Task) -> int:
    if task.status == TaskStatus.QUEUED.value:
        return QUEUING
    if task.status == TaskStatus.RUNNING.value:
        if task.cancel_requested:
            return STOPPING
        return RUNNING if (task.result or {}).get("stage") not in (None, "init") else INITIALIZING
    if task.status == TaskStatus.SUCCEEDED.value:
        return SUCCEEDED
    if task.status == TaskStatus.CANCELLED.value:
        return STOPPED
    return FAILED


def _time(ms: int | None) -> str | None:
    if not ms:
        return None
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


def _counts(session: Session, dataset: Dataset) -> dict[str, int]:
    rows = dict(
        session.execute(
            select(Sample.status, func.count()).where(Sample.dataset_id == dataset.id).group_by(Sample.status)
        ).all()
    )
    return {
        "total_sample_count": int(sum(rows.values())),
        "annotated_sample_count": int(rows.get(STATUS_MANUAL, 0)),
        "unconfirmed_sample_count": int(rows.get(STATUS_AUTO, 0)),
    }


def task_view(
    session: Session, dataset: Dataset, task: Task, counts: dict[str, int] | None = None
) -> dict[str, Any]:
    """A RunningTask (16.1.66). Counts are the dataset's now, as ModelArts reports them. ``resource_id``
    is the dataset (the resource the task is kept under); ``export_type`` is auto grouping's
    ``result_type`` (0: storage, 1: sample attributes), 0 for the other types."""
    payload, result = task.payload or {}, dict(task.result or {})
    task_type, config = payload.get("task_type", AUTO_LABEL), payload.get("config") or {}
    kind = task_kinds.find(task_type)
    counts = counts if counts is not None else _counts(session, dataset)
    status = status_code(task)
    end = task.finished_at or now_ms()
    elapsed = (end - task.started_at) // 1000 if task.started_at else 0
    code = task.error_code or (SUCCESS_CODE if status == SUCCEEDED else None)
    message = task.error_msg or {
        SUCCEEDED: "task executed successfully.",
        STOPPED: "task stopped; the dataset is as it was before the task.",
        STOPPING: "task is stopping.",
    }.get(status)
    public = {k: v for k, v in result.items() if k not in ("stage",)}
    view: dict[str, Any] = {
        "dataset_id": task.resource_id,
        "resource_id": task.resource_id,
        "task_id": task.id,
        "task_name": payload.get("name"),
        "type": kind.type_number if kind is not None else 0,
        "export_type": kind.export_type(config) if kind is not None else 0,
        "create_time": _time(task.created_at),
        "status": status,
        "progress": round(float(task.progress or 0.0), 2),
        "elapsed_time": int(elapsed),
        "code": code,
        "message": message,
        "error_code": task.error_code,
        "error_msg": task.error_msg,
        "error_detail": task.error_msg,
        "result": public,
        "config": config,
        # pre-label's model from the start; auto-deploy's once its "create model" step made it
        "model_id": payload.get("model_id") or result.get("model_id"),
        "model_name": result.get("model_name"),
        "model_version": result.get("model_version"),
        **counts,
    }
    return view


def task_views(session: Session, dataset: Dataset, tasks: list[Task]) -> list[dict[str, Any]]:
    counts = _counts(session, dataset)
    return [task_view(session, dataset, t, counts) for t in tasks]


_SUGGESTIONS = {
    0: "Check whether the image contains objects of the dataset's labels; label them by hand if it does.",
    1: "Check the predicted label; confirm it or correct it.",
}


def hard_details(reasons: list[int]) -> dict[str, dict[str, Any]]:
    """``hard_details`` of a sample: a HardDetail (``id``, ``reason``, ``suggestion``, ``alo_name``) per
    reason number."""
    return {
        str(r): {
            "id": r,
            "reason": HARD_REASONS.get(r, ""),
            "suggestion": _SUGGESTIONS.get(
                r, "Check the auto label; add similar samples to the labeled data."
            ),
            "alo_name": f"hard_reason_{r}",
        }
        for r in reasons
    }
