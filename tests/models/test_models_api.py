"""Models (reference 6.1–6.5) over HTTP, signed as the official SDK signs (the SDK has no model
operations): real packages in storage, published by the background task and loaded by the runtime."""

from __future__ import annotations

import importlib.metadata
import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from huaweicloudsdkmodelarts.v1 import JobAlgorithm, JobEngine
from sqlalchemy.orm import Session

from modelworks.serving.runtime import load_model
from modelworks.training.builtin.package import runtime as training_runtime
from tests._client import SignedClient
from tests.conftest import LiveServer
from tests.models._packages import (
    ECHO_SERVICE,
    IRIS_CONFIG,
    MODELS,
    create,
    iris_rows,
    put_echo_package,
    put_iris_package,
    put_package,
    refused,
    show,
    wait_published,
)
from tests.models._wheels import offline_pip
from tests.training._jobs import (
    QUICK,
    create_job,
    hyperparameters,
    job_request,
    obs_output,
    put_files,
    wait_phase,
)
from tests.training._sdk import build_client

RUNTIMES = MODELS + "/ai-engine-runtimes"


@pytest.fixture
def client(server: LiveServer) -> SignedClient:
    return server.signed()


@pytest.fixture
def shared(shared_server: LiveServer) -> SignedClient:
    """A client of the module's shared server: tests using it create models under their own names."""
    return shared_server.signed()


def test_runtimes_list_the_engines_installed_here(shared: SignedClient) -> None:
    client = shared
    body = client.get(RUNTIMES).json()
    engines = {e["ai_engine"]: e for e in body["engine_runtimes"]}
    assert {"PyTorch", "ONNX", "Scikit_Learn", "Custom"} <= set(engines)
    assert "TensorFlow" not in engines and "MindSpore" not in engines  # not installed here
    assert body["count"] == body["total_count"] == len(engines)
    pytorch = engines["PyTorch"]
    torch_version = importlib.metadata.version("torch").split("+")[0]
    assert pytorch["runtimes"][0].startswith(f"pytorch_{torch_version}")
    # The runtime a built-in algorithm writes into its package's config.json is one of them.
    assert training_runtime("pytorch") in pytorch["runtimes"]
    n = len(pytorch["runtimes"])
    assert pytorch["request_mode"] == ["sync"] * n and pytorch["status_list"] == ["normal"] * n
    assert pytorch["accelerators"] == [{"type": "none"}] * n and len(pytorch["arch"]) == n
    page = client.get(RUNTIMES, offset=1, limit=2).json()
    assert page["count"] == len(engines) and page["total_count"] == 2
    assert [e["ai_engine"] for e in page["engine_runtimes"]] == [
        e["ai_engine"] for e in body["engine_runtimes"]
    ][1:3]


def test_pytorch_package_is_published_and_its_copy_loads_and_predicts(
    server: LiveServer, client: SignedClient
) -> None:
    put_iris_package(server, "/ml/iris-model/")
    model_id = create(
        client,
        model_name="iris",
        model_version="1.0.0",
        source_location="obs://ml/iris-model",
        model_type="PyTorch",
        description="iris species",
    )
    first = show(client, model_id)
    assert first["model_status"] in ("publishing", "published")
    model = wait_published(client, model_id)

    assert model["model_name"] == "iris" and model["model_version"] == "1.0.0"
    assert model["model_type"] == "PyTorch" and model["runtime"].startswith("pytorch_")
    assert model["model_algorithm"] == "predict_analysis" and model["description"] == "iris species"
    assert model["source_location"] == "/ml/iris-model/"
    assert model["execution_code"] == "/ml/iris-model/model/customize_service.py"
    assert model["project"] == client.project_id and model["install_type"] == ["real-time", "edge", "batch"]
    assert json.loads(model["model_metrics"]) == IRIS_CONFIG["metrics"]
    package = server.storage_root / "ml" / "iris-model" / "model"
    assert model["model_size"] == sum(p.stat().st_size for p in package.iterdir())
    assert model["dependencies"][0]["packages"][0] == {
        "package_name": "torch",
        "package_version": "2.0.0",
        "restraint": "ATLEAST",
    }
    apis = json.loads(model["apis"])
    assert apis == [
        {
            "protocol": "http",
            "method": "post",
            "url": "/",
            "input_params": IRIS_CONFIG["apis"][0]["request"]["data"],
            "output_params": IRIS_CONFIG["apis"][0]["response"]["data"],
        }
    ]
    config = json.loads(model["config"])
    assert config["model_type"] == "PyTorch" and config["runtime"] == model["runtime"]
    assert config["apis"][0]["request"]["Content-type"] == "application/json"
    assert [p["param_name"] for p in model["input_params"]] == ["req_data"]
    assert (
        [p["param_name"] for p in model["output_params"]]
        == ["resp_data"]
        == [p["param_name"] for p in model["output_parameters"]]
    )
    assert "failed_msg" not in model and model["tunable"] is False and model["labels_map"] == {"labels": []}

    # The model keeps its own copy: overwriting the source does not touch it.
    (package / "iris.pth").write_bytes(b"overwritten")
    copy = server.storage_root / "modelworks-system" / "models" / model_id / "model"
    loaded = load_model(copy, "iris")
    features, labels = iris_rows()
    predicted = loaded.predict({"req_data": features})["resp_data"]
    accuracy = sum(p["predict_result"] == y for p, y in zip(predicted, labels, strict=True)) / len(labels)
    assert accuracy >= 0.9


@pytest.mark.parametrize(
    ("config", "code", "field"),
    [
        ("{not json", "ModelArts.3015", "config.json: not valid JSON"),
        ("[1, 2]", "ModelArts.3015", "config.json: must hold a JSON object"),
        ({**IRIS_CONFIG, "model_algorithm": 7}, "ModelArts.3016", "config.json: model_algorithm:"),
        ({**IRIS_CONFIG, "apis": [{"url": "/predict"}]}, "ModelArts.3016", "config.json: apis[0].url:"),
        (
            {**IRIS_CONFIG, "apis": [{"request": {"Content-type": "text/csv"}}]},
            "ModelArts.3016",
            "config.json: apis[0].request.Content-type:",
        ),
        (
            {
                **IRIS_CONFIG,
                "dependencies": [
                    {"installer": "pip", "packages": [{"package_name": "numpy", "package_version": "1.0"}]}
                ],
            },
            "ModelArts.3041",
            "config.json: dependencies[0].packages[0].restraint:",
        ),
        (
            {**IRIS_CONFIG, "dependencies": [{"installer": "apt-get", "packages": []}]},
            "ModelArts.3016",
            "config.json: dependencies[0].installer:",
        ),
        ({**IRIS_CONFIG, "metrics": {"f1": "high"}}, "ModelArts.3016", "config.json: metrics.f1:"),
        ({"model_type": "PyTorch"}, "ModelArts.3036", "config.json: model_algorithm:"),
        ({**IRIS_CONFIG, "model_type": None}, "ModelArts.0101", "config.json: model_type:"),
        ({**IRIS_CONFIG, "runtime": "python2.7"}, "ModelArts.0101", "config.json: runtime:"),
    ],
)
def test_a_bad_config_json_answers_400_naming_the_field(
    shared_server: LiveServer, shared: SignedClient, config: object, code: str, field: str
) -> None:
    prefix = f"/ml/bad-{uuid.uuid4().hex[:8]}/"
    put_package(shared_server, prefix, config if isinstance(config, str) else json.dumps(config), "")
    message = refused(shared, 400, code, model_name="bad", model_version="1.0.0", source_location=prefix)
    assert message.startswith(field), message
    assert shared.get(MODELS, model_name="bad").json()["total_count"] == 0


def test_engines_runtimes_and_sources_that_cannot_be_used_are_refused(
    shared_server: LiveServer, shared: SignedClient
) -> None:
    client = shared
    put_echo_package(shared_server, "/ml/refused/", {"echo.pt": b"0"}, model_type="PyTorch")
    body = {"model_name": "refused", "model_version": "1.0.0", "source_location": "/ml/refused/"}
    message = refused(client, 400, "ModelArts.0101", **body, runtime="python2.7")
    assert message.startswith("runtime: 'python2.7' is not offered for PyTorch") and "pytorch_" in message
    message = refused(client, 400, "ModelArts.3053", **body, model_type="TensorFlow")
    assert "tensorflow package" in message and "PyTorch" in message
    message = refused(client, 400, "ModelArts.3053", **body, model_type="Caffe2")
    assert message.startswith("model_type: Model Type (Caffe2) not support")
    assert "not supported by Modelworks yet" in refused(
        client, 501, "ModelArts.0101", **body, model_type="Image"
    )
    refused(client, 501, "ModelArts.0101", **body, model_type="Template")
    message = refused(client, 400, "ModelArts.3017", **{**body, "source_location": "/ml/nothing/"})
    assert message.startswith("source_location: /ml/nothing/ holds no model package")
    refused(client, 400, "ModelArts.3036", model_name="refused", model_version="1.0.0")
    refused(client, 400, "ModelArts.4313", **{**body, "source_location": "ml/relative"})
    for version in ("1.0", "01.0.0", "1.0.100", "v1.0.0"):
        assert refused(client, 400, "ModelArts.0101", **{**body, "model_version": version}).startswith(
            "model_version:"
        )
    assert refused(client, 400, "ModelArts.0101", **{**body, "model_name": "refused model"}).startswith(
        "model_name:"
    )
    message = refused(client, 400, "ModelArts.0101", **body, apis=[{"url": "/", "method": "patch"}])
    assert message.startswith("apis[0].method:")
    message = refused(client, 400, "ModelArts.0101", **body, install_type=["stream"])
    assert message.startswith("install_type[0]:")
    assert client.get(MODELS, model_name="refused").json()["total_count"] == 0


# The reference's own example of a described output parameter.
BOX_PARAM = {
    "url": "/v1/xxx/image",
    "protocol": "http",
    "method": "post",
    "param_name": "face_location",
    "param_type": "box",
    "param_desc": "face_location param value description",
}


def test_request_fields_win_over_config_json(shared_server: LiveServer, shared: SignedClient) -> None:
    client = shared
    put_echo_package(shared_server, "/ml/merged/", {"echo.pt": b"0"}, **IRIS_CONFIG)
    put_files(shared_server, "/ml/merged-code/", {"customize_service.py": ECHO_SERVICE + "# replaced\n"})
    model_id = create(
        client,
        model_name="merged",
        model_version="2.1.0",
        source_location="https://ml.obs.region.example.com/merged",
        execution_code="obs://ml/merged-code/customize_service.py",
        model_type="pytorch",
        model_algorithm="image_classification",
        model_metrics=json.dumps({"accuracy": 0.5}),
        dependencies=[{"installer": "pip", "packages": [{"package_name": "numpy"}]}],
        apis=[
            {
                "url": "/",
                "protocol": "http",
                "method": "post",
                "input_params": {"type": "object", "properties": {"images": {"type": "file"}}},
                "output_params": {"type": "object", "properties": {"label": {"type": "string"}}},
            }
        ],
        install_type=["real-time"],
        model_docs=[{"doc_name": "guide", "doc_url": "https://example.com/guide"}],
        output_params=[BOX_PARAM],
    )
    model = wait_published(client, model_id)
    assert model["model_type"] == "PyTorch" and model["source_location"] == "/ml/merged/"
    assert (
        model["model_algorithm"] == "image_classification" and model["model_metrics"] == '{"accuracy": 0.5}'
    )
    assert model["dependencies"] == [
        {"installer": "pip", "packages": [{"package_name": "numpy", "package_version": "", "restraint": ""}]}
    ]
    config = json.loads(model["config"])
    assert config["apis"][0]["request"] == {
        "Content-type": "multipart/form-data",
        "data": {"type": "object", "properties": {"images": {"type": "file"}}},
    }
    assert config["metrics"] == {"accuracy": 0.5} and config["model_algorithm"] == "image_classification"
    assert [(p["param_name"], p["param_type"]) for p in model["input_params"]] == [("images", "file")]
    assert model["output_params"] == model["output_parameters"] == [BOX_PARAM]
    assert model["install_type"] == ["real-time"] and model["model_docs"][0]["doc_name"] == "guide"
    # The inference code named apart from the package replaces the package's own in the model's copy.
    assert model["execution_code"] == "/ml/merged-code/customize_service.py"
    copy = shared_server.storage_root / "modelworks-system" / "models" / model_id / "model"
    assert (copy / "customize_service.py").read_text().endswith("# replaced\n")
    assert (
        shared_server.storage_root / "ml" / "merged" / "model" / "customize_service.py"
    ).read_text() == ECHO_SERVICE


def test_a_package_that_cannot_run_here_ends_failed_with_every_reason(
    server: LiveServer, client: SignedClient, tmp_path: Path
) -> None:
    broken = "import os\nimport not_a_module_anywhere\n"
    dependencies = [
        {
            "installer": "pip",
            "packages": [
                {"package_name": "numpy", "package_version": "1.0.0", "restraint": "EXACT"},
                {"package_name": "no-such-distribution-xyz"},
                {"package_name": "torch", "package_version": "2.0.0", "restraint": "ATLEAST"},
            ],
        }
    ]
    put_package(server, "/ml/broken/", {**IRIS_CONFIG, "dependencies": dependencies}, broken)
    (tmp_path / "wheels").mkdir()
    with offline_pip(tmp_path / "wheels"):  # pip finds nothing to install
        model = wait_published(
            client,
            create(client, model_name="broken", model_version="1.0.0", source_location="/ml/broken/"),
            "failed",
        )
    reasons = model["failed_msg"].split("; ")
    assert any("needs a model file (.pth, .pt, .onnx)" in r for r in reasons), reasons
    assert any("(line 2): ModuleNotFoundError: No module named 'not_a_module_anywhere'" in r for r in reasons)
    # Only what the server lacks is named: its torch will do.
    pip = (
        "dependencies numpy==1.0.0, no-such-distribution-xyz could not be installed (pip exit code 1): ERROR:"
    )
    assert any(r.startswith(pip) and "No matching distribution" in r for r in reasons), reasons
    assert not any("torch" in r for r in reasons), reasons
    assert not (server.storage_root / "modelworks-system" / "models" / model["model_id"]).exists()

    put_package(server, "/ml/noclass/", {**IRIS_CONFIG, "dependencies": []}, "x = 1\n", {"w.pt": b"0"})
    model_id = create(client, model_name="noclass", model_version="1.0.0", source_location="/ml/noclass/")
    reason = wait_published(client, model_id, "failed")["failed_msg"]
    assert reason.startswith("customize_service.py must define one subclass of a model_service base class")
    put_package(server, "/ml/syntax/", {**IRIS_CONFIG, "dependencies": []}, "def (:\n", {"w.pt": b"0"})
    model_id = create(client, model_name="syntax", model_version="1.0.0", source_location="/ml/syntax/")
    assert wait_published(client, model_id, "failed")["failed_msg"].startswith("customize_service.py line 1:")
    failed = client.get(MODELS, model_status="failed").json()
    assert failed["total_count"] == 3


def test_a_name_and_version_are_unique_in_a_project(shared_server: LiveServer, shared: SignedClient) -> None:
    client = shared
    put_echo_package(shared_server, "/ml/echo/")
    create(client, model_name="echo", model_version="1.0.0", source_location="/ml/echo/")
    message = refused(
        client, 409, "ModelArts.3002", model_name="echo", model_version="1.0.0", source_location="/ml/echo/"
    )
    assert message == "Model (echo, 1.0.0) already exists."
    create(client, model_name="echo", model_version="1.0.1", source_location="/ml/echo/")


def other_project(server: LiveServer) -> SignedClient:
    return server.new_project("modelworks", "erin", "team-b")


def test_another_projects_models_are_invisible(server: LiveServer, client: SignedClient) -> None:
    put_echo_package(server, "/ml/echo/")
    model_id = create(client, model_name="echo", model_version="1.0.0", source_location="/ml/echo/")
    other = other_project(server)
    assert other.get(MODELS).json() == {"total_count": 0, "count": 0, "models": []}
    for response in (other.get(f"{MODELS}/{model_id}"), other.delete(f"{MODELS}/{model_id}")):
        assert (response.status_code, response.json()["error_code"]) == (404, "ModelArts.3001")
    response = other.request("GET", f"/v1/{client.project_id}/models/{model_id}")
    assert response.status_code == 403
    # The other project may not take its package from the first project's bucket ...
    body = {"model_name": "echo", "model_version": "1.0.0", "source_location": "/ml/echo/"}
    response = other.post(MODELS, body)
    assert (response.status_code, response.json()["error_code"]) == (403, "ModelArts.0210")
    # ... but the same name and version are free in it, from a bucket of its own.
    assert other.post("/v2/{project_id}/buckets", {"bucket_name": "ml-b"}).status_code == 201
    put_echo_package(server, "/ml-b/echo/")
    create(other, model_name="echo", model_version="1.0.0", source_location="/ml-b/echo/")
    assert show(client, model_id)["model_name"] == "echo"


class UsedBy:
    """A usage check standing in for real-time services: the models it lists are in use."""

    def __init__(self) -> None:
        self.used: dict[str, list[str]] = {}

    def __call__(self, session: Session, model_id: str) -> list[str]:
        assert isinstance(session, Session)
        return self.used.get(model_id, [])


@pytest.fixture
def used_by() -> Iterator[UsedBy]:
    from modelworks.models import register_usage_check, unregister_usage_check

    check = UsedBy()
    register_usage_check(check)
    try:
        yield check
    finally:
        unregister_usage_check(check)


def test_delete_refuses_models_in_use_and_cascades_over_versions(
    server: LiveServer, client: SignedClient, used_by: UsedBy
) -> None:
    put_echo_package(server, "/ml/echo/")
    ids = [
        create(client, model_name="echo", model_version=f"1.0.{i}", source_location="/ml/echo/")
        for i in range(4)
    ]
    other = create(client, model_name="other", model_version="1.0.0", source_location="/ml/echo/")
    for model_id in ids:
        wait_published(client, model_id)
    stored = server.storage_root / "modelworks-system" / "models"
    assert (stored / ids[0] / "model" / "customize_service.py").is_file()

    response = client.delete(f"{MODELS}/{ids[0]}")
    assert response.status_code == 200 and response.json() == {
        "delete_success_list": [ids[0]],
        "delete_failed_list": [],
    }
    assert not (stored / ids[0]).exists()
    assert client.get(f"{MODELS}/{ids[0]}").status_code == 404

    used_by.used[ids[1]] = ["service-a", "service-b"]
    response = client.delete(f"{MODELS}/{ids[1]}", cascade="true")
    assert (response.status_code, response.json()["error_code"]) == (400, "ModelArts.3009")
    assert "service-a, service-b" in response.json()["error_msg"]
    assert client.get(MODELS, model_name="echo").json()["total_count"] == 3  # nothing deleted

    response = client.delete(f"{MODELS}/{ids[2]}", cascade="true").json()
    assert sorted(response["delete_success_list"]) == sorted([ids[2], ids[3]])
    assert response["delete_failed_list"] == [
        {
            "model_id": ids[1],
            "error_code": "ModelArts.3009",
            "error_msg": response["delete_failed_list"][0]["error_msg"],
        }
    ]
    remaining = client.get(MODELS).json()["models"]
    assert sorted(m["model_id"] for m in remaining) == sorted([ids[1], other])


def test_a_model_deleted_while_publishing_leaves_nothing(server: LiveServer, client: SignedClient) -> None:
    put_iris_package(server, "/ml/iris/")
    model_id = create(client, model_name="iris", model_version="1.0.0", source_location="/ml/iris/")
    assert client.delete(f"{MODELS}/{model_id}").status_code == 200
    # A later model's publishing finishes after the deleted one's task had its turn.
    put_echo_package(server, "/ml/echo/")
    wait_published(
        client, create(client, model_name="echo", model_version="1.0.0", source_location="/ml/echo/")
    )
    assert not (server.storage_root / "modelworks-system" / "models" / model_id).exists()


def _names(response: dict[str, Any]) -> list[str]:
    return [f"{m['model_name']}:{m['model_version']}" for m in response["models"]]


def test_list_filters_pages_and_sorts(database_url: str, server_factory: Callable[..., LiveServer]) -> None:
    live = server_factory(database_url=database_url)
    client = live.signed()
    put_echo_package(live, "/ml/echo/")
    put_echo_package(live, "/ml/weights/", {"weights.pt": bytes(20_000)}, model_type="PyTorch")
    made = [
        ("alpha_1", "1.0.0", "/ml/echo/", "first echo"),
        ("alpha_1", "1.0.10", "/ml/echo/", "second echo"),
        ("alpha_1", "1.0.2", "/ml/echo/", "third"),
        ("alphax1", "1.0.0", "/ml/echo/", ""),
        ("beta", "2.0.0", "/ml/weights/", "Iris flowers"),
    ]
    for name, version, location, description in made:
        create(
            client, model_name=name, model_version=version, source_location=location, description=description
        )
    for model in client.get(MODELS).json()["models"]:
        wait_published(client, model["model_id"])

    everything = client.get(MODELS).json()
    assert everything["total_count"] == everything["count"] == 5
    assert _names(everything) == [f"{n}:{v}" for n, v, _, _ in reversed(made)]  # newest first
    # "_" stands for any one character unless exact_match escapes it.
    assert len(_names(client.get(MODELS, model_name="alpha_1").json())) == 4
    assert len(_names(client.get(MODELS, model_name="alpha_1", exact_match="true").json())) == 3
    assert len(_names(client.get(MODELS, model_name="ALPHA").json())) == 4  # ignoring case
    assert _names(client.get(MODELS, model_version="2.0.0").json()) == ["beta:2.0.0"]
    assert _names(client.get(MODELS, description="iris").json()) == ["beta:2.0.0"]
    assert _names(client.get(MODELS, model_type="pytorch").json()) == ["beta:2.0.0"]
    assert len(_names(client.get(MODELS, not_model_type="PyTorch").json())) == 4
    assert client.get(MODELS, model_status="publishing").json()["total_count"] == 0
    assert client.get(MODELS, model_status="published").json()["total_count"] == 5
    by_version = client.get(
        MODELS, model_name="alpha_1", exact_match="true", sort_by="model_version", order="asc"
    )
    assert _names(by_version.json()) == ["alpha_1:1.0.0", "alpha_1:1.0.2", "alpha_1:1.0.10"]
    by_size = client.get(MODELS, sort_by="model_size").json()["models"]
    assert by_size[0]["model_name"] == "beta"  # the package with weights is the largest
    # offset is the index of a page of `limit` models.
    pages = [client.get(MODELS, sort_by="create_at", order="asc", limit=2, offset=i).json() for i in range(3)]
    assert [_names(p) for p in pages] == [
        ["alpha_1:1.0.0", "alpha_1:1.0.10"],
        ["alpha_1:1.0.2", "alphax1:1.0.0"],
        ["beta:2.0.0"],
    ]
    assert all(p["total_count"] == 5 for p in pages) and [p["count"] for p in pages] == [2, 2, 1]
    for query, field in (
        ({"sort_by": "name"}, "sort_by"),
        ({"order": "up"}, "order"),
        ({"model_status": "running"}, "model_status"),
        ({"model_type": "PyTorch", "not_model_type": "Custom"}, "not_model_type"),
    ):
        response = client.get(MODELS, **query)
        assert response.status_code == 400 and response.json()["error_msg"].startswith(field), response.text


# A training job that writes a ModelArts package (a Custom model: a threshold on one feature) to its output.
PACKAGE_WRITER = """
import argparse, json, os

parser = argparse.ArgumentParser()
parser.add_argument("--train_url")
parser.add_argument("--threshold", type=float, default=2.5)
args, unknown = parser.parse_known_args()
model = os.path.join(args.train_url, "model")
os.makedirs(model, exist_ok=True)
with open(os.path.join(model, "threshold.json"), "w") as f:
    json.dump({"threshold": args.threshold}, f)
config = {"model_type": "Custom", "model_algorithm": "predict_analysis", "metrics": {"accuracy": 0.9}}
with open(os.path.join(model, "config.json"), "w") as f:
    json.dump(config, f)
with open(os.path.join(model, "customize_service.py"), "w") as f:
    f.write('''
import json, os
from model_service.model_service import SingleNodeService


class ThresholdService(SingleNodeService):
    def __init__(self, model_name, model_path):
        super().__init__(model_name, model_path)
        with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "threshold.json")) as f:
            self.threshold = json.load(f)["threshold"]

    def _inference(self, data):
        return {"large": [x > self.threshold for x in data["petal_length"]]}
''')
print("package written")
"""


def test_a_completed_training_jobs_output_becomes_a_model(server: LiveServer, client: SignedClient) -> None:
    sdk = build_client(server)
    put_files(server, "/ml/code/writer/", {"train.py": PACKAGE_WRITER, "quick.py": QUICK})
    algorithm = JobAlgorithm(
        code_dir="/ml/code/writer/",
        boot_file="/ml/code/writer/train.py",
        parameters=hyperparameters(threshold=4.0),
        outputs=[obs_output("train_url", "/ml/output/writer/")],
        engine=JobEngine(engine_name="Python"),
    )
    job_id = create_job(sdk, job_request("writer", algorithm))
    quick = JobAlgorithm(
        code_dir="/ml/code/writer/",
        boot_file="/ml/code/writer/quick.py",
        outputs=[obs_output("train_url", "/ml/output/quick/")],
        engine=JobEngine(engine_name="Python"),
    )
    quick_id = create_job(sdk, job_request("quick", quick))
    assert wait_phase(sdk, job_id, timeout=60).status.phase == "Completed"
    assert wait_phase(sdk, quick_id, timeout=60).status.phase == "Completed"

    model_id = create(
        client, model_name="threshold", model_version="0.0.1", source_job_id=job_id, source_job_version="V1"
    )
    model = wait_published(client, model_id)
    assert model["source_job_id"] == job_id and model["source_job_version"] == "V1"
    assert model["source_location"] == "/ml/output/writer/" and model["model_type"] == "Custom"
    assert json.loads(model["model_metrics"]) == {"accuracy": 0.9}
    loaded = load_model(server.storage_root / "modelworks-system" / "models" / model_id / "model")
    assert loaded.predict({"petal_length": [1.4, 5.1]}) == {"large": [False, True]}

    message = refused(
        client, 400, "ModelArts.3017", model_name="quick", model_version="0.0.1", source_job_id=quick_id
    )
    assert message.startswith(
        "source_job_id: no output of training job 'quick' holds a model package (/ml/output/quick/)"
    )
    refused(
        client, 400, "ModelArts.2775", model_name="ghost", model_version="0.0.1", source_job_id="no-such-job"
    )
    # Another project cannot name this project's job.
    other = other_project(server)
    refused(other, 400, "ModelArts.2775", model_name="stolen", model_version="0.0.1", source_job_id=job_id)
