"""What every intelligent task kind is: one ``IntelligentTaskKind`` subclass per ``task_type`` of the
API (``auto-label``, ``pre-label``, ``auto-grouping``, ``auto-deploy``), registered by that name in
``modelworks.intelligence.kinds.task_kinds``.

The request side (``service.create_task``) calls a kind's ``prepare`` before it queues the task; the
worker side (``handler.IntelligentTask``) calls its ``run`` and, once the task ends for good, its
``on_failed``. Neither side branches on the kind: both look it up in the registry.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

from sqlalchemy.orm import Session

from modelworks.data.tables import Dataset
from modelworks.jobs import TaskContext
from modelworks.storage import ObjectStore

INTELLIGENT_TASK_KIND = "intelligent-task"
"""The ``kind`` of the durable task rows that hold intelligent tasks (``handler.py`` runs them)."""

AUTO_LABEL, PRE_LABEL, AUTO_GROUPING, AUTO_DEPLOY = "auto-label", "pre-label", "auto-grouping", "auto-deploy"
"""The ``task_type`` names of the API: the registry's keys."""


@dataclass
class TaskRequest:
    """A start request (16.1.65) on its way to the queue, as ``IntelligentTaskKind.prepare`` sees it."""

    session: Session
    """The request's transaction (read what the checks need; the caller commits)."""
    store: ObjectStore
    """The object store, scoped to the caller's project."""
    dataset: Dataset
    body: dict[str, Any]
    """The ``CreateTaskReq`` as the client sent it (types, enums and bounds already checked)."""
    config: dict[str, Any]
    """The request's ``config``, echoed back by the task views: ``prepare`` fills in the defaults it
    applied."""
    payload: dict[str, Any]
    """What the worker's ``run`` gets as ``ctx.payload``: ``prepare`` adds what its kind needs."""
    model_id: Any
    """The task's ``model_id`` (the body's, by default); ``prepare`` may set it."""
    multi_node_training: bool = False
    """Training jobs may use more than one node (the Ray executor is set up)."""


class IntelligentTaskKind(ABC):
    """One kind of intelligent task: how a start request is checked and how the task runs.

    Subclasses are stateless (one instance serves every task of its kind, in any thread) and are
    registered under their ``task_type`` in ``modelworks.intelligence.kinds``.
    """

    type_number: ClassVar[int]
    """The integer ``type`` of a RunningTask of this kind (the seed's legacy body sends ``"type": 2``)."""

    listed_by_default: ClassVar[bool] = False
    """Whether a task list without ``type`` shows this kind (16.1.64: the auto-labeling ones)."""

    def prepare(self, request: TaskRequest) -> None:  # noqa: B027 (optional hook)
        """Check a start request against the dataset and the project, and complete it. Does nothing
        unless overridden.

        Called by ``service.create_task`` once the checks common to every kind passed (output paths,
        samples) and before the task is queued, inside the request's transaction. Fill the defaults
        that were applied into ``request.config``, what ``run`` needs into ``request.payload``, and
        set ``request.model_id`` if the kind has one. Raise a ``ModelworksError`` to refuse the
        request: nothing is queued then.
        """

    @abstractmethod
    def run(self, ctx: TaskContext) -> dict[str, Any]:
        """Do the task and return the fields of its ``result``.

        Called by the ``intelligent-task`` handler in a worker thread, once per attempt (a dead
        worker's task runs again, so a run must be safe to repeat). Report progress through
        ``ctx.progress`` and let its ``TaskCancelled`` propagate; write to the dataset only at the
        end, in one transaction, so a stopped or failed run leaves it as it was.
        """

    def on_failed(self, ctx: TaskContext, error: BaseException) -> None:  # noqa: B027 (optional hook)
        """Undo what a run left outside the dataset (temporary services ...). Does nothing unless
        overridden.

        Called once the task ended FAILED or CANCELLED for good (``TaskHandler.on_failed``), also for
        a task whose worker died; not between retries. Errors it raises are logged.
        """

    def export_type(self, config: dict[str, Any]) -> int:
        """The ``export_type`` of a RunningTask of this kind with this ``config``: 0 unless
        overridden. Called by the task views."""
        return 0
