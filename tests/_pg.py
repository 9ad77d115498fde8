"""A throwaway PostgreSQL server for tests, and a fresh database per test on it.

``postgres_url()`` answers the server's admin URL: ``MODELWORKS_TEST_POSTGRES_URL`` when set (CI runs
``.ci/start-postgres.sh``), else a cluster started once per test session from the local PostgreSQL
binaries, or None when there are none. ``fresh_database()`` creates a database on it and drops it
afterwards; ``postgres_database_url`` is a fixture other test packages can import into a conftest.
"""

from __future__ import annotations

import atexit
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ENV_URL = "MODELWORKS_TEST_POSTGRES_URL"
_lock = threading.Lock()
_started: dict[str, str | None] = {}


def postgres_url() -> str | None:
    """``postgresql+psycopg://`` URL of a server where tests may create databases, or None."""
    env = os.environ.get(ENV_URL)
    if env:
        return env
    with _lock:
        if "url" not in _started:
            _started["url"] = _start_cluster()
        return _started["url"]


def require_postgres() -> str:
    """The server URL, or skip the test (fail it on CI, where PostgreSQL must be there)."""
    url = postgres_url()
    if url is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is required on CI: set {ENV_URL} or install PostgreSQL binaries")
        pytest.skip("PostgreSQL binaries not found and MODELWORKS_TEST_POSTGRES_URL not set")
    return url


@contextmanager
def fresh_database(server_url: str | None = None, prefix: str = "mwtest") -> Iterator[str]:
    """Create an empty database, yield its URL, and drop it (with any connections left) afterwards."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.pool import NullPool

    base = make_url(server_url or require_postgres())
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def postgres_database_url() -> Iterator[str]:
    """URL of an empty PostgreSQL database for one test (skipped where PostgreSQL is unavailable)."""
    with fresh_database(require_postgres()) as url:
        yield url


def find_bindir() -> Path | None:
    """Directory holding initdb and pg_ctl: PATH first, then Debian's /usr/lib/postgresql/<v>/bin."""
    on_path = shutil.which("initdb")
    if on_path and shutil.which("pg_ctl"):
        return Path(on_path).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]))
    for cand in reversed(candidates):
        if (Path(cand) / "initdb").exists() and (Path(cand) / "pg_ctl").exists():
            return Path(cand)
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_cluster() -> str | None:
    bindir = find_bindir()
    if bindir is None:
        return None
    root = Path(tempfile.mkdtemp(prefix="modelworks-pg-"))
    data, log = root / "data", root / "postgres.log"
    # PostgreSQL refuses to run as root; run its programs as the "postgres" user then.
    as_user: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    port = free_port()

    def run(*args: str) -> None:
        subprocess.run([*as_user, *args], check=True, capture_output=True, timeout=120)

    run(str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
    # Durability is worthless for a throwaway cluster; speed is not.
    options = (
        f"-h 127.0.0.1 -p {port} -k {root} -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    )
    try:
        run(str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-t", "60", "-o", options, "start")
    except subprocess.CalledProcessError as exc:
        detail = log.read_text() if log.exists() else exc.stderr.decode()
        raise RuntimeError(f"could not start PostgreSQL in {root}:\n{detail}") from exc

    def stop() -> None:
        subprocess.run(
            [*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(root, ignore_errors=True)

    atexit.register(stop)
    return f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
