"""Buckets of a project and their shares: a Modelworks extension, not an operation of the ModelArts
reference (ModelArts leaves buckets to OBS). The rules are in ``storage/ownership.py``.

Bucket names are checked by the service (3 to 63 lowercase letters, digits, hyphens and dots, as OBS
names them; never the system bucket), which says which rule a name breaks.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from modelworks.api.schemas.common import RequestModel, ResponseModel

ShareAccess = Literal["read", "read-write"]


class CreateBucketReq(RequestModel):
    bucket_name: str | None = Field(None, description="OBS-style name: 3-63 of a-z, 0-9, '-', '.'")


class ShareBucketReq(RequestModel):
    access: ShareAccess | None = Field(None, description="read, or read-write")


class BucketResp(ResponseModel):
    bucket_name: str
    owner_project_id: str
    access: Literal["owner", "read", "read-write"] = Field(description="The caller project's access")
    create_time: int | None = Field(None, description="Epoch milliseconds")


class ListBucketsResp(ResponseModel):
    total: int
    buckets: list[BucketResp]


class BucketShareResp(ResponseModel):
    project_id: str
    access: ShareAccess
    create_time: int | None = None


class ListBucketSharesResp(ResponseModel):
    total: int
    shares: list[BucketShareResp]


class ShareBucketResp(ResponseModel):
    bucket_name: str
    project_id: str
    access: ShareAccess
