"""Adding samples in batches (base64 uploads or existing files) and deleting them."""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from modelworks.data.constants import SAMPLE_TEXT, sample_type_for
from modelworks.data.datasets import inner_paths
from modelworks.data.indexing import IndexedSample, UnreadableFile, index_file
from modelworks.data.ingest import insert_samples
from modelworks.data.sample_labels import apply_metadata, build_labels, known_labels
from modelworks.data.statuses import refresh_status
from modelworks.data.tables import Dataset, Sample, SampleLabel
from modelworks.db import now_ms
from modelworks.errors import (
    InvalidArgument,
    InvalidPath,
    ModelworksError,
    SampleExists,
    SampleNotFound,
    SampleUploadFailed,
)
from modelworks.storage import ObjectStore, parse_obs_path
from modelworks.storage.scoped import delete_sources, user_path

_BAD_NAME = re.compile(r"[!<>=&\"'/\\\x00]")


def _error(err: ModelworksError) -> dict[str, Any]:
    return {"success": False, "error_code": err.error_code, "error_msg": err.message}


def add_samples(
    session: Session, store: ObjectStore, dataset: Dataset, body: dict[str, Any], labeler: str
) -> dict[str, Any]:
    """Each item is uploaded (``data``, base64) into the dataset's data path, or refers to a stored
    file (``data_source.data_path``). Items fail one by one; a failed item writes nothing. ``body`` is
    an ``UploadSamplesReq`` as sent (types already checked)."""
    items = body["samples"]
    final = body.get("final_annotation", True) is not False
    data_dir = parse_obs_path(inner_paths(dataset)["inner_data_path"])
    known = known_labels(session, dataset)
    _authorize_sources(store, items)
    results: list[dict[str, Any]] = []
    for i, item in enumerate(items):
        field = f"samples[{i}]"
        written = None
        try:
            if item.get("sample_type") not in (None, sample_type_for(dataset.dataset_type)):
                raise InvalidArgument(
                    f"must be {sample_type_for(dataset.dataset_type)} for this dataset",
                    field=f"{field}.sample_type",
                )
            if item.get("data") is not None:
                name = item.get("name")
                # 255 bytes: the longest file name the local store's file systems take.
                if not name or len(name.encode()) > 255 or _BAD_NAME.search(name):
                    raise InvalidArgument(
                        "must be a file name of at most 255 bytes without !<>=&\"'/\\", field=f"{field}.name"
                    )
                try:
                    data = base64.b64decode(item["data"], validate=True)
                except (binascii.Error, ValueError) as exc:
                    raise InvalidArgument("must be base64", field=f"{field}.data") from exc
                path = data_dir.join(name)
                if store.exists(path):
                    raise SampleExists(
                        f"a file named '{name}' already exists in the dataset", field=f"{field}.name"
                    )
                store.write(path, data)
                written = path
            elif (item.get("data_source") or {}).get("data_path"):
                path = user_path(
                    store, item["data_source"]["data_path"], field=f"{field}.data_source.data_path"
                )
            else:
                raise InvalidArgument("needs 'data' or 'data_source.data_path'", field=field)
            info = store.stat(path)
            try:
                indexed = index_file(
                    store,
                    info,
                    dataset_id=dataset.id,
                    dataset_type=dataset.dataset_type,
                    root=path.parent,
                    with_labels=False,
                    label_format=dataset.label_format,
                    import_task_id=None,
                )
            except UnreadableFile as exc:
                raise SampleUploadFailed(str(exc), field=f"{field}.data") from exc
            labels = build_labels(
                dataset,
                known,
                item.get("labels") or [],
                f"{field}.labels",
                labeler,
                annotated_by_default="human" if final else "auto",
                fit=True,
            )
            ids = _insert(session, dataset, indexed, labels, item.get("metadata"), field)
            results.append(
                {"success": True, "sample_id": ids[0] if len(ids) == 1 else None, "sample_ids": ids}
            )
        except ModelworksError as err:
            if written is not None:
                store.delete(written)
            results.append(_error(err))
    return {"success": all(r["success"] for r in results), "results": results}


def _authorize_sources(store: ObjectStore, items: list[Any]) -> None:
    """A file in storage that the project may not read refuses the whole request (403 naming the
    field) before any sample is added; a malformed path stays that item's own error."""
    for i, item in enumerate(items):
        source = item.get("data_source") if isinstance(item, dict) else None
        raw = source.get("data_path") if isinstance(source, dict) else None
        if not raw:
            continue
        try:
            path = parse_obs_path(str(raw))
        except InvalidPath:
            continue
        store.authorize(path, field=f"samples[{i}].data_source.data_path")


def _insert(
    session: Session,
    dataset: Dataset,
    indexed: list[IndexedSample],
    labels: list[dict[str, Any]],
    metadata: Any,
    field: str,
) -> list[str]:
    with session.begin_nested():
        new = insert_samples(session, dataset, indexed)
        if new == 0:
            raise SampleExists("the sample already exists in the dataset", field=field)
        ids = [s.row["id"] for s in indexed]
        now = now_ms()
        for sid in ids:
            session.add_all(SampleLabel(sample_id=sid, created_at=now, **row) for row in labels)
        if metadata:
            for sample in session.scalars(select(Sample).where(Sample.id.in_(ids))):
                apply_metadata(sample, metadata)
        session.flush()
        refresh_status(session, ids)
    return ids


def delete_samples(
    session: Session, store: ObjectStore, dataset: Dataset, body: dict[str, Any]
) -> dict[str, Any]:
    ids = body["samples"]
    found = list(session.scalars(select(Sample).where(Sample.dataset_id == dataset.id, Sample.id.in_(ids))))
    found_ids = {s.id for s in found}
    results: list[dict[str, Any]] = []
    for sid in ids:
        if sid in found_ids:
            results.append({"success": True})
        else:
            results.append(
                {
                    "success": False,
                    "error_code": SampleNotFound.error_code,
                    "error_msg": f"Sample '{sid}' does not exist.",
                }
            )
    files = {s.source for s in found if s.sample_type != SAMPLE_TEXT}
    session.execute(delete(SampleLabel).where(SampleLabel.sample_id.in_(found_ids)))
    session.execute(delete(Sample).where(Sample.id.in_(found_ids)))
    dataset.deleted_sample_count += len(found_ids)
    dataset.data_update_time = now_ms()
    session.flush()
    if body.get("delete_source") and files:
        still_used = set(
            session.scalars(select(Sample.source).where(Sample.source.in_(files)).group_by(Sample.source))
        )
        delete_sources(store, files - still_used, field="delete_source")
    return {"success": all(r["success"] for r in results), "results": results}


def count_samples(session: Session, dataset: Dataset) -> int:
    return (
        session.scalar(select(func.count()).select_from(Sample).where(Sample.dataset_id == dataset.id)) or 0
    )
