"""One attempt of an intelligent task: its stages as ``events``, progress, stop and deadline checks."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from modelworks.db import now_ms
from modelworks.errors import TaskTimedOut
from modelworks.jobs import TaskContext


@dataclass
class Event:
    name: str
    ordinal: int
    started: int = field(default_factory=now_ms)
    status: str = "running"
    finished: int | None = None
    error: str | None = None
    children: list[Event] = field(default_factory=list)

    def view(self, parent: str | None = None) -> dict[str, Any]:
        end = self.finished or now_ms()
        return {
            "name": self.name,
            "ordinal": self.ordinal,
            "level": 1 if parent is None else 2,
            "parent_name": parent,
            "status": self.status,
            "create_time": self.started,
            "elapsed_time": (end - self.started) // 1000,
            "description": self.name,
            "error_code": None,
            "error_message": self.error,
            "events": [c.view(self.name) for c in self.children],
        }


class Run:
    """One attempt of a task: its stages as ``events``, progress, stop and deadline checks.

    ``stages`` maps each stage's name to its share of the progress bar (low, high percent)."""

    def __init__(self, ctx: TaskContext, stages: dict[str, tuple[int, int]], deadline_s: float | None = None):
        self.ctx = ctx
        self.stages = stages
        self.events: list[Event] = []
        self.deadline = time.monotonic() + deadline_s if deadline_s else None
        self._stage: str | None = None

    def stage(self, name: str, fraction: float = 0.0) -> None:
        """Enter (or advance within) a stage; raises when the task must stop or ran out of time."""
        top = name.split(" (")[0] if name.split(" (")[0] in self.stages else name
        if top not in self.stages:
            top = self._stage or "init"
        if top != self._stage:
            if self.events:
                self.events[-1].status, self.events[-1].finished = "success", now_ms()
            self.events.append(Event(top, len(self.events) + 1))
            self._stage = top
        current = self.events[-1]
        if name != top and (not current.children or current.children[-1].name != name):
            if current.children:
                current.children[-1].status, current.children[-1].finished = "success", now_ms()
            current.children.append(Event(name, len(current.children) + 1))
        low, high = self.stages[top]
        self._check_deadline()
        self.ctx.progress(low + (high - low) * min(max(fraction, 0.0), 1.0), stage=top, events=self.views())

    def percent(self) -> float:
        """The low end of the current stage (for progress writes that only add result fields)."""
        stage = self.events[-1].name if self.events else "init"
        return float(self.stages.get(stage, (0, 0))[0])

    def finish(self) -> list[dict[str, Any]]:
        for event in self.events:
            for child in event.children:
                if child.status == "running":
                    child.status, child.finished = "success", now_ms()
            if event.status == "running":
                event.status, event.finished = "success", now_ms()
        return self.views()

    def fail(self, message: str) -> list[dict[str, Any]]:
        if self.events:
            self.events[-1].status, self.events[-1].finished = "failed", now_ms()
            self.events[-1].error = message
        return self.views()

    def views(self) -> list[dict[str, Any]]:
        return [e.view() for e in self.events]

    def check(self) -> None:
        """Raise if the task must stop or ran out of time, without moving the progress bar."""
        self._check_deadline()
        self.ctx.check_cancelled()

    def _check_deadline(self) -> None:
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise TaskTimedOut(
                "the task ran longer than config.stop_time minutes and was stopped; nothing was written"
            )
