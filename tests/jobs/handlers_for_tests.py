"""Handlers used by the jobs tests; importing this module registers them.

Also imported by worker subprocesses (``MODELWORKS_TASK_MODULES=tests.jobs.handlers_for_tests``).
What the handlers did is recorded in module-level lists that in-process tests read.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from modelworks.db.engine import Database
from modelworks.errors import InvalidArgument
from modelworks.jobs import Task, TaskContext, TaskHandler, register

_lock = threading.Lock()
runs: list[tuple[str, int, str]] = []
"""(task_id, attempt, worker_id) of every run started in this process."""
ends: list[tuple[str, str]] = []
"""(task_id, "ok" or the exception class name) of every run that ended in this process."""
failed_hooks: list[tuple[str, str]] = []
"""(task_id, error class name) of every on_failed call in this process."""
gates: dict[str, threading.Event] = {}
"""Events that ``test.gate`` tasks wait on, by payload["gate"]."""


def task_row(db: Database, task_id: str) -> Task:
    """The task as stored now."""
    with db.session() as s:
        task = s.get(Task, task_id)
        assert task is not None, task_id
        return task


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> float:
    """Poll until ``predicate()`` holds; returns the seconds it took, fails after ``timeout``."""
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)
    return time.monotonic() - start


def reset() -> None:
    with _lock:
        runs.clear()
        ends.clear()
        failed_hooks.clear()
        gates.clear()


def gate(name: str) -> threading.Event:
    with _lock:
        return gates.setdefault(name, threading.Event())


class _Recording(TaskHandler):
    kind = "test.base"

    def run(self, ctx: TaskContext) -> dict[str, Any]:
        with _lock:
            runs.append((ctx.task_id, ctx.attempt, ctx.worker_id))
        outcome = "ok"
        try:
            return self.work(ctx)
        except BaseException as exc:
            outcome = type(exc).__name__
            raise
        finally:
            with _lock:
                ends.append((ctx.task_id, outcome))

    def work(self, ctx: TaskContext) -> dict[str, Any]:
        raise NotImplementedError

    def on_failed(self, ctx: TaskContext, error: BaseException) -> None:
        with _lock:
            failed_hooks.append((ctx.task_id, type(error).__name__))


class Echo(_Recording):
    """Reports half-way progress with a partial result, then returns the payload's value."""

    kind = "test.echo"

    def work(self, ctx: TaskContext) -> dict[str, Any]:
        ctx.progress(50, halfway=True)
        time.sleep(float(ctx.payload.get("sleep", 0)))
        return {"echo": ctx.payload.get("value")}


class Gate(_Recording):
    """Reports 40 % and a count, then waits until the test opens its gate."""

    kind = "test.gate"

    def work(self, ctx: TaskContext) -> dict[str, Any]:
        ctx.progress(40, seen=3)
        gate(ctx.payload["gate"]).wait(30)
        return {"opened": True}


class BadInput(_Recording):
    kind = "test.bad_input"

    def work(self, ctx: TaskContext) -> dict[str, Any]:
        raise InvalidArgument("unsupported value", field="format", error_code="ModelArts.4105")


class Partial(_Recording):
    """Reports twice in quick succession (the second is throttled), then fails."""

    kind = "test.partial"
    seen_by_on_failed: dict[str, dict[str, Any]] = {}

    def work(self, ctx: TaskContext) -> dict[str, Any]:
        ctx.progress(10, step=1)
        ctx.progress(20, step=2, created=["a"])
        raise InvalidArgument("broken file", field="import_path")

    def on_failed(self, ctx: TaskContext, error: BaseException) -> None:
        super().on_failed(ctx, error)
        self.seen_by_on_failed[ctx.task_id] = dict(task_row(ctx.db, ctx.task_id).result)


class Flaky(_Recording):
    """Raises a plain exception until attempt ``succeed_on`` (never, by default)."""

    kind = "test.flaky"

    def work(self, ctx: TaskContext) -> dict[str, Any]:
        if ctx.attempt < int(ctx.payload.get("succeed_on", 1_000_000)):
            raise RuntimeError(f"disk on fire (attempt {ctx.attempt})")
        return {"ok": True}


class Loop(_Recording):
    """Calls ``ctx.progress`` every ``step`` seconds for ``seconds``; quick from attempt ``fast_from``."""

    kind = "test.loop"

    def work(self, ctx: TaskContext) -> dict[str, Any]:
        if ctx.attempt >= int(ctx.payload.get("fast_from", 1_000_000)):
            return {"fast": True, "attempt": ctx.attempt}
        step = float(ctx.payload.get("step", 0.02))
        deadline = time.monotonic() + float(ctx.payload.get("seconds", 30))
        i = 0
        while time.monotonic() < deadline:
            i += 1
            ctx.progress(min(99.0, i / 10), items=i)
            time.sleep(step)
        return {"items": i}


class Silent(_Recording):
    """Sleeps without reporting progress: only the heartbeat shows it is alive."""

    kind = "test.silent"

    def work(self, ctx: TaskContext) -> dict[str, Any]:
        time.sleep(float(ctx.payload.get("seconds", 1)))
        return {"slept": True}


for _handler in (Echo(), Gate(), BadInput(), Partial(), Flaky(), Loop(), Silent()):
    register(_handler)
