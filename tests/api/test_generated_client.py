"""A client generated from ``/openapi.json`` by a standard generator (``openapi-python-client``)
lists datasets and starts an auto-label task, authenticated with an X-Auth-Token.

The generator pins ``httpx<0.29`` and ``typer<0.28``, older than the project's, so it lives in a
virtualenv of its own (``.venv/generator``, made by ``make venv-test``); the client it writes needs
only ``httpx``, ``attrs`` and ``python-dateutil``, which the project's environment has.
"""

from __future__ import annotations

import importlib
import io
import json
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from tests.conftest import LiveServer, wait_for

PACKAGE = "modelworks_client"


def _generator() -> str:
    installed = Path(sys.prefix) / "generator" / "bin" / "openapi-python-client"
    found = str(installed) if installed.exists() else shutil.which("openapi-python-client")
    if found is None:
        message = "no openapi-python-client (make venv-test installs it into .venv/generator)"
        if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    return found


def _png(shade: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 32), (shade, 255 - shade, shade // 2)).save(out, format="PNG")
    return out.getvalue()


def generate_client(server: LiveServer, where: Path) -> Any:
    spec = where / "openapi.json"
    spec.write_text(httpx.get(f"{server.endpoint}/openapi.json", timeout=120).text)
    config = where / "generator.json"
    config.write_text(json.dumps({"post_hooks": []}))  # no formatter run over the output
    done = subprocess.run(
        [_generator(), "generate", "--path", str(spec), "--output-path", str(where / PACKAGE)]
        + ["--meta", "none", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    sys.path.insert(0, str(where))
    try:
        with warnings.catch_warnings():
            # Unformatted output (no post hook) has `0and` in a default check: valid, but warned about.
            warnings.simplefilter("ignore", SyntaxWarning)
            package = importlib.import_module(PACKAGE)
            for module in ("api.datasets.list_datasets", "api.datasets.create_dataset", "models"):
                importlib.import_module(f"{PACKAGE}.{module}")
            return package
    finally:
        sys.path.remove(str(where))


def test_generated_client_lists_datasets_and_starts_auto_labeling(server: LiveServer, tmp_path: Path) -> None:
    package = generate_client(server, tmp_path)
    try:
        _use_client(server, package)
    finally:
        for name in [n for n in sys.modules if n == PACKAGE or n.startswith(f"{PACKAGE}.")]:
            del sys.modules[name]


def _use_client(server: LiveServer, package: Any) -> None:
    datasets_api = importlib.import_module(f"{PACKAGE}.api.datasets")
    tasks_api = importlib.import_module(f"{PACKAGE}.api.intelligent_tasks")
    models = importlib.import_module(f"{PACKAGE}.models")
    list_datasets = importlib.import_module(f"{datasets_api.__name__}.list_datasets")
    create_dataset = importlib.import_module(f"{datasets_api.__name__}.create_dataset")
    start_task = importlib.import_module(f"{tasks_api.__name__}.start_task")
    get_task = importlib.import_module(f"{tasks_api.__name__}.get_task")
    stop_task = importlib.import_module(f"{tasks_api.__name__}.stop_task")

    token = server.token_client().http.headers["X-Auth-Token"]
    client = package.AuthenticatedClient(
        base_url=server.endpoint, token=token, prefix="", auth_header_name="X-Auth-Token", timeout=60
    )
    project = server.credentials["project_id"]

    # Two labels with five labeled images each (the fewest auto labeling takes), four unlabeled.
    root = server.storage_root / "gen" / "images"
    for label, shade in (("cat", 30), ("dog", 220)):
        (root / label).mkdir(parents=True)
        for i in range(5):
            (root / label / f"{label}{i}.png").write_bytes(_png(shade + i))
    for i in range(4):
        (root / f"new{i}.png").write_bytes(_png(40 + 50 * i))
    created = create_dataset.sync_detailed(
        project,
        client=client,
        body=models.CreateDatasetReq.from_dict(
            {
                "dataset_name": "generated",
                "dataset_type": 0,
                "data_sources": [{"data_type": 0, "data_path": "/gen/images/"}],
                "work_path": "/gen/work/",
                "work_path_type": 0,
            }
        ),
    )
    assert created.status_code == 201, created.content
    dataset_id = json.loads(created.content)["dataset_id"]

    listed = list_datasets.sync(project, client=client)
    assert [d.dataset_id for d in listed.datasets] == [dataset_id]

    def imported() -> bool:
        found = list_datasets.sync(project, client=client).datasets[0].to_dict()
        return int(found.get("total_sample_count") or 0) == 14

    wait_for(imported, timeout=120, interval=0.5)
    started = start_task.sync_detailed(
        project,
        dataset_id,
        client=client,
        body=models.CreateTaskReq.from_dict(
            {"task_type": "auto-label", "config": {"algorithm_type": "fast"}}
        ),
    )
    assert started.status_code == 200, started.content
    task_id = json.loads(started.content)["task_id"]
    detail = get_task.sync_detailed(project, dataset_id, task_id, client=client)
    assert detail.status_code == 200 and json.loads(detail.content)["task_id"] == task_id
    # Nothing to learn from ten flat images: stop it rather than keep the CPUs busy.
    assert stop_task.sync_detailed(project, dataset_id, task_id, client=client).status_code in (200, 204)
