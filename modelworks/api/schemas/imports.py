"""Import tasks (reference 16.1.54–16.1.56)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field

from modelworks.api.schemas.common import Int32, Int64, RequestModel, ResponseModel
from modelworks.api.schemas.datasets import DataSource, DataSourceView, LabelFormat


class ImportLabel(RequestModel):
    """The reference's ``Label`` in ``included_labels`` / ``excluded_labels``: only ``name`` is used
    (the reference's own example lists bare names, which are accepted too)."""

    name: str | None = Field(None, max_length=256)
    type: Int32 | None = None
    property: dict[str, Any] | None = None
    attributes: list[dict[str, Any]] | None = None


def _named(value: Any) -> Any:
    return {"name": value} if isinstance(value, str) else value


LabelFilter = Annotated[ImportLabel, BeforeValidator(_named)]


class CreateImportTaskReq(RequestModel):
    """16.1.55. ``import_type`` also takes the integers 0 (dir) and 1 (manifest) that the task views
    show, as clients echo them back. ``import_origin`` other than ``obs`` is refused with 501 (no
    database sources here); ``import_folder``, ``import_samples``, ``label_format`` (the dataset's
    own label format is what the import reads), ``data_source`` (``import_path`` names what is
    imported) and ``with_column_header`` (table datasets) are accepted and have no effect."""

    import_path: str = Field(min_length=1, max_length=1024, description="Storage directory or manifest file")
    import_type: Literal["dir", "manifest", 0, 1, "0", "1"] | None = None
    import_origin: Literal["obs", "dws", "dli", "rds", "mrs", "inference"] | None = None
    import_annotations: bool | None = None
    final_annotation: bool | None = None
    difficult_only: bool | None = None
    included_labels: list[LabelFilter] | None = None
    excluded_labels: list[LabelFilter] | None = None
    import_folder: str | None = None
    import_samples: bool | None = None
    label_format: LabelFormat | None = None
    data_source: DataSource | None = None
    with_column_header: bool | None = None


class CreateImportTaskResp(ResponseModel):
    """16.1.55."""

    task_id: str


class FileCopyProgress(ResponseModel):
    file_num_finished: Int64 | None = None
    file_num_total: Int64 | None = None
    file_size_finished: Int64 | None = None
    file_size_total: Int64 | None = None


class ImportErrorFile(ResponseModel):
    """An extension: a file the import could not use, and why."""

    file: str
    reason: str


class ImportTaskStatusResp(ResponseModel):
    """16.1.56 (and the items of 16.1.54). ``progress`` and ``error_files`` are extensions.
    ``imported_sample_count`` counts every sample the task added, over all its attempts (a task
    resumed after a worker stopped goes on where it was). ``processor_task_*`` never appear: there
    are no preprocessing tasks here."""

    task_id: str
    dataset_id: str | None = None
    import_path: str | None = None
    import_type: Literal[0, 1] | None = None
    status: Literal["QUEUING", "STARTING", "RUNNING", "COMPLETED", "FAILED", "NOT_EXIST"]
    progress: float | None = None
    total_sample_count: Int64 | None = None
    imported_sample_count: Int64 | None = None
    annotated_sample_count: Int64 | None = None
    unconfirmed_sample_count: Int64 | None = None
    total_sub_sample_count: Int64 | None = None
    imported_sub_sample_count: Int64 | None = None
    total_file_count: Int64 | None = None
    finished_file_count: Int64 | None = None
    total_file_size: Int64 | None = None
    finished_file_size: Int64 | None = None
    file_statistics: FileCopyProgress | None = None
    data_source: DataSourceView | None = None
    create_time: Int64 | None = None
    update_ms: Int64 | None = None
    elapsed_time: Int64 | None = None
    processor_task_id: str | None = None
    processor_task_status: int | None = None
    error_code: str | None = None
    error_msg: str | None = None
    error_files: list[ImportErrorFile] | None = None


class ListImportTasksResp(ResponseModel):
    """16.1.54."""

    import_tasks: list[ImportTaskStatusResp]
    total_count: int
