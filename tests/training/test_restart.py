"""Training jobs outlive a server restart: the next server adopts them, or settles how they ended."""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

from huaweicloudsdkmodelarts.v1 import JobActionType, JobAlgorithm, StopTrainingJobRequest

from modelworks.compute.processes import ProcessInfo, group_members
from modelworks.settings import Settings
from tests.conftest import run_server, wait_for
from tests.training._jobs import (
    TICKER,
    create_job,
    details,
    job_request,
    obs_output,
    preview,
    put_files,
    wait_log,
    wait_phase,
)
from tests.training._sdk import build_client, call

# Sleeps, then writes a result: long enough to still run when its server stops.
SLOW_FINISH = """
import argparse, os, time
parser = argparse.ArgumentParser()
parser.add_argument("--train_url")
args, unknown = parser.parse_known_args()
print("working", flush=True)
time.sleep(2)
open(os.path.join(args.train_url, "result.txt"), "w").write("finished while the server was down")
print("finished", flush=True)
"""


def process_of(home: Path, job_id: str) -> ProcessInfo:
    return ProcessInfo.from_json(
        (Settings(home=home).sandbox_root / "jobs" / job_id / "process.json").read_text()
    )


def last_tick(log: str) -> int:
    return max(int(n) for n in re.findall(r"tick (\d+)", log))


def test_a_restarted_server_adopts_a_running_job(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with run_server(home) as first:
        client = build_client(first)
        put_files(first, "/ml/long/", {"run.py": TICKER})
        algorithm = JobAlgorithm(code_dir="/ml/long/", boot_file="/ml/long/run.py")
        job_id = create_job(client, job_request("survivor", algorithm))
        wait_phase(client, job_id, "Running")
        wait_log(client, job_id, "tick 2")
    info = process_of(home, job_id)
    assert group_members(info.pgid), "the job's processes stop with their server"

    with run_server(home) as second:
        client = build_client(second)
        log = wait_log(client, job_id, "re-adopts the running task")
        assert "the worker is stopping; the task keeps running" in log
        assert details(client, job_id).status.phase == "Running"
        before = last_tick(log)
        wait_for(lambda: last_tick(preview(client, job_id)) > before + 2, timeout=10)
        stop = StopTrainingJobRequest(training_job_id=job_id, body=JobActionType(action_type="terminate"))
        call(client, "stop_training_job", stop)
        job = wait_phase(client, job_id, "Terminated", timeout=15)
        assert job.status.task_statuses[0].message == "terminated by request"
    assert group_members(info.pgid) == []


def test_jobs_that_ended_while_no_server_ran_are_settled(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with run_server(home) as first:
        client = build_client(first)
        put_files(first, "/ml/slow/", {"slow.py": SLOW_FINISH})
        algorithm = JobAlgorithm(
            code_dir="/ml/slow/", boot_file="/ml/slow/slow.py", outputs=[obs_output("train_url", "/ml/out/")]
        )
        finished_id = create_job(client, job_request("finishes-alone", algorithm))
        wait_log(client, finished_id, "working")
    exit_file = Settings(home=home).sandbox_root / "jobs" / finished_id / "exit_code"
    wait_for(exit_file.is_file, timeout=10)

    with run_server(home) as second:
        client = build_client(second)
        job = wait_phase(client, finished_id, timeout=15)
        assert job.status.phase == "Completed" and job.status.task_statuses[0].exit_code == 0
        result = second.storage_root / "ml" / "out" / "result.txt"
        assert result.read_text() == "finished while the server was down"

        put_files(second, "/ml/long/", {"run.py": TICKER})
        algorithm = JobAlgorithm(code_dir="/ml/long/", boot_file="/ml/long/run.py")
        lost_id = create_job(client, job_request("killed-alone", algorithm))
        wait_log(client, lost_id, "tick 1")
    info = process_of(home, lost_id)
    os.killpg(info.pgid, signal.SIGKILL)  # killed with its launcher: no exit status is written
    deadline = time.monotonic() + 10
    while group_members(info.pgid) and time.monotonic() < deadline:
        time.sleep(0.05)

    with run_server(home) as third:
        client = build_client(third)
        job = wait_phase(client, lost_id, timeout=15)
        assert (job.status.phase, job.status.secondary_phase) == ("Failed", "Lost")
        assert "ended while no worker watched it" in job.status.task_statuses[0].message
