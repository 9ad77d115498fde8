"""Training tables: algorithms, training jobs, and the resource samples of running jobs."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy import UniqueConstraint as Unique
from sqlalchemy.orm import Mapped, mapped_column

from modelworks.db.base import Base, now_ms


class Algorithm(Base):
    """A custom algorithm (5.1): a code directory and boot file in storage, its parameters and channels.

    ``job_config`` holds the normalized request (code_dir, boot_file, parameters, inputs, outputs,
    engine, parameters_customization); ``code_tree`` and ``size`` describe the code directory as it
    was when the algorithm was created or last modified.
    """

    __tablename__ = "training_algorithms"
    __table_args__ = (
        Unique("project_id", "name"),
        Index("ix_training_algorithms_listing", "project_id", "create_time"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(String(256), default="")
    workspace_id: Mapped[str] = mapped_column(String(64), default="0")
    user_name: Mapped[str] = mapped_column(String(64), default="")
    domain_id: Mapped[str] = mapped_column(String(64), default="")
    job_config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    resource_requirements: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    advanced_config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    code_tree: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    create_time: Mapped[int] = mapped_column(BigInteger, default=now_ms)
    update_time: Mapped[int] = mapped_column(BigInteger, default=now_ms)


class TrainingJob(Base):
    """A training job (5.6) and the state of its one task, ``worker-0``.

    ``algorithm`` is the resolved algorithm the job runs (a snapshot: later changes to the
    algorithm it came from do not touch it); ``spec`` holds the chosen flavor, node count, auto stop
    and log export path. While the task runs, ``host``/``pid``/``pgid``/``pid_create_time`` name its
    process group, so a restarted worker can find it again.
    """

    __tablename__ = "training_jobs"
    __table_args__ = (
        Unique("project_id", "name"),
        Index("ix_training_jobs_listing", "project_id", "create_time"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16), default="job")
    description: Mapped[str] = mapped_column(String(256), default="")
    workspace_id: Mapped[str] = mapped_column(String(64), default="0")
    user_id: Mapped[str] = mapped_column(String(64), default="")
    user_name: Mapped[str] = mapped_column(String(64), default="")
    annotations: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    algorithm_id: Mapped[str | None] = mapped_column(String(64), index=True, default=None)
    algorithm_name: Mapped[str] = mapped_column(String(64), default="")
    algorithm: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    phase: Mapped[str] = mapped_column(String(16))
    secondary_phase: Mapped[str] = mapped_column(String(32))
    task_id: Mapped[str | None] = mapped_column(String(64), default=None)
    """The ``modelworks.jobs`` task that runs this job."""
    terminate_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    exit_code: Mapped[int | None] = mapped_column(Integer, default=None)
    message: Mapped[str] = mapped_column(Text, default="")
    host: Mapped[str | None] = mapped_column(String(255), default=None)
    pid: Mapped[int | None] = mapped_column(Integer, default=None)
    pgid: Mapped[int | None] = mapped_column(Integer, default=None)
    pid_create_time: Mapped[float | None] = mapped_column(Float, default=None)
    create_time: Mapped[int] = mapped_column(BigInteger, default=now_ms)
    update_time: Mapped[int] = mapped_column(BigInteger, default=now_ms)
    start_time: Mapped[int | None] = mapped_column(BigInteger, default=None)
    end_time: Mapped[int | None] = mapped_column(BigInteger, default=None)


class TrainingJobMetric(Base):
    """One resource sample of a task's process group: CPU and memory use in percent of its flavor."""

    __tablename__ = "training_job_metrics"
    __table_args__ = (Index("ix_training_job_metrics_series", "job_id", "task", "timestamp"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("training_jobs.id", ondelete="CASCADE"))
    task: Mapped[str] = mapped_column(String(32))
    timestamp: Mapped[int] = mapped_column(BigInteger)
    cpu_usage: Mapped[float] = mapped_column(Float)
    mem_usage: Mapped[float] = mapped_column(Float)
    mem_bytes: Mapped[int] = mapped_column(BigInteger)
