"""Dataset versions (reference 16.1.8–16.1.11): a manifest snapshot of the samples.

Creating a version reserves it and queues its publishing as a background task ("publish",
``PublishTask`` below; the work is ``publishing.publish_version``). The manifest it writes is the
version's snapshot: later sample changes never alter it, and exports of the version read it back
through the manifest importer.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from modelworks.data.datasets import get_dataset
from modelworks.data.tables import Dataset, DatasetVersion
from modelworks.db import now_ms
from modelworks.errors import DatasetVersionExists, InvalidArgument, InvalidTaskParameter
from modelworks.jobs import TaskContext, TaskHandler, register, request_cancel, submit
from modelworks.transfer._versions import (
    CREATING,
    ERROR,
    NORMAL,
    publish_temp_dir,
    version_dir,
    version_not_found,
)
from modelworks.transfer.publishing import publish_version
from modelworks.transfer.steps import parse_ratio

PUBLISH_KIND = "publish"
VERSION_FORMATS = {"Default": 0, "CarbonData": 1, "CSV": 2}
_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
_BAD_DESCRIPTION = re.compile(r"[!<>=&\"']")


def get_version(session: Session, dataset: Dataset, version_id: str) -> DatasetVersion:
    version = session.scalar(
        select(DatasetVersion).where(DatasetVersion.id == version_id, DatasetVersion.dataset_id == dataset.id)
    )
    if version is None:
        raise version_not_found(version_id)
    return version


def _flag(body: dict[str, Any], key: str, default: bool) -> bool:
    value = body.get(key, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise InvalidArgument("must be true or false", field=key)
    return value


def create_version(
    session: Session, dataset: Dataset, body: dict[str, Any], *, queue: bool = True
) -> DatasetVersion:
    """Reserve the version (status creating) and queue its publishing; ``dataset`` is locked.

    ``queue=False`` leaves publishing to the caller (an export task publishing in its own run),
    so that no second publisher races it for the same version directory."""
    description = body.get("description") or ""
    if not isinstance(description, str) or len(description) > 256 or _BAD_DESCRIPTION.search(description):
        raise InvalidArgument("must be at most 256 characters without !<>=&\"'", field="description")
    version_format = body.get("version_format") or "Default"
    if version_format not in VERSION_FORMATS:
        raise InvalidArgument(f"must be one of {', '.join(VERSION_FORMATS)}", field="version_format")
    if version_format != "Default" and dataset.dataset_type != 400:
        raise InvalidArgument("CarbonData and CSV versions are for table datasets", field="version_format")
    ratio = body.get("train_evaluate_sample_ratio")
    ratio_text = "1.00" if ratio in (None, "") else str(ratio)
    parse_ratio(ratio_text, "train_evaluate_sample_ratio")
    taken = set(session.scalars(select(DatasetVersion.name).where(DatasetVersion.dataset_id == dataset.id)))
    name = body.get("version_name")
    number = dataset.next_version_num
    if name in (None, ""):
        while f"V{number:03d}" in taken:
            number += 1
        name = f"V{number:03d}"
    elif not isinstance(name, str) or not _NAME_RE.match(name):
        raise InvalidArgument("must be 1 to 32 letters, digits, underscores or hyphens", field="version_name")
    elif name in taken:
        raise DatasetVersionExists(f"Dataset version '{name}' already exists.")
    version = DatasetVersion(
        dataset_id=dataset.id,
        name=name,
        description=description,
        status=CREATING,
        version_format=version_format,
        train_evaluate_sample_ratio=ratio_text,
        remove_sample_usage=_flag(body, "remove_sample_usage", True),
        clear_hard_property=_flag(body, "clear_hard_property", True),
        export_images=_flag(body, "export_images", False),
        previous_version_id=dataset.current_version_id,
        data_path=str(version_dir(dataset, name).join("data/")),
    )
    session.add(version)
    dataset.next_version_num = number + 1
    session.flush()
    if not queue:
        return version
    task = submit(
        session,
        kind=PUBLISH_KIND,
        project_id=dataset.project_id,
        resource_type="dataset",
        resource_id=dataset.id,
        payload={"dataset_id": dataset.id, "version_id": version.id},
    )
    version.task_id = task.id
    return version


def list_versions(
    session: Session,
    dataset: Dataset,
    *,
    offset: int,
    limit: int,
    status: int | None = None,
    train_evaluate_ratio: str | None = None,
    version_format: int | None = None,
) -> tuple[int, list[DatasetVersion]]:
    query = select(DatasetVersion).where(DatasetVersion.dataset_id == dataset.id)
    if status is not None:
        query = query.where(DatasetVersion.status == status)
    if version_format is not None:
        names = [name for name, number in VERSION_FORMATS.items() if number == version_format]
        query = query.where(DatasetVersion.version_format.in_(names))
    rows = list(session.scalars(query.order_by(DatasetVersion.created_at.desc(), DatasetVersion.id.desc())))
    if train_evaluate_ratio:
        low_text, _, high_text = train_evaluate_ratio.partition(",")
        low = parse_ratio(low_text, "train_evaluate_ratio")
        high = parse_ratio(high_text or low_text, "train_evaluate_ratio")
        rows = [v for v in rows if low <= float(v.train_evaluate_sample_ratio) <= high]
    return len(rows), rows[offset : offset + limit]


def delete_version(session: Session, dataset: Dataset, version_id: str) -> None:
    """Remove the version; its files stay in storage (as in ModelArts), a running publish stops."""
    version = get_version(session, dataset, version_id)
    if version.status == CREATING and version.task_id:
        request_cancel(session, version.task_id)
    session.delete(version)
    session.flush()
    if dataset.current_version_id == version.id:
        latest = session.scalar(
            select(DatasetVersion)
            .where(DatasetVersion.dataset_id == dataset.id, DatasetVersion.status == NORMAL)
            .order_by(DatasetVersion.created_at.desc())
            .limit(1)
        )
        dataset.current_version_id = latest.id if latest else None
        dataset.current_version_name = latest.name if latest else None


def version_view(
    version: DatasetVersion, dataset: Dataset, previous: DatasetVersion | None
) -> dict[str, Any]:
    view: dict[str, Any] = {
        "version_id": version.id,
        "version_name": version.name,
        "version_format": version.version_format,
        "previous_version_id": version.previous_version_id,
        "status": version.status,
        "create_time": version.created_at,
        "update_time": version.updated_at,
        "total_sample_count": version.total_sample_count,
        "annotated_sample_count": version.annotated_sample_count,
        "total_sub_sample_count": 0,
        "annotated_sub_sample_count": 0,
        "add_sample_count": max(
            0, version.total_sample_count - (previous.total_sample_count if previous else 0)
        ),
        "deleted_sample_count": max(
            0, (previous.total_sample_count if previous else 0) - version.total_sample_count
        ),
        "modified_sample_count": 0,
        "previous_total_sample_count": previous.total_sample_count if previous else 0,
        "previous_annotated_sample_count": previous.annotated_sample_count if previous else 0,
        "manifest_path": version.manifest_path,
        "data_path": version.data_path,
        "is_current": dataset.current_version_id == version.id,
        "analysis_status": 0,
        "train_evaluate_sample_ratio": version.train_evaluate_sample_ratio,
        "remove_sample_usage": version.remove_sample_usage,
        "clear_hard_property": version.clear_hard_property,
        "export_images": version.export_images,
        "description": version.description,
        "label_stats": version.label_stats,
        "label_type": version.label_type,
        "task_type": dataset.dataset_type,
        "extract_serial_number": False,
        "include_dataset_data": False,
        "crop": False,
        "rotate": False,
        "data_validate": False,
        "start_processor_task": False,
        "with_column_header": True,
        "tags": [],
    }
    if version.message:
        view["message"] = version.message
    return view


def previous_of(session: Session, version: DatasetVersion) -> DatasetVersion | None:
    return session.get(DatasetVersion, version.previous_version_id) if version.previous_version_id else None


def version_for_export(session: Session, project_id: str, dataset_id: str, version_id: str) -> DatasetVersion:
    dataset = get_dataset(session, project_id, dataset_id)
    version = get_version(session, dataset, version_id)
    if version.status != NORMAL or not version.manifest_path:
        raise InvalidTaskParameter(
            f"Dataset version '{version_id}' is not published yet.", field="version_id"
        )
    return version


# -- the publish task --------------------------------------------------------------------------------


class PublishTask(TaskHandler):
    """Publishes one version; a failed publish leaves no files and marks the version failed (4)."""

    kind = PUBLISH_KIND

    def run(self, ctx: TaskContext) -> dict[str, Any]:
        return publish_version(ctx.db, ctx.store, ctx.payload["version_id"], ctx.task_id, ctx.progress)

    def on_failed(self, ctx: TaskContext, error: BaseException) -> None:
        with ctx.db.session() as session:
            version = session.get(DatasetVersion, ctx.payload["version_id"])
            dataset = session.get(Dataset, ctx.payload["dataset_id"])
            if version is not None:
                version.status = ERROR
                version.message = str(getattr(error, "message", None) or error)[:2000]
                version.updated_at = now_ms()
        if dataset is not None:
            ctx.store.delete_prefix(publish_temp_dir(dataset, ctx.task_id))


register(PublishTask())
