"""Models, "AI applications" (reference 6.1-6.5): requests, answers and list queries.

The official SDK has no model operations, so the reference's tables are followed. Two readings of
them, both kept on purpose:

* ``CreateModelReq`` declares every field optional, although the reference marks ``model_name``,
  ``model_version``, ``source_location`` and ``model_type`` mandatory: ``model_type`` may come from
  the package's ``config.json``, and the others are checked by ``models.service``, which answers the
  reference's own codes (``ModelArts.3036`` for a missing parameter, ``ModelArts.3017`` for a source
  without a package) instead of the generic ``ModelArts.0101``. Patterns (name, version, description,
  document names) are also checked there, with messages that say the rule.
* ``source_copy``, ``template`` and ``workspace_id`` mean nothing here (no images, no templates, one
  workspace): they are accepted; ``Template`` and ``Image`` models are refused with 501.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from fastapi import Query
from pydantic import BeforeValidator, Field

from modelworks.api.schemas.common import MAX_INT32, RequestModel, ResponseModel


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


ApiMethod = Annotated[Literal["post", "get", "put", "delete"], BeforeValidator(_lower)]
"""An API's method; ModelArts clients write it in either case."""
ApiProtocol = Annotated[Literal["http", "https"], BeforeValidator(_lower)]


def _finite_number(value: Any) -> Any:
    if isinstance(value, bool) or (isinstance(value, float) and not math.isfinite(value)):
        raise ValueError("must be a finite number")
    return value


Number = Annotated[int | float, BeforeValidator(_finite_number)]
"""A number as sent: an integer stays an integer in what the model echoes."""
InstallType = Literal["real-time", "edge", "batch", "realtime"]
"""The reference writes ``real-time`` in requests and ``realtime`` in answers; both are accepted."""
ModelStatus = Literal["publishing", "published", "failed", "building", "building_failed"]


# -- 6.3 create ----------------------------------------------------------------------------------------


class GuideDoc(RequestModel):
    doc_url: str | None = Field(None, description="HTTP(S) link of the document")
    doc_name: str | None = Field(
        None, description="1 to 48 letters, digits, hyphens or underscores, starting with a letter"
    )


class Packages(RequestModel):
    package_name: str | None = Field(None, description="pip package name (no spaces or &!'\"<>=)")
    package_version: str | None = Field(None, description="Version; blank: the latest")
    restraint: Annotated[
        Literal["EXACT", "ATLEAST", "ATMOST", ""] | None,
        BeforeValidator(lambda v: v.upper() if isinstance(v, str) else v),
    ] = Field(None, description="EXACT, ATLEAST or ATMOST; required with package_version")


class ModelDependencies(RequestModel):
    installer: Literal["pip", ""] | None = Field(None, description="Only pip (blank: pip)")
    packages: list[Packages] | None = None


class ModelInOutPutParams(RequestModel):
    """A JSON schema (``type``, ``properties``); other JSON-schema keywords pass through."""

    type: str | None = None
    properties: dict[str, Any] | None = None


class CreateModelRequestModelApis(RequestModel):
    protocol: ApiProtocol | None = None
    method: ApiMethod | None = None
    url: str | None = Field(None, description="Inference request URL; a packaged model serves '/'")
    input_params: ModelInOutPutParams | None = None
    output_params: ModelInOutPutParams | None = None


class CreateModelRequestInferParams(RequestModel):
    protocol: ApiProtocol | None = None
    method: ApiMethod | None = None
    url: str | None = None
    param_name: str | None = Field(None, description="1 to 64 characters")
    param_type: str | None = Field(None, description="int, string, float, timestamp, date, file ...")
    param_desc: str | None = None
    min: Number | None = None
    max: Number | None = None


class CreateModelRequestTemplateInput(RequestModel):
    input: str | None = None
    input_id: str | None = None


class Template(RequestModel):
    """Accepted for the reference's sake; ``Template`` models answer 501."""

    infer_format: str | None = None
    template_inputs: list[CreateModelRequestTemplateInput] | None = None
    template_id: str | None = None


class CreateModelReq(RequestModel):
    """6.3's body (see the module docstring on optional fields)."""

    model_name: str | None = Field(None, description="1 to 64 letters, digits, hyphens or underscores")
    model_version: str | None = Field(None, description="Digit.Digit.Digit, e.g. 1.0.0")
    source_location: str | None = Field(None, description="OBS directory holding model/")
    model_type: str | None = Field(None, description="PyTorch, TensorFlow, MindSpore, Custom ...")
    runtime: str | None = None
    description: str | None = Field(None, description='At most 100 characters, none of &!"<>=')
    model_algorithm: str | None = None
    model_metrics: str | None = Field(None, description="A JSON object as text (f1, recall ...)")
    initial_config: str | None = Field(None, description="config.json as text")
    execution_code: str | None = None
    source_job_id: str | None = None
    source_job_version: str | None = None
    source_type: Literal["auto", ""] | None = None
    source_copy: str | None = Field(None, description="Accepted and ignored (Image models only)")
    workspace_id: str | None = None
    install_type: list[InstallType] | None = Field(None, min_length=1)
    model_docs: list[GuideDoc] | None = None
    apis: list[CreateModelRequestModelApis] | None = None
    dependencies: list[ModelDependencies] | None = None
    input_params: list[CreateModelRequestInferParams] | None = None
    output_params: list[CreateModelRequestInferParams] | None = Field(
        None, description="The reference's example spelling of output_parameters"
    )
    output_parameters: list[CreateModelRequestInferParams] | None = None
    template: Template | None = None


class CreateModelResp(ResponseModel):
    model_id: str


# -- 6.1, 6.2, 6.4, 6.5 answers ----------------------------------------------------------------------


class Accelerator(ResponseModel):
    type: str | None = None
    name: str | None = None
    cuda_version: str | None = None
    driver_version_section: str | None = None


class EngineAndRuntimesResponse(ResponseModel):
    ai_engine: str
    runtimes: list[str]
    request_mode: list[str] | None = None
    accelerators: list[Accelerator] | None = None
    arch: list[str] | None = None
    status_list: list[str] | None = None
    image_source: list[str] | None = None


class ListModelRuntimesResp(ResponseModel):
    """6.1. ``count`` is every engine, ``total_count`` those answered (the reference's reading)."""

    count: int
    total_count: int
    engine_runtimes: list[EngineAndRuntimesResponse]


class ModelSpecification(ResponseModel):
    min_cpu: str | None = None
    min_gpu: str | None = None
    min_memory: str | None = None
    min_ascend: str | None = None


class ModelListItem(ResponseModel):
    model_id: str
    model_name: str
    model_version: str
    model_type: str | None = None
    model_size: int | None = None
    model_status: str | None = None
    model_source: str | None = None
    source_type: str | None = None
    description: str | None = None
    install_type: list[str] | None = None
    workspace_id: str | None = None
    project: str | None = None
    tenant: str | None = None
    owner: str | None = None
    market_flag: bool | None = None
    tunable: bool | None = None
    publishable_flag: bool | None = None
    source_copy: str | None = None
    subscription_id: str | None = None
    extra: str | None = None
    specification: ModelSpecification | None = None
    create_at: int | None = None


class ListModelsResp(ResponseModel):
    total_count: int
    count: int
    models: list[ModelListItem]


class GuideDocResp(ResponseModel):
    doc_url: str | None = None
    doc_name: str | None = None


class PackagesResp(ResponseModel):
    package_name: str | None = None
    package_version: str | None = None
    restraint: str | None = None


class ModelDependenciesResp(ResponseModel):
    installer: str | None = None
    packages: list[PackagesResp] | None = None


class ModelHealth(ResponseModel):
    protocol: str | None = None
    url: str | None = None
    initial_delay_seconds: str | None = None
    timeout_seconds: str | None = None


class ModelParamsInfo(ResponseModel):
    protocol: str | None = None
    method: str | None = None
    url: str | None = None
    param_name: str | None = None
    param_type: str | None = None
    param_desc: str | None = None
    min: float | None = None
    max: float | None = None


class ShowModelResp(ModelListItem):
    """6.4. ``apis`` and ``config`` are JSON text, as the reference types them. ``output_params`` (the
    reference's example) and ``output_parameters`` (its table) hold the same list. ``labels_map`` is
    ``{"labels": []}`` (the reference's example; its table's ``Map<String,String>`` cannot hold a
    list). ``failed_msg`` (an extension) says why a failed model failed."""

    runtime: str | None = None
    model_algorithm: str | None = None
    model_metrics: str | None = None
    source_location: str | None = None
    source_job_id: str | None = None
    source_job_version: str | None = None
    execution_code: str | None = None
    schema_doc: str | None = None
    image_addresses: str | None = None
    model_docs: list[GuideDocResp] | None = None
    dependencies: list[ModelDependenciesResp] | None = None
    apis: str | None = None
    config: str | None = None
    health: ModelHealth | None = None
    input_params: list[ModelParamsInfo] | None = None
    output_params: list[ModelParamsInfo] | None = None
    output_parameters: list[ModelParamsInfo] | None = None
    model_labels: list[str] | None = None
    labels_map: dict[str, Any] | None = None
    update_at: int | None = None
    failed_msg: str | None = None


class DeleteModelResponseFailedList(ResponseModel):
    model_id: str
    error_code: str
    error_msg: str


class DeleteModelResp(ResponseModel):
    delete_success_list: list[str]
    delete_failed_list: list[DeleteModelResponseFailedList]


# -- query parameters ----------------------------------------------------------------------------------

QueryText = Annotated[str | None, Query(max_length=256)]
ModelSortBy = Literal["create_at", "model_version", "model_size"]
Order = Literal["asc", "desc"]
ModelPage = Annotated[
    int,
    Query(ge=0, le=MAX_INT32, description="Index of the page of `limit` models (the reference's reading)"),
]
"""6.2's ``offset`` is a page index; ``offset * limit`` stays well inside a 64-bit integer."""
RuntimeOffset = Annotated[int, Query(ge=0, le=MAX_INT32)]
RuntimeLimit = Annotated[int | None, Query(ge=1, le=1000)]
