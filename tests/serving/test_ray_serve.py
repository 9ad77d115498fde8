"""Real-time services on Ray Serve: a private loopback Ray head (the training tests' fixture) and servers
whose MODELWORKS_RAY_ADDRESS names it, driven through the signed API.

The model is a small linear scorer whose weights are a file of its package (no framework to import, so
replicas start in seconds); it also says which process answered and what ``GREETING`` its environment
holds. Skipped without Ray Serve.
"""

from __future__ import annotations

import importlib.util
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from modelworks.db import Database
from modelworks.serving.tables import ServiceInstance
from modelworks.settings import Settings
from tests._client import SignedClient
from tests.conftest import LiveServer, free_port, run_server, wait_for
from tests.models._packages import create, put_package, wait_published
from tests.serving._packages import (
    SERVICES,
    deploy,
    details,
    event_texts,
    events,
    model_config,
    realtime_body,
    signed_upload,
    wait_status,
)
from tests.training import test_ray_jobs

pytestmark = [
    pytest.mark.ray,
    pytest.mark.skipif(
        importlib.util.find_spec("ray") is None or importlib.util.find_spec("grpc_reflection") is None,
        reason="ray[serve] is not installed",
    ),
    # Raised by Ray Serve's own configuration classes when they are imported.
    pytest.mark.filterwarnings("ignore::pydantic.warnings.PydanticDeprecatedSince20"),
]

ray_head = test_ray_jobs.ray_head
"""A Ray head on 127.0.0.1 with 2 CPUs, one per test module."""


@pytest.fixture(scope="module")
def head(ray_head: test_ray_jobs.RayHead) -> Iterator[test_ray_jobs.RayHead]:
    """The Ray head; Serve's controller and proxy (detached actors) are shut down before it stops."""
    yield ray_head
    response = httpx.delete(f"{ray_head.dashboard}/api/serve/applications/", timeout=60)
    assert response.status_code == 200, response.text


SCORER_SERVICE = """
import json
import os

from model_service.model_service import SingleNodeService


class LinearScorer(SingleNodeService):
    def __init__(self, model_name, model_path):
        super().__init__(model_name, model_path)
        with open(os.path.join(model_path, "weights.json")) as f:
            self.weights = json.load(f)

    def _inference(self, data):
        files = {
            field: {name: f.read().decode() for name, f in value.items()}
            for field, value in data.items()
            if isinstance(value, dict)
        }
        rows = data.get("rows") or []
        scores = [sum(w * x for w, x in zip(self.weights["w"], row)) + self.weights["b"] for row in rows]
        return {"scores": scores, "files": files, "pid": os.getpid(), "greeting": os.environ.get("GREETING")}
"""

BROKEN_SERVICE = """
from model_service.model_service import SingleNodeService


class Broken(SingleNodeService):
    def __init__(self, model_name, model_path):
        super().__init__(model_name, model_path)
        raise ValueError("the weights of this model are missing")
"""

CONFIG = {"model_algorithm": "predict_analysis", "model_type": "Custom"}
WEIGHTS = {"w": [2.0, -1.0, 0.5], "b": 1.0}


def publish(client: SignedClient, server: LiveServer, name: str, service: str) -> str:
    prefix = f"/ml/{name}/"
    put_package(server, prefix, CONFIG, service, {"weights.json": json.dumps(WEIGHTS).encode()})
    model_id = create(client, model_name=name, model_version="1.0.0", source_location=prefix)
    wait_published(client, model_id)
    return model_id


def serve_apps(head: test_ray_jobs.RayHead, service_id: str) -> dict[str, Any]:
    """The service's Serve applications, from the dashboard's Serve API."""
    body = httpx.get(f"{head.dashboard}/api/serve/applications/", timeout=10).json()
    return {k: v for k, v in (body.get("applications") or {}).items() if service_id in k}


def instance_rows(server: LiveServer, service_id: str) -> list[ServiceInstance]:
    db = Database(server.settings.database_url)
    try:
        with db.session(readonly=True) as s:
            return list(s.scalars(select(ServiceInstance).where(ServiceInstance.service_id == service_id)))
    finally:
        db.dispose()


def infer(client: SignedClient, service_id: str, rows: list[list[float]]) -> dict[str, Any]:
    response = client.post(f"/v1/infers/{service_id}", {"rows": rows})
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_a_service_runs_as_serve_replicas_survives_a_restart_stops_starts_and_is_deleted(
    head: test_ray_jobs.RayHead, tmp_path: Path
) -> None:
    home, settings = tmp_path / "home", head.settings()
    with run_server(home, **settings) as first:
        client = first.signed()
        scorer = publish(client, first, "scorer", SCORER_SERVICE)
        body = realtime_body("scorer", model_config(scorer, instances=2, envs={"GREETING": "hello"}))
        service_id = deploy(client, body)
        service = wait_status(client, service_id, "running", timeout=60)
        assert service["config"][0]["status"] == "running" and service["config"][0]["instance_count"] == 2
        steps = event_texts(client, service_id)
        assert steps[0] == "start to deploy service" and steps[-1] == "service is running"
        assert any("deploying Serve application" in s for s in steps), steps

        # The model's own answers, as JSON and as a multipart upload, from both replicas.
        answers = [infer(client, service_id, [[1.0, 2.0, 4.0], [0.0, 0.0, 0.0]]) for _ in range(16)]
        assert all(a["scores"] == [3.0, 1.0] and a["greeting"] == "hello" for a in answers)
        assert len({a["pid"] for a in answers}) == 2
        upload = signed_upload(client, f"/v1/infers/{service_id}", {"notes": ("a.txt", b"some text")})
        assert upload.status_code == 200, upload.text
        assert upload.json()["files"] == {"notes": {"a.txt": "some text"}}

        # Two replicas of one Serve application; one running row per replica, addressed at its route.
        apps = serve_apps(head, service_id)
        assert len(apps) == 1
        ((name, app),) = apps.items()
        assert app["status"] == "RUNNING" and app["route_prefix"].startswith(f"/{service_id}/{scorer}/")
        replicas = app["deployments"]["model"]["replicas"]
        assert len(replicas) == 2 and all(r["state"] == "RUNNING" for r in replicas)
        rows = instance_rows(first, service_id)
        assert sorted(r.slot for r in rows) == [0, 1] and all(r.status == "running" for r in rows)
        (base_url,) = {r.base_url for r in rows}
        assert base_url is not None and re.fullmatch(
            r"http://127\.0\.0\.1:\d+", base_url.removesuffix(app["route_prefix"])
        )
        monitor = client.get(f"{SERVICES}/{service_id}/monitor").json()
        assert monitor["service_running_instance_count"] == 2

    # The application outlives its server; the next server adopts it and serves at once.
    assert serve_apps(head, service_id)[name]["status"] == "RUNNING"
    with run_server(home, **settings) as second:
        client = second.signed()
        wait_for(lambda: any("re-adopted" in e for e in event_texts(client, service_id)), timeout=20)
        assert infer(client, service_id, [[1.0, 1.0, 1.0]])["scores"] == [2.5]
        assert details(client, service_id)["status"] == "running"

        # Stop through the update operation: the application goes and calls are refused.
        assert client.put(f"{SERVICES}/{service_id}", {"status": "stopped"}).json() == {}
        wait_status(client, service_id, "stopped", timeout=30)
        assert serve_apps(head, service_id) == {} and instance_rows(second, service_id) == []
        refused = client.post(f"/v1/infers/{service_id}", {"rows": [[1.0, 1.0, 1.0]]})
        assert refused.status_code == 500 and refused.json()["error_code"] == "ModelArts.4503"

        # Start again: a new application with two replicas.
        assert client.put(f"{SERVICES}/{service_id}", {"status": "running"}).status_code == 200
        wait_status(client, service_id, "running", timeout=60)
        assert infer(client, service_id, [[0.0, 2.0, 0.0]])["scores"] == [-1.0]
        assert len(serve_apps(head, service_id)[name]["deployments"]["model"]["replicas"]) == 2

        # Delete: the application and the rows go.
        assert client.delete(f"{SERVICES}/{service_id}").json() == {}
        wait_for(lambda: client.get(f"{SERVICES}/{service_id}").status_code == 404, timeout=30)
        assert serve_apps(head, service_id) == {}
        assert not (Settings(home=home).sandbox_root / "services" / service_id).exists()


def test_a_package_that_cannot_load_on_ray_fails_the_service_with_its_cause(
    head: test_ray_jobs.RayHead, tmp_path: Path
) -> None:
    with run_server(tmp_path / "home", **head.settings()) as server:
        client = server.signed()
        broken = publish(client, server, "broken", BROKEN_SERVICE)
        service_id = deploy(client, realtime_body("broken", model_config(broken)))
        service = wait_status(client, service_id, "failed", timeout=60)
        cause = "ValueError: the weights of this model are missing"
        assert "failed to start Serve application" in service["error_msg"] and cause in service["error_msg"]
        assert service["config"][0]["status"] == "failed"
        abnormal = [e["event_info"] for e in events(client, service_id, event_type="abnormal")]
        assert "service deployment failed" in abnormal and any(cause in e for e in abnormal), abnormal
        assert serve_apps(head, service_id) == {}
        logs = client.get(f"{SERVICES}/{service_id}/logs").json()["logs"]
        assert [g["result"] for g in logs] == ["FAIL"]
        assert client.delete(f"{SERVICES}/{service_id}").status_code == 200
        assert client.get(f"{SERVICES}/{service_id}").status_code == 404


def settled_logs(client: SignedClient, service_id: str) -> list[dict[str, Any]] | None:
    """The update logs once none is RUNNING."""
    logs = client.get(f"{SERVICES}/{service_id}/logs").json()["logs"]
    return logs if all(g["result"] != "RUNNING" for g in logs) else None


def test_on_ray_an_update_deploys_a_new_application_scaling_adds_replicas_and_a_failed_update_rolls_back(
    head: test_ray_jobs.RayHead, tmp_path: Path
) -> None:
    with run_server(tmp_path / "home", **head.settings()) as server:
        client = server.signed()
        scorer = publish(client, server, "scorer", SCORER_SERVICE)
        broken = publish(client, server, "broken", BROKEN_SERVICE)
        half = {"specification": "custom", "custom_spec": {"cpu": 0.5, "memory": 256}}  # 4 fit on 2 CPUs

        def entry(model_id: str, greeting: str) -> dict[str, Any]:
            return model_config(model_id, envs={"GREETING": greeting}, **half)

        service_id = deploy(client, realtime_body("rolling", entry(scorer, "one")))
        wait_status(client, service_id, "running", timeout=60)
        assert infer(client, service_id, [[1.0, 0.0, 0.0]])["greeting"] == "one"
        (first,) = serve_apps(head, service_id)

        # Other envs: a new application beside the old one, which goes once the new one runs.
        assert client.put(f"{SERVICES}/{service_id}", {"config": [entry(scorer, "two")]}).status_code == 200
        logs = wait_for(lambda: settled_logs(client, service_id), timeout=60)
        assert [g["result"] for g in logs] == ["SUCCESS", "SUCCESS"]
        assert "service updated" in event_texts(client, service_id)
        assert infer(client, service_id, [[1.0, 0.0, 0.0]])["greeting"] == "two"
        wait_for(lambda: len(serve_apps(head, service_id)) == 1, timeout=20)
        (second,) = serve_apps(head, service_id)
        assert second != first

        # Scaling: the same application with two replicas, both answering.
        scale = {"changed_property": "instance_count", "configs": [{"model_id": scorer, "changed_value": 2}]}
        assert client.put(f"{SERVICES}/{service_id}/property", scale).status_code == 200
        logs = wait_for(lambda: settled_logs(client, service_id), timeout=60)
        assert [g["result"] for g in logs] == ["SUCCESS"] * 3
        assert list(serve_apps(head, service_id)) == [second]
        assert client.get(f"{SERVICES}/{service_id}/monitor").json()["service_running_instance_count"] == 2
        pids = {infer(client, service_id, [[0.0, 0.0, 0.0]])["pid"] for _ in range(16)}
        assert len(pids) == 2

        # A model that cannot load: the update is rolled back and the old application keeps serving.
        assert client.put(f"{SERVICES}/{service_id}", {"config": [entry(broken, "three")]}).status_code == 200
        logs = wait_for(lambda: settled_logs(client, service_id), timeout=60)
        assert [g["result"] for g in logs] == ["FAIL", "SUCCESS", "SUCCESS", "SUCCESS"]
        assert any("the update is rolled back" in e for e in event_texts(client, service_id))
        service = wait_status(client, service_id, "running")
        assert [c["model_id"] for c in service["config"]] == [scorer]
        assert infer(client, service_id, [[1.0, 0.0, 0.0]])["greeting"] == "two"
        wait_for(lambda: list(serve_apps(head, service_id)) == [second], timeout=20)
        client.delete(f"{SERVICES}/{service_id}")
        wait_for(lambda: client.get(f"{SERVICES}/{service_id}").status_code == 404, timeout=30)


def test_a_ray_address_where_nothing_answers_fails_the_deployment_with_the_cause(tmp_path: Path) -> None:
    address = f"127.0.0.1:{free_port()}"
    with run_server(tmp_path / "home", ray_address=address) as server:
        client = server.signed()
        scorer = publish(client, server, "scorer", SCORER_SERVICE)
        service_id = deploy(client, realtime_body("nowhere", model_config(scorer)))
        service = wait_status(client, service_id, "failed", timeout=30)
        assert f"nothing answers at the Ray address {address}" in service["error_msg"]
        assert "service deployment failed" in event_texts(client, service_id)
