"""Migration 0011: label rows carry their sample's create_time (filled on upgrade and by a trigger on
every insert), and the label filter of the sample list pages from that index alone. The pages
themselves are checked against plain slices in ``test_sample_counts``."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from sqlalchemy import select, text

from modelworks.data.samples import list_samples
from modelworks.data.tables import Dataset, Sample, SampleLabel
from modelworks.db import Database
from modelworks.db.engine import _MIGRATIONS
from tests.data.test_sample_counts import _dataset, _ids, _insert, _relabel


def _unfilled(db: Database) -> int:
    with db.engine.connect() as conn:
        return int(
            conn.scalar(text("SELECT count(*) FROM sample_labels WHERE sample_create_time IS NULL")) or 0
        )


def test_upgrade_fills_the_labels_there_and_the_trigger_every_new_one(database_url: str) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    db = Database(database_url)
    try:
        with db.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0010")
        ds = _dataset(db, "old")
        _insert(db, ds, 0, 30, {i: ["cat"] for i in range(0, 30, 2)})
        with db.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
        assert _unfilled(db) == 0
        _insert(db, ds, 30, 10, {i: ["cat", "dog"] for i in range(30, 40)})  # bulk insert
        _relabel(db, ds, {sid: ["dog"] for sid in _ids(db, ds)[:3]})  # ORM inserts
        assert _unfilled(db) == 0
        with db.session(readonly=True) as session:
            mismatched = session.scalar(
                select(text("count(*)"))
                .select_from(SampleLabel)
                .join(Sample, Sample.id == SampleLabel.sample_id)
                .where(SampleLabel.sample_create_time != Sample.create_time)
            )
            assert mismatched == 0
            dataset = session.get(Dataset, ds)
            assert dataset is not None
            total, rows = list_samples(session, dataset, offset=0, limit=100, label_name="dog")
            assert total == 13 and len(rows) == 13
            times = [(r.create_time, r.id) for r in rows]
            assert times == sorted(times, reverse=True)
    finally:
        db.dispose()
