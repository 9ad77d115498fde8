"""Services of real models end to end: deploy from the registry, predict over /v1/infers, recover."""

from __future__ import annotations

import json
import os
import signal
from collections import Counter
from collections.abc import Iterator
from typing import Any

import psutil
import pytest

from modelworks.compute.processes import ProcessInfo, group_members
from modelworks.serving.gateway import INSTANCE_HEADER
from tests._client import SignedClient
from tests.conftest import LiveServer, run_server, wait_for
from tests.models._packages import create, iris_rows, put_iris_package, wait_published
from tests.serving._packages import (
    CLASSES,
    SERVICES,
    classify,
    deploy,
    details,
    event_texts,
    events,
    image_model,
    model_config,
    realtime_body,
    sample_images,
    wait_status,
)
from tests.training._jobs import put_files


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with run_server(tmp_path_factory.mktemp("realtime") / "home") as live:
        yield live


@pytest.fixture(scope="module")
def client(server: LiveServer) -> SignedClient:
    return server.signed()


@pytest.fixture(scope="module")
def strokes(client: SignedClient, server: LiveServer) -> str:
    return image_model(client, server, "strokes", "1.0.0", CLASSES)


def instance_processes(server: LiveServer, service_id: str) -> dict[str, ProcessInfo]:
    root = server.settings.sandbox_root / "services" / service_id / "instances"
    return {p.parent.name: ProcessInfo.from_json(p.read_text()) for p in root.glob("*/process.json")}


def alive(info: ProcessInfo) -> bool:
    return bool(group_members(info.pgid))


def model_servers(service_id: str) -> list[psutil.Process]:
    """Live processes whose command line names the service's directory."""
    found = []
    for process in psutil.process_iter(["cmdline", "status"]):
        cmdline = process.info["cmdline"] or []
        if process.info["status"] != psutil.STATUS_ZOMBIE and any(
            f"/services/{service_id}/" in a for a in cmdline
        ):
            found.append(process)
    return found


def settled_logs(client: SignedClient, service_id: str) -> list[dict[str, object]] | None:
    """The update logs once none is RUNNING."""
    logs = client.get(f"{SERVICES}/{service_id}/logs").json()["logs"]
    return logs if all(g["result"] != "RUNNING" for g in logs) else None


def test_a_service_deploys_predicts_balances_recovers_stops_and_is_deleted(
    server: LiveServer, client: SignedClient, strokes: str
) -> None:
    service_id = deploy(
        client, realtime_body("strokes", model_config(strokes, instances=2), description="demo")
    )
    first = details(client, service_id)
    assert first["status"] == "deploying" and first["infer_type"] == "real-time"
    service = wait_status(client, service_id, "running")
    assert service["progress"] == 100
    assert service["access_address"] == f"{server.endpoint}/v1/infers/{service_id}"
    assert service["config"][0]["status"] == "running" and service["config"][0]["instance_count"] == 2
    steps = event_texts(client, service_id)
    assert steps[0] == "start to deploy service" and steps[-1] == "service is running"
    assert any("prepare environment success" in s for s in steps)
    assert sum("starting model instance" in s for s in steps) == 2

    # Real predictions, as multipart uploads, spread over both instances.
    answered: Counter[str] = Counter()
    correct = 0
    images = sample_images(30, seed=7)
    for kind, image in images:
        response = classify(client, service_id, image)
        assert response.status_code == 200, response.text
        assert response.json()[0].keys() == {"images"}
        correct += response.json()[0]["images"] == CLASSES[kind]
        answered[response.headers[INSTANCE_HEADER]] += 1
    assert correct / len(images) >= 0.9
    assert len(answered) == 2 and min(answered.values()) >= 10, answered

    # A killed instance is restarted and the event says so; calls go on meanwhile.
    processes = instance_processes(server, service_id)
    victim_id, victim = sorted(processes.items())[0]
    os.killpg(victim.pgid, signal.SIGKILL)
    for _kind, image in images[:5]:
        assert classify(client, service_id, image).status_code == 200
    wait_for(lambda: any("stopped unexpectedly" in e for e in event_texts(client, service_id)), timeout=20)
    # Ready once at the deployment, once more after its restart.
    wait_for(
        lambda: sum(f"instance {victim_id} is running" in e for e in event_texts(client, service_id)) == 2,
        timeout=60,
    )
    assert wait_status(client, service_id, "running")["config"][0]["status"] == "running"
    abnormal = events(client, service_id, event_type="abnormal")
    assert any(victim_id in e["event_info"] and "SIGKILL" in e["event_info"] for e in abnormal)
    assert instance_processes(server, service_id)[victim_id].pid != victim.pid

    # Monitoring sees the calls, the instances' memory and the latency.
    def monitored() -> dict[str, object] | None:
        body = client.get(f"{SERVICES}/{service_id}/monitor").json()
        ok = body["monitors"][0]["invocation_times"] >= 35 and body["monitors"][0]["cpu_memory_usage"] > 0
        return body if ok else None

    monitor = wait_for(monitored, timeout=20)
    model = monitor["monitors"][0]
    assert monitor["service_instance_count"] == 2 and monitor["service_running_instance_count"] == 2
    assert monitor["req_count_per_min"] >= 35 and model["avg_latency_ms"] > 0
    assert model["model_id"] == strokes and model["cpu_core_total"] == 2.0 and model["cpu_core_usage"] >= 0
    assert details(client, service_id)["invocation_times"] >= 35

    # Stop: the processes go, calls are refused; start: it serves again.
    processes = instance_processes(server, service_id)
    assert client.put(f"{SERVICES}/{service_id}", {"status": "stopped"}).json() == {}
    wait_status(client, service_id, "stopped")
    assert len(processes) == 2 and not any(alive(info) for info in processes.values())
    refused = classify(client, service_id, images[0][1])
    assert refused.status_code == 500 and refused.json()["error_code"] == "ModelArts.4503"
    assert not model_servers(service_id)
    assert client.delete(f"{SERVICES}/{service_id}").json() == {}
    assert client.get(f"{SERVICES}/{service_id}").status_code == 404
    assert not (server.settings.sandbox_root / "services" / service_id).exists()


def test_traffic_is_split_by_weight_and_an_update_rolls_to_the_new_model(
    server: LiveServer, client: SignedClient, strokes: str
) -> None:
    shouting = image_model(client, server, "strokes", "2.0.0", [c.upper() for c in CLASSES])
    body = realtime_body("split", model_config(strokes, weight=70), model_config(shouting, weight=30))
    service_id = deploy(client, body)
    wait_status(client, service_id, "running")
    kind, image = sample_images(1, seed=3)[0]
    answers = Counter(classify(client, service_id, image).json()[0]["images"] for _ in range(50))
    assert set(answers) == {CLASSES[kind], CLASSES[kind].upper()}
    assert 30 <= answers[CLASSES[kind]] <= 40, answers

    # Only the new version: its instance stays, the old one is stopped once the update is done.
    update = {"config": [model_config(shouting, weight=100)]}
    assert client.put(f"{SERVICES}/{service_id}", update).status_code == 200
    logs = wait_for(lambda: settled_logs(client, service_id), timeout=60)
    assert [g["result"] for g in logs] == ["SUCCESS", "SUCCESS"]
    assert [c["model_id"] for c in logs[0]["config"]] == [shouting]
    wait_for(lambda: len(instance_processes(server, service_id)) == 1 or None, timeout=20)
    assert {classify(client, service_id, image).json()[0]["images"] for _ in range(5)} == {
        CLASSES[kind].upper()
    }
    assert "service updated" in event_texts(client, service_id)

    # Scaling adds an instance without restarting the one that serves.
    before = instance_processes(server, service_id)
    scale = {"changed_property": "instance_count", "configs": [{"model_id": shouting, "changed_value": 2}]}
    response = client.put(f"{SERVICES}/{service_id}/property", scale)
    assert response.status_code == 200 and response.json()["update_time"] > 0
    wait_for(lambda: details(client, service_id)["config"][0]["instance_count"] == 2 or None)
    logs = wait_for(lambda: settled_logs(client, service_id), timeout=60)
    assert [g["result"] for g in logs] == ["SUCCESS"] * 3
    after = instance_processes(server, service_id)
    assert len(after) == 2 and all(after[k].pid == v.pid for k, v in before.items())
    client.delete(f"{SERVICES}/{service_id}")


def test_a_json_model_answers_json_calls_with_a_token_too(server: LiveServer, client: SignedClient) -> None:
    put_iris_package(server, "/ml/iris/")
    iris = create(client, model_name="iris", model_version="1.0.0", source_location="/ml/iris/")
    wait_published(client, iris)
    service_id = deploy(client, realtime_body("iris", model_config(iris)))
    wait_status(client, service_id, "running")
    features, labels = iris_rows()
    response = client.post(f"/v1/infers/{service_id}", {"req_data": features})
    assert response.status_code == 200, response.text
    predicted = [r["predict_result"] for r in response.json()["resp_data"]]
    assert sum(p == y for p, y in zip(predicted, labels, strict=True)) / len(labels) >= 0.9
    token = server.token_client()
    answer = token.post(f"/v1/infers/{service_id}", {"req_data": features[:2]})
    assert answer.status_code == 200 and len(answer.json()["resp_data"]) == 2
    # Only the APIs the model declares exist; only callers of the service's project reach it.
    missing = client.post(f"/v1/infers/{service_id}/predict", {"req_data": features[:1]})
    assert missing.status_code == 404 and missing.json()["error_code"] == "ModelArts.4204"
    import httpx

    anonymous = httpx.post(f"{server.endpoint}/v1/infers/{service_id}", json={"req_data": features[:1]})
    assert anonymous.status_code == 401
    client.delete(f"{SERVICES}/{service_id}")


def test_a_package_that_cannot_load_fails_the_service_with_its_cause(
    server: LiveServer, client: SignedClient
) -> None:
    broken = image_model(client, server, "broken", "1.0.0", CLASSES, weights=b"not a torch file")
    service_id = deploy(client, realtime_body("broken", model_config(broken, instances=2)))
    service = wait_status(client, service_id, "failed")
    assert "failed to start model instance" in service["error_msg"]
    assert "UnpicklingError" in service["error_msg"] or "pickle" in service["error_msg"].lower()
    assert service["config"][0]["status"] == "failed"
    abnormal = [e["event_info"] for e in events(client, service_id, event_type="abnormal")]
    assert "service deployment failed" in abnormal and any(
        "not a torch file" in e or "pickle" in e.lower() for e in abnormal
    ), abnormal
    wait_for(lambda: not model_servers(service_id), timeout=10)
    logs = client.get(f"{SERVICES}/{service_id}/logs").json()["logs"]
    assert [g["result"] for g in logs] == ["FAIL"]
    # A model in use cannot be deleted; a failed service is deleted at once.
    refused = client.delete(f"/v1/{{project_id}}/models/{broken}")
    assert refused.status_code == 400 and refused.json()["error_code"] == "ModelArts.3009"
    assert client.delete(f"{SERVICES}/{service_id}").status_code == 200
    assert client.get(f"{SERVICES}/{service_id}").status_code == 404
    assert client.delete(f"/v1/{{project_id}}/models/{broken}").status_code == 200


def batch_body(name: str, model_id: str, **config: Any) -> dict[str, Any]:
    entry = {"model_id": model_id, "specification": "modelarts.vm.cpu.1u", "instance_count": 1, **config}
    return {"service_name": name, "infer_type": "batch", "config": [entry]}


def manifest(server: LiveServer, path: str) -> list[dict[str, Any]]:
    text = (server.storage_root / path.strip("/")).read_text()
    return [json.loads(line) for line in text.splitlines()]


def test_a_batch_service_infers_every_file_and_can_run_again_on_a_manifest(
    server: LiveServer, client: SignedClient, strokes: str
) -> None:
    images = sample_images(6, seed=11)
    files: dict[str, str | bytes] = {f"{i}-{CLASSES[k]}.png": data for i, (k, data) in enumerate(images)}
    files["notes.txt"] = "not an image"
    put_files(server, "/data/strokes/", files)
    body = batch_body(
        "strokes-batch",
        strokes,
        src_path="obs://data/strokes/",
        dest_path="/data/out/",
        req_uri="/",
        mapping_type="file",
    )
    service_id = deploy(client, body)
    service = wait_status(client, service_id, "finished")
    assert service["finished_time"] >= service["start_time"] > 0 and service["progress"] == 100
    assert service["config"][0]["src_path"] == "/data/strokes/" and "access_address" not in service

    lines = manifest(server, f"/data/out/infer-result-{service_id}.manifest")
    assert [line["source"] for line in lines] == [f"obs://data/strokes/{name}" for name in sorted(files)]
    failed = [line for line in lines if line["result"] == "FAILED"]
    assert [line["source"] for line in failed] == ["obs://data/strokes/notes.txt"] and failed[0][
        "error_message"
    ]
    correct = 0
    for name in sorted(files)[:-1]:
        line = next(line for line in lines if line["source"].endswith(name))
        assert line["result"] == "SUCCESSFUL"
        assert line["inference-loc"] == f"obs://data/out/infer-result/{name}_result.txt"
        answer = json.loads(
            (server.storage_root / "data/out/infer-result" / f"{name}_result.txt").read_text()
        )
        correct += answer == [{"images": name.split("-")[1].removesuffix(".png")}]
    assert correct >= 5
    assert "batch inference finished: 6 of 7 inputs succeeded" in event_texts(client, service_id)[-1]
    assert client.get(SERVICES, infer_type="batch").json()["total_count"] == 1

    # Run it again on a manifest naming two of the files.
    sources = [f"obs://data/strokes/{name}" for name in sorted(files)[:2]]
    put_files(server, "/data/lists/", {"two.manifest": "\n".join(json.dumps({"source": s}) for s in sources)})
    config = batch_body(
        "x", strokes, src_path="/data/lists/two.manifest", src_type="ManifestFile", dest_path="/data/again/"
    )["config"]
    assert client.put(f"{SERVICES}/{service_id}", {"config": config}).status_code == 200
    assert client.put(f"{SERVICES}/{service_id}", {"status": "running"}).status_code == 200
    wait_status(client, service_id, "deploying", "running", "finished")
    wait_status(client, service_id, "finished")
    again = manifest(server, f"/data/again/infer-result-{service_id}.manifest")
    assert [(line["source"], line["result"]) for line in again] == [(s, "SUCCESSFUL") for s in sources]
    assert client.delete(f"{SERVICES}/{service_id}").status_code == 200
