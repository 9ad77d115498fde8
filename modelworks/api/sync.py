"""Dataset synchronization with its data sources (reference 16.1.60, 16.1.61)."""

from __future__ import annotations

from typing import Any

from modelworks.api.deps import PrincipalDep, SessionDep
from modelworks.api.routing import api_router
from modelworks.api.schemas.common import ErrorResp
from modelworks.api.schemas.sync import SyncDataResp, SyncDataStatusResp
from modelworks.data.datasets import get_dataset
from modelworks.transfer import sync as service

router = api_router(prefix="/v2/{project_id}/datasets/{dataset_id}/sync-data", tags=["sync"])
_ERRORS: dict[int | str, dict[str, Any]] = {400: {"model": ErrorResp}, 404: {"model": ErrorResp}}


@router.post("", response_model=SyncDataResp, responses=_ERRORS)
def sync_dataset(
    project_id: str, dataset_id: str, principal: PrincipalDep, session: SessionDep
) -> dict[str, Any]:
    dataset = get_dataset(session, project_id, dataset_id, for_update=True)
    return {"task_id": service.start_sync(session, dataset).id}


@router.get(
    "/status", response_model=SyncDataStatusResp, response_model_exclude_unset=True, responses=_ERRORS
)
def sync_status(
    project_id: str, dataset_id: str, principal: PrincipalDep, session: SessionDep
) -> dict[str, Any]:
    return service.sync_status(session, get_dataset(session, project_id, dataset_id))
