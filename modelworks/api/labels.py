"""Dataset labels (reference 16.1.19–16.1.24)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query, Response

from modelworks.api.deps import PrincipalDep, SessionDep, StoreDep
from modelworks.api.routing import api_router
from modelworks.api.schemas.common import ErrorResp, Offset
from modelworks.api.schemas.labels import (
    BatchResp,
    DeleteLabelsReq,
    LabelsReq,
    LabelType,
    ListLabelsResp,
    UpdateLabelReq,
)
from modelworks.data import labels as service
from modelworks.data.datasets import get_dataset
from modelworks.storage.scoped import delete_sources

router = api_router(
    prefix="/v2/{project_id}/datasets/{dataset_id}/data-annotations/labels",
    tags=["labels"],
    responses={400: {"model": ErrorResp}, 404: {"model": ErrorResp}},
)


_DELETE_POLICY = "0: keep the samples; 1: delete the samples that carry only these labels; 2: and their files"


def _batch_response(results: list[dict[str, Any]]) -> dict[str, Any]:
    ok = all(r["success"] for r in results)
    out: dict[str, Any] = {"success": ok, "results": results}
    if not ok:
        first = next(r for r in results if not r["success"])
        out["error_code"], out["error_msg"] = first["error_code"], first["error_msg"]
    return out


def _items(body: LabelsReq | DeleteLabelsReq) -> list[dict[str, Any]]:
    return [item.model_dump(mode="json", exclude_unset=True, by_alias=True) for item in body.labels]


@router.get("", response_model=ListLabelsResp, response_model_exclude_unset=True)
def list_labels(
    project_id: str,
    dataset_id: str,
    principal: PrincipalDep,
    session: SessionDep,
    offset: Offset = 0,
    limit: Annotated[int, Query(ge=1, le=100000, description="Page size, 1-100000")] = 100000,
    version_id: str | None = None,
) -> dict[str, Any]:
    dataset = get_dataset(session, project_id, dataset_id)
    labels = service.list_labels(session, dataset)
    return {
        "total_number": len(labels),
        "labels": [service.label_view(x) for x in labels[offset : offset + limit]],
    }


@router.post("", response_model=BatchResp, response_model_exclude_unset=True)
def create_labels(
    project_id: str, dataset_id: str, principal: PrincipalDep, session: SessionDep, body: LabelsReq
) -> dict[str, Any]:
    dataset = get_dataset(session, project_id, dataset_id, for_update=True)
    return _batch_response(service.add_labels(session, dataset, _items(body), field="labels"))


@router.put("", response_model=BatchResp, response_model_exclude_unset=True)
def update_labels(
    project_id: str, dataset_id: str, principal: PrincipalDep, session: SessionDep, body: LabelsReq
) -> dict[str, Any]:
    dataset = get_dataset(session, project_id, dataset_id, for_update=True)
    return _batch_response(service.update_labels(session, dataset, _items(body), field="labels"))


@router.post("/delete", response_model=BatchResp, response_model_exclude_unset=True)
def delete_labels(
    project_id: str,
    dataset_id: str,
    principal: PrincipalDep,
    session: SessionDep,
    store: StoreDep,
    body: DeleteLabelsReq,
    delete_policy: Annotated[int, Query(ge=0, le=2, description=_DELETE_POLICY)] = 0,
) -> dict[str, Any]:
    dataset = get_dataset(session, project_id, dataset_id, for_update=True)
    results, removed = service.delete_labels(
        session, dataset, _items(body), policy=delete_policy, field="labels"
    )
    if delete_policy == 2:
        delete_sources(store, (s.source for s in removed), field="delete_policy")
    return _batch_response(results)


@router.put("/{label_name}", status_code=204, response_class=Response)
def update_label_by_name(
    project_id: str,
    dataset_id: str,
    label_name: str,
    principal: PrincipalDep,
    session: SessionDep,
    body: UpdateLabelReq | None = None,
    label_type: LabelType | None = None,
) -> Response:
    dataset = get_dataset(session, project_id, dataset_id, for_update=True)
    prop = body.model_dump(mode="json", exclude_unset=True, by_alias=True) if body else {}
    service.update_label(session, dataset, label_name, None if label_type is None else int(label_type), prop)
    return Response(status_code=204)


@router.delete("/{label_name}", status_code=204, response_class=Response)
def delete_label_by_name(
    project_id: str,
    dataset_id: str,
    label_name: str,
    principal: PrincipalDep,
    session: SessionDep,
    store: StoreDep,
    label_type: LabelType | None = None,
    delete_source: bool = False,
) -> Response:
    """Deletes the label and the samples that carry only this label (and their files if asked)."""
    dataset = get_dataset(session, project_id, dataset_id, for_update=True)
    removed = service.delete_label(
        session, dataset, label_name, None if label_type is None else int(label_type), delete_samples=True
    )
    if delete_source:
        delete_sources(store, (s.source for s in removed), field="delete_source")
    return Response(status_code=204)
