"""Intelligent tasks over HTTP, signed like the official SDK: auto labeling with hard examples on real
Fashion-MNIST images, confirming and rejecting auto labels, stopping a task, auto grouping.

One server for the module (its feature cache and ONNX export are shared by the tests, as they would
be in one installation); each test makes its own dataset.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.metrics import normalized_mutual_info_score

from tests._client import SignedClient
from tests.conftest import LiveServer, run_server, wait_for
from tests.data.test_datasets_api import wait_import
from tests.ml import _fashion_mnist as fm
from tests.ml.conftest import require_fashion_mnist, require_image_model

DS = "/v2/{project_id}/datasets"
NAMES = ["T-shirt", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle-boot"]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    require_image_model()
    require_fashion_mnist()
    with run_server(tmp_path_factory.mktemp("intelligent") / "home") as server:
        yield server


@pytest.fixture(scope="module")
def fashion() -> tuple[np.ndarray, np.ndarray]:
    require_fashion_mnist()
    return fm.load("t10k")


def write_dataset(root: Path, images: np.ndarray, labels: np.ndarray, labeled: np.ndarray) -> dict[str, int]:
    """Labeled images in ``<class>/`` folders, the rest at the top; returns file name -> true class."""
    truth = {}
    for i, (blob, label, is_labeled) in enumerate(zip(fm.png_bytes(images), labels, labeled, strict=True)):
        name = f"img{i:05d}.png"
        folder = root / NAMES[label] if is_labeled else root
        folder.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(blob)
        truth[name] = int(label)
    return truth


def make_dataset(client: SignedClient, live: LiveServer, name: str, data_dir: str) -> str:
    response = client.post(
        DS,
        {
            "dataset_name": name,
            "dataset_type": 0,
            "data_sources": [{"data_type": 0, "data_path": f"/bucket/{data_dir}/"}],
            "work_path": f"/bucket/work-{name}/",
            "work_path_type": 0,
        },
    )
    assert response.status_code == 201, response.text
    dataset_id = str(response.json()["dataset_id"])

    task = wait_import(client, dataset_id, timeout=120)
    assert task["status"] == "COMPLETED", task
    return dataset_id


def subset(
    fashion: tuple[np.ndarray, np.ndarray], size: int, per_class: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    images, labels = fashion
    chosen = np.sort(np.random.default_rng(seed).choice(len(labels), size, replace=False))
    images, labels = images[chosen], labels[chosen]
    return images, labels, fm.balanced_labeled_mask(labels, per_class * 10 / size, seed=seed)


def wait_task(client: SignedClient, dataset_id: str, task_id: str, timeout: float = 300) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        task = client.get(f"{DS}/{dataset_id}/tasks/{task_id}").json()
        return task if task["status"] in (2, 3, 5) else None

    return wait_for(done, timeout=timeout, interval=0.5)  # type: ignore[no-any-return]


def all_pages(client: SignedClient, path: str, **query: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    while True:
        page = client.get(path, offset=len(out), limit=100, **query).json()
        out.extend(page["samples"])
        if len(out) >= page["sample_count"] or not page["samples"]:
            return out


def snapshot(client: SignedClient, dataset_id: str) -> dict[str, Any]:
    samples = all_pages(client, f"{DS}/{dataset_id}/data-annotations/samples")
    return {
        s["sample_id"]: (s["sample_status"], sorted((x["name"], x.get("annotated_by")) for x in s["labels"]))
        for s in samples
    }


def test_too_few_labels_fail_fast_with_a_clear_error(live: LiveServer, fashion: Any) -> None:
    images, labels, _ = subset(fashion, 40, 1, seed=5)
    labeled = np.zeros(len(labels), dtype=bool)
    for c in (0, 1):
        labeled[np.flatnonzero(labels == c)[:3]] = True  # 3 per label: fewer than the 5 the manual asks for
    write_dataset(live.storage_root / "bucket" / "few", images, labels, labeled)
    client = live.signed()
    dataset_id = make_dataset(client, live, "few", "few")
    started = time.perf_counter()
    response = client.post(f"{DS}/{dataset_id}/tasks", {"task_type": "auto-label"})
    assert response.status_code == 400, response.text
    assert time.perf_counter() - started < 5
    body = response.json()
    assert body["error_code"] == "ModelArts.4405"
    assert "5 labeled samples per label" in body["error_msg"]
    assert client.get(f"{DS}/{dataset_id}/tasks").json()["total_count"] == 0

    bad = client.post(
        f"{DS}/{dataset_id}/tasks", {"task_type": "auto-label", "config": {"algorithm_type": "x"}}
    )
    assert bad.status_code == 400 and "config.algorithm_type" in bad.text
    scope = client.post(f"{DS}/{dataset_id}/tasks", {"config": {"confidence_scope": "0.9-0.1"}})
    assert scope.status_code == 400 and "config.confidence_scope" in scope.text
    pre = client.post(f"{DS}/{dataset_id}/tasks", {"task_type": "pre-label", "model_id": "m"})
    assert pre.status_code == 400 and pre.json()["error_code"] == "ModelArts.3506", pre.text
    assert client.get(f"{DS}/{dataset_id}/tasks/nope").status_code == 404


def test_accurate_auto_labeling_with_hard_examples_confirm_and_reject(live: LiveServer, fashion: Any) -> None:
    # 1,000 images, 10 labeled per class: the same labeled share as the benchmark's 5 %, scaled down.
    images, labels, labeled = subset(fashion, 1000, 10, seed=11)
    truth = write_dataset(live.storage_root / "bucket" / "fm", images, labels, labeled)
    client = live.signed()
    dataset_id = make_dataset(client, live, "fm", "fm")
    unlabeled_count = int((~labeled).sum())

    response = client.post(
        f"{DS}/{dataset_id}/tasks",
        {
            "task_type": "auto-label",
            "collect_key_sample": True,
            "config": {"algorithm_type": "accurate", "name": "al-1", "key_sample_output": "/bucket/hard/"},
        },
    )
    assert response.status_code == 200, response.text
    task_id = response.json()["task_id"]
    again = client.post(f"{DS}/{dataset_id}/tasks", {"task_type": "auto-label"})
    assert again.status_code == 409 and again.json()["error_code"] == "ModelArts.4997"

    seen_running = wait_for(
        lambda: client.get(f"{DS}/{dataset_id}/tasks/{task_id}").json()["status"] in (0, 1, 3), timeout=60
    )
    assert seen_running
    task = wait_task(client, dataset_id, task_id)
    assert task["status"] == 3, task
    assert task["progress"] == 100.0 and task["code"] == "ModelArts.4996"
    assert task["type"] == 0 and task["task_name"] == "al-1"
    assert (
        task["config"]["algorithm_type"] == "accurate"
        and task["config"]["key_sample_output"] == "/bucket/hard/"
    )
    result = task["result"]
    assert result["auto_annotated_sample_count"] == unlabeled_count
    assert [e["name"] for e in result["events"]][:4] == ["init", "load", "features", "training"]
    assert all(e["status"] == "success" for e in result["events"])
    assert result["hard_select_tasks"][0]["dataset_id"] == dataset_id
    hard_count = result["hard_example_count"]
    assert 0 < hard_count <= 0.25 * unlabeled_count + 1
    assert task["total_sample_count"] == 1000
    assert task["annotated_sample_count"] == 100 and task["unconfirmed_sample_count"] == unlabeled_count

    autos = all_pages(client, f"{DS}/{dataset_id}/auto-annotations/samples")
    assert len(autos) == unlabeled_count
    correct = 0
    for sample in autos:
        (label,) = sample["labels"]
        assert label["annotated_by"] == "auto" and 0 < label["score"] <= 1
        name = sample["sample_name"] if "sample_name" in sample else sample["source"]
        correct += label["name"] == NAMES[truth[Path(str(name).split("?")[0]).name]]
    accuracy = correct / len(autos)
    print(f"accuracy {accuracy:.3f}")  # shown with pytest -s
    # Measured 0.80 (accurate, 10 labels per class); the 10,000-image benchmark reaches 0.866.
    assert accuracy >= 0.74, accuracy

    hard = [s for s in autos if s["metadata"].get("@modelarts:hard") is True]
    assert len(hard) == hard_count
    one = hard[0]
    assert one["metadata"]["@modelarts:hard_reasons"] and one["hard_details"]
    assert 0 <= one["metadata"]["@modelarts:hard_coefficient"] <= 1
    wrong_flagged = sum(
        s["labels"][0]["name"]
        != NAMES[truth[Path(str(s.get("sample_name", s["source"])).split("?")[0]).name]]
        for s in hard
    )
    assert wrong_flagged / len(hard) > (1 - accuracy), "hard examples should hold more errors than average"
    manifest = (live.storage_root / "bucket" / "hard" / "hard_examples.manifest").read_text().splitlines()
    assert len(manifest) == hard_count and json.loads(manifest[0])["hard"] == "true"

    # filters of the auto-annotation list: score range, hard search condition
    low = client.get(f"{DS}/{dataset_id}/auto-annotations/samples", high_score="0.5", limit=100).json()
    assert all(s["labels"][0]["score"] <= 0.5 for s in low["samples"])
    cond = json.dumps([{"hard": "1"}])
    assert (
        client.get(f"{DS}/{dataset_id}/data-annotations/samples", search_conditions=cond).json()[
            "sample_count"
        ]
        == hard_count
    )
    detail = client.get(f"{DS}/{dataset_id}/auto-annotations/samples/{one['sample_id']}").json()
    assert detail["sample_id"] == one["sample_id"] and detail["labels"][0]["annotated_by"] == "auto"

    # confirm three (the documented label update, as a person would send it), reject three
    confirm, reject = autos[:3], autos[3:6]
    body = {
        "samples": [
            {"sample_id": s["sample_id"], "labels": [{"name": s["labels"][0]["name"], "type": 0}]}
            for s in confirm
        ]
        + [{"sample_id": s["sample_id"], "labels": []} for s in reject]
    }
    assert client.put(f"{DS}/{dataset_id}/data-annotations/samples", body).status_code == 200
    for s in confirm:
        got = client.get(f"{DS}/{dataset_id}/data-annotations/samples/{s['sample_id']}").json()
        assert got["labels"][0]["annotated_by"] == "human" and got["sample_status"] == "MANUAL_ANNOTATION"
    assert (
        client.get(f"{DS}/{dataset_id}/auto-annotations/samples/{reject[0]['sample_id']}").status_code == 404
    )

    states = {
        state: client.get(f"{DS}/{dataset_id}/data-annotations/samples", sample_state=state, limit=1).json()[
            "sample_count"
        ]
        for state in ("__ALL__", "__NONE__", "__AUTO_ANNOTATION__")
    }
    assert states == {"__ALL__": 103, "__NONE__": 3, "__AUTO_ANNOTATION__": unlabeled_count - 6}
    stats = client.get(f"{DS}/{dataset_id}/data-annotations/stats").json()
    assert stats["sample_stats"]["auto_annotation"] == unlabeled_count - 6
    assert (
        sum(stats["sample_stats"][k] for k in ("un_annotation", "manual_annotation", "auto_annotation"))
        == 1000
    )
    listed = client.get(f"{DS}/{dataset_id}/tasks").json()
    assert listed["total_count"] == 1 and listed["tasks"][0]["task_id"] == task_id
    assert listed["exist_running_deploy_task"] is False
    assert client.get(f"{DS}/{dataset_id}/tasks", type="auto-grouping").json()["total_count"] == 0
    assert client.get(f"{DS}/{dataset_id}/tasks", task_name="zzz").json()["total_count"] == 0


def test_stopping_a_task_leaves_the_dataset_unchanged(live: LiveServer, fashion: Any) -> None:
    images, labels, labeled = subset(fashion, 1500, 10, seed=23)  # new content: features to compute
    write_dataset(live.storage_root / "bucket" / "stop", images, labels, labeled)
    client = live.signed()
    dataset_id = make_dataset(client, live, "stop", "stop")
    before = snapshot(client, dataset_id)
    task_id = client.post(f"{DS}/{dataset_id}/tasks", {"config": {"algorithm_type": "fast"}}).json()[
        "task_id"
    ]
    wait_for(
        lambda: (
            client.get(f"{DS}/{dataset_id}/tasks/{task_id}")
            .json()["result"]
            .get("events", [{}])[-1]
            .get("name")
            == "features"
        ),
        timeout=120,
        interval=0.2,
    )
    assert client.post(f"{DS}/{dataset_id}/tasks/{task_id}/stop").status_code == 204
    asked = time.perf_counter()
    task = wait_task(client, dataset_id, task_id, timeout=60)
    assert task["status"] == 5, task
    assert time.perf_counter() - asked < 15
    assert snapshot(client, dataset_id) == before
    assert (
        client.get(f"{DS}/{dataset_id}/data-annotations/samples", sample_state="__AUTO_ANNOTATION__").json()[
            "sample_count"
        ]
        == 0
    )


def test_auto_grouping_writes_groups_that_samples_can_be_searched_by(live: LiveServer, fashion: Any) -> None:
    images, labels, _ = subset(fashion, 600, 1, seed=31)
    nothing = np.zeros(len(labels), dtype=bool)
    truth = write_dataset(live.storage_root / "bucket" / "grp", images, labels, nothing)
    client = live.signed()
    dataset_id = make_dataset(client, live, "grp", "grp")
    bad = client.post(
        f"{DS}/{dataset_id}/tasks", {"task_type": "auto-grouping", "config": {"n_clusters": 10}}
    )
    assert bad.status_code == 400 and "config.property" in bad.text

    # the seed's legacy body: "type": 2 with export_type 1 (write to samples), n_clusters as a string
    response = client.post(
        f"{DS}/{dataset_id}/tasks",
        {
            "type": 2,
            "export_type": 1,
            "config": {"n_clusters": "10", "property": "group", "ambiguity": False},
        },
    )
    assert response.status_code == 200, response.text
    task = wait_task(client, dataset_id, response.json()["task_id"])
    assert task["status"] == 3, task
    assert task["type"] == 2 and task["config"]["result_type"] == 1
    assert sum(task["result"]["group_sizes"].values()) == 600

    found, predicted = [], {}
    for group in range(10):
        cond = json.dumps([{"metadata": {"props": {"group": [str(group)]}}}])
        members = all_pages(client, f"{DS}/{dataset_id}/data-annotations/samples", search_conditions=cond)
        assert len(members) == task["result"]["group_sizes"][str(group)]
        for s in members:
            predicted[s["sample_id"]] = group
            found.append((truth[s["sample_name"]] if "sample_name" in s else None, group))
    assert len(predicted) == 600
    true, groups = zip(*found, strict=True)
    nmi = normalized_mutual_info_score(true, groups)
    print(f"nmi {nmi:.3f}")  # shown with pytest -s
    # Measured 0.67 on 600 images; the 10,000-image benchmark gives 0.69.
    assert nmi >= 0.6, nmi
    listed = client.get(f"{DS}/{dataset_id}/tasks", type="auto-grouping").json()
    assert listed["total_count"] == 1 and listed["tasks"][0]["status"] == 3

    # result_type 0: a grouping result file under the dataset's work path
    response = client.post(
        f"{DS}/{dataset_id}/tasks",
        {"task_type": "auto-grouping", "config": {"n_clusters": 3, "result_type": 0}},
    )
    task = wait_task(client, dataset_id, response.json()["task_id"])
    assert task["status"] == 3, task
    out = task["result"]["output_path"]
    lines = (live.storage_root / out.lstrip("/")).read_text().splitlines()
    assert len(lines) == 600 and {json.loads(x)["group"] for x in lines} == {0, 1, 2}
