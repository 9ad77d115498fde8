"""Searching training jobs (5.14): filters, sorting and paging of ``POST .../training-job-searches``.

A filter is ``{"key": ..., "operator": ..., "value": [...]}``. Text keys take ``like`` (contains any
value, case-insensitive), ``in`` and ``not`` (equal to none); ``create_time`` takes ``between``
(``[from, to]`` in ms, either may be ""). Empty strings in ``value`` are ignored, and a filter left
with no values filters nothing, as consoles send unused filters that way.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, and_, false, func, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from modelworks.errors import (
    UnsupportedConditionKey,
    UnsupportedConditionOperator,
    UnsupportedConditionValue,
    UnsupportedSortBy,
)
from modelworks.training.tables import TrainingJob

TEXT_KEYS: dict[str, InstrumentedAttribute[Any]] = {
    "name": TrainingJob.name,
    "phase": TrainingJob.phase,
    "secondary_phase": TrainingJob.secondary_phase,
    "algorithm_name": TrainingJob.algorithm_name,
    "algorithm_id": TrainingJob.algorithm_id,
    "kind": TrainingJob.kind,
    "description": TrainingJob.description,
    "user_id": TrainingJob.user_id,
    "user_name": TrainingJob.user_name,
    "workspace_id": TrainingJob.workspace_id,
}
TIME_KEYS: dict[str, InstrumentedAttribute[int]] = {"create_time": TrainingJob.create_time}
SORT_KEYS: dict[str, InstrumentedAttribute[Any]] = {
    "create_time": TrainingJob.create_time,
    "update_time": TrainingJob.update_time,
    "name": TrainingJob.name,
    "phase": TrainingJob.phase,
}
MAX_MILLIS = 2**63 - 1


def _condition(i: int, item: dict[str, Any]) -> ColumnElement[bool] | None:
    field = f"filters[{i}]"
    key, operator, values = item.get("key"), item.get("operator"), item.get("value") or []
    if key in TEXT_KEYS:
        column = TEXT_KEYS[key]
        wanted = [str(v) for v in values if str(v) != ""]
        if operator not in ("like", "in", "not"):
            raise UnsupportedConditionOperator(
                f"operator {operator!r} does not apply to {key}; use like, in or not",
                field=f"{field}.operator",
            )
        if not wanted:
            return None
        if operator == "like":
            return or_(*(column.icontains(v, autoescape=True) for v in wanted))
        return column.in_(wanted) if operator == "in" else column.not_in(wanted)
    if key in TIME_KEYS:
        if operator != "between":
            raise UnsupportedConditionOperator(
                f"operator {operator!r} does not apply to {key}; use between",
                field=f"{field}.operator",
            )
        bounds = [str(v) for v in values] + ["", ""]
        try:
            low, high = (int(b) if b != "" else None for b in bounds[:2])
            if any(t is not None and abs(t) > MAX_MILLIS for t in (low, high)):
                raise ValueError(bounds)  # the database's integers end at 64 bits
        except ValueError as exc:
            raise UnsupportedConditionValue(
                "between takes [from, to] in milliseconds",
                field=f"{field}.value",
            ) from exc
        time_column = TIME_KEYS[key]
        conditions = []
        if low is not None:
            conditions.append(time_column >= low)
        if high is not None:
            conditions.append(time_column <= high)
        return and_(*conditions) if conditions else None
    known = ", ".join([*TEXT_KEYS, *TIME_KEYS])
    raise UnsupportedConditionKey(
        f"unsupported filter key {key!r}; supported: {known}",
        field=f"{field}.key",
    )


def search_jobs(session: Session, project_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """Paging and echo fields of the answer, plus ``rows``: the page of jobs (the router renders them).

    ``body`` is a validated ``JobSearches`` (``api/schemas/training/jobs.py``): types, the offset and
    limit bounds and the order were checked there; the keys and operators are checked here, with the
    reference's codes.
    """
    offset = body.get("offset") or 0
    limit = body.get("limit") or 10
    sort_by = body.get("sort_by") or "create_time"
    order = body.get("order") or "desc"
    if sort_by not in SORT_KEYS:
        raise UnsupportedSortBy(
            f"unsupported sort_by {sort_by!r}; supported: {', '.join(SORT_KEYS)}",
            field="sort_by",
        )
    filters = body.get("filters") or []
    base = select(TrainingJob).where(TrainingJob.project_id == project_id)
    workspace_id = body.get("workspace_id")
    if workspace_id:
        base = base.where(TrainingJob.workspace_id == str(workspace_id))
    if body.get("train_type") not in (None, "", "job"):
        base = base.where(false())  # fine-tuning jobs do not exist here
    query = base
    for i, item in enumerate(filters):
        condition = _condition(i, item)
        if condition is not None:
            query = query.where(condition)
    total = session.scalar(select(func.count()).select_from(base.subquery())) or 0
    count = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    column = SORT_KEYS[sort_by]
    query = query.order_by(column.asc() if order == "asc" else column.desc(), TrainingJob.id)
    return {
        "total": total,
        "count": count,
        "limit": limit,
        "offset": offset,
        "sort_by": sort_by,
        "order": order,
        "group_by": str(body.get("group_by") or ""),
        "workspace_id": str(workspace_id or "0"),
        "ai_project": "default-ai-project",
        "rows": list(session.scalars(query.offset(offset).limit(limit))),
    }
