"""Sample filters: ``sample_state``, ``label_name``, score range and ``search_conditions``.

``search_conditions`` is a URL-encoded JSON list of SearchCondition objects (reference 16.1.58's
table); the conditions are ANDed (the export task ORs them: see ``any_of``).
"""

from __future__ import annotations

import json
import re
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, false, or_, select, true
from sqlalchemy.orm import aliased

from modelworks.data.constants import STATE_TO_STATUS, TEAM_STATES
from modelworks.data.models import Sample, SampleLabel
from modelworks.db import now_ms
from modelworks.errors import InvalidArgument

_RANGE = re.compile(r"^\s*\[?\s*([0-9.]+)\s*[-,~]\s*([0-9.]+)\s*\]?\s*$")
_DAY_MS = 24 * 3600 * 1000
_SAMPLE_TIME = {"day": 1, "week": 7, "month": 30, "year": 365}
_METADATA_KEYS = ("kvp", "slice_thickness", "study_date", "time_in_video", "frame_in_video")


def state_filter(sample_state: str | None) -> ColumnElement[bool]:
    if not sample_state:
        return true()
    if sample_state in STATE_TO_STATUS:
        return Sample.status == STATE_TO_STATUS[sample_state]
    if sample_state in TEAM_STATES:
        # Team labeling is not part of Modelworks yet: no sample is in a review state.
        return false()
    known = ", ".join([*STATE_TO_STATUS, *sorted(TEAM_STATES)])
    raise InvalidArgument(f"unknown state '{sample_state}'; known: {known}", field="sample_state")


def label_filter(
    name: str, label_type: int | None = None, dataset_id: str | None = None
) -> ColumnElement[bool]:
    """Samples carrying the label. With ``dataset_id`` it is an IN over the (dataset_id, name,
    sample_id) index, which both databases answer from the index alone."""
    if dataset_id is not None:
        ids = select(SampleLabel.sample_id).where(
            SampleLabel.dataset_id == dataset_id, SampleLabel.name == name
        )
        if label_type is not None:
            ids = ids.where(SampleLabel.type == label_type)
        return Sample.id.in_(ids)
    label = aliased(SampleLabel)
    where = [label.sample_id == Sample.id, label.dataset_id == Sample.dataset_id, label.name == name]
    if label_type is not None:
        where.append(label.type == label_type)
    return exists().where(*where)


def parse_range(value: str, field: str) -> tuple[float, float]:
    match = _RANGE.match(str(value))
    if match:
        return float(match.group(1)), float(match.group(2))
    try:
        low = float(value)
    except ValueError as exc:
        raise InvalidArgument("must be a number or a range like 0.5-1", field=field) from exc
    return low, 1.0


def score_filter(low: float | None, high: float | None, dataset_id: str | None = None) -> ColumnElement[bool]:
    """Samples with a label scored in [low, high]. With ``dataset_id`` it is a dataset-scoped IN
    (evaluated once over the label index), not an EXISTS run for every sample."""
    if low is None and high is None:
        return true()
    label = aliased(SampleLabel)
    where: list[ColumnElement[bool]] = [label.score.is_not(None)]
    if low is not None:
        where.append(label.score >= low)
    if high is not None:
        where.append(label.score <= high)
    return _labels_matching(label, where, dataset_id)


def _labels_matching(
    label: Any, where: list[ColumnElement[bool]], dataset_id: str | None
) -> ColumnElement[bool]:
    """Samples having a label row (``label``, an alias of SampleLabel) that satisfies ``where``."""
    if dataset_id is not None:
        return Sample.id.in_(select(label.sample_id).where(label.dataset_id == dataset_id, *where))
    return exists().where(label.sample_id == Sample.id, label.dataset_id == Sample.dataset_id, *where)


def _search_label(raw: Any, field: str, dataset_id: str | None) -> ColumnElement[bool]:
    if not isinstance(raw, dict):
        raise InvalidArgument("must be an object", field=field)
    label = aliased(SampleLabel)
    where: list[ColumnElement[bool]] = []
    if raw.get("name"):
        where.append(label.name == str(raw["name"]))
    if raw.get("type") is not None:
        where.append(label.type == int(raw["type"]))
    props = raw.get("property") or {}
    if not isinstance(props, dict):
        raise InvalidArgument("must be an object", field=f"{field}.property")
    prop_conds = []
    for key, values in props.items():
        expr = label.property[key].as_string()
        if values is None:
            prop_conds.append(label.property[key].as_string().is_not(None))
        else:
            prop_conds.append(or_(*[expr == str(v) for v in values]))
    if prop_conds:
        where.append(or_(*prop_conds) if raw.get("op") == "OR" else and_(*prop_conds))
    return _labels_matching(label, where, dataset_id)


def _condition(raw: Any, field: str, dataset_id: str | None) -> ColumnElement[bool]:
    if not isinstance(raw, dict):
        raise InvalidArgument("must be an object", field=field)
    conds: list[ColumnElement[bool]] = []
    label_list = raw.get("label_list")
    if label_list:
        items = label_list.get("labels") if isinstance(label_list, dict) else None
        if not isinstance(items, list):
            raise InvalidArgument("must be an object with 'labels'", field=f"{field}.label_list")
        parts = [
            _search_label(item, f"{field}.label_list.labels[{i}]", dataset_id) for i, item in enumerate(items)
        ]
        conds.append(or_(*parts) if label_list.get("op") == "OR" else and_(*parts))
    if raw.get("labeler"):
        label = aliased(SampleLabel)
        conds.append(
            or_(
                Sample.labeler == raw["labeler"],
                _labels_matching(label, [label.labeler == raw["labeler"]], dataset_id),
            )
        )
    if raw.get("sample_name"):
        conds.append(Sample.name == raw["sample_name"])
    if raw.get("sample_dir"):
        conds.append(Sample.sample_dir == raw["sample_dir"])
    if raw.get("sample_time"):
        days = _SAMPLE_TIME.get(str(raw["sample_time"]))
        if days is None:
            low_s, high_s = parse_range(raw["sample_time"], f"{field}.sample_time")
            conds.append(Sample.sample_time.between(int(low_s), int(high_s)))
        else:
            conds.append(Sample.sample_time >= now_ms() - days * _DAY_MS)
    if raw.get("score") not in (None, ""):
        conds.append(score_filter(*parse_range(raw["score"], f"{field}.score"), dataset_id))
    if raw.get("hard") not in (None, ""):
        hard = str(raw["hard"]).lower() in ("1", "true")
        conds.append(Sample.hard == (1 if hard else 0))
    if raw.get("coefficient") not in (None, ""):
        low, high = parse_range(raw["coefficient"], f"{field}.coefficient")
        conds.append(Sample.hard_coefficient.between(low, high))
    if raw.get("import_origin") not in (None, ""):
        conds.append(Sample.meta["@modelarts:import_origin"].as_string() == str(raw["import_origin"]))
    if raw.get("parent_sample_id"):
        conds.append(Sample.meta["parent_sample_id"].as_string() == str(raw["parent_sample_id"]))
    for key in _METADATA_KEYS:
        if raw.get(key) not in (None, ""):
            conds.append(Sample.meta[key].as_string() == str(raw[key]))
    metadata = raw.get("metadata")
    if metadata:
        if not isinstance(metadata, dict) or not isinstance(metadata.get("props", {}), dict):
            raise InvalidArgument("must be an object with 'props'", field=f"{field}.metadata")
        parts = [
            or_(*[Sample.meta[k].as_string() == str(v) for v in (vals or [])])
            if vals
            else Sample.meta[k].is_not(None)
            for k, vals in metadata.get("props", {}).items()
        ]
        if parts:
            conds.append(or_(*parts) if metadata.get("op") == "OR" else and_(*parts))
    return and_(true(), *conds)


def parse_conditions(value: Any, field: str = "search_conditions") -> list[Any]:
    if value in (None, "", []):
        return []
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise InvalidArgument("must be a JSON list of search conditions", field=field) from exc
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list):
        raise InvalidArgument("must be a list of search conditions", field=field)
    return value


def all_of(
    conditions: list[Any], field: str = "search_conditions", dataset_id: str | None = None
) -> ColumnElement[bool]:
    """All conditions hold. Pass ``dataset_id`` (the samples' dataset) whenever the query is scoped to
    one dataset: label conditions then become IN over the label index instead of a per-sample EXISTS."""
    return and_(true(), *[_condition(c, f"{field}[{i}]", dataset_id) for i, c in enumerate(conditions)])


def any_of(
    conditions: list[Any], field: str = "search_conditions", dataset_id: str | None = None
) -> ColumnElement[bool]:
    """Any condition holds; ``dataset_id`` as for ``all_of``."""
    if not conditions:
        return true()
    return or_(*[_condition(c, f"{field}[{i}]", dataset_id) for i, c in enumerate(conditions)])
