"""Secret keys sealed at rest; server secrets derived instead of stored

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 19:45:00

``iam_access_keys.sk`` grows to hold a sealed value (``enc:v1:<key id>:<base64>``, see
``modelworks.iam.secrets``), and ``iam_sealing_keys`` holds the public keys SKs are sealed for. The
SKs an older version stored in plain text are sealed right after the migrations by
``modelworks.iam.secrets.install``, which every entry point runs (``serve``, ``migrate``, ``admin``):
sealing needs the server's secrets key, which the database must never see. The plain-text content-URL
secret is dropped: it is now derived from the secrets key (URLs signed before the upgrade stop working,
they lived an hour).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "iam_sealing_keys",
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("public_key", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("key_id", name=op.f("pk_iam_sealing_keys")),
    )
    with op.batch_alter_table("iam_access_keys", schema=None) as batch_op:
        batch_op.alter_column(
            "sk", existing_type=sa.String(length=128), type_=sa.String(length=512), existing_nullable=False
        )
    op.drop_table("iam_server_secrets")


def downgrade() -> None:
    # Sealed SKs stay sealed (an older version cannot use them: create new access keys after it).
    op.create_table(
        "iam_server_secrets",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.String(length=256), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_iam_server_secrets")),
    )
    op.drop_table("iam_sealing_keys")
