"""Sample filters: ``sample_state``, ``label_name``, score range and ``search_conditions``.

``search_conditions`` is a URL-encoded JSON list of SearchCondition objects (reference 16.1.58's
table); the conditions are ANDed (the export task ORs them: see ``any_of``). Each field of a
condition is defined once, in ``_condition_fields``: as SQL for the samples in the database, and as a
test of the samples read back from a published version's manifest (``any_of_test``), which an export
of that version filters without the database.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson
from sqlalchemy import ColumnElement, and_, exists, false, or_, select, true
from sqlalchemy.orm import aliased

from modelworks.data._condition_fields import Match, SampleTest, SearchedSample, condition_fields
from modelworks.data._sample_filters import object_of, parse_range, sample_time_filter, score_filter
from modelworks.data.constants import STATE_TO_STATUS, TEAM_STATES, status_for
from modelworks.data.tables import Sample, SampleLabel
from modelworks.errors import InvalidArgument, InvalidTaskParameter

__all__ = [
    "SampleTest",
    "SearchedSample",
    "all_of",
    "any_of",
    "any_of_test",
    "check_testable",
    "label_filter",
    "parse_conditions",
    "parse_range",
    "sample_time_filter",
    "score_filter",
    "state_filter",
    "state_test",
]


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


def state_test(sample_state: str | None) -> SampleTest:
    """``state_filter`` as a test of a ``SearchedSample`` (whose status its labels make); a state
    ``state_filter`` refuses selects nothing here."""
    if not sample_state:
        return lambda sample: True
    status = STATE_TO_STATUS.get(sample_state)
    if status is None:
        return lambda sample: False
    return lambda sample: status_for(label.annotated_by for label in sample.annotations) == status


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


def _matches(raw: Any, field: str, dataset_id: str | None) -> list[Match]:
    """What each field of one condition selects (the fields it leaves out select everything)."""
    condition = object_of(raw, field)
    matches = (entry.read(condition, field, dataset_id) for entry in condition_fields.values())
    return [match for match in matches if match is not None]


def _condition(raw: Any, field: str, dataset_id: str | None) -> ColumnElement[bool]:
    return and_(true(), *[match.sql for match in _matches(raw, field, dataset_id)])


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


def check_testable(conditions: list[Any], field: str = "search_conditions") -> None:
    """Refuse conditions on fields that the samples of a published version (records read back from
    its manifest) do not carry: ``InvalidTaskParameter`` naming them and the fields that can be used."""
    known = ", ".join(sorted(name for name, entry in condition_fields.items() if entry.in_manifests))
    for i, condition in enumerate(conditions):
        if not isinstance(condition, dict):
            raise InvalidArgument("must be an object", field=f"{field}[{i}]")
        unknown = sorted(
            key
            for key, value in condition.items()
            if value not in (None, "")
            and not (key in condition_fields and condition_fields.get(key).in_manifests)
        )
        if unknown:
            raise InvalidTaskParameter(
                f"{', '.join(unknown)} cannot filter a dataset version's samples; use {known}",
                field=f"{field}[{i}]",
            )


def any_of_test(conditions: list[Any], field: str = "search_conditions") -> SampleTest:
    """``any_of`` as a test of a ``SearchedSample`` (no conditions: every sample passes); the
    conditions are read once, here, and refused as ``check_testable`` refuses them."""
    check_testable(conditions, field)
    tests = [_tests(_matches(c, f"{field}[{i}]", None)) for i, c in enumerate(conditions)]
    if not tests:
        return lambda sample: True
    return lambda sample: any(all(test(sample) for test in each) for each in tests)


def _tests(matches: Iterable[Match]) -> list[SampleTest]:
    tests = []
    for match in matches:
        assert match.test is not None, "check_testable lets through only fields with a test"
        tests.append(match.test)
    return tests
