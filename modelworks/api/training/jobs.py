"""Training jobs (reference 5.6–5.14) and a signed URL to a task's whole log."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Query, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from modelworks.api.deps import PrincipalDep, SessionDep, SettingsDep, StoreDep, authenticate
from modelworks.api.routing import api_router
from modelworks.api.schemas.common import MAX_INT64, ErrorResp
from modelworks.api.schemas.training.jobs import (
    CreateTrainingJobReq,
    JobActionType,
    JobResponse,
    JobSearches,
    JobUpdateRequestBody,
    ListTrainingJobsResponse,
    LogUrlResp,
    ShowTrainingJobLogsPreviewResponse,
    ShowTrainingJobMetricsResponse,
)
from modelworks.iam.service import server_secret
from modelworks.settings import Settings
from modelworks.storage import ObjectStore
from modelworks.training import logs, metrics, training_jobs
from modelworks.training.job_views import job_view
from modelworks.training.search import search_jobs

router = api_router(prefix="/v2/{project_id}", tags=["training-jobs"])
JOB = "/training-jobs/{training_job_id}"
_ERRORS: dict[int | str, dict[str, Any]] = {400: {"model": ErrorResp}, 404: {"model": ErrorResp}}
_TYPED: dict[str, Any] = {"response_model_exclude_unset": True, "responses": _ERRORS}
# A job asking for what Modelworks does not run (heterogeneous tasks, custom images) answers 501.
_UNSUPPORTED: dict[int | str, dict[str, Any]] = {
    501: {"model": ErrorResp, "description": "A feature of the request Modelworks does not implement yet"}
}


@router.post(
    "/training-jobs",
    status_code=201,
    response_model=JobResponse,
    response_model_exclude_unset=True,
    responses={**_ERRORS, **_UNSUPPORTED},
)
def create_training_job(
    project_id: str,
    principal: PrincipalDep,
    session: SessionDep,
    store: StoreDep,
    settings: SettingsDep,
    body: CreateTrainingJobReq,
) -> dict[str, Any]:
    fields = body.model_dump(exclude_unset=True)
    return job_view(training_jobs.create_training_job(session, store, settings, principal, fields))


@router.get(JOB, response_model=JobResponse, **_TYPED)
def get_training_job(
    project_id: str, training_job_id: str, principal: PrincipalDep, session: SessionDep
) -> dict[str, Any]:
    return job_view(training_jobs.get_training_job(session, project_id, training_job_id))


@router.put(JOB, response_model=None, responses=_ERRORS)
def update_training_job(
    project_id: str,
    training_job_id: str,
    principal: PrincipalDep,
    session: SessionDep,
    body: JobUpdateRequestBody | None = None,
) -> JSONResponse:
    fields = body.model_dump(exclude_unset=True) if body is not None else {}
    training_jobs.update_description(session, project_id, training_job_id, fields)
    return JSONResponse(None)


@router.delete(JOB, status_code=202, response_model=None, responses=_ERRORS)
def delete_training_job(
    project_id: str,
    training_job_id: str,
    principal: PrincipalDep,
    session: SessionDep,
    store: StoreDep,
    settings: SettingsDep,
) -> Response:
    training_jobs.delete_training_job(session, store, settings, project_id, training_job_id)
    return Response(status_code=202)


@router.post(JOB + "/actions", status_code=202, response_model=JobResponse, **_TYPED)
def act_on_training_job(
    project_id: str,
    training_job_id: str,
    principal: PrincipalDep,
    session: SessionDep,
    body: JobActionType | None = None,
) -> dict[str, Any]:
    fields = body.model_dump(exclude_unset=True) if body is not None else {}
    return job_view(training_jobs.terminate(session, project_id, training_job_id, fields))


@router.get(
    JOB + "/tasks/{task_id}/logs/preview", response_model=ShowTrainingJobLogsPreviewResponse, **_TYPED
)
def preview_log(
    project_id: str,
    training_job_id: str,
    task_id: str,
    principal: PrincipalDep,
    session: SessionDep,
    store: StoreDep,
    settings: SettingsDep,
) -> dict[str, Any]:
    job = training_jobs.get_training_job(session, project_id, training_job_id)
    logs.check_task(job, task_id)
    local = logs.log_file(training_jobs.job_dir(settings.sandbox_root, job.id), task_id)
    return logs.preview(store, job, local, task_id)


@router.get(JOB + "/tasks/{task_id}/logs/url", response_model=LogUrlResp, **_TYPED)
def log_url(
    project_id: str,
    training_job_id: str,
    task_id: str,
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
    settings: SettingsDep,
) -> dict[str, Any]:
    """A 5-minute URL to the whole log; ``Content-Type: application/octet-stream`` asks for a download."""
    job = training_jobs.get_training_job(session, project_id, training_job_id)
    logs.check_task(job, task_id)
    wanted = request.headers.get("content-type") or request.query_params.get("Content-Type") or ""
    download = wanted.startswith("application/octet-stream")
    url = logs.signed_url(settings.public_endpoint, server_secret(session), job, task_id, download=download)
    return {"obs_url": url}


@router.get(
    JOB + "/tasks/{task_id}/logs/content",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "The whole log"}, **_ERRORS},
)
async def log_content(
    project_id: str,
    training_job_id: str,
    task_id: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    Expires: Annotated[int | None, Query(ge=0, le=MAX_INT64)] = None,  # noqa: N803  (a signed URL's names)
    Signature: Annotated[str | None, Query(max_length=128)] = None,  # noqa: N803
    disposition: Literal["attachment", "inline"] | None = None,
) -> Response:
    """The task's whole log: with a signed URL from ``logs/url``, or with normal credentials."""
    if Expires is not None and Signature:
        secret = await run_in_threadpool(server_secret, session)
        logs.check_signature(secret, project_id, training_job_id, task_id, Expires, Signature)
    else:
        await authenticate(request, session, settings, project_id)
    # The project's view of storage (a signed URL carries no credentials, so not StoreDep): a log
    # exported to a bucket the project no longer reaches is not served.
    store = request.app.state.buckets.scoped(project_id)
    # The database and the log files block: off the event loop.
    return await run_in_threadpool(
        _log_content, session, store, settings, project_id, training_job_id, task_id, disposition
    )


def _log_content(
    session: Session,
    store: ObjectStore,
    settings: Settings,
    project_id: str,
    training_job_id: str,
    task_id: str,
    disposition: str | None,
) -> Response:
    job = training_jobs.get_training_job(session, project_id, training_job_id)
    logs.check_task(job, task_id)
    local = logs.log_file(training_jobs.job_dir(settings.sandbox_root, job.id), task_id)
    headers = {}
    if disposition == "attachment":
        headers["Content-Disposition"] = f'attachment; filename="{job.name}-{task_id}.log"'
    content = logs.full_log(store, job, local, task_id)
    return Response(content, media_type="text/plain; charset=utf-8", headers=headers)


@router.get(JOB + "/metrics/{task_id}", response_model=ShowTrainingJobMetricsResponse, **_TYPED)
def task_metrics(
    project_id: str, training_job_id: str, task_id: str, principal: PrincipalDep, session: SessionDep
) -> dict[str, Any]:
    job = training_jobs.get_training_job(session, project_id, training_job_id)
    logs.check_task(job, task_id)
    return metrics.metrics_view(session, job, task_id)


@router.post("/training-job-searches", response_model=ListTrainingJobsResponse, **_TYPED)
def search_training_jobs(
    project_id: str, principal: PrincipalDep, session: SessionDep, body: JobSearches | None = None
) -> dict[str, Any]:
    fields = body.model_dump(exclude_unset=True) if body is not None else {}
    found = search_jobs(session, project_id, fields)
    rows = found.pop("rows")
    return {**found, "items": [job_view(j) for j in rows]}
