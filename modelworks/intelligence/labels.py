"""Writing what intelligent tasks predict: to-be-confirmed labels with their scores and hard-example
attributes into samples, the dataset's new label names, the output manifests, and attributes of
samples (auto grouping's groups).

Every write here happens once, at the end of a run, in one transaction: a task that stopped or failed
before leaves the dataset as it was. Samples a person labeled while the task ran are left alone.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, select

from modelworks.data.constants import OBJECT_DETECTION, STATUS_AUTO, STATUS_MANUAL
from modelworks.data.tables import Dataset, DatasetLabel, Sample, SampleLabel
from modelworks.db import now_ms
from modelworks.intelligence._run import Run
from modelworks.intelligence._samples import Item
from modelworks.jobs import TaskContext
from modelworks.storage import parse_obs_path

WRITE_CHUNK = 500
"""Samples locked and written per statement."""


@dataclass
class Prediction:
    """What the task writes for one sample."""

    sample_id: str
    labels: list[dict[str, Any]]
    hard: bool = False
    coefficient: float | None = None
    reasons: list[int] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)


def label_row(
    name: str, label_type: int, score: float, prop: dict[str, Any], hard: Prediction
) -> dict[str, Any]:
    """One predicted label of ``hard``'s sample, with the sample's hard-example attributes."""
    prop = dict(prop)
    if hard.coefficient is not None:
        prop["@modelarts:hard"] = "true" if hard.hard else "false"
        prop["@modelarts:hard_coefficient"] = f"{hard.coefficient:.4f}"
        if hard.reasons:
            prop["@modelarts:hard_reasons"] = "-".join(str(r) for r in hard.reasons)
    return {"name": name, "type": label_type, "score": round(float(score), 6), "property": prop}


def label_type_of(dataset_type: int) -> int:
    """The label type of predictions for a dataset of ``dataset_type`` (boxes for detection)."""
    return 1 if dataset_type == OBJECT_DETECTION else dataset_type


def write_auto_labels(ctx: TaskContext, run: Run, dataset_id: str, predictions: list[Prediction]) -> int:
    """Replace the pending auto labels of the predicted samples, in one transaction; returns how many
    samples were written (those a person labeled meanwhile are skipped).

    A stop request is honoured up to here. Nothing inside the transaction touches the task's row:
    on SQLite that would wait for the very write lock this transaction holds."""
    run.stage("write", 0.0)
    written = 0
    now = now_ms()
    with ctx.db.session() as session:
        for start in range(0, len(predictions), WRITE_CHUNK):
            chunk = predictions[start : start + WRITE_CHUNK]
            samples = {
                s.id: s
                for s in session.scalars(
                    select(Sample)
                    .where(Sample.id.in_([p.sample_id for p in chunk]), Sample.status != STATUS_MANUAL)
                    .with_for_update()
                )
            }
            session.execute(
                delete(SampleLabel).where(
                    SampleLabel.sample_id.in_(list(samples)), SampleLabel.annotated_by == "auto"
                )
            )
            rows = []
            for p in chunk:
                sample = samples.get(p.sample_id)
                if sample is None:
                    continue
                for label in p.labels:
                    rows.append(
                        SampleLabel(
                            sample_id=sample.id,
                            dataset_id=dataset_id,
                            annotated_by="auto",
                            labeler="auto",
                            created_at=now,
                            **label,
                        )
                    )
                meta = dict(sample.meta or {})
                meta.update(p.meta)
                if p.coefficient is not None:
                    sample.hard = 1 if p.hard else 0
                    sample.hard_coefficient = round(float(p.coefficient), 6)
                    meta["@modelarts:hard_reasons"] = list(p.reasons)
                sample.meta = meta
                sample.status = STATUS_AUTO if p.labels else sample.status
                sample.version += 1
                sample.update_time = now
                written += 1
            session.add_all(rows)
            session.flush()
        dataset = session.get(Dataset, dataset_id, with_for_update=True)
        if dataset is not None:
            dataset.data_update_time = now
    return written


def ensure_labels(ctx: TaskContext, dataset_id: str, names: set[str], label_type: int) -> None:
    """Add the predicted label names the dataset does not have yet."""
    with ctx.db.session() as session:
        known = set(session.scalars(select(DatasetLabel.name).where(DatasetLabel.dataset_id == dataset_id)))
        for name in sorted(names - known):
            session.add(DatasetLabel(dataset_id=dataset_id, name=name, type=label_type, property={}))


def write_attribute(ctx: TaskContext, values: dict[str, str], prop: str) -> None:
    """Set the sample attribute ``prop`` of each sample in ``values`` (sample id -> value), in one
    transaction."""
    with ctx.db.session() as session:
        ids = list(values)
        for start in range(0, len(ids), WRITE_CHUNK):
            for sample in session.scalars(
                select(Sample).where(Sample.id.in_(ids[start : start + WRITE_CHUNK])).with_for_update()
            ):
                sample.meta = {**(sample.meta or {}), prop: values[sample.id]}
                sample.version += 1
                sample.update_time = now_ms()


def _manifest_line(source: str, p: Prediction, usage: str = "INFERENCE") -> str:
    line: dict[str, Any] = {"source": source if source.startswith(("obs://", "s3://")) else "obs:/" + source}
    line["usage"] = usage
    if p.coefficient is not None:
        line["hard"] = "true" if p.hard else "false"
        line["hard-coefficient"] = round(float(p.coefficient), 4)
        if p.reasons:
            line["hard-reasons"] = list(p.reasons)
    line["annotation"] = [
        {
            "type": "modelarts/image_classification"
            if label["type"] == 0
            else "modelarts/text_classification"
            if label["type"] == 100
            else "modelarts/object_detection",
            "name": label["name"],
            "property": {k: v for k, v in label["property"].items() if not k.startswith("@modelarts:hard")},
            "confidence": label["score"],
            "annotated-by": "modelarts/active-learning",
        }
        for label in p.labels
    ]
    return json.dumps(line, ensure_ascii=False)


def write_outputs(
    ctx: TaskContext, config: dict[str, Any], items: list[Item], predictions: list[Prediction]
) -> dict[str, str]:
    """``annotation_output`` (all auto labels) and ``key_sample_output`` (hard examples) as manifests."""
    written: dict[str, str] = {}
    sources = {item.sample_id: item.source for item in items}
    for key, name, keep in (
        ("annotation_output", "auto_annotation.manifest", lambda p: True),
        ("key_sample_output", "hard_examples.manifest", lambda p: p.hard),
    ):
        raw = config.get(key)
        if not raw:
            continue
        target = parse_obs_path(str(raw), field=f"config.{key}").as_dir().join(name)
        lines = [_manifest_line(sources[p.sample_id], p) for p in predictions if keep(p)]
        ctx.store.write(target, ("\n".join(lines) + ("\n" if lines else "")).encode("utf-8"))
        written[key] = str(target)
    return written
