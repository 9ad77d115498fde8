"""A search condition selects the same samples whether it runs as SQL over the dataset (an export of
the live dataset, the sample list) or as a test of records (an export of a published version, read
back from its manifest): both come from one definition per field (``data/_condition_fields.py``)."""

from __future__ import annotations

from typing import Any

import pytest

from modelworks.data import search
from modelworks.data.constants import STATE_TO_STATUS, status_for
from modelworks.data.tables import Sample, SampleLabel
from modelworks.db import Database
from modelworks.transfer.records import iter_records
from tests.data.test_sample_counts import _dataset
from tests.data.test_sample_counts import db as db  # noqa: F401  (the migrated-database fixture)

# (folder, hard, hard_coefficient, labels as (name, type, property, score, annotated_by))
_SAMPLES: list[tuple[str, int, float | None, list[tuple[str, int, dict[str, Any], float | None, str]]]] = [
    ("a", 0, None, []),
    ("a", 1, 0.9, [("cat", 0, {}, None, "human")]),
    ("a", 1, 0.2, [("dog", 1, {"color": "black", "size": 3}, 0.8, "auto")]),
    ("b", 0, 0.5, [("cat", 0, {"color": "white"}, 0.4, "human"), ("dog", 0, {}, 0.95, "auto")]),
    ("b", 0, None, [("dog", 1, {"size": 3}, None, "human")]),
    ("b", 1, 0.7, [("cat", 1, {"color": "black"}, 0.6, "auto")]),
]

_CONDITIONS: list[list[dict[str, Any]]] = [
    [],
    [{}],
    [{"label_list": {"labels": [{"name": "dog"}]}}],
    [{"label_list": {"labels": [{"name": "dog"}, {"name": "cat"}]}}],
    [{"label_list": {"op": "or", "labels": [{"name": "dog", "type": 1}, {"name": "cat", "type": 1}]}}],
    [{"label_list": {"labels": [{"property": {"color": "black"}}]}}],
    [{"label_list": {"labels": [{"property": {"color": ["black", "white"]}}]}}],
    [{"label_list": {"labels": [{"property": {"color": None}}]}}],
    [{"label_list": {"labels": [{"op": "OR", "property": {"color": "white", "size": "3"}}]}}],
    [{"label_list": {"labels": [{"property": {"color": "black", "size": "3"}}]}}],
    [{"sample_name": "img_3.jpg"}],
    [{"sample_dir": "/bucket/b/"}],
    [{"hard": True}],
    [{"hard": "0"}],
    [{"hard": "true"}],
    [{"score": "0.5-0.9"}],
    [{"score": 0.9}],
    [{"coefficient": "0.4-0.8"}],
    [{"sample_dir": "/bucket/a/", "hard": 1}],
    [{"sample_name": "img_0.jpg"}, {"label_list": {"labels": [{"name": "cat"}]}, "score": "0.5-1"}],
]


def _fill(db: Database, dataset_id: str) -> None:
    with db.session() as session:
        for i, (folder, hard, coefficient, labels) in enumerate(_SAMPLES):
            sample_id = f"{dataset_id}-{i}"
            session.add(
                Sample(
                    id=sample_id,
                    dataset_id=dataset_id,
                    source=f"/bucket/{folder}/img_{i}.jpg",
                    name=f"img_{i}.jpg",
                    sample_dir=f"/bucket/{folder}/",
                    hard=hard,
                    hard_coefficient=coefficient,
                    status=status_for(by for *_, by in labels),
                    create_time=1_700_000_000_000 + i,
                )
            )
            session.flush()
            for name, label_type, prop, score, by in labels:
                session.add(
                    SampleLabel(
                        sample_id=sample_id,
                        dataset_id=dataset_id,
                        name=name,
                        type=label_type,
                        property=prop,
                        score=score,
                        annotated_by=by,
                    )
                )


def test_conditions_and_states_select_the_same_samples_in_sql_and_as_record_tests(db: Database) -> None:
    ds = _dataset(db, "agreement")
    _fill(db, ds)
    records = list(iter_records(db, ds))
    assert len(records) == len(_SAMPLES)
    for conditions in _CONDITIONS:
        test = search.any_of_test(conditions)
        tested = [r.id for r in records if test(r)]
        for scope in (ds, None):
            where = [search.any_of(conditions, dataset_id=scope)]
            assert [r.id for r in iter_records(db, ds, where)] == tested, (conditions, scope)
    for state in [None, *STATE_TO_STATUS, "__UNCHECK__"]:
        state_test = search.state_test(state)
        tested = [r.id for r in records if state_test(r)]
        assert [r.id for r in iter_records(db, ds, [search.state_filter(state)])] == tested, state


def test_fields_a_version_does_not_carry_are_refused_for_record_tests() -> None:
    from modelworks.errors import InvalidTaskParameter

    with pytest.raises(InvalidTaskParameter, match="sample_time cannot filter"):
        search.any_of_test([{"sample_time": "day"}])
