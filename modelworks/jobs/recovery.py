"""Finding tasks whose worker died (no heartbeat) and requeueing or failing them."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy import or_, select, update

from modelworks.db.base import now_ms
from modelworks.errors import TaskFailed
from modelworks.jobs.heartbeat import Heartbeat
from modelworks.jobs.registry import get_handler
from modelworks.jobs.tables import Task, TaskStatus

if TYPE_CHECKING:
    from sqlalchemy.engine import Row

    from modelworks.db.engine import Database
    from modelworks.jobs.context import TaskContext
    from modelworks.settings import Settings

log = logging.getLogger(__name__)

WORKER_DIED_CODE = TaskFailed.error_code


class WorkerDied(TaskFailed):
    """Handed to ``on_failed`` when a task is given up because its worker stopped heartbeating."""


def recover_stale_tasks(
    db: Database,
    settings: Settings,
    worker_id: str,
    make_context: Callable[[str, str, str, dict[str, Any], int], TaskContext],
) -> int:
    """Requeue stale RUNNING tasks that have attempts left; fail (or cancel) the rest. Returns the count.

    Tasks to give up are first taken over (worker_id set to ``worker_id``) so that exactly one
    recovering worker calls the handler's ``on_failed`` before the terminal status is written.
    """
    stale_seconds = float(settings.task_stale_seconds)
    now = now_ms()
    stale = or_(Task.heartbeat_at.is_(None), Task.heartbeat_at < now - int(stale_seconds * 1000))
    requeued = 0
    give_up: list[Row[Any]] = []
    # Nearly always there is nothing stale: find that out without taking SQLite's write lock.
    with db.session(readonly=True) as s:
        if (
            s.execute(select(Task.id).where(Task.status == TaskStatus.RUNNING, stale).limit(1)).first()
            is None
        ):
            return 0
    with db.session() as s:
        rows = s.execute(
            select(
                Task.id,
                Task.project_id,
                Task.kind,
                Task.payload,
                Task.attempts,
                Task.max_attempts,
                Task.cancel_requested,
                Task.worker_id,
            )
            .where(Task.status == TaskStatus.RUNNING, stale)
            .order_by(Task.created_at)
            .with_for_update(skip_locked=True)
        ).all()
        conn = s.connection()
        for r in rows:
            still_stale = update(Task).where(Task.id == r.id, Task.status == TaskStatus.RUNNING, stale)
            if not r.cancel_requested and r.attempts < r.max_attempts:
                done = conn.execute(
                    still_stale.values(
                        status=TaskStatus.QUEUED.value,
                        worker_id=None,
                        heartbeat_at=None,
                        not_before=0,
                        updated_at=now,
                        error_code=WORKER_DIED_CODE,
                        error_msg=_died_message(r, stale_seconds, giving_up=False),
                    )
                )
                requeued += done.rowcount
                if done.rowcount:
                    log.warning("requeued task %s: worker %s stopped heartbeating", r.id, r.worker_id)
            elif conn.execute(
                still_stale.values(worker_id=worker_id, heartbeat_at=now, updated_at=now)
            ).rowcount:
                give_up.append(r)
    for r in give_up:
        _give_up(db, settings, worker_id, make_context, r, stale_seconds)
    return requeued + len(give_up)


def _died_message(r: Row[Any], stale_seconds: float, *, giving_up: bool) -> str:
    what = "giving up" if giving_up else "retrying"
    return (
        f"the worker running this task ({r.worker_id}) died or stopped responding (no heartbeat for "
        f"{stale_seconds:g} s) during attempt {r.attempts} of {r.max_attempts}; {what}"
    )


def _give_up(
    db: Database,
    settings: Settings,
    worker_id: str,
    make_context: Callable[[str, str, str, dict[str, Any], int], TaskContext],
    r: Row[Any],
    stale_seconds: float,
) -> None:
    msg = _died_message(r, stale_seconds, giving_up=True)
    ctx = make_context(r.id, r.project_id, r.kind, dict(r.payload or {}), r.attempts)
    heartbeat = Heartbeat(db, ctx, float(settings.task_heartbeat_seconds))
    heartbeat.start()
    try:
        get_handler(r.kind).on_failed(ctx, WorkerDied(msg))
    except KeyError:
        log.warning("no handler for kind %s here; task %s given up without on_failed", r.kind, r.id)
    except Exception:
        log.exception("on_failed of task %s (%s) raised", r.id, r.kind)
    finally:
        heartbeat.stop()
    cancelled = bool(r.cancel_requested)
    now = now_ms()
    with db.session() as s:
        s.connection().execute(
            update(Task)
            .where(Task.id == r.id, Task.status == TaskStatus.RUNNING, Task.worker_id == worker_id)
            .values(
                status=(TaskStatus.CANCELLED if cancelled else TaskStatus.FAILED).value,
                error_code=None if cancelled else WORKER_DIED_CODE,
                error_msg=None if cancelled else msg,
                finished_at=now,
                updated_at=now,
            )
        )
    log.warning("task %s %s: %s", r.id, "cancelled" if cancelled else "failed", msg)
