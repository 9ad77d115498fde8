"""Algorithms (reference 5.1-5.5): the body of create and modify, and the ``AlgorithmResponse``.

Names are the official SDK's (``Algorithm``, ``AlgorithmJobConfig``, ``AlgorithmResponse``,
``CodeTreeNode`` ...). Where the reference and the SDK disagree, the SDK wins:

* ``job_config.code_tree`` is one ``CodeTreeNode`` object (the root directory, children nested);
  the reference's table and example show a list.
* ``metadata.is_valid`` is a boolean; the reference's table says String.
* ``metadata.id`` in a request is an Integer in both the table and the SDK, while every answer carries
  a UUID string: either is accepted (read as text), and ignored (the server assigns ids).
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Query

from modelworks.api.schemas.common import MAX_INT32, RequestModel, ResponseModel
from modelworks.api.schemas.training.common import (
    AutoSearch,
    AutoSearchResp,
    Description,
    EngineRef,
    Name,
    Parameter,
    Parameters,
    Text,
)

# Requests -----------------------------------------------------------------------------------------


class AlgorithmMetadata(RequestModel):
    """``ai_project`` is accepted and ignored (the reference says the AI project is offline)."""

    id: Text | None = None
    name: Name
    description: Description | None = None
    workspace_id: str | None = None
    ai_project: str | None = None


class RemoteConstraint(RequestModel):
    """What a dataset input must be; stored and answered back, not enforced here."""

    data_type: str | None = None
    attributes: list[dict[str, str]] | None = None


class AlgorithmCreateInput(RequestModel):
    name: Name
    description: Description | None = None
    remote_constraints: list[RemoteConstraint] | None = None


class AlgorithmCreateOutput(RequestModel):
    name: Name
    description: Description | None = None


class AlgorithmCreateEngine(RequestModel):
    """Chosen by ``engine_id``, or ``engine_name`` (+ ``engine_version``); see
    ``GET /v2/{project_id}/training-job-engines``. An ``image_url`` answers 501 (no containers)."""

    engine_id: str | None = None
    engine_name: str | None = None
    engine_version: str | None = None
    image_url: str | None = None


class AlgorithmJobConfig(RequestModel):
    """``code_dir`` and ``boot_file`` are required together (checked against storage by the service);
    ``command`` (custom images) answers 501."""

    code_dir: str | None = None
    boot_file: str | None = None
    command: str | None = None
    parameters: list[Parameters] | None = None
    inputs: list[AlgorithmCreateInput] | None = None
    outputs: list[AlgorithmCreateOutput] | None = None
    engine: AlgorithmCreateEngine | None = None
    parameters_customization: bool | None = None


class ResourceRequirement(RequestModel):
    """A resource constraint (``flavor_type`` in ``CPU`` ...). ``values`` is the request's spelling
    (SDK), ``value`` the answer's; either is read."""

    key: str | None = None
    values: list[str] | None = None
    value: list[str] | None = None
    operator: str | None = None


class AlgorithmAdvancedConfig(RequestModel):
    auto_search: AutoSearch | None = None


class CreateAlgorithmReq(RequestModel):
    """The body of 5.1 (create) and 5.4 (modify: the sections present replace the stored ones); the
    SDK calls it ``Algorithm``. ``metadata`` with its ``name`` is required on create."""

    metadata: AlgorithmMetadata | None = None
    job_config: AlgorithmJobConfig | None = None
    resource_requirements: list[ResourceRequirement] | None = None
    advanced_config: AlgorithmAdvancedConfig | None = None


# Responses ----------------------------------------------------------------------------------------


class AlgorithmResponseMetadata(ResponseModel):
    """``source`` is ``custom`` or the built-in source; ``is_valid`` (a boolean, as the SDK declares)
    tells whether what a built-in algorithm needs is installed."""

    id: str | None = None
    name: str | None = None
    description: str | None = None
    workspace_id: str | None = None
    ai_project: str | None = None
    user_name: str | None = None
    domain_id: str | None = None
    source: str | None = None
    api_version: str | None = None
    is_valid: bool | None = None
    state: str | None = None
    tags: list[dict[str, str]] | None = None
    attr_list: list[str] | None = None
    version_num: int | None = None
    size: int | None = None
    create_time: int | None = None
    update_time: int | None = None


class AlgorithmResponseJobConfigRemoteConstraints(ResponseModel):
    data_type: str | None = None
    attributes: list[dict[str, str]] | None = None


class AlgorithmResponseJobConfigInputs(ResponseModel):
    name: str | None = None
    description: str | None = None
    remote_constraints: list[AlgorithmResponseJobConfigRemoteConstraints] | None = None


class AlgorithmResponseJobConfigOutputs(ResponseModel):
    name: str | None = None
    description: str | None = None


class CodeTreeNode(ResponseModel):
    """One directory (``name`` ends in "/", with ``children``) or file of the algorithm's code."""

    name: str | None = None
    children: list[CodeTreeNode] | None = None


class AlgorithmResponseJobConfig(ResponseModel):
    """``code_tree`` is one object, the code directory's root (the SDK's ``CodeTreeNode``)."""

    code_dir: str | None = None
    boot_file: str | None = None
    command: str | None = None
    parameters: list[Parameter] | None = None
    inputs: list[AlgorithmResponseJobConfigInputs] | None = None
    outputs: list[AlgorithmResponseJobConfigOutputs] | None = None
    engine: EngineRef | None = None
    code_tree: CodeTreeNode | None = None
    parameters_customization: bool | None = None


class AlgorithmResponseResourceRequirements(ResponseModel):
    key: str | None = None
    value: list[str] | None = None
    operator: str | None = None


class AlgorithmResponseAdvancedConfig(ResponseModel):
    auto_search: AutoSearchResp | None = None


class AlgorithmResponse(ResponseModel):
    """An algorithm as 5.1-5.4 answer it."""

    metadata: AlgorithmResponseMetadata | None = None
    job_config: AlgorithmResponseJobConfig | None = None
    resource_requirements: list[AlgorithmResponseResourceRequirements] | None = None
    advanced_config: AlgorithmResponseAdvancedConfig | None = None


class ListAlgorithmsResponse(ResponseModel):
    """5.2: ``total`` counts the project's algorithms (built-in ones included), ``count`` those that
    match ``searches``; ``items`` is the page."""

    total: int | None = None
    count: int | None = None
    limit: int | None = None
    offset: int | None = None
    sort_by: str | None = None
    order: str | None = None
    group_by: str | None = None
    items: list[AlgorithmResponse] | None = None


# Query parameters of 5.2 --------------------------------------------------------------------------

AlgorithmOffset = Annotated[int, Query(ge=0, le=MAX_INT32, description="Start of the page (0-based)")]
AlgorithmLimit = Annotated[int, Query(ge=1, le=50, description="Page size, 1-50")]
AlgorithmSortBy = Annotated[
    str,
    Query(
        max_length=64,
        description="create_time (default), update_time or name; another key answers ModelArts.2790",
    ),
]
AlgorithmOrder = Annotated[Literal["asc", "desc"], Query(description="asc or desc (default)")]
