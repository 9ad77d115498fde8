"""Service event logs (8.10) and update logs (8.11): writing them and answering their queries."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from modelworks.db.base import now_ms
from modelworks.errors import InvalidArgument
from modelworks.serving.status import ABNORMAL, NORMAL, UPDATE_RUNNING
from modelworks.serving.tables import InferenceService, ServiceEvent, ServiceUpdateLog

_MAX_EVENT_INFO = 4000
LOG_CONFIG_FIELDS = (
    "model_id",
    "model_name",
    "model_version",
    "weight",
    "specification",
    "custom_spec",
    "envs",
    "instance_count",
)


def record(session: Session, service_id: str, info: str, *, abnormal: bool = False) -> None:
    """Add one event; ``abnormal`` for failures (their cause in ``info``)."""
    session.add(
        ServiceEvent(
            service_id=service_id,
            occur_time=now_ms(),
            event_type=ABNORMAL if abnormal else NORMAL,
            event_info=info[:_MAX_EVENT_INFO],
        )
    )


def list_events(
    session: Session,
    service: InferenceService,
    *,
    event_type: str | None,
    start_time: int | None,
    end_time: int | None,
    offset: int,
    limit: int,
    order: str,
) -> dict[str, Any]:
    conditions = [ServiceEvent.service_id == service.id]
    if event_type:
        if event_type not in (NORMAL, ABNORMAL):
            raise InvalidArgument("must be normal or abnormal", field="event_type")
        conditions.append(ServiceEvent.event_type == event_type)
    if start_time is not None:
        conditions.append(ServiceEvent.occur_time >= start_time)
    if end_time is not None:
        conditions.append(ServiceEvent.occur_time <= end_time)
    total = session.scalar(select(func.count()).select_from(ServiceEvent).where(*conditions)) or 0
    sort = (ServiceEvent.occur_time, ServiceEvent.id)
    ordering = [c.asc() for c in sort] if order == "asc" else [c.desc() for c in sort]
    rows = session.scalars(
        select(ServiceEvent).where(*conditions).order_by(*ordering).offset(offset).limit(limit)
    )
    events = [
        {"event_type": e.event_type, "event_info": e.event_info, "occur_time": e.occur_time} for e in rows
    ]
    return {
        "service_name": service.name,
        "service_id": service.id,
        "total_count": total,
        "count": len(events),
        "events": events,
    }


def log_config(config: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The ``config`` of an update log: the model and size fields of each entry."""
    return [{k: entry[k] for k in LOG_CONFIG_FIELDS if k in entry} for entry in config]


def open_update(session: Session, service: InferenceService, update_time: int) -> None:
    """Record a configuration change that is being applied (``RUNNING`` until the supervisor ends it)."""
    session.add(
        ServiceUpdateLog(
            service_id=service.id,
            update_time=update_time,
            result=UPDATE_RUNNING,
            config=log_config(service.config),
        )
    )


def close_updates(session: Session, service_id: str, result: str) -> None:
    """End every running update of the service with ``result`` (SUCCESS or FAIL)."""
    rows = session.scalars(
        select(ServiceUpdateLog).where(
            ServiceUpdateLog.service_id == service_id, ServiceUpdateLog.result == UPDATE_RUNNING
        )
    )
    for row in rows:
        row.result = result


def list_update_logs(session: Session, service: InferenceService, update_time: int | None) -> dict[str, Any]:
    conditions = [ServiceUpdateLog.service_id == service.id]
    if update_time is not None:
        conditions.append(ServiceUpdateLog.update_time == update_time)
    rows = session.scalars(
        select(ServiceUpdateLog)
        .where(*conditions)
        .order_by(ServiceUpdateLog.update_time.desc(), ServiceUpdateLog.id.desc())
    )
    return {
        "service_name": service.name,
        "service_id": service.id,
        "logs": [
            {"update_time": r.update_time, "result": r.result, "config": r.config, "extend_config": []}
            for r in rows
        ],
    }
