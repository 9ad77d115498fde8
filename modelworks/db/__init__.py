"""Database: SQLAlchemy models, engine and sessions, Alembic migrations."""

from modelworks.db.base import Base, new_id, new_short_id, now_ms
from modelworks.db.engine import Database

__all__ = ["Base", "Database", "new_id", "new_short_id", "now_ms"]
