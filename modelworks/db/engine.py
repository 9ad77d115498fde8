"""Engine, session factory and migrations for one database URL (SQLite or PostgreSQL)."""

from __future__ import annotations

import logging
import random
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

from modelworks.errors import ModelworksError

log = logging.getLogger(__name__)

_MIGRATIONS = Path(__file__).with_name("migrations")

WRITE_WAIT_SECONDS = 10.0
"""How long a SQLite write transaction waits for the write lock (and a session for a pooled
connection) before the request is answered 503 ``DatabaseBusy``."""
BUSY_TIMEOUT_MS = 250
"""SQLite's own busy handler per attempt to take the lock. Kept short: it polls with sleeps of up to
100 ms and queues nobody, so one long wait lets a stream of newer writers overtake the waiter; the
``BEGIN IMMEDIATE`` retry loop (``_begin_immediate``) bounds the whole wait instead."""
RETRY_AFTER_SECONDS = 1


class DatabaseBusy(ModelworksError):
    """The database stayed locked by other writers (or out of connections) for too long: retry."""

    http_status = 503


def _is_lock_error(exc: BaseException) -> bool:
    """SQLITE_BUSY / SQLITE_LOCKED, as pysqlite reports them ("database is locked", "... is busy")."""
    orig = getattr(exc, "orig", exc)
    return isinstance(orig, sqlite3.OperationalError) and ("locked" in str(orig) or "busy" in str(orig))


def _busy(what: str) -> DatabaseBusy:
    return DatabaseBusy(f"The server is busy ({what}); retry the request in {RETRY_AFTER_SECONDS} s.")


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite's own handling defers it).
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cur.close()


def _begin_immediate(conn: Connection) -> None:
    """Take SQLite's write lock at BEGIN, retrying (with jitter) until ``WRITE_WAIT_SECONDS``.

    Nothing of the transaction has run yet when BEGIN IMMEDIATE fails, so retrying it retries the
    whole transaction; in WAL mode it is the only statement of a write transaction that can meet
    SQLITE_BUSY (readers never block it, and the commit never waits).
    """
    deadline = time.monotonic() + WRITE_WAIT_SECONDS
    pause = 0.005
    while True:
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            return
        except sa_exc.OperationalError as exc:
            if not _is_lock_error(exc) or time.monotonic() + pause >= deadline:
                raise
        time.sleep(pause * random.uniform(0.5, 1.5))
        pause = min(0.05, pause * 2)


class Database:
    """Owns one engine and its session factory. Built once in ``create_app`` or the CLI."""

    def __init__(self, url: str):
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            path = url.split("///", 1)[1] if "///" in url else ""
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            # Pools as large as the API's thread pool (app.THREAD_TOKENS): a request waiting for the
            # write lock holds its connection, and must not make readers wait for one. All of them
            # are kept: a connection above pool_size is closed when returned, and opening one (with
            # its pragmas) under load costs more than the file handle it saves.
            options: dict[str, Any] = {
                "connect_args": {"check_same_thread": False, "timeout": BUSY_TIMEOUT_MS / 1000},
                "pool_size": 100,
                "max_overflow": 0,
                "pool_timeout": WRITE_WAIT_SECONDS,
            }
            self.engine: Engine = create_engine(url, **options)
            event.listen(self.engine, "connect", _sqlite_pragmas)
            # Take the write lock at BEGIN so two writers queue instead of failing on upgrade.
            event.listen(self.engine, "begin", _begin_immediate)
            # Readers get a plain deferred BEGIN: in WAL mode they read a snapshot beside a writer
            # instead of queueing behind it for the write lock.
            self.read_engine: Engine = create_engine(url, **options)
            event.listen(self.read_engine, "connect", _sqlite_pragmas)
            event.listen(self.read_engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN"))
        else:
            self.engine = create_engine(
                url, pool_pre_ping=True, pool_size=20, max_overflow=30, pool_timeout=WRITE_WAIT_SECONDS
            )
            self.read_engine = self.engine
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.read_sessions = sessionmaker(self.read_engine, expire_on_commit=False)

    @property
    def backend(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def session(self, *, readonly: bool = False) -> Iterator[Session]:
        """A session that commits on success and rolls back on error.

        ``readonly`` sessions (GET requests) may not write on SQLite: they hold no write lock.
        Raises ``DatabaseBusy`` (503) when SQLite's write lock or a pooled connection could not be had
        within ``WRITE_WAIT_SECONDS``; nothing was written then."""
        s = self.read_sessions() if readonly else self.sessions()
        try:
            yield s
            s.commit()
        except sa_exc.OperationalError as exc:
            s.rollback()
            if _is_lock_error(exc):
                log.warning("database busy: %s", exc.orig)
                raise _busy("the database is locked by other writes") from exc
            raise
        except sa_exc.TimeoutError as exc:
            s.rollback()
            log.warning("database busy: %s", exc)
            raise _busy("no free database connection") from exc
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
