"""Services (reference 8.1-8.15): requests, answers and list queries.

The official SDK has no operations of this chapter, so the reference's tables are followed, with
these readings:

* Fields the reference marks mandatory (``service_name``, ``infer_type``, ``config``, a config's
  ``model_id``...) are optional here: ``services.lifecycle`` checks them and answers the reference's
  own ``ModelArts.3610`` ("Parameter ... cannot be empty") instead of the generic ``ModelArts.0101``.
  Names, descriptions, flavors, weights summing to 100 and the other cross-field rules are checked
  there too.
* Integers may be sent as numeric strings (``"weight": "70"``, as the reference's examples do);
  booleans are not integers.
* ``PatchServiceV2RequestBody.value`` is any JSON value (the table says String; its example replaces
  a whole ``ServiceConfig`` object). ``UpdateServiceConfig.changed_value`` is an integer (or numeric
  string): the only property that can change is ``instance_count``.
* Dedicated pools (``cluster_id``, ``pool_name``), VPC fields and edge services are accepted by the
  types and refused with 501 by the service; ``additional_properties`` (SMN, LTS) are stored and
  echoed but do nothing here.
* Answers: ``access_address`` (the reference's example) and ``access_addresses`` (its table) hold the
  same URL; ``tags`` in the details and ``avg_latency_ms`` in the monitor are Modelworks extensions.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Query
from pydantic import BeforeValidator, Field

from modelworks.api.schemas.common import MAX_INT32, RequestModel, ResponseModel


def _no_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("must be an integer, not a boolean")
    return value


def _upper(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else value


Weight = Annotated[int, BeforeValidator(_no_bool), Field(ge=0, le=100)]
InstanceCount = Annotated[int, BeforeValidator(_no_bool), Field(ge=1, le=128)]
Positive = Annotated[int, BeforeValidator(_no_bool), Field(ge=1, le=MAX_INT32)]
NonNegative = Annotated[int, BeforeValidator(_no_bool), Field(ge=0, le=MAX_INT32)]
Number = Annotated[float, BeforeValidator(_no_bool), Field(ge=0, allow_inf_nan=False)]
InferType = Literal["real-time", "batch", "edge"]
ServiceStatus = Literal[
    "deploying", "running", "concerning", "failed", "stopping", "stopped", "deleting", "finished"
]
TagKey = Annotated[str, Field(max_length=128)]
TagValue = Annotated[str, Field(max_length=255)]


# -- requests ------------------------------------------------------------------------------------------


class Schedule(RequestModel):
    type: Literal["stop"] | None = Field(None, description="Only stop")
    time_unit: Annotated[Literal["DAYS", "HOURS", "MINUTES"] | None, BeforeValidator(_upper)] = None
    duration: Positive | None = None


class CustomSpec(RequestModel):
    cpu: Number | None = Field(None, description="vCPUs, at least 0.01")
    memory: Positive | None = Field(None, description="MB")
    gpu_p4: Number | None = Field(None, description="Refused when not 0: no GPUs here")
    ascend_a310: NonNegative | None = Field(None, description="Refused when not 0: no Ascend here")


class ServiceConfig(RequestModel):
    model_id: str | None = None
    weight: Weight | None = Field(None, description="Real-time: the model's share of calls; sum 100")
    specification: str | None = Field(None, description="A flavor of 8.5, or custom")
    custom_spec: CustomSpec | None = None
    instance_count: InstanceCount | None = None
    envs: dict[str, Any] | None = Field(None, description="Environment variables (values as strings)")
    deploy_timeout_in_seconds: Positive | None = None
    additional_properties: dict[str, Any] | None = None
    src_path: str | None = Field(None, description="Batch: OBS path of the input")
    dest_path: str | None = Field(None, description="Batch: OBS path of the output")
    req_uri: str | None = Field(None, description="Batch: the model API to call")
    mapping_type: Literal["file", "csv", ""] | None = None
    mapping_rule: dict[str, Any] | None = None
    src_type: Literal["ManifestFile", ""] | None = None
    cluster_id: str | None = None
    pool_name: str | None = None
    nodes: list[str] | None = None


class CreateServiceReq(RequestModel):
    """8.4's body (see the module docstring)."""

    service_name: str | None = Field(None, description="1 to 64 letters, digits, hyphens or underscores")
    infer_type: InferType | None = None
    config: list[ServiceConfig] | None = None
    description: str | None = Field(None, description="At most 100 characters, none of <>=&\"'")
    workspace_id: str | None = None
    schedule: list[Schedule] | None = None
    cluster_id: str | None = None
    pool_name: str | None = None
    vpc_id: str | None = None
    subnet_network_id: str | None = None
    security_group_id: str | None = None
    additional_properties: dict[str, Any] | None = None


class UpdateServiceReq(RequestModel):
    """8.7's body: ``status`` (start, stop) wins over ``config``."""

    status: Literal["running", "stopped"] | None = None
    config: list[ServiceConfig] | None = None
    description: str | None = None
    schedule: list[Schedule] | None = None
    additional_properties: dict[str, Any] | None = None


class PatchServiceV2RequestBody(RequestModel):
    op: Literal["replace"] = Field(description="Only replace")
    path: str = Field(description="/config/{index} or /config/{index}/{field}")
    value: Any = None


class UpdateServiceConfig(RequestModel):
    model_id: str | None = None
    changed_value: InstanceCount | None = None


class UpdateServicePropertyReq(RequestModel):
    """8.9's body."""

    changed_property: Literal["instance_count"] | None = None
    configs: list[UpdateServiceConfig] | None = None


class TmsTag(RequestModel):
    key: TagKey | None = None
    value: TagValue | None = None


class TmsTagForDelete(RequestModel):
    key: TagKey | None = None
    value: TagValue | None = None


class CreateServiceTagsReq(RequestModel):
    tags: list[TmsTag] | None = None


class DeleteServiceTagsReq(RequestModel):
    tags: list[TmsTagForDelete] | None = None


# -- answers -------------------------------------------------------------------------------------------


class CreateServiceResp(ResponseModel):
    service_id: str
    resource_ids: list[str]


class UpdateServiceResp(ResponseModel):
    """8.1 and 8.9. The table types ``resource_ids`` as a string; it is answered as the list 8.4
    answers (one id per model), the shape its example shows. 8.7 and 8.8 answer ``{}``."""

    update_time: int | None = None
    resource_ids: list[str] | None = None


class ScheduleResp(ResponseModel):
    type: str | None = None
    time_unit: str | None = None
    duration: int | None = None


class CustomSpecResp(ResponseModel):
    cpu: float | None = None
    memory: int | None = None
    gpu_p4: float | None = None
    ascend_a310: int | None = None


class ListServices(ResponseModel):
    service_id: str
    service_name: str
    description: str | None = None
    tenant: str | None = None
    project: str | None = None
    owner: str | None = None
    publish_at: int | None = None
    infer_type: str | None = None
    workspace_id: str | None = None
    status: str | None = None
    progress: int | None = None
    invocation_times: int | None = None
    failed_times: int | None = None
    is_shared: bool | None = None
    shared_count: int | None = None
    schedule: list[ScheduleResp] | None = None
    due_time: int | None = None
    start_time: int | None = None
    finished_time: int | None = None
    operation_time: int | None = None
    transition_at: int | None = None
    is_free: bool | None = None
    is_opened_sample_collection: str | None = None
    additional_properties: dict[str, Any] | None = None


class ListServicesResp(ResponseModel):
    total_count: int
    count: int
    services: list[ListServices]


class QueryServiceConfig(ResponseModel):
    model_id: str
    model_name: str | None = None
    model_version: str | None = None
    weight: int | None = None
    specification: str | None = None
    custom_spec: CustomSpecResp | None = None
    instance_count: int | None = None
    envs: dict[str, str] | None = None
    src_path: str | None = None
    dest_path: str | None = None
    req_uri: str | None = None
    mapping_type: str | None = None
    mapping_rule: dict[str, Any] | None = None
    src_type: str | None = None
    start_time: int | None = None
    finished_time: int | None = None
    status: str | None = None
    scaling: bool | None = None
    support_debug: bool | None = None
    additional_properties: dict[str, Any] | None = None


class TagResp(ResponseModel):
    key: str
    value: str | None = None


class ShowServiceResp(ListServices):
    """8.6 (see the module docstring)."""

    update_time: int | None = None
    error_msg: str | None = None
    config: list[QueryServiceConfig] | None = None
    access_address: str | None = None
    access_addresses: str | None = None
    tags: list[TagResp] | None = None


class Monitor(ResponseModel):
    model_id: str | None = None
    model_name: str | None = None
    model_version: str | None = None
    invocation_times: int | None = None
    failed_times: int | None = None
    cpu_core_usage: float | None = None
    cpu_core_total: float | None = None
    cpu_memory_usage: int | None = None
    cpu_memory_total: int | None = None
    gpu_usage: float | None = None
    gpu_total: float | None = None
    model_running_instance_count: int | None = None
    model_instance_count: int | None = None
    avg_latency_ms: float | None = None


class ShowServiceMonitorResp(ResponseModel):
    service_id: str
    service_name: str
    service_running_instance_count: int | None = None
    service_instance_count: int | None = None
    req_count_per_min: int | None = None
    monitors: list[Monitor]


class Events(ResponseModel):
    event_type: str | None = None
    event_info: str | None = None
    occur_time: int | None = None


class ListServiceEventsResp(ResponseModel):
    service_id: str
    service_name: str
    total_count: int
    count: int
    events: list[Events]


class LogConfig(ResponseModel):
    model_id: str | None = None
    model_name: str | None = None
    model_version: str | None = None
    weight: int | None = None
    specification: str | None = None
    custom_spec: CustomSpecResp | None = None
    envs: dict[str, str] | None = None
    instance_count: int | None = None


class Log(ResponseModel):
    update_time: int | None = None
    result: str | None = None
    config: list[LogConfig] | None = None
    extend_config: list[Any] | None = None


class ListServiceUpdateLogsResp(ResponseModel):
    service_id: str
    service_name: str
    logs: list[Log]


class CpuInfo(ResponseModel):
    arch: str | None = None
    cpu: float | None = None


class MemoryInfo(ResponseModel):
    unit: str | None = None
    memory: int | None = None


class GpuInfo(ResponseModel):
    brand: str | None = None
    version: str | None = None
    unit: str | None = None
    memory: int | None = None
    gpu: float | None = None


class NpuInfo(ResponseModel):
    brand: str | None = None
    version: str | None = None
    unit: str | None = None
    memory: int | None = None
    npu: int | None = None


class Specification(ResponseModel):
    specification: str
    billing_spec: str | None = None
    category: str | None = None
    cpu_info: CpuInfo | None = None
    memory_info: MemoryInfo | None = None
    gpu_info: GpuInfo | None = None
    npu_info: NpuInfo | None = None
    display_en: str | None = None
    display_cn: str | None = None
    is_open: bool | None = None
    spec_status: str | None = None
    source_type: str | None = None
    is_free: bool | None = None
    over_quota: bool | None = None
    extend_params: int | None = None


class ListSpecificationsResp(ResponseModel):
    total_count: int
    count: int
    specifications: list[Specification]


class CombineTmsTags(ResponseModel):
    key: str
    values: list[str]


class ListServiceTagsResp(ResponseModel):
    tags: list[CombineTmsTags]


class InternalChannelDetail(ResponseModel):
    vpcep_service_id: str | None = None
    vpcep_service_name: str | None = None
    service_port: int | None = None


class ShowInternalChannelResp(ResponseModel):
    dns_domain_name: str
    vpcep_info: list[InternalChannelDetail]


class EmptyResp(ResponseModel):
    """8.7 and 8.8 answer an empty object."""


# -- query parameters ----------------------------------------------------------------------------------

QueryText = Annotated[str | None, Query(max_length=256)]
ServiceSortBy = Literal["publish_at", "service_name", "transition_at"]
Order = Literal["asc", "desc"]
EventType = Literal["normal", "abnormal"]
Millis = Annotated[int | None, Query(ge=0, le=2**63 - 1, description="Milliseconds since the epoch")]
