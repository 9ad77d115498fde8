"""Export tasks (reference 16.1.57–16.1.59)."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Query, Request, Response
from fastapi.exceptions import RequestValidationError

from modelworks.api.deps import PrincipalDep, SessionDep, StoreDep
from modelworks.api.routing import ModelArtsRoute, api_router
from modelworks.api.schemas.common import ErrorResp, Limit100, Offset
from modelworks.api.schemas.exports import (
    CreateExportTaskReq,
    ExportTaskStatusResp,
    ListExportTasksResp,
)
from modelworks.data.datasets import get_dataset
from modelworks.errors import InvalidTaskParameter
from modelworks.transfer import exports as service


class ExportParameterRoute(ModelArtsRoute):
    """A body that fails its model answers the reference's "invalid export parameter"
    (ModelArts.4384), as the export service's own checks do, instead of the generic ModelArts.0101;
    malformed JSON and query parameters keep the app-wide answers."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                first = exc.errors()[0] if exc.errors() else {}
                loc = tuple(first.get("loc", ()))
                if first.get("type") == "json_invalid" or not loc or loc[0] != "body":
                    raise
                field = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc[1:]).lstrip(".")
                raise InvalidTaskParameter(str(first.get("msg", "invalid")), field=field or "body") from exc

        return route_handler


router = api_router(prefix="/v2/{project_id}/datasets/{dataset_id}/export-tasks", tags=["export-tasks"])
router.route_class = ExportParameterRoute
_ERRORS: dict[int | str, dict[str, Any]] = {400: {"model": ErrorResp}, 404: {"model": ErrorResp}}


@router.get("", response_model=ListExportTasksResp, response_model_exclude_unset=True, responses=_ERRORS)
def list_export_tasks(
    project_id: str,
    dataset_id: str,
    principal: PrincipalDep,
    session: SessionDep,
    export_type: Annotated[
        int | None, Query(ge=0, le=3, description="0 labeled, 1 unlabeled, 2 all, 3 by condition")
    ] = None,
    offset: Offset = 0,
    limit: Limit100 = 10,
) -> dict[str, Any]:
    total, rows = service.list_export_tasks(
        session, project_id, dataset_id, export_type=export_type, offset=offset, limit=limit
    )
    return {"total_count": total, "export_tasks": [service.export_task_view(t) for t in rows]}


@router.post("", response_model=ExportTaskStatusResp, response_model_exclude_unset=True, responses=_ERRORS)
def create_export_task(
    project_id: str,
    dataset_id: str,
    principal: PrincipalDep,
    session: SessionDep,
    store: StoreDep,
    body: CreateExportTaskReq,
) -> dict[str, Any]:
    """The reference answers the task id; the whole task (as 16.1.59 shows it) is answered here."""
    dataset = get_dataset(session, project_id, dataset_id, for_update=True)
    task = service.create_export_task(session, store, dataset, body.model_dump(exclude_unset=True))
    return service.export_task_view(task)


@router.get(
    "/{task_id}", response_model=ExportTaskStatusResp, response_model_exclude_unset=True, responses=_ERRORS
)
def get_export_task(
    project_id: str, dataset_id: str, task_id: str, principal: PrincipalDep, session: SessionDep
) -> dict[str, Any]:
    return service.export_task_view(service.get_export_task(session, project_id, dataset_id, task_id))
