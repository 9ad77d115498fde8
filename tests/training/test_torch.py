"""A PyTorch training job on the PyTorch engine: needs torch (skipped without it, failing on CI)."""

from __future__ import annotations

import importlib.util
import io
import os

import pytest
from huaweicloudsdkmodelarts.v1 import JobAlgorithm, JobEngine, ModelArtsClient

from tests.conftest import LiveServer
from tests.training._jobs import (
    ASSETS,
    create_job,
    hyperparameters,
    job_request,
    obs_input,
    obs_output,
    preview,
    put_files,
    wait_phase,
)

SOFTMAX = """
import argparse, os
import torch

parser = argparse.ArgumentParser()
parser.add_argument("--data_url")
parser.add_argument("--train_url")
parser.add_argument("--epochs", type=int, default=200)
args, unknown = parser.parse_known_args()
species = ["setosa", "versicolor", "virginica"]
rows = [line.split(",") for line in open(os.path.join(args.data_url, "iris.csv")).read().splitlines()[1:]]
x = torch.tensor([[float(v) for v in r[:4]] for r in rows])
y = torch.tensor([species.index(r[4]) for r in rows])
mean, std = x.mean(0), x.std(0)
model = torch.nn.Linear(4, 3)
optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
for epoch in range(args.epochs):
    optimizer.zero_grad()
    loss = torch.nn.functional.cross_entropy(model((x - mean) / std), y)
    loss.backward()
    optimizer.step()
print(f"final loss {loss.item():.4f}", flush=True)
torch.save({"model": model.state_dict(), "mean": mean, "std": std}, os.path.join(args.train_url, "model.pt"))
"""


def _on_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("true", "1", "yes")


def test_pytorch_job_trains_a_classifier(server: LiveServer, client: ModelArtsClient) -> None:
    if importlib.util.find_spec("torch") is None:
        if _on_ci():
            pytest.fail("torch is not installed (pip install torch==2.13.0)")
        pytest.skip("torch is not installed")
    import torch

    put_files(server, "/ml/torch/", {"train.py": SOFTMAX})
    put_files(server, "/ml/iris/", {"iris.csv": (ASSETS / "iris.csv").read_bytes()})
    algorithm = JobAlgorithm(
        code_dir="/ml/torch/",
        boot_file="/ml/torch/train.py",
        parameters=hyperparameters(epochs=200),
        inputs=[obs_input("data_url", "/ml/iris/")],
        outputs=[obs_output("train_url", "/ml/torch-out/")],
        engine=JobEngine(engine_name="PyTorch"),
    )
    job_id = create_job(client, job_request("torch-iris", algorithm))
    job = wait_phase(client, job_id, timeout=60)
    assert job.status.phase == "Completed", preview(client, job_id)
    assert job.algorithm.engine.engine_name == "PyTorch"

    saved = (server.storage_root / "ml" / "torch-out" / "model.pt").read_bytes()
    checkpoint = torch.load(io.BytesIO(saved))
    model = torch.nn.Linear(4, 3)
    model.load_state_dict(checkpoint["model"])
    species = ["setosa", "versicolor", "virginica"]
    rows = [line.split(",") for line in (ASSETS / "iris.csv").read_text().splitlines()[1:]]
    x = torch.tensor([[float(v) for v in r[:4]] for r in rows])
    y = torch.tensor([species.index(r[4]) for r in rows])
    with torch.no_grad():
        predicted = model((x - checkpoint["mean"]) / checkpoint["std"]).argmax(1)
    assert (predicted == y).float().mean().item() >= 0.9
