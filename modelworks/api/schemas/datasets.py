"""Datasets (reference 16.1.1–16.1.6)."""

from __future__ import annotations

from enum import IntEnum
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator
from pydantic_core import PydanticCustomError

from modelworks.api.schemas.common import Int64, RequestModel, ResponseModel
from modelworks.api.schemas.labels import Label, LabelStats, LabelView


class DatasetType(IntEnum):
    """Dataset types as the reference numbers them."""

    IMAGE_CLASSIFICATION = 0
    OBJECT_DETECTION = 1
    IMAGE_SEGMENTATION = 3
    TEXT_CLASSIFICATION = 100
    NAMED_ENTITY_RECOGNITION = 101
    TEXT_TRIPLET = 102
    SOUND_CLASSIFICATION = 200
    SPEECH_CONTENT = 201
    SPEECH_PARAGRAPH_LABELING = 202
    TABLE = 400
    VIDEO_LABELING = 600
    CUSTOM_FORMAT = 900


DatasetName = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z0-9_-]{1,100}$",
        description="1 to 100 letters, digits, underscores or hyphens",
    ),
]
DatasetDescription = Annotated[
    str,
    Field(max_length=256, pattern=r'^[^\^!<>=&"]*$', description='At most 256 characters, none of ^!<>=&"'),
]


class SchemaMap(RequestModel):
    dest_name: str | None = None
    src_name: str | None = None


class SourceInfo(RequestModel):
    """Where a table data source lives (DWS, DLI, MRS ...): accepted and ignored here, as only OBS
    sources (``data_type`` 0) are imported."""

    cluster_id: str | None = None
    cluster_mode: str | None = None
    cluster_name: str | None = None
    database_name: str | None = None
    input: str | None = None
    ip: str | None = None
    port: str | None = None
    queue_name: str | None = None
    subnet_id: str | None = None
    table_name: str | None = None
    user_name: str | None = None
    user_password: str | None = None
    vpc_id: str | None = None


class DataSource(RequestModel):
    """A data source. Every ``data_type`` of the reference is accepted by the type; the service
    refuses all but 0 (OBS, here the installation's storage)."""

    data_path: str | None = None
    data_type: Literal[0, 1, 2, 3, 4, 5, 6] = 0
    schema_maps: list[SchemaMap] | None = None
    source_info: SourceInfo | None = None
    with_column_header: bool | None = None


class LabelFormat(RequestModel):
    """How labels sit in text files (text datasets)."""

    label_type: Literal["0", "1", 0, 1] | None = None
    text_label_separator: str | None = None
    text_sample_separator: str | None = None


class SchemaField(RequestModel):
    """The reference's ``Field`` table (a table dataset's column)."""

    description: str | None = None
    name: str | None = None
    schema_id: Int64 | None = None
    type: str | None = None


class CreateDatasetReq(RequestModel):
    """16.1.2. ``work_path_type`` is mandatory in the reference's table, whose only value (and
    documented default) is 0: it may be left out here. ``managed``, ``import_data``, ``schema`` and
    ``workforce_information`` mean nothing in this installation: accepted and ignored."""

    dataset_name: DatasetName
    dataset_type: DatasetType = DatasetType.IMAGE_CLASSIFICATION
    data_sources: list[DataSource] = Field(min_length=1)
    work_path: str = Field(min_length=1)
    work_path_type: Literal[0] = 0
    data_format: str | None = None
    description: DatasetDescription | None = None
    import_annotations: bool | None = None
    import_data: bool | None = None
    label_format: LabelFormat | None = None
    labels: list[Label] | None = None
    managed: bool | None = None
    schema_: list[SchemaField] | None = Field(None, alias="schema")
    workforce_information: dict[str, Any] | None = None
    workspace_id: str | None = None

    @field_validator("data_sources", mode="before")
    @classmethod
    def _an_array(cls, value: Any) -> Any:
        # A lone path ("/bucket/dir/") is a common slip: say what is expected, not "a valid list".
        if not isinstance(value, list):
            raise PydanticCustomError("list_type", "must be an array of DataSource objects")
        return value


class CreateDatasetResp(ResponseModel):
    dataset_id: str
    import_task_id: str | None = None


class UpdateDatasetReq(RequestModel):
    """16.1.4. ``current_version_id`` is accepted and ignored (the current version is the one last
    published)."""

    dataset_name: DatasetName | None = None
    description: DatasetDescription | None = None
    current_version_id: str | None = None
    add_labels: list[Label] | None = None
    update_labels: list[Label] | None = None
    delete_labels: list[Label] | None = None


class UpdateDatasetResp(ResponseModel):
    dataset_id: str


class DataSourceView(ResponseModel):
    data_path: str | None = None
    data_type: int | None = None


class AnnotationFile(ResponseModel):
    """A file of a dataset's preview (``file_preview=true``)."""

    create_time: int | None = None
    dataset_id: str | None = None
    depth: int | None = None
    file_Name: str | None = None  # noqa: N815  (the reference's spelling)
    file_id: str | None = None
    file_type: str | None = None
    height: int | None = None
    size: int | None = None
    tags: dict[str, str] | None = None
    url: str | None = None
    width: int | None = None


class DatasetAndFilePreview(ResponseModel):
    """A dataset as listed (16.1.1) and detailed (16.1.3). Team labeling, table schemas, data
    analysis and sub-samples are not part of this installation: ``workforce_descriptor``,
    ``schema``, ``data_statistics``, ``deletion_stats``, ``versions`` and the sub-sample counts are
    declared and left out of the answers."""

    dataset_id: str
    dataset_name: str
    dataset_type: int
    data_format: str | None = None
    data_sources: list[DataSourceView] | None = None
    description: str | None = None
    status: int | None = None
    create_time: int | None = None
    update_time: int | None = None
    data_update_time: int | None = None
    next_version_num: int | None = None
    current_version_id: str | None = None
    current_version_name: str | None = None
    dataset_version_count: int | None = None
    total_sample_count: int | None = None
    annotated_sample_count: int | None = None
    unconfirmed_sample_count: int | None = None
    deleted_sample_count: int | None = None
    work_path: str | None = None
    work_path_type: int | None = None
    inner_work_path: str | None = None
    inner_annotation_path: str | None = None
    inner_data_path: str | None = None
    inner_log_path: str | None = None
    inner_temp_path: str | None = None
    inner_task_path: str | None = None
    workspace_id: str | None = None
    enterprise_project_id: str | None = None
    exist_running_task: bool | None = None
    running_tasks_id: list[str] | None = None
    exist_workforce_task: bool | None = None
    workforce_task_count: int | None = None
    feature_supports: list[str] | None = None
    managed: bool | None = None
    import_data: bool | None = None
    import_task_id: str | None = None
    label_task_count: int | None = None
    dataset_format: int | None = None
    content_labeling: bool | None = None
    label_format: dict[str, Any] | None = None
    labels: list[LabelView] | None = None
    samples: list[AnnotationFile] | None = None
    annotated_sub_sample_count: int | None = None
    total_sub_sample_count: int | None = None
    loading_sample_count: int | None = None
    data_statistics: dict[str, Any] | None = None
    data_url: str | None = None
    dataset_tags: list[str] | None = None
    deletion_stats: dict[str, int] | None = None
    schema_: list[dict[str, Any]] | None = Field(None, alias="schema")
    third_path: str | None = None
    versions: list[dict[str, Any]] | None = None
    workforce_descriptor: dict[str, Any] | None = None


class ListDatasetsResp(ResponseModel):
    """16.1.1."""

    total_number: int
    datasets: list[DatasetAndFilePreview]


class DatasetStatsResp(ResponseModel):
    """16.1.6."""

    label_stats: list[LabelStats]
    grouped_label_stats: dict[str, list[LabelStats]] | None = None
    sample_stats: dict[str, int] | None = None
    key_sample_stats: dict[str, int] | None = None
    hard_detail_stats: dict[str, Any] | None = None
    metadata_stats: dict[str, Any] | None = None
    data_path: str | None = None
    data_splitting_enable: bool | None = None
