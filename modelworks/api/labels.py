"""Dataset labels (reference 16.1.19–16.1.24)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query, Response

from modelworks.api.deps import JsonBody, PrincipalDep, SessionDep, StoreDep
from modelworks.api.routing import api_router
from modelworks.data import labels as service
from modelworks.data.datasets import get_dataset
from modelworks.storage.scoped import delete_sources

router = api_router(prefix="/v2/{project_id}/datasets/{dataset_id}/data-annotations/labels", tags=["labels"])


def _batch_response(results: list[dict[str, Any]]) -> dict[str, Any]:
    ok = all(r["success"] for r in results)
    out: dict[str, Any] = {"success": ok, "results": results}
    if not ok:
        first = next(r for r in results if not r["success"])
        out["error_code"], out["error_msg"] = first["error_code"], first["error_msg"]
    return out


@router.get("")
def list_labels(
    project_id: str,
    dataset_id: str,
    principal: PrincipalDep,
    session: SessionDep,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=100000)] = 100000,
    version_id: str | None = None,
) -> dict[str, Any]:
    dataset = get_dataset(session, project_id, dataset_id)
    labels = service.list_labels(session, dataset)
    return {
        "total_number": len(labels),
        "labels": [service.label_view(x) for x in labels[offset : offset + limit]],
    }


@router.post("")
def create_labels(
    project_id: str, dataset_id: str, principal: PrincipalDep, session: SessionDep, body: JsonBody
) -> dict[str, Any]:
    dataset = get_dataset(session, project_id, dataset_id, for_update=True)
    return _batch_response(service.add_labels(session, dataset, body.get("labels") or [], field="labels"))


@router.put("")
def update_labels(
    project_id: str, dataset_id: str, principal: PrincipalDep, session: SessionDep, body: JsonBody
) -> dict[str, Any]:
    dataset = get_dataset(session, project_id, dataset_id, for_update=True)
    return _batch_response(service.update_labels(session, dataset, body.get("labels") or [], field="labels"))


@router.post("/delete")
def delete_labels(
    project_id: str,
    dataset_id: str,
    principal: PrincipalDep,
    session: SessionDep,
    store: StoreDep,
    body: JsonBody,
    delete_policy: int = 0,
) -> dict[str, Any]:
    dataset = get_dataset(session, project_id, dataset_id, for_update=True)
    results, removed = service.delete_labels(
        session, dataset, body.get("labels") or [], policy=delete_policy, field="labels"
    )
    if delete_policy == 2:
        delete_sources(store, (s.source for s in removed), field="delete_policy")
    return _batch_response(results)


@router.put("/{label_name}", status_code=204)
def update_label_by_name(
    project_id: str,
    dataset_id: str,
    label_name: str,
    principal: PrincipalDep,
    session: SessionDep,
    body: JsonBody,
    label_type: int | None = None,
) -> Response:
    dataset = get_dataset(session, project_id, dataset_id, for_update=True)
    service.update_label(session, dataset, label_name, label_type, body)
    return Response(status_code=204)


@router.delete("/{label_name}", status_code=204)
def delete_label_by_name(
    project_id: str,
    dataset_id: str,
    label_name: str,
    principal: PrincipalDep,
    session: SessionDep,
    store: StoreDep,
    label_type: int | None = None,
    delete_source: bool = False,
) -> Response:
    """Deletes the label and the samples that carry only this label (and their files if asked)."""
    dataset = get_dataset(session, project_id, dataset_id, for_update=True)
    removed = service.delete_label(session, dataset, label_name, label_type, delete_samples=True)
    if delete_source:
        delete_sources(store, (s.source for s in removed), field="delete_source")
    return Response(status_code=204)
