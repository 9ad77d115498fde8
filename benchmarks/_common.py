"""Shared pieces of the benchmarks: a live server on SQLite or PostgreSQL, polling, percentiles.

The benchmarks reuse the test harness (``tests.conftest.run_server``, ``tests._pg``, ``tests._client``):
the real app on a loopback port with the embedded worker, called over HTTP with requests signed by
the official ``huaweicloudsdkcore`` signer.
"""

from __future__ import annotations

import math
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from tests._client import SignedClient  # noqa: E402
from tests._pg import fresh_database, postgres_url  # noqa: E402
from tests.conftest import LiveServer, run_server  # noqa: E402

DS = "/v2/{project_id}/datasets"

__all__ = [
    "DS",
    "BenchmarkError",
    "REPO_ROOT",
    "LiveServer",
    "SignedClient",
    "create_dataset",
    "machine_note",
    "percentiles",
    "server_on",
    "wait_import",
]


class BenchmarkError(RuntimeError):
    """Something went wrong while benchmarking (not a missed target): the script exits non-zero."""


@contextmanager
def server_on(database: str, **settings: Any) -> Iterator[LiveServer]:
    """A live server with a temporary home, on SQLite or on a fresh PostgreSQL database."""
    with ExitStack() as stack:
        home = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="modelworks-bench-"))) / "home"
        if database == "postgres":
            admin = postgres_url()
            if admin is None:
                raise BenchmarkError(
                    "PostgreSQL is not available: install its binaries or set MODELWORKS_TEST_POSTGRES_URL"
                )
            settings["database_url"] = stack.enter_context(fresh_database(admin, prefix="mwbench"))
        elif database != "sqlite":
            raise BenchmarkError(f"unknown database {database!r}")
        yield stack.enter_context(run_server(home, **settings))


def create_dataset(client: SignedClient, body: dict[str, Any]) -> str:
    response = client.post(DS, body)
    if response.status_code != 201:
        raise BenchmarkError(f"creating the dataset failed: {response.status_code} {response.text}")
    return str(response.json()["dataset_id"])


def wait_import(
    client: SignedClient, dataset_id: str, *, interval: float = 0.05, timeout: float = 600
) -> dict[str, Any]:
    """Poll ``GET .../import-tasks`` until the newest import task is COMPLETED (or FAILED: an error)."""
    deadline = time.monotonic() + timeout
    while True:
        response = client.get(f"{DS}/{dataset_id}/import-tasks")
        if response.status_code != 200:
            raise BenchmarkError(f"listing import tasks failed: {response.status_code} {response.text}")
        tasks = response.json()["import_tasks"]
        if tasks and tasks[0]["status"] == "COMPLETED":
            return dict(tasks[0])
        if tasks and tasks[0]["status"] == "FAILED":
            raise BenchmarkError(f"the import task failed: {tasks[0]}")
        if time.monotonic() > deadline:
            raise BenchmarkError(f"the import did not finish in {timeout:.0f} s")
        time.sleep(interval)


def percentiles(values_ms: list[float]) -> dict[str, float]:
    """p50, p95, p99 (nearest rank), max and mean of the values."""
    ordered = sorted(values_ms)
    if not ordered:
        raise BenchmarkError("no measurements")

    def rank(p: float) -> float:
        return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]

    return {
        "p50": rank(50),
        "p95": rank(95),
        "p99": rank(99),
        "max": ordered[-1],
        "mean": sum(ordered) / len(ordered),
    }


def machine_note() -> str:
    """CPU count and load averages: other work on the machine skews latencies, so print them along."""
    one, five, fifteen = os.getloadavg()
    cpus = os.cpu_count() or 1
    note = f"{cpus} CPUs, load average {one:.2f} / {five:.2f} / {fifteen:.2f} (1 / 5 / 15 min)"
    if one > 0.5 * cpus:
        note += "  -- WARNING: the machine is busy with other work; the figures will be pessimistic"
    return note
