"""Sample labels: checking labels sent by a client or read from a file, and replacing a sample's
labels with optimistic concurrency (``sample_version``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import case, delete, select
from sqlalchemy.orm import Session

from modelworks.data.labels import check_label_type
from modelworks.data.statuses import refresh_status
from modelworks.data.tables import Dataset, DatasetLabel, Sample, SampleLabel
from modelworks.db import now_ms
from modelworks.errors import (
    InvalidArgument,
    LabelNotFound,
    SampleLabelsUpdateFailed,
    SampleNotFound,
)

SHAPES = ("bndbox", "polygon", "circle", "line", "dashed", "point", "polyline")


def _check_feature(prop: dict[str, Any], field: str) -> None:
    shape = prop.get("@modelarts:shape")
    if shape not in SHAPES:
        raise InvalidArgument(f"must be one of {', '.join(SHAPES)}", field=f"{field}.@modelarts:shape")
    feature = prop.get("@modelarts:feature")
    points = feature if isinstance(feature, list) else None
    if shape == "circle" and isinstance(feature, list) and len(feature) == 3:
        return
    if not points or not all(
        isinstance(p, list) and len(p) == 2 and all(isinstance(v, int | float) for v in p) for p in points
    ):
        raise InvalidArgument("must be a list of [x, y] points", field=f"{field}.@modelarts:feature")
    if shape == "bndbox":
        if len(points) != 2:
            raise InvalidArgument(
                "a bndbox needs [[xmin, ymin], [xmax, ymax]]", field=f"{field}.@modelarts:feature"
            )
        (x1, y1), (x2, y2) = points
        if x1 > x2 or y1 > y2 or min(x1, y1) < 0:
            raise InvalidArgument(
                "a bndbox needs xmin <= xmax, ymin <= ymax, all >= 0", field=f"{field}.@modelarts:feature"
            )


def build_labels(
    dataset: Dataset,
    known: dict[str, DatasetLabel],
    raw_labels: Any,
    field: str,
    labeler: str | None,
    *,
    annotated_by_default: str = "human",
    fit: bool = False,
) -> list[dict[str, Any]]:
    """Validate sample labels; returns column values for SampleLabel rows (without sample ids).

    ``raw_labels`` may come from a file being imported, not only from a typed request: every field is
    checked here. A label's type must be one of the reference's; with ``fit`` (what a client sends)
    also one of the dataset's type. Imports (``transfer.record_samples``) leave ``fit`` off: they keep
    the types their files give, as they always have, rather than fail records of existing manifests."""
    if not isinstance(raw_labels, list):
        raise InvalidArgument("must be a list", field=field)
    out = []
    for i, raw in enumerate(raw_labels):
        f = f"{field}[{i}]"
        if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
            raise InvalidArgument("is required", field=f"{f}.name")
        label = known.get(raw["name"])
        if label is None:
            # A body's reference to a missing label: 400, with the label's own code.
            raise LabelNotFound(
                f"label '{raw['name']}' is not a label of this dataset", field=f"{f}.name", http_status=400
            )
        prop = raw.get("property") or {}
        if not isinstance(prop, dict):
            raise InvalidArgument("must be an object", field=f"{f}.property")
        label_type = check_label_type(dataset, raw.get("type", label.type), f"{f}.type", fit=fit)
        if label_type == 1 or "@modelarts:feature" in prop:
            _check_feature(prop, f"{f}.property")
        score = raw.get("score")
        if score is not None and (not isinstance(score, int | float) or not 0 <= score <= 1):
            raise InvalidArgument("must be a number in [0, 1]", field=f"{f}.score")
        annotated_by = raw.get("annotated_by") or annotated_by_default
        if annotated_by not in ("human", "auto"):
            raise InvalidArgument("must be 'human' or 'auto'", field=f"{f}.annotated_by")
        out.append(
            {
                "dataset_id": dataset.id,
                "name": label.name,
                "type": label_type,
                "property": prop,
                "score": float(score) if score is not None else None,
                "annotated_by": annotated_by,
                "labeler": labeler,
            }
        )
    return out


def known_labels(session: Session, dataset: Dataset) -> dict[str, DatasetLabel]:
    return {
        label.name: label
        for label in session.scalars(select(DatasetLabel).where(DatasetLabel.dataset_id == dataset.id))
    }


def update_sample_labels(
    session: Session, dataset: Dataset, body: dict[str, Any], labeler: str
) -> list[dict[str, Any]]:
    """Replace the labels of each listed sample, all or nothing. ``body`` is an ``UpdateSamplesReq``
    as sent (types and enums already checked).

    A sample item may carry ``sample_version`` (as read from the sample); if the sample changed
    since, nothing is written and 409 names the samples, so two labelers never silently overwrite
    each other.
    """
    items = body["samples"]
    labeler = body.get("email") or labeler
    known = known_labels(session, dataset)
    ids = [item["sample_id"] for item in items]
    found = {
        s.id: s
        for s in session.scalars(
            # In id order: label updates no longer exclude each other on the dataset row
            # (api/samples.py), and two of them locking shared samples in different orders would
            # deadlock; PostgreSQL locks the rows as the sort returns them.
            select(Sample)
            .where(Sample.dataset_id == dataset.id, Sample.id.in_(ids))
            .order_by(Sample.id)
            .with_for_update()
        )
    }
    stale = []
    for item in items:
        sample = found.get(item["sample_id"])
        if sample is None:
            raise SampleNotFound(f"Sample '{item['sample_id']}' does not exist.")
        version = item.get("sample_version")
        if version is not None and version != sample.version:
            stale.append(sample.id)
    if stale:
        raise SampleLabelsUpdateFailed(
            "samples changed since they were read (sample_version differs): " + ", ".join(stale)
        )
    now = now_ms()
    for i, item in enumerate(items):
        sample = found[item["sample_id"]]
        rows = build_labels(
            dataset, known, item.get("labels") or [], f"samples[{i}].labels", labeler, fit=True
        )
        session.execute(delete(SampleLabel).where(SampleLabel.sample_id == sample.id))
        session.add_all(SampleLabel(sample_id=sample.id, created_at=now, **row) for row in rows)
        if item.get("metadata"):
            apply_metadata(sample, item["metadata"])
        if item.get("sample_usage"):
            sample.usage = item["sample_usage"]
        sample.labeler = labeler
        sample.version += 1
        sample.update_time = now
    session.flush()
    refresh_status(session, ids)
    # Label updates of one dataset may commit in any order (they do not lock each other out on the
    # dataset row, see api/samples.py): the time only moves forward.
    dataset.data_update_time = case((Dataset.data_update_time < now, now), else_=Dataset.data_update_time)
    return [{"success": True, "sample_id": sid} for sid in ids]


def apply_metadata(sample: Sample, metadata: dict[str, Any]) -> None:
    meta = dict(sample.meta or {})
    for key, value in metadata.items():
        if key == "@modelarts:hard":
            sample.hard = 1 if str(value).lower() in ("1", "1.0", "true") else 0
        elif key == "@modelarts:hard_coefficient":
            sample.hard_coefficient = float(value) if value is not None else None
        else:
            meta[key] = value
    sample.meta = meta
