"""A writer holding SQLite's write lock slows writes down, and nothing else.

Each test holds the lock from a connection of its own (``BEGIN IMMEDIATE``, as a long import or
another process would) and checks the order in which things answer, never how fast: reads and
``/health`` answer while a label update still waits for the lock, the update either succeeds once
the lock is free or answers 503 with the ModelArts envelope and ``Retry-After`` (never a 500), and an
idle worker polling for tasks does not queue for the lock at all.
"""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

import httpx
import pytest

from modelworks.db import Database
from modelworks.db.engine import _begin_immediate
from modelworks.iam import service as iam
from modelworks.jobs import Worker
from modelworks.jobs.registry import registered_kinds
from modelworks.settings import Settings
from tests._client import SignedClient
from tests.conftest import LiveServer, run_server, wait_for
from tests.data._assets import write_classification_folder
from tests.jobs import handlers_for_tests  # noqa: F401  (registers the test task kinds)

DS = "/v2/{project_id}/datasets"
BLOCKED_UPDATES = 60
"""More than anyio's default 40 threads: every one of them waits for the lock in a thread."""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with run_server(tmp_path_factory.mktemp("write-lock") / "home") as live:
        yield live


@pytest.fixture(scope="module")
def dataset(server: LiveServer) -> tuple[str, list[str]]:
    """A dataset with a few imported samples: its id and its sample ids."""
    write_classification_folder(server.storage_root / "bucket" / "pets", {"cat": 3, "dog": 3})
    client = server.signed()
    response = client.post(
        DS,
        {
            "dataset_name": "pets",
            "dataset_type": 0,
            "data_sources": [{"data_path": "/bucket/pets/"}],
            "work_path": "/bucket/out/",
        },
    )
    assert response.status_code == 201, response.text
    dataset_id = response.json()["dataset_id"]

    def imported() -> bool:
        tasks = client.get(f"{DS}/{dataset_id}/import-tasks").json()["import_tasks"]
        return bool(tasks) and tasks[0]["status"] == "COMPLETED"

    wait_for(imported)
    samples = client.get(f"{DS}/{dataset_id}/data-annotations/samples", limit=100).json()["samples"]
    return dataset_id, [s["sample_id"] for s in samples]


def fresh_client(server: LiveServer, user_name: str) -> SignedClient:
    """A client with a new access key: its first request misses the credential cache."""
    db = Database(server.settings.database_url)
    try:
        with db.session() as session:
            user, _ = iam.create_user(session, "modelworks", user_name)
            project = iam.find_project(session, user.domain_id, name=server.credentials["project_name"])
            iam.add_member(session, user, project)
            key = iam.create_access_key(session, user)
    finally:
        db.dispose()
    return server.signed(ak=key.ak, sk=key.sk)


@contextmanager
def write_lock(database_url: str) -> Iterator[sqlite3.Connection]:
    """SQLite's write lock, held by a connection of this test until the block ends."""
    conn = sqlite3.connect(database_url.split("///", 1)[1], isolation_level=None, timeout=30)
    try:
        conn.execute("BEGIN IMMEDIATE")
        yield conn
        conn.execute("ROLLBACK")
    finally:
        conn.close()


def update(client: SignedClient, dataset_id: str, sample_id: str, label: str) -> httpx.Response:
    body = {"samples": [{"sample_id": sample_id, "labels": [{"name": label, "type": 0}]}]}
    return client.put(f"{DS}/{dataset_id}/data-annotations/samples", body)


def test_reads_answer_while_an_update_waits_and_the_update_then_succeeds(
    server: LiveServer, dataset: tuple[str, list[str]]
) -> None:
    dataset_id, sample_ids = dataset
    writer_client = fresh_client(server, "waiting-writer")
    reader = server.signed()
    with ThreadPoolExecutor(1) as pool:
        with write_lock(server.settings.database_url):
            waiting: Future[httpx.Response] = pool.submit(
                update, writer_client, dataset_id, sample_ids[0], "cat"
            )
            # The update authenticates (a cache miss: database lookups) and then waits for the lock.
            wait_for(lambda: _waits_for_lock())
            health = httpx.get(f"{server.endpoint}/health", timeout=60)
            listing = reader.get(f"{DS}/{dataset_id}/data-annotations/samples", limit=10)
            # Both answered while the update still waited: the event loop was never blocked by it.
            assert not waiting.done()
        assert health.status_code == 200, health.text
        assert listing.status_code == 200, listing.text
        assert listing.json()["sample_count"] == len(sample_ids)
        answer = waiting.result(timeout=60)
    assert answer.status_code == 200, answer.text
    detail = reader.get(f"{DS}/{dataset_id}/data-annotations/samples/{sample_ids[0]}").json()
    assert [label["name"] for label in detail["labels"]] == ["cat"]


def test_an_update_that_cannot_get_the_lock_answers_503_with_a_retry_hint(
    server: LiveServer, dataset: tuple[str, list[str]]
) -> None:
    dataset_id, sample_ids = dataset
    client = server.signed()
    before = client.get(f"{DS}/{dataset_id}/data-annotations/samples/{sample_ids[1]}").json()
    with write_lock(server.settings.database_url):
        answer = update(
            client, dataset_id, sample_ids[1], "dog" if before["labels"][0]["name"] == "cat" else "cat"
        )
    assert answer.status_code == 503, answer.text
    assert answer.json()["error_code"].startswith("ModelArts.")
    assert "retry" in answer.json()["error_msg"]
    assert answer.headers["Retry-After"] == "1"
    after = client.get(f"{DS}/{dataset_id}/data-annotations/samples/{sample_ids[1]}").json()
    assert after["labels"] == before["labels"] and after["sample_version"] == before["sample_version"]
    assert update(client, dataset_id, sample_ids[1], "dog").status_code == 200


def test_health_answers_while_more_updates_wait_than_the_default_thread_pool_holds(
    server: LiveServer, dataset: tuple[str, list[str]]
) -> None:
    dataset_id, sample_ids = dataset
    clients = [server.signed() for _ in range(BLOCKED_UPDATES)]
    with ThreadPoolExecutor(BLOCKED_UPDATES) as pool:
        with write_lock(server.settings.database_url):
            waiting = [
                pool.submit(update, c, dataset_id, sample_ids[i % len(sample_ids)], "dog")
                for i, c in enumerate(clients)
            ]
            wait_for(lambda: _waits_for_lock(at_least=BLOCKED_UPDATES))
            health = httpx.get(f"{server.endpoint}/health", timeout=60)
            listing = server.signed().get(f"{DS}/{dataset_id}/data-annotations/samples", limit=10)
            assert not any(f.done() for f in waiting)
        assert health.status_code == 200, health.text
        assert listing.status_code == 200, listing.text
        statuses = sorted({f.result(timeout=60).status_code for f in waiting})
    assert statuses == [200]


def test_an_idle_worker_polls_without_waiting_for_the_write_lock(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'tasks.db'}"
    db = Database(url)
    db.migrate()
    assert registered_kinds()  # handlers_for_tests registered some: the worker does look
    settings = Settings(home=tmp_path / "home", database_url=url)
    worker = Worker(db, None, None, settings, worker_id="idle-worker")
    try:
        with write_lock(url):
            assert worker.run_once() is False  # nothing queued: found out without the lock
            assert worker.recover_stale() == 0
    finally:
        db.dispose()


def _waits_for_lock(at_least: int = 1) -> bool:
    """Whether ``at_least`` threads of this process (the test server's) wait for SQLite's write lock."""
    waiting = 0
    for frame in sys._current_frames().values():
        f: FrameType | None = frame
        while f is not None and f.f_code is not _begin_immediate.__code__:
            f = f.f_back
        waiting += f is not None
    return waiting >= at_least
