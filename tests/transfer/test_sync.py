"""Synchronizing a dataset with its data sources over HTTP."""

from __future__ import annotations

from typing import Any

from tests._client import SignedClient
from tests.conftest import LiveServer, wait_for
from tests.data._assets import image_bytes, write_classification_folder
from tests.data.test_datasets_api import DS, create_dataset, wait_import
from tests.transfer.test_exports import voc_xml


def sync(client: SignedClient, dataset_id: str) -> dict[str, Any]:
    response = client.post(f"{DS}/{dataset_id}/sync-data")
    assert response.status_code == 200, response.text

    def done() -> dict[str, Any] | None:
        status = client.get(f"{DS}/{dataset_id}/sync-data/status").json()
        return status if status["status"] in ("COMPLETED", "FAILED") else None

    return wait_for(done)  # type: ignore[no-any-return]


def test_sync_adds_only_new_files_and_drops_removed_ones(server: LiveServer) -> None:
    folder = server.storage_root / "b" / "pets"
    write_classification_folder(folder, {"cat": 3, "dog": 2})
    client = server.signed()
    dataset_id = create_dataset(
        client, dataset_name="pets", data_sources=[{"data_path": "/b/pets/"}], work_path="/b/o/"
    )
    wait_import(client, dataset_id)
    before = client.get(f"{DS}/{dataset_id}/sync-data/status").json()
    assert before == {"dataset_id": dataset_id, "status": "NOT_EXIST"}

    (folder / "cat" / "new.jpg").write_bytes(image_bytes(33, 22, 40))
    (folder / "bird").mkdir()
    (folder / "bird" / "b.jpg").write_bytes(image_bytes(34, 22, 41))
    (folder / "dog" / "0.jpg").unlink()
    status = sync(client, dataset_id)
    assert status["status"] == "COMPLETED", status
    assert (status["add_sample_count"], status["deleted_sample_count"], status["total_sample_count"]) == (
        2,
        1,
        6,
    )
    stats = client.get(f"{DS}/{dataset_id}/data-annotations/stats").json()
    assert {x["name"]: x["sample_count"] for x in stats["label_stats"]} == {"cat": 4, "dog": 1, "bird": 1}

    again = sync(client, dataset_id)
    assert (again["add_sample_count"], again["deleted_sample_count"], again["total_sample_count"]) == (
        0,
        0,
        6,
    )
    assert again["task_id"] != status["task_id"]
    assert client.get(f"{DS}/{dataset_id}").json()["total_sample_count"] == 6


def test_sync_reads_new_annotation_files(server: LiveServer) -> None:
    folder = server.storage_root / "b" / "det"
    folder.mkdir(parents=True)
    (folder / "a.jpg").write_bytes(image_bytes(64, 48, 1))
    client = server.signed()
    dataset_id = create_dataset(
        client, dataset_name="det", dataset_type=1, data_sources=[{"data_path": "/b/det/"}], work_path="/b/o/"
    )
    wait_import(client, dataset_id)
    (folder / "b.jpg").write_bytes(image_bytes(64, 48, 2))
    (folder / "b.xml").write_text(voc_xml("b.jpg", [("car", 1, 2, 30, 40)]))
    assert sync(client, dataset_id)["add_sample_count"] == 1
    boxes = client.get(f"{DS}/{dataset_id}/data-annotations/samples", label_name="car").json()["samples"]
    assert [(s["sample_name"], s["labels"][0]["property"]["@modelarts:feature"]) for s in boxes] == [
        ("b.jpg", [[1, 2], [30, 40]])
    ]
    assert client.get(f"{DS}/{dataset_id}").json()["total_sample_count"] == 2
