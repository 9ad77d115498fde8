"""Sample totals stay exact through every kind of write, on SQLite (counts kept by the triggers of
migration 0009) and PostgreSQL (deltas appended by the triggers of migration 0010, compacted by the
readers); label filters scoped to the dataset match what they did.

Service level, on a migrated database: the listing totals and the dataset statistics are compared,
after each write, with a plain ``count(*)`` of the samples.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import delete, func, select, text, update

from modelworks.data import search
from modelworks.data.constants import STATE_TO_STATUS
from modelworks.data.indexing import IndexedSample
from modelworks.data.ingest import insert_samples
from modelworks.data.labels import add_labels, delete_labels
from modelworks.data.sample_labels import update_sample_labels
from modelworks.data.samples import list_samples, sample_id_for
from modelworks.data.stats import dataset_stats
from modelworks.data.statuses import compact_status_deltas, status_counts
from modelworks.data.tables import Dataset, Sample
from modelworks.db import Database
from modelworks.transfer.records import count_samples, iter_records
from modelworks.transfer.steps import labeled

STATES = (None, *STATE_TO_STATUS)


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    database.migrate()
    try:
        yield database
    finally:
        database.dispose()


def _dataset(db: Database, name: str) -> str:
    with db.session() as session:
        dataset = Dataset(project_id="p1", name=name, work_path="/bucket/out/")
        session.add(dataset)
        session.flush()
        add_labels(session, dataset, [{"name": "cat"}, {"name": "dog"}])
        return dataset.id


def _insert(db: Database, dataset_id: str, first: int, count: int, labels: dict[int, list[str]]) -> None:
    with db.session() as session:
        dataset = session.get(Dataset, dataset_id)
        assert dataset is not None
        items = []
        for i in range(first, first + count):
            source = f"obs://bucket/{dataset_id}/img_{i:04d}.jpg"
            row = {
                "id": sample_id_for(dataset_id, source),
                "dataset_id": dataset_id,
                "source": source,
                "name": f"img_{i:04d}.jpg",
                "sample_dir": f"obs://bucket/{dataset_id}/",
                "sample_type": 0,
                "size": 10,
                "sample_time": 1_700_000_000_000 + i,
                "create_time": 1_700_000_000_000 + i,
            }
            items.append(IndexedSample(row, labels.get(i, [])))
        insert_samples(session, dataset, items)


def _ids(db: Database, dataset_id: str) -> list[str]:
    with db.session(readonly=True) as session:
        query = select(Sample.id).where(Sample.dataset_id == dataset_id).order_by(Sample.create_time)
        return list(session.scalars(query))


def _check(db: Database, dataset_id: str, *, migrated: bool = True) -> dict[str | None, int]:
    """Every state's listing total and statistics equal count(*); returns the totals. ``migrated``:
    the schema has migrations 0009 and 0010."""
    totals: dict[str | None, int] = {}
    with db.session(readonly=True) as session:
        dataset = session.get(Dataset, dataset_id)
        assert dataset is not None
        kept = status_counts(session, dataset_id)
        assert (kept is not None) == migrated
        for state in STATES:
            counted = count_samples(session, dataset_id, [search.state_filter(state)])
            total, rows = list_samples(session, dataset, offset=0, limit=100, sample_state=state)
            assert total == counted, state
            assert len(rows) == min(counted, 100)
            stats = dataset_stats(session, dataset, state)["sample_stats"]
            assert stats["total"] == counted, state
            totals[state] = total
        by_status = dict(
            session.execute(
                select(Sample.status, func.count())
                .where(Sample.dataset_id == dataset_id)
                .group_by(Sample.status)
            ).all()
        )
        if kept is not None:
            assert kept == by_status
    return totals


def _relabel(db: Database, dataset_id: str, changes: dict[str, list[str]]) -> None:
    with db.session() as session:
        dataset = session.get(Dataset, dataset_id)
        assert dataset is not None
        body: dict[str, Any] = {
            "samples": [
                {"sample_id": sid, "labels": [{"name": name} for name in names]}
                for sid, names in changes.items()
            ]
        }
        update_sample_labels(session, dataset, body, "labeler@example.com")


def test_totals_stay_exact_through_every_write(db: Database) -> None:
    ds = _dataset(db, "one")
    other = _dataset(db, "two")
    assert _check(db, ds) == {None: 0, "__ALL__": 0, "__NONE__": 0, "__AUTO_ANNOTATION__": 0}

    _insert(db, ds, 0, 30, {i: ["cat"] for i in range(10)})
    _insert(db, other, 0, 7, {0: ["dog"]})
    assert _check(db, ds) == {None: 30, "__ALL__": 10, "__NONE__": 20, "__AUTO_ANNOTATION__": 0}
    assert _check(db, other)[None] == 7

    # Label updates: unlabeled -> labeled, labeled -> unlabeled, labeled -> labeled (no change).
    ids = _ids(db, ds)
    _relabel(db, ds, {ids[20]: ["dog"], ids[21]: ["cat", "dog"], ids[0]: [], ids[1]: ["dog"]})
    assert _check(db, ds) == {None: 30, "__ALL__": 11, "__NONE__": 19, "__AUTO_ANNOTATION__": 0}

    # A status written directly (as an intelligent task's pre-labels do) and a deletion in SQL.
    with db.session() as session:
        session.execute(update(Sample).where(Sample.id.in_(ids[25:28])).values(status="AUTO_ANNOTATION"))
        session.execute(delete(Sample).where(Sample.id.in_(ids[28:30])))
    assert _check(db, ds) == {None: 28, "__ALL__": 11, "__NONE__": 14, "__AUTO_ANNOTATION__": 3}

    # Deleting a label refreshes the status of the samples that carried it.
    with db.session() as session:
        dataset = session.get(Dataset, ds)
        assert dataset is not None
        delete_labels(session, dataset, [{"name": "cat"}])
    totals = _check(db, ds)
    assert totals[None] == 28
    assert totals["__ALL__"] == 3  # ids[1], ids[20] and ids[21] keep a dog
    # A write that fails leaves the counts as they were.
    with pytest.raises(RuntimeError), db.session() as session:
        session.execute(delete(Sample).where(Sample.dataset_id == ds))
        raise RuntimeError("rolled back")
    assert _check(db, ds) == totals

    # Deleting the dataset removes its samples by cascade; the other dataset is untouched.
    with db.session() as session:
        dataset = session.get(Dataset, ds)
        session.delete(dataset)
    with db.session(readonly=True) as session:
        kept = status_counts(session, ds)
        assert kept in (None, {})
    assert _check(db, other)[None] == 7


def test_label_conditions_scoped_to_the_dataset(db: Database) -> None:
    ds = _dataset(db, "one")
    other = _dataset(db, "two")
    _insert(db, ds, 0, 40, {i: ["cat"] if i % 3 else ["dog"] for i in range(25)})
    _insert(db, other, 0, 10, {i: ["cat"] for i in range(10)})
    ids = _ids(db, ds)
    with db.session() as session:
        dataset = session.get(Dataset, ds)
        assert dataset is not None
        update_sample_labels(
            session,
            dataset,
            {"samples": [{"sample_id": ids[0], "labels": [{"name": "dog", "score": 0.9}]}]},
            "someone@example.com",
        )
    cats = [{"label_list": {"labels": [{"name": "cat"}]}}]
    scored = [{"score": "0.5-1"}]
    by_labeler = [{"labeler": "someone@example.com"}]
    either = [*cats, *scored]
    with db.session(readonly=True) as session:
        dataset = session.get(Dataset, ds)
        assert dataset is not None
        for conditions, expected in ((cats, 16), (scored, 1), (by_labeler, 1), ([], 40)):
            total, rows = list_samples(session, dataset, offset=0, limit=100, search_conditions=conditions)
            assert total == expected == len(rows)
            # The dataset-scoped IN answers what the correlated EXISTS answers.
            for scope in (ds, None):
                where = [search.all_of(conditions, dataset_id=scope)]
                assert count_samples(session, ds, where) == expected
        total, _ = list_samples(session, dataset, offset=0, limit=100, low_score=0.5, high_score=1.0)
        assert total == 1
        assert count_samples(session, ds, [search.any_of(either, dataset_id=ds)]) == 17
        assert count_samples(session, ds, [labeled()]) == 25

    # The export's pages: the same records whichever way the label condition is written.
    scoped = [r.id for r in iter_records(db, ds, [search.any_of(cats, dataset_id=ds)], page=4)]
    correlated = [r.id for r in iter_records(db, ds, [search.any_of(cats)], page=4)]
    assert scoped == correlated
    assert len(scoped) == 16
    records = {r.id: r for r in iter_records(db, ds, page=7)}
    assert len(records) == 40
    assert [a.name for a in records[ids[0]].annotations] == ["dog"]
    assert records[ids[0]].annotations[0].score == 0.9
    assert records[ids[30]].annotations == []


def test_upgrade_counts_the_samples_already_there(database_url: str) -> None:
    """Migrations 0009 (SQLite) and 0010 (PostgreSQL) on a database of the previous version fill the
    counts from the samples; their downgrade drops them and the listing counts the samples again."""
    from alembic import command
    from alembic.config import Config

    from modelworks.db.engine import _MIGRATIONS

    url = database_url
    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    cfg.attributes["connection_url"] = url
    db = Database(url)
    with db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0008")
    ds = _dataset(db, "old")
    _insert(db, ds, 0, 12, {i: ["cat"] for i in range(5)})
    for revision in ("head", "0008", "head"):
        with db.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            if revision == "head":
                command.upgrade(cfg, revision)
            else:
                command.downgrade(cfg, revision)
        with db.session(readonly=True) as session:
            kept = status_counts(session, ds)
        assert kept == ({"MANUAL_ANNOTATION": 5, "UN_ANNOTATION": 7} if revision == "head" else None)
        totals = _check(db, ds, migrated=revision == "head")
        assert totals == {None: 12, "__ALL__": 5, "__NONE__": 7, "__AUTO_ANNOTATION__": 0}
        if revision == "head" and db.backend == "postgresql":
            # One summed row per dataset and status, not one per sample.
            assert _delta_rows(db, ds) == 2
    db.dispose()


# PostgreSQL: insert-only deltas (migration 0010) under concurrent writers, and their compaction.


@pytest.fixture
def pg(database_url: str) -> Iterator[Database]:
    if not database_url.startswith("postgresql"):
        pytest.skip("the delta rows are PostgreSQL's (SQLite keeps counter rows, see above)")
    database = Database(database_url)
    database.migrate()
    try:
        yield database
    finally:
        database.dispose()


def _delta_rows(db: Database, dataset_id: str) -> int:
    with db.engine.connect() as conn:
        query = text("SELECT count(*) FROM sample_status_deltas WHERE dataset_id = :d")
        return int(conn.scalar(query, {"d": dataset_id}) or 0)


def test_pg_deltas_compact_and_stay_exact(pg: Database) -> None:
    ds = _dataset(pg, "many")
    other = _dataset(pg, "other")
    _insert(pg, ds, 0, 200, {i: ["cat"] for i in range(50)})
    _insert(pg, other, 0, 5, {})
    assert _delta_rows(pg, ds) == 200  # one per sample inserted
    assert _check(pg, ds) == {None: 200, "__ALL__": 50, "__NONE__": 150, "__AUTO_ANNOTATION__": 0}
    # The first read compacted the dataset's rows (one per status), not the other dataset's.
    assert _delta_rows(pg, ds) == 2
    assert _delta_rows(pg, other) == 5
    # Below the threshold nothing is compacted; an explicit compaction drops statuses summing to 0.
    ids = _ids(pg, ds)
    _relabel(pg, ds, {sid: ["dog"] for sid in ids[50:60]})
    assert _check(pg, ds)["__ALL__"] == 60
    assert _delta_rows(pg, ds) == 2 + 20
    with pg.session() as session:
        session.execute(delete(Sample).where(Sample.id.in_(ids[:60])))
        assert compact_status_deltas(session, ds)
    assert _delta_rows(pg, ds) == 1
    assert _check(pg, ds) == {None: 140, "__ALL__": 0, "__NONE__": 140, "__AUTO_ANNOTATION__": 0}
    # A compaction that rolls back leaves the rows and the sums as they were.
    _relabel(pg, ds, {sid: ["cat"] for sid in ids[60:70]})
    with pytest.raises(RuntimeError), pg.session() as session:
        assert compact_status_deltas(session, ds)
        raise RuntimeError("rolled back")
    assert _delta_rows(pg, ds) == 1 + 20
    assert _check(pg, ds)["__ALL__"] == 10
    # Two compactions of one dataset never run at once: the second skips while the first is open.
    with pg.session() as first:
        assert compact_status_deltas(first, ds)
        with pg.session() as second:
            assert not compact_status_deltas(second, ds)
    assert _delta_rows(pg, ds) == 2
    assert _check(pg, other)[None] == 5


def test_pg_concurrent_writers_neither_deadlock_nor_drift(pg: Database) -> None:
    """8 threads relabel overlapping samples both ways (and one inserts and deletes samples) while
    readers list and compact; no deadlock or error, and the totals equal count(*) throughout and
    after."""
    ds = _dataset(pg, "busy")
    _insert(pg, ds, 0, 120, {i: ["cat"] for i in range(0, 120, 2)})
    ids = _ids(pg, ds)
    stop = threading.Event()
    errors: list[BaseException] = []

    def labeler(seed: int) -> None:
        rng = random.Random(seed)
        try:
            for _ in range(25):
                # Overlapping samples, in an order of their own; sorted inside the service.
                chosen = rng.sample(ids[:40], 4)
                _relabel(pg, ds, {sid: (["dog"] if rng.random() < 0.5 else []) for sid in chosen})
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    def importer() -> None:
        try:
            for round_ in range(10):
                first = 1000 + round_ * 10
                _insert(pg, ds, first, 10, {first: ["cat"]})
                with pg.session() as session:
                    imported = Sample.create_time >= 1_700_000_000_000 + first
                    session.execute(delete(Sample).where(Sample.dataset_id == ds, imported))
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    def reader() -> None:
        try:
            while not stop.is_set():
                with pg.session(readonly=True) as session:
                    dataset = session.get(Dataset, ds)
                    assert dataset is not None
                    kept = status_counts(session, ds)
                    assert kept is not None
                    # The sums and count(*) in one statement's snapshot are the same.
                    row = session.execute(
                        text(
                            "SELECT (SELECT coalesce(sum(n), 0) FROM sample_status_deltas"
                            " WHERE dataset_id = :d),"
                            " (SELECT count(*) FROM samples WHERE dataset_id = :d)"
                        ),
                        {"d": ds},
                    ).one()
                    assert row[0] == row[1]
                with pg.session() as session:
                    compact_status_deltas(session, ds)
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    writers = [threading.Thread(target=labeler, args=(seed,)) for seed in range(8)]
    writers.append(threading.Thread(target=importer))
    readers = [threading.Thread(target=reader) for _ in range(2)]
    for thread in (*writers, *readers):
        thread.start()
    for thread in writers:
        thread.join(timeout=120)
    stop.set()
    for thread in readers:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in (*writers, *readers))
    assert errors == []
    totals = _check(pg, ds)
    assert totals[None] == 120
    with pg.session() as session:
        assert compact_status_deltas(session, ds)
    assert _delta_rows(pg, ds) <= 2
    assert _check(pg, ds) == totals


def test_pages_past_the_middle_read_from_the_other_end_are_the_same_pages(db: Database) -> None:
    """``list_samples`` reads a page past the middle in the opposite order and turns it round: every
    page, in both orders and with a state or label filter, is exactly that slice of the full list."""
    ds = _dataset(db, "pages")
    # Some samples carry the label twice (two boxes of one class): still one row each in the pages.
    _insert(db, ds, 0, 23, {i: ["cat"] if i % 2 else ["cat", "cat"] for i in range(0, 23, 3)})
    newest_first = list(reversed(_ids(db, ds)))
    with db.session(readonly=True) as session:
        dataset = session.get(Dataset, ds)
        assert dataset is not None
        for order, expected_all in (("desc", newest_first), ("asc", newest_first[::-1])):
            cases: list[tuple[dict[str, Any], list[str]]] = [({}, expected_all)]
            labeled_ids = set(_ids(db, ds)[0::3])
            cases.append(({"label_name": "cat"}, [i for i in expected_all if i in labeled_ids]))
            cases.append(({"sample_state": "__NONE__"}, [i for i in expected_all if i not in labeled_ids]))
            for filters, expected in cases:
                for limit in (1, 4, 10):
                    for offset in range(0, len(expected) + 3):
                        total, rows = list_samples(
                            session, dataset, offset=offset, limit=limit, order=order, **filters
                        )
                        assert total == len(expected)
                        assert [r.id for r in rows] == expected[offset : offset + limit], (
                            order,
                            filters,
                            offset,
                            limit,
                        )
