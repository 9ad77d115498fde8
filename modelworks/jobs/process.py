"""``modelworks worker``: a standalone worker process."""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING, Any

from modelworks.db.engine import Database
from modelworks.jobs.registry import load_handler_modules
from modelworks.jobs.worker import Worker

if TYPE_CHECKING:
    from modelworks.settings import Settings

log = logging.getLogger(__name__)


WorkerStarter = Callable[[Database, Any, Any, "Settings"], list[Callable[[], None]]]
"""Starts a process's workers as threads (database, store, executor, settings) and returns the
functions that stop them."""


def _one_worker(db: Database, store: Any, executor: Any, settings: Settings) -> list[Callable[[], None]]:
    return [Worker(db, store, executor, settings).start_thread()]


def _watch_parent(parent_pid: int, stop: threading.Event) -> None:
    """Set ``stop`` once the process ``parent_pid`` (the server that started this one) is gone."""

    def run() -> None:
        while not stop.wait(1.0):
            if os.getppid() != parent_pid:
                log.warning("the server (process %d) is gone; the background workers stop", parent_pid)
                stop.set()

    threading.Thread(target=run, name="parent-watch", daemon=True).start()


def run_worker_process(
    settings: Settings,
    *,
    migrate: bool = True,
    start_workers: WorkerStarter = _one_worker,
    prepare: Callable[[Database, Settings], object] | None = None,
    parent_pid: int | None = None,
) -> None:
    """Run workers in this process until SIGTERM or SIGINT (or, with ``parent_pid``, until that
    process is gone).

    The first signal stops the workers: a running task is interrupted at its next ``ctx.progress``
    and requeued (its attempt not counted), then this returns. A second signal kills the process;
    its task is then recovered as stale by another worker. ``migrate`` brings the schema up to date
    first (tests that built the schema with ``create_all`` pass False). ``start_workers`` starts the
    workers (one by default; ``serve``'s child process starts its lanes); ``prepare`` runs once the
    database is open (the lanes load the secrets key there).
    """
    # Imported here so that the jobs package does not depend on storage and compute at import time.
    from modelworks.compute import create_executor
    from modelworks.storage import create_store

    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if settings.worker_nice:
        # Background work: requests (and /health) come first when the machine is short of CPU.
        os.nice(settings.worker_nice)
    db = Database(settings.database_url)
    if migrate:
        db.migrate()
    if prepare is not None:
        prepare(db, settings)
    load_handler_modules(settings)
    store = create_store(settings)
    executor = create_executor(settings)
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("worker process %d got signal %d; stopping (a running task is requeued at its next "
                 "progress call)", os.getpid(), signum)  # fmt: skip
        stop.set()
        # A second signal ends the process at once.
        signal.signal(signum, signal.SIG_DFL)

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    if parent_pid is not None:
        _watch_parent(parent_pid, stop)
    stops = start_workers(db, store, executor, settings)
    try:
        while not stop.wait(1.0):
            pass
    finally:
        for stop_worker in stops:
            stop_worker()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        executor.shutdown()
        db.dispose()
