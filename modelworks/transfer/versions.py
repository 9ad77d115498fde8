"""Dataset versions (reference 16.1.8–16.1.11): publishing a manifest snapshot of the samples.

Publishing runs as a background task ("publish"). It streams the samples, splits the labeled ones
into TRAIN/EVAL (``train_evaluate_sample_ratio``), and writes
``<inner_work_path>annotation/<version_name>/<version_name>.manifest`` (under a temporary prefix,
moved into place at the end). That manifest is the version's snapshot: later sample changes never
alter it, and exports of the version read it back through the manifest importer.
"""

from __future__ import annotations

import contextlib
import re
from collections import Counter
from collections.abc import Callable
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from modelworks.data.constants import SAMPLE_IMAGE, STATUS_MANUAL
from modelworks.data.datasets import get_dataset, inner_paths
from modelworks.data.indexing import UnreadableFile, image_size
from modelworks.data.labels import label_view, list_labels
from modelworks.data.tables import Dataset, DatasetVersion, Sample
from modelworks.db import Database, now_ms
from modelworks.errors import (
    DatasetVersionExists,
    DatasetVersionNotFound,
    InvalidArgument,
    InvalidTaskParameter,
    NotFound,
)
from modelworks.formats import Record, UniqueNames, exporter
from modelworks.jobs import TaskContext, TaskHandler, register, request_cancel, submit
from modelworks.storage import ObjectStore, ObsPath, parse_obs_path
from modelworks.transfer.records import (
    UsageSplit,
    clear_hard,
    count_samples,
    iter_records,
    labeled,
    mapped,
    parse_ratio,
    publish_output,
    status_of,
)

PUBLISH_KIND = "publish"
CREATING, NORMAL, DELETING, DELETED, ERROR = 0, 1, 2, 3, 4
VERSION_FORMATS = {"Default": 0, "CarbonData": 1, "CSV": 2}
_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
_BAD_DESCRIPTION = re.compile(r"[!<>=&\"']")


def _version_not_found(version_id: str) -> NotFound:
    return DatasetVersionNotFound(f"Dataset version '{version_id}' does not exist.")


def get_version(session: Session, dataset: Dataset, version_id: str) -> DatasetVersion:
    version = session.scalar(
        select(DatasetVersion).where(DatasetVersion.id == version_id, DatasetVersion.dataset_id == dataset.id)
    )
    if version is None:
        raise _version_not_found(version_id)
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
        data_path=str(_version_dir(dataset, name).join("data/")),
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


def _version_dir(dataset: Dataset, name: str) -> ObsPath:
    return parse_obs_path(inner_paths(dataset)["inner_annotation_path"]).join(f"{name}/")


# -- publishing --------------------------------------------------------------------------------------


class _Stats:
    """Counts a version reports, gathered while its records stream by."""

    def __init__(self) -> None:
        self.total = self.annotated = 0
        self.multi = False
        self.labels: Counter[tuple[str, int]] = Counter()
        self.samples: Counter[tuple[str, int]] = Counter()

    def add(self, record: Record) -> None:
        self.total += 1
        human = [a for a in record.annotations if a.annotated_by != "auto"]
        if status_of(record.annotations) == STATUS_MANUAL:
            self.annotated += 1
        self.multi = self.multi or len({a.name for a in human}) > 1
        for a in human:
            self.labels[(a.name, a.type)] += 1
        for key in {(a.name, a.type) for a in human}:
            self.samples[key] += 1

    def label_stats(self, labels: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out = []
        for label in labels:
            key = (label["name"], label["type"])
            out.append({**label, "count": self.labels.get(key, 0), "sample_count": self.samples.get(key, 0)})
        listed = {(label["name"], label["type"]) for label in labels}
        for name, label_type in sorted(set(self.labels) - listed):
            key = (name, label_type)
            out.append(
                {
                    "name": name,
                    "type": label_type,
                    "property": {},
                    "count": self.labels[key],
                    "sample_count": self.samples[key],
                }
            )
        return out


def publish_version(
    db: Database, store: ObjectStore, version_id: str, task_id: str, progress: Callable[..., None]
) -> dict[str, Any]:
    """Write the version's manifest and record its counts; the dataset's current version becomes it."""
    with db.session() as session:
        version = session.get(DatasetVersion, version_id)
        dataset = session.get(Dataset, version.dataset_id) if version else None
        if version is None or dataset is None:
            raise _version_not_found(version_id)
        labels = [label_view(label) for label in list_labels(session, dataset)]
        keep = not version.remove_sample_usage
        total = count_samples(session, dataset.id)
        to_split = count_samples(
            session, dataset.id, [labeled(), *([Sample.usage.is_(None)] if keep else [])]
        )
    final, temp = _version_dir(dataset, version.name), _temp_dir(dataset, task_id)
    store.delete_prefix(temp)
    split = UsageSplit(
        parse_ratio(version.train_evaluate_sample_ratio, "ratio"), to_split, version.id, keep_existing=keep
    )
    stats = _Stats()
    changed: dict[str, str | None] = {}
    used_names = UniqueNames()

    def step(record: Record) -> Record:
        before = record.usage
        split(record)
        if record.usage != before and record.id:
            changed[record.id] = record.usage
        if version.clear_hard_property:
            clear_hard(record)
        if version.export_images and not record.source.startswith("content://"):
            record.source = str(_copy_image(store, record, temp, final, used_names))
        stats.add(record)
        if stats.total % 500 == 0:
            progress(90.0 * stats.total / max(total, 1), finished_sample_count=stats.total)
        return record

    progress(0, total_sample_count=total, finished_sample_count=0)
    with used_names:
        summary = exporter("manifest").export(
            store,
            mapped(iter_records(db, dataset.id), step),
            temp,
            dataset_type=dataset.dataset_type,
            labels=labels,
            # temp is this task's own prefix, published in one move and deleted if the task fails.
            options={"name": version.name, "export_format": 2, "copy_data": False, "staging": True},
        )
    store.delete_prefix(final)  # a version deleted earlier may have had this name
    written = [f for f in publish_output(store, summary.index_files, temp, final) if f.endswith(".manifest")]
    manifest = written[0] if written else str(final.join(f"{version.name}.manifest"))
    _write_back_usage(db, dataset.id, changed)
    with db.session() as session:
        row = session.get(DatasetVersion, version_id)
        owner = session.get(Dataset, dataset.id)
        if row is None or owner is None:
            raise _version_not_found(version_id)
        row.status = NORMAL
        row.total_sample_count = stats.total
        row.annotated_sample_count = stats.annotated
        row.label_stats = stats.label_stats(labels)
        row.label_type = "multi" if stats.multi else "single"
        row.manifest_path = manifest
        row.updated_at = now_ms()
        owner.current_version_id, owner.current_version_name = row.id, row.name
    return {
        "total_sample_count": stats.total,
        "finished_sample_count": stats.total,
        "manifest_path": manifest,
    }


def _temp_dir(dataset: Dataset, task_id: str) -> ObsPath:
    return parse_obs_path(inner_paths(dataset)["inner_annotation_path"]).join(f".mw-publish-{task_id}/")


def _copy_image(
    store: ObjectStore, record: Record, temp: ObsPath, final: ObsPath, used: UniqueNames
) -> ObsPath:
    """Copy the record's file into the version's ``data/`` directory (``export_images``)."""
    source = parse_obs_path(record.source.split("#", 1)[0])
    if record.size is None and record.sample_type == SAMPLE_IMAGE:
        with contextlib.suppress(UnreadableFile):  # the manifest then goes without a size
            width, height, depth = image_size(store, source)
            record.size = (width, height, depth)
    name = source.name if used.add(source.name) else f"{(record.id or '')[:8]}_{source.name}"
    if name != source.name:
        used.add(name)
    store.copy(source, temp.join("data", name))
    return final.join("data", name)


def _write_back_usage(
    db: Database, dataset_id: str, changed: dict[str, str | None], chunk: int = 1000
) -> None:
    """Record the split on the samples themselves, so the next version can keep it."""
    by_usage: dict[str | None, list[str]] = {}
    for sample_id, usage in changed.items():
        by_usage.setdefault(usage, []).append(sample_id)
    for usage, ids in by_usage.items():
        for start in range(0, len(ids), chunk):
            with db.session() as session:
                session.execute(
                    update(Sample)
                    .where(Sample.dataset_id == dataset_id, Sample.id.in_(ids[start : start + chunk]))
                    .values(usage=usage)
                )


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
            ctx.store.delete_prefix(_temp_dir(dataset, ctx.task_id))


register(PublishTask())


def version_for_export(session: Session, project_id: str, dataset_id: str, version_id: str) -> DatasetVersion:
    dataset = get_dataset(session, project_id, dataset_id)
    version = get_version(session, dataset, version_id)
    if version.status != NORMAL or not version.manifest_path:
        raise InvalidTaskParameter(
            f"Dataset version '{version_id}' is not published yet.", field="version_id"
        )
    return version
