"""Service tables: services, their model instances, events, update logs and call statistics."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy import UniqueConstraint as Unique
from sqlalchemy.orm import Mapped, mapped_column

from modelworks.db.base import Base, now_ms


class InferenceService(Base):
    """A real-time or batch service (8.4) and what its supervisor needs to run it.

    ``config`` holds the normalized ``ServiceConfig`` entries (``modelworks.serving.configs``), each
    with a snapshot of its model (name, version, engine, package location, apis) taken at deploy or
    update time. ``previous_config`` is set while an update of a running service is applied, so a
    failed update can be rolled back. ``supervisor_id`` and ``supervisor_beat`` are the lease of the
    supervisor that runs the service's processes on ``host``.
    """

    __tablename__ = "services"
    __table_args__ = (
        Unique("project_id", "name"),
        Index("ix_services_listing", "project_id", "publish_at"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(String(256), default="")
    infer_type: Mapped[str] = mapped_column(String(16))
    workspace_id: Mapped[str] = mapped_column(String(64), default="0")
    owner: Mapped[str] = mapped_column(String(64), default="")
    tenant: Mapped[str] = mapped_column(String(64), default="")
    status: Mapped[str] = mapped_column(String(16))
    progress: Mapped[int] = mapped_column(Integer, default=0)
    error_msg: Mapped[str] = mapped_column(Text, default="")
    config: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    previous_config: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON, default=None)
    """The configuration before a running update, restored if the update fails."""
    schedule: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    additional_properties: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    tags: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    host: Mapped[str | None] = mapped_column(String(255), default=None)
    supervisor_id: Mapped[str | None] = mapped_column(String(64), default=None)
    supervisor_beat: Mapped[int | None] = mapped_column(BigInteger, default=None)
    create_time: Mapped[int] = mapped_column(BigInteger, default=now_ms)
    publish_at: Mapped[int] = mapped_column(BigInteger, default=now_ms)
    update_time: Mapped[int] = mapped_column(BigInteger, default=now_ms)
    transition_at: Mapped[int] = mapped_column(BigInteger, default=now_ms)
    due_time: Mapped[int | None] = mapped_column(BigInteger, default=None)
    start_time: Mapped[int | None] = mapped_column(BigInteger, default=None)
    finished_time: Mapped[int | None] = mapped_column(BigInteger, default=None)


class ServiceInstance(Base):
    """One model-server process of a service: which model it serves, and where it runs.

    ``revision`` is the digest of the config entry it was started for (see ``configs.revision``) and
    ``slot`` its number among that entry's ``instance_count``. ``host``/``pid``/``pgid``/
    ``pid_create_time`` name its process group (the start time guards against a reused pid), ``port``
    the loopback port it answers on once ``status`` is ``running``; ``ready_at`` is set once it has
    answered at least once. ``cpu_usage`` (cores) and ``memory_bytes`` are its latest sample.
    """

    __tablename__ = "service_instances"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    service_id: Mapped[str] = mapped_column(ForeignKey("services.id", ondelete="CASCADE"), index=True)
    model_id: Mapped[str] = mapped_column(String(64))
    revision: Mapped[str] = mapped_column(String(16))
    slot: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    host: Mapped[str | None] = mapped_column(String(255), default=None)
    pid: Mapped[int | None] = mapped_column(Integer, default=None)
    pgid: Mapped[int | None] = mapped_column(Integer, default=None)
    pid_create_time: Mapped[float | None] = mapped_column(Float, default=None)
    port: Mapped[int | None] = mapped_column(Integer, default=None)
    base_url: Mapped[str | None] = mapped_column(String(512), default=None)
    """Where an instance served elsewhere (Ray Serve) answers, e.g. ``http://head:8000/svc``; the
    gateway sends to it from any host. None: the instance answers on ``port`` of ``host``'s loopback."""
    restarts: Mapped[int] = mapped_column(Integer, default=0)
    message: Mapped[str] = mapped_column(Text, default="")
    started_at: Mapped[int | None] = mapped_column(BigInteger, default=None)
    ready_at: Mapped[int | None] = mapped_column(BigInteger, default=None)
    cpu_usage: Mapped[float] = mapped_column(Float, default=0.0)
    memory_bytes: Mapped[int] = mapped_column(BigInteger, default=0)


class ServiceEvent(Base):
    """One line of a service's event log (8.10): deployment steps, failures and their causes."""

    __tablename__ = "service_events"
    __table_args__ = (Index("ix_service_events_series", "service_id", "occur_time"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    service_id: Mapped[str] = mapped_column(ForeignKey("services.id", ondelete="CASCADE"))
    occur_time: Mapped[int] = mapped_column(BigInteger)
    event_type: Mapped[str] = mapped_column(String(16))
    event_info: Mapped[str] = mapped_column(Text)


class ServiceUpdateLog(Base):
    """One configuration change of a service (8.11) and how it ended."""

    __tablename__ = "service_update_logs"
    __table_args__ = (Index("ix_service_update_logs_series", "service_id", "update_time"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    service_id: Mapped[str] = mapped_column(ForeignKey("services.id", ondelete="CASCADE"))
    update_time: Mapped[int] = mapped_column(BigInteger)
    result: Mapped[str] = mapped_column(String(16))
    config: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)


class ServiceCallStats(Base):
    """Calls through ``/v1/infers`` to one model of a service in one 10-second bucket, by one API process.

    Each API process (``writer``) adds to its own rows only, so no two writers ever update one row.
    """

    __tablename__ = "service_call_stats"
    __table_args__ = (Index("ix_service_call_stats_series", "service_id", "bucket_start"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    service_id: Mapped[str] = mapped_column(ForeignKey("services.id", ondelete="CASCADE"))
    model_id: Mapped[str] = mapped_column(String(64))
    writer: Mapped[str] = mapped_column(String(64))
    bucket_start: Mapped[int] = mapped_column(BigInteger)
    calls: Mapped[int] = mapped_column(Integer, default=0)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    latency_ms: Mapped[float] = mapped_column(Float, default=0.0)
    """Sum of the calls' latencies through the gateway, in milliseconds."""
