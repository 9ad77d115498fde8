"""Publishing a dataset version: its samples streamed into a manifest snapshot.

``publish_version`` streams the samples, splits the labeled ones into TRAIN/EVAL
(``train_evaluate_sample_ratio``), and writes
``<inner_work_path>annotation/<version_name>/<version_name>.manifest`` (under a temporary prefix,
moved into place at the end). The "publish" task that runs it is ``versions.PublishTask``.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Callable
from typing import Any

from sqlalchemy import update

from modelworks.data.constants import SAMPLE_IMAGE, STATUS_MANUAL, status_for
from modelworks.data.indexing import UnreadableFile, image_size
from modelworks.data.labels import label_view, list_labels
from modelworks.data.tables import Dataset, DatasetVersion, Sample
from modelworks.db import Database, now_ms
from modelworks.formats import Record, UniqueNames, exporter
from modelworks.storage import ObjectStore, ObsPath, parse_obs_path
from modelworks.transfer._versions import NORMAL, publish_temp_dir, version_dir, version_not_found
from modelworks.transfer.records import count_samples, iter_records
from modelworks.transfer.staging import publish_output
from modelworks.transfer.steps import UsageSplit, clear_hard, labeled, mapped, parse_ratio


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
        if status_for(a.annotated_by for a in record.annotations) == STATUS_MANUAL:
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
            raise version_not_found(version_id)
        labels = [label_view(label) for label in list_labels(session, dataset)]
        keep = not version.remove_sample_usage
        total = count_samples(session, dataset.id)
        to_split = count_samples(
            session, dataset.id, [labeled(), *([Sample.usage.is_(None)] if keep else [])]
        )
    final, temp = version_dir(dataset, version.name), publish_temp_dir(dataset, task_id)
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
            raise version_not_found(version_id)
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
