"""Models, "AI applications" (reference 6.1–6.5)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query

from modelworks.api.deps import JsonBody, PrincipalDep, SessionDep, StoreDep
from modelworks.api.routing import api_router
from modelworks.models import service
from modelworks.models.runtimes import available_runtimes
from modelworks.models.views import model_detail, model_list_item

router = api_router(prefix="/v1/{project_id}/models", tags=["models"])


@router.get("/ai-engine-runtimes")
def list_runtimes(
    project_id: str,
    principal: PrincipalDep,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int | None, Query(ge=1)] = None,
) -> dict[str, Any]:
    """The engines this installation runs; ``count`` is all of them, ``total_count`` those answered
    (the reference's own reading of the two)."""
    engines = [r.describe() for r in available_runtimes()]
    page = engines[offset : offset + limit if limit is not None else None]
    return {"count": len(engines), "total_count": len(page), "engine_runtimes": page}


@router.post("")
def create_model(
    project_id: str, principal: PrincipalDep, session: SessionDep, store: StoreDep, body: JsonBody
) -> dict[str, Any]:
    return {"model_id": service.create_model(session, store, principal, body).id}


@router.get("")
def list_models(
    project_id: str,
    principal: PrincipalDep,
    session: SessionDep,
    model_name: str | None = None,
    exact_match: str | None = None,
    model_version: str | None = None,
    model_status: str | None = None,
    description: str | None = None,
    model_type: str | None = None,
    not_model_type: str | None = None,
    workspace_id: str | None = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 1000,
    sort_by: str = "create_at",
    order: str = "desc",
) -> dict[str, Any]:
    total, rows = service.list_models(
        session,
        project_id,
        model_name=model_name,
        exact_match=(exact_match or "").lower() == "true",
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


@router.get("/{model_id}")
def get_model(project_id: str, model_id: str, principal: PrincipalDep, session: SessionDep) -> dict[str, Any]:
    return model_detail(service.get_model(session, project_id, model_id))


@router.delete("/{model_id}")
def delete_model(
    project_id: str,
    model_id: str,
    principal: PrincipalDep,
    session: SessionDep,
    store: StoreDep,
    cascade: bool = False,
) -> dict[str, Any]:
    return service.delete_model(session, store, project_id, model_id, cascade=cascade)
