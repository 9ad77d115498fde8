"""Export tasks (reference 16.1.57–16.1.59)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query

from modelworks.api.deps import JsonBody, PrincipalDep, SessionDep, StoreDep
from modelworks.api.routing import api_router
from modelworks.data import exports as service
from modelworks.data.datasets import get_dataset

router = api_router(prefix="/v2/{project_id}/datasets/{dataset_id}/export-tasks", tags=["export-tasks"])


@router.get("")
def list_export_tasks(
    project_id: str,
    dataset_id: str,
    principal: PrincipalDep,
    session: SessionDep,
    export_type: Annotated[int | None, Query(ge=0, le=3)] = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
) -> dict[str, Any]:
    total, rows = service.list_export_tasks(
        session, project_id, dataset_id, export_type=export_type, offset=offset, limit=limit
    )
    return {"total_count": total, "export_tasks": [service.export_task_view(t) for t in rows]}


@router.post("")
def create_export_task(
    project_id: str,
    dataset_id: str,
    principal: PrincipalDep,
    session: SessionDep,
    store: StoreDep,
    body: JsonBody,
) -> dict[str, Any]:
    dataset = get_dataset(session, project_id, dataset_id, for_update=True)
    return service.export_task_view(service.create_export_task(session, store, dataset, body))


@router.get("/{task_id}")
def get_export_task(
    project_id: str, dataset_id: str, task_id: str, principal: PrincipalDep, session: SessionDep
) -> dict[str, Any]:
    return service.export_task_view(service.get_export_task(session, project_id, dataset_id, task_id))
