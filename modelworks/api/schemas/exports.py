"""Export tasks (reference 16.1.57–16.1.59; the Chinese page of 16.1.58, seed 004, adds
``with_column_header``, ``dataset_id`` and ``dataset_type`` to the request)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field

from modelworks.api.routing import parse_json
from modelworks.api.schemas.common import Int32, Int64, RequestModel, ResponseModel

ExportType = Literal[0, 1, 2, 3]
"""0 labeled, 1 unlabeled, 2 all, 3 by condition (``sample_state``, ``samples``, ``search_conditions``)."""
ExportFormat = Literal[1, 2]
"""The exported directory's layout: 1 tree (``cat/1.jpg``, ``dog/2.jpg``), 2 tile (``1.jpg``, ``1.txt``)."""
VersionFormat = Literal["Default", "CarbonData", "CSV"]
"""CarbonData and CSV are the formats of table datasets (type 400)."""


def _number_as_text(value: Any) -> Any:
    return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


Text = Annotated[str, BeforeValidator(_number_as_text)]
"""A string the reference types as one, which clients also send as a number (``"hard": 1``)."""


def _condition_list(value: Any) -> Any:
    """``search_conditions`` as the samples query also takes them: one JSON-encoded string, or a
    single condition object."""
    if isinstance(value, str):
        if not value.strip():
            return []
        try:
            value = parse_json(value.encode())
        except ValueError as exc:
            raise ValueError("must be a JSON list of search conditions") from exc
    return [value] if isinstance(value, dict) else value


class SearchLabel(RequestModel):
    name: str | None = None
    op: Literal["OR", "AND", ""] | None = None
    property: dict[str, list[str] | None] | None = None
    type: Int32 | None = None


class SearchLabels(RequestModel):
    labels: list[SearchLabel] | None = None
    op: Literal["OR", "AND", ""] | None = None


class SearchProp(RequestModel):
    op: Literal["OR", "AND", ""] | None = None
    props: dict[str, list[str] | None] | None = None


class SearchCondition(RequestModel):
    """One search condition of an export; the conditions of a list are ORed. Values the reference
    types as strings also arrive as numbers from clients (``"hard": 1``): both are taken."""

    coefficient: Text | None = None
    frame_in_video: Int32 | None = None
    hard: Text | None = None
    import_origin: str | None = None
    kvp: str | None = None
    label_list: SearchLabels | None = None
    labeler: str | None = None
    metadata: SearchProp | None = None
    parent_sample_id: str | None = None
    sample_dir: str | None = None
    sample_name: str | None = None
    sample_time: str | None = None
    score: Text | None = None
    slice_thickness: Text | None = None
    study_date: str | None = None
    time_in_video: str | None = None


class ExportParams(RequestModel):
    """The reference's ``ExportParams``. ``search_conditions`` may also be one JSON-encoded string
    (as the samples query takes it). ``export_dataset_version_format`` is the format of the version
    published in the new dataset (``export_dataset_version_name``)."""

    clear_hard_property: bool | None = None
    export_dataset_version_format: VersionFormat | None = None
    export_dataset_version_name: str | None = Field(None, max_length=64)
    export_dest: Literal["DIR", "NEW_DATASET"] | None = None
    export_new_dataset_name: str | None = Field(None, max_length=100)
    export_new_dataset_work_path: str | None = Field(None, max_length=1024)
    ratio_sample_usage: bool | None = None
    sample_state: str | None = None
    samples: list[str] | None = None
    search_conditions: Annotated[list[SearchCondition], BeforeValidator(_condition_list)] | None = None
    train_sample_ratio: Text | None = None


class CreateExportTaskReq(RequestModel):
    """16.1.58.

    * ``annotation_format``: a format of the formats registry (``manifest``, the default, ``VOC`` or
      ``PASCAL VOC``, ``COCO``, ``YOLO``, ``folder``, ``text``); an unknown name is refused, listing them.
    * ``export_format`` 1 (tree) lays the exported data files out by label folder
      (``<path>/<label>/<file>``, unlabeled files at the top) beside the manifest that names them; 2
      (tile, the default) leaves the data where it is and writes the annotation files only. Formats
      with a layout of their own (VOC, COCO, YOLO) keep it.
    * ``version_format`` is checked (CarbonData and CSV are for table datasets only) and echoed:
      a dataset's own export is always written in ``annotation_format``.
    * ``with_column_header`` (write column names as the first CSV line, table datasets) is accepted
      and echoed: table datasets cannot be exported to a directory here, only to a new dataset,
      where their files are copied unchanged.
    * ``dataset_id``, ``dataset_type``, ``status`` and ``task_id`` appear in the reference's request
      table but describe the task; they are accepted and ignored.
    """

    annotation_format: str | None = Field(None, max_length=64)
    export_format: ExportFormat | None = None
    export_params: ExportParams | None = None
    export_type: ExportType | None = None
    path: str | None = Field(None, max_length=1024)
    sample_state: str | None = None
    source_type_header: Literal["obs://", "s3://", ""] | None = None
    version_format: VersionFormat | None = None
    version_id: str | None = Field(None, max_length=64)
    with_column_header: bool | None = None
    dataset_id: str | None = None
    dataset_type: Int32 | None = None
    status: Int32 | None = None
    task_id: str | None = None


class ExportParamsView(ResponseModel):
    """``ExportParams`` as a task echoes them, defaults filled in."""

    clear_hard_property: bool | None = None
    export_dataset_version_format: str | None = None
    export_dataset_version_name: str | None = None
    export_dest: str | None = None
    export_new_dataset_name: str | None = None
    export_new_dataset_work_path: str | None = None
    ratio_sample_usage: bool | None = None
    sample_state: str | None = None
    samples: list[str] | None = None
    search_conditions: list[dict[str, Any]] | None = None
    train_sample_ratio: str | None = None


class ExportTaskStatusResp(ResponseModel):
    """16.1.59 (also the answer of 16.1.58 and the items of 16.1.57). ``status`` is spelled as the
    reference's Chinese page spells it (``SUCCESSED``; the English table says SUCCEEDED).
    ``annotation_format`` and ``with_column_header`` are echoed as extensions."""

    task_id: str
    path: str | None = None
    export_type: ExportType | None = None
    export_format: ExportFormat | None = None
    annotation_format: str | None = None
    version_format: str | None = Field(
        None, description="Default, CarbonData or CSV (tasks queued before the check may echo another)"
    )
    version_id: str | None = None
    with_column_header: bool | None = None
    export_params: ExportParamsView | None = None
    status: Literal["INIT", "RUNNING", "FAILED", "SUCCESSED"]
    progress: float | None = None
    total_sample_count: Int64 | None = None
    finished_sample_count: Int64 | None = None
    create_time: Int64 | None = None
    update_time: Int64 | None = None
    error_code: str | None = None
    error_msg: str | None = None


class ListExportTasksResp(ResponseModel):
    """16.1.57."""

    export_tasks: list[ExportTaskStatusResp]
    total_count: int
