"""Field types and objects the algorithm and training-job models share (hyperparameters, engines,
auto-search policies).

Class names are the official SDK's (``huaweicloudsdkmodelarts.v1.model``): the reference names these
tables only by their field (``job_config``, ``constraint`` ...). Semantic checks (a value that fits its
hyperparameter's type and range, code that exists in storage, an engine this installation offers) stay
in ``modelworks.training`` and answer the reference's own error codes (``ModelArts.2768`` ...); the
models refuse wrong JSON types, unknown enum values and out-of-range integers.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field

from modelworks.api.schemas.common import MAX_INT32, RequestModel, ResponseModel


def _numbers_as_text(value: Any) -> Any:
    """JSON numbers and booleans as the strings the API carries them as (``true``, ``0.5``); anything
    else is left for the ``str`` check to refuse."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return value


Text = Annotated[str, BeforeValidator(_numbers_as_text)]
"""A string field that also takes a JSON number or boolean (hyperparameter values, environment
variables, annotations): clients write ``"epochs": 10`` as often as ``"10"``."""

Name = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="1 to 64 letters, digits, underscores or hyphens",
    ),
]
Description = Annotated[str, Field(max_length=256, description="0 to 256 characters")]
Count = Annotated[int, Field(ge=0, le=MAX_INT32)]


def _split_commas(value: Any) -> Any:
    return [v for v in value.split(",") if v != ""] if isinstance(value, str) else value


# Hyperparameters ----------------------------------------------------------------------------------


class ParametersConstraint(RequestModel):
    """A hyperparameter's constraint. ``type`` (String, Integer, Float, Boolean; any case) and
    ``valid_type`` (None, Range, Enumeration) are checked by the service, which answers the
    reference's codes (``ModelArts.2770`` for a malformed range)."""

    type: str | None = None
    editable: bool | None = None
    required: bool | None = None
    sensitive: bool | None = None
    valid_type: str | None = None
    valid_range: list[Text] | None = None


class I18nDescription(RequestModel):
    language: Literal["zh-cn", "en-us"] | None = None
    description: str | None = None


class Parameters(RequestModel):
    """A hyperparameter (SDK ``Parameters``). The reference's table calls the translated description
    ``internationalization``, the SDK ``i18n_description``: both are read."""

    name: Name | None = None
    value: Text | None = None
    description: Description | None = None
    constraint: ParametersConstraint | None = None
    i18n_description: I18nDescription | None = None
    internationalization: I18nDescription | None = None


class ParameterConstraint(ResponseModel):
    type: str | None = None
    editable: bool | None = None
    required: bool | None = None
    sensitive: bool | None = None
    valid_type: str | None = None
    valid_range: list[str] | None = None


class ParameterI18nDescription(ResponseModel):
    language: str | None = None
    description: str | None = None


class Parameter(ResponseModel):
    """A hyperparameter as answers carry it (SDK ``Parameter``)."""

    name: str | None = None
    value: str | None = None
    description: str | None = None
    constraint: ParameterConstraint | None = None
    i18n_description: ParameterI18nDescription | None = None


# Auto search (accepted and stored on algorithms; a job asking for it is answered 501) ----------------


class RewardAttrs(RequestModel):
    name: str | None = None
    mode: Literal["max", "min"] | None = None
    regex: str | None = None


class SearchParams(RequestModel):
    """``discrete_values`` is a list in requests (SDK) and one comma-joined string in answers; a string
    is accepted here too, so an answer can be sent back."""

    name: str | None = None
    param_type: Literal["continuous", "discrete"] | None = None
    lower_bound: Text | None = None
    upper_bound: Text | None = None
    discrete_points_num: Text | None = None
    discrete_values: Annotated[list[Text], BeforeValidator(_split_commas)] | None = None


class AutoSearchAlgoConfigParameter(RequestModel):
    key: str | None = None
    value: Text | None = None
    type: str | None = None


class AlgoConfigs(RequestModel):
    name: str | None = None
    params: list[AutoSearchAlgoConfigParameter] | None = None


class AutoSearch(RequestModel):
    skip_search_params: str | None = None
    reward_attrs: list[RewardAttrs] | None = None
    search_params: list[SearchParams] | None = None
    algo_configs: list[AlgoConfigs] | None = None


class AutoSearchRewardAttrsResp(ResponseModel):
    name: str | None = None
    mode: str | None = None
    regex: str | None = None


class AutoSearchSearchParamsResp(ResponseModel):
    name: str | None = None
    param_type: str | None = None
    lower_bound: str | None = None
    upper_bound: str | None = None
    discrete_points_num: str | None = None
    discrete_values: str | list[str] | None = None


class AutoSearchAlgoConfigParameterResp(ResponseModel):
    key: str | None = None
    value: str | None = None
    type: str | None = None


class AutoSearchAlgoConfigsResp(ResponseModel):
    name: str | None = None
    params: list[AutoSearchAlgoConfigParameterResp] | None = None


class AutoSearchResp(ResponseModel):
    """SDK ``AlgorithmResponseAdvancedConfigAutoSearch``: on algorithms ``discrete_values`` is one
    string, on jobs (``JobAlgorithmResponsePoliciesAutoSearch``) a list."""

    skip_search_params: str | None = None
    reward_attrs: list[AutoSearchRewardAttrsResp] | None = None
    search_params: list[AutoSearchSearchParamsResp] | None = None
    algo_configs: list[AutoSearchAlgoConfigsResp] | None = None


# Engines ------------------------------------------------------------------------------------------


class EngineRef(ResponseModel):
    """The engine an algorithm or job runs with (SDK ``AlgorithmResponseJobConfigEngine`` /
    ``JobEngineResp``)."""

    engine_id: str | None = None
    engine_name: str | None = None
    engine_version: str | None = None
    image_url: str | None = None
    install_sys_packages: bool | None = None
    image_repo_id: str | None = None
