"""Sample status: what a sample's labels make it, and the dataset's exact counts by status.

The counts are kept by triggers (migrations 0009 on SQLite, 0010 on PostgreSQL) in the same
transaction as every insert, delete or status change of a sample; ``has_triggers`` tells whether a
schema has them, and the readers fall back to counting where it does not.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from sqlalchemy import event, select, text
from sqlalchemy.orm import Session

from modelworks.data.constants import status_for
from modelworks.data.tables import Sample, SampleLabel

log = logging.getLogger(__name__)


def has_triggers(session: Session, table: str, names: tuple[str, ...]) -> bool:
    """Whether every trigger in ``names`` exists on ``table`` (and, on PostgreSQL, is enabled): the
    kept counts and label listing fall back to plain queries where a schema lacks them."""
    listed = ", ".join(f"'{name}'" for name in names)
    if session.get_bind().dialect.name == "postgresql":
        query = (
            f"SELECT count(*) FROM pg_trigger WHERE tgrelid = to_regclass('{table}')"
            f" AND NOT tgisinternal AND tgenabled <> 'D' AND tgname IN ({listed})"
        )
    else:
        query = (
            "SELECT count(*) FROM sqlite_master"
            f" WHERE type = 'trigger' AND tbl_name = '{table}' AND name IN ({listed})"
        )
    return session.scalar(text(query)) == len(names)


_COUNT_TRIGGERS = (
    "sample_status_counts_insert",
    "sample_status_counts_delete",
    "sample_status_counts_update",
)


def status_counts(session: Session, dataset_id: str) -> dict[str, int] | None:
    """The dataset's number of samples by status, exact, kept by triggers in the same transaction as
    every insert, delete or status change of a sample: on SQLite ``sample_status_counts`` (migration
    0009), on PostgreSQL the sums of ``sample_status_deltas`` (migration 0010, insert-only deltas, so
    concurrent writers never queue on a shared row; compacted here when a dataset has more than
    ``COMPACT_ABOVE`` rows). None where those triggers are not there (a schema not built by the
    migrations), and the caller counts the samples instead. The triggers are looked up each time, in
    the same transaction as the counts: a later migration that rebuilt the table without them must
    make the lists slower, never wrong."""
    backend = session.get_bind().dialect.name
    if backend == "postgresql":
        return _pg_status_counts(session, dataset_id)
    if backend != "sqlite":
        return None
    if not has_triggers(session, "samples", _COUNT_TRIGGERS):
        return None
    rows = session.execute(
        text("SELECT status, n FROM sample_status_counts WHERE dataset_id = :dataset_id"),
        {"dataset_id": dataset_id},
    )
    return {status: n for status, n in rows if n}


_DELTA_TRIGGERS = (
    "sample_status_deltas_insert",
    "sample_status_deltas_delete",
    "sample_status_deltas_update",
)

# A dataset's delta rows are compacted by the read that finds more than this many.
COMPACT_ABOVE = 64
# ... and a compaction of more rows than this vacuums the table.
VACUUM_AFTER_COMPACTING = 5000


def _pg_status_counts(session: Session, dataset_id: str) -> dict[str, int] | None:
    if not has_triggers(session, "samples", _DELTA_TRIGGERS):
        return None
    rows = session.execute(
        text(
            "SELECT status, sum(n), count(*) FROM sample_status_deltas"
            " WHERE dataset_id = :dataset_id GROUP BY status"
        ),
        {"dataset_id": dataset_id},
    ).all()
    rows_seen = sum(count for _, _, count in rows)
    # The sums do not change: the compaction only rewrites rows this statement's snapshot saw.
    compacted = rows_seen > COMPACT_ABOVE and compact_status_deltas(session, dataset_id)
    if compacted and rows_seen > VACUUM_AFTER_COMPACTING:
        # An import leaves a delta row per sample: once they are summed, every later read
        # would still visit the tens of thousands of dead rows (a bitmap scan does not mark
        # them dead in the index) until autovacuum's next round. Vacuum the small table as
        # soon as the compaction is committed (VACUUM cannot run inside a transaction).
        engine = session.get_bind().engine
        event.listen(session, "after_commit", lambda _s: _vacuum_deltas(engine), once=True)
    return {status: int(n) for status, n, _ in rows if n}


def _vacuum_deltas(engine: Any) -> None:
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE sample_status_deltas")
    except Exception:  # an optimisation: a failure must not fail the read that compacted
        log.warning("could not vacuum sample_status_deltas", exc_info=True)


def compact_status_deltas(session: Session, dataset_id: str) -> bool:
    """Replace the dataset's rows of ``sample_status_deltas`` (PostgreSQL) by one row per status
    holding their sum (none where it is 0), in one statement, in the caller's transaction; False
    (and nothing done) when another transaction is compacting the same dataset.

    Why the sums stay exact whatever runs beside it (READ COMMITTED): the DELETE removes exactly the
    rows visible in its statement's snapshot, and the INSERT writes back the sums of exactly those
    rows (``moved`` is what the DELETE returned), so for every snapshot the total is unchanged:
    before this transaction commits others see the old rows, afterwards the summed ones, atomically.
    Delta rows that other transactions insert meanwhile (uncommitted, or committed after the
    snapshot) are not in the snapshot, so they are neither deleted nor summed: they stay, and still
    count once. Writers only ever insert, so the only other transaction that could delete the same
    rows is another compaction of the dataset, and ``pg_try_advisory_xact_lock`` (held to the end of
    the transaction, i.e. until the rewritten rows are committed or rolled back) rules that out
    without waiting: whoever does not get it skips, the rows wait for the next read."""
    params = {"dataset_id": dataset_id}
    locked = session.scalar(
        text("SELECT pg_try_advisory_xact_lock(hashtext('sample_status_deltas'), hashtext(:dataset_id))"),
        params,
    )
    if not locked:
        return False
    session.execute(
        text(
            "WITH moved AS (DELETE FROM sample_status_deltas WHERE dataset_id = :dataset_id"
            " RETURNING status, n)"
            " INSERT INTO sample_status_deltas (dataset_id, status, n)"
            " SELECT :dataset_id, status, sum(n) FROM moved GROUP BY status HAVING sum(n) <> 0"
        ),
        params,
    )
    return True


def refresh_status(session: Session, sample_ids: Iterable[str]) -> None:
    """Recompute the stored status of samples from their labels."""
    ids = list(set(sample_ids))
    if not ids:
        return
    kinds: dict[str, set[str]] = defaultdict(set)
    for sid, by in session.execute(
        select(SampleLabel.sample_id, SampleLabel.annotated_by).where(SampleLabel.sample_id.in_(ids))
    ):
        kinds[sid].add(by)
    for sample in session.scalars(select(Sample).where(Sample.id.in_(ids))):
        sample.status = status_for(kinds.get(sample.id, ()))
    session.flush()
