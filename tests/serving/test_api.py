"""The service API around deployments: validation, listing, tags, patches, events, logs, monitor.

Uses a model whose inference code echoes its input (no framework to import), so its instances start
in about a second; runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests._client import SignedClient
from tests._pg import fresh_database
from tests.conftest import LiveServer, run_server, wait_for
from tests.models._packages import create, put_echo_package, put_package, wait_published
from tests.serving._packages import (
    SERVICES,
    deploy,
    details,
    events,
    model_config,
    realtime_body,
    wait_status,
)
from tests.training._jobs import put_files


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    home = tmp_path_factory.mktemp("services-api") / "home"
    if request.param == "sqlite":
        with run_server(home) as live:
            yield live
        return
    with fresh_database() as url, run_server(home, database_url=url) as live:
        yield live


@pytest.fixture(scope="module")
def client(server: LiveServer) -> SignedClient:
    return server.signed()


@pytest.fixture(scope="module")
def echo(client: SignedClient, server: LiveServer) -> str:
    put_echo_package(server, "/ml/echo/")
    model_id = create(client, model_name="echo", model_version="1.0.0", source_location="/ml/echo/")
    wait_published(client, model_id)
    return model_id


@pytest.fixture(scope="module")
def echo2(client: SignedClient, server: LiveServer) -> str:
    put_echo_package(server, "/ml/echo2/")
    model_id = create(client, model_name="echo", model_version="2.0.0", source_location="/ml/echo2/")
    wait_published(client, model_id)
    return model_id


def other_project(server: LiveServer) -> SignedClient:
    """A signed client of a second project, with a user and access key of its own."""
    return server.new_project("modelworks", "erin", "team-b")


def refused(response: httpx.Response, status: int, code: str) -> str:
    assert (response.status_code, response.json().get("error_code")) == (status, code), response.text
    return str(response.json()["error_msg"])


def names(body: dict[str, Any]) -> list[str]:
    return [s["service_name"] for s in body["services"]]


def test_specifications_describe_this_machine(client: SignedClient) -> None:
    body = client.get(f"{SERVICES}/specifications").json()
    assert body["total_count"] == body["count"] >= 1
    first = body["specifications"][0]
    assert first["specification"] == "modelarts.vm.cpu.1u" and first["category"] == "CPU"
    assert first["cpu_info"]["cpu"] == 1.0 and first["memory_info"]["unit"] == "GB" and first["is_open"]
    assert client.get(f"{SERVICES}/specifications", is_personal_cluster="true").json()["specifications"] == []
    assert client.get(f"{SERVICES}/specifications", limit=1, offset=1).json()["count"] <= 1


@pytest.mark.parametrize(
    ("change", "status", "code", "field"),
    [
        ({"config": []}, 400, "ModelArts.3610", "config"),
        ({"service_name": "bad name!"}, 400, "ModelArts.0101", "service_name"),
        ({"infer_type": "offline"}, 400, "ModelArts.0101", "infer_type"),
        (
            {"config": [{"weight": 100, "specification": "modelarts.vm.cpu.1u"}]},
            400,
            "ModelArts.3610",
            "model_id",
        ),
        ({"config": [model_config("no-such-model")]}, 400, "ModelArts.3506", "config[0].model_id"),
        ({"config": [model_config("ECHO", weight=60)]}, 400, "ModelArts.0101", "weight"),
        (
            {"config": [model_config("ECHO", specification="modelarts.vm.gpu.pnt004")]},
            400,
            "ModelArts.3835",
            "spec",
        ),
        ({"config": [model_config("ECHO", specification="custom")]}, 400, "ModelArts.0101", "custom_spec"),
        ({"config": [model_config("ECHO", instances=0)]}, 400, "ModelArts.0101", "instance_count"),
        ({"config": [model_config("ECHO", 50), model_config("ECHO", 50)]}, 400, "ModelArts.3516", "model_id"),
        (
            {"schedule": [{"type": "start", "time_unit": "HOURS", "duration": 1}]},
            400,
            "ModelArts.0101",
            "type",
        ),
        ({"infer_type": "edge"}, 501, "ModelArts.0101", "edge"),
        ({"cluster_id": "pool-1"}, 501, "ModelArts.0101", "cluster_id"),
        ({"vpc_id": "vpc-1"}, 501, "ModelArts.0101", "vpc_id"),
    ],
)
def test_a_bad_deployment_is_refused_naming_what_is_wrong(
    client: SignedClient, echo: str, change: dict[str, Any], status: int, code: str, field: str
) -> None:
    body = {**realtime_body("refused", model_config(echo)), **copy.deepcopy(change)}
    for item in body["config"]:
        if item.get("model_id") == "ECHO":
            item["model_id"] = echo
    assert field in refused(client.post(SERVICES, body), status, code)


def test_services_are_listed_filtered_paged_tagged_and_deleted_together(
    client: SignedClient, echo: str, echo2: str
) -> None:
    custom = model_config(echo, specification="custom", custom_spec={"cpu": 0.5, "memory": 512})
    first = deploy(client, realtime_body("list-a", custom, description="first"))
    second = deploy(client, realtime_body("list-b", model_config(echo2)))
    third = deploy(
        client, realtime_body("other", model_config(echo, weight=40), model_config(echo2, weight=60))
    )
    refused(client.post(SERVICES, realtime_body("list-a", model_config(echo))), 409, "ModelArts.3503")
    for service_id in (first, second, third):
        wait_status(client, service_id, "running")
    shown = details(client, first)
    assert shown["config"][0]["custom_spec"] == {"cpu": 0.5, "memory": 512}
    assert shown["description"] == "first" and shown["owner"] and shown["tenant"] and shown["project"]

    everything = client.get(SERVICES).json()
    assert everything["total_count"] == 3 and names(everything) == ["other", "list-b", "list-a"]
    assert names(client.get(SERVICES, service_name="list", order="asc").json()) == ["list-a", "list-b"]
    assert names(client.get(SERVICES, model_id=echo2, sort_by="service_name", order="asc").json()) == [
        "list-b",
        "other",
    ]
    page = client.get(SERVICES, offset=1, limit=1).json()
    assert page["total_count"] == 3 and page["count"] == 1 and names(page) == ["list-b"]
    assert client.get(SERVICES, infer_type="batch").json()["total_count"] == 0
    assert client.get(SERVICES, workspace_id="elsewhere").json()["total_count"] == 0
    refused(client.get(SERVICES, sort_by="size"), 400, "ModelArts.0101")

    tags = {"tags": [{"key": "team", "value": "vision"}, {"key": "stage", "value": "dev"}]}
    assert client.post(f"{SERVICES}/{first}/tags/create", tags).status_code == 204
    again = {"tags": [{"key": "stage", "value": "prod"}]}
    assert client.post(f"{SERVICES}/{second}/tags/create", again).status_code == 204
    assert (
        client.post(
            f"{SERVICES}/{first}/tags/create", {"tags": [{"key": "stage", "value": "qa"}]}
        ).status_code
        == 204
    )
    assert details(client, first)["tags"] == [
        {"key": "team", "value": "vision"},
        {"key": "stage", "value": "qa"},
    ]
    assert client.get(f"{SERVICES}/tms/tags").json() == {
        "tags": [{"key": "stage", "values": ["prod", "qa"]}, {"key": "team", "values": ["vision"]}]
    }
    assert names(client.get(SERVICES, tags="stage=prod").json()) == ["list-b"]
    assert names(client.get(SERVICES, tags="team").json()) == ["list-a"]
    delete = client.request("DELETE", f"{SERVICES}/{first}/tags/delete", json={"tags": [{"key": "team"}]})
    assert delete.status_code == 204 and details(client, first)["tags"] == [{"key": "stage", "value": "qa"}]
    refused(
        client.post(f"{SERVICES}/{first}/tags/create", {"tags": [{"key": "_sys_x", "value": "1"}]}),
        400,
        "ModelArts.0101",
    )

    assert client.delete(f"{SERVICES}/{first},{second}").status_code == 200
    wait_for(lambda: client.get(SERVICES).json()["total_count"] == 1, timeout=20)
    client.delete(f"{SERVICES}/{third}")


def test_a_service_is_patched_scaled_and_its_events_and_logs_are_queried(
    client: SignedClient, echo: str
) -> None:
    service_id = deploy(client, realtime_body("patched", model_config(echo)))
    wait_status(client, service_id, "running")
    assert client.post(f"/v1/infers/{service_id}", {"hello": ["world"]}).json() == {"hello": ["world"]}

    patch = [{"op": "replace", "path": "/config/0/envs", "value": {"GREETING": "hi"}}]
    response = client.request("PATCH", f"{SERVICES}/{service_id}", json=patch)
    assert response.status_code == 200, response.text
    update_time = response.json()["update_time"]
    assert response.json()["resource_ids"]
    wait_for(
        lambda: all(
            g["result"] != "RUNNING" for g in client.get(f"{SERVICES}/{service_id}/logs").json()["logs"]
        ),
        timeout=30,
    )
    assert details(client, service_id)["config"][0]["envs"] == {"GREETING": "hi"}
    logs = client.get(f"{SERVICES}/{service_id}/logs", update_time=update_time).json()
    assert [g["result"] for g in logs["logs"]] == ["SUCCESS"] and logs["logs"][0]["config"][0]["envs"] == {
        "GREETING": "hi"
    }
    assert len(client.get(f"{SERVICES}/{service_id}/logs").json()["logs"]) == 2
    bad = [{"op": "add", "path": "/config/0/envs", "value": {}}]
    refused(client.request("PATCH", f"{SERVICES}/{service_id}", json=bad), 400, "ModelArts.0101")
    refused(
        client.request(
            "PATCH", f"{SERVICES}/{service_id}", json=[{"op": "replace", "path": "/name", "value": "x"}]
        ),
        400,
        "ModelArts.0101",
    )

    scale = {"changed_property": "instance_count", "configs": [{"model_id": echo, "changed_value": 2}]}
    assert client.put(f"{SERVICES}/{service_id}/property", scale).status_code == 200
    wait_for(
        lambda: client.get(f"{SERVICES}/{service_id}/monitor").json()["service_running_instance_count"] == 2,
        timeout=30,
    )
    unknown = {"changed_property": "instance_count", "configs": [{"model_id": "nope", "changed_value": 1}]}
    refused(client.put(f"{SERVICES}/{service_id}/property", unknown), 400, "ModelArts.3529")

    every = client.get(f"{SERVICES}/{service_id}/events").json()
    assert every["service_id"] == service_id and every["total_count"] == every["count"] >= 5
    times = [e["occur_time"] for e in every["events"]]
    assert times == sorted(times, reverse=True)
    oldest = client.get(f"{SERVICES}/{service_id}/events", order="asc", limit=2).json()
    assert oldest["count"] == 2 and oldest["events"][0]["event_info"] == "start to deploy service"
    later = client.get(f"{SERVICES}/{service_id}/events", start_time=times[0]).json()
    assert all(e["occur_time"] >= times[0] for e in later["events"]) and later["count"] >= 1
    assert events(client, service_id, event_type="abnormal") == []

    assert (
        client.put(f"{SERVICES}/{service_id}", {"status": "stopped", "description": "parked"}).status_code
        == 200
    )
    wait_status(client, service_id, "stopped")
    assert details(client, service_id)["description"] == "parked"
    refused(client.put(f"{SERVICES}/{service_id}/property", scale), 400, "ModelArts.3519")
    refused(client.put(f"{SERVICES}/{service_id}", {"status": "paused"}), 400, "ModelArts.0101")
    stopped = client.post(f"/v1/infers/{service_id}", {"n": 1})
    assert stopped.status_code == 500 and "is stopped" in stopped.json()["error_msg"]
    assert client.put(f"{SERVICES}/{service_id}", {"status": "running"}).status_code == 200
    assert wait_status(client, service_id, "running")["config"][0]["instance_count"] == 2
    assert client.post(f"/v1/infers/{service_id}", {"n": 1}).json() == {"n": 1}
    client.delete(f"{SERVICES}/{service_id}")
    wait_for(lambda: client.get(f"{SERVICES}/{service_id}").status_code == 404, timeout=20)


def test_calls_are_counted_and_projects_do_not_see_each_other(
    server: LiveServer, client: SignedClient, echo: str
) -> None:
    service_id = deploy(
        client,
        realtime_body(
            "counted", model_config(echo), schedule=[{"type": "stop", "time_unit": "HOURS", "duration": 2}]
        ),
    )
    service = wait_status(client, service_id, "running")
    assert 0 < service["due_time"] - time.time() * 1000 <= 2 * 3600 * 1000
    for i in range(5):
        assert client.post(f"/v1/infers/{service_id}", {"n": i}).json() == {"n": i}

    def counted() -> dict[str, Any] | None:
        body = client.get(f"{SERVICES}/{service_id}/monitor").json()
        return body if body["monitors"][0]["invocation_times"] == 5 else None

    monitor = wait_for(counted, timeout=10)
    assert monitor["req_count_per_min"] == 5 and monitor["monitors"][0]["failed_times"] == 0
    listed = client.get(SERVICES, service_id=service_id).json()["services"][0]
    assert listed["invocation_times"] == 5 and listed["failed_times"] == 0

    channel = client.get("/v1/{project_id}/internal-channel-info").json()
    assert channel == {"dns_domain_name": "127.0.0.1", "vpcep_info": []}
    missing = client.get(f"{SERVICES}/no-such-service")
    refused(missing, 404, "ModelArts.3502")

    other = other_project(server)
    assert other.get(f"{SERVICES}/{service_id}").status_code == 404
    assert other.post(f"/v1/infers/{service_id}", {"n": 1}).status_code == 404
    assert other.get(SERVICES).json()["total_count"] == 0
    refused(other.get(SERVICES.replace("{project_id}", client.project_id)), 403, "ModelArts.0210")
    client.delete(f"{SERVICES}/{service_id}")


def batch_body(name: str, model_id: str, **config: Any) -> dict[str, Any]:
    entry = {"model_id": model_id, "specification": "modelarts.vm.cpu.1u", "instance_count": 1, **config}
    return {"service_name": name, "infer_type": "batch", "config": [entry]}


def test_a_batch_service_maps_csv_rows_to_json_requests(
    server: LiveServer, client: SignedClient, echo: str
) -> None:
    # The module's server has a second project by now: a bucket is the project's once it creates it.
    assert client.post("/v2/{project_id}/buckets", {"bucket_name": "tables"}).status_code in (200, 201)
    put_files(server, "/tables/", {"iris.csv": "5.1,3.5,1.4,0.2\n4.9,3.0,1.4,0.2\n"})
    properties = {f"input_{i + 1}": {"type": "number", "index": i} for i in range(4)}
    properties["input_3"]["index"] = -1  # left out of the requests
    rule = {
        "type": "object",
        "properties": {
            "data": {
                "type": "object",
                "properties": {
                    "req_data": {"type": "array", "items": [{"type": "object", "properties": properties}]}
                },
            }
        },
    }
    body = batch_body(
        "csv", echo, src_path="/tables/", dest_path="/tables-out/", mapping_type="csv", mapping_rule=rule
    )
    service_id = deploy(client, body)
    wait_status(client, service_id, "finished")
    result = (server.storage_root / "tables-out/infer-result/iris.csv_result.txt").read_text().splitlines()
    assert [json.loads(line) for line in result] == [
        {"data": {"req_data": [{"input_1": 5.1, "input_2": 3.5, "input_4": 0.2}]}},
        {"data": {"req_data": [{"input_1": 4.9, "input_2": 3.0, "input_4": 0.2}]}},
    ]
    missing_rule = batch_body("csv2", echo, src_path="/tables/", dest_path="/t/", mapping_type="csv")
    response = client.post(SERVICES, missing_rule)
    assert response.status_code == 400 and "mapping_rule" in response.json()["error_msg"]
    client.delete(f"{SERVICES}/{service_id}")


FAILING_SERVICE = """
from model_service.model_service import SingleNodeService


class FailingService(SingleNodeService):
    def __init__(self, model_name, model_path):
        super().__init__(model_name, model_path)
        raise RuntimeError("the weights file is corrupt")
"""


def test_an_update_to_a_model_that_cannot_load_is_rolled_back(
    server: LiveServer, client: SignedClient, echo: str
) -> None:
    put_package(
        server,
        "/ml/failing/",
        {"model_algorithm": "predict_analysis", "model_type": "Custom"},
        FAILING_SERVICE,
    )
    failing = create(client, model_name="failing", model_version="1.0.0", source_location="/ml/failing/")
    wait_published(client, failing)
    service_id = deploy(client, realtime_body("rollback", model_config(echo)))
    wait_status(client, service_id, "running")
    assert client.put(f"{SERVICES}/{service_id}", {"config": [model_config(failing)]}).status_code == 200
    logs = wait_for(
        lambda: (
            (g := client.get(f"{SERVICES}/{service_id}/logs").json()["logs"])[0]["result"] != "RUNNING" and g
        ),
        timeout=30,
    )
    assert [g["result"] for g in logs] == ["FAIL", "SUCCESS"]
    service = details(client, service_id)
    assert service["status"] == "running" and service["config"][0]["model_id"] == echo
    abnormal = [e["event_info"] for e in events(client, service_id, event_type="abnormal")]
    assert any(
        "RuntimeError: the weights file is corrupt; the update is rolled back" in e for e in abnormal
    ), abnormal
    assert client.post(f"/v1/infers/{service_id}", {"still": "here"}).json() == {"still": "here"}
    client.delete(f"{SERVICES}/{service_id}")
