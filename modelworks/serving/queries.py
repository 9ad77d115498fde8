"""Reading services: the list with its filters (8.3), monitoring (8.2) and the project's tags (8.14)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from modelworks.db.base import now_ms
from modelworks.errors import InvalidArgument
from modelworks.serving.specs import MIB
from modelworks.serving.status import ALL_STATUSES, INSTANCE_RUNNING, SERVING
from modelworks.serving.tables import InferenceService, ServiceCallStats, ServiceInstance

SORT_COLUMNS = {
    "publish_at": InferenceService.publish_at,
    "service_name": InferenceService.name,
    "transition_at": InferenceService.transition_at,
}
WINDOW_MS = 60_000


def _tag_filter(raw: str) -> list[tuple[str, str | None]]:
    """``key`` or ``key=value`` (also ``key:value``), several separated by commas."""
    out: list[tuple[str, str | None]] = []
    for part in raw.split(","):
        part = part.strip()
        if not part:
            continue
        for separator in ("=", ":"):
            if separator in part:
                key, value = part.split(separator, 1)
                out.append((key.strip(), value.strip()))
                break
        else:
            out.append((part, None))
    return out


def list_services(
    session: Session,
    project_id: str,
    *,
    service_id: str | None = None,
    service_name: str | None = None,
    model_id: str | None = None,
    workspace_id: str | None = None,
    infer_type: str | None = None,
    status: str | None = None,
    offset: int = 0,
    limit: int = 1000,
    sort_by: str = "publish_at",
    order: str = "desc",
    tags: str | None = None,
) -> tuple[int, list[InferenceService]]:
    """The services matching the filters (all of them) and the requested page of them."""
    if sort_by not in SORT_COLUMNS:
        raise InvalidArgument(f"must be one of {', '.join(SORT_COLUMNS)}", field="sort_by")
    if order not in ("asc", "desc"):
        raise InvalidArgument("must be asc or desc", field="order")
    conditions = [InferenceService.project_id == project_id]
    # The reference: without workspace_id only the default workspace is listed.
    conditions.append(InferenceService.workspace_id == (workspace_id or "0"))
    if service_id:
        conditions.append(InferenceService.id == service_id)
    if service_name:
        conditions.append(InferenceService.name.contains(service_name, autoescape=True))
    if infer_type:
        conditions.append(InferenceService.infer_type == infer_type)
    if status:
        if status not in ALL_STATUSES:
            raise InvalidArgument(f"unknown status {status!r}", field="status")
        conditions.append(InferenceService.status == status)
    column = SORT_COLUMNS[sort_by]
    query = select(InferenceService).where(*conditions)
    if order == "asc":
        query = query.order_by(column.asc(), InferenceService.id.asc())
    else:
        query = query.order_by(column.desc(), InferenceService.id.desc())
    rows = list(session.scalars(query))
    if model_id:
        rows = [r for r in rows if any(e.get("model_id") == model_id for e in r.config or [])]
    if tags:
        wanted = _tag_filter(tags)
        rows = [
            r
            for r in rows
            if all(
                any(t["key"] == k and (v is None or t["value"] == v) for t in r.tags or []) for k, v in wanted
            )
        ]
    return len(rows), rows[offset : offset + limit]


def project_tags(session: Session, project_id: str) -> list[dict[str, Any]]:
    """8.14: every tag key of the project's services with the values it has, sorted."""
    values: dict[str, set[str]] = defaultdict(set)
    for tags in session.scalars(
        select(InferenceService.tags).where(InferenceService.project_id == project_id)
    ):
        for tag in tags or []:
            values[tag["key"]].add(tag["value"])
    return [{"key": key, "values": sorted(values[key])} for key in sorted(values)]


def monitor_view(session: Session, service: InferenceService) -> dict[str, Any]:
    """8.2: per model, its instances' CPU and memory (latest samples) and its calls.

    ``avg_latency_ms`` (the mean time through the gateway over the last minute) is a Modelworks
    extension of the ``Monitor`` object.
    """
    rows = list(session.scalars(select(ServiceInstance).where(ServiceInstance.service_id == service.id)))
    since = now_ms() - WINDOW_MS
    stats = session.execute(
        select(
            ServiceCallStats.model_id,
            func.sum(ServiceCallStats.calls),
            func.sum(ServiceCallStats.failures),
            func.sum(ServiceCallStats.latency_ms),
        )
        .where(ServiceCallStats.service_id == service.id)
        .group_by(ServiceCallStats.model_id)
    ).all()
    totals = {r[0]: (int(r[1] or 0), int(r[2] or 0)) for r in stats}
    recent = session.execute(
        select(
            ServiceCallStats.model_id, func.sum(ServiceCallStats.calls), func.sum(ServiceCallStats.latency_ms)
        )
        .where(ServiceCallStats.service_id == service.id, ServiceCallStats.bucket_start >= since)
        .group_by(ServiceCallStats.model_id)
    ).all()
    last_minute = {r[0]: (int(r[1] or 0), float(r[2] or 0.0)) for r in recent}
    monitors = []
    for entry in service.config:
        model_id = entry["model_id"]
        mine = [r for r in rows if r.model_id == model_id and r.revision == entry.get("revision")]
        running = [r for r in mine if r.status == INSTANCE_RUNNING]
        count = entry["instance_count"]
        calls, latency = last_minute.get(model_id, (0, 0.0))
        monitors.append(
            {
                "model_id": model_id,
                "model_name": entry.get("model_name", ""),
                "model_version": entry.get("model_version", ""),
                "invocation_times": totals.get(model_id, (0, 0))[0],
                "failed_times": totals.get(model_id, (0, 0))[1],
                "cpu_core_usage": round(sum(r.cpu_usage for r in running), 3),
                "cpu_core_total": float(entry["cpu"]) * count,
                "cpu_memory_usage": sum(r.memory_bytes for r in running) // MIB,
                "cpu_memory_total": int(entry["memory_bytes"]) * count // MIB,
                "gpu_usage": 0.0,
                "gpu_total": 0.0,
                "model_running_instance_count": len(running),
                "model_instance_count": count,
                "avg_latency_ms": round(latency / calls, 3) if calls else 0.0,
            }
        )
    running_total = (
        sum(m["model_running_instance_count"] for m in monitors) if service.status in SERVING else 0
    )
    return {
        "service_name": service.name,
        "service_id": service.id,
        "service_running_instance_count": running_total,
        "service_instance_count": sum(e["instance_count"] for e in service.config),
        "req_count_per_min": sum(c for c, _ in last_minute.values()),
        "monitors": monitors,
    }
