"""Manifest imports over HTTP: a published version round trips, bad lines are reported and skipped."""

from __future__ import annotations

import json
from typing import Any

from tests._client import SignedClient
from tests.conftest import LiveServer
from tests.data._assets import image_bytes
from tests.data.test_datasets_api import DS, create_dataset, wait_import
from tests.transfer.test_exports import BOXES, write_voc_folder
from tests.transfer.test_versions import publish


def empty_dataset(server: LiveServer, client: SignedClient, name: str, dataset_type: int, **body: Any) -> str:
    folder = server.storage_root / "b" / f"empty-{name}"
    folder.mkdir(parents=True)
    (folder / "readme.md").write_text("no data here")
    dataset_id = create_dataset(
        client,
        dataset_name=name,
        dataset_type=dataset_type,
        data_sources=[{"data_path": f"/b/empty-{name}/"}],
        work_path=f"/b/work-{name}/",
        **body,
    )
    wait_import(client, dataset_id)
    return dataset_id


def import_manifest(client: SignedClient, dataset_id: str, path: str, **body: Any) -> dict[str, Any]:
    response = client.post(
        f"{DS}/{dataset_id}/import-tasks", {"import_type": "manifest", "import_path": path, **body}
    )
    assert response.status_code == 200, response.text
    task = wait_import(client, dataset_id)
    assert task["task_id"] == response.json()["task_id"]
    return task


def boxes_of(client: SignedClient, dataset_id: str) -> dict[str, Any]:
    samples = client.get(f"{DS}/{dataset_id}/data-annotations/samples", limit=100).json()["samples"]
    return {
        s["sample_name"]: (
            s.get("sample_usage"),
            sorted((x["name"], x["property"]["@modelarts:feature"]) for x in s["labels"]),
        )
        for s in samples
    }


def test_version_manifest_round_trips_into_another_dataset(server: LiveServer) -> None:
    write_voc_folder(server.storage_root / "b" / "det")
    client = server.signed()
    source_id = create_dataset(
        client,
        dataset_name="det",
        dataset_type=1,
        data_sources=[{"data_path": "/b/det/"}],
        work_path="/b/out/",
    )
    wait_import(client, source_id)
    version = publish(client, source_id, train_evaluate_sample_ratio="0.5")
    assert version["status"] == 1, version

    target_id = empty_dataset(server, client, "copy", 1)
    task = import_manifest(client, target_id, "obs:/" + version["manifest_path"])
    assert task["status"] == "COMPLETED" and task["import_type"] == 1, task
    assert (task["imported_sample_count"], task["annotated_sample_count"], task["error_files"]) == (4, 3, [])
    copied, original = boxes_of(client, target_id), boxes_of(client, source_id)
    assert {k: v[1] for k, v in copied.items()} == {k: v[1] for k, v in original.items()}
    assert {k: [[n, [[x1, y1], [x2, y2]]] for n, x1, y1, x2, y2 in v] for k, v in BOXES.items()} == {
        k[: -len(".jpg")]: [list(x) for x in v[1]] for k, v in copied.items() if v[1]
    }
    assert sorted(v[0] for v in copied.values() if v[1]) == ["EVAL", "TRAIN", "TRAIN"]  # round(0.5 * 3) == 2
    labels = client.get(f"{DS}/{target_id}/data-annotations/labels").json()["labels"]
    assert sorted(x["name"] for x in labels) == ["bike", "car", "person"]
    # importing the same manifest again adds nothing
    assert import_manifest(client, target_id, version["manifest_path"])["imported_sample_count"] == 0


def test_bad_manifest_lines_are_reported_and_skipped(server: LiveServer) -> None:
    images = server.storage_root / "b" / "imgs"
    images.mkdir(parents=True)
    for i in range(3):
        (images / f"{i}.jpg").write_bytes(image_bytes(20 + i, 20, i))
    client = server.signed()
    dataset_id = empty_dataset(server, client, "cls", 0, labels=[{"name": "cat"}])

    def line(source: str, *names: str, **extra: Any) -> str:
        annotation = [
            {"type": "modelarts/image_classification", "name": n, "annotated-by": "human"} for n in names
        ]
        return json.dumps({"source": source, "annotation": annotation, **extra})

    text = "\n".join(
        [
            line("s3://b/imgs/0.jpg", "cat", usage="TRAIN"),
            line("obs://b/imgs/1.jpg", "zebra", "cat"),
            line("/b/imgs/missing.jpg", "cat"),
            "{not json",
            line("/b/imgs/2.jpg", "cat", hard="maybe"),
            json.dumps({"source": "/b/imgs/2.jpg"}),
        ]
    )
    (server.storage_root / "b" / "in.manifest").write_text(text + "\n")
    task = import_manifest(client, dataset_id, "/b/in.manifest")
    assert task["status"] == "COMPLETED", task
    assert task["imported_sample_count"] == 3 and task["annotated_sample_count"] == 2
    reasons = sorted((e["file"], e["reason"].split(":")[0]) for e in task["error_files"])
    assert [file for file, _ in reasons] == ["/b/imgs/missing.jpg", "/b/in.manifest", "/b/in.manifest"]
    samples = client.get(f"{DS}/{dataset_id}/data-annotations/samples", limit=10).json()["samples"]
    got = {s["sample_name"]: (s.get("sample_usage"), sorted(x["name"] for x in s["labels"])) for s in samples}
    assert got == {"0.jpg": ("TRAIN", ["cat"]), "1.jpg": (None, ["cat", "zebra"]), "2.jpg": (None, [])}
    labels = client.get(f"{DS}/{dataset_id}/data-annotations/labels").json()["labels"]
    assert [x["name"] for x in labels] == ["cat", "zebra"]  # an unknown label joins the dataset

    missing = client.post(
        f"{DS}/{dataset_id}/import-tasks", {"import_type": "manifest", "import_path": "/b/nothing.manifest"}
    )
    failed = wait_import(client, dataset_id)
    assert missing.status_code == 200 and failed["status"] == "FAILED"
    assert failed["error_code"] == "ModelArts.4312"
