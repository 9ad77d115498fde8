"""Dataset synchronization with its data sources (reference 16.1.60, 16.1.61)."""

from __future__ import annotations

from typing import Any

from modelworks.api.deps import PrincipalDep, SessionDep
from modelworks.api.routing import api_router
from modelworks.data import sync as service
from modelworks.data.datasets import get_dataset

router = api_router(prefix="/v2/{project_id}/datasets/{dataset_id}/sync-data", tags=["sync"])


@router.post("")
def sync_dataset(
    project_id: str, dataset_id: str, principal: PrincipalDep, session: SessionDep
) -> dict[str, Any]:
    """The reference answers no body; the task id is an extension a client may ignore."""
    dataset = get_dataset(session, project_id, dataset_id, for_update=True)
    return {"task_id": service.start_sync(session, dataset).id}


@router.get("/status")
def sync_status(
    project_id: str, dataset_id: str, principal: PrincipalDep, session: SessionDep
) -> dict[str, Any]:
    return service.sync_status(session, get_dataset(session, project_id, dataset_id))
