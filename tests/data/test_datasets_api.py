"""The dataset core over HTTP, signed like the official SDK, on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest

from tests._client import SignedClient
from tests.conftest import LiveServer, wait_for
from tests.data._assets import image_bytes, write_classification_folder

DS = "/v2/{project_id}/datasets"


def create_dataset(client: SignedClient, **body: Any) -> str:
    response = client.post(DS, body)
    assert response.status_code == 201, response.text
    return str(response.json()["dataset_id"])


def wait_import(client: SignedClient, dataset_id: str, timeout: float = 30) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        tasks = client.get(f"{DS}/{dataset_id}/import-tasks").json()["import_tasks"]
        return tasks[0] if tasks and tasks[0]["status"] in ("COMPLETED", "FAILED") else None

    return wait_for(done, timeout=timeout)  # type: ignore[no-any-return]


@pytest.fixture
def live(database_url: str, server_factory) -> LiveServer:  # type: ignore[no-untyped-def]
    # database_url first, so that teardown stops the server before its database is dropped
    return server_factory(database_url=database_url)  # type: ignore[no-any-return]


def test_classification_dataset_end_to_end(live: LiveServer) -> None:
    write_classification_folder(live.storage_root / "bucket" / "flowers", {"rose": 7, "tulip": 5}, broken=2)
    client = live.signed()
    dataset_id = create_dataset(
        client,
        dataset_name="flowers",
        dataset_type=0,
        data_sources=[{"data_type": 0, "data_path": "/bucket/flowers/"}],
        work_path="/bucket/output/",
        work_path_type=0,
        labels=[{"name": "daisy", "type": 0, "property": {"@modelarts:color": "#3399ff"}}],
    )
    task = wait_import(client, dataset_id)
    assert task["status"] == "COMPLETED", task
    assert task["imported_sample_count"] == 12
    assert task["total_file_count"] == 14
    assert sorted(e["file"] for e in task["error_files"]) == [
        "/bucket/flowers/broken0.jpg",
        "/bucket/flowers/broken1.jpg",
    ]

    detail = client.get(f"{DS}/{dataset_id}").json()
    assert detail["status"] == 1
    assert detail["total_sample_count"] == 12 and detail["annotated_sample_count"] == 12
    assert [label["name"] for label in detail["labels"]] == ["daisy", "rose", "tulip"]
    assert detail["inner_annotation_path"] == f"/bucket/output/flowers-{dataset_id}/annotation/"

    page = client.get(
        f"{DS}/{dataset_id}/data-annotations/samples", label_name="rose", limit=5, offset=0
    ).json()
    assert page["sample_count"] == 7 and len(page["samples"]) == 5
    sample = page["samples"][0]
    assert [x["name"] for x in sample["labels"]] == ["rose"]
    width, height, depth = sample["metadata"]["@modelarts:size"]
    assert depth == 3 and 40 <= width <= 46 and 30 <= height <= 36
    rest = client.get(
        f"{DS}/{dataset_id}/data-annotations/samples", label_name="rose", limit=5, offset=5
    ).json()
    assert len(rest["samples"]) == 2
    assert not {s["sample_id"] for s in page["samples"]} & {s["sample_id"] for s in rest["samples"]}

    # the sample's bytes through its signed source URL, without credentials
    content = httpx.get(sample["source"])
    assert content.status_code == 200 and content.content[:2] == b"\xff\xd8"
    assert httpx.get(sample["source"].replace("Signature=", "Signature=0")).status_code == 401

    # labels: create, then relabel two samples and read exact stats
    created = client.post(f"{DS}/{dataset_id}/data-annotations/labels", {"labels": [{"name": "lily"}]})
    assert created.json()["success"] is True
    duplicate = client.post(
        f"{DS}/{dataset_id}/data-annotations/labels", {"labels": [{"name": "lily"}]}
    ).json()
    assert duplicate["success"] is False and duplicate["results"][0]["error_code"] == "ModelArts.4411"
    tulips = client.get(f"{DS}/{dataset_id}/data-annotations/samples", label_name="tulip", limit=100).json()[
        "samples"
    ]
    update = client.put(
        f"{DS}/{dataset_id}/data-annotations/samples",
        {"samples": [{"sample_id": s["sample_id"], "labels": [{"name": "lily"}]} for s in tulips[:2]]},
    )
    assert update.status_code == 200 and update.json()["success"] is True, update.text
    stats = client.get(f"{DS}/{dataset_id}/data-annotations/stats").json()
    counts = {x["name"]: (x["count"], x["sample_count"]) for x in stats["label_stats"]}
    assert counts == {"daisy": (0, 0), "rose": (7, 7), "tulip": (3, 3), "lily": (2, 2)}
    assert stats["sample_stats"]["total"] == 12 and stats["sample_stats"]["manual_annotation"] == 12

    # clearing a sample's labels makes it unlabeled
    cleared = client.put(
        f"{DS}/{dataset_id}/data-annotations/samples",
        {"samples": [{"sample_id": tulips[2]["sample_id"], "labels": []}]},
    )
    assert cleared.status_code == 200
    unlabeled = client.get(f"{DS}/{dataset_id}/data-annotations/samples", sample_state="__NONE__").json()
    assert unlabeled["sample_count"] == 1 and unlabeled["samples"][0]["sample_status"] == "UN_ANNOTATION"
    stats = client.get(f"{DS}/{dataset_id}/data-annotations/stats").json()["sample_stats"]
    assert (stats["un_annotation"], stats["manual_annotation"]) == (1, 11)

    # the same with an IAM token
    token = live.token_client()
    assert token.get(f"{DS}/{dataset_id}/data-annotations/stats").json()["sample_stats"]["total"] == 12

    # list and delete
    listed = client.get(DS, dataset_type=0, search_content="flow", with_labels=True).json()
    assert listed["total_number"] == 1 and listed["datasets"][0]["dataset_id"] == dataset_id
    assert client.delete(f"{DS}/{dataset_id}").status_code == 204
    gone = client.get(f"{DS}/{dataset_id}")
    assert gone.status_code == 404 and gone.json()["error_code"] == "ModelArts.4352"


def test_detection_boxes_and_search_conditions(live: LiveServer) -> None:
    folder = live.storage_root / "bucket" / "det"
    folder.mkdir(parents=True)
    for i in range(4):
        (folder / f"img{i}.png").write_bytes(image_bytes(64, 48, i, "PNG"))
    client = live.signed()
    dataset_id = create_dataset(
        client,
        dataset_name="boxes",
        dataset_type=1,
        data_sources=[{"data_path": "/bucket/det/"}],
        work_path="/bucket/detout/",
        work_path_type=0,
        labels=[{"name": "car", "type": 1}, {"name": "person", "type": 1}],
    )
    assert wait_import(client, dataset_id)["imported_sample_count"] == 4
    samples = client.get(f"{DS}/{dataset_id}/data-annotations/samples", order="asc", limit=10).json()[
        "samples"
    ]
    assert all(s["sample_status"] == "UN_ANNOTATION" for s in samples)
    box = {"@modelarts:shape": "bndbox", "@modelarts:feature": [[1, 2], [30, 40]]}
    body = {
        "samples": [
            {"sample_id": samples[0]["sample_id"], "labels": [{"name": "car", "type": 1, "property": box}]},
            {
                "sample_id": samples[1]["sample_id"],
                "labels": [
                    {"name": "car", "type": 1, "property": box},
                    {"name": "person", "type": 1, "property": box},
                ],
            },
        ]
    }
    assert client.put(f"{DS}/{dataset_id}/data-annotations/samples", body).status_code == 200
    one = client.get(f"{DS}/{dataset_id}/data-annotations/samples/{samples[1]['sample_id']}").json()
    assert [(x["name"], x["property"]["@modelarts:feature"]) for x in one["labels"]] == [
        ("car", [[1, 2], [30, 40]]),
        ("person", [[1, 2], [30, 40]]),
    ]
    assert one["labelers"][0]["email"] == live.credentials["user_name"]
    conditions = [{"label_list": {"op": "AND", "labels": [{"name": "car"}, {"name": "person"}]}}]
    found = client.get(
        f"{DS}/{dataset_id}/data-annotations/samples", search_conditions=json.dumps(conditions)
    ).json()
    assert [s["sample_id"] for s in found["samples"]] == [samples[1]["sample_id"]]
    by_name = client.get(
        f"{DS}/{dataset_id}/data-annotations/samples",
        search_conditions=json.dumps([{"sample_name": samples[2]["sample_name"]}]),
    ).json()
    assert by_name["sample_count"] == 1
    stats = client.get(f"{DS}/{dataset_id}/data-annotations/stats").json()
    assert {x["name"]: (x["count"], x["sample_count"]) for x in stats["label_stats"]} == {
        "car": (2, 2),
        "person": (1, 1),
    }
    # a box with xmin > xmax is refused and names the field; nothing changes
    bad = {"@modelarts:shape": "bndbox", "@modelarts:feature": [[30, 2], [1, 40]]}
    refused = client.put(
        f"{DS}/{dataset_id}/data-annotations/samples",
        {
            "samples": [
                {
                    "sample_id": samples[2]["sample_id"],
                    "labels": [{"name": "car", "type": 1, "property": bad}],
                }
            ]
        },
    )
    assert (
        refused.status_code == 400
        and "samples[0].labels[0].property.@modelarts:feature" in refused.json()["error_msg"]
    )
    assert (
        client.get(f"{DS}/{dataset_id}/data-annotations/stats").json()["sample_stats"]["manual_annotation"]
        == 2
    )


def test_concurrent_labelers_cannot_overwrite_each_other(live: LiveServer) -> None:
    write_classification_folder(live.storage_root / "b" / "in", {"a": 1, "b": 1})
    client = live.signed()
    dataset_id = create_dataset(
        client,
        dataset_name="conc",
        data_sources=[{"data_path": "/b/in/"}],
        work_path="/b/out/",
        work_path_type=0,
    )
    wait_import(client, dataset_id)
    sample = client.get(f"{DS}/{dataset_id}/data-annotations/samples", label_name="a").json()["samples"][0]
    version = sample["sample_version"]
    first = {
        "samples": [{"sample_id": sample["sample_id"], "sample_version": version, "labels": [{"name": "b"}]}]
    }
    assert client.put(f"{DS}/{dataset_id}/data-annotations/samples", first).status_code == 200
    second = {
        "samples": [{"sample_id": sample["sample_id"], "sample_version": version, "labels": [{"name": "a"}]}]
    }
    conflict = client.put(f"{DS}/{dataset_id}/data-annotations/samples", second)
    assert conflict.status_code == 409 and sample["sample_id"] in conflict.json()["error_msg"]
    now = client.get(f"{DS}/{dataset_id}/data-annotations/samples/{sample['sample_id']}").json()
    assert [x["name"] for x in now["labels"]] == ["b"] and now["sample_version"] == version + 1


def test_add_and_delete_samples_in_batches(live: LiveServer) -> None:
    (live.storage_root / "b" / "empty").mkdir(parents=True)
    (live.storage_root / "b" / "empty" / "readme.md").write_text("not an image")
    client = live.signed()
    dataset_id = create_dataset(
        client,
        dataset_name="uploads",
        data_sources=[{"data_path": "/b/empty/"}],
        work_path="/b/work/",
        work_path_type=0,
        labels=[{"name": "x"}],
    )
    assert wait_import(client, dataset_id)["imported_sample_count"] == 0
    payload = {
        "samples": [
            {
                "name": "one.jpg",
                "data": base64.b64encode(image_bytes(20, 10, 1)).decode(),
                "labels": [{"name": "x"}],
            },
            {"name": "two.jpg", "data": base64.b64encode(image_bytes(22, 11, 2)).decode()},
            {"name": "bad.jpg", "data": base64.b64encode(b"garbage").decode()},
            {"name": "three.jpg", "data": "%%% not base64"},
        ]
    }
    added = client.post(f"{DS}/{dataset_id}/data-annotations/samples", payload).json()
    assert [r["success"] for r in added["results"]] == [True, True, False, False]
    assert added["results"][3]["error_msg"].startswith("samples[3].data")
    inner = live.storage_root / "b" / "work" / f"uploads-{dataset_id}" / "data"
    assert sorted(p.name for p in inner.iterdir()) == ["one.jpg", "two.jpg"]
    again = client.post(
        f"{DS}/{dataset_id}/data-annotations/samples", {"samples": payload["samples"][:1]}
    ).json()
    assert again["results"][0]["error_code"] == "ModelArts.4422"
    stats = client.get(f"{DS}/{dataset_id}/data-annotations/stats").json()["sample_stats"]
    assert (stats["total"], stats["manual_annotation"], stats["un_annotation"]) == (2, 1, 1)
    ids = [r["sample_id"] for r in added["results"][:2]]
    deleted = client.post(
        f"{DS}/{dataset_id}/data-annotations/samples/delete",
        {"samples": [ids[0], "f" * 32], "delete_source": True},
    ).json()
    assert [r["success"] for r in deleted["results"]] == [True, False]
    assert sorted(p.name for p in inner.iterdir()) == ["two.jpg"]
    stats = client.get(f"{DS}/{dataset_id}/data-annotations/stats").json()["sample_stats"]
    assert (stats["total"], stats["deleted"]) == (1, 1)


def test_label_rename_and_delete_policies(live: LiveServer) -> None:
    write_classification_folder(live.storage_root / "b" / "pets", {"cat": 3, "dog": 2})
    client = live.signed()
    dataset_id = create_dataset(
        client,
        dataset_name="pets",
        data_sources=[{"data_path": "/b/pets/"}],
        work_path="/b/o/",
        work_path_type=0,
    )
    wait_import(client, dataset_id)
    # give one cat a second label so it survives deleting "cat" with policy 1
    cat = client.get(f"{DS}/{dataset_id}/data-annotations/samples", label_name="cat", limit=1).json()[
        "samples"
    ][0]
    client.put(
        f"{DS}/{dataset_id}/data-annotations/samples",
        {"samples": [{"sample_id": cat["sample_id"], "labels": [{"name": "cat"}, {"name": "dog"}]}]},
    )
    renamed = client.put(
        f"{DS}/{dataset_id}/data-annotations/labels",
        {
            "labels": [
                {"name": "dog", "property": {"@modelarts:rename_to": "puppy", "@modelarts:color": "#000000"}}
            ]
        },
    )
    assert renamed.json()["success"] is True
    puppies = client.get(f"{DS}/{dataset_id}/data-annotations/samples", label_name="puppy").json()
    assert puppies["sample_count"] == 3
    by_name = client.put(f"{DS}/{dataset_id}/data-annotations/labels/puppy", {"@modelarts:shortcut": "P"})
    assert by_name.status_code == 204
    removed = client.post(
        f"{DS}/{dataset_id}/data-annotations/labels/delete", {"labels": [{"name": "cat"}]}, delete_policy=1
    )
    assert removed.json()["success"] is True
    stats = client.get(f"{DS}/{dataset_id}/data-annotations/stats").json()
    assert stats["sample_stats"]["total"] == 3
    assert [(x["name"], x["property"].get("@modelarts:shortcut")) for x in stats["label_stats"]] == [
        ("puppy", "P")
    ]
    missing = client.delete(f"{DS}/{dataset_id}/data-annotations/labels/nope")
    assert missing.status_code == 404 and missing.json()["error_code"] == "ModelArts.4410"
    assert client.delete(f"{DS}/{dataset_id}/data-annotations/labels/puppy").status_code == 204
    assert client.get(f"{DS}/{dataset_id}/data-annotations/stats").json()["sample_stats"]["total"] == 0


def test_projects_never_see_each_others_datasets(live: LiveServer) -> None:
    write_classification_folder(live.storage_root / "b" / "in", {"a": 2})
    client = live.signed()
    dataset_id = create_dataset(
        client,
        dataset_name="mine",
        data_sources=[{"data_path": "/b/in/"}],
        work_path="/b/o/",
        work_path_type=0,
    )
    wait_import(client, dataset_id)
    other = live.new_project("modelworks", "erin", "team-b")
    assert other.get(DS).json() == {"total_number": 0, "datasets": []}
    for path in (f"{DS}/{dataset_id}", f"{DS}/{dataset_id}/data-annotations/samples"):
        response = other.get(path)
        assert response.status_code == 404 and response.json()["error_code"] == "ModelArts.4352"
    # erin's key is not good for the first project either
    response = other.request("GET", f"/v2/{live.credentials['project_id']}/datasets")
    assert response.status_code == 403
    # bucket b is the first project's: the other one can neither read nor write it
    body = {"dataset_name": "mine", "data_sources": [{"data_path": "/b/in/"}], "work_path": "/b2/o2/"}
    refused = other.post(DS, body)
    assert refused.status_code == 403 and refused.json()["error_code"] == "ModelArts.0210"
    assert refused.json()["error_msg"].startswith("data_sources[0].data_path: bucket b ")
    # the same dataset name is free in the other project, on a bucket of its own
    body["data_sources"] = [{"data_path": "/b2/in/"}]
    assert other.post(DS, body).status_code == 201
