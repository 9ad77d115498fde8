"""Datasets (reference 16.1.1–16.1.6)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Query, Response

from modelworks.api.deps import PrincipalDep, SessionDep, StoreDep
from modelworks.api.routing import api_router
from modelworks.api.schemas.common import ErrorResp, Limit100, Offset
from modelworks.api.schemas.datasets import (
    CreateDatasetReq,
    CreateDatasetResp,
    DatasetAndFilePreview,
    DatasetStatsResp,
    DatasetType,
    ListDatasetsResp,
    UpdateDatasetReq,
    UpdateDatasetResp,
)
from modelworks.api.schemas.samples import SampleState
from modelworks.data import datasets as service
from modelworks.data.stats import dataset_stats
from modelworks.data.tables import Sample

router = api_router(
    prefix="/v2/{project_id}/datasets",
    tags=["datasets"],
    responses={400: {"model": ErrorResp}, 404: {"model": ErrorResp}},
)


@router.get("", response_model=ListDatasetsResp, response_model_exclude_unset=True)
def list_datasets(
    project_id: str,
    principal: PrincipalDep,
    session: SessionDep,
    offset: Offset = 0,
    limit: Limit100 = 10,
    dataset_type: Annotated[DatasetType | None, Query()] = None,
    search_content: Annotated[str | None, Query(max_length=256)] = None,
    sort_by: Literal["create_time", "dataset_name"] = "create_time",
    order: Literal["asc", "desc"] = "desc",
    with_labels: bool = False,
    file_preview: bool = False,
    check_running_task: bool = False,
) -> dict[str, Any]:
    total, rows = service.list_datasets(
        session,
        project_id,
        offset=offset,
        limit=limit,
        dataset_type=None if dataset_type is None else int(dataset_type),
        search_content=search_content,
        sort_by=sort_by,
        order=order,
    )
    views = []
    for dataset in rows:
        view = service.dataset_view(session, dataset, with_labels=with_labels)
        if file_preview:
            view["samples"] = _preview(session, dataset)
        views.append(view)
    return {"total_number": total, "datasets": views}


def _preview(session: SessionDep, dataset: Any) -> list[dict[str, Any]]:
    from sqlalchemy import select

    rows = session.scalars(
        select(Sample).where(Sample.dataset_id == dataset.id).order_by(Sample.create_time.desc()).limit(4)
    )
    return [
        {"file_id": s.id, "file_Name": s.name, "url": s.source, "size": s.size, "create_time": s.create_time}
        for s in rows
    ]


@router.post("", status_code=201, response_model=CreateDatasetResp, response_model_exclude_unset=True)
def create_dataset(
    project_id: str, principal: PrincipalDep, session: SessionDep, store: StoreDep, body: CreateDatasetReq
) -> dict[str, Any]:
    dataset, task = service.create_dataset(
        session, store, project_id, body.model_dump(mode="json", exclude_unset=True, by_alias=True)
    )
    return {"dataset_id": dataset.id, "import_task_id": task.id if task else None}


@router.get("/{dataset_id}", response_model=DatasetAndFilePreview, response_model_exclude_unset=True)
def get_dataset(
    project_id: str, dataset_id: str, principal: PrincipalDep, session: SessionDep
) -> dict[str, Any]:
    return service.dataset_view(session, service.get_dataset(session, project_id, dataset_id))


@router.put("/{dataset_id}", response_model=UpdateDatasetResp)
def modify_dataset(
    project_id: str, dataset_id: str, principal: PrincipalDep, session: SessionDep, body: UpdateDatasetReq
) -> dict[str, Any]:
    dataset = service.modify_dataset(
        session, project_id, dataset_id, body.model_dump(mode="json", exclude_unset=True, by_alias=True)
    )
    return {"dataset_id": dataset.id}


@router.delete("/{dataset_id}", status_code=204, response_class=Response)
def delete_dataset(
    project_id: str, dataset_id: str, principal: PrincipalDep, session: SessionDep
) -> Response:
    service.delete_dataset(session, project_id, dataset_id)
    return Response(status_code=204)


@router.get(
    "/{dataset_id}/data-annotations/stats",
    response_model=DatasetStatsResp,
    response_model_exclude_unset=True,
)
def get_stats(
    project_id: str,
    dataset_id: str,
    principal: PrincipalDep,
    session: SessionDep,
    sample_state: SampleState | None = None,
    email: str | None = None,
    locale: str | None = None,
) -> dict[str, Any]:
    dataset = service.get_dataset(session, project_id, dataset_id)
    return dataset_stats(session, dataset, sample_state)
