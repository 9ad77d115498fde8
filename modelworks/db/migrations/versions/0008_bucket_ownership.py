"""Bucket ownership: every bucket belongs to a project, and may be shared with others

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 19:40:00

Buckets that datasets of an older installation already use go to the project of the oldest dataset
that names them (as work path or data source), so that upgrading keeps every project working.
"""

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _bucket(path: object) -> str | None:
    if not isinstance(path, str):
        return None
    rest = path.split("://", 1)[1] if "://" in path else path.lstrip("/")
    name = rest.split("/", 1)[0]
    return name or None


def upgrade() -> None:
    op.create_table(
        "storage_buckets",
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("create_time", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_storage_buckets")),
    )
    op.create_index(op.f("ix_storage_buckets_project_id"), "storage_buckets", ["project_id"], unique=False)
    op.create_table(
        "storage_bucket_shares",
        sa.Column("bucket", sa.String(length=63), nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("access", sa.String(length=16), nullable=False),
        sa.Column("create_time", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["bucket"],
            ["storage_buckets.name"],
            name=op.f("fk_storage_bucket_shares_bucket_storage_buckets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("bucket", "project_id", name=op.f("pk_storage_bucket_shares")),
    )
    op.create_index(
        op.f("ix_storage_bucket_shares_project_id"), "storage_bucket_shares", ["project_id"], unique=False
    )
    conn = op.get_bind()
    owners: dict[str, tuple[str, int]] = {}
    rows = conn.execute(sa.text("SELECT project_id, work_path, data_sources, created_at FROM datasets"))
    for project_id, work_path, data_sources, create_time in rows:
        sources = data_sources
        if isinstance(sources, str):
            try:
                sources = json.loads(sources)
            except ValueError:
                sources = []
        names = [_bucket(work_path)]
        names += [_bucket(s.get("data_path")) for s in sources or [] if isinstance(s, dict)]
        for name in filter(None, names):
            if name == "modelworks-system":
                continue
            if name not in owners or (create_time or 0) < owners[name][1]:
                owners[name] = (project_id, create_time or 0)
    table = sa.table(
        "storage_buckets",
        sa.column("name", sa.String),
        sa.column("project_id", sa.String),
        sa.column("create_time", sa.BigInteger),
    )
    if owners:
        op.bulk_insert(
            table, [{"name": n, "project_id": p, "create_time": t} for n, (p, t) in sorted(owners.items())]
        )


def downgrade() -> None:
    op.drop_index(op.f("ix_storage_bucket_shares_project_id"), table_name="storage_bucket_shares")
    op.drop_table("storage_bucket_shares")
    op.drop_index(op.f("ix_storage_buckets_project_id"), table_name="storage_buckets")
    op.drop_table("storage_buckets")
