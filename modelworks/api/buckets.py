"""Buckets of a project and their shares (a Modelworks extension; ModelArts leaves buckets to OBS).

    GET    /v2/{project_id}/buckets                                    owned and shared buckets
    POST   /v2/{project_id}/buckets                {"bucket_name"}     create (or claim) a bucket
    DELETE /v2/{project_id}/buckets/{bucket}                           give it up (objects stay)
    GET    /v2/{project_id}/buckets/{bucket}/shares
    PUT    /v2/{project_id}/buckets/{bucket}/shares/{target_project_id}  {"access": "read"|"read-write"}
    DELETE /v2/{project_id}/buckets/{bucket}/shares/{target_project_id}

See ``storage/ownership.py`` for the rules; the types are in ``api/schemas/buckets.py``.
"""

from __future__ import annotations

from typing import Any

from fastapi import Response

from modelworks.api.deps import PrincipalDep, ServerStoreDep, SessionDep
from modelworks.api.routing import api_router
from modelworks.api.schemas.buckets import (
    BucketResp,
    CreateBucketReq,
    ListBucketSharesResp,
    ListBucketsResp,
    ShareBucketReq,
    ShareBucketResp,
)
from modelworks.api.schemas.common import ErrorResp
from modelworks.storage import ownership

ERRORS: dict[int | str, dict[str, Any]] = {code: {"model": ErrorResp} for code in (400, 401, 403, 404, 409)}
router = api_router(prefix="/v2/{project_id}/buckets", tags=["buckets"], responses=ERRORS)


@router.get("", response_model=ListBucketsResp)
def list_buckets(project_id: str, principal: PrincipalDep, session: SessionDep) -> dict[str, Any]:
    """Modelworks extension: the buckets the project owns, and those shared with it."""
    buckets = ownership.list_buckets(session, project_id)
    return {"total": len(buckets), "buckets": buckets}


@router.post("", status_code=201, response_model=BucketResp, responses={200: {"model": BucketResp}})
def create_bucket(
    project_id: str,
    principal: PrincipalDep,
    session: SessionDep,
    store: ServerStoreDep,
    body: CreateBucketReq,
    response: Response,
) -> dict[str, Any]:
    """Modelworks extension: create (or claim) a bucket; 201 when it is new, 200 when the project
    already owns it."""
    bucket, created = ownership.create_bucket(session, store, project_id, body.bucket_name)
    if not created:
        response.status_code = 200
    return ownership.bucket_view(bucket, ownership.OWNER)


@router.delete("/{bucket_name}", status_code=204, response_class=Response)
def release_bucket(
    project_id: str, bucket_name: str, principal: PrincipalDep, session: SessionDep
) -> Response:
    """Modelworks extension: the bucket is no longer the project's; its objects stay."""
    ownership.release_bucket(session, project_id, bucket_name)
    return Response(status_code=204)


@router.get("/{bucket_name}/shares", response_model=ListBucketSharesResp)
def list_shares(
    project_id: str, bucket_name: str, principal: PrincipalDep, session: SessionDep
) -> dict[str, Any]:
    """Modelworks extension: the projects the bucket is shared with."""
    shares = ownership.list_shares(session, project_id, bucket_name)
    return {"total": len(shares), "shares": shares}


@router.put("/{bucket_name}/shares/{target_project_id}", response_model=ShareBucketResp)
def share_bucket(
    project_id: str,
    bucket_name: str,
    target_project_id: str,
    principal: PrincipalDep,
    session: SessionDep,
    body: ShareBucketReq,
) -> dict[str, Any]:
    """Modelworks extension: share the bucket with another project (read, or read-write)."""
    row = ownership.share_bucket(session, project_id, bucket_name, target_project_id, body.access)
    return {"bucket_name": row.bucket, "project_id": row.project_id, "access": row.access}


@router.delete("/{bucket_name}/shares/{target_project_id}", status_code=204, response_class=Response)
def unshare_bucket(
    project_id: str, bucket_name: str, target_project_id: str, principal: PrincipalDep, session: SessionDep
) -> Response:
    """Modelworks extension: stop sharing the bucket with that project."""
    ownership.unshare_bucket(session, project_id, bucket_name, target_project_id)
    return Response(status_code=204)
