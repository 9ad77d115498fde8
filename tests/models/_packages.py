"""ModelArts model packages written into a test server's storage, and helpers to drive the models API.

The PyTorch package is what the manual's specification asks for: ``model/`` with ``config.json``, a
``customize_service.py`` subclassing ``PTServingBaseService`` and the weights of an iris classifier
saved as a state dict (``iris.pth``).
"""

from __future__ import annotations

import copy
import io
import json
import time
from functools import cache
from typing import Any

from tests._client import SignedClient
from tests.conftest import LiveServer
from tests.training._jobs import ASSETS, put_files

MODELS = "/v1/{project_id}/models"
SPECIES = ["setosa", "versicolor", "virginica"]

IRIS_SERVICE = """
import os

import torch
from model_service.pytorch_model_service import PTServingBaseService

SPECIES = ["setosa", "versicolor", "virginica"]


class IrisService(PTServingBaseService):
    def __init__(self, model_name, model_path):
        super().__init__(model_name, model_path)
        state = torch.load(model_path)
        self.mean, self.std = state.pop("mean"), state.pop("std")
        self.model = torch.nn.Linear(4, 3)
        self.model.load_state_dict(state)
        self.model.eval()

    def _preprocess(self, data):
        rows = [[float(r[k]) for k in ("sepal_length", "sepal_width", "petal_length", "petal_width")]
                for r in data["req_data"]]
        return {"x": (torch.tensor(rows) - self.mean) / self.std}

    def _postprocess(self, data):
        return {"resp_data": [{"predict_result": SPECIES[i]} for i in data["x"].argmax(1).tolist()]}
"""

IRIS_CONFIG: dict[str, Any] = {
    "model_algorithm": "predict_analysis",
    "model_type": "PyTorch",
    "metrics": {"f1": 0.95, "recall": 0.95, "precision": 0.95, "accuracy": 0.96},
    "apis": [
        {
            "url": "/",
            "method": "post",
            "request": {
                "Content-type": "application/json",
                "data": {
                    "type": "object",
                    "properties": {
                        "req_data": {"type": "array", "items": [{"type": "object", "properties": {}}]}
                    },
                },
            },
            "response": {
                "Content-type": "application/json",
                "data": {
                    "type": "object",
                    "properties": {
                        "resp_data": {"type": "array", "items": [{"type": "object", "properties": {}}]}
                    },
                },
            },
        }
    ],
    "dependencies": [
        {
            "installer": "pip",
            "packages": [
                {"package_name": "torch", "package_version": "2.0.0", "restraint": "ATLEAST"},
                {"package_name": "numpy", "package_version": "", "restraint": ""},
            ],
        }
    ],
}

ECHO_SERVICE = """
from model_service.model_service import SingleNodeService


class EchoService(SingleNodeService):
    def _inference(self, data):
        return data
"""

ECHO_CONFIG: dict[str, Any] = {"model_algorithm": "predict_analysis", "model_type": "Custom"}


def iris_rows() -> tuple[list[dict[str, float]], list[str]]:
    lines = (ASSETS / "iris.csv").read_text().splitlines()
    header = lines[0].split(",")[:4]
    rows = [line.split(",") for line in lines[1:]]
    return [dict(zip(header, map(float, r[:4]), strict=True)) for r in rows], [r[4] for r in rows]


@cache
def iris_weights() -> bytes:
    """A linear classifier of the iris species, trained here, as ``torch.save`` writes its state dict."""
    import torch

    features, labels = iris_rows()
    x = torch.tensor([list(f.values()) for f in features])
    y = torch.tensor([SPECIES.index(s) for s in labels])
    mean, std = x.mean(0), x.std(0)
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 3)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(200):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model((x - mean) / std), y).backward()
        optimizer.step()
    buffer = io.BytesIO()
    torch.save({**model.state_dict(), "mean": mean, "std": std}, buffer)
    return buffer.getvalue()


def put_package(
    server: LiveServer,
    prefix: str,
    config: dict[str, Any] | str,
    service: str | None,
    files: dict[str, bytes] | None = None,
) -> None:
    """Write ``<prefix>model/`` with config.json (a dict, or raw text), customize_service.py and files."""
    content: dict[str, str | bytes] = {
        "model/config.json": config if isinstance(config, str) else json.dumps(config, indent=2)
    }
    if service is not None:
        content["model/customize_service.py"] = service
    content.update({f"model/{name}": data for name, data in (files or {}).items()})
    put_files(server, prefix, content)


def put_iris_package(server: LiveServer, prefix: str, **config_changes: Any) -> None:
    config = {**copy.deepcopy(IRIS_CONFIG), **config_changes}
    put_package(server, prefix, config, IRIS_SERVICE, {"iris.pth": iris_weights()})


def put_echo_package(
    server: LiveServer, prefix: str, files: dict[str, bytes] | None = None, **config_changes: Any
) -> None:
    """A package whose code imports nothing heavy, so it publishes fast (give a model file, e.g.
    ``{"echo.pt": ...}``, when ``model_type`` says PyTorch)."""
    put_package(server, prefix, {**ECHO_CONFIG, **config_changes}, ECHO_SERVICE, files)


def create(client: SignedClient, **body: Any) -> str:
    response = client.post(MODELS, body)
    assert response.status_code == 200, response.text
    assert set(response.json()) == {"model_id"}
    return str(response.json()["model_id"])


def refused(client: SignedClient, status: int, code: str, **body: Any) -> str:
    """POST /models must answer ``status`` with ``code``; returns the error message."""
    response = client.post(MODELS, body)
    assert (response.status_code, response.json().get("error_code")) == (status, code), response.text
    return str(response.json()["error_msg"])


def show(client: SignedClient, model_id: str) -> dict[str, Any]:
    response = client.get(f"{MODELS}/{model_id}")
    assert response.status_code == 200, response.text
    return dict(response.json())


def wait_published(
    client: SignedClient, model_id: str, *statuses: str, timeout: float = 60
) -> dict[str, Any]:
    """The model's details once it left ``publishing`` (it must end in one of ``statuses``, default
    ``published``)."""
    wanted = statuses or ("published",)
    deadline = time.monotonic() + timeout
    while True:
        model = show(client, model_id)
        if model["model_status"] != "publishing":
            assert model["model_status"] in wanted, model
            return model
        assert time.monotonic() < deadline, f"model {model_id} still publishing"
        time.sleep(0.1)
