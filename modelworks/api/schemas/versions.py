"""Dataset versions (reference 16.1.8–16.1.11)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from modelworks.api.schemas.common import RequestModel, ResponseModel
from modelworks.api.schemas.labels import LabelStats


class CreateDatasetVersionReq(RequestModel):
    """16.1.9. ``train_evaluate_sample_ratio`` is a string holding a number in [0, 1] (checked by the
    service, which also refuses CarbonData and CSV versions outside table datasets).
    ``with_column_header`` is accepted and ignored (table datasets are not versioned as tables)."""

    version_name: str | None = Field(None, pattern=r"^[A-Za-z0-9_-]{0,32}$")
    description: str | None = Field(None, max_length=256, pattern=r"^[^!<>=&\"']*$")
    version_format: Literal["Default", "CarbonData", "CSV"] | None = None
    train_evaluate_sample_ratio: str | None = Field(None, max_length=32)
    remove_sample_usage: bool | None = None
    clear_hard_property: bool | None = None
    export_images: bool | None = None
    with_column_header: bool | None = None


class CreateDatasetVersionResp(ResponseModel):
    version_id: str


class DatasetVersion(ResponseModel):
    """A version as listed (16.1.8, without ``label_stats``) and detailed (16.1.10)."""

    version_id: str
    version_name: str
    version_format: str | None = None
    previous_version_id: str | None = None
    status: int
    create_time: int | None = None
    update_time: int | None = None
    total_sample_count: int | None = None
    annotated_sample_count: int | None = None
    total_sub_sample_count: int | None = None
    annotated_sub_sample_count: int | None = None
    add_sample_count: int | None = None
    deleted_sample_count: int | None = None
    modified_sample_count: int | None = None
    previous_total_sample_count: int | None = None
    previous_annotated_sample_count: int | None = None
    manifest_path: str | None = None
    data_path: str | None = None
    is_current: bool | None = None
    analysis_status: int | None = None
    train_evaluate_sample_ratio: str | None = None
    remove_sample_usage: bool | None = None
    clear_hard_property: bool | None = None
    export_images: bool | None = None
    description: str | None = None
    label_stats: list[LabelStats] | None = None
    label_type: str | None = None
    task_type: int | None = None
    extract_serial_number: bool | None = None
    include_dataset_data: bool | None = None
    crop: bool | None = None
    rotate: bool | None = None
    data_validate: bool | None = None
    start_processor_task: bool | None = None
    with_column_header: bool | None = None
    tags: list[str] | None = None
    message: str | None = None
    # Data analysis, processor tasks and crop/rotate outputs are not part of this installation:
    # declared, left out of the answers.
    analysis_cache_path: str | None = None
    analysis_task_id: str | None = None
    code: str | None = None
    crop_path: str | None = None
    crop_rotate_cache_path: str | None = None
    data_analysis: dict[str, Any] | None = None
    data_statistics: dict[str, Any] | None = None
    deletion_stats: dict[str, int] | None = None
    manifest_cache_input_path: str | None = None
    processor_task_id: str | None = None
    processor_task_status: int | None = None
    rotate_path: str | None = None
    sample_state: str | None = None


class ListDatasetVersionsResp(ResponseModel):
    """16.1.8."""

    total_number: int
    versions: list[DatasetVersion]
