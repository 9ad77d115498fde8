"""``iter_records`` returns exactly the matching samples, oldest first, with their labels: on SQLite
paged by keyset, on PostgreSQL streamed through one server-side cursor. Checked against a plain
query, with the label filter in both forms (dataset-scoped IN and correlated EXISTS), over several
pages (and a page size that does not divide the count), and while labels change underneath."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from modelworks.data import search
from modelworks.data.tables import Sample, SampleLabel
from modelworks.db import Database
from modelworks.transfer.records import iter_records
from tests.data.test_sample_counts import _dataset, _ids, _insert, _relabel
from tests.data.test_sample_counts import db as db  # noqa: F401  (the migrated-database fixture)


def _labels_in_db(db: Database, dataset_id: str) -> dict[str, list[str]]:
    with db.session(readonly=True) as session:
        rows = session.execute(
            select(SampleLabel.sample_id, SampleLabel.name)
            .where(SampleLabel.dataset_id == dataset_id)
            .order_by(SampleLabel.id)
        )
        out: dict[str, list[str]] = {}
        for sample_id, name in rows:
            out.setdefault(sample_id, []).append(name)
        return out


@pytest.mark.parametrize("page", [7, 1000])
def test_records_are_the_matching_samples_in_order(db: Database, page: int) -> None:
    ds = _dataset(db, "records")
    other = _dataset(db, "other")
    _insert(db, ds, 0, 2300, {i: ["cat"] if i % 3 else ["dog", "cat"] for i in range(0, 2300, 2)})
    _insert(db, other, 0, 50, {i: ["cat"] for i in range(50)})
    ids = _ids(db, ds)  # oldest first
    labels = _labels_in_db(db, ds)
    with db.session(readonly=True) as session:
        names = dict(session.execute(select(Sample.id, Sample.name).where(Sample.dataset_id == ds)).all())
    condition = [{"label_list": {"labels": [{"name": "dog"}]}}]
    dogs = [i for i in ids if "dog" in labels.get(i, [])]
    assert 300 < len(dogs) < 500
    for where, expected in (
        ([], ids),
        ([search.any_of(condition, "search_conditions", ds)], dogs),  # dataset-scoped IN
        ([search.any_of(condition, "search_conditions")], dogs),  # correlated EXISTS
    ):
        records = list(iter_records(db, ds, where, page=page))
        assert [r.name for r in records] == [names[i] for i in expected]
        for record, sample_id in zip(records, expected, strict=True):
            assert sorted(a.name for a in record.annotations) == sorted(labels.get(sample_id, []))


def test_labels_changed_while_reading_do_not_break_the_read(db: Database) -> None:
    ds = _dataset(db, "moving")
    _insert(db, ds, 0, 1500, {i: ["cat"] for i in range(1500)})
    ids = _ids(db, ds)
    seen = 0
    for n, _record in enumerate(iter_records(db, ds, page=100)):
        if n == 150:  # mid-read, relabel samples not read yet and ones already read
            _relabel(db, ds, {sid: ["dog"] for sid in ids[100:110] + ids[1400:1410]})
        seen += 1
    assert seen == 1500
