"""Dataset synchronization (reference 16.1.60, 16.1.61)."""

from __future__ import annotations

from typing import Literal

from modelworks.api.schemas.common import Int64, ResponseModel


class SyncDataResp(ResponseModel):
    """16.1.60 answers no body in the reference; the sync task's id is an extension a client may
    ignore."""

    task_id: str | None = None


class SyncDataStatusResp(ResponseModel):
    """16.1.61. Before any sync only ``dataset_id`` and ``status`` (``NOT_EXIST``) are answered.
    ``duration_time`` is in milliseconds, as ModelArts reports it."""

    dataset_id: str
    status: Literal["QUEUING", "STARTING", "RUNNING", "COMPLETED", "FAILED", "NOT_EXIST"]
    task_id: str | None = None
    create_time: Int64 | None = None
    duration_time: Int64 | None = None
    add_sample_count: Int64 | None = None
    deleted_sample_count: Int64 | None = None
    total_sample_count: Int64 | None = None
    error_code: str | None = None
    error_msg: str | None = None
