"""Algorithms (reference 5.1–5.5)."""

from __future__ import annotations

from typing import Any

from fastapi import Query
from fastapi.responses import JSONResponse

from modelworks.api.deps import PrincipalDep, SessionDep, StoreDep
from modelworks.api.routing import api_router
from modelworks.api.schemas.common import ErrorResp
from modelworks.api.schemas.training.algorithms import (
    AlgorithmLimit,
    AlgorithmOffset,
    AlgorithmOrder,
    AlgorithmResponse,
    AlgorithmSortBy,
    CreateAlgorithmReq,
    ListAlgorithmsResponse,
)
from modelworks.training import algorithms as service

router = api_router(prefix="/v2/{project_id}/algorithms", tags=["algorithms"])
_ERRORS: dict[int | str, dict[str, Any]] = {400: {"model": ErrorResp}, 404: {"model": ErrorResp}}
# An algorithm asking for what Modelworks does not run (a custom image's command) answers 501.
_WRITE_ERRORS: dict[int | str, dict[str, Any]] = {
    **_ERRORS,
    501: {"model": ErrorResp, "description": "A feature of the request Modelworks does not implement yet"},
}


@router.post(
    "",
    status_code=201,
    response_model=AlgorithmResponse,
    response_model_exclude_unset=True,
    responses=_WRITE_ERRORS,
)
def create_algorithm(
    project_id: str,
    principal: PrincipalDep,
    session: SessionDep,
    store: StoreDep,
    body: CreateAlgorithmReq,
) -> dict[str, Any]:
    fields = body.model_dump(exclude_unset=True)
    return service.algorithm_view(service.create_algorithm(session, store, principal, fields))


@router.get("", response_model=ListAlgorithmsResponse, response_model_exclude_unset=True, responses=_ERRORS)
def list_algorithms(
    project_id: str,
    principal: PrincipalDep,
    session: SessionDep,
    offset: AlgorithmOffset = 0,
    limit: AlgorithmLimit = 10,
    sort_by: AlgorithmSortBy = "create_time",
    order: AlgorithmOrder = "desc",
    group_by: str = Query("", max_length=64),
    searches: str | None = Query(None, max_length=1024),
    workspace_id: str | None = Query(None, max_length=64),
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


@router.get(
    "/{algorithm_id}", response_model=AlgorithmResponse, response_model_exclude_unset=True, responses=_ERRORS
)
def get_algorithm(
    project_id: str, algorithm_id: str, principal: PrincipalDep, session: SessionDep
) -> dict[str, Any]:
    return service.algorithm_view(service.get_algorithm(session, project_id, algorithm_id))


@router.put(
    "/{algorithm_id}",
    response_model=AlgorithmResponse,
    response_model_exclude_unset=True,
    responses=_WRITE_ERRORS,
)
def modify_algorithm(
    project_id: str,
    algorithm_id: str,
    principal: PrincipalDep,
    session: SessionDep,
    store: StoreDep,
    body: CreateAlgorithmReq,
) -> dict[str, Any]:
    fields = body.model_dump(exclude_unset=True)
    return service.algorithm_view(service.modify_algorithm(session, store, project_id, algorithm_id, fields))


@router.delete("/{algorithm_id}", status_code=202, response_model=None, responses=_ERRORS)
def delete_algorithm(
    project_id: str, algorithm_id: str, principal: PrincipalDep, session: SessionDep
) -> JSONResponse:
    service.delete_algorithm(session, project_id, algorithm_id)
    return JSONResponse(None, status_code=202)
