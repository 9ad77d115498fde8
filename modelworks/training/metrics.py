"""Running metrics (5.13): CPU and memory use of a task's process group, sampled by its worker."""

from __future__ import annotations

import math
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from modelworks.db import now_ms
from modelworks.training.tables import TrainingJob, TrainingJobMetric

SAMPLE_INTERVAL_SECONDS = 2.0
MAX_POINTS = 720
"""Longer series are averaged down to this many points."""


def record(
    session: Session, job_id: str, task: str, cpu_usage: float, mem_usage: float, mem_bytes: int
) -> None:
    session.add(
        TrainingJobMetric(
            job_id=job_id,
            task=task,
            timestamp=now_ms(),
            cpu_usage=round(cpu_usage, 3),
            mem_usage=round(mem_usage, 3),
            mem_bytes=mem_bytes,
        )
    )


def _downsample(values: list[float]) -> list[float]:
    if len(values) <= MAX_POINTS:
        return values
    size = math.ceil(len(values) / MAX_POINTS)
    return [
        round(sum(chunk) / len(chunk), 3)
        for chunk in (values[i : i + size] for i in range(0, len(values), size))
    ]


def metrics_view(session: Session, job: TrainingJob, task: str) -> dict[str, Any]:
    """``cpuUsage`` (percent of the flavor's cores) and ``memUsage`` (percent of its memory), oldest first."""
    rows = session.execute(
        select(TrainingJobMetric.cpu_usage, TrainingJobMetric.mem_usage)
        .where(TrainingJobMetric.job_id == job.id, TrainingJobMetric.task == task)
        .order_by(TrainingJobMetric.timestamp, TrainingJobMetric.id)
    ).all()
    return {
        "metrics": [
            {"metric": "cpuUsage", "value": _downsample([r.cpu_usage for r in rows])},
            {"metric": "memUsage", "value": _downsample([r.mem_usage for r in rows])},
        ]
    }
