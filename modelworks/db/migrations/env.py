"""Alembic environment: runs migrations on the connection handed over by ``Database.migrate``."""

from alembic import context

import modelworks.db.models  # noqa: F401  (registers every table on Base.metadata)
from modelworks.db.base import Base

config = context.config
connection = config.attributes.get("connection")
if connection is None:
    from sqlalchemy import create_engine

    url = str(config.attributes.get("connection_url") or config.get_main_option("sqlalchemy.url"))
    engine = create_engine(url)
    with engine.begin() as conn:
        context.configure(connection=conn, target_metadata=Base.metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
else:
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
