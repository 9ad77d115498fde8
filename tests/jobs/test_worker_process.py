"""A ``run_worker_process`` subprocess: killed mid-task (SIGKILL) and stopped (SIGTERM)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from modelworks.db.engine import Database
from modelworks.jobs import WORKER_DIED_CODE, TaskStatus, Worker, submit
from modelworks.settings import Settings
from tests.jobs import handlers_for_tests as h
from tests.jobs.conftest import ROOT

# migrate=False: the test database was built with create_all, not Alembic.
WORKER_CODE = (
    "from modelworks.settings import Settings\n"
    "from modelworks.jobs import run_worker_process\n"
    "run_worker_process(Settings(), migrate=False)\n"
)


@pytest.fixture
def start_worker(tmp_path: Path, db: Database):
    procs: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes]:
        env = {
            **os.environ,
            "MODELWORKS_HOME": str(tmp_path / "worker-home"),
            "MODELWORKS_DATABASE_URL": db.url,
            "MODELWORKS_TASK_MODULES": "tests.jobs.handlers_for_tests",
            "MODELWORKS_TASK_HEARTBEAT_SECONDS": "0.2",
            "MODELWORKS_WORKER_POLL_SECONDS": "0.05",
            "MODELWORKS_RAY_ADDRESS": "",
            "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
        }
        log = open(tmp_path / f"worker-{len(procs)}.log", "wb")  # noqa: SIM115 (closed with the process)
        proc = subprocess.Popen(
            [sys.executable, "-c", WORKER_CODE], cwd=ROOT, env=env, stdout=log, stderr=log
        )
        log.close()
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)


def _wait_running(db: Database, tid: str, proc: subprocess.Popen[bytes], log_dir: Path) -> None:
    def running() -> bool:
        if proc.poll() is not None:
            logs = "\n".join(p.read_text(errors="replace") for p in sorted(log_dir.glob("worker-*.log")))
            raise AssertionError(f"worker exited with {proc.returncode}:\n{logs}")
        return h.task_row(db, tid).status == TaskStatus.RUNNING and (h.task_row(db, tid).result or {}) != {}

    h.wait_for(running, timeout=60, what="the worker process to run the task")


@pytest.mark.parametrize("max_attempts", [2, 1])
def test_killed_worker_task_is_recovered(
    db: Database, settings: Settings, start_worker, tmp_path: Path, max_attempts: int
) -> None:
    with db.session() as s:
        task = submit(
            s,
            kind="test.loop",
            project_id="p1",
            payload={"seconds": 60, "fast_from": 2},
            max_attempts=max_attempts,
        )
    proc = start_worker()
    _wait_running(db, task.id, proc, tmp_path)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(10) == -signal.SIGKILL
    assert h.task_row(db, task.id).status == TaskStatus.RUNNING  # nobody told the database

    rescuer = Worker(db, None, None, settings, worker_id="rescuer")
    waited = h.wait_for(lambda: rescuer.recover_stale() == 1, timeout=10, what="the task to become stale")
    assert waited < settings.task_stale_seconds + 2
    row = h.task_row(db, task.id)
    if max_attempts == 2:
        assert (row.status, row.attempts, row.worker_id) == (TaskStatus.QUEUED, 1, None)
        assert rescuer.run_once()
        row = h.task_row(db, task.id)
        assert (row.status, row.attempts) == (TaskStatus.SUCCEEDED, 2)
        assert row.result["fast"] is True
    else:
        assert (row.status, row.error_code) == (TaskStatus.FAILED, WORKER_DIED_CODE)
        assert h.failed_hooks == [(task.id, "WorkerDied")]


def test_sigterm_requeues_the_running_task_and_exits(db: Database, start_worker, tmp_path: Path) -> None:
    with db.session() as s:
        task = submit(s, kind="test.loop", project_id="p1", payload={"seconds": 60})
    proc = start_worker()
    _wait_running(db, task.id, proc, tmp_path)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(15) == 0
    row = h.task_row(db, task.id)
    assert (row.status, row.attempts, row.worker_id) == (TaskStatus.QUEUED, 0, None)
