"""Buckets of a project and their shares (a Modelworks extension; ModelArts leaves buckets to OBS).

    GET    /v2/{project_id}/buckets                                    owned and shared buckets
    POST   /v2/{project_id}/buckets                {"bucket_name"}     create (or claim) a bucket
    DELETE /v2/{project_id}/buckets/{bucket}                           give it up (objects stay)
    GET    /v2/{project_id}/buckets/{bucket}/shares
    PUT    /v2/{project_id}/buckets/{bucket}/shares/{target_project_id}  {"access": "read"|"read-write"}
    DELETE /v2/{project_id}/buckets/{bucket}/shares/{target_project_id}

See ``storage/ownership.py`` for the rules.
"""

from __future__ import annotations

from typing import Any

from fastapi import Response

from modelworks.api.deps import JsonBody, PrincipalDep, ServerStoreDep, SessionDep
from modelworks.api.routing import api_router
from modelworks.storage import ownership

router = api_router(prefix="/v2/{project_id}/buckets", tags=["buckets"])


@router.get("")
def list_buckets(project_id: str, principal: PrincipalDep, session: SessionDep) -> dict[str, Any]:
    buckets = ownership.list_buckets(session, project_id)
    return {"total": len(buckets), "buckets": buckets}


@router.post("", status_code=201)
def create_bucket(
    project_id: str,
    principal: PrincipalDep,
    session: SessionDep,
    store: ServerStoreDep,
    body: JsonBody,
    response: Response,
) -> dict[str, Any]:
    bucket, created = ownership.create_bucket(session, store, project_id, body.get("bucket_name"))
    if not created:
        response.status_code = 200
    return ownership.bucket_view(bucket, ownership.OWNER)


@router.delete("/{bucket_name}", status_code=204)
def release_bucket(
    project_id: str, bucket_name: str, principal: PrincipalDep, session: SessionDep
) -> Response:
    ownership.release_bucket(session, project_id, bucket_name)
    return Response(status_code=204)


@router.get("/{bucket_name}/shares")
def list_shares(
    project_id: str, bucket_name: str, principal: PrincipalDep, session: SessionDep
) -> dict[str, Any]:
    shares = ownership.list_shares(session, project_id, bucket_name)
    return {"total": len(shares), "shares": shares}


@router.put("/{bucket_name}/shares/{target_project_id}")
def share_bucket(
    project_id: str,
    bucket_name: str,
    target_project_id: str,
    principal: PrincipalDep,
    session: SessionDep,
    body: JsonBody,
) -> dict[str, Any]:
    row = ownership.share_bucket(session, project_id, bucket_name, target_project_id, body.get("access"))
    return {"bucket_name": row.bucket, "project_id": row.project_id, "access": row.access}


@router.delete("/{bucket_name}/shares/{target_project_id}", status_code=204)
def unshare_bucket(
    project_id: str, bucket_name: str, target_project_id: str, principal: PrincipalDep, session: SessionDep
) -> Response:
    ownership.unshare_bucket(session, project_id, bucket_name, target_project_id)
    return Response(status_code=204)
