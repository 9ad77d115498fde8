"""Training jobs (reference 5.6-5.14): create, modify, terminate and search bodies, and the
``JobResponse`` every one of them (and show) answers with (defined in ``job_responses``).

Names are the official SDK's (``Job``, ``JobAlgorithm``, ``Spec``, ``JobSearches``, ``JobResponse``,
``Status`` ...). Fields of ModelArts features Modelworks lacks are declared loosely (an object) so a
client may send them: ``tasks`` (heterogeneous jobs), ``spec.volumes``, ``spec.resource.pool_id`` and
``algorithm.subscription_id`` answer 501; ``spec.schedule_policy``, ``notification``, ``retention``,
``custom_metrics``, ``endpoints``, ``summary`` and ``ftjob_config`` are accepted and ignored.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field

from modelworks.api.schemas.common import MAX_INT32, RequestModel
from modelworks.api.schemas.training.common import (
    AutoSearch,
    Count,
    Description,
    Name,
    Parameters,
    Text,
)
from modelworks.api.schemas.training.job_responses import (
    BillingInfo,
    Cpu,
    Disk,
    FlavorDetail,
    FlavorInfo,
    InputDataInfoResp,
    InputDataInfoRespDataset,
    InputDataInfoRespObs,
    InputResp,
    JobAlgorithmResponse,
    JobAlgorithmResponsePolicies,
    JobMetadataResponse,
    JobResponse,
    JobStatus,
    ListTrainingJobsResponse,
    LogExportPathResp,
    LogUrlResp,
    Memory,
    MetricObject,
    OutputResp,
    RemoteObsResp,
    RemoteResp,
    Resource,
    RunningRecord,
    ShowTrainingJobLogsPreviewResponse,
    ShowTrainingJobMetricsResponse,
    SpecResponse,
    TaskStatuses,
)


def _merge_maps(value: Any) -> Any:
    """Environment variables as answers spell them (a list of one-entry maps) are accepted back."""
    if isinstance(value, list) and all(isinstance(item, dict) for item in value):
        merged: dict[str, Any] = {}
        for item in value:
            merged.update(item)
        return merged
    return value


Environments = Annotated[dict[str, Text], BeforeValidator(_merge_maps)]
AccessMethod = Literal["parameter", "env"]

# Requests -----------------------------------------------------------------------------------------


class JobMetadata(RequestModel):
    """``annotations`` are stored and answered back."""

    name: Name
    description: Description | None = None
    workspace_id: str | None = None
    annotations: dict[str, Text] | None = None
    training_experiment_reference: dict[str, Any] | None = None


class InputDataInfoDataset(RequestModel):
    """A published dataset version as a job input (``version_name`` is a Modelworks extension)."""

    id: str | None = None
    version_id: str | None = None
    version_name: str | None = None
    obs_url: str | None = None
    service_type: str | None = None
    name: str | None = None
    dataset_proportion: Annotated[int, Field(ge=0, le=100)] | None = None


class InputDataInfoObs(RequestModel):
    obs_url: str


class InputDataInfo(RequestModel):
    """Where an input comes from: a dataset, or an OBS path."""

    dataset: InputDataInfoDataset | None = None
    obs: InputDataInfoObs | None = None


class Input(RequestModel):
    name: Name
    description: Description | None = None
    local_dir: str | None = None
    access_method: AccessMethod | None = None
    remote: InputDataInfo
    remote_constraint: list[dict[str, Any]] | None = None


class RemoteObs(RequestModel):
    obs_url: str


class Remote(RequestModel):
    obs: RemoteObs


class Output(RequestModel):
    name: Name
    description: Description | None = None
    local_dir: str | None = None
    access_method: AccessMethod | None = None
    remote: Remote


class JobEngine(RequestModel):
    """By ``engine_id``, or ``engine_name`` (+ ``engine_version``); an ``image_url`` answers 501."""

    engine_id: str | None = None
    engine_name: str | None = None
    engine_version: str | None = None
    image_url: str | None = None
    install_sys_packages: bool | None = None
    image_repo_id: str | None = None


class JobPolicies(RequestModel):
    auto_search: AutoSearch | None = None


class JobAlgorithm(RequestModel):
    """Either a stored or built-in algorithm (``id``) or code (``code_dir`` + ``boot_file``).
    ``environments`` is a map (SDK); the answers' list of one-entry maps is accepted too."""

    id: str | None = None
    name: str | None = None
    subscription_id: str | None = None
    item_version_id: str | None = None
    code_dir: str | None = None
    boot_file: str | None = None
    autosearch_config_path: str | None = None
    autosearch_framework_path: str | None = None
    command: str | None = None
    parameters: list[Parameters] | None = None
    policies: JobPolicies | None = None
    inputs: list[Input] | None = None
    outputs: list[Output] | None = None
    engine: JobEngine | None = None
    local_code_dir: str | None = None
    working_dir: str | None = None
    environments: Environments | None = None
    summary: dict[str, Any] | None = None


class SpecResource(RequestModel):
    """``flavor_id`` from ``GET /v2/{project_id}/training-job-flavors`` (the whole machine if absent);
    ``node_count`` above 1 needs the Ray executor."""

    flavor_id: str | None = None
    node_count: Annotated[int, Field(ge=1, le=MAX_INT32)] | None = None
    pool_id: str | None = None
    pool_group_id: str | None = None
    main_container_customized_flavor: dict[str, Any] | None = None


class LogExportPath(RequestModel):
    obs_url: str | None = None
    host_path: str | None = None


class AutoStop(RequestModel):
    """``time_unit`` is HOURS in the reference; MINUTES and SECONDS are Modelworks extensions (any
    case), checked by the service."""

    time_unit: str
    duration: Annotated[int, Field(ge=1, le=MAX_INT32)]


class Spec(RequestModel):
    resource: SpecResource | None = None
    volumes: list[dict[str, Any]] | None = None
    log_export_path: LogExportPath | None = None
    auto_stop: AutoStop | None = None
    retention: dict[str, Any] | None = None
    schedule_policy: dict[str, Any] | None = None
    log_export_config: dict[str, Any] | None = None
    notification: dict[str, Any] | None = None
    custom_metrics: list[dict[str, Any]] | None = None
    output_model: dict[str, Any] | None = None
    asset_model: dict[str, Any] | None = None
    asset_id: str | None = None
    reserved_time: dict[str, Any] | None = None


class CreateTrainingJobReq(RequestModel):
    """The body of 5.6 (the SDK's ``Job``). ``kind`` is ``job`` (the default); the service refuses the
    reference's other kinds, which Modelworks does not run."""

    kind: str | None = None
    metadata: JobMetadata
    algorithm: JobAlgorithm | None = None
    tasks: list[dict[str, Any]] | None = None
    spec: Spec | None = None
    endpoints: dict[str, Any] | None = None
    train_type: str | None = None
    ftjob_config: dict[str, Any] | None = None


class JobUpdateRequestBody(RequestModel):
    """5.8: only ``description`` is applied; ``spec``, ``endpoints`` and ``metadata`` are accepted and
    ignored."""

    description: Description | None = None
    spec: dict[str, Any] | None = None
    endpoints: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None


class JobActionType(RequestModel):
    """5.10: ``terminate`` is the one action; another answers ``ModelArts.2812``."""

    action_type: str


class Filter(RequestModel):
    """A search filter. Text keys take ``like``, ``in`` and ``not``; ``create_time`` takes ``between``
    (``[from, to]`` in ms). Unknown keys answer ``ModelArts.2807``, an operator that does not apply to
    its key ``ModelArts.2808``."""

    key: str | None = None
    operator: Literal["between", "like", "in", "not"] | None = None
    value: list[Text] | None = None


class ListTagFilter(RequestModel):
    key: str | None = None
    values: list[str] | None = None


class JobSearches(RequestModel):
    """5.14's body (the SDK's ``JobSearches``); ``tags`` and ``host_ips`` are accepted and ignored."""

    offset: Count | None = None
    limit: Annotated[int, Field(ge=1, le=50)] | None = None
    sort_by: str | None = None
    order: Literal["asc", "desc"] | None = None
    group_by: str | None = None
    workspace_id: str | None = None
    train_type: str | None = None
    tags: list[ListTagFilter] | None = None
    host_ips: list[str] | None = None
    filters: list[Filter] | None = None


# The responses live in job_responses; they stay importable from here.
__all__ = [
    "AccessMethod",
    "AutoStop",
    "BillingInfo",
    "Cpu",
    "CreateTrainingJobReq",
    "Disk",
    "Environments",
    "Filter",
    "FlavorDetail",
    "FlavorInfo",
    "Input",
    "InputDataInfo",
    "InputDataInfoDataset",
    "InputDataInfoObs",
    "InputDataInfoResp",
    "InputDataInfoRespDataset",
    "InputDataInfoRespObs",
    "InputResp",
    "JobActionType",
    "JobAlgorithm",
    "JobAlgorithmResponse",
    "JobAlgorithmResponsePolicies",
    "JobEngine",
    "JobMetadata",
    "JobMetadataResponse",
    "JobPolicies",
    "JobResponse",
    "JobSearches",
    "JobStatus",
    "JobUpdateRequestBody",
    "ListTagFilter",
    "ListTrainingJobsResponse",
    "LogExportPath",
    "LogExportPathResp",
    "LogUrlResp",
    "Memory",
    "MetricObject",
    "Output",
    "OutputResp",
    "Remote",
    "RemoteObs",
    "RemoteObsResp",
    "RemoteResp",
    "Resource",
    "RunningRecord",
    "ShowTrainingJobLogsPreviewResponse",
    "ShowTrainingJobMetricsResponse",
    "Spec",
    "SpecResource",
    "SpecResponse",
    "TaskStatuses",
]
