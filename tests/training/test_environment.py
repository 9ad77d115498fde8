"""What a boot file sees: arguments, environment, installed requirements, and its flavor's limits."""

from __future__ import annotations

import io
import json
import os
import zipfile

import pytest
from huaweicloudsdkmodelarts.v1 import JobAlgorithm, ModelArtsClient, ShowTrainingJobFlavorsRequest

from tests.conftest import LiveServer
from tests.training._jobs import (
    create_job,
    hyperparameters,
    job_request,
    obs_input,
    obs_output,
    preview,
    put_files,
    wait_phase,
)
from tests.training._sdk import call

INSPECT = """
import json, os, resource, sys
import hello_mw

names = ["data_env", "MY_VAR", "MA_JOB_DIR", "MA_LOG_DIR", "WORKSPACE", "VC_WORKER_NUM", "OMP_NUM_THREADS",
         "MA_APIGW_ENDPOINT"]
print("argv=" + json.dumps(sys.argv[1:]))
print("env=" + json.dumps({k: os.environ.get(k) for k in names}))
print("modelworks=" + json.dumps([k for k in os.environ if k.startswith("MODELWORKS_")]))
print("cpus=" + str(len(os.sched_getaffinity(0))))
print("cwd=" + os.getcwd())
print("greeting=" + hello_mw.GREETING)
limit = resource.getrlimit(resource.RLIMIT_AS)[0]
print("limit=" + str(limit))
try:
    bytearray(limit + 1)
except MemoryError:
    print("allocation beyond the flavor's memory refused")
with open(os.path.join(os.environ["data_env"], "rows.txt")) as f:
    print("rows=" + str(len(f.read().split())))
"""


def tiny_wheel() -> bytes:
    """A pure-Python wheel (no dependencies), so installing it needs no package index."""
    files = {
        "hello_mw/__init__.py": "GREETING = 'hello from pip-requirements'\n",
        "hello_mw-0.1.dist-info/METADATA": "Metadata-Version: 2.1\nName: hello-mw\nVersion: 0.1\n",
        "hello_mw-0.1.dist-info/WHEEL": (
            "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    record = "".join(f"{name},,\n" for name in files) + "hello_mw-0.1.dist-info/RECORD,,\n"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in {**files, "hello_mw-0.1.dist-info/RECORD": record}.items():
            archive.writestr(name, text)
    return buffer.getvalue()


def lines(log: str, key: str) -> str:
    return next(line.split("=", 1)[1] for line in log.splitlines() if line.startswith(key + "="))


def test_boot_file_gets_arguments_environment_requirements_and_limits(
    server: LiveServer, client: ModelArtsClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODELWORKS_TEST_SECRET", "not for user code")
    put_files(
        server,
        "/ml/inspect/",
        {
            "inspect.py": INSPECT,
            "pip-requirements.txt": "./hello_mw-0.1-py3-none-any.whl\n",
            "hello_mw-0.1-py3-none-any.whl": tiny_wheel(),
        },
    )
    put_files(server, "/ml/rows/", {"rows.txt": "a\nb\nc\n"})
    algorithm = JobAlgorithm(
        code_dir="obs://ml/inspect/",
        boot_file="obs://ml/inspect/inspect.py",
        parameters=hyperparameters(batch_size=32, name="two words"),
        inputs=[obs_input("data_env", "/ml/rows/", access_method="env")],
        outputs=[obs_output("train_url", "/ml/inspect-out/")],
        environments={"MY_VAR": "42"},
    )
    job_id = create_job(client, job_request("inspect", algorithm, flavor_id="modelarts.vm.cpu.1u"))
    job = wait_phase(client, job_id, timeout=60)
    log = preview(client, job_id)
    assert job.status.phase == "Completed", log

    root = server.settings.sandbox_root / "jobs" / job_id
    assert json.loads(lines(log, "argv")) == [
        "--batch_size=32",
        "--name=two words",
        f"--train_url={root}/outputs/train_url_0/",
    ]
    env = json.loads(lines(log, "env"))
    assert env["data_env"] == f"{root}/inputs/data_env_0/" and env["MY_VAR"] == "42"
    assert env["MA_JOB_DIR"] == f"{root}/user-job-dir" and env["WORKSPACE"] == f"{root}/user-job-dir/inspect"
    assert (
        env["MA_LOG_DIR"] == f"{root}/logs" and env["VC_WORKER_NUM"] == "1" and env["OMP_NUM_THREADS"] == "1"
    )
    assert env["MA_APIGW_ENDPOINT"] == server.endpoint
    assert json.loads(lines(log, "modelworks")) == []
    assert lines(log, "cpus") == "1" and lines(log, "cwd") == f"{root}/user-job-dir/inspect"
    assert lines(log, "greeting") == "hello from pip-requirements"
    assert lines(log, "rows") == "3"
    assert "installing pip-requirements.txt" in log
    flavors = call(client, "show_training_job_flavors", ShowTrainingJobFlavorsRequest()).flavors
    one_core = next(f for f in flavors if f.flavor_id == "modelarts.vm.cpu.1u")
    assert int(lines(log, "limit")) == int(one_core.attributes["memory_bytes"])
    assert "allocation beyond the flavor's memory refused" in log
    assert job.algorithm.inputs[0].access_method == "env"
    assert [e for e in job.algorithm.environments] == [{"MY_VAR": "42"}]
    assert os.path.isdir(root / "pip" / "hello_mw")


def test_requirements_that_cannot_be_installed_are_reported_in_the_log(
    server: LiveServer, client: ModelArtsClient
) -> None:
    put_files(
        server,
        "/ml/broken/",
        {"main.py": "print('ran anyway')\n", "pip-requirements.txt": "./missing-0.1-py3-none-any.whl\n"},
    )
    algorithm = JobAlgorithm(code_dir="/ml/broken/", boot_file="/ml/broken/main.py")
    job = wait_phase(client, create_job(client, job_request("broken-reqs", algorithm)), timeout=60)
    log = preview(client, job.metadata.id)
    assert job.status.phase == "Completed", log
    assert "pip install failed" in log and "ran anyway" in log
