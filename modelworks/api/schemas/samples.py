"""Samples (reference 16.1.12–16.1.16, 16.1.25)."""

from __future__ import annotations

from typing import Any, Literal, get_args

from pydantic import Field

from modelworks.api.schemas.common import Int32, Int64, RequestModel, ResponseModel
from modelworks.api.schemas.datasets import DataSource, LabelFormat
from modelworks.api.schemas.labels import LabelType, LabelView
from modelworks.data.constants import STATE_AUTO, STATE_LABELED, STATE_UNLABELED, TEAM_STATES
from modelworks.data.samples import USAGES

# Query ``sample_state``: the reference's states (the team-labeling ones select nothing here).
SampleState = Literal[
    "__ALL__",
    "__NONE__",
    "__AUTO_ANNOTATION__",
    "__UNCHECK__",
    "__ACCEPTED__",
    "__REJECTED__",
    "__UNREVIEWED__",
    "__REVIEWED__",
    "__WORKFORCE_SAMPLED__",
    "__WORKFORCE_SAMPLED_UNCHECK__",
    "__WORKFORCE_SAMPLED_CHECKED__",
    "__WORKFORCE_SAMPLED_ACCEPTED__",
    "__WORKFORCE_SAMPLED_REJECTED__",
]
# Spelled out for the type checker; the data layer's constants are the one list the services use.
assert set(get_args(SampleState)) == {STATE_LABELED, STATE_UNLABELED, STATE_AUTO, *TEAM_STATES}
SampleUsage = Literal["TRAIN", "EVAL", "TEST", "INFERENCE"]
assert get_args(SampleUsage) == USAGES


class SampleLabel(RequestModel):
    """A label on a sample. ``property`` is the reference's ``SampleLabelProperty``
    (``@modelarts:shape``, ``@modelarts:feature`` ...), checked by the service by shape. ``type``
    must be a label type of the dataset's kind (checked by the service); left out it is the dataset
    label's type."""

    name: str = Field(min_length=1, max_length=256)
    type: LabelType | None = None
    id: str | None = None
    property: dict[str, Any] | None = None
    score: float | None = Field(None, ge=0, le=1, allow_inf_nan=False)
    annotated_by: Literal["human", "auto"] | None = None


class SampleMetadata(RequestModel):
    """The reference's ``SampleMetadata``: the ``@modelarts:`` keys below are checked, any other key is
    stored as given. ``@modelarts:hard`` is a Double in the reference's table and a boolean in its
    examples: both (and "true"/"false") are accepted."""

    hard: bool | float | str | None = Field(None, alias="@modelarts:hard")
    hard_coefficient: float | None = Field(None, alias="@modelarts:hard_coefficient", allow_inf_nan=False)
    hard_reasons: list[Int32] | str | None = Field(None, alias="@modelarts:hard_reasons")
    import_origin: Int32 | None = Field(None, alias="@modelarts:import_origin")


class UploadSample(RequestModel):
    """One item of 16.1.13's ``samples`` (the reference's ``Sample`` table): ``data`` (base64) with
    ``name``, or ``data_source.data_path``. ``encoding`` is accepted and ignored."""

    name: str | None = None
    data: str | None = None
    data_source: DataSource | None = None
    encoding: str | None = None
    sample_type: Int32 | None = None
    labels: list[SampleLabel] | None = None
    metadata: SampleMetadata | None = None


class UploadSamplesReq(RequestModel):
    """16.1.13. ``label_format`` is accepted; the dataset's own is used."""

    samples: list[UploadSample] = Field(min_length=1)
    final_annotation: bool | None = None
    label_format: LabelFormat | None = None


class UploadSampleResp(ResponseModel):
    success: bool
    sample_id: str | None = None
    sample_ids: list[str] | None = None
    error_code: str | None = None
    error_msg: str | None = None


class UploadSamplesResp(ResponseModel):
    """16.1.13: one result per item, in order."""

    success: bool
    results: list[UploadSampleResp]
    error_code: str | None = None
    error_msg: str | None = None


class DeleteSamplesReq(RequestModel):
    """16.1.14."""

    samples: list[str]
    delete_source: bool | None = None


class SampleLabels(RequestModel):
    """One item of 16.1.25's ``samples``. ``sample_version`` (not in the reference) is the version read
    with the sample: when the sample changed since, the whole update is refused (409).
    ``sample_type``, ``source`` and ``worker_id`` are accepted and ignored."""

    sample_id: str = Field(min_length=1)
    labels: list[SampleLabel] | None = None
    metadata: SampleMetadata | None = None
    sample_usage: SampleUsage | None = None
    sample_version: Int64 | None = None
    sample_type: Int32 | None = None
    source: str | None = None
    worker_id: str | None = None


class UpdateSamplesReq(RequestModel):
    """16.1.25."""

    samples: list[SampleLabels] = Field(min_length=1)
    email: str | None = None


class UpdatedSample(ResponseModel):
    success: bool
    sample_id: str | None = None
    error_code: str | None = None
    error_msg: str | None = None


class UpdateSamplesResp(ResponseModel):
    success: bool
    results: list[UpdatedSample]


class SampleLabelView(ResponseModel):
    """A sample's label as answered."""

    id: str | None = None
    name: str
    type: int
    property: dict[str, Any] | None = None
    annotated_by: str | None = None
    score: float | None = None


class Worker(ResponseModel):
    """A labeler of a sample (``role`` 0: labeling personnel)."""

    email: str | None = None
    worker_id: str | None = None
    role: int | None = None
    create_time: int | None = None
    description: str | None = None
    status: int | None = None
    update_time: int | None = None
    workforce_id: str | None = None


class DescribeSampleResp(ResponseModel):
    """A sample (16.1.12's items, 16.1.15). ``metadata`` is kept as an object: ``@modelarts:hard`` is
    answered as the boolean of the reference's examples, not the Double of its table, and
    ``@modelarts:hard_reasons`` as stored by the import. ``sample_version`` is not in the reference
    (see ``SampleLabels``)."""

    sample_id: str
    sample_type: int | None = None
    labels: list[SampleLabelView] | None = None
    source: str | None = None
    metadata: dict[str, Any] | None = None
    sample_time: int | None = None
    sample_status: str | None = None
    sample_name: str | None = None
    sample_dir: str | None = None
    sample_size: int | None = None
    sample_version: int | None = None
    sample_usage: str | None = None
    sample_data: list[str] | None = None
    labelers: list[Worker] | None = None
    # Team labeling (check, review, workers) and hard-example details are not part of this
    # installation: declared, left out of the answers.
    check_accept: bool | None = None
    check_comment: str | None = None
    check_score: str | None = None
    review_accept: bool | None = None
    review_comment: str | None = None
    review_score: str | None = None
    deletion_reasons: list[str] | None = None
    hard_details: dict[str, Any] | None = None
    score: str | None = None
    sub_sample_url: str | None = None
    worker_id: str | None = None


class ListSamplesResp(ResponseModel):
    """16.1.12."""

    sample_count: int
    samples: list[DescribeSampleResp]


class SearchConditionResp(ResponseModel):
    """16.1.16."""

    labels: list[LabelView]
    labelers: list[str]
    metadata: dict[str, list[str]]
