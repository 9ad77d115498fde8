"""User code runs without the server's secrets (``compute.sandbox``; issue 11, findings 1 and 4).

A training job and a model server try to read the database, ``credentials.json``, the secrets key, a
file the test plants in the server's home, another project's job workspace and storage folder and
the server's environment, and the job leaves links out of its directory in its outputs. Everything
fails, nothing outside comes back in the upload, and each project's code runs as a uid of its own.
Without a sandbox (mode ``none``) the server says so and runs one project's code only.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkmodelarts.v1 import JobAlgorithm, ModelArtsClient

from modelworks.compute.sandbox import NONE, UID, Sandbox, SharedUserCodeRefused
from modelworks.db import Database
from modelworks.settings import Settings
from modelworks.storage import create_store
from modelworks.storage.ownership import assign_bucket
from tests._client import SignedClient
from tests.conftest import LiveServer
from tests.models._packages import create, put_package, wait_published
from tests.serving._packages import deploy, model_config, realtime_body, wait_status
from tests.serving.conftest import kill_instances
from tests.training._jobs import create_job, job_request, obs_output, preview, put_files, wait_phase
from tests.training._sdk import build_client, sdk_of

PLANTED = "planted-secret-5f1c0e"
OUTSIDE = "outside-content-93ab7d"

TRY_EVERYTHING = """
import json, os

def attempts(targets):
    for name, path in sorted(targets["read"].items()):
        try:
            with open(path, "rb") as f:
                data = f.read()
            yield f"{name}: read {len(data)} bytes {data[:200]!r}"
        except OSError as exc:
            yield f"{name}: {type(exc).__name__}"
    for name, path in sorted(targets["list"].items()):
        try:
            yield f"{name}: listed {os.listdir(path)}"
        except OSError as exc:
            yield f"{name}: {type(exc).__name__}"
"""

JOB = (
    TRY_EVERYTHING
    + """
import argparse
parser = argparse.ArgumentParser()
parser.add_argument("--train_url")
args, _ = parser.parse_known_args()
here = os.path.dirname(os.path.abspath(__file__))
targets = json.load(open(os.path.join(here, "targets.json")))
print(f"uid={os.getuid()}", flush=True)
for line in attempts(targets):
    print(line, flush=True)
with open(os.path.join(args.train_url, "ok.txt"), "w") as f:
    f.write("made inside the job")
for name, path in sorted(targets["link"].items()):
    os.symlink(path, os.path.join(args.train_url, name))
"""
)

SECOND_PROJECT_JOB = """
import argparse, os
parser = argparse.ArgumentParser()
parser.add_argument("--train_url")
args, _ = parser.parse_known_args()
print(f"uid={os.getuid()}", flush=True)
with open(os.path.join(args.train_url, "result.txt"), "w") as f:
    f.write("project two's result")
"""

PROBING_SERVICE = (
    TRY_EVERYTHING
    + """
from model_service.model_service import SingleNodeService


class ProbingService(SingleNodeService):
    def _inference(self, data):
        here = os.path.dirname(os.path.abspath(__file__))
        targets = json.load(open(os.path.join(here, "targets.json")))
        return {"uid": os.getuid(), "attempts": list(attempts(targets))}
"""
)


@dataclass
class Project:
    project_id: str
    ak: str
    sk: str
    client: ModelArtsClient
    signed: SignedClient


def second_project(server: LiveServer) -> Project:
    signed = server.new_project("second-account", "bob", "second")
    c = signed.credentials
    return Project(signed.project_id, c.ak, c.sk, sdk_of(signed), signed)


def first_project(server: LiveServer) -> Project:
    c = server.credentials
    return Project(c["project_id"], c["ak"], c["sk"], build_client(server), server.signed())


def own_bucket(server: LiveServer, project_id: str, bucket: str) -> None:
    """The operator gives ``bucket`` to the project (``storage.ownership``)."""
    db = Database(server.settings.database_url)
    with db.session() as session:
        assign_bucket(session, create_store(server.settings), project_id, bucket)
    db.dispose()


def run_job(server: LiveServer, project: Project, bucket: str, name: str, code: str) -> tuple[str, str]:
    """Run ``code`` as a training job of ``project``; (job id, its log)."""
    client = project.client
    own_bucket(server, project.project_id, bucket)
    put_files(server, f"/{bucket}/code/", {"train.py": code})
    algorithm = JobAlgorithm(
        code_dir=f"/{bucket}/code/",
        boot_file=f"/{bucket}/code/train.py",
        outputs=[obs_output("train_url", f"/{bucket}/out/")],
    )
    job_id = create_job(client, job_request(name, algorithm))
    job = wait_phase(client, job_id, timeout=120)
    log = preview(client, job_id)
    assert job.status.phase == "Completed", log
    return job_id, log


def uid_of(log: str) -> int:
    match = re.search(r"^uid=(\d+)$", log, re.MULTILINE)
    assert match, log
    return int(match.group(1))


def targets(
    server: LiveServer, tmp_path: Path, other_job: str, other_bucket: str
) -> dict[str, dict[str, str]]:
    """What user code must not get: the server's secrets, another project's files, links out."""
    home, sandbox = server.home, server.settings.sandbox_root
    planted = home / "planted.txt"
    planted.write_text(PLANTED)
    planted.chmod(0o644)  # readable by anyone who can reach it: the home's 0700 is what keeps it
    outside = tmp_path / "outside.txt"
    outside.write_text(OUTSIDE)
    outside.chmod(0o644)  # even a file the job could read is not uploaded through a link
    other_outputs = sandbox / "jobs" / other_job / "outputs"
    return {
        "read": {
            "database": str(home / "modelworks.db"),
            "credentials": str(home / "credentials.json"),
            "secrets_key": str(home / "secrets.key"),
            "planted": str(planted),
            "other_workspace": str(other_outputs / "train_url_0" / "result.txt"),
            "other_storage": str(home / "storage" / other_bucket / "code" / "train.py"),
            "server_environ": f"/proc/{os.getpid()}/environ",
        },
        "list": {"other_outputs": str(other_outputs), "jobs": str(sandbox / "jobs")},
        "link": {
            "database-link": str(home / "modelworks.db"),
            "credentials-link": str(home / "credentials.json"),
            "outside-link": str(outside),
            "home-link": str(home),
        },
    }


def assert_nothing_read(lines: list[str], names: list[str]) -> None:
    for name in names:
        found = [line for line in lines if line.startswith(f"{name}: ")]
        assert found, (name, lines)
        assert found[0] in (f"{name}: PermissionError", f"{name}: FileNotFoundError"), found[0]


@pytest.fixture
def projects(server: LiveServer) -> tuple[Project, Project]:
    return first_project(server), second_project(server)


def test_training_job_reads_no_secret_and_uploads_nothing_from_outside(
    server: LiveServer, projects: tuple[Project, Project], tmp_path: Path
) -> None:
    health = httpx.get(f"{server.endpoint}/health").json()
    assert health["sandbox"]["mode"] == "uid", health
    first, second = projects
    other_job, other_log = run_job(server, second, "second-bucket", "second-job", SECOND_PROJECT_JOB)
    code: dict[str, str | bytes] = {
        "targets.json": json.dumps(targets(server, tmp_path, other_job, "second-bucket"))
    }
    put_files(server, "/first-bucket/code/", code)

    job_id, log = run_job(server, first, "first-bucket", "prying-job", JOB)

    uid, other_uid = uid_of(log), uid_of(other_log)
    assert uid != 0 and other_uid != 0 and uid != other_uid
    lines = log.splitlines()
    reads = ["database", "credentials", "secrets_key", "planted", "other_workspace", "other_storage"]
    assert_nothing_read(lines, [*reads, "server_environ", "other_outputs", "jobs"])
    for secret in (first.sk, second.sk, PLANTED, OUTSIDE, "project two's result"):
        assert secret not in log
    uploaded = server.storage_root / "first-bucket" / "out"
    assert sorted(p.name for p in uploaded.iterdir()) == ["ok.txt"]
    assert (uploaded / "ok.txt").read_text() == "made inside the job"
    for link in ("database-link", "credentials-link", "outside-link", "home-link"):
        assert f"output {link} was not uploaded: a link (not followed)" in log


@pytest.fixture
def no_model_server_left(tmp_path: Path) -> Iterator[None]:
    """Model servers outlive their API server (it re-adopts them on restart): kill this test's."""
    yield
    kill_instances(tmp_path)


@pytest.mark.usefixtures("no_model_server_left")
def test_model_server_reads_no_secret(
    server: LiveServer, projects: tuple[Project, Project], tmp_path: Path
) -> None:
    first, second = projects
    other_job, other_log = run_job(server, second, "second-bucket", "second-job", SECOND_PROJECT_JOB)
    config = {"model_algorithm": "predict_analysis", "model_type": "Custom"}
    files = {"targets.json": json.dumps(targets(server, tmp_path, other_job, "second-bucket")).encode()}
    own_bucket(server, first.project_id, "first-bucket")
    put_package(server, "/first-bucket/probing/", config, PROBING_SERVICE, files)
    model_id = create(
        first.signed, model_name="probing", model_version="1.0.0", source_location="/first-bucket/probing/"
    )
    wait_published(first.signed, model_id)
    service_id = deploy(first.signed, realtime_body("probing", model_config(model_id)))
    wait_status(first.signed, service_id, "running")

    answer = first.signed.post(f"/v1/infers/{service_id}", {"hello": "world"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["uid"] not in (0, uid_of(other_log))
    reads = ["database", "credentials", "secrets_key", "planted", "other_workspace", "other_storage"]
    assert_nothing_read(body["attempts"], [*reads, "server_environ", "other_outputs", "jobs"])
    for secret in (first.sk, second.sk, PLANTED, "project two's result"):
        assert secret not in answer.text


def test_without_a_sandbox_only_one_projects_code_runs(server_factory: Callable[..., LiveServer]) -> None:
    server = server_factory(sandbox_mode="none")
    health = httpx.get(f"{server.endpoint}/health").json()
    assert health["sandbox"]["mode"] == "none" and health["sandbox"]["reason"], health
    first, second = first_project(server), second_project(server)
    run_job(server, first, "first-bucket", "first-job", "print('hello')\n")

    own_bucket(server, second.project_id, "second-bucket")
    put_files(server, "/second-bucket/code/", {"train.py": "print('hello')\n"})
    algorithm = JobAlgorithm(code_dir="/second-bucket/code/", boot_file="/second-bucket/code/train.py")
    with pytest.raises(ClientRequestException) as refused:
        create_job(second.client, job_request("second-job", algorithm))
    assert (refused.value.status_code, refused.value.error_code) == (403, "ModelArts.0210")
    assert "MODELWORKS_ALLOW_SHARED_USER_CODE" in refused.value.error_msg
    service = second.signed.post("/v1/{project_id}/services", realtime_body("second", model_config("m" * 36)))
    assert service.status_code == 403, service.text

    shared = server_factory(sandbox_mode="none", allow_shared_user_code=True)
    assert httpx.get(f"{shared.endpoint}/health").json()["sandbox"]["shared_user_code_allowed"] is True
    first, second = first_project(shared), second_project(shared)
    run_job(shared, first, "first-bucket", "first-job", "print('hello')\n")
    run_job(shared, second, "second-bucket", "second-job", "print('hello')\n")


def test_projects_keep_their_uids_and_never_share_one(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", sandbox_dir=str(tmp_path / "sandbox"), sandbox_uid_base=65533)
    first = Sandbox(settings, UID, "test")
    a, b = first.identity("project-a"), first.identity("project-b")
    assert a is not None and b is not None
    assert a.uid != 65534 and b.uid != 65534  # nobody's uid (in /etc/passwd) is skipped
    assert a.uid != b.uid and a.uid > 65533 and b.uid > 65533
    again = Sandbox(settings, UID, "another process on the host")
    assert again.identity("project-b") == b and again.identity("project-a") == a
    assert oct((tmp_path / "sandbox").stat().st_mode & 0o777) == "0o711"
    assert oct((tmp_path / "sandbox" / "identities.json").stat().st_mode & 0o777) == "0o600"


def test_without_a_sandbox_the_first_project_claims_the_host(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", sandbox_dir=str(tmp_path / "sandbox"))
    sandbox = Sandbox(settings, NONE, "not root")
    assert sandbox.identity("project-a") is None
    sandbox.claim("project-a")
    with pytest.raises(SharedUserCodeRefused, match="MODELWORKS_ALLOW_SHARED_USER_CODE"):
        Sandbox(settings, NONE, "not root").identity("project-b")
    shared = settings.model_copy(update={"allow_shared_user_code": True})
    assert Sandbox(shared, NONE, "not root").identity("project-b") is None
