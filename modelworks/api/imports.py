"""Import tasks (reference 16.1.54–16.1.56)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query

from modelworks.api.deps import JsonBody, PrincipalDep, SessionDep, StoreDep
from modelworks.api.routing import api_router
from modelworks.data import imports as service
from modelworks.data.datasets import get_dataset

router = api_router(prefix="/v2/{project_id}/datasets/{dataset_id}/import-tasks", tags=["import-tasks"])


@router.get("")
def list_import_tasks(
    project_id: str,
    dataset_id: str,
    principal: PrincipalDep,
    session: SessionDep,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
) -> dict[str, Any]:
    total, rows = service.list_import_tasks(session, project_id, dataset_id, offset, limit)
    return {"total_count": total, "import_tasks": [service.import_task_view(t) for t in rows]}


@router.post("")
def create_import_task(
    project_id: str,
    dataset_id: str,
    principal: PrincipalDep,
    session: SessionDep,
    store: StoreDep,
    body: JsonBody,
) -> dict[str, Any]:
    dataset = get_dataset(session, project_id, dataset_id, for_update=True)
    return {"task_id": service.create_import_task(session, store, dataset, body).id}


@router.get("/{task_id}")
def get_import_task(
    project_id: str, dataset_id: str, task_id: str, principal: PrincipalDep, session: SessionDep
) -> dict[str, Any]:
    return service.import_task_view(service.get_import_task(session, project_id, dataset_id, task_id))
