"""Dataset versions (reference 16.1.8–16.1.11)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query, Response

from modelworks.api.deps import PrincipalDep, SessionDep
from modelworks.api.routing import api_router
from modelworks.api.schemas.common import ErrorResp, Limit1000, Offset
from modelworks.api.schemas.versions import (
    CreateDatasetVersionReq,
    CreateDatasetVersionResp,
    DatasetVersion,
    ListDatasetVersionsResp,
)
from modelworks.data.datasets import get_dataset
from modelworks.transfer import versions as service

router = api_router(
    prefix="/v2/{project_id}/datasets/{dataset_id}/versions",
    tags=["versions"],
    responses={400: {"model": ErrorResp}, 404: {"model": ErrorResp}},
)


@router.get("", response_model=ListDatasetVersionsResp, response_model_exclude_unset=True)
def list_versions(
    project_id: str,
    dataset_id: str,
    principal: PrincipalDep,
    session: SessionDep,
    status: Annotated[int | None, Query(ge=0, le=4)] = None,
    train_evaluate_ratio: Annotated[str | None, Query(max_length=64)] = None,
    version_format: Annotated[int | None, Query(ge=0, le=2)] = None,
    offset: Offset = 0,
    limit: Limit1000 = 1000,
) -> dict[str, Any]:
    dataset = get_dataset(session, project_id, dataset_id)
    total, rows = service.list_versions(
        session,
        dataset,
        offset=offset,
        limit=limit,
        status=status,
        train_evaluate_ratio=train_evaluate_ratio,
        version_format=version_format,
    )
    views = [service.version_view(v, dataset, service.previous_of(session, v)) for v in rows]
    for view in views:
        view.pop("label_stats", None)  # the list leaves label statistics to the detail call
    return {"total_number": total, "versions": views}


@router.post("", status_code=201, response_model=CreateDatasetVersionResp)
def create_version(
    project_id: str,
    dataset_id: str,
    principal: PrincipalDep,
    session: SessionDep,
    body: CreateDatasetVersionReq | None = None,
) -> dict[str, Any]:
    dataset = get_dataset(session, project_id, dataset_id, for_update=True)
    fields = body.model_dump(mode="json", exclude_unset=True) if body else {}
    return {"version_id": service.create_version(session, dataset, fields).id}


@router.get("/{version_id}", response_model=DatasetVersion, response_model_exclude_unset=True)
def get_version(
    project_id: str, dataset_id: str, version_id: str, principal: PrincipalDep, session: SessionDep
) -> dict[str, Any]:
    dataset = get_dataset(session, project_id, dataset_id)
    version = service.get_version(session, dataset, version_id)
    return service.version_view(version, dataset, service.previous_of(session, version))


@router.delete("/{version_id}", status_code=204, response_class=Response)
def delete_version(
    project_id: str, dataset_id: str, version_id: str, principal: PrincipalDep, session: SessionDep
) -> Response:
    dataset = get_dataset(session, project_id, dataset_id, for_update=True)
    service.delete_version(session, dataset, version_id)
    return Response(status_code=204)
