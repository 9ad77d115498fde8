"""PostgreSQL: a label update does not wait for another label update's whole transaction.

A label update locks its dataset row ``FOR KEY SHARE`` (the dataset must not be deleted or change its
label set meanwhile) and writes ``data_update_time`` just before it commits. Another label update in
flight holds the row's ``FOR NO KEY UPDATE`` lock only for that last write. This test holds that lock
from a connection of its own, sends a label update over HTTP and finds, in ``pg_stat_activity``,
where the update waits: at its final ``UPDATE datasets`` (all its work done), never at the lock it
takes first (which would make concurrent labelers of one dataset queue one after the other). Once the
lock is let go the update succeeds.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from tests._pg import fresh_database, postgres_url
from tests.conftest import LiveServer, run_server
from tests.load.test_write_lock import dataset as dataset  # noqa: F401  (the module fixture)
from tests.load.test_write_lock import update


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    if postgres_url() is None:
        pytest.skip("PostgreSQL is not available")
    home: Path = tmp_path_factory.mktemp("pg-label-updates") / "home"
    with fresh_database() as url, run_server(home, database_url=url) as live:
        yield live


def _waiting_query(url: str, deadline_s: float = 30.0) -> str:
    """The statement of the first backend of this database found waiting for a row lock."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        deadline = time.monotonic() + deadline_s
        while time.monotonic() < deadline:
            with engine.connect() as conn:
                query = conn.scalar(
                    text(
                        "SELECT query FROM pg_stat_activity WHERE datname = current_database()"
                        " AND wait_event_type = 'Lock' AND pid <> pg_backend_pid() LIMIT 1"
                    )
                )
            if query:
                return str(query)
            time.sleep(0.05)
    finally:
        engine.dispose()
    raise AssertionError("no request waited for the dataset row")


def test_a_label_update_waits_only_for_the_last_write_of_another(
    server: LiveServer,
    dataset: tuple[str, list[str]],  # noqa: F811
) -> None:
    dataset_id, sample_ids = dataset
    client = server.signed()
    url = server.settings.database_url
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as holder, ThreadPoolExecutor(1) as pool:
            holder.execute(
                text("SELECT id FROM datasets WHERE id = :id FOR NO KEY UPDATE"), {"id": dataset_id}
            )
            pending = pool.submit(update, client, dataset_id, sample_ids[0], "dog")
            waiting = _waiting_query(url)
            assert "UPDATE datasets" in waiting and "data_update_time" in waiting, waiting
            assert not pending.done()
            holder.rollback()
            response = pending.result(timeout=60)
    finally:
        engine.dispose()
    assert response.status_code == 200, response.text
    sample = client.get(
        f"/v2/{{project_id}}/datasets/{dataset_id}/data-annotations/samples/{sample_ids[0]}"
    ).json()
    assert [label["name"] for label in sample["labels"]] == ["dog"]
