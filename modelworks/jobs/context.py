"""What a running handler sees: its task's fields, shared services, progress and cancellation."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from modelworks.db.base import now_ms
from modelworks.jobs.tables import Task, TaskStatus

if TYPE_CHECKING:
    from modelworks.db.engine import Database
    from modelworks.settings import Settings

# Why a handler is being stopped; the worker decides the task's next status from it.
STOP_CANCEL = "cancel"  # a user asked for it: CANCELLED
STOP_SHUTDOWN = "shutdown"  # this worker is stopping: back to QUEUED, attempt not counted
STOP_LOST = "lost"  # another worker owns the row now (we were declared stale): leave it alone


class TaskCancelled(Exception):
    """Raised inside a handler (by ``progress``/``check_cancelled``) when it must stop now.

    Handlers may catch it to clean up but must re-raise it. ``reason`` is one of the ``STOP_*`` values.
    """

    def __init__(self, message: str = "task cancelled", *, reason: str = STOP_CANCEL):
        super().__init__(message)
        self.reason = reason


class TaskContext:
    """Handed to ``TaskHandler.run``; one per attempt. Not shared between threads except the heartbeat."""

    # Progress rows are written at most this often (except at 100 %) so handlers can report freely.
    PROGRESS_INTERVAL_SECONDS = 0.5

    def __init__(
        self,
        *,
        task_id: str,
        project_id: str,
        kind: str,
        payload: dict[str, Any],
        attempt: int,
        db: Database,
        store: Any,
        executor: Any,
        settings: Settings,
        worker_id: str,
        shutdown: threading.Event | None = None,
    ):
        self.task_id = task_id
        self.project_id = project_id
        self.kind = kind
        self.payload = payload
        self.attempt = attempt
        self.db = db
        self.store = store
        self.executor = executor
        self.settings = settings
        self.worker_id = worker_id
        self._shutdown = shutdown or threading.Event()
        self._stop_reason: str | None = None
        self._percent: float | None = None
        self._pending: dict[str, Any] = {}
        self._last_write = 0.0
        self._last_check = time.monotonic()

    @property
    def stop_reason(self) -> str | None:
        """Why the handler was told to stop, or None; a shutdown only counts once it was raised."""
        return self._stop_reason

    def progress(self, percent: float, **result_updates: Any) -> None:
        """Record ``percent`` (0-100) and merge ``result_updates`` into ``Task.result``.

        Writes are throttled; updates not yet written are kept and written by the next write or by the
        worker when the attempt ends. Raises ``TaskCancelled`` when the task must stop.
        """
        self._percent = min(100.0, max(0.0, float(percent)))
        self._pending.update(result_updates)
        if percent >= 100 or time.monotonic() - self._last_write >= self.PROGRESS_INTERVAL_SECONDS:
            self.flush()
        self.check_cancelled()

    def check_cancelled(self) -> None:
        """Raise ``TaskCancelled`` if a cancel was requested, the worker is stopping or lost the task.

        Reads the database at most every ``PROGRESS_INTERVAL_SECONDS``; otherwise uses what the last
        write or heartbeat saw, so it is cheap enough to call per item.
        """
        if self._stop_reason is None and self._shutdown.is_set():
            self._stop_reason = STOP_SHUTDOWN
        if (
            self._stop_reason is None
            and time.monotonic() - self._last_check >= self.PROGRESS_INTERVAL_SECONDS
        ):
            self._poll()
        if self._stop_reason is not None:
            raise TaskCancelled(
                f"task {self.task_id} stopped ({self._stop_reason})", reason=self._stop_reason
            )

    def flush(self) -> None:
        """Write pending progress and result updates now, in a transaction of their own."""
        with self.db.session() as s:
            row = s.get(Task, self.task_id, with_for_update=True)
            if not self._owns(row):
                self._stop_reason = self._stop_reason or STOP_LOST
                return
            assert row is not None
            if self._percent is not None:
                row.progress = self._percent
            if self._pending:
                # A new dict, so the JSON column sees a change.
                row.result = {**(row.result or {}), **self._pending}
            row.heartbeat_at = row.updated_at = now_ms()
            self._note_cancel(row.cancel_requested)
        self._pending = {}
        self._last_write = self._last_check = time.monotonic()

    def wrote_within(self, seconds: float) -> bool:
        """Whether a progress write (which also touches ``heartbeat_at``) happened in the last ``seconds``."""
        return time.monotonic() - self._last_write < seconds

    def take_pending(self) -> dict[str, Any]:
        """Result updates not yet written; the worker merges them into the final write."""
        pending, self._pending = self._pending, {}
        return pending

    def note_heartbeat(self, owned: bool, cancel_requested: bool) -> None:
        """Called from the heartbeat thread with what it read from the row."""
        if not owned:
            self._stop_reason = self._stop_reason or STOP_LOST
        else:
            self._note_cancel(cancel_requested)

    def _poll(self) -> None:
        with self.db.session(readonly=True) as s:
            row = s.execute(
                select(Task.status, Task.worker_id, Task.cancel_requested).where(Task.id == self.task_id)
            ).one_or_none()
        self._last_check = time.monotonic()
        if row is None or row.status != TaskStatus.RUNNING or row.worker_id != self.worker_id:
            self._stop_reason = self._stop_reason or STOP_LOST
        else:
            self._note_cancel(row.cancel_requested)

    def _owns(self, row: Task | None) -> bool:
        return row is not None and row.status == TaskStatus.RUNNING and row.worker_id == self.worker_id

    def _note_cancel(self, cancel_requested: bool) -> None:
        if cancel_requested and self._stop_reason is None:
            self._stop_reason = STOP_CANCEL
