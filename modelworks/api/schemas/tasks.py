"""Intelligent tasks (reference 16.1.64–16.1.67, detailed pages seeds 000–002) and auto-labeling
samples (16.1.62–16.1.63).

One request model for every task type, not a union discriminated by ``task_type``: the type may be
left out (auto labeling), or sent as the seed's legacy integer ``type``, and a discriminated union
would put the tag into every error's field path (``auto-label.config.n_clusters``). Which config
fields a task type needs and whether the dataset suits it are the service's checks; types, enums and
bounds are here.

The official SDK has no model classes for these operations, so the reference's tables rule. Config
fields that mean nothing here (``engine_name``, ``pool_id``, ``inf_cluster_id``, ``log_url``,
``train_url``, ``export_params`` (the export tasks' ``ExportParams``) ...) are accepted, type-checked
and echoed unchanged in the task's ``config``.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
)
from pydantic_core import PydanticCustomError

from modelworks.api.schemas.common import MAX_INT32, Int32, RequestModel, ResponseModel
from modelworks.api.schemas.exports import ExportParams
from modelworks.api.schemas.samples import DescribeSampleResp


def one_of(*values: str | int) -> WrapValidator:
    """Refuse a value outside a ``Literal`` with "must be one of a, b" (the reference's wording, not
    pydantic's); integers may come as digit strings, as some ModelArts clients send them."""

    expected = ", ".join(str(v) for v in values)

    def check(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        numeric = all(isinstance(v, int) for v in values)
        if numeric and isinstance(value, str) and re.fullmatch(r"-?\d{1,10}", value.strip()):
            value = int(value)
        try:
            return handler(value)
        except ValidationError:
            raise PydanticCustomError("enum", "must be one of {expected}", {"expected": expected}) from None

    return WrapValidator(check)


TaskType = Annotated[
    Literal["auto-label", "pre-label", "auto-grouping", "auto-deploy"],
    one_of("auto-label", "pre-label", "auto-grouping", "auto-deploy"),
]
"""``auto-deploy`` (one-click deployment) is listed by 16.1.64's introduction, not by its enum."""
LegacyTaskType = Annotated[Literal[0, 1, 2, 3], one_of(0, 1, 2, 3)]
AlgorithmType = Annotated[Literal["fast", "accurate"], one_of("fast", "accurate")]
CollectRule = Annotated[Literal["all"], one_of("all")]
ResultType = Annotated[Literal[0, 1], one_of(0, 1)]
ExportFormat = Annotated[Literal[1, 2], one_of(1, 2)]
VersionFormat = Annotated[Literal["Default", "CarbonData", "CSV"], one_of("Default", "CarbonData", "CSV")]

_NAME = re.compile(r"[\w.-]{1,64}")
_SCOPE = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*-\s*([0-9]*\.?[0-9]+)\s*$")


def _task_name(value: str) -> str:
    if not _NAME.fullmatch(value):
        raise PydanticCustomError("task_name", "must be 1-64 letters, digits, '_', '-' or '.'")
    return value


def _confidence_scope(value: str) -> str:
    """An empty scope is no scope, as before the model existed."""
    if value == "":
        return value
    match = _SCOPE.match(value)
    if match is None:
        raise PydanticCustomError(
            "confidence_scope", "must be two numbers from 0 to 1 separated by '-', e.g. 0.10-0.90"
        )
    if not 0 <= float(match.group(1)) <= float(match.group(2)) <= 1:
        raise PydanticCustomError(
            "confidence_scope", "must be two numbers from 0 to 1, the first not above the second"
        )
    return value


def _blank_is_none(value: Any) -> Any:
    return None if value == "" else value


TaskName = Annotated[str, AfterValidator(_task_name), Field(description="1-64 letters, digits, _ - .")]
ConfidenceScope = Annotated[
    str,
    AfterValidator(_confidence_scope),
    Field(description="Confidence range of key samples, e.g. 0.10-0.90", examples=["0.10-0.90"]),
]
StoragePath = Annotated[str, Field(description="A storage directory such as /bucket/dir/ (OBS style)")]
ListTaskType = Annotated[TaskType | None, BeforeValidator(_blank_is_none)]


# -- request ---------------------------------------------------------------------------------------


class Flavor(RequestModel):
    """Training resource flavor of an auto-deploy task: ``code`` is a training flavor id
    (``GET /v2/{project_id}/training-job-flavors``)."""

    code: str | None = None


class InfConfig(RequestModel):
    """One model of the real-time service a pre-label or auto-deploy task deploys (the service's
    ``config`` entry); the service checks specification and weights as ``POST /services`` does."""

    model_id: str | None = None
    specification: str | None = None
    weight: Annotated[int, Field(ge=0, le=100)] | None = None
    instance_count: Annotated[int, Field(ge=1, le=128)] | None = None
    envs: dict[str, str] | None = None


class TrainingParameter(RequestModel):
    """A hyperparameter of the auto-deploy training job. ``name`` is accepted for ``label`` (the
    training API's word); numbers and booleans are passed as their text."""

    label: str | None = None
    value: str | int | float | bool | None = None


class TaskSampleLabels(RequestModel):
    """An item of ``config.samples`` (the reference's ``SampleLabels``): the task labels only these
    samples. Only ``sample_id`` is used; labels, metadata and the rest are accepted and ignored."""

    sample_id: str = Field(min_length=1)
    labels: list[dict[str, Any]] | None = None
    metadata: dict[str, Any] | None = None
    sample_type: Int32 | None = None
    sample_usage: str | None = None
    source: str | None = None
    worker_id: str | None = None


class SmartTaskConfig(RequestModel):
    """``config`` of a start request (reference ``SmartTaskConfig``). Which fields each type uses:

    * auto-label: ``algorithm_type`` (default fast), ``confidence_scope``, ``collect_sample``,
      ``collect_rule`` (only ``all``), ``stop_time`` (minutes, 1-1440, default 15: the run is stopped
      after it; the reference limits it to videos), ``samples``, ``annotation_output``,
      ``key_sample_output``.
    * pre-label: ``model_id`` (or the body's), ``inf_config_list``, ``samples``,
      ``infer_result_output_dir`` / ``output_dir``, ``annotation_output``, ``key_sample_output``.
    * auto-grouping: ``n_clusters`` (2-1000, default 10; the clustering's limit here),
      ``ambiguity`` / ``image_brightness`` / ``image_colorfulness``, ``result_type`` (default 1) and
      ``property`` (required with ``result_type`` 1).
    * auto-deploy: ``flavor``, ``parameters``, ``worker_server_num`` (training nodes; 0 means 1, more
      than 1 needs the Ray executor), ``train_job_name``, ``model_name``, ``model_version``,
      ``service_name``, ``inf_config_list``, ``output_dir``.

    The rest is accepted and echoed.
    """

    name: TaskName | None = None
    description: str | None = Field(None, max_length=256)
    algorithm_type: AlgorithmType | None = None
    ambiguity: bool | None = None
    image_brightness: bool | None = None
    image_colorfulness: bool | None = None
    annotation_output: StoragePath | None = None
    key_sample_output: StoragePath | None = None
    infer_result_output_dir: StoragePath | None = None
    output_dir: StoragePath | None = None
    inf_output: str | None = None
    collect_rule: CollectRule | None = None
    collect_sample: bool | None = None
    confidence_scope: ConfidenceScope | None = None
    engine_name: str | None = None
    export_format: ExportFormat | None = None
    export_params: ExportParams | None = None
    flavor: Flavor | None = None
    inf_cluster_id: str | None = None
    inf_config_list: list[InfConfig] | None = None
    log_url: str | None = None
    manifest_path: str | None = None
    model_id: str | None = None
    model_name: str | None = None
    model_parameter: str | None = None
    model_version: str | None = None
    n_clusters: Annotated[int, Field(ge=2, le=1000)] | None = None
    parameters: list[TrainingParameter] | None = None
    pool_id: str | None = None
    property: str | None = None
    req_uri: str | None = None
    result_type: ResultType | None = None
    samples: list[TaskSampleLabels] | None = None
    stop_time: Annotated[int, Field(ge=1, le=24 * 60)] | None = None
    time: str | None = None
    train_data_path: str | None = None
    train_url: str | None = None
    version_format: VersionFormat | None = None
    worker_server_num: Annotated[int, Field(ge=0, le=MAX_INT32)] | None = None


class CreateTaskReq(RequestModel):
    """Start an intelligent task (16.1.65). ``task_type`` defaults to auto-label. ``type`` (the integer
    of a ``RunningTask``), ``task_name`` and ``export_type`` (auto grouping's ``result_type``) are the
    legacy body of the seed's grouping example, still honoured."""

    task_type: TaskType | None = None
    collect_key_sample: bool | None = None
    config: SmartTaskConfig | None = None
    model_id: str | None = None
    type: LegacyTaskType | None = None
    task_name: TaskName | None = None
    export_type: ResultType | None = None


class CreateTaskResp(ResponseModel):
    task_id: str


# -- responses -------------------------------------------------------------------------------------


class SmartTaskConfigResp(ResponseModel):
    """The ``config`` a task was started with, with the defaults that were applied (see
    ``SmartTaskConfig``); storage paths are answered as normalized directories."""

    name: str | None = None
    description: str | None = None
    algorithm_type: str | None = None
    ambiguity: bool | None = None
    image_brightness: bool | None = None
    image_colorfulness: bool | None = None
    annotation_output: str | None = None
    key_sample_output: str | None = None
    infer_result_output_dir: str | None = None
    output_dir: str | None = None
    collect_rule: str | None = None
    collect_sample: bool | None = None
    confidence_scope: str | None = None
    inf_config_list: list[dict[str, Any]] | None = None
    model_id: str | None = None
    n_clusters: int | None = None
    property: str | None = None
    result_type: int | None = None
    stop_time: int | None = None
    worker_server_num: int | None = None


class Event(ResponseModel):
    """A stage of a task's run (reference ``Event``); times in milliseconds, ``elapsed_time`` in s."""

    name: str | None = None
    ordinal: int | None = None
    level: int | None = None
    parent_name: str | None = None
    status: Literal["waiting", "running", "failed", "success"] | None = None
    create_time: int | None = None
    elapsed_time: int | None = None
    description: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    events: list[Event] | None = None


class HardSelectTask(ResponseModel):
    hard_select_task_id: str | None = None
    dataset_id: str | None = None
    dataset_name: str | None = None
    task_status: str | None = None
    time: int | None = None
    create_at: int | None = None
    update_at: int | None = None


class TaskResult(ResponseModel):
    """A task's ``result`` (reference ``Result``). What each type fills: counts, ``events`` and
    ``timings`` always; auto-label and pre-label the hard-example and manifest paths; pre-label and
    auto-deploy ``service_id`` / ``service_name`` and the model; auto-deploy the version and training
    job; auto-grouping ``group_count`` / ``group_sizes`` and where the groups went. Modelworks' own
    keys (``timings``, ``errors``, ``metrics`` ...) pass through."""

    total_sample_count: int | None = None
    annotated_sample_count: int | None = None
    unconfirmed_sample_count: int | None = None
    auto_annotated_sample_count: int | None = None
    confidence_scope: str | None = None
    dataset_name: str | None = None
    dataset_type: str | None = None
    description: str | None = None
    events: list[Event] | None = None
    hard_example_path: str | None = None
    hard_select_tasks: list[HardSelectTask] | None = None
    manifest_path: str | None = None
    model_id: str | None = None
    model_name: str | None = None
    model_version: str | None = None
    service_id: str | None = None
    service_name: str | None = None
    train_job_id: str | None = None
    train_job_name: str | None = None
    version_id: str | None = None
    version_name: str | None = None


class RunningTask(ResponseModel):
    """An intelligent task (reference ``RunningTask``, 16.1.64's items; also 16.1.66's answer).

    ``resource_id`` (16.1.66; seeds 000/001) is the dataset the task runs on: tasks are kept per
    resource, and the reference's example answers a dataset id there. ``export_type`` (seeds 000-002)
    is where an auto-grouping task puts its groups, its ``result_type`` (0: storage, 1: sample
    attributes); 0 for the other types. ``model_id`` is pre-label's model, or the model an auto-deploy
    task created once it exists. ``status``: -1 queuing, 0 initializing, 1 running, 2 failed,
    3 succeeded, 4 stopping, 5 stopped. ``type``: 0 auto-label, 1 pre-label, 2 auto-grouping,
    3 auto-deploy."""

    dataset_id: str | None = None
    resource_id: str | None = None
    task_id: str
    task_name: str | None = None
    type: Literal[0, 1, 2, 3]
    export_type: Literal[0, 1] | None = None
    create_time: str | None = None
    status: Literal[-1, 0, 1, 2, 3, 4, 5]
    progress: float | None = None
    elapsed_time: int | None = None
    code: str | None = None
    message: str | None = None
    error_code: str | None = None
    error_msg: str | None = None
    error_detail: str | None = None
    result: TaskResult | None = None
    config: SmartTaskConfigResp | None = None
    model_id: str | None = None
    model_name: str | None = None
    model_version: str | None = None
    total_sample_count: int | None = None
    annotated_sample_count: int | None = None
    unconfirmed_sample_count: int | None = None


class ListTasksResp(ResponseModel):
    """16.1.64."""

    total_count: int
    tasks: list[RunningTask]
    exist_running_deploy_task: bool


# -- auto-labeling samples -------------------------------------------------------------------------


class HardDetail(ResponseModel):
    id: int | None = None
    reason: str | None = None
    suggestion: str | None = None
    alo_name: str | None = None


class AutoAnnotationSample(DescribeSampleResp):
    """A sample whose auto labels wait for confirmation (16.1.63; 16.1.62's items): a sample as
    16.1.15 answers it, with ``hard_details``, one ``HardDetail`` per hard-example reason."""

    hard_details: dict[str, HardDetail] | None = None


class ListAutoAnnotationSamplesResp(ResponseModel):
    """16.1.62."""

    sample_count: int
    samples: list[AutoAnnotationSample]
