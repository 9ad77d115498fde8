"""A training job as 5.6–5.10 and 5.14 answer it (the SDK's ``JobResponse`` shape)."""

from __future__ import annotations

from typing import Any

from modelworks.db import now_ms
from modelworks.training.status import TASK_NAME
from modelworks.training.tables import TrainingJob

_ALGORITHM_TEXT = ("id", "name", "code_dir", "boot_file", "command", "local_code_dir", "working_dir")


def _channel(channel: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": channel["name"],
        "description": channel.get("description", ""),
        "local_dir": channel.get("local_dir", ""),
        "access_method": channel.get("access_method", "parameter"),
        "remote": channel["remote"],
    }


def algorithm_view(algorithm: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {k: algorithm[k] for k in _ALGORITHM_TEXT if algorithm.get(k) is not None}
    out["parameters"] = algorithm.get("parameters") or []
    out["policies"] = algorithm.get("policies") or {}
    out["inputs"] = [_channel(c) for c in algorithm.get("inputs") or []]
    out["outputs"] = [_channel(c) for c in algorithm.get("outputs") or []]
    out["engine"] = algorithm.get("engine") or {}
    out["environments"] = [{k: v} for k, v in (algorithm.get("environments") or {}).items()]
    return out


def task_names(job: TrainingJob) -> list[str]:
    """The job's tasks as ModelArts names them: one per node, ``worker-0`` to ``worker-<n-1>``."""
    count = int(((job.spec or {}).get("resource") or {}).get("node_count") or 1)
    return [TASK_NAME] if count == 1 else [f"worker-{i}" for i in range(count)]


def _task_statuses(job: TrainingJob) -> list[dict[str, Any]]:
    """Each task's own end, where the runner recorded one (multi-node jobs); else the job's, per task."""
    recorded: list[dict[str, Any]] = ((job.spec or {}).get("runtime") or {}).get("task_statuses") or []
    if recorded:
        return [{k: v for k, v in t.items() if v is not None} for t in recorded]
    if job.exit_code is None and not job.message:
        return []
    statuses = []
    for task in task_names(job):
        task_status: dict[str, Any] = {"task": task, "message": job.message}
        if job.exit_code is not None:
            task_status["exit_code"] = job.exit_code
        statuses.append(task_status)
    return statuses


def status_view(job: TrainingJob) -> dict[str, Any]:
    duration = ((job.end_time or now_ms()) - job.start_time) if job.start_time else 0
    task_statuses = _task_statuses(job)
    status: dict[str, Any] = {
        "phase": job.phase,
        "secondary_phase": job.secondary_phase,
        "duration": max(0, duration),
        "start_time": job.start_time or 0,
        "tasks": task_names(job),
        "task_statuses": task_statuses,
        "running_records": [],
    }
    if job.start_time:
        record: dict[str, Any] = {"start_at": job.start_time // 1000, "start_type": "init_or_rescheduled"}
        if job.end_time:
            # The task that ended the job: the first to fail (the others were stopped because of it).
            failed = [t["task"] for t in task_statuses if t.get("exit_code")]
            first_failure = ((job.spec or {}).get("runtime") or {}).get("first_failure")
            record["end_at"] = job.end_time // 1000
            record["end_reason"] = job.message or f"job {job.phase.lower()}"
            record["end_related_task"] = first_failure or (failed[0] if failed else TASK_NAME)
        status["running_records"].append(record)
    return status


def job_view(job: TrainingJob) -> dict[str, Any]:
    spec = job.spec or {}
    return {
        "kind": job.kind,
        "metadata": {
            "id": job.id,
            "name": job.name,
            "workspace_id": job.workspace_id,
            "description": job.description,
            "create_time": job.create_time,
            "user_name": job.user_name,
            "annotations": job.annotations or {},
        },
        "status": status_view(job),
        "algorithm": algorithm_view(job.algorithm or {}),
        "spec": {
            "resource": spec.get("resource") or {},
            "log_export_path": spec.get("log_export_path") or {},
        },
    }
