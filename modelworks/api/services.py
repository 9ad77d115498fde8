"""Services (reference 8.1–8.15) and the inference gateway ``/v1/infers/{service_id}``."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from fastapi import BackgroundTasks, Depends, Query, Request
from fastapi.responses import Response

from modelworks.api.deps import JsonBody, PrincipalDep, SessionDep, SettingsDep, StoreDep, authenticate
from modelworks.api.routing import api_router
from modelworks.db import Database
from modelworks.errors import InvalidArgument, InvalidJson
from modelworks.iam.service import Principal
from modelworks.services import configs, events, lifecycle, queries, views
from modelworks.services.plane import ServicePlane
from modelworks.services.specs import machine_specs
from modelworks.settings import Settings

router = api_router(prefix="/v1/{project_id}", tags=["services"])
# Proxy routes of every method: left out of the OpenAPI schema (one operation id per method would clash).
infers = api_router(tags=["inference"], include_in_schema=False)
SERVICE = "/services/{service_id}"


def get_plane(request: Request) -> ServicePlane:
    plane: ServicePlane = request.app.state.services
    return plane


PlaneDep = Annotated[ServicePlane, Depends(get_plane)]


async def json_array_body(request: Request, principal: PrincipalDep) -> list[Any]:
    """A JSON-patch body (a JSON array), parsed after the caller is authenticated."""
    try:
        body = json.loads(await request.body() or b"null")
    except ValueError as exc:
        raise InvalidJson("Incorrect JSON format of the input data.") from exc
    if not isinstance(body, list):
        raise InvalidJson("The request body must be a JSON array of patch operations.")
    return body


@router.get("/services/specifications")
def list_specifications(
    project_id: str,
    principal: PrincipalDep,
    is_personal_cluster: bool = False,
    infer_type: str = "real-time",
    limit: Annotated[int, Query(ge=1)] = 1000,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    """The flavors of this machine; dedicated pools and edge nodes have none."""
    specs = [] if is_personal_cluster or infer_type == "edge" else [s.describe() for s in machine_specs()]
    page = specs[offset : offset + limit]
    return {"total_count": len(specs), "count": len(page), "specifications": page}


@router.get("/services/tms/tags")
def list_project_tags(project_id: str, principal: PrincipalDep, session: SessionDep) -> dict[str, Any]:
    return {"tags": queries.project_tags(session, project_id)}


@router.get("/internal-channel-info")
def internal_channel(project_id: str, principal: PrincipalDep, settings: SettingsDep) -> dict[str, Any]:
    """No VPC endpoint channels: services answer on the server's own address."""
    return {"dns_domain_name": urlsplit(settings.public_endpoint).hostname or "", "vpcep_info": []}


@router.post("/services")
def deploy_service(
    project_id: str,
    principal: PrincipalDep,
    session: SessionDep,
    settings: SettingsDep,
    plane: PlaneDep,
    store: StoreDep,
    body: JsonBody,
    background: BackgroundTasks,
) -> dict[str, Any]:
    service = lifecycle.deploy(session, settings, principal, body)
    configs.authorize_paths(store, service.config)
    background.add_task(plane.changed)  # after the response, so after the commit
    return {"service_id": service.id, "resource_ids": lifecycle.resource_ids(service)}


@router.get("/services")
def list_services(
    project_id: str,
    principal: PrincipalDep,
    session: SessionDep,
    service_id: str | None = None,
    service_name: str | None = None,
    model_id: str | None = None,
    workspace_id: str | None = None,
    infer_type: str | None = None,
    status: str | None = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1)] = 1000,
    sort_by: str = "publish_at",
    order: str = "desc",
    tags: str | None = None,
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


@router.get(SERVICE)
def get_service(
    project_id: str, service_id: str, principal: PrincipalDep, session: SessionDep, settings: SettingsDep
) -> dict[str, Any]:
    service = lifecycle.get_service(session, project_id, service_id)
    instances = views.instances_by_service(session, [service.id])[service.id]
    calls = views.service_totals(views.call_totals(session, [service.id]), service.id)
    return views.detail_view(service, instances, calls, settings.public_endpoint)


@router.put(SERVICE)
def update_service(
    project_id: str,
    service_id: str,
    principal: PrincipalDep,
    session: SessionDep,
    plane: PlaneDep,
    store: StoreDep,
    body: JsonBody,
    background: BackgroundTasks,
) -> dict[str, Any]:
    lifecycle.update_service(session, project_id, service_id, body)
    configs.authorize_paths(store, lifecycle.get_service(session, project_id, service_id).config)
    background.add_task(plane.changed)
    return {}


@router.patch(SERVICE)
def patch_service(
    project_id: str,
    service_id: str,
    session: SessionDep,
    plane: PlaneDep,
    store: StoreDep,
    operations: Annotated[list[Any], Depends(json_array_body)],
    background: BackgroundTasks,
) -> dict[str, Any]:
    update_time = lifecycle.patch_service(session, project_id, service_id, operations)
    service = lifecycle.get_service(session, project_id, service_id)
    configs.authorize_paths(store, service.config)
    background.add_task(plane.changed)
    return {"update_time": update_time, "resource_ids": lifecycle.resource_ids(service)}


@router.delete(SERVICE)
def delete_service(
    project_id: str,
    service_id: str,
    principal: PrincipalDep,
    session: SessionDep,
    settings: SettingsDep,
    plane: PlaneDep,
    background: BackgroundTasks,
) -> dict[str, Any]:
    lifecycle.delete_services(session, settings.sandbox_root, project_id, service_id)
    background.add_task(plane.changed)
    return {}


@router.get(SERVICE + "/monitor")
def monitor(
    project_id: str, service_id: str, principal: PrincipalDep, session: SessionDep, node_id: str | None = None
) -> dict[str, Any]:
    return queries.monitor_view(session, lifecycle.get_service(session, project_id, service_id))


@router.put(SERVICE + "/property")
def update_property(
    project_id: str,
    service_id: str,
    principal: PrincipalDep,
    session: SessionDep,
    plane: PlaneDep,
    store: StoreDep,
    body: JsonBody,
    background: BackgroundTasks,
) -> dict[str, Any]:
    update_time = lifecycle.update_property(session, project_id, service_id, body)
    service = lifecycle.get_service(session, project_id, service_id)
    configs.authorize_paths(store, service.config)
    background.add_task(plane.changed)
    return {"update_time": update_time, "resource_ids": lifecycle.resource_ids(service)}


@router.get(SERVICE + "/events")
def list_events(
    project_id: str,
    service_id: str,
    principal: PrincipalDep,
    session: SessionDep,
    event_type: str | None = None,
    start_time: int | None = None,
    end_time: int | None = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1)] = 1000,
    sort_by: str = "occur_time",
    order: Literal["asc", "desc"] = "desc",
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


@router.get(SERVICE + "/logs")
def list_update_logs(
    project_id: str,
    service_id: str,
    principal: PrincipalDep,
    session: SessionDep,
    update_time: int | None = None,
) -> dict[str, Any]:
    service = lifecycle.get_service(session, project_id, service_id)
    return events.list_update_logs(session, service, update_time)


@router.post("/services/{resource_id}/tags/create", status_code=204)
def add_tags(
    project_id: str, resource_id: str, principal: PrincipalDep, session: SessionDep, body: JsonBody
) -> Response:
    lifecycle.add_tags(session, project_id, resource_id, body)
    return Response(status_code=204)


@router.delete("/services/{resource_id}/tags/delete", status_code=204)
def delete_tags(
    project_id: str, resource_id: str, principal: PrincipalDep, session: SessionDep, body: JsonBody
) -> Response:
    lifecycle.delete_tags(session, project_id, resource_id, body)
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
    """Forward the call to a running instance of the service (see ``modelworks.services.gateway``).

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
