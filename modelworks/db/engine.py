"""Engine, session factory and migrations for one database URL (SQLite or PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

_MIGRATIONS = Path(__file__).with_name("migrations")


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite's own handling defers it).
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


class Database:
    """Owns one engine and its session factory. Built once in ``create_app`` or the CLI."""

    def __init__(self, url: str):
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            path = url.split("///", 1)[1] if "///" in url else ""
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            self.engine: Engine = create_engine(
                url, connect_args={"check_same_thread": False, "timeout": 30}, pool_size=20, max_overflow=20
            )
            event.listen(self.engine, "connect", _sqlite_pragmas)
            # Take the write lock at BEGIN so two writers queue instead of failing on upgrade.
            event.listen(self.engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE"))
            # Readers get a plain deferred BEGIN: in WAL mode they read a snapshot beside a writer
            # instead of queueing behind it for the write lock.
            self.read_engine: Engine = create_engine(
                url, connect_args={"check_same_thread": False, "timeout": 30}, pool_size=20, max_overflow=20
            )
            event.listen(self.read_engine, "connect", _sqlite_pragmas)
            event.listen(self.read_engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN"))
        else:
            self.engine = create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)
            self.read_engine = self.engine
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.read_sessions = sessionmaker(self.read_engine, expire_on_commit=False)

    @property
    def backend(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def session(self, *, readonly: bool = False) -> Iterator[Session]:
        """A session that commits on success and rolls back on error.

        ``readonly`` sessions (GET requests) may not write on SQLite: they hold no write lock."""
        s = self.read_sessions() if readonly else self.sessions()
        try:
            yield s
            s.commit()
        except BaseException:
            s.rollback()
            raise
        finally:
            s.close()

    def migrate(self) -> None:
        """Bring the schema to the newest Alembic revision."""
        from alembic import command
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(_MIGRATIONS))
        cfg.attributes["connection_url"] = self.url
        with self.engine.begin() as conn:
            if not self.is_sqlite:
                # Servers and workers starting together must not race to create the same tables.
                conn.exec_driver_sql("SELECT pg_advisory_xact_lock(4242001)")
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")

    def analyze(self, *tables: str) -> None:
        """Refresh the query planner's statistics of ``tables`` (PostgreSQL; SQLite plans without)."""
        if self.is_sqlite:
            return
        with self.engine.begin() as conn:
            for table in tables:
                conn.exec_driver_sql(f'ANALYZE "{table}"')

    def dispose(self) -> None:
        self.engine.dispose()
        self.read_engine.dispose()
