"""Per-dataset, per-status sample counts kept as deltas by triggers (PostgreSQL)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 20:45:00

Migration 0009 keeps ``sample_status_counts`` on SQLite only: on PostgreSQL concurrent label updates
would queue on, and could deadlock over, the shared counter rows. Here PostgreSQL gets the same exact
counts without any row that two writers share: ``sample_status_deltas (dataset_id, status, n)`` has no
primary key or unique constraint, and the row-level triggers on ``samples`` only INSERT rows (+1 for
the new dataset/status, -1 for the old one). Inserts never wait for each other, so writers neither
queue nor deadlock; the deltas commit (or roll back) with the sample writes, so
``SELECT status, sum(n) ... WHERE dataset_id = :d GROUP BY status`` is exact in any snapshot.
``modelworks.data.samples.status_counts`` reads them and compacts a dataset's rows into one per status
when they grow (``compact_status_deltas``). The upgrade fills the table with one summed row per
dataset and status. No-op on SQLite (0009's counter rows cost no contention there).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_FUNCTION = """
CREATE FUNCTION sample_status_deltas_track() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        INSERT INTO sample_status_deltas (dataset_id, status, n) VALUES (OLD.dataset_id, OLD.status, -1);
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
        INSERT INTO sample_status_deltas (dataset_id, status, n) VALUES (NEW.dataset_id, NEW.status, 1);
    END IF;
    RETURN NULL;
END
$$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        "CREATE TABLE sample_status_deltas ("
        " dataset_id VARCHAR(64) NOT NULL, status VARCHAR(24) NOT NULL, n BIGINT NOT NULL)"
    )
    op.execute("CREATE INDEX ix_sample_status_deltas_dataset ON sample_status_deltas (dataset_id)")
    op.execute(_FUNCTION)
    op.execute(
        "CREATE TRIGGER sample_status_deltas_insert AFTER INSERT ON samples"
        " FOR EACH ROW EXECUTE FUNCTION sample_status_deltas_track()"
    )
    op.execute(
        "CREATE TRIGGER sample_status_deltas_delete AFTER DELETE ON samples"
        " FOR EACH ROW EXECUTE FUNCTION sample_status_deltas_track()"
    )
    op.execute(
        "CREATE TRIGGER sample_status_deltas_update AFTER UPDATE OF dataset_id, status ON samples"
        " FOR EACH ROW WHEN (OLD.dataset_id IS DISTINCT FROM NEW.dataset_id"
        " OR OLD.status IS DISTINCT FROM NEW.status)"
        " EXECUTE FUNCTION sample_status_deltas_track()"
    )
    # Filled after the triggers exist, in the same transaction: no sample write can fall between.
    op.execute("LOCK TABLE samples IN SHARE MODE")
    op.execute(
        "INSERT INTO sample_status_deltas (dataset_id, status, n)"
        " SELECT dataset_id, status, count(*) FROM samples GROUP BY dataset_id, status"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name in ("insert", "delete", "update"):
        op.execute(f"DROP TRIGGER IF EXISTS sample_status_deltas_{name} ON samples")
    op.execute("DROP FUNCTION IF EXISTS sample_status_deltas_track()")
    op.execute("DROP TABLE IF EXISTS sample_status_deltas")
