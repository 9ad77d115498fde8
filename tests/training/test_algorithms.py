"""Algorithms (5.1–5.5) through the official SDK, and jobs created from them."""

from __future__ import annotations

import pytest
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkmodelarts.v1 import (
    Algorithm,
    AlgorithmCreateEngine,
    AlgorithmCreateInput,
    AlgorithmCreateOutput,
    AlgorithmJobConfig,
    AlgorithmMetadata,
    ChangeAlgorithmRequest,
    CreateAlgorithmRequest,
    DeleteAlgorithmRequest,
    JobActionType,
    JobAlgorithm,
    ListAlgorithmsRequest,
    ModelArtsClient,
    Parameters,
    ParametersConstraint,
    ResourceRequirement,
    ShowAlgorithmByUuidRequest,
    StopTrainingJobRequest,
)

from tests.conftest import LiveServer
from tests.training._jobs import (
    ASSETS,
    LOGREG,
    TICKER,
    create_job,
    hyperparameters,
    job_request,
    obs_input,
    obs_output,
    put_files,
    wait_phase,
)
from tests.training._sdk import call


def parameter(name: str, value: str, kind: str = "String", **constraint: object) -> Parameters:
    return Parameters(name=name, value=value, constraint=ParametersConstraint(type=kind, **constraint))


def logreg_algorithm(name: str, **config: object) -> Algorithm:
    values = {
        "code_dir": "/algo/logreg/",
        "boot_file": "/algo/logreg/train.py",
        "parameters": [
            parameter(
                "epochs", "200", "Integer", valid_type="Range", valid_range=["1", "1000"], required=True
            ),
            parameter("lr", "0.5", "Float", editable=True),
            parameter("mode", "fast", valid_type="Enumeration", valid_range=["fast", "slow"], editable=False),
        ],
        "inputs": [AlgorithmCreateInput(name="data_url", description="iris measurements")],
        "outputs": [AlgorithmCreateOutput(name="train_url", description="the checkpoint")],
        "engine": AlgorithmCreateEngine(engine_name="Python"),
        "parameters_customization": False,
        **config,
    }
    return Algorithm(
        metadata=AlgorithmMetadata(name=name, description="numpy logistic regression"),
        job_config=AlgorithmJobConfig(**values),
        resource_requirements=[ResourceRequirement(key="flavor_type", values=["CPU"], operator="in")],
    )


def create(client: ModelArtsClient, body: Algorithm) -> str:
    response = call(client, "create_algorithm", CreateAlgorithmRequest(body=body))
    assert response.status_code == 201
    return str(response.metadata.id)


def refused(call_it: object, status: int, code: str) -> str:
    assert callable(call_it)
    with pytest.raises(ClientRequestException) as error:
        call_it()
    assert (error.value.status_code, error.value.error_code) == (status, code), error.value.error_msg
    return str(error.value.error_msg)


def test_algorithm_lifecycle_and_listing(server: LiveServer, client: ModelArtsClient) -> None:
    put_files(server, "/algo/logreg/", {"train.py": LOGREG, "utils/helpers.py": "X = 1\n"})
    algorithm_id = create(client, logreg_algorithm("logreg"))
    shown = call(client, "show_algorithm_by_uuid", ShowAlgorithmByUuidRequest(algorithm_id=algorithm_id))
    assert shown.metadata.name == "logreg" and shown.metadata.source == "custom" and shown.metadata.is_valid
    assert shown.metadata.size == len(LOGREG) + len("X = 1\n")
    assert shown.job_config.code_tree.name == "logreg/"
    assert sorted(c.name for c in shown.job_config.code_tree.children) == ["train.py", "utils/"]
    assert [p.name for p in shown.job_config.parameters] == ["epochs", "lr", "mode"]
    assert shown.job_config.parameters[0].constraint.type == "Integer"
    assert shown.job_config.engine.engine_name == "Python" and shown.job_config.engine.engine_id.startswith(
        "python_"
    )
    assert shown.resource_requirements[0].value == ["CPU"]

    for name in ("resnet-a", "resnet-b", "bert"):
        create(client, logreg_algorithm(name))
    page = call(
        client, "list_algorithms", ListAlgorithmsRequest(limit=2, searches="name:resnet", sort_by="name")
    )
    assert (page.total, page.count, len(page.items)) == (4 + 3, 2, 2)  # and the 3 built-in algorithms
    assert [a.metadata.name for a in page.items] == ["resnet-b", "resnet-a"]
    sixth = call(
        client, "list_algorithms", ListAlgorithmsRequest(offset=5, limit=1, sort_by="name", order="asc")
    )
    assert [a.metadata.name for a in sixth.items] == ["resnet-a"]  # after bert, builtin-* and logreg

    body = logreg_algorithm("logreg-renamed", parameters_customization=True)
    body.metadata.description = "renamed"
    changed = call(client, "change_algorithm", ChangeAlgorithmRequest(algorithm_id=algorithm_id, body=body))
    assert changed.metadata.name == "logreg-renamed" and changed.job_config.parameters_customization
    assert changed.metadata.update_time >= changed.metadata.create_time
    refused(
        lambda: call(
            client, "change_algorithm", ChangeAlgorithmRequest(algorithm_id, logreg_algorithm("bert"))
        ),
        400,
        "ModelArts.2821",
    )
    assert call(client, "delete_algorithm", DeleteAlgorithmRequest(algorithm_id)).status_code == 202
    refused(
        lambda: client.show_algorithm_by_uuid(ShowAlgorithmByUuidRequest(algorithm_id)), 404, "ModelArts.2755"
    )


def test_algorithm_requests_are_validated(server: LiveServer, client: ModelArtsClient) -> None:
    put_files(server, "/algo/logreg/", {"train.py": LOGREG})
    create(client, logreg_algorithm("taken"))

    def attempt(body: Algorithm) -> object:
        return lambda: client.create_algorithm(CreateAlgorithmRequest(body=body))

    refused(attempt(logreg_algorithm("taken")), 400, "ModelArts.2821")
    refused(attempt(logreg_algorithm("x", boot_file="/algo/logreg/missing.py")), 400, "ModelArts.2758")
    refused(attempt(logreg_algorithm("x", boot_file="/algo/other/train.py")), 400, "ModelArts.2758")
    refused(attempt(logreg_algorithm("x", code_dir="/algo/nothing/")), 400, "ModelArts.2757")
    bad_default = logreg_algorithm("x", parameters=[parameter("epochs", "many", "Integer")])
    refused(attempt(bad_default), 400, "ModelArts.2768")
    out_of_range = [parameter("epochs", "0", "Integer", valid_type="Range", valid_range=["1", "10"])]
    refused(attempt(logreg_algorithm("x", parameters=out_of_range)), 400, "ModelArts.2769")
    twice = [parameter("lr", "0.1"), parameter("lr", "0.2")]
    refused(attempt(logreg_algorithm("x", parameters=twice)), 400, "ModelArts.2767")
    engine = AlgorithmCreateEngine(engine_name="PyTorch", engine_version="PyTorch-1.3.0-python3.6")
    message = refused(attempt(logreg_algorithm("x", engine=engine)), 400, "ModelArts.2780")
    assert "available engines: python_" in message


def test_jobs_from_an_algorithm_and_delete_refused_while_one_runs(
    server: LiveServer, client: ModelArtsClient
) -> None:
    put_files(server, "/algo/logreg/", {"train.py": LOGREG})
    put_files(server, "/algo/long/", {"run.py": TICKER})
    put_files(server, "/data/iris/", {"iris.csv": (ASSETS / "iris.csv").read_bytes()})
    algorithm_id = create(client, logreg_algorithm("logreg"))

    def from_algorithm(name: str, **overrides: object) -> JobAlgorithm:
        values: dict[str, object] = {
            "id": algorithm_id,
            "inputs": [obs_input("data_url", "/data/iris/")],
            "outputs": [obs_output("train_url", "/data/out/")],
            **overrides,
        }
        return JobAlgorithm(**values)

    def attempt(name: str, **overrides: object) -> object:
        return lambda: client.create_training_job(job_request(name, from_algorithm(name, **overrides)))

    refused(attempt("j", parameters=hyperparameters(epochs=5000)), 400, "ModelArts.2769")
    refused(attempt("j", parameters=hyperparameters(mode="slow")), 400, "ModelArts.2771")
    refused(attempt("j", parameters=hyperparameters(momentum=0.9)), 400, "ModelArts.2771")
    refused(attempt("j", inputs=[]), 400, "ModelArts.2753")
    refused(attempt("j", inputs=[obs_input("data_url", "/data/missing/")]), 400, "ModelArts.2791")
    refused(attempt("j", id="no-such-algorithm"), 400, "ModelArts.2755")

    job_id = create_job(
        client, job_request("from-algorithm", from_algorithm("a", parameters=hyperparameters(epochs=50)))
    )
    job = wait_phase(client, job_id)
    assert job.status.phase == "Completed"
    assert job.algorithm.id == algorithm_id and job.algorithm.name == "logreg"
    assert {p.name: p.value for p in job.algorithm.parameters} == {
        "epochs": "50",
        "lr": "0.5",
        "mode": "fast",
    }
    assert (server.storage_root / "data" / "out" / "checkpoints" / "model.npz").is_file()

    # An algorithm whose job has not finished cannot be deleted.
    long_id = create(
        client,
        Algorithm(
            metadata=AlgorithmMetadata(name="long"),
            job_config=AlgorithmJobConfig(code_dir="/algo/long/", boot_file="/algo/long/run.py"),
        ),
    )
    running_id = create_job(client, job_request("long-job", JobAlgorithm(id=long_id)))
    wait_phase(client, running_id, "Running")
    message = refused(lambda: client.delete_algorithm(DeleteAlgorithmRequest(long_id)), 400, "ModelArts.2858")
    assert "long-job" in message
    stop = StopTrainingJobRequest(training_job_id=running_id, body=JobActionType(action_type="terminate"))
    call(client, "stop_training_job", stop)
    wait_phase(client, running_id, "Terminated", timeout=15)
    assert call(client, "delete_algorithm", DeleteAlgorithmRequest(long_id)).status_code == 202
