"""Import tasks (reference 16.1.54–16.1.56)."""

from __future__ import annotations

from typing import Any

from modelworks.api.deps import PrincipalDep, SessionDep, StoreDep
from modelworks.api.routing import api_router
from modelworks.api.schemas.common import ErrorResp, Limit100, Offset
from modelworks.api.schemas.imports import (
    CreateImportTaskReq,
    CreateImportTaskResp,
    ImportTaskStatusResp,
    ListImportTasksResp,
)
from modelworks.data.datasets import get_dataset
from modelworks.transfer import imports as service

router = api_router(prefix="/v2/{project_id}/datasets/{dataset_id}/import-tasks", tags=["import-tasks"])
_ERRORS: dict[int | str, dict[str, Any]] = {400: {"model": ErrorResp}, 404: {"model": ErrorResp}}


@router.get("", response_model=ListImportTasksResp, response_model_exclude_unset=True, responses=_ERRORS)
def list_import_tasks(
    project_id: str,
    dataset_id: str,
    principal: PrincipalDep,
    session: SessionDep,
    offset: Offset = 0,
    limit: Limit100 = 10,
) -> dict[str, Any]:
    total, rows = service.list_import_tasks(session, project_id, dataset_id, offset, limit)
    return {"total_count": total, "import_tasks": [service.import_task_view(t) for t in rows]}


@router.post("", response_model=CreateImportTaskResp, responses={**_ERRORS, 501: {"model": ErrorResp}})
def create_import_task(
    project_id: str,
    dataset_id: str,
    principal: PrincipalDep,
    session: SessionDep,
    store: StoreDep,
    body: CreateImportTaskReq,
) -> dict[str, Any]:
    dataset = get_dataset(session, project_id, dataset_id, for_update=True)
    return {
        "task_id": service.create_import_task(session, store, dataset, body.model_dump(exclude_unset=True)).id
    }


@router.get(
    "/{task_id}", response_model=ImportTaskStatusResp, response_model_exclude_unset=True, responses=_ERRORS
)
def get_import_task(
    project_id: str, dataset_id: str, task_id: str, principal: PrincipalDep, session: SessionDep
) -> dict[str, Any]:
    return service.import_task_view(service.get_import_task(session, project_id, dataset_id, task_id))
