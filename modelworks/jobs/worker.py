"""The worker loop: claim a QUEUED task, run its handler with a heartbeat, record the outcome."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update

from modelworks.db.base import new_short_id, now_ms
from modelworks.errors import ModelworksError
from modelworks.jobs.context import STOP_LOST, STOP_SHUTDOWN, TaskCancelled, TaskContext
from modelworks.jobs.heartbeat import Heartbeat
from modelworks.jobs.recovery import recover_stale_tasks
from modelworks.jobs.registry import TaskHandler, get_handler, registered_kinds
from modelworks.jobs.tables import Task, TaskStatus
from modelworks.storage.base import ObjectStore
from modelworks.storage.ownership import BucketOwnership

if TYPE_CHECKING:
    from sqlalchemy.engine import Row
    from sqlalchemy.orm import Session

    from modelworks.db.engine import Database
    from modelworks.settings import Settings

log = logging.getLogger(__name__)

GENERIC_ERROR_CODE = ModelworksError.error_code
_MAX_ERROR_MSG = 2000
_MAX_BACKOFF_SECONDS = 300.0


def default_worker_id() -> str:
    """host:pid:random, short enough for the ``worker_id`` column."""
    return f"{socket.gethostname()[:32]}:{os.getpid()}:{new_short_id(8)}"


@dataclass(frozen=True)
class _Claim:
    id: str
    project_id: str
    kind: str
    payload: dict[str, Any]
    attempt: int
    max_attempts: int


class Worker:
    """Runs tasks one at a time. Any number of workers (threads or processes) may share a database."""

    def __init__(
        self,
        db: Database,
        store: Any,
        executor: Any,
        settings: Settings,
        worker_id: str | None = None,
        *,
        retry_backoff_seconds: float = 1.0,
        kinds: Collection[str] | None = None,
        exclude_kinds: Collection[str] = (),
    ):
        self.db = db
        # Lanes: a worker may serve only some kinds, so long training jobs never hold up imports.
        self.kinds = set(kinds) if kinds is not None else None
        self.exclude_kinds = set(exclude_kinds)
        self.store = store
        # A task acts for its project: it gets the store as that project may use it (its buckets and
        # those shared with it), never the server's whole store. Tests may hand in any store.
        self.buckets = BucketOwnership(db, store) if isinstance(store, ObjectStore) else None
        self.executor = executor
        self.settings = settings
        self.worker_id = worker_id or default_worker_id()
        # A failed attempt n waits retry_backoff_seconds * 2**(n-1) before the next one may start.
        self.retry_backoff_seconds = retry_backoff_seconds
        if settings.task_heartbeat_seconds * 2 > settings.task_stale_seconds:
            log.warning(
                "task_heartbeat_seconds (%s) should be well under task_stale_seconds (%s): live tasks may be "
                "taken for dead",
                settings.task_heartbeat_seconds,
                settings.task_stale_seconds,
            )
        # Set by run_forever's stop event; a running handler sees it at its next progress call.
        self._stop = threading.Event()

    def recover_stale(self) -> int:
        """Requeue or give up RUNNING tasks whose worker stopped heartbeating; returns how many.

        Called at worker start and periodically from ``run_forever``.
        """
        return recover_stale_tasks(self.db, self.settings, self.worker_id, self._context)

    def run_once(self) -> bool:
        """Claim one runnable task, run it to the end of this attempt; False if none was waiting."""
        claim = self._claim()
        if claim is None:
            return False
        self._execute(claim)
        return True

    def run_forever(self, stop: threading.Event) -> None:
        """Run tasks until ``stop`` is set; a running task is interrupted and requeued then."""
        self._stop = stop
        poll = max(0.01, float(self.settings.worker_poll_seconds))
        recover_every = max(0.5, float(self.settings.task_stale_seconds) / 2)
        last_recover = float("-inf")
        failures = 0
        log.info("worker %s started", self.worker_id)
        while not stop.is_set():
            try:
                if time.monotonic() - last_recover >= recover_every:
                    last_recover = time.monotonic()
                    self.recover_stale()
                ran = self.run_once()
                failures = 0
            except Exception:
                # The database may be briefly unreachable; keep the worker alive and back off.
                failures += 1
                log.exception("worker %s loop error (%d in a row)", self.worker_id, failures)
                stop.wait(min(30.0, poll * 2**failures))
                continue
            if not ran:
                stop.wait(poll)
        log.info("worker %s stopped", self.worker_id)

    def start_thread(self) -> Callable[[], None]:
        """Run ``run_forever`` in a daemon thread; returns ``stop(timeout=None)`` which sets and joins."""
        stop = threading.Event()
        thread = threading.Thread(
            target=self.run_forever, args=(stop,), name=f"modelworks-worker-{self.worker_id}", daemon=True
        )
        thread.start()

        def stop_worker(timeout: float | None = None) -> None:
            stop.set()
            thread.join(timeout)

        return stop_worker

    # -- one attempt -------------------------------------------------------------------------------

    def _claim(self) -> _Claim | None:
        kinds = [
            k
            for k in registered_kinds()
            if (self.kinds is None or k in self.kinds) and k not in self.exclude_kinds
        ]
        if not kinds:
            return None
        now = now_ms()
        first = (
            select(Task.id, Task.project_id, Task.kind, Task.payload, Task.attempts, Task.max_attempts)
            .where(Task.status == TaskStatus.QUEUED, Task.not_before <= now, Task.kind.in_(kinds))
            .order_by(Task.created_at, Task.id)
            .limit(1)
        )
        if self.db.is_sqlite:
            # Look in a read transaction first: an idle worker polls every worker_poll_seconds and
            # must not take SQLite's write lock (making requests wait for it) to find nothing. The
            # claim below then holds the write lock for its one UPDATE.
            with self.db.session(readonly=True) as s:
                row = s.execute(first).one_or_none()
            if row is None:
                return None
            with self.db.session() as s:
                claimed = self._mark_claimed(s, row, now)
        else:
            with self.db.session() as s:
                # SKIP LOCKED lets PostgreSQL workers pass over rows another worker is claiming.
                row = s.execute(first.with_for_update(skip_locked=True)).one_or_none()
                claimed = row is not None and self._mark_claimed(s, row, now)
        if row is None or not claimed:
            return None
        return _Claim(
            row.id, row.project_id, row.kind, dict(row.payload or {}), row.attempts + 1, row.max_attempts
        )

    def _mark_claimed(self, s: Session, row: Row[Any], now: int) -> bool:
        """Make the row ours if it is still as read (QUEUED, same attempt): True if it was."""
        claimed = s.connection().execute(
            update(Task)
            .where(Task.id == row.id, Task.status == TaskStatus.QUEUED, Task.attempts == row.attempts)
            .values(
                status=TaskStatus.RUNNING.value,
                worker_id=self.worker_id,
                attempts=Task.attempts + 1,
                progress=0.0,
                started_at=now,
                heartbeat_at=now,
                updated_at=now,
            )
        )
        return bool(claimed.rowcount == 1)

    def _context(
        self, task_id: str, project_id: str, kind: str, payload: dict[str, Any], attempt: int
    ) -> TaskContext:
        return TaskContext(
            task_id=task_id,
            project_id=project_id,
            kind=kind,
            payload=payload,
            attempt=attempt,
            db=self.db,
            store=self.buckets.scoped(project_id) if self.buckets and project_id else self.store,
            executor=self.executor,
            settings=self.settings,
            worker_id=self.worker_id,
            shutdown=self._stop,
        )

    def _execute(self, claim: _Claim) -> None:
        handler = get_handler(claim.kind)
        ctx = self._context(claim.id, claim.project_id, claim.kind, claim.payload, claim.attempt)
        heartbeat = Heartbeat(self.db, ctx, float(self.settings.task_heartbeat_seconds))
        heartbeat.start()
        log.info(
            "worker %s runs task %s (%s) attempt %d", self.worker_id, claim.id, claim.kind, claim.attempt
        )
        try:
            self._run_and_record(handler, ctx, claim)
        finally:
            heartbeat.stop()

    def _run_and_record(self, handler: TaskHandler, ctx: TaskContext, claim: _Claim) -> None:
        try:
            result = handler.run(ctx)
            if result is None:
                result = {}
            if not isinstance(result, dict):
                raise TypeError(f"{type(handler).__name__}.run returned {type(result).__name__}, not a dict")
        except TaskCancelled as exc:
            if exc.reason == STOP_LOST:
                log.warning("task %s was taken over by another worker; dropping this attempt", claim.id)
            elif exc.reason == STOP_SHUTDOWN:
                log.info("worker %s is stopping; task %s requeued", self.worker_id, claim.id)
                self._finish(ctx, status=TaskStatus.QUEUED, requeue=True)
            else:
                self._give_up(handler, ctx, exc, status=TaskStatus.CANCELLED)
        except ModelworksError as exc:
            log.info("task %s failed: %s %s", claim.id, exc.error_code, exc.message)
            self._give_up(handler, ctx, exc, status=TaskStatus.FAILED, code=exc.error_code, msg=exc.message)
        except Exception as exc:
            log.exception("task %s (%s) attempt %d raised", claim.id, claim.kind, claim.attempt)
            msg = f"internal error in task {claim.kind}: {exc}"[:_MAX_ERROR_MSG]
            if claim.attempt < claim.max_attempts:
                backoff = min(_MAX_BACKOFF_SECONDS, self.retry_backoff_seconds * 2 ** (claim.attempt - 1))
                self._finish(
                    ctx,
                    status=TaskStatus.QUEUED,
                    code=GENERIC_ERROR_CODE,
                    msg=msg,
                    not_before=now_ms() + int(backoff * 1000),
                )
            else:
                self._give_up(handler, ctx, exc, status=TaskStatus.FAILED, code=GENERIC_ERROR_CODE, msg=msg)
        else:
            self._finish(ctx, status=TaskStatus.SUCCEEDED, result=result)

    def _give_up(
        self,
        handler: TaskHandler,
        ctx: TaskContext,
        error: BaseException,
        *,
        status: TaskStatus,
        code: str | None = None,
        msg: str | None = None,
    ) -> None:
        # on_failed runs before the terminal status is written, so whoever sees FAILED or CANCELLED
        # also sees the partial work undone. The heartbeat keeps the row ours meanwhile.
        try:
            # on_failed may read Task.result (e.g. what the attempt created); write what is pending.
            ctx.flush()
            if ctx.stop_reason == STOP_LOST:
                log.warning("task %s was taken over by another worker; not undoing it here", ctx.task_id)
                return
            handler.on_failed(ctx, error)
        except Exception:
            log.exception("on_failed of task %s (%s) raised", ctx.task_id, ctx.kind)
        self._finish(ctx, status=status, code=code, msg=msg)

    def _finish(
        self,
        ctx: TaskContext,
        *,
        status: TaskStatus,
        result: dict[str, Any] | None = None,
        code: str | None = None,
        msg: str | None = None,
        not_before: int = 0,
        requeue: bool = False,
    ) -> None:
        """Write the attempt's outcome if this worker still owns the row."""
        now = now_ms()
        with self.db.session() as s:
            row = s.get(Task, ctx.task_id, with_for_update=True)
            if row is None or row.status != TaskStatus.RUNNING or row.worker_id != self.worker_id:
                log.warning("task %s is no longer ours; outcome %s dropped", ctx.task_id, status.value)
                return
            row.result = {**(row.result or {}), **ctx.take_pending(), **(result or {})}
            row.status = status.value
            row.updated_at = now
            if status == TaskStatus.SUCCEEDED:
                row.progress = 100.0
                row.error_code = row.error_msg = None
            elif code is not None:
                row.error_code, row.error_msg = code, msg
            if status == TaskStatus.QUEUED:
                row.worker_id = row.heartbeat_at = None
                row.not_before = not_before
                if requeue:
                    # A clean shutdown is not the task's fault: give the attempt back.
                    row.attempts = max(0, row.attempts - 1)
            else:
                row.finished_at = now
