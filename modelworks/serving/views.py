"""Services as the reference answers them: details (8.6), list items (8.3), call counts."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from modelworks.db.base import now_ms
from modelworks.serving.specs import CUSTOM
from modelworks.serving.status import (
    BATCH,
    DEPLOYING,
    FAILED,
    INSTANCE_FAILED,
    INSTANCE_RUNNING,
    INSTANCE_STARTING,
    REAL_TIME,
    STOPPED,
)
from modelworks.serving.tables import InferenceService, ServiceCallStats, ServiceInstance

_CONFIG_FIELDS = ("model_id", "model_name", "model_version", "specification", "instance_count", "envs")
_BATCH_FIELDS = ("src_path", "dest_path", "req_uri", "mapping_type", "mapping_rule", "src_type")


def call_totals(session: Session, service_ids: list[str]) -> dict[tuple[str, str], tuple[int, int]]:
    """``{(service_id, model_id): (calls, failed calls)}`` through ``/v1/infers``."""
    if not service_ids:
        return {}
    rows = session.execute(
        select(
            ServiceCallStats.service_id,
            ServiceCallStats.model_id,
            func.sum(ServiceCallStats.calls),
            func.sum(ServiceCallStats.failures),
        )
        .where(ServiceCallStats.service_id.in_(service_ids))
        .group_by(ServiceCallStats.service_id, ServiceCallStats.model_id)
    ).all()
    return {(r[0], r[1]): (int(r[2] or 0), int(r[3] or 0)) for r in rows}


def service_totals(totals: dict[tuple[str, str], tuple[int, int]], service_id: str) -> tuple[int, int]:
    calls = sum(c for (sid, _), (c, _f) in totals.items() if sid == service_id)
    failed = sum(f for (sid, _), (_c, f) in totals.items() if sid == service_id)
    return calls, failed


def access_address(endpoint: str, service: InferenceService) -> str:
    return f"{endpoint.rstrip('/')}/v1/infers/{service.id}"


def _config_status(service: InferenceService, instances: list[ServiceInstance]) -> str:
    """The status of one model's instances: running, notReady, failed or stopped."""
    if service.status == FAILED:
        return FAILED
    if not instances:
        return STOPPED if service.status != DEPLOYING else INSTANCE_STARTING
    if all(i.status == INSTANCE_RUNNING for i in instances):
        return INSTANCE_RUNNING
    if any(i.status == INSTANCE_FAILED for i in instances):
        return INSTANCE_FAILED
    return INSTANCE_STARTING


def config_view(
    service: InferenceService, entry: dict[str, Any], instances: list[ServiceInstance]
) -> dict[str, Any]:
    """One ``QueryServiceConfig``."""
    out: dict[str, Any] = {k: entry[k] for k in _CONFIG_FIELDS if k in entry}
    if entry.get("specification") == CUSTOM:
        out["custom_spec"] = entry.get("custom_spec") or {}
    if service.infer_type == REAL_TIME:
        out["weight"] = entry.get("weight", 100)
    else:
        out.update({k: entry[k] for k in _BATCH_FIELDS if entry.get(k) not in (None, "")})
        if service.start_time:
            out["start_time"] = service.start_time
        if service.finished_time:
            out["finished_time"] = service.finished_time
    wanted = [i for i in instances if i.model_id == entry["model_id"] and i.revision == entry.get("revision")]
    out.update(
        status=_config_status(service, wanted),
        scaling=False,
        support_debug=False,
        additional_properties=entry.get("additional_properties") or {},
    )
    return out


def _common(service: InferenceService, calls: tuple[int, int]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "service_id": service.id,
        "service_name": service.name,
        "description": service.description,
        "tenant": service.tenant,
        "project": service.project_id,
        "owner": service.owner,
        "publish_at": service.publish_at,
        "infer_type": service.infer_type,
        "workspace_id": service.workspace_id,
        "status": service.status,
        "invocation_times": calls[0],
        "failed_times": calls[1],
        "is_shared": False,
        "shared_count": 0,
        "operation_time": now_ms(),
        "transition_at": service.transition_at,
        "is_free": False,
        "additional_properties": service.additional_properties or {},
    }
    if service.status == DEPLOYING:
        out["progress"] = service.progress
    if service.schedule:
        out["schedule"] = service.schedule
    if service.due_time:
        out["due_time"] = service.due_time
    if service.infer_type == BATCH:
        if service.start_time:
            out["start_time"] = service.start_time
        if service.finished_time:
            out["finished_time"] = service.finished_time
    return out


def detail_view(
    service: InferenceService, instances: list[ServiceInstance], calls: tuple[int, int], endpoint: str
) -> dict[str, Any]:
    """8.6 ``Obtaining Service Details``."""
    out = _common(service, calls)
    out["progress"] = service.progress
    out["update_time"] = service.update_time
    out["config"] = [config_view(service, e, instances) for e in service.config]
    out["tags"] = service.tags or []
    if service.status == FAILED and service.error_msg:
        out["error_msg"] = service.error_msg
    if service.infer_type == REAL_TIME:
        # The table names it access_addresses, the example access_address: answer both.
        address = access_address(endpoint, service)
        out["access_address"] = out["access_addresses"] = address
    return out


def list_item(service: InferenceService, calls: tuple[int, int]) -> dict[str, Any]:
    """8.3 ``ListServices``."""
    out = _common(service, calls)
    out["is_opened_sample_collection"] = "false"
    return out


def instances_by_service(session: Session, service_ids: list[str]) -> dict[str, list[ServiceInstance]]:
    out: dict[str, list[ServiceInstance]] = defaultdict(list)
    if service_ids:
        for row in session.scalars(
            select(ServiceInstance).where(ServiceInstance.service_id.in_(service_ids))
        ):
            out[row.service_id].append(row)
    return out
