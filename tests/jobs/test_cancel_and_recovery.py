"""Cancellation, stopping a worker mid-task, and recovery of tasks whose worker vanished."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import update

from modelworks.db import now_ms
from modelworks.db.engine import Database
from modelworks.errors import NotFound
from modelworks.jobs import WORKER_DIED_CODE, Task, TaskStatus, Worker, request_cancel, submit
from tests.jobs import handlers_for_tests as h


def _submit(db: Database, kind: str, payload: dict | None = None, max_attempts: int = 3) -> str:
    with db.session() as s:
        return submit(s, kind=kind, project_id="p1", payload=payload or {}, max_attempts=max_attempts).id


def _cancel(db: Database, task_id: str) -> Task:
    with db.session() as s:
        return request_cancel(s, task_id)


def test_cancel_queued_task(db: Database, worker: Worker) -> None:
    tid = _submit(db, "test.echo")
    task = _cancel(db, tid)
    assert task.status == TaskStatus.CANCELLED and task.finished_at is not None
    assert worker.run_once() is False
    assert h.runs == [] and h.failed_hooks == []


def test_cancel_unknown_and_finished_tasks(db: Database, worker: Worker) -> None:
    with pytest.raises(NotFound):
        _cancel(db, "nope")
    tid = _submit(db, "test.echo")
    worker.run_once()
    assert _cancel(db, tid).status == TaskStatus.SUCCEEDED
    assert h.task_row(db, tid).cancel_requested is False


def test_cancel_running_task_stops_it_within_two_seconds(db: Database, worker: Worker) -> None:
    tid = _submit(db, "test.loop", {"seconds": 30})
    stop = worker.start_thread()
    try:
        h.wait_for(lambda: (h.task_row(db, tid).result or {}).get("items", 0) > 0, what="first progress")
        task = _cancel(db, tid)
        assert task.status == TaskStatus.RUNNING and task.cancel_requested
        took = h.wait_for(
            lambda: h.task_row(db, tid).status == TaskStatus.CANCELLED, timeout=5, what="cancel"
        )
    finally:
        stop()
    assert took < 2.0
    assert h.failed_hooks == [(tid, "TaskCancelled")]
    task = h.task_row(db, tid)
    assert task.error_code is None and task.finished_at is not None and task.attempts == 1


def test_stopping_a_worker_requeues_its_task_cleanly(db: Database, worker: Worker) -> None:
    tid = _submit(db, "test.loop", {"seconds": 30})
    stop = worker.start_thread()
    h.wait_for(lambda: h.task_row(db, tid).status == TaskStatus.RUNNING, what="running")
    started = time.monotonic()
    stop()
    assert time.monotonic() - started < 2.0
    task = h.task_row(db, tid)
    assert (task.status, task.attempts, task.worker_id, task.heartbeat_at) == (
        TaskStatus.QUEUED,
        0,
        None,
        None,
    )
    assert (task.result or {}).get("items", 0) > 0  # progress reported before the stop is kept
    assert h.failed_hooks == []


def test_a_task_taken_over_by_another_worker_is_left_to_it(db: Database, worker: Worker) -> None:
    tid = _submit(db, "test.loop", {"seconds": 30})
    stop = worker.start_thread()
    try:
        h.wait_for(lambda: h.task_row(db, tid).status == TaskStatus.RUNNING, what="running")
        with db.session() as s:
            s.execute(update(Task).where(Task.id == tid).values(worker_id="usurper"))
        # The first worker notices at its next progress or heartbeat and drops the attempt.
        h.wait_for(lambda: h.ends == [(tid, "TaskCancelled")], what="the first worker to stop")
        time.sleep(0.3)  # room for a wrong final write, which must not come
    finally:
        stop()
    task = h.task_row(db, tid)
    assert (task.status, task.worker_id) == (TaskStatus.RUNNING, "usurper")
    assert h.failed_hooks == []


def _make_stale(db: Database, tid: str, *, attempts: int, cancel: bool = False) -> None:
    with db.session() as s:
        s.execute(
            update(Task)
            .where(Task.id == tid)
            .values(
                status=TaskStatus.RUNNING.value,
                worker_id="dead-worker",
                attempts=attempts,
                heartbeat_at=now_ms() - 10_000,
                cancel_requested=cancel,
            )
        )


def test_recover_stale_requeues_while_attempts_remain(db: Database, worker: Worker) -> None:
    tid = _submit(db, "test.echo", max_attempts=2)
    _make_stale(db, tid, attempts=1)
    assert worker.recover_stale() == 1
    task = h.task_row(db, tid)
    assert (task.status, task.attempts, task.worker_id) == (TaskStatus.QUEUED, 1, None)
    assert task.error_code == WORKER_DIED_CODE
    assert worker.recover_stale() == 0
    assert worker.run_once()
    task = h.task_row(db, tid)
    assert (task.status, task.attempts, task.error_code) == (TaskStatus.SUCCEEDED, 2, None)


def test_recover_stale_fails_a_task_out_of_attempts(db: Database, worker: Worker) -> None:
    tid = _submit(db, "test.echo", max_attempts=2)
    _make_stale(db, tid, attempts=2)
    assert worker.recover_stale() == 1
    task = h.task_row(db, tid)
    assert (task.status, task.error_code) == (TaskStatus.FAILED, WORKER_DIED_CODE)
    assert task.error_msg is not None and "dead-worker" in task.error_msg and "died" in task.error_msg
    assert h.failed_hooks == [(tid, "WorkerDied")]


def test_recover_stale_cancels_a_task_whose_cancel_was_requested(db: Database, worker: Worker) -> None:
    tid = _submit(db, "test.echo")
    _make_stale(db, tid, attempts=1, cancel=True)
    assert worker.recover_stale() == 1
    assert h.task_row(db, tid).status == TaskStatus.CANCELLED
    assert h.failed_hooks == [(tid, "WorkerDied")]


def test_recover_stale_leaves_fresh_tasks_alone(db: Database, worker: Worker) -> None:
    tid = _submit(db, "test.echo")
    _make_stale(db, tid, attempts=1)
    with db.session() as s:
        s.execute(update(Task).where(Task.id == tid).values(heartbeat_at=now_ms()))
    assert worker.recover_stale() == 0
    assert h.task_row(db, tid).status == TaskStatus.RUNNING
