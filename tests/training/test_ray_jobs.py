"""Training jobs on Ray: a private local Ray head (one per module, loopback only) and a server whose
MODELWORKS_RAY_ADDRESS names it, driven through the official ModelArts SDK.

Skipped without ray; the distributed test also needs torch (skipped without it, failing on CI).
"""

from __future__ import annotations

import contextlib
import importlib.util
import ipaddress
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException, ServerResponseException
from huaweicloudsdkmodelarts.v1 import (
    JobActionType,
    JobAlgorithm,
    JobEngine,
    ModelArtsClient,
    ShowTrainingJobLogsPreviewRequest,
    StopTrainingJobRequest,
)

from modelworks.settings import Settings
from modelworks.training.runners.ray import jobs_api_address
from modelworks.training.runners.ray_logs import LogRouter, RayLogTail
from tests.conftest import LiveServer, free_port, run_server, wait_for
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
from tests.training._sdk import build_client, call

pytestmark = [
    pytest.mark.ray,
    pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="ray is not installed"),
    # Raised inside Ray's own JobSubmissionClient.tail_job_logs (aiohttp), not by Modelworks.
    pytest.mark.filterwarnings("ignore:ssl=None is deprecated:DeprecationWarning"),
]

HEAD_START_TIMEOUT = 120
JOB_TIMEOUT = 120


@dataclass
class RayHead:
    """A Ray head in a process group of its own, started with ``ray start --head --block``."""

    process: subprocess.Popen[bytes]
    gcs_address: str
    dashboard: str
    temp_dir: Path

    def client(self) -> Any:
        from ray.job_submission import JobSubmissionClient

        return JobSubmissionClient(self.dashboard)

    def settings(self) -> dict[str, str]:
        return {"ray_address": self.gcs_address, "ray_jobs_address": self.dashboard}


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def _stop_head(head: subprocess.Popen[bytes]) -> list[psutil.Process]:
    """Stop the head and every process it started; the ones that had to be killed."""
    try:
        family = psutil.Process(head.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        family = []
    head.terminate()  # `ray start --block` stops its processes on SIGTERM
    try:
        head.wait(timeout=30)
    except subprocess.TimeoutExpired:
        head.kill()
        head.wait()
    _, alive = psutil.wait_procs(family, timeout=15)
    for proc in alive:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(alive, timeout=5)
    return alive


def _import_ray_as_for_a_local_head() -> None:
    """Ray reads RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER once, when first imported: import it as RayExecutor
    does, so that a local head a later test starts in this process still binds loopback only."""
    if "ray" not in sys.modules:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
            importlib.import_module("ray")


@pytest.fixture(scope="module")
def ray_head(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RayHead]:
    _import_ray_as_for_a_local_head()
    # Short: Ray's unix sockets live below it, and their paths must fit in 107 bytes.
    temp_dir = Path(tempfile.mkdtemp(prefix="mwray", dir="/tmp"))
    gcs, dashboard = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env.update(
        RAY_USAGE_STATS_ENABLED="0",
        # Keep 127.0.0.1 as the node address (no lookup of the host's address, nothing on 0.0.0.0).
        RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0",
        # A private loopback head for one test module: no token, so the test needs no token files.
        RAY_AUTH_MODE="disabled",
    )
    ports = {
        "port": gcs,
        "dashboard-port": dashboard,
        "ray-client-server-port": free_port(),
        "dashboard-agent-listen-port": free_port(),
        "dashboard-agent-grpc-port": free_port(),
        "runtime-env-agent-port": free_port(),
        "metrics-export-port": free_port(),
        "node-manager-port": free_port(),
        "object-manager-port": free_port(),
    }
    argv = [
        sys.executable, "-m", "ray.scripts.scripts", "start", "--head", "--block",
        "--node-ip-address=127.0.0.1", "--dashboard-host=127.0.0.1", "--include-dashboard=true",
        "--num-cpus=2", f"--memory={2 * 1024**3}", f"--object-store-memory={100 * 1024**2}",
        f"--temp-dir={temp_dir}", "--disable-usage-stats",
        *(f"--{name}={port}" for name, port in ports.items()),
    ]  # fmt: skip
    output = (temp_dir / "head.log").open("wb")
    process = subprocess.Popen(argv, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{dashboard}"
    try:
        deadline = time.monotonic() + HEAD_START_TIMEOUT
        while not (_answers(f"{url}/api/version") and _answers(f"{url}/api/jobs/")):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the Ray head did not start:\n" + (temp_dir / "head.log").read_text())
            time.sleep(0.2)
        yield RayHead(process, f"127.0.0.1:{gcs}", url, temp_dir)
    finally:
        killed = _stop_head(process)
        output.close()
        shutil.rmtree(temp_dir, ignore_errors=True)
    assert not killed, f"Ray processes outlived their head: {killed}"


@pytest.fixture(scope="module")
def ray_server(ray_head: RayHead, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with run_server(tmp_path_factory.mktemp("ray-server") / "home", **ray_head.settings()) as live:
        yield live


@pytest.fixture
def ray_client(ray_server: LiveServer) -> ModelArtsClient:
    return build_client(ray_server)


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def ray_status(head: RayHead, job_id: str) -> str:
    return str(head.client().get_job_info(f"modelworks-{job_id}").status.value)


def test_a_job_runs_on_ray_to_completed_with_its_log(
    ray_head: RayHead, ray_server: LiveServer, ray_client: ModelArtsClient
) -> None:
    put_files(ray_server, "/ml/code/logreg/", {"train.py": LOGREG})
    put_files(ray_server, "/ml/data/iris/", {"iris.csv": (ASSETS / "iris.csv").read_bytes()})
    algorithm = JobAlgorithm(
        code_dir="/ml/code/logreg/",
        boot_file="/ml/code/logreg/train.py",
        parameters=hyperparameters(epochs=300, lr=0.5),
        inputs=[obs_input("data_url", "/ml/data/iris/")],
        outputs=[obs_output("train_url", "/ml/output/logreg/")],
        engine=JobEngine(engine_name="Python"),
    )
    job_id = create_job(ray_client, job_request("ray-logreg", algorithm, flavor_id="modelarts.vm.cpu.1u"))
    job = wait_phase(ray_client, job_id, timeout=JOB_TIMEOUT)
    log = preview(ray_client, job_id)
    assert job.status.phase == "Completed", log
    assert job.status.tasks == ["worker-0"] and job.spec.resource.node_count == 1
    assert job.status.task_statuses[0].exit_code == 0
    assert job.status.duration > 0 and job.status.start_time >= job.metadata.create_time
    assert "epoch 0 loss 0.6931" in log and "training accuracy" in log
    assert f"submitting to Ray Jobs at {ray_head.dashboard} as modelworks-{job_id}" in log

    # It ran as a Ray job (never as a local process group), and its outputs and log reached storage.
    assert ray_status(ray_head, job_id) == "SUCCEEDED"
    assert not (ray_server.settings.sandbox_root / "jobs" / job_id / "process.json").exists()
    output = ray_server.storage_root / "ml" / "output" / "logreg"
    assert json.loads((output / "metrics.json").read_text())["accuracy"] >= 0.9
    assert (output / "checkpoints" / "model.npz").is_file()
    stored = ray_server.storage_root / "modelworks-system" / "training-jobs" / job_id / "logs"
    assert "training accuracy" in (stored / "worker-0.log").read_text()


def test_a_failing_script_on_ray_ends_failed_with_its_error_in_the_log(
    ray_head: RayHead, ray_server: LiveServer, ray_client: ModelArtsClient
) -> None:
    put_files(ray_server, "/ml/code/bad/", {"train.py": FAILING})
    algorithm = JobAlgorithm(
        code_dir="/ml/code/bad/", boot_file="/ml/code/bad/train.py", parameters=hyperparameters(lr=5.0)
    )
    job_id = create_job(ray_client, job_request("ray-failing", algorithm, flavor_id="modelarts.vm.cpu.1u"))
    job = wait_phase(ray_client, job_id, timeout=JOB_TIMEOUT)
    assert (job.status.phase, job.status.secondary_phase) == ("Failed", "Failed")
    assert job.status.task_statuses[0].exit_code == 1
    assert job.status.task_statuses[0].message == "the boot file exited with code 1"
    assert ray_status(ray_head, job_id) == "FAILED"
    log = preview(ray_client, job_id)
    assert "starting with lr 5.0" in log and "ValueError: learning rate 5.0 is too large" in log

    signed = ray_server.signed().get(f"/v2/{{project_id}}/training-jobs/{job_id}/tasks/worker-0/logs/url")
    assert signed.status_code == 200, signed.text
    assert "ValueError: learning rate 5.0 is too large" in httpx.get(signed.json()["obs_url"]).text


def test_terminate_stops_a_long_ray_job_within_seconds(
    ray_head: RayHead, ray_server: LiveServer, ray_client: ModelArtsClient
) -> None:
    put_files(ray_server, "/ml/code/long/", {"run.py": LONG_RUNNING})
    algorithm = JobAlgorithm(code_dir="/ml/code/long/", boot_file="/ml/code/long/run.py")
    job_id = create_job(ray_client, job_request("ray-long", algorithm, flavor_id="modelarts.vm.cpu.1u"))
    wait_phase(ray_client, job_id, "Running", timeout=JOB_TIMEOUT)
    log = wait_log(ray_client, job_id, "tick 3", timeout=JOB_TIMEOUT)
    child_pid = int(re.search(r"child (\d+)", log).group(1))  # type: ignore[union-attr]
    assert alive(child_pid)

    started = time.monotonic()
    request = StopTrainingJobRequest(training_job_id=job_id, body=JobActionType(action_type="terminate"))
    assert call(ray_client, "stop_training_job", request).status.phase == "Terminating"
    job = wait_phase(ray_client, job_id, "Terminated", timeout=20)
    assert time.monotonic() - started < 12
    assert job.status.task_statuses[0].message == "terminated by request"
    assert ray_status(ray_head, job_id) == "STOPPED"
    wait_for(lambda: not alive(child_pid), timeout=5)  # the child that ignores SIGTERM is killed too
    assert "stopping the Ray job" in preview(ray_client, job_id)


def test_a_restarted_server_re_adopts_its_ray_job(ray_head: RayHead, tmp_path: Path) -> None:
    home = tmp_path / "home"
    with run_server(home, **ray_head.settings()) as first:
        client = build_client(first)
        put_files(first, "/ml/long/", {"run.py": TICKER})
        algorithm = JobAlgorithm(code_dir="/ml/long/", boot_file="/ml/long/run.py")
        job_id = create_job(client, job_request("ray-survivor", algorithm, flavor_id="modelarts.vm.cpu.1u"))
        wait_log(client, job_id, "tick 2", timeout=JOB_TIMEOUT)
    assert ray_status(ray_head, job_id) == "RUNNING", "the Ray job stops with its server"

    with run_server(home, **ray_head.settings()) as second:
        client = build_client(second)
        log = wait_log(client, job_id, f"re-adopts the Ray job modelworks-{job_id}")
        assert f"the Ray job modelworks-{job_id} keeps running" in log
        seen = max(int(n) for n in re.findall(r"tick (\d+)", log))
        log = wait_log(client, job_id, f"tick {seen + 5}", timeout=20)
        ticks = [int(n) for n in re.findall(r"tick (\d+)", log)]
        assert ticks == list(range(len(ticks))), "the log is copied once, in order, across the restart"
        assert details(client, job_id).status.phase == "Running"
        stop = StopTrainingJobRequest(training_job_id=job_id, body=JobActionType(action_type="terminate"))
        call(client, "stop_training_job", stop)
        job = wait_phase(client, job_id, "Terminated", timeout=20)
        assert job.status.task_statuses[0].message == "terminated by request"
    assert ray_status(ray_head, job_id) == "STOPPED"


# Two ranks of torch.distributed over gloo, set up from the environment (init_method env://).
ALL_REDUCE = """
import argparse, json, os
import torch
import torch.distributed as dist

parser = argparse.ArgumentParser()
parser.add_argument("--train_url")
args, unknown = parser.parse_known_args()
rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
assert world == 2 and 0 <= rank < world, (rank, world)
assert os.environ["VC_TASK_INDEX"] == str(rank) and os.environ["MA_NUM_HOSTS"] == "2"
dist.init_process_group("gloo")
assert dist.get_rank() == rank and dist.get_world_size() == world
value = torch.tensor([float(rank + 1)])
dist.all_reduce(value)
print(f"rank {rank} of {world}: all_reduce gives {value.item()}", flush=True)
names = ("LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT", "MA_CURRENT_INSTANCE_NAME", "VC_WORKER_HOSTS")
result = {"rank": rank, "world_size": world, "sum": value.item(), **{n: os.environ[n] for n in names}}
with open(os.path.join(args.train_url, f"rank-{rank}.json"), "w") as f:
    json.dump(result, f)
dist.destroy_process_group()
"""

# Rank 1 fails at once; rank 0 would wait forever for it.
ONE_RANK_FAILS = """
import os, sys, time
if os.environ["RANK"] == "1":
    print("rank 1 gives up", flush=True)
    sys.exit(3)
print("rank 0 waits", flush=True)
time.sleep(600)
"""


def _on_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("true", "1", "yes")


def test_two_nodes_run_a_torch_distributed_all_reduce(
    ray_head: RayHead, ray_server: LiveServer, ray_client: ModelArtsClient
) -> None:
    if importlib.util.find_spec("torch") is None:
        if _on_ci():
            pytest.fail("torch is not installed (pip install torch==2.13.0)")
        pytest.skip("torch is not installed")
    put_files(ray_server, "/ml/dist/", {"train.py": ALL_REDUCE})
    algorithm = JobAlgorithm(
        code_dir="/ml/dist/",
        boot_file="/ml/dist/train.py",
        outputs=[obs_output("train_url", "/ml/dist-out/")],
        engine=JobEngine(engine_name="PyTorch"),
    )
    request = job_request("ray-all-reduce", algorithm, flavor_id="modelarts.vm.cpu.1u", node_count=2)
    job_id = create_job(ray_client, request)
    job = wait_phase(ray_client, job_id, timeout=JOB_TIMEOUT)
    worker_logs = {task: task_log(ray_client, job_id, task) for task in ("worker-0", "worker-1")}
    assert job.status.phase == "Completed", worker_logs
    assert job.spec.resource.node_count == 2
    assert job.status.tasks == ["worker-0", "worker-1"]
    assert [(t.task, t.exit_code) for t in job.status.task_statuses] == [("worker-0", 0), ("worker-1", 0)]
    for rank in (0, 1):
        assert f"rank {rank} of 2: all_reduce gives 3.0" in worker_logs[f"worker-{rank}"]
        assert f"rank {1 - rank} of 2" not in worker_logs[f"worker-{rank}"]

    results = [
        json.loads((ray_server.storage_root / "ml" / "dist-out" / f"rank-{rank}.json").read_text())
        for rank in (0, 1)
    ]
    assert [(r["rank"], r["world_size"], r["sum"]) for r in results] == [(0, 2, 3.0), (1, 2, 3.0)]
    assert {r["MASTER_ADDR"] for r in results} == {"127.0.0.1"}
    assert len({r["MASTER_PORT"] for r in results}) == 1
    assert [r["LOCAL_RANK"] for r in results] == ["0", "1"]  # both workers share the one node
    assert [r["MA_CURRENT_INSTANCE_NAME"] for r in results] == [
        f"modelarts-job-{job_id}-worker-0",
        f"modelarts-job-{job_id}-worker-1",
    ]
    assert results[0]["VC_WORKER_HOSTS"] == "127.0.0.1,127.0.0.1"
    stored = ray_server.storage_root / "modelworks-system" / "training-jobs" / job_id / "logs"
    assert "all_reduce gives 3.0" in (stored / "worker-1.log").read_text()


def test_one_failing_node_fails_the_job_and_stops_the_others(
    ray_head: RayHead, ray_server: LiveServer, ray_client: ModelArtsClient
) -> None:
    put_files(ray_server, "/ml/fails/", {"train.py": ONE_RANK_FAILS})
    algorithm = JobAlgorithm(code_dir="/ml/fails/", boot_file="/ml/fails/train.py")
    request = job_request("ray-one-fails", algorithm, flavor_id="modelarts.vm.cpu.1u", node_count=2)
    job_id = create_job(ray_client, request)
    job = wait_phase(ray_client, job_id, timeout=JOB_TIMEOUT)
    assert job.status.phase == "Failed", task_log(ray_client, job_id, "worker-0")
    record = job.status.running_records[0]
    assert record.end_reason == "worker-1: the boot file exited with code 3"
    assert record.end_related_task == "worker-1"
    by_task = {t.task: t for t in job.status.task_statuses}
    assert by_task["worker-1"].exit_code == 3
    assert by_task["worker-0"].exit_code == -15
    assert by_task["worker-0"].message == "stopped after worker-1 failed"
    assert "rank 1 gives up" in task_log(ray_client, job_id, "worker-1")
    assert "worker-1 failed: stopping the other workers" in task_log(ray_client, job_id, "worker-0")
    with pytest.raises(ClientRequestException) as missing:
        task_log(ray_client, job_id, "worker-2")
    assert missing.value.status_code == 404


def task_log(client: ModelArtsClient, job_id: str, task: str) -> str:
    request = ShowTrainingJobLogsPreviewRequest(training_job_id=job_id, task_id=task)
    return str(call(client, "show_training_job_logs_preview", request).content)


def test_a_tailed_ray_log_is_copied_once_across_a_restart(ray_head: RayHead, tmp_path: Path) -> None:
    """Big logs are tailed (small ones are read whole): a second tail continues where the first stopped."""
    client = ray_head.client()
    script = "import time\nfor i in range(40):\n    print(f'line {i}', flush=True)\n    time.sleep(0.1)\n"
    sid = client.submit_job(entrypoint=shlex.join([sys.executable, "-c", script]))
    first = RayLogTail(client, sid, LogRouter(tmp_path, ["worker-0"])).start()
    log = tmp_path / "logs" / "worker-0.log"
    wait_for(lambda: log.is_file() and "line 5" in log.read_text(), timeout=JOB_TIMEOUT)
    first.stop()
    copied = log.read_text()

    router = LogRouter(tmp_path, ["worker-0"])  # as a re-adopting worker finds it
    assert router.offset == len(copied)
    second = RayLogTail(client, sid, router).start()
    wait_for(lambda: client.get_job_info(sid).status.is_terminal(), timeout=JOB_TIMEOUT)
    wait_for(lambda: not second.alive, timeout=30)  # a tail ends by itself after the job's end
    router.finish(client.get_job_logs(sid))
    assert log.read_text() == client.get_job_logs(sid)
    assert [int(n) for n in re.findall(r"line (\d+)", log.read_text())] == list(range(40))


def test_without_ray_several_nodes_answer_501_naming_the_setting(
    server: LiveServer, client: ModelArtsClient
) -> None:
    put_files(server, "/ml/quick/", {"ok.py": "print('ok')\n"})
    algorithm = JobAlgorithm(code_dir="/ml/quick/", boot_file="/ml/quick/ok.py")
    with pytest.raises((ClientRequestException, ServerResponseException)) as refused:
        client.create_training_job(job_request("two-nodes", algorithm, node_count=2))
    assert refused.value.status_code == 501 and "MODELWORKS_RAY_ADDRESS" in refused.value.error_msg


def test_the_jobs_api_is_found_from_the_ray_address(tmp_path: Path) -> None:
    def address(**values: str) -> str:
        return jobs_api_address(Settings(home=tmp_path, **values))

    assert address(ray_address="10.0.0.5:6379") == "http://10.0.0.5:8265"
    assert address(ray_address="ray://head.example:10001") == "http://head.example:8265"
    assert address(ray_address="auto") == "http://127.0.0.1:8265"
    assert (
        address(ray_address="10.0.0.5:6379", ray_jobs_address="http://10.0.0.6:9000/")
        == "http://10.0.0.6:9000"
    )


def test_the_ray_head_listens_on_loopback_only(ray_head: RayHead) -> None:
    family = {ray_head.process.pid} | {p.pid for p in psutil.Process(ray_head.process.pid).children(True)}
    listening = [
        c for c in psutil.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN and c.pid in family
    ]
    assert listening and all(_loopback(c.laddr.ip) for c in listening), listening


def _loopback(ip: str) -> bool:
    address = ipaddress.ip_address(ip)
    mapped = getattr(address, "ipv4_mapped", None)  # ::ffff:127.0.0.1
    return bool(address.is_loopback or (mapped is not None and mapped.is_loopback))
