"""Durable background tasks: a ``tasks`` table, handlers by kind, and workers that run them.

A service calls ``submit`` in its own transaction; a ``Worker`` (a thread inside ``serve`` or a
``modelworks worker`` process) claims the task, runs its ``TaskHandler`` with a ``TaskContext``, and
records the outcome. Workers heartbeat while running, so a task whose worker died is requeued (or
failed, once out of attempts) by ``Worker.recover_stale``.
"""

from modelworks.jobs.context import TaskCancelled, TaskContext
from modelworks.jobs.process import run_worker_process
from modelworks.jobs.recovery import WORKER_DIED_CODE, WorkerDied
from modelworks.jobs.registry import (
    BUILTIN_HANDLER_MODULES,
    TaskHandler,
    get_handler,
    load_handler_modules,
    register,
    registered_kinds,
)
from modelworks.jobs.service import request_cancel, submit
from modelworks.jobs.tables import TERMINAL_STATUSES, Task, TaskStatus
from modelworks.jobs.worker import Worker

__all__ = [
    "BUILTIN_HANDLER_MODULES",
    "TERMINAL_STATUSES",
    "WORKER_DIED_CODE",
    "Task",
    "TaskCancelled",
    "TaskContext",
    "TaskHandler",
    "TaskStatus",
    "Worker",
    "WorkerDied",
    "get_handler",
    "load_handler_modules",
    "register",
    "registered_kinds",
    "request_cancel",
    "run_worker_process",
    "submit",
]
