"""The ``modelworks`` command as a newcomer runs it: serve, worker and admin, as real processes."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psutil

from tests._client import SignedClient
from tests.conftest import free_port, wait_for
from tests.data._assets import write_classification_folder

MODELWORKS = [sys.executable, "-m", "modelworks.cli.main"]


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELWORKS_")}
    env.update({"MODELWORKS_HOME": str(home), "MODELWORKS_WORKER_POLL_SECONDS": "0.05", **extra})
    return env


@contextmanager
def process(args: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        proc = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            yield proc
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def test_serve_with_a_separate_worker_process_and_admin_commands(tmp_path: Path) -> None:
    home = tmp_path / "home"
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    env = _env(home, MODELWORKS_EMBEDDED_WORKER="false")
    with process([*MODELWORKS, "serve", "--port", str(port)], env, tmp_path / "serve.log"):
        wait_for(lambda: _healthy(endpoint), timeout=60)
        log = (tmp_path / "serve.log").read_text()
        creds = json.loads((home / "credentials.json").read_text())
        assert str(home / "credentials.json") in log
        assert creds["sk"] not in log and creds["password"] not in log
        assert (home / "modelworks.db").exists()

        write_classification_folder(home / "storage" / "bkt" / "in", {"a": 3, "b": 2})
        client = SignedClient(endpoint, creds["ak"], creds["sk"], creds["project_id"])
        created = client.post(
            "/v2/{project_id}/datasets",
            {
                "dataset_name": "viaworker",
                "data_sources": [{"data_path": "/bkt/in/"}],
                "work_path": "/bkt/out/",
                "work_path_type": 0,
            },
        ).json()
        time.sleep(0.5)
        queued = client.get(f"/v2/{{project_id}}/datasets/{created['dataset_id']}/import-tasks").json()
        assert queued["import_tasks"][0]["status"] == "QUEUING"  # no worker yet: the server runs none

        with process([*MODELWORKS, "worker"], env, tmp_path / "worker.log"):
            task = wait_for(lambda: _finished(client, created["dataset_id"]), timeout=60)
        assert task["status"] == "COMPLETED" and task["imported_sample_count"] == 5

        made = subprocess.run(
            [*MODELWORKS, "admin", "create-user", "dave", "--project", creds["project_name"]],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        assert json.loads(made.stdout)["user_name"] == "dave"
        key = json.loads(
            subprocess.run(
                [*MODELWORKS, "admin", "create-key", "dave"],
                env=env,
                check=True,
                capture_output=True,
                text=True,
            ).stdout
        )
        dave = SignedClient(endpoint, key["ak"], key["sk"], creds["project_id"])
        assert dave.get("/v2/{project_id}/datasets").json()["total_number"] == 1
        subprocess.run(
            [*MODELWORKS, "admin", "delete-key", key["ak"]], env=env, check=True, capture_output=True
        )
        # The server keeps a principal 2 s (iam/cache.py); a key deleted by another process stops within that.
        assert wait_for(lambda: dave.get("/v2/{project_id}/datasets").status_code == 401, timeout=3)


def _healthy(endpoint: str) -> bool:
    try:
        return httpx.get(f"{endpoint}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _finished(client: SignedClient, dataset_id: str) -> dict[str, object] | None:
    task = client.get(f"/v2/{{project_id}}/datasets/{dataset_id}/import-tasks").json()["import_tasks"][0]
    return task if task["status"] in ("COMPLETED", "FAILED") else None


def _worker_children(pid: int) -> list[psutil.Process]:
    return [p for p in psutil.Process(pid).children() if "--lanes" in p.cmdline() and p.status() != "zombie"]


def test_serve_runs_its_workers_in_a_child_process_it_restarts_and_stops(tmp_path: Path) -> None:
    """``modelworks serve`` embeds its workers in a child process by default: tasks run there (their
    worker id names its pid, not the server's), a child that dies is replaced, and stopping the server
    stops the child."""
    home = tmp_path / "home"
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    with process([*MODELWORKS, "serve", "--port", str(port)], _env(home), tmp_path / "serve.log") as server:
        wait_for(lambda: _healthy(endpoint), timeout=60)
        (child,) = wait_for(lambda: _worker_children(server.pid), timeout=30)
        # Tasks yield the CPU to requests: the child runs 5 steps nicer than the server.
        wait_for(lambda: child.nice() == psutil.Process(server.pid).nice() + 5, timeout=30)
        creds = json.loads((home / "credentials.json").read_text())
        client = SignedClient(endpoint, creds["ak"], creds["sk"], creds["project_id"])

        def import_folder(name: str) -> dict[str, object]:
            write_classification_folder(home / "storage" / "bkt" / name, {"a": 2, "b": 1})
            body = {"dataset_name": name, "data_sources": [{"data_path": f"/bkt/{name}/"}]}
            created = client.post("/v2/{project_id}/datasets", {**body, "work_path": f"/bkt/{name}-out/"})
            assert created.status_code == 201, created.text
            task = wait_for(lambda: _finished(client, created.json()["dataset_id"]), timeout=60)
            assert task["status"] == "COMPLETED" and task["imported_sample_count"] == 3
            return task

        import_folder("first")
        db = sqlite3.connect(home / "modelworks.db")
        (worker_id,) = db.execute("SELECT worker_id FROM tasks WHERE kind = 'import'").fetchone()
        assert worker_id.split(":")[1] == str(child.pid) != str(server.pid)

        child.kill()
        child.wait(10)
        (second,) = wait_for(lambda: _worker_children(server.pid), timeout=30)
        assert second.pid != child.pid
        import_folder("second")
        assert "starting another" in (tmp_path / "serve.log").read_text()
    assert not second.is_running() or second.status() == "zombie"
