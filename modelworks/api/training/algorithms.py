"""Algorithms (reference 5.1–5.5)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Query
from fastapi.responses import JSONResponse

from modelworks.api.deps import JsonBody, PrincipalDep, SessionDep, StoreDep
from modelworks.api.routing import api_router
from modelworks.training import algorithms as service

router = api_router(prefix="/v2/{project_id}/algorithms", tags=["algorithms"])


@router.post("", status_code=201)
def create_algorithm(
    project_id: str, principal: PrincipalDep, session: SessionDep, store: StoreDep, body: JsonBody
) -> dict[str, Any]:
    return service.algorithm_view(service.create_algorithm(session, store, principal, body))


@router.get("")
def list_algorithms(
    project_id: str,
    principal: PrincipalDep,
    session: SessionDep,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=50)] = 10,
    sort_by: str = "create_time",
    order: Literal["asc", "desc"] = "desc",
    group_by: str = "",
    searches: str | None = None,
    workspace_id: str | None = None,
) -> dict[str, Any]:
    total, count, rows = service.list_algorithms(
        session,
        project_id,
        offset=offset,
        limit=limit,
        sort_by=sort_by,
        order=order,
        searches=searches,
        workspace_id=workspace_id,
    )
    return {
        "total": total,
        "count": count,
        "limit": limit,
        "offset": offset,
        "sort_by": sort_by,
        "order": order,
        "group_by": group_by,
        "items": [service.algorithm_view(a) for a in rows],
    }


@router.get("/{algorithm_id}")
def get_algorithm(
    project_id: str, algorithm_id: str, principal: PrincipalDep, session: SessionDep
) -> dict[str, Any]:
    return service.algorithm_view(service.get_algorithm(session, project_id, algorithm_id))


@router.put("/{algorithm_id}")
def modify_algorithm(
    project_id: str,
    algorithm_id: str,
    principal: PrincipalDep,
    session: SessionDep,
    store: StoreDep,
    body: JsonBody,
) -> dict[str, Any]:
    return service.algorithm_view(service.modify_algorithm(session, store, project_id, algorithm_id, body))


@router.delete("/{algorithm_id}", status_code=202)
def delete_algorithm(
    project_id: str, algorithm_id: str, principal: PrincipalDep, session: SessionDep
) -> JSONResponse:
    service.delete_algorithm(session, project_id, algorithm_id)
    return JSONResponse(None, status_code=202)
