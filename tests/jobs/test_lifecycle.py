"""Submit, claim, run and record outcomes, one worker at a time."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from sqlalchemy import update

from modelworks.db import now_ms
from modelworks.db.engine import Database
from modelworks.errors import InvalidArgument
from modelworks.jobs import Task, TaskStatus, Worker, submit
from modelworks.settings import Settings
from tests.jobs import handlers_for_tests as h


def _submit(db: Database, kind: str, payload: dict | None = None, **kw: Any) -> str:
    with db.session() as s:
        return submit(s, kind=kind, project_id="p1", payload=payload or {}, **kw).id


def test_submit_is_part_of_the_callers_transaction(db: Database) -> None:
    with pytest.raises(RuntimeError), db.session() as s:
        task = submit(
            s, kind="test.echo", project_id="p1", payload={}, resource_type="dataset", resource_id="d1"
        )
        assert task.status == TaskStatus.QUEUED and task.id
        raise RuntimeError("caller rolls back")
    with db.session() as s:
        assert s.query(Task).count() == 0


def test_submit_validates_max_attempts(db: Database) -> None:
    with pytest.raises(InvalidArgument), db.session() as s:
        submit(s, kind="test.echo", project_id="p1", payload={}, max_attempts=0)


def test_run_once_runs_and_succeeds(db: Database, worker: Worker) -> None:
    assert worker.run_once() is False
    tid = _submit(db, "test.echo", {"value": 7}, resource_type="dataset", resource_id="d1", task_id="t-fixed")
    assert tid == "t-fixed"
    assert worker.run_once() is True
    task = h.task_row(db, tid)
    assert task.status == TaskStatus.SUCCEEDED
    assert task.result == {"halfway": True, "echo": 7}
    assert task.progress == 100.0
    assert (task.attempts, task.worker_id, task.error_code) == (1, "test-worker", None)
    assert task.created_at <= task.started_at <= task.finished_at  # type: ignore[operator]
    assert (task.resource_type, task.resource_id, task.project_id) == ("dataset", "d1", "p1")
    assert worker.run_once() is False


def test_tasks_run_in_submission_order(db: Database, worker: Worker) -> None:
    ids = []
    for i in range(3):
        ids.append(_submit(db, "test.echo", {"value": i}))
        time.sleep(0.003)  # created_at has millisecond resolution; ties are broken by id
    for _ in ids:
        worker.run_once()
    assert [run[0] for run in h.runs] == ids


def test_not_before_and_unknown_kinds_are_not_claimed(db: Database, worker: Worker) -> None:
    later = _submit(db, "test.echo")
    with db.session() as s:
        s.execute(update(Task).where(Task.id == later).values(not_before=now_ms() + 60_000))
    _submit(db, "kind.nobody.handles")
    assert worker.run_once() is False


def test_progress_is_visible_while_running(db: Database, worker: Worker) -> None:
    tid = _submit(db, "test.gate", {"gate": "g1"})
    stop = worker.start_thread()
    try:
        h.wait_for(lambda: h.task_row(db, tid).progress == 40.0, what="progress 40")
        task = h.task_row(db, tid)
        assert task.status == TaskStatus.RUNNING and task.result == {"seen": 3}
        h.gate("g1").set()
        h.wait_for(lambda: h.task_row(db, tid).status == TaskStatus.SUCCEEDED, what="success")
    finally:
        stop()
    assert h.task_row(db, tid).result == {"seen": 3, "opened": True}


def test_modelworks_error_fails_at_once(db: Database, worker: Worker) -> None:
    tid = _submit(db, "test.bad_input")
    assert worker.run_once()
    task = h.task_row(db, tid)
    assert (task.status, task.attempts) == (TaskStatus.FAILED, 1)
    assert task.error_code == "ModelArts.4105"
    assert task.error_msg == "format: unsupported value"
    assert task.finished_at is not None
    assert h.failed_hooks == [(tid, "InvalidArgument")]
    assert worker.run_once() is False


def test_on_failed_sees_progress_updates_that_were_still_throttled(db: Database, worker: Worker) -> None:
    tid = _submit(db, "test.partial")
    assert worker.run_once()
    assert h.Partial.seen_by_on_failed[tid] == {"step": 2, "created": ["a"]}
    task = h.task_row(db, tid)
    assert (task.status, task.progress, task.result) == (
        TaskStatus.FAILED,
        20.0,
        {"step": 2, "created": ["a"]},
    )


def test_plain_exception_is_retried_then_fails(db: Database, worker: Worker) -> None:
    tid = _submit(db, "test.flaky", max_attempts=3)
    for attempt in (1, 2):
        assert worker.run_once()
        task = h.task_row(db, tid)
        assert (task.status, task.attempts, task.worker_id) == (TaskStatus.QUEUED, attempt, None)
        assert h.failed_hooks == []  # not between retries
    assert worker.run_once()
    task = h.task_row(db, tid)
    assert (task.status, task.attempts) == (TaskStatus.FAILED, 3)
    assert task.error_code == "ModelArts.0001"
    assert task.error_msg is not None and "disk on fire (attempt 3)" in task.error_msg
    assert "Traceback" not in task.error_msg
    assert h.failed_hooks == [(tid, "RuntimeError")]
    assert [run[1] for run in h.runs] == [1, 2, 3]


def test_retry_waits_for_its_backoff(db: Database, settings: Settings) -> None:
    worker = Worker(db, None, None, settings, retry_backoff_seconds=30)
    tid = _submit(db, "test.flaky", {"succeed_on": 2})
    before = now_ms()
    assert worker.run_once()
    task = h.task_row(db, tid)
    assert task.status == TaskStatus.QUEUED and task.not_before >= before + 30_000
    assert task.error_code == "ModelArts.0001"
    assert worker.run_once() is False
    with db.session() as s:
        s.execute(update(Task).where(Task.id == tid).values(not_before=0))
    assert worker.run_once()
    task = h.task_row(db, tid)
    assert (task.status, task.attempts, task.result, task.error_code) == (
        TaskStatus.SUCCEEDED,
        2,
        {"ok": True},
        None,
    )


def test_silent_handler_is_kept_alive_by_the_heartbeat(db: Database, settings: Settings) -> None:
    fast = settings.model_copy(update={"task_stale_seconds": 0.4, "task_heartbeat_seconds": 0.05})
    worker = Worker(db, None, None, fast, worker_id="busy")
    other = Worker(db, None, None, fast, worker_id="other")
    tid = _submit(db, "test.silent", {"seconds": 1.2})
    done = threading.Event()
    thread = threading.Thread(target=lambda: (worker.run_once(), done.set()))
    thread.start()
    h.wait_for(lambda: h.task_row(db, tid).status == TaskStatus.RUNNING, what="running")
    recovered = 0
    while not done.is_set():
        recovered += other.recover_stale()
        done.wait(0.1)
    thread.join()
    assert recovered == 0
    task = h.task_row(db, tid)
    assert (task.status, task.attempts) == (TaskStatus.SUCCEEDED, 1)
