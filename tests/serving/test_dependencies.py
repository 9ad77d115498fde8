"""Services of models with pip dependencies the server lacks: their instances run with the model's own
environment, which a host that has none (the cache deleted, as on a second host) builds again."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelworks.models.environments import ENVIRONMENTS_DIR
from tests._client import SignedClient
from tests.conftest import LiveServer, run_server
from tests.models._packages import create, put_package, wait_published
from tests.models._wheels import TRIPLE_SOURCE, dependency, offline_pip, pip_dependencies, write_wheel
from tests.serving._packages import SERVICES, deploy, model_config, realtime_body, wait_status

SERVICE = """
import mwtriple
from model_service.model_service import SingleNodeService


class TripleService(SingleNodeService):
    def _inference(self, data):
        return {"tripled": [mwtriple.triple(x) for x in data["numbers"]], "mark": mwtriple.MARK}
"""
CONFIG = {
    "model_algorithm": "predict_analysis",
    "model_type": "Custom",
    "dependencies": pip_dependencies(dependency("mwtriple", "1.0", "EXACT")),
}


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    found = tmp_path_factory.mktemp("wheels")
    write_wheel(found, "mwtriple", "1.0", TRIPLE_SOURCE)
    return found


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, wheels: Path) -> Iterator[LiveServer]:
    with offline_pip(wheels), run_server(tmp_path_factory.mktemp("dependencies") / "home") as live:
        yield live


@pytest.fixture(scope="module")
def client(server: LiveServer) -> SignedClient:
    return server.signed()


@pytest.fixture(scope="module")
def triple(server: LiveServer, client: SignedClient) -> str:
    put_package(server, "/ml/triple/", CONFIG, SERVICE)
    model_id = create(client, model_name="triple", model_version="1.0.0", source_location="/ml/triple/")
    wait_published(client, model_id)
    return model_id


def test_instances_answer_with_the_models_dependency_built_again_where_missing(
    server: LiveServer, client: SignedClient, triple: str
) -> None:
    # As on a host where the model was not published: the instances build the environment, one
    # waiting for the other.
    shutil.rmtree(server.settings.sandbox_root / ENVIRONMENTS_DIR)
    service_id = deploy(client, realtime_body("triple", model_config(triple, instances=2)))
    wait_status(client, service_id, "running", timeout=120)
    response = client.post(f"/v1/infers/{service_id}", {"numbers": [1, 2.5, -4]})
    assert response.status_code == 200, response.text
    assert response.json() == {"tripled": [3, 7.5, -12], "mark": "mw-triple"}
    logs = (server.settings.sandbox_root / "services" / service_id / "instances").glob("*/instance.log")
    notes = [line for log in logs for line in log.read_text().splitlines() if "installing mwtriple" in line]
    assert len(notes) == 1, notes
    assert client.delete(f"{SERVICES}/{service_id}").status_code == 200


def test_an_instance_whose_dependencies_cannot_be_installed_fails_the_service(
    server: LiveServer, client: SignedClient, triple: str, tmp_path: Path
) -> None:
    shutil.rmtree(server.settings.sandbox_root / ENVIRONMENTS_DIR, ignore_errors=True)
    (tmp_path / "wheels").mkdir()
    with offline_pip(tmp_path / "wheels"):  # this host's mirror lacks the package
        service_id = deploy(client, realtime_body("triple-nowhere", model_config(triple)))
        service = wait_status(client, service_id, "failed")
    message = service["error_msg"]
    assert "on this host, dependencies mwtriple==1.0 could not be installed (pip exit code 1)" in message
    assert "No matching distribution found for mwtriple==1.0" in message, message
    assert client.delete(f"{SERVICES}/{service_id}").status_code == 200
