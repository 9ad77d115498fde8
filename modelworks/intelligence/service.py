"""Intelligent tasks of a dataset (reference 16.1.64–16.1.67): checking a start request, queuing it,
listing, describing and stopping tasks.

A task is a row of the durable ``tasks`` table of kind ``intelligent-task`` (``handler.py`` runs it),
with ``resource_id`` the dataset and ``resource_type`` ``dataset:<task_type>`` so that lists filter on
an indexed column. The request's ``config`` is echoed back with the defaults that were applied; fields
that have no meaning here (training flavors, pool ids, OBS log URLs ...) are kept and reported
unchanged.
"""

from __future__ import annotations

import re
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from modelworks.data.constants import (
    IMAGE_CLASSIFICATION,
    OBJECT_DETECTION,
    STATUS_AUTO,
    STATUS_MANUAL,
    TEXT_CLASSIFICATION,
)
from modelworks.data.tables import Dataset, Sample, SampleLabel
from modelworks.db import now_ms
from modelworks.errors import (
    InvalidArgument,
    InvalidTaskParameter,
    NotImplementedYet,
    SampleNotFound,
    TaskAlreadyRunning,
    TaskNotFound,
    UnsupportedDatasetOperation,
)
from modelworks.iam.service import Principal
from modelworks.jobs import Task, TaskStatus, request_cancel, submit
from modelworks.ml.errors import NotEnoughLabels
from modelworks.ml.estimators import MIN_LABELS, MIN_SAMPLES_PER_LABEL
from modelworks.ml.hard_examples import HARD_REASONS
from modelworks.serving.configs import service_config
from modelworks.serving.status import REAL_TIME
from modelworks.storage import ObjectStore
from modelworks.storage.scoped import user_path

INTELLIGENT_TASK_KIND = "intelligent-task"
AUTO_LABEL, PRE_LABEL, AUTO_GROUPING, AUTO_DEPLOY = "auto-label", "pre-label", "auto-grouping", "auto-deploy"
TASK_TYPES = {AUTO_LABEL: 0, PRE_LABEL: 1, AUTO_GROUPING: 2, AUTO_DEPLOY: 3}
"""task_type -> the integer ``type`` of a RunningTask (the seed's legacy body sends ``"type": 2``)."""
TYPE_NAMES = {number: name for name, number in TASK_TYPES.items()}

# RunningTask.status
QUEUING, INITIALIZING, RUNNING, FAILED, SUCCEEDED, STOPPING, STOPPED = -1, 0, 1, 2, 3, 4, 5

AUTO_LABEL_TYPES = (IMAGE_CLASSIFICATION, OBJECT_DETECTION, TEXT_CLASSIFICATION)
GROUPING_TYPES = (IMAGE_CLASSIFICATION, OBJECT_DETECTION)
SUCCESS_CODE = "ModelArts.4996"
"""``code`` of a task that succeeded (seeds 000/001): an outcome, not an error."""

_SCOPE = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*-\s*([0-9]*\.?[0-9]+)\s*$")
_GROUPING_FLAGS = ("ambiguity", "image_brightness", "image_colorfulness")
_LABELING_DATASETS = "image classification, object detection and text classification"


def _invalid(message: str, field: str) -> InvalidArgument:
    return InvalidTaskParameter(message, field=field)


def _unsupported(task: str, types: str) -> InvalidArgument:
    return UnsupportedDatasetOperation(f"{task} supports {types} datasets", field="task_type")


def parse_confidence_scope(value: Any) -> tuple[float, float] | None:
    """(low, high) of a ``confidence_scope``; the request model refused malformed ones already, the
    checks here guard callers that did not come through it."""
    if value in (None, ""):
        return None
    match = _SCOPE.match(str(value))
    if match is None:
        raise _invalid(
            "must be two numbers from 0 to 1 separated by '-', e.g. 0.10-0.90", "config.confidence_scope"
        )
    low, high = float(match.group(1)), float(match.group(2))
    if not 0 <= low <= high <= 1:
        raise _invalid(
            "must be two numbers from 0 to 1, the first not above the second", "config.confidence_scope"
        )
    return low, high


def _task_type(body: dict[str, Any]) -> str:
    """``task_type``, else the legacy integer ``type``, else auto-label (both checked by the request
    model)."""
    if body.get("task_type"):
        return str(body["task_type"])
    if body.get("type") is not None:
        return TYPE_NAMES[int(body["type"])]
    return AUTO_LABEL


def _label_counts(session: Session, dataset: Dataset) -> dict[str, int]:
    """Human-labeled samples per label (auto labels waiting for confirmation do not teach)."""
    rows = session.execute(
        select(SampleLabel.name, func.count(SampleLabel.sample_id.distinct()))
        .join(Sample, Sample.id == SampleLabel.sample_id)
        .where(
            SampleLabel.dataset_id == dataset.id,
            SampleLabel.annotated_by != "auto",
            Sample.status == STATUS_MANUAL,
        )
        .group_by(SampleLabel.name)
    )
    return {name: int(count) for name, count in rows}


def check_labels(session: Session, dataset: Dataset) -> dict[str, int]:
    """Fail fast, before anything is queued, when the human labels are too few to learn from."""
    counts = _label_counts(session, dataset)
    if len(counts) < MIN_LABELS:
        raise NotEnoughLabels(
            f"auto labeling needs at least {MIN_LABELS} labels with {MIN_SAMPLES_PER_LABEL} labeled samples "
            f"each; the dataset has {len(counts)} label(s) in use"
        )
    few = sorted(name for name, n in counts.items() if n < MIN_SAMPLES_PER_LABEL)
    if few:
        raise NotEnoughLabels(
            f"auto labeling needs at least {MIN_SAMPLES_PER_LABEL} labeled samples per label; too few for: "
            + ", ".join(few)
        )
    return counts


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
    if task_type == AUTO_LABEL:
        if dataset.dataset_type not in AUTO_LABEL_TYPES:
            raise _unsupported("auto labeling", _LABELING_DATASETS)
        algorithm = config.get("algorithm_type") or "fast"
        config["algorithm_type"] = algorithm
        scope = parse_confidence_scope(config.get("confidence_scope"))
        collect = bool(body.get("collect_key_sample"))
        config["collect_sample"] = config.get("collect_sample") is not False
        config["collect_rule"] = config.get("collect_rule") or "all"
        config["stop_time"] = config.get("stop_time") or 15
        check_labels(session, dataset)
        payload.update(algorithm=algorithm, collect_key_sample=collect, confidence_scope=scope)
    elif task_type == PRE_LABEL:
        from modelworks.intelligence.deployment import inference_configs, require_model_for

        if dataset.dataset_type not in AUTO_LABEL_TYPES:
            raise _unsupported("pre-labeling", _LABELING_DATASETS)
        model_id = body.get("model_id") or config.get("model_id")
        require_model_for(session, dataset.project_id, model_id, dataset)
        body = {**body, "model_id": model_id}
        entries = inference_configs(config.get("inf_config_list"), str(model_id))
        try:
            service_config(session, dataset.project_id, entries, REAL_TIME)
        except InvalidArgument as exc:
            field = exc.field or "config"
            message = exc.message.removeprefix(f"{field}: ")
            raise _invalid(message, field.replace("config", "config.inf_config_list", 1)) from exc
    elif task_type == AUTO_DEPLOY:
        from modelworks.intelligence.deployment import builtin_for

        algorithm = builtin_for(dataset.dataset_type)
        if algorithm is None:
            raise _unsupported("one-click deployment", _LABELING_DATASETS)
        if not algorithm.available():
            raise NotImplementedYet(
                f"the built-in algorithm {algorithm.name} needs packages this installation lacks "
                "(install the ml extra)"
            )
        if (config.get("worker_server_num") or 0) > 1 and not multi_node_training:
            # Refused now rather than by the training job the task would create an hour later.
            raise NotImplementedYet(
                "training on more than one node needs the Ray executor: set MODELWORKS_RAY_ADDRESS to a "
                "Ray cluster, or use 1",
                field="config.worker_server_num",
            )
        check_labels(session, dataset)
        payload["dataset_type"] = dataset.dataset_type
    else:
        if dataset.dataset_type not in GROUPING_TYPES:
            raise _unsupported("auto grouping", "image")
        config["n_clusters"] = config.get("n_clusters") or 10
        for flag in _GROUPING_FLAGS:
            config[flag] = bool(config.get(flag))
        result_type = config.get("result_type")
        if result_type is None:
            result_type = body.get("export_type")  # the seed's legacy grouping body
        result_type = 1 if result_type is None else int(result_type)
        config["result_type"] = result_type
        prop = config.get("property")
        if result_type == 1 and (not prop or not prop.strip() or prop.startswith("@modelarts:")):
            raise _invalid(
                "is required to save groups to samples (a sample attribute name)", "config.property"
            )
        payload.update(
            n_clusters=config["n_clusters"],
            measures=[flag for flag in _GROUPING_FLAGS if config[flag]],
            result_type=result_type,
            property=prop,
        )
    running = _running(session, dataset, task_type)
    if running is not None:
        raise TaskAlreadyRunning(
            f"task {running.id} ({task_type}) is still running on this dataset; stop it or wait for it"
        )
    payload["config"] = config
    payload["name"] = name or f"{task_type}-{now_ms()}"
    payload["model_id"] = body.get("model_id")
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
    types = [task_type] if task_type else [AUTO_LABEL, PRE_LABEL]
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
        "type": TASK_TYPES.get(task_type, 0),
        "export_type": int(config.get("result_type") or 0) if task_type == AUTO_GROUPING else 0,
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
