"""Models, "AI applications" (reference 6.1–6.5); the types are in ``api/schemas/models.py``."""

from __future__ import annotations

from typing import Any

from modelworks.api.deps import PrincipalDep, SessionDep, StoreDep
from modelworks.api.routing import api_router
from modelworks.api.schemas.common import ErrorResp, Limit1000
from modelworks.api.schemas.models import (
    CreateModelReq,
    CreateModelResp,
    DeleteModelResp,
    ListModelRuntimesResp,
    ListModelsResp,
    ModelPage,
    ModelSortBy,
    ModelStatus,
    Order,
    QueryText,
    RuntimeLimit,
    RuntimeOffset,
    ShowModelResp,
)
from modelworks.models import service
from modelworks.models.runtimes import available_runtimes
from modelworks.models.views import model_detail, model_list_item

ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResp},
    401: {"model": ErrorResp},
    403: {"model": ErrorResp},
    404: {"model": ErrorResp},
}
router = api_router(prefix="/v1/{project_id}/models", tags=["models"], responses=ERRORS)


@router.get("/ai-engine-runtimes", response_model=ListModelRuntimesResp, response_model_exclude_unset=True)
def list_runtimes(
    project_id: str, principal: PrincipalDep, offset: RuntimeOffset = 0, limit: RuntimeLimit = None
) -> dict[str, Any]:
    """The engines this installation runs; ``count`` is all of them, ``total_count`` those answered
    (the reference's own reading of the two)."""
    engines = [r.describe() for r in available_runtimes()]
    page = engines[offset : offset + limit if limit is not None else None]
    return {"count": len(engines), "total_count": len(page), "engine_runtimes": page}


@router.post(
    "",
    response_model=CreateModelResp,
    responses={501: {"model": ErrorResp, "description": "Image and Template models are not supported"}},
)
def create_model(
    project_id: str, principal: PrincipalDep, session: SessionDep, store: StoreDep, body: CreateModelReq
) -> dict[str, Any]:
    created = service.create_model(session, store, principal, body.model_dump(exclude_unset=True))
    return {"model_id": created.id}


@router.get("", response_model=ListModelsResp, response_model_exclude_unset=True)
def list_models(
    project_id: str,
    principal: PrincipalDep,
    session: SessionDep,
    model_name: QueryText = None,
    exact_match: bool = False,
    model_version: QueryText = None,
    model_status: ModelStatus | None = None,
    description: QueryText = None,
    model_type: QueryText = None,
    not_model_type: QueryText = None,
    workspace_id: QueryText = None,
    offset: ModelPage = 0,
    limit: Limit1000 = 1000,
    sort_by: ModelSortBy = "create_at",
    order: Order = "desc",
) -> dict[str, Any]:
    total, rows = service.list_models(
        session,
        project_id,
        model_name=model_name,
        exact_match=exact_match,
        model_version=model_version,
        model_status=model_status,
        description=description,
        model_type=model_type,
        not_model_type=not_model_type,
        workspace_id=workspace_id,
        offset=offset,
        limit=limit,
        sort_by=sort_by,
        order=order,
    )
    return {"total_count": total, "count": len(rows), "models": [model_list_item(m) for m in rows]}


@router.get("/{model_id}", response_model=ShowModelResp, response_model_exclude_unset=True)
def get_model(project_id: str, model_id: str, principal: PrincipalDep, session: SessionDep) -> dict[str, Any]:
    return model_detail(service.get_model(session, project_id, model_id))


@router.delete("/{model_id}", response_model=DeleteModelResp)
def delete_model(
    project_id: str,
    model_id: str,
    principal: PrincipalDep,
    session: SessionDep,
    store: StoreDep,
    cascade: bool = False,
) -> dict[str, Any]:
    return service.delete_model(session, store, project_id, model_id, cascade=cascade)
