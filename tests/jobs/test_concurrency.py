"""Several workers on one database never run a task twice."""

from __future__ import annotations

from collections import Counter

from modelworks.db.engine import Database
from modelworks.jobs import TaskStatus, Worker, submit
from modelworks.jobs.tables import Task
from modelworks.settings import Settings
from tests.jobs import handlers_for_tests as h

TASKS = 50


def test_two_workers_share_fifty_tasks_without_running_any_twice(db: Database, settings: Settings) -> None:
    with db.session() as s:
        ids = [
            submit(s, kind="test.echo", project_id="p1", payload={"value": i, "sleep": 0.005}).id
            for i in range(TASKS)
        ]
    # Separate engines, as two worker processes would have.
    other_db = Database(db.url)
    workers = [
        Worker(db, None, None, settings, worker_id="w0"),
        Worker(other_db, None, None, settings, worker_id="w1"),
    ]
    stops = [w.start_thread() for w in workers]
    try:

        def all_done() -> bool:
            with db.session() as s:
                return s.query(Task).filter(Task.status == TaskStatus.SUCCEEDED).count() == TASKS

        h.wait_for(all_done, timeout=60, what="all tasks to succeed")
    finally:
        for stop in stops:
            stop()
        other_db.dispose()
    runs = Counter(run[0] for run in h.runs)
    assert sorted(runs) == sorted(ids)
    assert set(runs.values()) == {1}
    by_worker = Counter(run[2] for run in h.runs)
    assert sum(by_worker.values()) == TASKS
    assert len(by_worker) == 2, by_worker  # both workers took part, so claims really raced
    with db.session() as s:
        rows = s.query(Task).all()
        assert {t.attempts for t in rows} == {1}
        # The row names the worker that actually ran it.
        ran_by = {run[0]: run[2] for run in h.runs}
        assert all(t.worker_id == ran_by[t.id] for t in rows)
        assert all(t.result["echo"] == t.payload["value"] for t in rows)
