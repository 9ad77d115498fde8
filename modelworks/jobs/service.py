"""Submitting, finding and cancelling tasks, inside the caller's transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from modelworks.db.base import new_short_id, now_ms
from modelworks.errors import InvalidArgument, NotFound
from modelworks.jobs.tables import Task, TaskStatus


def submit(
    session: Session,
    *,
    kind: str,
    project_id: str,
    payload: dict[str, Any],
    resource_type: str = "",
    resource_id: str | None = None,
    task_id: str | None = None,
    max_attempts: int = 3,
) -> Task:
    """Add a QUEUED task and flush; the caller's commit makes it visible to workers.

    The kind is not checked against the registry: the worker that runs it may load other modules.
    """
    if max_attempts < 1:
        raise InvalidArgument("must be at least 1", field="max_attempts")
    now = now_ms()
    task = Task(
        id=task_id or new_short_id(),
        project_id=project_id,
        kind=kind,
        resource_type=resource_type,
        resource_id=resource_id,
        status=TaskStatus.QUEUED.value,
        payload=dict(payload),
        result={},
        progress=0.0,
        attempts=0,
        max_attempts=max_attempts,
        cancel_requested=False,
        not_before=0,
        created_at=now,
        updated_at=now,
    )
    session.add(task)
    session.flush()
    return task


def request_cancel(session: Session, task_id: str) -> Task:
    """Cancel a task: a QUEUED one ends CANCELLED now, a RUNNING one is asked to stop.

    The worker running it sees ``cancel_requested`` at the handler's next ``ctx.progress`` and ends
    it CANCELLED (calling ``on_failed``). A QUEUED task never ran, so no handler hook is called: the
    caller undoes its own bookkeeping in this transaction. Finished tasks are returned unchanged.
    """
    task = session.get(Task, task_id, with_for_update=True)
    if task is None:
        raise NotFound(f"task {task_id} does not exist")
    now = now_ms()
    if task.status == TaskStatus.QUEUED:
        task.status = TaskStatus.CANCELLED.value
        task.cancel_requested = True
        task.finished_at = task.updated_at = now
    elif task.status == TaskStatus.RUNNING and not task.cancel_requested:
        task.cancel_requested = True
        task.updated_at = now
    session.flush()
    return task


def resource_task(
    session: Session, project_id: str, resource_id: str, kind: str, task_id: str
) -> Task | None:
    """The task ``task_id`` of ``kind`` on ``resource_id`` in ``project_id``, or None."""
    return session.scalar(
        select(Task).where(
            Task.id == task_id,
            Task.resource_id == resource_id,
            Task.kind == kind,
            Task.project_id == project_id,
        )
    )


def resource_tasks(
    session: Session,
    project_id: str,
    resource_id: str,
    kind: str,
    *,
    offset: int,
    limit: int,
    where: tuple[ColumnElement[bool], ...] = (),
) -> tuple[int, list[Task]]:
    """The total and one page (newest first) of the tasks of ``kind`` on ``resource_id`` in
    ``project_id`` that also meet ``where``."""
    conditions = (Task.resource_id == resource_id, Task.kind == kind, Task.project_id == project_id, *where)
    total = session.scalar(select(func.count()).select_from(Task).where(*conditions)) or 0
    rows = session.scalars(
        select(Task).where(*conditions).order_by(Task.created_at.desc(), Task.id).offset(offset).limit(limit)
    )
    return total, list(rows)
