"""Intelligent tasks (reference 16.1.64–16.1.67) and auto-labeling samples (16.1.62–16.1.63)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Query
from fastapi.responses import Response

from modelworks.api.deps import PrincipalDep, SessionDep, SettingsDep, StoreDep
from modelworks.api.routing import api_router
from modelworks.api.samples import sample_views, score_query
from modelworks.api.schemas.common import MAX_INT32, ErrorResp, Limit100, Offset
from modelworks.api.schemas.tasks import (
    AutoAnnotationSample,
    CreateTaskReq,
    CreateTaskResp,
    ListAutoAnnotationSamplesResp,
    ListTasksResp,
    ListTaskType,
    RunningTask,
)
from modelworks.compute.ray_cluster import compute_backend
from modelworks.data import samples as sample_service
from modelworks.data.constants import STATE_AUTO, STATUS_AUTO
from modelworks.data.datasets import get_dataset
from modelworks.errors import SampleNotFound
from modelworks.intelligence import service

router = api_router(
    prefix="/v2/{project_id}/datasets/{dataset_id}",
    tags=["intelligent-tasks"],
    responses={400: {"model": ErrorResp}, 404: {"model": ErrorResp}},
)


@router.post(
    "/tasks",
    response_model=CreateTaskResp,
    response_model_exclude_unset=True,
    responses={409: {"model": ErrorResp}},
)
def start_task(
    project_id: str,
    dataset_id: str,
    principal: PrincipalDep,
    session: SessionDep,
    store: StoreDep,
    settings: SettingsDep,
    body: CreateTaskReq,
) -> dict[str, Any]:
    dataset = get_dataset(session, project_id, dataset_id, for_update=True)
    task = service.create_task(
        session,
        store,
        dataset,
        body.model_dump(exclude_unset=True),
        principal=principal,
        multi_node_training=compute_backend(settings) == "ray",
    )
    return {"task_id": task.id}


@router.get("/tasks", response_model=ListTasksResp, response_model_exclude_unset=True)
def list_tasks(
    project_id: str,
    dataset_id: str,
    principal: PrincipalDep,
    session: SessionDep,
    offset: Offset = 0,
    limit: Limit100 = 10,
    task_name: str | None = None,
    type: Annotated[
        ListTaskType, Query(description="auto-label, pre-label, auto-grouping or auto-deploy")
    ] = None,
) -> dict[str, Any]:
    dataset = get_dataset(session, project_id, dataset_id)
    total, rows, deploying = service.list_tasks(
        session, dataset, task_type=type, task_name=task_name, offset=offset, limit=limit
    )
    return {
        "total_count": total,
        "tasks": service.task_views(session, dataset, rows),
        "exist_running_deploy_task": deploying,
    }


@router.get("/tasks/{task_id}", response_model=RunningTask, response_model_exclude_unset=True)
def get_task(
    project_id: str, dataset_id: str, task_id: str, principal: PrincipalDep, session: SessionDep
) -> dict[str, Any]:
    dataset = get_dataset(session, project_id, dataset_id)
    return service.task_view(session, dataset, service.get_task(session, dataset, task_id))


@router.post("/tasks/{task_id}/stop", status_code=204, response_class=Response)
def stop_task(
    project_id: str, dataset_id: str, task_id: str, principal: PrincipalDep, session: SessionDep
) -> Response:
    dataset = get_dataset(session, project_id, dataset_id)
    service.stop_task(session, dataset, task_id)
    return Response(status_code=204)


def _with_hard_details(view: dict[str, Any]) -> dict[str, Any]:
    reasons = (view.get("metadata") or {}).get("@modelarts:hard_reasons") or []
    if isinstance(reasons, str):
        reasons = [int(r) for r in reasons.split("-") if r.strip().isdigit()]
    if reasons:
        view["hard_details"] = service.hard_details([int(r) for r in reasons])
    return view


@router.get(
    "/auto-annotations/samples",
    response_model=ListAutoAnnotationSamplesResp,
    response_model_exclude_unset=True,
)
def list_auto_annotation_samples(
    project_id: str,
    dataset_id: str,
    principal: PrincipalDep,
    session: SessionDep,
    settings: SettingsDep,
    offset: Offset = 0,
    limit: Limit100 = 10,
    order: Literal["asc", "desc"] = "desc",
    label_name: str | None = None,
    label_type: Annotated[int | None, Query(ge=-MAX_INT32 - 1, le=MAX_INT32)] = None,
    low_score: str | None = None,
    high_score: str | None = None,
    search_conditions: str | None = None,
    process_parameter: str | None = None,
) -> dict[str, Any]:
    """Samples whose labels wait for confirmation (``__AUTO_ANNOTATION__``), with their scores and hard
    reasons. ``process_parameter`` (OBS image processing) is accepted; sources are the original files."""
    dataset = get_dataset(session, project_id, dataset_id)
    total, rows = sample_service.list_samples(
        session,
        dataset,
        offset=offset,
        limit=limit,
        order=order,
        sample_state=STATE_AUTO,
        label_name=label_name,
        label_type=label_type,
        low_score=score_query(low_score, "low_score"),
        high_score=score_query(high_score, "high_score"),
        search_conditions=search_conditions,
    )
    return {
        "sample_count": total,
        "samples": [_with_hard_details(v) for v in sample_views(session, settings, dataset, rows)],
    }


@router.get(
    "/auto-annotations/samples/{sample_id}",
    response_model=AutoAnnotationSample,
    response_model_exclude_unset=True,
)
def get_auto_annotation_sample(
    project_id: str,
    dataset_id: str,
    sample_id: str,
    principal: PrincipalDep,
    session: SessionDep,
    settings: SettingsDep,
) -> dict[str, Any]:
    dataset = get_dataset(session, project_id, dataset_id)
    sample = sample_service.get_sample(session, dataset, sample_id)
    if sample.status != STATUS_AUTO:
        raise SampleNotFound(f"Sample '{sample_id}' has no auto label waiting for confirmation.")
    return _with_hard_details(sample_views(session, settings, dataset, [sample])[0])
