"""The same dataset flow with the object store on a real S3 server (SeaweedFS on loopback)."""

from __future__ import annotations

import base64
import uuid

import httpx
import pytest

from modelworks.storage import S3ObjectStore, parse_obs_path
from tests.conftest import S3Endpoint
from tests.data._assets import image_bytes
from tests.data.test_datasets_api import DS, create_dataset, wait_import

pytestmark = pytest.mark.s3


def test_import_label_and_upload_on_s3(server_factory, s3_endpoint: S3Endpoint) -> None:  # type: ignore[no-untyped-def]
    bucket = f"mw-{uuid.uuid4().hex[:8]}"
    store = S3ObjectStore(s3_endpoint.endpoint, s3_endpoint.access_key, s3_endpoint.secret_key)
    for label, count in {"cat": 3, "dog": 2}.items():
        for i in range(count):
            store.write(parse_obs_path(f"/{bucket}/pets/{label}/{i}.jpg"), image_bytes(30 + i, 20, i))
    store.write(parse_obs_path(f"/{bucket}/pets/corrupt.png"), b"\x89PNG broken")
    live = server_factory(
        storage_url="s3://",
        storage_endpoint=s3_endpoint.endpoint,
        storage_access_key=s3_endpoint.access_key,
        storage_secret_key=s3_endpoint.secret_key,
    )
    assert httpx.get(f"{live.endpoint}/health").json()["storage"].startswith("s3:")
    client = live.signed()
    dataset_id = create_dataset(
        client,
        dataset_name="s3pets",
        data_sources=[{"data_path": f"s3://{bucket}/pets/"}],
        work_path=f"obs://{bucket}/out/",
        work_path_type=0,
    )
    task = wait_import(client, dataset_id)
    assert task["imported_sample_count"] == 5 and [e["file"] for e in task["error_files"]] == [
        f"/{bucket}/pets/corrupt.png"
    ]
    cats = client.get(f"{DS}/{dataset_id}/data-annotations/samples", label_name="cat").json()
    assert cats["sample_count"] == 3
    assert cats["samples"][0]["metadata"]["@modelarts:size"][2] == 3
    assert httpx.get(cats["samples"][0]["source"]).content[:2] == b"\xff\xd8"
    added = client.post(
        f"{DS}/{dataset_id}/data-annotations/samples",
        {
            "samples": [
                {
                    "name": "new.jpg",
                    "data": base64.b64encode(image_bytes(8, 8, 9)).decode(),
                    "labels": [{"name": "dog"}],
                }
            ]
        },
    ).json()
    assert added["success"] is True
    assert store.exists(parse_obs_path(f"/{bucket}/out/s3pets-{dataset_id}/data/new.jpg"))
    stats = client.get(f"{DS}/{dataset_id}/data-annotations/stats").json()
    assert {x["name"]: x["count"] for x in stats["label_stats"]} == {"cat": 3, "dog": 3}
