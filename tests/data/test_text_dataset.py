"""Text classification: each line of a .txt file is a sample; ``text<TAB>label`` lines carry labels."""

from __future__ import annotations

import httpx

from tests.conftest import LiveServer
from tests.data.test_datasets_api import DS, create_dataset, wait_import


def test_text_lines_become_samples_with_labels(server: LiveServer) -> None:
    folder = server.storage_root / "b" / "reviews"
    folder.mkdir(parents=True)
    (folder / "part1.txt").write_text("great phone, love it\tpositive\nbattery died in a day\tnegative\n\n")
    (folder / "part2.txt").write_text("arrived on time\nworst purchase ever\tnegative,angry\n")
    (folder / "latin1.txt").write_bytes("caf\xe9 au lait".encode("latin-1"))
    client = server.signed()
    dataset_id = create_dataset(
        client,
        dataset_name="reviews",
        dataset_type=100,
        data_sources=[{"data_path": "/b/reviews/"}],
        work_path="/b/out/",
        work_path_type=0,
    )
    task = wait_import(client, dataset_id)
    assert task["imported_sample_count"] == 4
    assert [e["file"] for e in task["error_files"]] == ["/b/reviews/latin1.txt"]
    negatives = client.get(f"{DS}/{dataset_id}/data-annotations/samples", label_name="negative").json()
    assert sorted(s["sample_data"][0] for s in negatives["samples"]) == [
        "battery died in a day",
        "worst purchase ever",
    ]
    unlabeled = client.get(f"{DS}/{dataset_id}/data-annotations/samples", sample_state="__NONE__").json()
    assert [s["sample_data"][0] for s in unlabeled["samples"]] == ["arrived on time"]
    assert httpx.get(unlabeled["samples"][0]["source"]).text == "arrived on time"
    sample_id = unlabeled["samples"][0]["sample_id"]
    body = {"samples": [{"sample_id": sample_id, "labels": [{"name": "positive", "type": 100}]}]}
    assert client.put(f"{DS}/{dataset_id}/data-annotations/samples", body).status_code == 200
    stats = client.get(f"{DS}/{dataset_id}/data-annotations/stats").json()
    assert {x["name"]: x["sample_count"] for x in stats["label_stats"]} == {
        "positive": 2,
        "negative": 2,
        "angry": 1,
    }
    assert stats["sample_stats"]["un_annotation"] == 0
