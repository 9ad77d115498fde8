"""Deploying (8.4), updating (8.7, 8.1, 8.9), starting, stopping and deleting (8.8) services.

These functions only change rows; the supervisor (``supervisor.py``) sees the new status or
configuration and starts, replaces or stops the instances. A model used by a service cannot be
deleted: ``services_using_model`` is registered with the model registry below.
"""

from __future__ import annotations

import copy
import re
import shutil
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import String, cast, select
from sqlalchemy.orm import Session

from modelworks.compute.processes import hostname
from modelworks.compute.sandbox import sandbox_for
from modelworks.db.base import now_ms
from modelworks.errors import InvalidArgument, ModelNotInService, ServiceExists
from modelworks.iam.service import Principal
from modelworks.models.usage import register_usage_check
from modelworks.serving import configs, events
from modelworks.serving.instances import service_dir
from modelworks.serving.status import (
    CONCERNING,
    DELETING,
    DEPLOYING,
    FAILED,
    FINISHED,
    REAL_TIME,
    RUNNING,
    STOPPED,
    STOPPING,
    SUPERVISED,
    UPDATE_SUCCESS,
    not_updatable,
    required,
    service_not_found,
)
from modelworks.serving.tables import InferenceService
from modelworks.settings import Settings

_PATCH_PATH = re.compile(r"^/config/(\d+)(?:/([a-z_]+))?$")


def get_service(
    session: Session, project_id: str, service_id: str, *, for_update: bool = False
) -> InferenceService:
    query = select(InferenceService).where(
        InferenceService.id == service_id, InferenceService.project_id == project_id
    )
    service = session.scalar(query.with_for_update() if for_update else query)
    if service is None:
        raise service_not_found(service_id)
    return service


def resource_ids(service: InferenceService) -> list[str]:
    return [f"INF-{e['model_id'][:8]}{service.id[:8]}@{service.publish_at}" for e in service.config]


def deploy(
    session: Session, settings: Settings, principal: Principal, body: dict[str, Any]
) -> InferenceService:
    """Store a new service ``deploying``; the supervisor starts its instances (local model servers, or
    with ``settings.ray_address`` Ray Serve applications for a real-time service)."""
    configs.refuse_networks(body)
    infer_type = configs.infer_type_of(body.get("infer_type"))
    name = configs.check_name(body.get("service_name"))
    project_id = principal.project_id
    sandbox_for(settings).claim(project_id)  # no sandbox: one project's code per host (compute.sandbox)
    if session.scalar(
        select(InferenceService.id).where(
            InferenceService.project_id == project_id, InferenceService.name == name
        )
    ):
        raise ServiceExists(f"Service {name} already exists.")
    properties = body.get("additional_properties") or {}
    if not isinstance(properties, dict):
        raise InvalidArgument("must be an object", field="additional_properties")
    now = now_ms()
    service = InferenceService(
        id=str(uuid.uuid4()),
        project_id=project_id,
        name=name,
        description=configs.check_description(body.get("description")),
        infer_type=infer_type,
        workspace_id=str(body.get("workspace_id") or "0"),
        owner=principal.user_id,
        tenant=principal.domain_id,
        status=DEPLOYING,
        progress=0,
        error_msg="",
        config=configs.service_config(session, project_id, body.get("config"), infer_type),
        schedule=configs.schedule(body.get("schedule"), infer_type),
        additional_properties=properties,
        tags=[],
        create_time=now,
        publish_at=now,
        update_time=now,
        transition_at=now,
    )
    session.add(service)
    session.flush()
    events.record(session, service.id, "start to deploy service")
    events.open_update(session, service, now)
    session.flush()
    return service


def _set_status(session: Session, service: InferenceService, status: str, event: str) -> None:
    service.status = status
    service.transition_at = service.update_time = now_ms()
    events.record(session, service.id, event)


def _start(session: Session, service: InferenceService) -> None:
    if service.status in SUPERVISED - {STOPPING}:
        return
    if service.status == STOPPING:
        raise not_updatable(service.name, service.status, "started")
    service.progress, service.error_msg, service.previous_config = 0, "", None
    service.start_time = service.finished_time = service.due_time = None
    _set_status(session, service, DEPLOYING, "start to deploy service")


def _stop(session: Session, service: InferenceService) -> None:
    if service.status in (STOPPED, STOPPING):
        return
    if service.status in (FAILED, FINISHED):
        _set_status(session, service, STOPPED, "service stopped")
        return
    _set_status(session, service, STOPPING, "stopping the service")


def _apply_config(session: Session, service: InferenceService, config: list[dict[str, Any]]) -> int:
    """Replace the configuration; a serving service is updated rolling. Returns the update time."""
    if service.status in (DEPLOYING, STOPPING, DELETING):
        raise not_updatable(service.name, service.status, "updated")
    now = now_ms()
    serving = service.infer_type == REAL_TIME and service.status in (RUNNING, CONCERNING)
    if serving and service.previous_config is None:
        service.previous_config = service.config
    service.config = config
    service.update_time = now
    events.open_update(session, service, now)
    if serving:
        events.record(session, service.id, "updating the service configuration")
    else:
        events.close_updates(session, service.id, UPDATE_SUCCESS)
        events.record(session, service.id, "service configuration updated; it applies at the next start")
    return now


def update_service(session: Session, project_id: str, service_id: str, body: dict[str, Any]) -> int | None:
    """8.7: description, schedule, properties; then ``status`` (start, stop) or else ``config``.

    Returns the update time when the configuration changed."""
    service = get_service(session, project_id, service_id, for_update=True)
    if service.status == DELETING:
        raise not_updatable(service.name, service.status, "updated")
    if "description" in body:
        service.description = configs.check_description(body.get("description"))
    if "schedule" in body:
        service.schedule = configs.schedule(body.get("schedule"), service.infer_type)
        seconds = configs.schedule_seconds(service.schedule)
        if service.status in (RUNNING, CONCERNING):
            service.due_time = now_ms() + seconds * 1000 if seconds else None
    if "additional_properties" in body:
        properties = body.get("additional_properties") or {}
        if not isinstance(properties, dict):
            raise InvalidArgument("must be an object", field="additional_properties")
        service.additional_properties = properties
    configs.refuse_networks(body)
    status = body.get("status")
    if status is not None:
        if status == RUNNING:
            _start(session, service)
        elif status == STOPPED:
            _stop(session, service)
        else:
            raise InvalidArgument("must be running or stopped", field="status")
        session.flush()
        return None
    update_time = None
    if body.get("config") is not None:
        config = configs.service_config(session, project_id, body["config"], service.infer_type)
        update_time = _apply_config(session, service, config)
    session.flush()
    return update_time


def patch_service(session: Session, project_id: str, service_id: str, operations: Any) -> int:
    """8.1: JSON-patch ``replace`` operations on ``/config/{i}[/{field}]``."""
    if not isinstance(operations, list) or not operations:
        raise required("body")
    service = get_service(session, project_id, service_id, for_update=True)
    forms = [configs.request_form(e) for e in service.config]
    for i, op in enumerate(operations):
        field = f"[{i}]"
        if not isinstance(op, dict) or op.get("op") != "replace":
            raise InvalidArgument("only replace operations are supported", field=f"{field}.op")
        match = _PATCH_PATH.match(str(op.get("path") or ""))
        if match is None:
            raise InvalidArgument("must be /config/{index}/{field}", field=f"{field}.path")
        index, name = int(match.group(1)), match.group(2)
        if index >= len(forms):
            raise InvalidArgument(f"the service has {len(forms)} model configurations", field=f"{field}.path")
        value = copy.deepcopy(op.get("value"))
        if name is None:
            if not isinstance(value, dict):
                raise InvalidArgument("must be a ServiceConfig object", field=f"{field}.value")
            forms[index] = value
        elif name in configs.PUBLIC_FIELDS or name in ("pool_name", "cluster_id"):
            forms[index][name] = value
        else:
            raise InvalidArgument(f"{name} cannot be patched", field=f"{field}.path")
    config = configs.service_config(session, project_id, forms, service.infer_type)
    update_time = _apply_config(session, service, config)
    session.flush()
    return update_time


def update_property(session: Session, project_id: str, service_id: str, body: dict[str, Any]) -> int:
    """8.9: change ``instance_count`` of some models of a running real-time service."""
    if body.get("changed_property") != "instance_count":
        raise InvalidArgument("only instance_count can be changed", field="changed_property")
    changes = body.get("configs")
    if not isinstance(changes, list) or not changes:
        raise required("configs")
    service = get_service(session, project_id, service_id, for_update=True)
    if service.infer_type != REAL_TIME or service.status not in (RUNNING, CONCERNING):
        raise not_updatable(service.name, service.status, "scaled")
    config = copy.deepcopy(service.config)
    by_model = {e["model_id"]: e for e in config}
    for i, change in enumerate(changes):
        field = f"configs[{i}]"
        if not isinstance(change, dict):
            raise InvalidArgument("must be an object", field=field)
        entry = by_model.get(str(change.get("model_id") or ""))
        if entry is None:
            raise ModelNotInService(
                f"Model {change.get('model_id')} under service {service_id} does not exist.",
                field=f"{field}.model_id",
            )
        entry["instance_count"] = configs.integer_field(
            change.get("changed_value"), f"{field}.changed_value", low=1, high=configs.MAX_INSTANCES
        )
    update_time = _apply_config(session, service, config)
    session.flush()
    return update_time


def delete_services(session: Session, sandbox_root: Path, project_id: str, service_ids: str) -> None:
    """8.8: delete one service or several (comma-separated ids); running ones stop first.

    A service without processes (stopped, failed, finished) is deleted at once, with its files when
    they are on this host; the others become ``deleting`` and their supervisor deletes them once
    their instances are stopped.
    """
    ids = [i.strip() for i in service_ids.split(",") if i.strip()]
    if not ids:
        raise required("service_id")
    services = [get_service(session, project_id, i, for_update=True) for i in ids]
    for service in services:
        if service.status in SUPERVISED:
            if service.status != DELETING:
                _set_status(session, service, DELETING, "deleting the service")
        else:
            session.delete(service)
            if service.host in (None, hostname()):
                shutil.rmtree(service_dir(sandbox_root, service.id), ignore_errors=True)
    session.flush()


def add_tags(session: Session, project_id: str, service_id: str, body: dict[str, Any]) -> None:
    """8.12: add tags; a tag with an existing key replaces it."""
    service = get_service(session, project_id, service_id, for_update=True)
    tags = {t["key"]: t["value"] for t in service.tags or []}
    for tag in configs.tags(body.get("tags")):
        tags[tag["key"]] = tag["value"]
    service.tags = [{"key": k, "value": v} for k, v in tags.items()]
    session.flush()


def delete_tags(session: Session, project_id: str, service_id: str, body: dict[str, Any]) -> None:
    """8.13: delete tags by key (and value, when given)."""
    service = get_service(session, project_id, service_id, for_update=True)
    doomed = configs.tags(body.get("tags"), deleting=True)

    def deleted(tag: dict[str, str]) -> bool:
        return any(d["key"] == tag["key"] and d.get("value", tag["value"]) == tag["value"] for d in doomed)

    service.tags = [t for t in service.tags or [] if not deleted(t)]
    session.flush()


def services_using_model(session: Session, model_id: str) -> list[str]:
    """Ids of the services whose configuration deploys ``model_id`` (checked before a model is deleted)."""
    rows = session.execute(
        select(InferenceService.id, InferenceService.config).where(
            cast(InferenceService.config, String).like(f"%{model_id}%")
        )
    ).all()
    return [r.id for r in rows if any(e.get("model_id") == model_id for e in r.config or [])]


register_usage_check(services_using_model)
