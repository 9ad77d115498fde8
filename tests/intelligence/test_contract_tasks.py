"""The typed contract of the intelligent-task operations, over HTTP signed like the official SDK:
bad input is a 400 envelope naming the field (never a 500), the task detail carries the seed's
``resource_id`` and ``export_type``, and auto-deploy's ``worker_server_num`` reaches its training job.

Most tests run against a server without workers: a task stays queued, so its detail can be read and
it can be stopped without any model being loaded.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from modelworks.data.constants import IMAGE_CLASSIFICATION
from modelworks.intelligence.kinds.auto_deploy import builtin_for
from tests._client import SignedClient
from tests.conftest import LiveServer, run_server, wait_for
from tests.data._assets import image_bytes, write_classification_folder
from tests.data.test_datasets_api import wait_import

DS = "/v2/{project_id}/datasets"


@pytest.fixture(scope="module")
def idle(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with run_server(tmp_path_factory.mktemp("contract-tasks") / "home", embedded_worker=False) as server:
        yield server


def new_dataset(client: SignedClient, name: str, labels: tuple[str, ...] = ()) -> str:
    response = client.post(
        DS,
        {
            "dataset_name": name,
            "dataset_type": 0,
            "data_sources": [{"data_type": 0, "data_path": f"/bucket/{name}/"}],
            "work_path": f"/bucket/work-{name}/",
            "work_path_type": 0,
            "labels": [{"name": label, "type": 0} for label in labels],
        },
    )
    assert response.status_code == 201, response.text
    return str(response.json()["dataset_id"])


def refused(response: Any, field: str, status: int = 400) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"error_code", "error_msg"}, body
    assert body["error_msg"].startswith(f"{field}: "), body
    return body


@pytest.fixture(scope="module")
def dataset(idle: LiveServer) -> str:
    (idle.storage_root / "bucket" / "contract").mkdir(parents=True)
    return new_dataset(idle.signed(), "contract")


def test_bad_task_requests_are_400_naming_the_field(idle: LiveServer, dataset: str) -> None:
    client = idle.signed()
    tasks = f"{DS}/{dataset}/tasks"
    body = refused(
        client.post(tasks, {"task_type": "auto-label", "config": {"algorithm_type": "x"}}),
        "config.algorithm_type",
    )
    assert body == {
        "error_code": "ModelArts.0101",
        "error_msg": "config.algorithm_type: must be one of fast, accurate",
    }
    refused(client.post(tasks, {"task_type": []}), "task_type")
    refused(client.post(tasks, {"task_type": "nope"}), "task_type")
    refused(client.post(tasks, {"type": 7}), "type")
    refused(client.post(tasks, {"config": []}), "config")
    bad_counts: list[Any] = [10**30, 2**64, 1, 1001, 2.5, "many", []]
    for n_clusters in bad_counts:
        refused(
            client.post(tasks, {"task_type": "auto-grouping", "config": {"n_clusters": n_clusters}}),
            "config.n_clusters",
        )
    # Infinity is not JSON: the strict parser refuses the body.
    infinite = client.post(tasks, {"task_type": "auto-grouping", "config": {"n_clusters": float("inf")}})
    assert infinite.status_code == 400 and infinite.json()["error_code"] == "ModelArts.4105", infinite.text
    refused(client.post(tasks, {"config": {"confidence_scope": "0.9-0.1"}}), "config.confidence_scope")
    # An empty scope is no scope: the request gets as far as the labels (none here).
    empty_scope = client.post(tasks, {"config": {"confidence_scope": ""}})
    assert empty_scope.json()["error_code"] == "ModelArts.4405", empty_scope.text
    refused(client.post(tasks, {"config": {"name": "a b"}}), "config.name")
    refused(client.post(tasks, {"config": {"name": "trailing\n"}}), "config.name")
    refused(client.post(tasks, {"config": {"stop_time": 0}}), "config.stop_time")
    refused(client.post(tasks, {"config": {"samples": [{"labels": []}]}}), "config.samples[0].sample_id")
    refused(
        client.post(tasks, {"task_type": "pre-label", "config": {"inf_config_list": [{"weight": 101}]}}),
        "config.inf_config_list[0].weight",
    )
    refused(client.post(tasks, {"config": {"worker_server_num": 2**63}}), "config.worker_server_num")
    refused(client.post(tasks, {"collect_key_sample": "maybe"}), "collect_key_sample")
    # Nothing was queued by any of them.
    assert client.get(tasks, type="auto-grouping").json()["total_count"] == 0


def test_list_offsets_beyond_the_database_are_400(idle: LiveServer, dataset: str) -> None:
    client = idle.signed()
    for path in (f"{DS}/{dataset}/tasks", f"{DS}/{dataset}/auto-annotations/samples"):
        refused(client.get(path, offset=2**70), "offset")
        refused(client.get(path, offset=-1), "offset")
        refused(client.get(path, limit=101), "limit")
    refused(client.get(f"{DS}/{dataset}/auto-annotations/samples", label_type=2**64), "label_type")
    refused(client.get(f"{DS}/{dataset}/tasks", type="nope"), "type")
    assert client.get(f"{DS}/{dataset}/tasks", type="").status_code == 200
    page = client.get(f"{DS}/{dataset}/auto-annotations/samples", offset=2**31 - 1).json()
    assert page == {"sample_count": 0, "samples": []}


def test_auto_labels_waiting_for_confirmation_carry_their_hard_details(idle: LiveServer) -> None:
    client = idle.signed()
    (idle.storage_root / "bucket" / "waiting").mkdir(parents=True)
    dataset_id = new_dataset(client, "waiting", labels=("cat",))

    def upload(name: str, annotated_by: str, reasons: list[int]) -> str:
        label = {"name": "cat", "type": 0, "annotated_by": annotated_by, "score": 0.4}
        item = {
            "name": name,
            "data": base64.b64encode(image_bytes(20, 20, len(name))).decode(),
            "labels": [label],
            "metadata": {"@modelarts:hard": bool(reasons), "@modelarts:hard_reasons": reasons},
        }
        response = client.post(f"{DS}/{dataset_id}/data-annotations/samples", {"samples": [item]})
        assert response.status_code == 200 and response.json()["success"], response.text
        return str(response.json()["results"][0]["sample_id"])

    auto = upload("auto.jpg", "auto", [1, 3])
    human = upload("human.jpg", "human", [])
    page = client.get(f"{DS}/{dataset_id}/auto-annotations/samples").json()
    assert page["sample_count"] == 1 and [s["sample_id"] for s in page["samples"]] == [auto]
    detail = client.get(f"{DS}/{dataset_id}/auto-annotations/samples/{auto}").json()
    assert detail == page["samples"][0] | {"source": detail["source"]}
    assert sorted(detail["hard_details"]) == ["1", "3"]
    assert detail["hard_details"]["1"]["id"] == 1 and detail["hard_details"]["1"]["reason"]
    assert detail["labels"][0]["annotated_by"] == "auto" and detail["labels"][0]["score"] == 0.4
    missing = client.get(f"{DS}/{dataset_id}/auto-annotations/samples/{human}")
    assert missing.status_code == 404 and missing.json()["error_code"] == "ModelArts.4420", missing.text


def test_task_detail_names_its_dataset_and_where_groups_go(idle: LiveServer, dataset: str) -> None:
    client = idle.signed()
    tasks = f"{DS}/{dataset}/tasks"
    # The seed's legacy grouping body: an integer type as text, export_type for result_type.
    started = client.post(
        tasks, {"type": "2", "export_type": 0, "task_name": "legacy", "config": {"n_clusters": "3"}}
    )
    assert started.status_code == 200, started.text
    task_id = started.json()["task_id"]
    detail = client.get(f"{tasks}/{task_id}").json()
    assert (detail["resource_id"], detail["dataset_id"]) == (dataset, dataset)
    assert (detail["type"], detail["export_type"], detail["status"]) == (2, 0, -1)
    assert detail["task_name"] == "legacy" and detail["model_id"] is None
    assert detail["config"]["n_clusters"] == 3 and detail["config"]["result_type"] == 0
    # Only what the task has: no null placeholders for the reference's other result fields.
    assert "service_id" not in detail["result"] and "algorithm_type" not in detail["config"]
    assert client.post(f"{tasks}/{task_id}/stop").status_code == 204
    assert client.get(f"{tasks}/{task_id}").json()["status"] == 5

    started = client.post(
        tasks,
        {
            "task_type": "auto-grouping",
            "config": {"result_type": 1, "property": "group", "ambiguity": "true"},
        },
    )
    assert started.status_code == 200, started.text
    detail = client.get(f"{tasks}/{started.json()['task_id']}").json()
    assert detail["export_type"] == 1 and detail["config"]["ambiguity"] is True
    listed = client.get(tasks, type="auto-grouping").json()
    assert listed["total_count"] == 2 and [t["resource_id"] for t in listed["tasks"]] == [dataset, dataset]
    assert [t["export_type"] for t in listed["tasks"]] == [1, 0]
    again = client.post(tasks, {"task_type": "auto-grouping", "config": {"result_type": 0}})
    assert again.status_code == 409 and again.json()["error_code"] == "ModelArts.4997", again.text
    assert client.post(f"{tasks}/{started.json()['task_id']}/stop").status_code == 204


def test_worker_server_num_above_one_needs_the_ray_executor(idle: LiveServer, dataset: str) -> None:
    algorithm = builtin_for(IMAGE_CLASSIFICATION)
    if algorithm is None or not algorithm.available():
        pytest.skip("the built-in image classification algorithm is not installed")
    client = idle.signed()
    response = client.post(
        f"{DS}/{dataset}/tasks", {"task_type": "auto-deploy", "config": {"worker_server_num": 2}}
    )
    body = refused(response, "config.worker_server_num", status=501)
    assert "MODELWORKS_RAY_ADDRESS" in body["error_msg"]


def test_auto_deploy_trains_on_worker_server_num_nodes(tmp_path: Path) -> None:
    """With the Ray executor configured (here an address nothing answers on), the task's training job
    asks for ``worker_server_num`` nodes; the job then fails to reach Ray, which is not the point."""
    algorithm = builtin_for(IMAGE_CLASSIFICATION)
    if algorithm is None or not algorithm.available():
        pytest.skip("the built-in image classification algorithm is not installed")
    home = tmp_path / "home"
    with run_server(home, ray_address="127.0.0.1:1", ray_jobs_address="http://127.0.0.1:1") as live:
        write_classification_folder(live.storage_root / "bucket" / "nodes", {"rose": 5, "tulip": 5})
        client = live.signed()
        dataset_id = new_dataset(client, "nodes")
        assert wait_import(client, dataset_id, timeout=60)["status"] == "COMPLETED"
        tasks = f"{DS}/{dataset_id}/tasks"
        started = client.post(tasks, {"task_type": "auto-deploy", "config": {"worker_server_num": 2}})
        assert started.status_code == 200, started.text
        task_id = started.json()["task_id"]

        def job_id() -> str | None:
            task = client.get(f"{tasks}/{task_id}").json()
            found = (task.get("result") or {}).get("train_job_id")
            assert found or task["status"] not in (2, 3, 5), task
            return found

        job = client.get(
            f"/v2/{{project_id}}/training-jobs/{wait_for(job_id, timeout=120, interval=0.2)}"
        ).json()
        assert job["spec"]["resource"]["node_count"] == 2, job["spec"]
        assert client.get(f"{tasks}/{task_id}").json()["config"]["worker_server_num"] == 2
        client.post(f"{tasks}/{task_id}/stop")
        wait_for(lambda: client.get(f"{tasks}/{task_id}").json()["status"] in (2, 3, 5), timeout=60)
