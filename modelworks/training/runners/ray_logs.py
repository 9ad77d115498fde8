"""A Ray job's log copied into the job's task logs (``logs/worker-i.log``) while it is written.

The Ray log is the output of the job's entrypoint (``_ray_driver.py``). While it is small the runner
reads all of it every poll (``get_job_logs``: new lines show within a poll, where Ray's tail takes
seconds); past ``POLL_LOG_MAX_CHARS`` a thread follows it with ``tail_job_logs``. With one worker all
of it is worker-0's log. With several, the driver prints each worker's lines as ``[worker-i] line``:
those go, unprefixed, to that worker's log; the driver's own lines go to worker-0's, and its last line
(the workers' exit statuses) is kept for the job's ``task_statuses``. Only whole lines are copied; how
many characters of the Ray log were copied is kept in ``ray_log.json`` in the job directory, so a
worker that re-adopts the job after a restart continues where the last one stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import threading
import time
from pathlib import Path
from typing import Any

from modelworks.training.logs import log_file
from modelworks.training.runners._ray_driver import WORKERS_ENDED

log = logging.getLogger(__name__)

POLL_LOG_MAX_CHARS = 1_000_000
"""Up to this size the Ray log is read whole every poll; beyond it, tailed."""

_WORKER_LINE = re.compile(r"\[(worker-\d+)\] ")
_LINES = re.compile(r"[^\n]*\n|[^\n]+$")


class LogRouter:
    """Appends the Ray log's lines to the task logs; safe to call from the tail thread and the runner."""

    def __init__(self, root: Path, tasks: list[str]):
        self.root = root
        self.tasks = tasks
        self.state_file = root / "ray_log.json"
        state: dict[str, Any] = {}
        with contextlib.suppress(OSError, ValueError):
            state = json.loads(self.state_file.read_text())
        self.offset: int = int(state.get("offset", 0))
        """Characters of the Ray log copied so far (always up to the end of a line)."""
        self.workers_ended: dict[str, Any] | None = state.get("workers_ended")
        """What the driver's last line says: ``{"exit_codes": {task: code}, "first_failure": task}``."""
        self._pending = ""
        self._seen = 0
        self._lock = threading.Lock()

    def reset(self) -> None:
        """Forget what was copied: a new submission starts a new Ray log."""
        with self._lock:
            self.offset, self.workers_ended, self._pending, self._seen = 0, None, "", 0
            self.state_file.unlink(missing_ok=True)

    def new_tail(self) -> None:
        """A new tail starts: its chunks start again at the beginning of the Ray log."""
        with self._lock:
            self._pending, self._seen = "", 0

    def feed(self, chunk: str) -> None:
        """The next chunk of the current tail."""
        with self._lock:
            start = self._seen
            self._seen += len(chunk)
            have = self.offset + len(self._pending)
            if have >= self._seen:
                return  # copied before (by this worker, or by the one before a restart)
            self._pending += chunk[max(0, have - start) :]
            cut = self._pending.rfind("\n") + 1
            if cut:
                self._copy(self._pending[:cut])
                self.offset += cut
                self._pending = self._pending[cut:]
                self._save()

    def sync(self, full: str) -> None:
        """``full`` is the whole Ray log so far: copy the whole lines not copied yet (never while a tail
        feeds this router)."""
        with self._lock:
            self._pending = ""
            cut = full.rfind("\n") + 1
            if cut > self.offset:
                self._copy(full[self.offset : cut])
                self.offset = cut
                self._save()

    def finish(self, full: str) -> None:
        """The job ended and ``full`` is its whole Ray log: copy whatever the tail did not."""
        with self._lock:
            self._pending = ""
            rest = full[self.offset :]
            if rest:
                self._copy(rest if rest.endswith("\n") else rest + "\n")
                self.offset = len(full)
                self._save()

    def _save(self) -> None:
        state = {"offset": self.offset, "workers_ended": self.workers_ended}
        temporary = self.state_file.with_suffix(".tmp")
        temporary.write_text(json.dumps(state))
        temporary.replace(self.state_file)

    def _copy(self, text: str) -> None:
        by_task: dict[str, list[str]] = {}
        for line in _LINES.findall(text):
            task = self.tasks[0]
            if len(self.tasks) > 1:
                match = _WORKER_LINE.match(line)
                if match and match.group(1) in self.tasks:
                    task, line = match.group(1), line[match.end() :]
                elif line.startswith(WORKERS_ENDED):
                    with contextlib.suppress(ValueError):
                        self.workers_ended = json.loads(line[len(WORKERS_ENDED) :])
            by_task.setdefault(task, []).append(line)
        for task, lines in by_task.items():
            path = log_file(self.root, task)
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("a", encoding="utf-8") as f:
                f.write("".join(lines))


class RayLogTail:
    """Follows a Ray job's log in a daemon thread and feeds it to a ``LogRouter``.

    The tail ends by itself once the job has ended and its log was read to the end; ``stop`` ends it
    sooner. ``alive`` tells the runner whether to start a new one (the connection may drop).
    """

    def __init__(self, client: Any, submission_id: str, router: LogRouter):
        self.client = client
        self.submission_id = submission_id
        self.router = router
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._started = threading.Event()
        self.started = time.monotonic()
        self._thread = threading.Thread(target=self._run, name=f"ray-log-{submission_id}", daemon=True)

    def start(self) -> RayLogTail:
        self.router.new_tail()
        self._thread.start()
        return self

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        try:
            self._loop = loop
            self._task = loop.create_task(self._follow())
            self._started.set()
            loop.run_until_complete(self._task)
        except asyncio.CancelledError:
            pass
        except Exception:
            log.warning("following the Ray log of %s failed", self.submission_id, exc_info=True)
        finally:
            self._started.set()
            loop.close()

    async def _follow(self) -> None:
        async for chunk in self.client.tail_job_logs(self.submission_id):
            self.router.feed(chunk)

    def stop(self, timeout: float = 5.0) -> None:
        if not self._thread.is_alive():
            return
        self._started.wait(timeout)
        loop, task = self._loop, self._task
        if loop is not None and task is not None:
            with contextlib.suppress(RuntimeError):  # the loop already closed
                loop.call_soon_threadsafe(task.cancel)
        self._thread.join(timeout)
