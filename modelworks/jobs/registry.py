"""Task handlers by kind, and the modules whose import registers them."""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, ClassVar

from modelworks.registry import Registry

if TYPE_CHECKING:
    from modelworks.jobs.context import TaskContext
    from modelworks.settings import Settings

# Modules that register the handlers Modelworks itself needs; a failure to import them is a bug.
BUILTIN_HANDLER_MODULES: list[str] = [
    "modelworks.transfer.import_task",
    "modelworks.transfer.export_task",
    "modelworks.transfer.versions",
    "modelworks.transfer.sync",
    "modelworks.training.task",
    "modelworks.intelligence.handler",
    "modelworks.models.publish",
]


class TaskHandler(ABC):
    """Runs one kind of task. Must be idempotent: a worker may die mid-task and the task run again."""

    kind: ClassVar[str]

    @abstractmethod
    def run(self, ctx: TaskContext) -> dict[str, Any]:
        """Do the work of one attempt and return the fields to merge into ``Task.result``.

        Called by a worker thread after it claimed the task. Call ``ctx.progress`` regularly: it records
        progress and raises ``TaskCancelled`` when the task must stop (let it propagate). Raise a
        ``ModelworksError`` for failures a retry cannot fix (the task fails at once with its code); any
        other exception fails the attempt, and the task is retried until ``max_attempts``.
        """

    def on_failed(self, ctx: TaskContext, error: BaseException) -> None:  # noqa: B027 (optional hook)
        """Undo partial work of a task that will not run again. Does nothing unless overridden.

        Called once the task ends FAILED or CANCELLED: after a ``ModelworksError``, after the last
        retry, on cancellation, and by ``Worker.recover_stale`` when a dead worker's task gives up. Not
        called between retries or when a stopping worker requeues the task. Errors it raises are logged.
        """


handlers: Registry[TaskHandler] = Registry("task handler")
"""The handler of each task kind (``export``, ``auto-label`` ...); filled by ``register`` lines at the
end of the handler modules, which ``load_handler_modules`` imports."""


def register(handler: TaskHandler) -> None:
    """Make ``handler`` run tasks of ``handler.kind``; a second handler for one kind is a bug."""
    kind = getattr(handler, "kind", None)
    if not isinstance(kind, str) or not kind:
        raise ValueError(f"{type(handler).__name__} has no kind")
    handlers.register(kind, handler)


def get_handler(kind: str) -> TaskHandler:
    """The handler for ``kind``; KeyError naming the known kinds if there is none."""
    handler = handlers.find(kind)
    if handler is None:
        known = ", ".join(handlers.names()) or "none"
        raise KeyError(f"no handler for task kind {kind!r}; known kinds: {known}")
    return handler


def registered_kinds() -> list[str]:
    """Kinds this process can run, sorted."""
    return handlers.names()


def import_modules(names: Iterable[str]) -> None:
    """Import each named module (import errors propagate); blank names are skipped."""
    for name in names:
        if name.strip():
            importlib.import_module(name.strip())


def load_handler_modules(settings: Settings) -> None:
    """Import the built-in handler modules and those in ``settings.task_modules`` (comma-separated).

    Called once by a worker before it claims anything; importing a module twice does nothing.
    """
    import_modules(BUILTIN_HANDLER_MODULES)
    import_modules(str(getattr(settings, "task_modules", "") or "").split(","))
