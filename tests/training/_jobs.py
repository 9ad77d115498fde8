"""Building training jobs through the SDK, user scripts they run, and waiting for them."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from huaweicloudsdkmodelarts.v1 import (
    AutoStop,
    CreateTrainingJobRequest,
    Input,
    InputDataInfo,
    InputDataInfoObs,
    Job,
    JobAlgorithm,
    JobMetadata,
    ModelArtsClient,
    Output,
    Parameters,
    Remote,
    RemoteObs,
    ShowTrainingJobDetailsRequest,
    ShowTrainingJobLogsPreviewRequest,
    Spec,
    SpecResource,
)

from tests.conftest import LiveServer
from tests.training._sdk import call

ASSETS = Path(__file__).with_name("assets")
TERMINAL = ("Completed", "Failed", "Terminated", "Abnormal")

# Logistic regression with numpy: versicolor against virginica on Fisher's iris measurements.
LOGREG = """
import argparse, json, os
import numpy as np

parser = argparse.ArgumentParser()
parser.add_argument("--data_url")
parser.add_argument("--train_url")
parser.add_argument("--epochs", type=int, default=100)
parser.add_argument("--lr", type=float, default=0.1)
args, unknown = parser.parse_known_args()
rows = [line.split(",") for line in open(os.path.join(args.data_url, "iris.csv")).read().splitlines()[1:]]
rows = [r for r in rows if r[4] != "setosa"]
x = np.array([[float(v) for v in r[:4]] for r in rows])
y = np.array([1.0 if r[4] == "virginica" else 0.0 for r in rows])
mean, std = x.mean(axis=0), x.std(axis=0)
x = (x - mean) / std
w, b = np.zeros(4), 0.0
for epoch in range(args.epochs):
    p = 1 / (1 + np.exp(-(x @ w + b)))
    loss = -np.mean(y * np.log(p + 1e-9) + (1 - y) * np.log(1 - p + 1e-9))
    w -= args.lr * x.T @ (p - y) / len(y)
    b -= args.lr * float(np.mean(p - y))
    if epoch % 50 == 0:
        print(f"epoch {epoch} loss {loss:.4f}", flush=True)
accuracy = float(np.mean((p > 0.5) == (y == 1)))
print(f"training accuracy {accuracy:.3f}")
os.makedirs(os.path.join(args.train_url, "checkpoints"), exist_ok=True)
np.savez(os.path.join(args.train_url, "checkpoints", "model.npz"), w=w, b=b, mean=mean, std=std)
with open(os.path.join(args.train_url, "metrics.json"), "w") as f:
    json.dump({"accuracy": accuracy, "epochs": args.epochs}, f)
"""

# Runs until stopped: burns CPU half the time, prints ticks, and leaves a child that ignores SIGTERM.
LONG_RUNNING = """
import subprocess, sys, time
stubborn = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"
child = subprocess.Popen([sys.executable, "-c", stubborn])
print(f"child {child.pid}", flush=True)
tick = 0
while True:
    end = time.time() + 0.1
    while time.time() < end:
        pass
    print(f"tick {tick}", flush=True)
    tick += 1
    time.sleep(0.1)
"""

# Runs until stopped, printing ticks; stops at the first SIGTERM.
TICKER = """
import itertools, time
for tick in itertools.count():
    print(f"tick {tick}", flush=True)
    time.sleep(0.1)
"""

FAILING = """
import argparse
parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float)
args, unknown = parser.parse_known_args()
print(f"starting with lr {args.lr}", flush=True)
raise ValueError(f"learning rate {args.lr} is too large")
"""

QUICK = "print('done')\n"


def put_files(server: LiveServer, prefix: str, files: dict[str, str | bytes]) -> None:
    """Write files below an OBS directory path (``/bucket/dir/``) of the server's local store."""
    root = server.storage_root / prefix.strip("/")
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)


def obs_input(name: str, url: str, access_method: str | None = None) -> Input:
    return Input(
        name=name, remote=InputDataInfo(obs=InputDataInfoObs(obs_url=url)), access_method=access_method
    )


def obs_output(name: str, url: str, access_method: str | None = None) -> Output:
    return Output(name=name, remote=Remote(obs=RemoteObs(obs_url=url)), access_method=access_method)


def hyperparameters(**values: Any) -> list[Parameters]:
    return [Parameters(name=k, value=str(v)) for k, v in values.items()]


def job_request(
    name: str,
    algorithm: JobAlgorithm,
    *,
    flavor_id: str | None = None,
    node_count: int = 1,
    auto_stop: AutoStop | None = None,
    description: str | None = None,
) -> CreateTrainingJobRequest:
    return CreateTrainingJobRequest(
        body=Job(
            kind="job",
            metadata=JobMetadata(name=name, description=description),
            algorithm=algorithm,
            spec=Spec(resource=SpecResource(flavor_id=flavor_id, node_count=node_count), auto_stop=auto_stop),
        )
    )


def create_job(client: ModelArtsClient, request: CreateTrainingJobRequest) -> str:
    response = call(client, "create_training_job", request)
    assert response.status_code == 201
    return str(response.metadata.id)


def details(client: ModelArtsClient, job_id: str) -> Any:
    return call(client, "show_training_job_details", ShowTrainingJobDetailsRequest(training_job_id=job_id))


def wait_phase(client: ModelArtsClient, job_id: str, *phases: str, timeout: float = 30) -> Any:
    """The job's details once its phase is one of ``phases`` (any terminal phase if none given)."""
    wanted = phases or TERMINAL
    deadline = time.monotonic() + timeout
    while True:
        job = details(client, job_id)
        if job.status.phase in wanted:
            return job
        if job.status.phase in TERMINAL or time.monotonic() > deadline:
            log = preview(client, job_id)
            raise AssertionError(f"job {job_id} is {job.status.phase}, not {wanted}; log:\n{log}")
        time.sleep(0.1)


def preview(client: ModelArtsClient, job_id: str) -> str:
    request = ShowTrainingJobLogsPreviewRequest(training_job_id=job_id, task_id="worker-0")
    return str(call(client, "show_training_job_logs_preview", request).content)


def wait_log(client: ModelArtsClient, job_id: str, text: str, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while True:
        content = preview(client, job_id)
        if text in content:
            return content
        if time.monotonic() > deadline:
            raise AssertionError(f"{text!r} not in the log of {job_id}:\n{content}")
        time.sleep(0.1)
