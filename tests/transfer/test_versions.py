"""Dataset versions over HTTP: publishing a manifest snapshot, names, the current version, exports."""

from __future__ import annotations

from typing import Any

from tests._client import SignedClient
from tests.conftest import LiveServer, wait_for
from tests.data._assets import image_bytes, write_classification_folder
from tests.data.test_datasets_api import DS, create_dataset, wait_import
from tests.transfer.test_exports import export, manifest_lines


def publish(client: SignedClient, dataset_id: str, **body: Any) -> dict[str, Any]:
    response = client.post(f"{DS}/{dataset_id}/versions", body)
    assert response.status_code == 201, response.text
    version_id = response.json()["version_id"]

    def done() -> dict[str, Any] | None:
        version = client.get(f"{DS}/{dataset_id}/versions/{version_id}").json()
        return version if version["status"] in (1, 4) else None

    return wait_for(done)  # type: ignore[no-any-return]


def test_publish_versions_and_export_a_snapshot(server: LiveServer) -> None:
    write_classification_folder(server.storage_root / "b" / "pets", {"cat": 6, "dog": 4})
    (server.storage_root / "b" / "pets" / "loose.jpg").write_bytes(image_bytes(30, 30, 5))
    client = server.signed()
    dataset_id = create_dataset(
        client, dataset_name="pets", data_sources=[{"data_path": "/b/pets/"}], work_path="/b/out/"
    )
    wait_import(client, dataset_id)
    assert client.get(f"{DS}/{dataset_id}/versions").json() == {"total_number": 0, "versions": []}

    v1 = publish(client, dataset_id, train_evaluate_sample_ratio="0.8", description="first")
    assert v1["status"] == 1 and v1["version_name"] == "V001" and v1["is_current"], v1
    inner = f"/b/out/pets-{dataset_id}/annotation/V001/"
    assert v1["manifest_path"] == inner + "V001.manifest" and v1["data_path"] == inner + "data/"
    assert (v1["total_sample_count"], v1["annotated_sample_count"]) == (11, 10)
    assert {x["name"]: (x["count"], x["sample_count"]) for x in v1["label_stats"]} == {
        "cat": (6, 6),
        "dog": (4, 4),
    }
    assert v1["label_type"] == "single" and v1["train_evaluate_sample_ratio"] == "0.8"
    lines = manifest_lines(server.storage_root / v1["manifest_path"].lstrip("/"))
    assert len(lines) == 11
    assert sorted(x["usage"] for x in lines if "annotation" in x) == ["EVAL"] * 2 + ["TRAIN"] * 8
    assert [x for x in lines if "annotation" not in x][0].get("usage") is None
    detail = client.get(f"{DS}/{dataset_id}").json()
    assert (detail["current_version_name"], detail["current_version_id"]) == ("V001", v1["version_id"])

    # relabel a cat as a dog: V001's snapshot and its export keep the cat
    cat = client.get(f"{DS}/{dataset_id}/data-annotations/samples", label_name="cat", limit=1).json()
    moved = cat["samples"][0]["sample_id"]
    body = {"samples": [{"sample_id": moved, "labels": [{"name": "dog"}]}]}
    assert client.put(f"{DS}/{dataset_id}/data-annotations/samples", body).status_code == 200
    snapshot = export(client, dataset_id, path="/b/v1/", version_id=v1["version_id"], export_type=0)
    assert snapshot["status"] == "SUCCESSED" and snapshot["version_id"] == v1["version_id"], snapshot
    (exported,) = list((server.storage_root / "b" / "v1").glob("*.manifest"))
    by_id = {x["id"]: x for x in manifest_lines(exported)}
    assert len(by_id) == 10 and by_id[moved]["annotation"][0]["name"] == "cat"
    dogs = export(
        client,
        dataset_id,
        path="/b/v1dogs/",
        version_id=v1["version_id"],
        export_params={"search_conditions": [{"label_list": {"labels": [{"name": "dog"}]}}]},
    )
    assert dogs["status"] == "SUCCESSED" and dogs["total_sample_count"] == 4

    # V002 is named automatically, keeps the split (remove_sample_usage false) and becomes current
    v2 = publish(client, dataset_id, remove_sample_usage=False, train_evaluate_sample_ratio="0.5")
    assert v2["version_name"] == "V002" and v2["previous_version_id"] == v1["version_id"]
    assert {x["name"]: x["count"] for x in v2["label_stats"]} == {"cat": 5, "dog": 5}
    v2_lines = manifest_lines(server.storage_root / v2["manifest_path"].lstrip("/"))
    assert {x["id"]: x.get("usage") for x in v2_lines} == {x["id"]: x.get("usage") for x in lines}
    conflict = client.post(f"{DS}/{dataset_id}/versions", {"version_name": "V001"})
    assert conflict.status_code == 409 and conflict.json()["error_code"] == "ModelArts.4371"
    custom = publish(client, dataset_id, version_name="release-1", export_images=True)
    assert custom["status"] == 1, custom
    assert custom["manifest_path"].endswith("/annotation/release-1/release-1.manifest")
    data = server.storage_root / custom["data_path"].lstrip("/")
    assert len(list(data.iterdir())) == 11
    copied = manifest_lines(server.storage_root / custom["manifest_path"].lstrip("/"))
    assert all(x["source"] == "obs:/" + custom["data_path"] + x["source"].rsplit("/", 1)[1] for x in copied)

    listed = client.get(f"{DS}/{dataset_id}/versions").json()
    assert listed["total_number"] == 3
    assert [v["version_name"] for v in listed["versions"]] == ["release-1", "V002", "V001"]
    assert [v["is_current"] for v in listed["versions"]] == [True, False, False]
    page = client.get(f"{DS}/{dataset_id}/versions", offset=1, limit=1, train_evaluate_ratio="0.7,0.9").json()
    assert page["total_number"] == 1 and page["versions"] == []
    assert client.delete(f"{DS}/{dataset_id}/versions/{custom['version_id']}").status_code == 204
    assert client.get(f"{DS}/{dataset_id}").json()["current_version_name"] == "V002"
    assert client.get(f"{DS}/{dataset_id}/versions").json()["total_number"] == 2

    gone = client.get(f"{DS}/{dataset_id}/versions/{custom['version_id']}")
    assert gone.status_code == 404 and gone.json()["error_code"] == "ModelArts.4353"
    unknown = client.post(f"{DS}/{dataset_id}/export-tasks", {"path": "/b/x/", "version_id": "nope"})
    assert unknown.status_code == 404
    assert unknown.json() == {
        "error_code": "ModelArts.4353",
        "error_msg": "Dataset version 'nope' does not exist.",
    }
