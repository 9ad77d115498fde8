"""Services (reference 8.1–8.15) and the inference gateway ``/v1/infers/{service_id}``; the types are in
``api/schemas/services.py``."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import BackgroundTasks, Body, Depends, Request
from fastapi.responses import Response

from modelworks.api.deps import PrincipalDep, SessionDep, SettingsDep, StoreDep, authenticate
from modelworks.api.routing import api_router
from modelworks.api.schemas.common import ErrorResp, Limit1000, Offset
from modelworks.api.schemas.services import (
    CreateServiceReq,
    CreateServiceResp,
    CreateServiceTagsReq,
    DeleteServiceTagsReq,
    EmptyResp,
    EventType,
    InferType,
    ListServiceEventsResp,
    ListServicesResp,
    ListServiceTagsResp,
    ListServiceUpdateLogsResp,
    ListSpecificationsResp,
    Millis,
    Order,
    PatchServiceV2RequestBody,
    QueryText,
    ServiceSortBy,
    ServiceStatus,
    ShowInternalChannelResp,
    ShowServiceMonitorResp,
    ShowServiceResp,
    UpdateServicePropertyReq,
    UpdateServiceReq,
    UpdateServiceResp,
)
from modelworks.db import Database
from modelworks.errors import InvalidArgument
from modelworks.iam.service import Principal
from modelworks.serving import configs, events, lifecycle, queries, views
from modelworks.serving.plane import ServicePlane
from modelworks.serving.specs import machine_specs
from modelworks.settings import Settings

ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResp},
    401: {"model": ErrorResp},
    403: {"model": ErrorResp},
    404: {"model": ErrorResp},
}
router = api_router(prefix="/v1/{project_id}", tags=["services"], responses=ERRORS)
# Proxy routes of every method: left out of the OpenAPI schema (one operation id per method would clash).
infers = api_router(tags=["inference"], include_in_schema=False)
SERVICE = "/services/{service_id}"
NOT_HERE: dict[int | str, dict[str, Any]] = {
    501: {
        "model": ErrorResp,
        "description": "Edge services, dedicated pools (cluster_id, pool_name) and custom VPC networks are "
        "not supported by Modelworks",
    }
}
EXCLUDE_UNSET: dict[str, Any] = {"response_model_exclude_unset": True}
"""Optional fields the service leaves out stay out (``due_time`` without a schedule ...)."""


def get_plane(request: Request) -> ServicePlane:
    plane: ServicePlane = request.app.state.services
    return plane


PlaneDep = Annotated[ServicePlane, Depends(get_plane)]


@router.get("/services/specifications", response_model=ListSpecificationsResp, **EXCLUDE_UNSET)
def list_specifications(
    project_id: str,
    principal: PrincipalDep,
    is_personal_cluster: bool = False,
    infer_type: InferType = "real-time",
    limit: Limit1000 = 1000,
    offset: Offset = 0,
) -> dict[str, Any]:
    """The flavors of this machine; dedicated pools and edge nodes have none."""
    specs = [] if is_personal_cluster or infer_type == "edge" else [s.describe() for s in machine_specs()]
    page = specs[offset : offset + limit]
    return {"total_count": len(specs), "count": len(page), "specifications": page}


@router.get("/services/tms/tags", response_model=ListServiceTagsResp)
def list_project_tags(project_id: str, principal: PrincipalDep, session: SessionDep) -> dict[str, Any]:
    return {"tags": queries.project_tags(session, project_id)}


@router.get("/internal-channel-info", response_model=ShowInternalChannelResp, **EXCLUDE_UNSET)
def internal_channel(project_id: str, principal: PrincipalDep, settings: SettingsDep) -> dict[str, Any]:
    """No VPC endpoint channels: services answer on the server's own address."""
    return {"dns_domain_name": urlsplit(settings.public_endpoint).hostname or "", "vpcep_info": []}


@router.post("/services", response_model=CreateServiceResp, responses=NOT_HERE)
def deploy_service(
    project_id: str,
    principal: PrincipalDep,
    session: SessionDep,
    settings: SettingsDep,
    plane: PlaneDep,
    store: StoreDep,
    body: CreateServiceReq,
    background: BackgroundTasks,
) -> dict[str, Any]:
    service = lifecycle.deploy(session, settings, principal, body.model_dump(exclude_unset=True))
    configs.authorize_paths(store, service.config)
    background.add_task(plane.changed)  # after the response, so after the commit
    return {"service_id": service.id, "resource_ids": lifecycle.resource_ids(service)}


@router.get("/services", response_model=ListServicesResp, **EXCLUDE_UNSET)
def list_services(
    project_id: str,
    principal: PrincipalDep,
    session: SessionDep,
    service_id: QueryText = None,
    service_name: QueryText = None,
    model_id: QueryText = None,
    workspace_id: QueryText = None,
    infer_type: InferType | None = None,
    status: ServiceStatus | None = None,
    offset: Offset = 0,
    limit: Limit1000 = 1000,
    sort_by: ServiceSortBy = "publish_at",
    order: Order = "desc",
    tags: QueryText = None,
) -> dict[str, Any]:
    total, rows = queries.list_services(
        session,
        project_id,
        service_id=service_id,
        service_name=service_name,
        model_id=model_id,
        workspace_id=workspace_id,
        infer_type=infer_type,
        status=status,
        offset=offset,
        limit=limit,
        sort_by=sort_by,
        order=order,
        tags=tags,
    )
    totals = views.call_totals(session, [r.id for r in rows])
    items = [views.list_item(r, views.service_totals(totals, r.id)) for r in rows]
    return {"total_count": total, "count": len(items), "services": items}


@router.get(SERVICE, response_model=ShowServiceResp, **EXCLUDE_UNSET)
def get_service(
    project_id: str, service_id: str, principal: PrincipalDep, session: SessionDep, settings: SettingsDep
) -> dict[str, Any]:
    service = lifecycle.get_service(session, project_id, service_id)
    instances = views.instances_by_service(session, [service.id])[service.id]
    calls = views.service_totals(views.call_totals(session, [service.id]), service.id)
    return views.detail_view(service, instances, calls, settings.public_endpoint)


@router.put(SERVICE, response_model=EmptyResp, responses=NOT_HERE)
def update_service(
    project_id: str,
    service_id: str,
    principal: PrincipalDep,
    session: SessionDep,
    plane: PlaneDep,
    store: StoreDep,
    body: UpdateServiceReq,
    background: BackgroundTasks,
) -> dict[str, Any]:
    lifecycle.update_service(session, project_id, service_id, body.model_dump(exclude_unset=True))
    configs.authorize_paths(store, lifecycle.get_service(session, project_id, service_id).config)
    background.add_task(plane.changed)
    return {}


@router.patch(SERVICE, response_model=UpdateServiceResp, responses=NOT_HERE)
def patch_service(
    project_id: str,
    service_id: str,
    principal: PrincipalDep,
    session: SessionDep,
    plane: PlaneDep,
    store: StoreDep,
    operations: Annotated[list[PatchServiceV2RequestBody], Body()],
    background: BackgroundTasks,
) -> dict[str, Any]:
    """A JSON patch: ``replace`` operations on ``/config/{index}[/{field}]``."""
    patch = [op.model_dump(exclude_unset=True) for op in operations]
    update_time = lifecycle.patch_service(session, project_id, service_id, patch)
    service = lifecycle.get_service(session, project_id, service_id)
    configs.authorize_paths(store, service.config)
    background.add_task(plane.changed)
    return {"update_time": update_time, "resource_ids": lifecycle.resource_ids(service)}


@router.delete(SERVICE, response_model=EmptyResp)
def delete_service(
    project_id: str,
    service_id: str,
    principal: PrincipalDep,
    session: SessionDep,
    settings: SettingsDep,
    plane: PlaneDep,
    background: BackgroundTasks,
) -> dict[str, Any]:
    """One service, or several: ``service_id`` may be a comma-separated list of ids."""
    lifecycle.delete_services(session, settings.sandbox_root, project_id, service_id)
    background.add_task(plane.changed)
    return {}


@router.get(SERVICE + "/monitor", response_model=ShowServiceMonitorResp, **EXCLUDE_UNSET)
def monitor(
    project_id: str,
    service_id: str,
    principal: PrincipalDep,
    session: SessionDep,
    node_id: QueryText = None,
) -> dict[str, Any]:
    return queries.monitor_view(session, lifecycle.get_service(session, project_id, service_id))


@router.put(SERVICE + "/property", response_model=UpdateServiceResp)
def update_property(
    project_id: str,
    service_id: str,
    principal: PrincipalDep,
    session: SessionDep,
    plane: PlaneDep,
    store: StoreDep,
    body: UpdateServicePropertyReq,
    background: BackgroundTasks,
) -> dict[str, Any]:
    update_time = lifecycle.update_property(
        session, project_id, service_id, body.model_dump(exclude_unset=True)
    )
    service = lifecycle.get_service(session, project_id, service_id)
    configs.authorize_paths(store, service.config)
    background.add_task(plane.changed)
    return {"update_time": update_time, "resource_ids": lifecycle.resource_ids(service)}


@router.get(SERVICE + "/events", response_model=ListServiceEventsResp, **EXCLUDE_UNSET)
def list_events(
    project_id: str,
    service_id: str,
    principal: PrincipalDep,
    session: SessionDep,
    event_type: EventType | None = None,
    start_time: Millis = None,
    end_time: Millis = None,
    offset: Offset = 0,
    limit: Limit1000 = 1000,
    sort_by: QueryText = "occur_time",
    order: Order = "desc",
) -> dict[str, Any]:
    if sort_by != "occur_time":
        raise InvalidArgument("only occur_time is supported", field="sort_by")
    service = lifecycle.get_service(session, project_id, service_id)
    return events.list_events(
        session,
        service,
        event_type=event_type,
        start_time=start_time,
        end_time=end_time,
        offset=offset,
        limit=limit,
        order=order,
    )


@router.get(SERVICE + "/logs", response_model=ListServiceUpdateLogsResp, **EXCLUDE_UNSET)
def list_update_logs(
    project_id: str,
    service_id: str,
    principal: PrincipalDep,
    session: SessionDep,
    update_time: Millis = None,
) -> dict[str, Any]:
    service = lifecycle.get_service(session, project_id, service_id)
    return events.list_update_logs(session, service, update_time)


@router.post("/services/{resource_id}/tags/create", status_code=204, response_class=Response)
def add_tags(
    project_id: str,
    resource_id: str,
    principal: PrincipalDep,
    session: SessionDep,
    body: CreateServiceTagsReq,
) -> Response:
    lifecycle.add_tags(session, project_id, resource_id, body.model_dump(exclude_unset=True))
    return Response(status_code=204)


@router.delete("/services/{resource_id}/tags/delete", status_code=204, response_class=Response)
def delete_tags(
    project_id: str,
    resource_id: str,
    principal: PrincipalDep,
    session: SessionDep,
    body: DeleteServiceTagsReq,
) -> Response:
    lifecycle.delete_tags(session, project_id, resource_id, body.model_dump(exclude_unset=True))
    return Response(status_code=204)


# -- the gateway ---------------------------------------------------------------------------------------


async def infer_principal(request: Request, settings: Settings) -> Principal:
    """The caller of an inference: a token, or an AK/SK signature with ``X-Project-Id``.

    Credentials seen in the last seconds need no database (``modelworks.iam.cache``); a lookup opens a
    read-only session: an inference call writes nothing, so it never waits for SQLite's write lock.
    """
    db: Database = request.app.state.db
    return await authenticate(request, lambda: db.session(readonly=True), settings, "")


async def _forward(request: Request) -> Response:
    """Forward the call to a running instance of the service (see ``modelworks.serving.gateway``).

    A plain Starlette endpoint rather than one with FastAPI dependencies: it is the platform's hottest
    path, and resolving dependencies (and hopping to the thread pool for sync ones) was a tenth of the
    gateway's CPU per call. Errors raised here reach the app's handlers all the same.
    """
    principal = await infer_principal(request, request.app.state.settings)
    plane: ServicePlane = request.app.state.services
    params = request.path_params
    answer = await plane.gateway.forward(
        principal.project_id,
        params["service_id"],
        params.get("path", "/"),
        request.method,
        request.headers,
        request.scope["query_string"].decode("latin-1"),
        await request.body(),
    )
    return Response(answer.content, status_code=answer.status_code, headers=answer.headers)


_METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH"]
infers.add_route("/v1/infers/{service_id}", _forward, methods=_METHODS, include_in_schema=False)
infers.add_route("/v1/infers/{service_id}/{path:path}", _forward, methods=_METHODS, include_in_schema=False)
