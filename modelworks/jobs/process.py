"""``modelworks worker``: a standalone worker process."""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType
from typing import TYPE_CHECKING

from modelworks.db.engine import Database
from modelworks.jobs.registry import load_handler_modules
from modelworks.jobs.worker import Worker

if TYPE_CHECKING:
    from modelworks.settings import Settings

log = logging.getLogger(__name__)


def run_worker_process(settings: Settings, *, migrate: bool = True) -> None:
    """Run a worker in this process until SIGTERM or SIGINT.

    The first signal stops the worker: a running task is interrupted at its next ``ctx.progress``
    and requeued (its attempt not counted), then this returns. A second signal kills the process;
    its task is then recovered as stale by another worker. ``migrate`` brings the schema up to date
    first (tests that built the schema with ``create_all`` pass False).
    """
    # Imported here so that the jobs package does not depend on storage and compute at import time.
    from modelworks.compute import create_executor
    from modelworks.storage import create_store

    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    db = Database(settings.database_url)
    if migrate:
        db.migrate()
    load_handler_modules(settings)
    store = create_store(settings)
    executor = create_executor(settings)
    worker = Worker(db, store, executor, settings)
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info(
            "worker %s got signal %d; stopping (a running task is requeued at its next progress call)",
            worker.worker_id,
            signum,
        )
        stop.set()
        # A second signal ends the process at once.
        signal.signal(signum, signal.SIG_DFL)

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        worker.run_forever(stop)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        executor.shutdown()
        db.dispose()
