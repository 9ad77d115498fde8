"""What this installation offers training jobs: flavors (reference 5.15) and engines (5.16), with the
official SDK's names (``FlavorResponseWithSupport``, ``ListEnginesItems`` ...)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Query

from modelworks.api.schemas.common import ResponseModel
from modelworks.api.schemas.training.jobs import BillingInfo, Cpu, Memory

FlavorType = Annotated[
    Literal["CPU", "GPU", "Ascend"] | None,
    Query(description="CPU, GPU or Ascend; this machine offers CPU flavors only"),
]


class DiskResponse(ResponseModel):
    size: int | None = None
    unit: str | None = None


class FlavorInfoResponse(ResponseModel):
    max_num: int | None = None
    cpu: Cpu | None = None
    gpu: dict[str, Any] | None = None
    npu: dict[str, Any] | None = None
    memory: Memory | None = None
    disk: DiskResponse | None = None


class FlavorResponseWithSupport(ResponseModel):
    """A flavor cut from this machine. ``support_engines`` is a JSON list of engine ids in one string,
    as the SDK declares it."""

    pool_id: str | None = None
    flavor_id: str | None = None
    flavor_name: str | None = None
    support_engines: str | None = None
    support_groups: str | None = None
    max_num: int | None = None
    flavor_type: str | None = None
    billing: BillingInfo | None = None
    flavor_info: FlavorInfoResponse | None = None
    attributes: dict[str, str] | None = None


class ShowTrainingJobFlavorsResponse(ResponseModel):
    total_count: int | None = None
    flavors: list[FlavorResponseWithSupport] | None = None


class ListEnginesImageInfo(ResponseModel):
    """``cpu_image_url`` is ``local:<interpreter>``: engines here are local Python environments."""

    cpu_image_url: str | None = None
    gpu_image_url: str | None = None
    image_version: str | None = None


class ListEnginesItems(ResponseModel):
    engine_id: str | None = None
    engine_name: str | None = None
    engine_version: str | None = None
    v1_compatible: bool | None = None
    run_user: str | None = None
    image_info: ListEnginesImageInfo | None = None


class ShowTrainingJobEnginesResponse(ResponseModel):
    total: int | None = None
    items: list[ListEnginesItems] | None = None
