"""Samples (reference 16.1.12–16.1.16, 16.1.25) and a signed content URL for their bytes."""

from __future__ import annotations

import hmac
import math
import mimetypes
from typing import Annotated, Any, Literal

from fastapi import Query, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from modelworks.api.deps import PrincipalDep, SessionDep, SettingsDep, StoreDep, authenticate
from modelworks.api.routing import api_router
from modelworks.api.schemas.common import ErrorResp, Limit100, Offset
from modelworks.api.schemas.labels import BatchResp, LabelType
from modelworks.api.schemas.samples import (
    DeleteSamplesReq,
    DescribeSampleResp,
    ListSamplesResp,
    SampleState,
    SearchConditionResp,
    UpdateSamplesReq,
    UpdateSamplesResp,
    UploadSamplesReq,
    UploadSamplesResp,
)
from modelworks.data import samples as service
from modelworks.data import search
from modelworks.data.datasets import get_dataset
from modelworks.data.labels import label_view, list_labels
from modelworks.data.tables import Dataset, Sample, SampleLabel
from modelworks.data.uploads import add_samples, delete_samples
from modelworks.db import now_ms
from modelworks.errors import InvalidArgument, SignatureMismatch
from modelworks.iam.service import server_secret
from modelworks.storage import parse_obs_path

router = api_router(
    prefix="/v2/{project_id}/datasets/{dataset_id}/data-annotations",
    tags=["samples"],
    responses={400: {"model": ErrorResp}, 404: {"model": ErrorResp}},
)


def _fields(body: Any) -> dict[str, Any]:
    """What the client sent, in the reference's names (``@modelarts:`` keys included)."""
    fields: dict[str, Any] = body.model_dump(mode="json", exclude_unset=True, by_alias=True)
    return fields


def sample_views(
    session: SessionDep, settings: SettingsDep, dataset: Dataset, rows: list[Sample]
) -> list[dict[str, Any]]:
    labels = service.labels_of(session, [s.id for s in rows])
    secret = server_secret(session)
    return [
        service.sample_view(
            s, labels.get(s.id, []), service.content_url(settings.public_endpoint, secret, dataset, s.id)
        )
        for s in rows
    ]


def score_query(value: str | None, field: str) -> float | None:
    if value in (None, ""):
        return None
    try:
        score = float(value)
    except ValueError as exc:
        raise InvalidArgument("must be a number", field=field) from exc
    if not math.isfinite(score):
        raise InvalidArgument("must be a finite number", field=field)
    return score


@router.get("/samples", response_model=ListSamplesResp, response_model_exclude_unset=True)
def list_samples(
    project_id: str,
    dataset_id: str,
    principal: PrincipalDep,
    session: SessionDep,
    settings: SettingsDep,
    offset: Offset = 0,
    limit: Limit100 = 10,
    order: Literal["asc", "desc"] = "desc",
    sample_state: SampleState | None = None,
    label_name: Annotated[str | None, Query(max_length=256)] = None,
    label_type: LabelType | None = None,
    low_score: Annotated[str | None, Query(max_length=32)] = None,
    high_score: Annotated[str | None, Query(max_length=32)] = None,
    sample_type: Annotated[int | None, Query(ge=0, le=9)] = None,
    search_conditions: Annotated[
        str | None, Query(max_length=65536, description="URL-encoded JSON list of SearchCondition objects")
    ] = None,
    version_id: str | None = None,
    preview: bool = False,
    email: str | None = None,
    locale: str | None = None,
    process_parameter: str | None = None,
) -> dict[str, Any]:
    dataset = get_dataset(session, project_id, dataset_id)
    total, rows = service.list_samples(
        session,
        dataset,
        offset=offset,
        limit=limit,
        order=order,
        sample_state=sample_state,
        label_name=label_name,
        label_type=None if label_type is None else int(label_type),
        low_score=score_query(low_score, "low_score"),
        high_score=score_query(high_score, "high_score"),
        sample_type=sample_type,
        search_conditions=search_conditions,
    )
    return {"sample_count": total, "samples": sample_views(session, settings, dataset, rows)}


@router.post("/samples", response_model=UploadSamplesResp, response_model_exclude_unset=True)
def create_samples(
    project_id: str,
    dataset_id: str,
    principal: PrincipalDep,
    session: SessionDep,
    store: StoreDep,
    body: UploadSamplesReq,
) -> dict[str, Any]:
    dataset = get_dataset(session, project_id, dataset_id, for_update=True)
    return add_samples(session, store, dataset, _fields(body), principal.user_name)


@router.put("/samples", response_model=UpdateSamplesResp, response_model_exclude_unset=True)
def update_samples(
    project_id: str, dataset_id: str, principal: PrincipalDep, session: SessionDep, body: UpdateSamplesReq
) -> dict[str, Any]:
    # A label update needs the dataset to stay as it is while it runs (not deleted, same label set),
    # not to exclude other label updates: those are kept apart by the sample rows' own FOR UPDATE and
    # sample_version. On PostgreSQL FOR KEY SHARE conflicts with the FOR UPDATE that every
    # dataset-level write takes (label set changes, imports, sample deletion, publishing, deletion),
    # but neither with another label update's KEY SHARE nor with the short NO KEY UPDATE that writes
    # data_update_time at commit, so concurrent label updates no longer queue for each other's whole
    # transaction. Locked first, then read: the dataset is read as it is once the lock is held.
    # SQLite has no row locks: its writers queue on the database write lock, as before.
    # (SQLAlchemy spells FOR KEY SHARE read=True, key_share=True; key_share alone is FOR NO KEY
    # UPDATE, which made every label update of a dataset wait for the one before to commit.)
    session.execute(
        select(Dataset.id)
        .where(Dataset.id == dataset_id, Dataset.project_id == project_id)
        .with_for_update(read=True, key_share=True)
    )
    dataset = get_dataset(session, project_id, dataset_id)
    return {
        "success": True,
        "results": service.update_sample_labels(session, dataset, _fields(body), principal.user_name),
    }


@router.post("/samples/delete", response_model=BatchResp, response_model_exclude_unset=True)
def remove_samples(
    project_id: str,
    dataset_id: str,
    principal: PrincipalDep,
    session: SessionDep,
    store: StoreDep,
    body: DeleteSamplesReq,
) -> dict[str, Any]:
    dataset = get_dataset(session, project_id, dataset_id, for_update=True)
    return delete_samples(session, store, dataset, _fields(body))


@router.get("/samples/{sample_id}", response_model=DescribeSampleResp, response_model_exclude_unset=True)
def get_sample(
    project_id: str,
    dataset_id: str,
    sample_id: str,
    principal: PrincipalDep,
    session: SessionDep,
    settings: SettingsDep,
    response: Response,
) -> dict[str, Any]:
    dataset = get_dataset(session, project_id, dataset_id)
    sample = service.get_sample(session, dataset, sample_id)
    response.headers["ETag"] = f'"{sample.version}"'
    return sample_views(session, settings, dataset, [sample])[0]


@router.get("/samples/{sample_id}/content", response_class=Response)
async def get_sample_content(
    project_id: str,
    dataset_id: str,
    sample_id: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    Expires: int | None = None,  # noqa: N803  (the query names of a signed URL)
    Signature: str | None = None,  # noqa: N803
) -> Response:
    """The sample's bytes: with a valid signed URL from ``source``, or with normal credentials."""
    signed = Expires is not None and bool(Signature)
    if not signed:
        await authenticate(request, session, settings, project_id)
    # The database and the store block: off the event loop.
    return await run_in_threadpool(
        _sample_content,
        request,
        session,
        project_id,
        dataset_id,
        sample_id,
        Expires if signed else None,
        Signature,
    )


def _sample_content(
    request: Request,
    session: Session,
    project_id: str,
    dataset_id: str,
    sample_id: str,
    expires: int | None,
    signature: str | None,
) -> Response:
    if expires is not None:
        expected = service.content_signature(server_secret(session), project_id, sample_id, expires)
        if expires < now_ms() or not hmac.compare_digest(expected, signature or ""):
            raise SignatureMismatch("The content URL has expired or its signature is wrong.")
    dataset = get_dataset(session, project_id, dataset_id)
    sample = service.get_sample(session, dataset, sample_id)
    if sample.text is not None:
        return Response(sample.text.encode(), media_type="text/plain; charset=utf-8")
    # The project's view of storage: a sample whose file sits in a bucket the project no longer
    # reaches (unshared since) is not served.
    data = request.app.state.buckets.scoped(project_id).read(parse_obs_path(sample.source))
    media = mimetypes.guess_type(sample.name)[0] or "application/octet-stream"
    return Response(data, media_type=media)


@router.get("/search-condition", response_model=SearchConditionResp, response_model_exclude_unset=True)
def search_condition(
    project_id: str, dataset_id: str, principal: PrincipalDep, session: SessionDep
) -> dict[str, Any]:
    dataset = get_dataset(session, project_id, dataset_id)
    labelers = session.scalars(
        select(SampleLabel.labeler)
        .where(SampleLabel.dataset_id == dataset.id, SampleLabel.labeler.is_not(None))
        .distinct()
    )
    dirs = session.scalars(
        select(Sample.sample_dir).where(Sample.dataset_id == dataset.id).distinct().limit(1000)
    )
    return {
        "labels": [label_view(x) for x in list_labels(session, dataset)],
        "labelers": sorted(x for x in labelers if x),
        "metadata": {"sample_dir": sorted(dirs)},
    }


__all__ = ["router", "search"]
