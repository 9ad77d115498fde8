"""Training job responses (reference 5.6-5.14): ``JobResponse``, which create, show, modify, terminate
and search answer with, and the log and metric answers. Names are the official SDK's; the request
bodies are in ``jobs``, which re-exports these."""

from __future__ import annotations

from typing import Any

from modelworks.api.schemas.common import ResponseModel
from modelworks.api.schemas.training.common import AutoSearchResp, EngineRef, Parameter


class JobMetadataResponse(ResponseModel):
    id: str | None = None
    name: str | None = None
    workspace_id: str | None = None
    description: str | None = None
    create_time: int | None = None
    user_name: str | None = None
    annotations: dict[str, str] | None = None


class TaskStatuses(ResponseModel):
    task: str | None = None
    exit_code: int | None = None
    message: str | None = None


class RunningRecord(ResponseModel):
    start_at: int | None = None
    end_at: int | None = None
    start_type: str | None = None
    end_reason: str | None = None
    end_related_task: str | None = None


class JobStatus(ResponseModel):
    """The job's status (the SDK's ``Status``): ``phase`` is one of Creating, Pending, Running, Failed,
    Completed, Terminating, Terminated, Abnormal; ``duration`` and ``start_time`` in ms."""

    phase: str | None = None
    secondary_phase: str | None = None
    duration: int | None = None
    tasks: list[str] | None = None
    start_time: int | None = None
    task_statuses: list[TaskStatuses] | None = None
    running_records: list[RunningRecord] | None = None


class InputDataInfoRespDataset(ResponseModel):
    id: str | None = None
    version_id: str | None = None
    obs_url: str | None = None
    service_type: str | None = None
    name: str | None = None


class InputDataInfoRespObs(ResponseModel):
    obs_url: str | None = None


class InputDataInfoResp(ResponseModel):
    dataset: InputDataInfoRespDataset | None = None
    obs: InputDataInfoRespObs | None = None


class InputResp(ResponseModel):
    name: str | None = None
    description: str | None = None
    local_dir: str | None = None
    access_method: str | None = None
    remote: InputDataInfoResp | None = None


class RemoteObsResp(ResponseModel):
    obs_url: str | None = None


class RemoteResp(ResponseModel):
    obs: RemoteObsResp | None = None


class OutputResp(ResponseModel):
    name: str | None = None
    description: str | None = None
    local_dir: str | None = None
    access_method: str | None = None
    remote: RemoteResp | None = None


class JobAlgorithmResponsePolicies(ResponseModel):
    auto_search: AutoSearchResp | None = None


class JobAlgorithmResponse(ResponseModel):
    """The job's resolved algorithm. ``environments`` is a list of one-entry maps (SDK)."""

    id: str | None = None
    name: str | None = None
    code_dir: str | None = None
    boot_file: str | None = None
    command: str | None = None
    parameters: list[Parameter] | None = None
    policies: JobAlgorithmResponsePolicies | None = None
    inputs: list[InputResp] | None = None
    outputs: list[OutputResp] | None = None
    engine: EngineRef | None = None
    local_code_dir: str | None = None
    working_dir: str | None = None
    environments: list[dict[str, str]] | None = None


class BillingInfo(ResponseModel):
    code: str | None = None
    unit_num: int | None = None


class Cpu(ResponseModel):
    arch: str | None = None
    core_num: int | None = None


class Memory(ResponseModel):
    size: int | None = None
    unit: str | None = None


class Disk(ResponseModel):
    """In a job's ``flavor_detail`` the size is a string (SDK ``Disk``); in the flavor list an integer
    (``DiskResponse``)."""

    size: str | None = None
    unit: str | None = None


class FlavorInfo(ResponseModel):
    max_num: int | None = None
    cpu: Cpu | None = None
    gpu: dict[str, Any] | None = None
    npu: dict[str, Any] | None = None
    memory: Memory | None = None
    disk: Disk | None = None


class FlavorDetail(ResponseModel):
    flavor_type: str | None = None
    billing: BillingInfo | None = None
    flavor_info: FlavorInfo | None = None


class Resource(ResponseModel):
    policy: str | None = None
    flavor_id: str | None = None
    flavor_name: str | None = None
    node_count: int | None = None
    pool_id: str | None = None
    flavor_detail: FlavorDetail | None = None


class LogExportPathResp(ResponseModel):
    obs_url: str | None = None
    host_path: str | None = None


class SpecResponse(ResponseModel):
    resource: Resource | None = None
    log_export_path: LogExportPathResp | None = None


class JobResponse(ResponseModel):
    """A training job as 5.6, 5.7, 5.10 and 5.14 answer it."""

    kind: str | None = None
    metadata: JobMetadataResponse | None = None
    status: JobStatus | None = None
    algorithm: JobAlgorithmResponse | None = None
    spec: SpecResponse | None = None


class ListTrainingJobsResponse(ResponseModel):
    """5.14: ``total`` counts the project's jobs, ``count`` those the filters match; ``items`` is the
    page."""

    total: int | None = None
    count: int | None = None
    limit: int | None = None
    offset: int | None = None
    sort_by: str | None = None
    order: str | None = None
    group_by: str | None = None
    workspace_id: str | None = None
    ai_project: str | None = None
    train_type: str | None = None
    items: list[JobResponse] | None = None


class ShowTrainingJobLogsPreviewResponse(ResponseModel):
    """5.11: the latest part of the task's log (all of it up to 5 MB); sizes in bytes."""

    content: str | None = None
    current_size: int | None = None
    full_size: int | None = None


class LogUrlResp(ResponseModel):
    """5.12: a 5-minute URL to the task's whole log on this server, usable without credentials."""

    obs_url: str | None = None


class MetricObject(ResponseModel):
    metric: str | None = None
    value: list[float] | None = None


class ShowTrainingJobMetricsResponse(ResponseModel):
    """5.13: ``cpuUsage`` and ``memUsage`` in percent of the flavor, oldest first."""

    metrics: list[MetricObject] | None = None
