"""The thread that keeps a running task's ``heartbeat_at`` fresh and notices cancel requests."""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from sqlalchemy import select, update

from modelworks.db.base import now_ms
from modelworks.jobs.tables import Task, TaskStatus

if TYPE_CHECKING:
    from modelworks.db.engine import Database
    from modelworks.jobs.context import TaskContext

log = logging.getLogger(__name__)


class Heartbeat:
    """Beats every ``interval`` seconds from start() until stop(), independent of the handler's pace."""

    def __init__(self, db: Database, ctx: TaskContext, interval: float):
        self.db = db
        self.ctx = ctx
        self.interval = max(0.05, interval)
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"heartbeat-{ctx.task_id}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._done.set()
        self._thread.join()

    def beat(self) -> None:
        """Touch the row if this worker still owns it, and pass what it saw on to the context."""
        with self.db.session() as s:
            conn = s.connection()
            touched = conn.execute(
                update(Task)
                .where(
                    Task.id == self.ctx.task_id,
                    Task.status == TaskStatus.RUNNING,
                    Task.worker_id == self.ctx.worker_id,
                )
                .values(heartbeat_at=now_ms())
            )
            owned = touched.rowcount == 1
            cancel = owned and bool(
                conn.execute(select(Task.cancel_requested).where(Task.id == self.ctx.task_id)).scalar()
            )
        self.ctx.note_heartbeat(owned, cancel)

    def _loop(self) -> None:
        while not self._done.wait(self.interval):
            if self.ctx.wrote_within(self.interval):
                # The handler's progress write just touched heartbeat_at and read cancel_requested:
                # skip this beat rather than take the write lock again for the same row.
                continue
            try:
                self.beat()
            except Exception:
                # A missed beat is harmless unless they go on for task_stale_seconds.
                log.warning("heartbeat of task %s failed", self.ctx.task_id, exc_info=True)
