"""The SQL building blocks of the sample filters, and the readers of a search condition's values.

Private to ``search`` and ``_condition_fields``: every value a filter takes is read (and refused with
``InvalidArgument`` naming its field) here, once, whichever way the filter is then evaluated.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, exists, select, true
from sqlalchemy.orm import aliased

from modelworks.data.tables import Sample, SampleLabel
from modelworks.db import now_ms
from modelworks.errors import InvalidArgument

_RANGE = re.compile(r"^\s*\[?\s*([0-9.]+)\s*[-,~]\s*([0-9.]+)\s*\]?\s*$")
_DAY_MS = 24 * 3600 * 1000
_SAMPLE_TIME = {"day": 1, "week": 7, "month": 30, "year": 365}
_MAX_MS = 2**62  # beyond any time, and within the 64-bit integers both databases bind
_DAYS = re.compile(r"^\s*(\d{8})\s*-\s*(\d{8})\s*$")


# -- values ------------------------------------------------------------------------------------------


def parse_range(value: str, field: str) -> tuple[float, float]:
    match = _RANGE.match(str(value))
    try:
        low, high = (float(match.group(1)), float(match.group(2))) if match else (float(value), 1.0)
    except ValueError as exc:
        raise InvalidArgument("must be a number or a range like 0.5-1", field=field) from exc
    if not (math.isfinite(low) and math.isfinite(high)):
        raise InvalidArgument("must be a finite number or range", field=field)
    return low, high


def text_of(raw: dict[str, Any], key: str, field: str) -> str | None:
    """A condition's string field (a number is taken as its text); anything else is refused."""
    value = raw.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise InvalidArgument("must be a string", field=f"{field}.{key}")
    return str(value)


def values_of(values: Any, field: str) -> list[str]:
    """A list of property values to match (one value alone is taken as a list of one)."""
    if isinstance(values, str | int | float) and not isinstance(values, bool):
        return [str(values)]
    if not isinstance(values, list) or not all(
        isinstance(v, str | int | float) and not isinstance(v, bool) for v in values
    ):
        raise InvalidArgument("must be a list of strings", field=field)
    return [str(v) for v in values]


def any_op(raw: dict[str, Any], field: str) -> bool:
    """Whether the object's ``op`` is OR (its parts are then ORed; AND, the default, ANDs them)."""
    op = raw.get("op") or "AND"
    if not isinstance(op, str) or op.upper() not in ("AND", "OR"):
        raise InvalidArgument("must be AND or OR", field=f"{field}.op")
    return op.upper() == "OR"


def object_of(raw: Any, field: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise InvalidArgument("must be an object", field=field)
    return raw


# -- SQL ---------------------------------------------------------------------------------------------


def labels_matching(
    label: Any, where: list[ColumnElement[bool]], dataset_id: str | None
) -> ColumnElement[bool]:
    """Samples having a label row (``label``, an alias of SampleLabel) that satisfies ``where``."""
    if dataset_id is not None:
        return Sample.id.in_(select(label.sample_id).where(label.dataset_id == dataset_id, *where))
    return exists().where(label.sample_id == Sample.id, label.dataset_id == Sample.dataset_id, *where)


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
    return labels_matching(label, where, dataset_id)


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
