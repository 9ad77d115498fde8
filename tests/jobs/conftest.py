"""Fixtures: a fresh SQLite or PostgreSQL database with the tasks table, Settings and a Worker."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# Worker subprocesses and these tests import ``tests.jobs.handlers_for_tests`` by that one name.
ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from modelworks.db.base import Base  # noqa: E402
from modelworks.db.engine import Database  # noqa: E402
from modelworks.jobs import Worker  # noqa: E402
from modelworks.jobs.tables import Task  # noqa: E402
from modelworks.settings import Settings  # noqa: E402
from tests import _pg  # noqa: E402
from tests.jobs import handlers_for_tests  # noqa: E402


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """URL of an empty database: a SQLite file, or a new database on the test PostgreSQL server."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'tasks.db'}"
    else:
        with _pg.fresh_database(_pg.require_postgres()) as url:
            yield url


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database(db_url)
    assert Task.__table__ in Base.metadata.sorted_tables
    Base.metadata.create_all(database.engine)
    yield database
    database.dispose()


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    return Settings(
        home=tmp_path / "home",
        database_url=db_url,
        task_stale_seconds=1,
        task_heartbeat_seconds=0.1,
        worker_poll_seconds=0.02,
    )


@pytest.fixture
def worker(db: Database, settings: Settings) -> Worker:
    return Worker(db, None, None, settings, worker_id="test-worker", retry_backoff_seconds=0)


@pytest.fixture(autouse=True)
def _reset_handler_records() -> Iterator[None]:
    handlers_for_tests.reset()
    yield
    # Let any gate a failed test left closed open, so no worker thread hangs.
    for event in list(handlers_for_tests.gates.values()):
        event.set()
