"""Flavors (5.15) and engines (5.16) describe this machine, and what is left out answers clearly."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import platform
import sys
from typing import Any

import pytest
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException, ServerResponseException
from huaweicloudsdkmodelarts.v1 import (
    InputDataInfo,
    InputDataInfoDataset,
    JobAlgorithm,
    JobEngine,
    ModelArtsClient,
    ShowTrainingJobEnginesRequest,
    ShowTrainingJobFlavorsRequest,
)

from tests.conftest import LiveServer
from tests.training._jobs import QUICK, job_request, obs_input, put_files
from tests.training._sdk import call

GIB = 1024**3


def test_flavors_are_cut_from_this_machine(client: ModelArtsClient) -> None:
    cpus = len(os.sched_getaffinity(0))
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    flavors = call(client, "show_training_job_flavors", ShowTrainingJobFlavorsRequest()).flavors
    cores = [f.flavor_info.cpu.core_num for f in flavors]
    assert cores[-1] == cpus and cores == sorted(set(cores)) and cores[0] == 1
    largest = flavors[-1]
    assert largest.flavor_id == f"modelarts.vm.cpu.{cpus}u" and largest.flavor_type == "CPU"
    assert largest.flavor_name == f"Computing CPU({cpus}U) instance"
    assert largest.flavor_info.memory.size == memory // GIB and largest.flavor_info.memory.unit == "GB"
    assert largest.flavor_info.max_num == 1 and largest.billing.code == largest.flavor_id
    arch = largest.flavor_info.cpu.arch
    assert arch == ("x86" if platform.machine() in ("x86_64", "AMD64") else "arm")
    assert any(e.startswith("python_") for e in json.loads(largest.support_engines))
    gpus = call(client, "show_training_job_flavors", ShowTrainingJobFlavorsRequest(flavor_type="GPU"))
    assert (gpus.total_count, gpus.flavors) == (0, [])


def test_engines_are_the_installed_runtimes(client: ModelArtsClient) -> None:
    engines = call(client, "show_training_job_engines", ShowTrainingJobEnginesRequest())
    by_name = {e.engine_name: e for e in engines.items}
    assert engines.total == len(engines.items)
    python = by_name["Python"]
    assert python.engine_id.startswith(f"python_{platform.python_version()}-")
    assert python.image_info.cpu_image_url == f"local:{sys.executable}"
    assert python.engine_version == python.engine_id and python.v1_compatible is False
    assert ("PyTorch" in by_name) == (importlib.util.find_spec("torch") is not None)
    assert ("Scikit_Learn" in by_name) == (importlib.util.find_spec("sklearn") is not None)
    if "PyTorch" in by_name:
        torch_version = importlib.metadata.version("torch").split("+")[0]
        assert by_name["PyTorch"].engine_id.startswith(f"pytorch_{torch_version}-")


def test_what_is_left_out_answers_a_clear_error(server: LiveServer, client: ModelArtsClient) -> None:
    put_files(server, "/ml/quick/", {"ok.py": QUICK})
    base = {"code_dir": "/ml/quick/", "boot_file": "/ml/quick/ok.py"}

    def attempt(algorithm: JobAlgorithm, **options: Any) -> tuple[int, str, str]:
        request = job_request("left-out", algorithm, **options)
        with pytest.raises((ClientRequestException, ServerResponseException)) as error:
            client.create_training_job(request)
        return error.value.status_code, error.value.error_code, error.value.error_msg

    status, code, message = attempt(JobAlgorithm(**base), node_count=2)
    assert (status, code) == (501, "ModelArts.0101") and "Ray executor" in message
    dataset = obs_input("data_url", "/ml/quick/")
    dataset.remote = InputDataInfo(dataset=InputDataInfoDataset(id="d", version_id="v"))
    status, code, message = attempt(JobAlgorithm(**base, inputs=[dataset]))
    assert (status, code) == (404, "ModelArts.4352")  # dataset inputs work (test_builtin); "d" is unknown
    status, code, message = attempt(
        JobAlgorithm(engine=JobEngine(image_url="swr/me/img:1"), command="sh run.sh")
    )
    assert status == 501 and "custom images" in message
    status, code, message = attempt(JobAlgorithm(subscription_id="s", item_version_id="v"))
    assert status == 501 and "built-in algorithms" in message
    status, code, message = attempt(JobAlgorithm(**base), flavor_id="modelarts.p3.large.public")
    assert (status, code) == (400, "ModelArts.2781") and "modelarts.vm.cpu.1u" in message
