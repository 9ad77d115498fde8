"""The ``intelligent-task`` TaskHandler: a worker runs an intelligent task with the kind that its
``task_type`` names in ``kinds.task_kinds``."""

from __future__ import annotations

import logging
from typing import Any

from modelworks.intelligence.base import INTELLIGENT_TASK_KIND
from modelworks.intelligence.kinds import task_kinds
from modelworks.jobs import TaskContext, TaskHandler, register

log = logging.getLogger(__name__)


class IntelligentTask(TaskHandler):
    kind = INTELLIGENT_TASK_KIND

    def run(self, ctx: TaskContext) -> dict[str, Any]:
        return task_kinds.get(ctx.payload["task_type"]).run(ctx)

    def on_failed(self, ctx: TaskContext, error: BaseException) -> None:
        # Nothing to undo in the dataset (it is written in one transaction at the very end); what a
        # kind leaves outside it (a temporary service) is its own hook's to undo.
        message = getattr(error, "message", None) or str(error) or type(error).__name__
        log.info("intelligent task %s ended: %s", ctx.task_id, message)
        kind = task_kinds.find(ctx.payload.get("task_type") or "")
        if kind is not None:
            kind.on_failed(ctx, error)


register(IntelligentTask())
