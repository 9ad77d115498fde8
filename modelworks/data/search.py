"""Sample filters: ``sample_state``, ``label_name``, score range and ``search_conditions``.

``search_conditions`` is a URL-encoded JSON list of SearchCondition objects (reference 16.1.58's
table); the conditions are ANDed (the export task ORs them: see ``any_of``).
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import ColumnElement, and_, exists, false, or_, select, true
from sqlalchemy.orm import aliased

from modelworks.data.constants import STATE_TO_STATUS, TEAM_STATES
from modelworks.data.tables import Sample, SampleLabel
from modelworks.db import now_ms
from modelworks.errors import InvalidArgument

_RANGE = re.compile(r"^\s*\[?\s*([0-9.]+)\s*[-,~]\s*([0-9.]+)\s*\]?\s*$")
_DAY_MS = 24 * 3600 * 1000
_SAMPLE_TIME = {"day": 1, "week": 7, "month": 30, "year": 365}
_MAX_MS = 2**62  # beyond any time, and within the 64-bit integers both databases bind
_DAYS = re.compile(r"^\s*(\d{8})\s*-\s*(\d{8})\s*$")
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
    try:
        low, high = (float(match.group(1)), float(match.group(2))) if match else (float(value), 1.0)
    except ValueError as exc:
        raise InvalidArgument("must be a number or a range like 0.5-1", field=field) from exc
    if not (math.isfinite(low) and math.isfinite(high)):
        raise InvalidArgument("must be a finite number or range", field=field)
    return low, high


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


def _text(raw: dict[str, Any], key: str, field: str) -> str | None:
    """A condition's string field (a number is taken as its text); anything else is refused."""
    value = raw.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise InvalidArgument("must be a string", field=f"{field}.{key}")
    return str(value)


def _values(values: Any, field: str) -> list[str]:
    """A list of property values to match (one value alone is taken as a list of one)."""
    if isinstance(values, str | int | float) and not isinstance(values, bool):
        return [str(values)]
    if not isinstance(values, list) or not all(
        isinstance(v, str | int | float) and not isinstance(v, bool) for v in values
    ):
        raise InvalidArgument("must be a list of strings", field=field)
    return [str(v) for v in values]


def _op(raw: dict[str, Any], field: str) -> str:
    op = raw.get("op") or "AND"
    if not isinstance(op, str) or op.upper() not in ("AND", "OR"):
        raise InvalidArgument("must be AND or OR", field=f"{field}.op")
    return op.upper()


def _search_label(raw: Any, field: str, dataset_id: str | None) -> ColumnElement[bool]:
    if not isinstance(raw, dict):
        raise InvalidArgument("must be an object", field=field)
    label = aliased(SampleLabel)
    where: list[ColumnElement[bool]] = []
    name = _text(raw, "name", field)
    if name is not None:
        where.append(label.name == name)
    if raw.get("type") is not None:
        label_type = raw["type"]
        if isinstance(label_type, bool) or not isinstance(label_type, int) or not 0 <= label_type < 2**31:
            raise InvalidArgument("must be a label type (an integer)", field=f"{field}.type")
        where.append(label.type == label_type)
    props = raw.get("property") or {}
    if not isinstance(props, dict):
        raise InvalidArgument("must be an object", field=f"{field}.property")
    prop_conds = []
    for key, values in props.items():
        expr = label.property[key].as_string()
        if values is None:
            prop_conds.append(label.property[key].as_string().is_not(None))
        else:
            prop_conds.append(or_(*[expr == v for v in _values(values, f"{field}.property.{key}")]))
    if prop_conds:
        where.append(or_(*prop_conds) if _op(raw, field) == "OR" else and_(*prop_conds))
    return _labels_matching(label, where, dataset_id)


def sample_time_filter(value: str, field: str) -> ColumnElement[bool]:
    """``sample_time`` of a search condition (the file's modification time, kept in ms):

    * ``day``, ``week``, ``month``, ``year``: the last 1, 7, 30 or 365 days up to now;
    * ``yyyyMMdd-yyyyMMdd`` (the reference's form): from the start of the first day to the end of the
      last, both included, in UTC (the reference's "at most 30 days" is not enforced);
    * ``<ms>-<ms>``: a range of timestamps in milliseconds, both included.
    """
    days = _SAMPLE_TIME.get(value)
    if days is not None:
        return Sample.sample_time >= now_ms() - days * _DAY_MS
    match = _DAYS.match(value)
    if match:
        try:
            first, last = (datetime.strptime(d, "%Y%m%d").replace(tzinfo=UTC) for d in match.groups())
        except ValueError as exc:
            raise InvalidArgument("must be yyyyMMdd-yyyyMMdd with real dates", field=field) from exc
        if last < first:
            raise InvalidArgument("the end date is before the start date", field=field)
        start = int(first.timestamp() * 1000)
        end = int((last + timedelta(days=1)).timestamp() * 1000)
        return (Sample.sample_time >= start) & (Sample.sample_time < end)
    low, high = parse_range(value, field)
    if not (-_MAX_MS <= low <= _MAX_MS and -_MAX_MS <= high <= _MAX_MS):
        raise InvalidArgument("must be day, month, yyyyMMdd-yyyyMMdd or a range in ms", field=field)
    return Sample.sample_time.between(int(low), int(high))


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
        conds.append(or_(*parts) if _op(label_list, f"{field}.label_list") == "OR" else and_(*parts))
    labeler = _text(raw, "labeler", field)
    if labeler is not None:
        label = aliased(SampleLabel)
        conds.append(
            or_(Sample.labeler == labeler, _labels_matching(label, [label.labeler == labeler], dataset_id))
        )
    sample_name = _text(raw, "sample_name", field)
    if sample_name is not None:
        conds.append(Sample.name == sample_name)
    sample_dir = _text(raw, "sample_dir", field)
    if sample_dir is not None:
        conds.append(Sample.sample_dir == sample_dir)
    sample_time = _text(raw, "sample_time", field)
    if sample_time is not None:
        conds.append(sample_time_filter(sample_time, f"{field}.sample_time"))
    score = _text(raw, "score", field)
    if score is not None:
        conds.append(score_filter(*parse_range(score, f"{field}.score"), dataset_id))
    hard = _text(raw, "hard", field) if not isinstance(raw.get("hard"), bool) else str(raw["hard"])
    if hard is not None:
        conds.append(Sample.hard == (1 if hard.lower() in ("1", "true") else 0))
    coefficient = _text(raw, "coefficient", field)
    if coefficient is not None:
        low, high = parse_range(coefficient, f"{field}.coefficient")
        conds.append(Sample.hard_coefficient.between(low, high))
    import_origin = _text(raw, "import_origin", field)
    if import_origin is not None:
        conds.append(Sample.meta["@modelarts:import_origin"].as_string() == import_origin)
    parent = _text(raw, "parent_sample_id", field)
    if parent is not None:
        conds.append(Sample.meta["parent_sample_id"].as_string() == parent)
    for key in _METADATA_KEYS:
        value = _text(raw, key, field)
        if value is not None:
            conds.append(Sample.meta[key].as_string() == value)
    metadata = raw.get("metadata")
    if metadata:
        if not isinstance(metadata, dict) or not isinstance(metadata.get("props") or {}, dict):
            raise InvalidArgument("must be an object with 'props'", field=f"{field}.metadata")
        parts = [
            or_(*[Sample.meta[k].as_string() == v for v in _values(vals, f"{field}.metadata.props.{k}")])
            if vals
            else Sample.meta[k].is_not(None)
            for k, vals in (metadata.get("props") or {}).items()
        ]
        if parts:
            conds.append(or_(*parts) if _op(metadata, f"{field}.metadata") == "OR" else and_(*parts))
    return and_(true(), *conds)


def parse_conditions(value: Any, field: str = "search_conditions") -> list[Any]:
    if value in (None, "", []):
        return []
    if isinstance(value, str):
        try:
            # orjson, as the request bodies (api/routing.py): deep nesting, lone surrogates and
            # NaN/Infinity are refused here instead of failing later as a 500.
            value = orjson.loads(value)
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
