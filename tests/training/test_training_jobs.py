"""Training jobs that really run, driven through the official ModelArts SDK."""

from __future__ import annotations

import io
import json
import re
import time

import httpx
import numpy as np
import psutil
import pytest
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkmodelarts.v1 import (
    AutoStop,
    ChangeTrainingJobDescriptionRequest,
    DeleteTrainingJobRequest,
    JobActionType,
    JobAlgorithm,
    JobEngine,
    JobUpdateRequestBody,
    ModelArtsClient,
    ShowTrainingJobMetricsRequest,
    StopTrainingJobRequest,
)

from modelworks.compute.processes import ProcessInfo, group_members
from tests.conftest import LiveServer
from tests.training._jobs import (
    ASSETS,
    FAILING,
    LOGREG,
    LONG_RUNNING,
    TICKER,
    create_job,
    details,
    hyperparameters,
    job_request,
    obs_input,
    obs_output,
    preview,
    put_files,
    wait_log,
    wait_phase,
)
from tests.training._sdk import call


def alive(pid: int) -> bool:
    """True for a running process (a zombie waiting for its reaper is not)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_logistic_regression_trains_and_its_checkpoint_lands_in_storage(
    server: LiveServer, client: ModelArtsClient
) -> None:
    put_files(server, "/ml/code/logreg/", {"train.py": LOGREG})
    put_files(server, "/ml/data/iris/", {"iris.csv": (ASSETS / "iris.csv").read_bytes()})
    algorithm = JobAlgorithm(
        code_dir="/ml/code/logreg/",
        boot_file="/ml/code/logreg/train.py",
        parameters=hyperparameters(epochs=300, lr=0.5),
        inputs=[obs_input("data_url", "/ml/data/iris/")],
        outputs=[obs_output("train_url", "obs://ml/output/logreg/")],
        engine=JobEngine(engine_name="Python"),
    )
    request = job_request("logreg", algorithm, flavor_id="modelarts.vm.cpu.1u", description="iris")
    job_id = create_job(client, request)

    job = wait_phase(client, job_id)
    log = preview(client, job_id)
    assert job.status.phase == "Completed", log
    assert job.status.secondary_phase == "Completed"
    assert job.status.task_statuses[0].exit_code == 0
    assert job.status.duration > 0 and job.status.start_time >= job.metadata.create_time
    assert "epoch 0 loss 0.6931" in log and "training accuracy" in log
    assert job.algorithm.parameters[0].name == "epochs" and job.algorithm.parameters[0].value == "300"
    assert job.algorithm.inputs[0].local_dir.endswith(f"/jobs/{job_id}/inputs/data_url_0")
    assert job.spec.resource.flavor_id == "modelarts.vm.cpu.1u"
    assert job.spec.resource.flavor_detail.flavor_info.cpu.core_num == 1

    # The checkpoint is a real model: it classifies the data it was trained on.
    output = server.storage_root / "ml" / "output" / "logreg"
    checkpoint = np.load(io.BytesIO((output / "checkpoints" / "model.npz").read_bytes()))
    rows = [line.split(",") for line in (ASSETS / "iris.csv").read_text().splitlines()[1:]]
    rows = [r for r in rows if r[4] != "setosa"]
    x = (np.array([[float(v) for v in r[:4]] for r in rows]) - checkpoint["mean"]) / checkpoint["std"]
    predicted = (x @ checkpoint["w"] + checkpoint["b"]) > 0
    accuracy = float(np.mean(predicted == np.array([r[4] == "virginica" for r in rows])))
    assert accuracy >= 0.9
    assert json.loads((output / "metrics.json").read_text())["accuracy"] == pytest.approx(accuracy)
    # The log was copied to storage too (the service-kept copy).
    stored = server.storage_root / "modelworks-system" / "training-jobs" / job_id / "logs" / "worker-0.log"
    assert "training accuracy" in stored.read_text()


def test_log_and_metrics_while_running_then_terminate_kills_the_group(
    server: LiveServer, client: ModelArtsClient
) -> None:
    put_files(server, "/ml/code/long/", {"run.py": LONG_RUNNING})
    algorithm = JobAlgorithm(code_dir="/ml/code/long/", boot_file="/ml/code/long/run.py")
    job_id = create_job(client, job_request("long-run", algorithm))
    running = wait_phase(client, job_id, "Running")
    assert running.status.tasks == ["worker-0"]
    log = wait_log(client, job_id, "tick 3")
    child_pid = int(re.search(r"child (\d+)", log).group(1))  # type: ignore[union-attr]

    metrics_request = ShowTrainingJobMetricsRequest(training_job_id=job_id, task_id="worker-0")
    deadline = time.monotonic() + 15
    while True:
        metrics = {
            m.metric: m.value for m in call(client, "show_training_job_metrics", metrics_request).metrics
        }
        if len(metrics["cpuUsage"]) >= 2:
            break
        assert time.monotonic() < deadline, metrics
        time.sleep(0.2)
    assert max(metrics["cpuUsage"]) > 5 and all(0 <= v <= 100 for v in metrics["cpuUsage"])
    assert 0 < metrics["memUsage"][-1] < 100

    info = ProcessInfo.from_json(
        (server.settings.sandbox_root / "jobs" / job_id / "process.json").read_text()
    )
    assert len(group_members(info.pgid)) >= 3  # the launcher, the boot file and its child
    started = time.monotonic()
    stopped = call(
        client,
        "stop_training_job",
        StopTrainingJobRequest(training_job_id=job_id, body=JobActionType(action_type="terminate")),
    )
    assert stopped.status_code == 202 and stopped.status.phase == "Terminating"
    job = wait_phase(client, job_id, "Terminated", timeout=15)
    assert time.monotonic() - started < 10
    assert group_members(info.pgid) == [] and not alive(child_pid)
    assert job.status.task_statuses[0].message == "terminated by request"
    assert "stopping the task's process group" in preview(client, job_id)

    again = StopTrainingJobRequest(training_job_id=job_id, body=JobActionType(action_type="terminate"))
    with pytest.raises(ClientRequestException) as refused:
        client.stop_training_job(again)
    assert refused.value.status_code == 400 and refused.value.error_code == "ModelArts.2858"


def test_failing_script_ends_failed_with_its_error_in_the_log(
    server: LiveServer, client: ModelArtsClient
) -> None:
    put_files(server, "/ml/code/bad/", {"train.py": FAILING})
    algorithm = JobAlgorithm(
        code_dir="/ml/code/bad/", boot_file="/ml/code/bad/train.py", parameters=hyperparameters(lr=5.0)
    )
    job_id = create_job(client, job_request("failing", algorithm))
    job = wait_phase(client, job_id)
    assert (job.status.phase, job.status.secondary_phase) == ("Failed", "Failed")
    assert job.status.task_statuses[0].exit_code == 1
    assert job.status.task_statuses[0].message == "the boot file exited with code 1"
    log = preview(client, job_id)
    assert "starting with lr 5.0" in log and "ValueError: learning rate 5.0 is too large" in log

    # 5.12: a signed URL to the whole log that needs no credentials, and expires.
    signed = server.signed().get(f"/v2/{{project_id}}/training-jobs/{job_id}/tasks/worker-0/logs/url")
    assert signed.status_code == 200, signed.text
    url = signed.json()["obs_url"]
    assert set(signed.json()) == {"obs_url"}
    full = httpx.get(url)
    assert full.status_code == 200 and "ValueError: learning rate 5.0 is too large" in full.text
    assert httpx.get(url.replace("Signature=", "Signature=0")).status_code == 401
    missing = server.signed().get(f"/v2/{{project_id}}/training-jobs/{job_id}/tasks/worker-9/logs/preview")
    assert missing.status_code == 404

    # 5.8 and 5.9: a finished job's description changes, then it is deleted with its files.
    body = JobUpdateRequestBody(description="lr too large")
    call(client, "change_training_job_description", ChangeTrainingJobDescriptionRequest(job_id, body))
    assert details(client, job_id).metadata.description == "lr too large"
    assert call(client, "delete_training_job", DeleteTrainingJobRequest(job_id)).status_code == 202
    assert not (server.settings.sandbox_root / "jobs" / job_id).exists()
    with pytest.raises(ClientRequestException) as gone:
        details(client, job_id)
    assert gone.value.status_code == 404 and gone.value.error_code == "ModelArts.2775"


def test_auto_stop_terminates_a_job_that_runs_too_long(server: LiveServer, client: ModelArtsClient) -> None:
    put_files(server, "/ml/code/long/", {"run.py": TICKER})
    algorithm = JobAlgorithm(code_dir="/ml/code/long/", boot_file="/ml/code/long/run.py")
    request = job_request("capped", algorithm, auto_stop=AutoStop(time_unit="SECONDS", duration=2))
    job_id = create_job(client, request)
    job = wait_phase(client, job_id, timeout=20)
    assert job.status.phase == "Terminated"
    assert job.status.task_statuses[0].message == "stopped by auto_stop after 2 SECONDS"
    assert 2000 <= job.status.duration < 6000
    info = ProcessInfo.from_json(
        (server.settings.sandbox_root / "jobs" / job_id / "process.json").read_text()
    )
    assert group_members(info.pgid) == []
