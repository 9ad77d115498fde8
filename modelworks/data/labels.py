"""Dataset labels: create, modify (including renames), delete, with their effect on samples."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import delete, exists, func, select, update
from sqlalchemy.orm import Session, aliased

from modelworks.data.statuses import refresh_status
from modelworks.data.tables import Dataset, DatasetLabel, Sample, SampleLabel
from modelworks.errors import (
    InvalidArgument,
    LabelExists,
    LabelNotFound,
    LabelShortcutExists,
    ModelworksError,
)

_BAD_LABEL = re.compile(r"[<>=&\"']")
RENAME_KEY = "@modelarts:rename_to"


def label_view(label: DatasetLabel) -> dict[str, Any]:
    view: dict[str, Any] = {"name": label.name, "type": label.type, "property": label.property or {}}
    if label.attributes:
        view["attributes"] = label.attributes
    return view


def list_labels(session: Session, dataset: Dataset) -> list[DatasetLabel]:
    query = select(DatasetLabel).where(DatasetLabel.dataset_id == dataset.id).order_by(DatasetLabel.id)
    return list(session.scalars(query))


# Label types as the reference numbers them (``Label.type``).
LABEL_TYPES = (0, 1, 3, 100, 101, 102, 103, 200, 201, 202, 600)
# The label types a dataset type's labels may have; a type not listed (table 400, custom format 900)
# takes any label type.
_LABEL_TYPES_OF = {102: (102, 103), **{t: (t,) for t in (0, 1, 3, 100, 101, 200, 201, 202, 600)}}


def default_label_type(dataset: Dataset) -> int:
    return dataset.dataset_type if dataset.dataset_type in _LABEL_TYPES_OF else 0


def check_label_type(dataset: Dataset, label_type: Any, field: str, *, fit: bool = True) -> int:
    """The label type, if it is one of the reference's and (``fit``) fits the dataset's type: a label
    of type 1, object detection, has no meaning on an image classification dataset."""
    if isinstance(label_type, bool) or not isinstance(label_type, int) or label_type not in LABEL_TYPES:
        raise InvalidArgument(f"must be one of {', '.join(map(str, LABEL_TYPES))}", field=field)
    fitting = _LABEL_TYPES_OF.get(dataset.dataset_type, LABEL_TYPES)
    if fit and label_type not in fitting:
        raise InvalidArgument(
            f"label type {label_type} does not fit dataset type {dataset.dataset_type}"
            f" (expected {' or '.join(map(str, fitting))})",
            field=field,
        )
    return label_type


def _check_label(raw: dict[str, Any], field: str, dataset: Dataset) -> tuple[str, int, dict[str, Any], Any]:
    """``raw`` is a ``Label`` as sent (types already checked); the name's characters and the type's
    fit with the dataset are checked here, so that a batch answers per item."""
    name = raw["name"]
    if not name.strip() or _BAD_LABEL.search(name):
        raise InvalidArgument("must be 1 to 256 characters without <>=&\"'", field=f"{field}.name")
    label_type = check_label_type(dataset, raw.get("type", default_label_type(dataset)), f"{field}.type")
    return name, label_type, raw.get("property") or {}, raw.get("attributes")


def _find(session: Session, dataset: Dataset, name: str, label_type: int | None) -> DatasetLabel | None:
    query = select(DatasetLabel).where(DatasetLabel.dataset_id == dataset.id, DatasetLabel.name == name)
    if label_type is not None:
        query = query.where(DatasetLabel.type == label_type)
    return session.scalars(query).first()


def _result(errors: list[ModelworksError | None]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for err in errors:
        if err is None:
            out.append({"success": True})
        else:
            out.append({"success": False, "error_code": err.error_code, "error_msg": err.message})
    return out


def add_labels(
    session: Session,
    dataset: Dataset,
    items: list[dict[str, Any]],
    *,
    field: str = "labels",
    strict: bool = False,
) -> list[dict[str, Any]]:
    """Create labels. ``strict`` raises on the first bad item, else each item gets its own result."""
    errors: list[ModelworksError | None] = []
    for i, raw in enumerate(items):
        try:
            name, label_type, prop, attributes = _check_label(raw, f"{field}[{i}]", dataset)
            if _find(session, dataset, name, label_type) is not None:
                raise LabelExists(f"Label '{name}' already exists.")
            shortcut = prop.get("@modelarts:shortcut")
            if shortcut and any(
                (label.property or {}).get("@modelarts:shortcut") == shortcut
                for label in list_labels(session, dataset)
            ):
                raise LabelShortcutExists(f"Label shortcut '{shortcut}' already exists.")
            session.add(
                DatasetLabel(
                    dataset_id=dataset.id, name=name, type=label_type, property=prop, attributes=attributes
                )
            )
            session.flush()
            errors.append(None)
        except ModelworksError as err:
            if strict:
                raise
            errors.append(err)
    return _result(errors)


def update_labels(
    session: Session,
    dataset: Dataset,
    items: list[dict[str, Any]],
    *,
    field: str = "labels",
    strict: bool = False,
) -> list[dict[str, Any]]:
    errors: list[ModelworksError | None] = []
    for i, raw in enumerate(items):
        try:
            name, label_type, prop, attributes = _check_label(raw, f"{field}[{i}]", dataset)
            update_label(session, dataset, name, raw.get("type"), prop, attributes)
            errors.append(None)
        except ModelworksError as err:
            if strict:
                raise
            errors.append(err)
    return _result(errors)


def update_label(
    session: Session,
    dataset: Dataset,
    name: str,
    label_type: int | None,
    prop: dict[str, Any],
    attributes: list[Any] | None = None,
) -> DatasetLabel:
    """Merge ``prop`` into the label; ``@modelarts:rename_to`` renames it on every sample too."""
    label = _find(session, dataset, name, label_type)
    if label is None:
        raise LabelNotFound(f"Label '{name}' does not exist.")
    prop = dict(prop)
    new_name = prop.pop(RENAME_KEY, None)
    if new_name and new_name != label.name:
        if not isinstance(new_name, str) or _BAD_LABEL.search(new_name) or len(new_name) > 256:
            raise InvalidArgument("is not a valid label name", field=RENAME_KEY)
        if _find(session, dataset, new_name, label.type) is not None:
            raise LabelExists(f"Label '{new_name}' already exists.")
        session.execute(
            update(SampleLabel)
            .where(
                SampleLabel.dataset_id == dataset.id,
                SampleLabel.name == label.name,
                SampleLabel.type == label.type,
            )
            .values(name=new_name)
        )
        label.name = new_name
    label.property = {**(label.property or {}), **prop}
    if attributes is not None:
        label.attributes = attributes
    session.flush()
    return label


def delete_labels(
    session: Session,
    dataset: Dataset,
    items: list[dict[str, Any]],
    *,
    policy: int = 0,
    field: str = "labels",
    strict: bool = False,
) -> tuple[list[dict[str, Any]], list[Sample]]:
    """Delete labels. Policy 0 keeps samples; 1 and 2 also delete samples that carry only that label.

    Returns per-item results and the deleted samples (the caller removes their files for policy 2).
    """
    errors: list[ModelworksError | None] = []
    removed: list[Sample] = []
    for raw in items:
        try:
            removed.extend(
                delete_label(session, dataset, raw["name"], raw.get("type"), delete_samples=policy > 0)
            )
            errors.append(None)
        except ModelworksError as err:
            if strict:
                raise
            errors.append(err)
    return _result(errors), removed


def delete_label(
    session: Session, dataset: Dataset, name: str, label_type: int | None, *, delete_samples: bool
) -> list[Sample]:
    label = _find(session, dataset, name, label_type)
    if label is None:
        raise LabelNotFound(f"Label '{name}' does not exist.")
    removed: list[Sample] = []
    carrying = select(SampleLabel.sample_id).where(
        SampleLabel.dataset_id == dataset.id, SampleLabel.name == label.name, SampleLabel.type == label.type
    )
    if delete_samples:
        other = aliased(SampleLabel)
        only_this = (
            select(Sample)
            .where(Sample.dataset_id == dataset.id, Sample.id.in_(carrying))
            .where(
                ~exists().where(
                    other.sample_id == Sample.id, (other.name != label.name) | (other.type != label.type)
                )
            )
        )
        removed = list(session.scalars(only_this))
        for sample in removed:
            session.delete(sample)
        session.flush()
    affected = list(session.scalars(carrying.distinct()))
    session.execute(
        delete(SampleLabel).where(
            SampleLabel.dataset_id == dataset.id,
            SampleLabel.name == label.name,
            SampleLabel.type == label.type,
        )
    )
    session.delete(label)
    session.flush()
    refresh_status(session, affected)
    return removed


def label_counts(session: Session, dataset: Dataset) -> dict[tuple[str, int], tuple[int, int]]:
    """(name, type) -> (number of labels, number of samples carrying it), human/confirmed only."""
    rows = session.execute(
        select(SampleLabel.name, SampleLabel.type, func.count(), func.count(SampleLabel.sample_id.distinct()))
        .where(SampleLabel.dataset_id == dataset.id, SampleLabel.annotated_by != "auto")
        .group_by(SampleLabel.name, SampleLabel.type)
    ).all()
    return {(name, t): (count, samples) for name, t, count, samples in rows}
