"""Issue 11, findings 2, 3 and 7, replayed over HTTP by an ordinary user of a second project in a
second domain: every bucket belongs to a project; another project's bucket, unless shared, and the
system bucket are refused with 403 when the request arrives, and nothing is read, written or deleted.

Project A is the server's first project (domain ``modelworks``); project B belongs to a user of the
domain ``acme``. A owns bucket ``bkt2`` with a private image and a dataset on it.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkmodelarts.v1 import (
    JobAlgorithm,
)

from modelworks.db import Database
from modelworks.storage import S3ObjectStore, parse_obs_path
from tests._client import SignedClient
from tests.conftest import LiveServer, S3Endpoint, run_server, wait_for
from tests.data._assets import image_bytes
from tests.training._jobs import QUICK, job_request, obs_input, obs_output, put_files
from tests.training._sdk import sdk_of

DS = "/v2/{project_id}/datasets"
BUCKETS = "/v2/{project_id}/buckets"
SECRET = image_bytes(16, 16, seed=7, fmt="PNG")


@dataclass
class World:
    server: LiveServer
    a: SignedClient
    b: SignedClient
    a_dataset: str
    b_dataset: str

    @property
    def bkt2(self) -> Path:
        return self.server.storage_root / "bkt2"

    def files(self, bucket: str) -> dict[str, bytes]:
        root = self.server.storage_root / bucket
        return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _dataset(client: SignedClient, name: str, data: str, work: str) -> str:
    response = client.post(
        DS,
        {"dataset_name": name, "dataset_type": 0, "data_sources": [{"data_path": data}], "work_path": work},
    )
    assert response.status_code == 201, response.text
    dataset_id = str(response.json()["dataset_id"])
    wait_for(lambda: client.get(f"{DS}/{dataset_id}").json()["status"] == 1)
    return dataset_id


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with run_server(tmp_path_factory.mktemp("ownership") / "home") as server:
        a = server.signed()
        b = server.new_project("acme", "mallory", "acme-b")
        # A creates its bucket through the API (two projects exist, the bucket does not yet).
        created = a.post(BUCKETS, {"bucket_name": "bkt2"})
        assert created.status_code == 201, created.text
        assert created.json()["owner_project_id"] == a.project_id
        (server.storage_root / "bkt2" / "private").mkdir(parents=True)
        (server.storage_root / "bkt2" / "private" / "secret.png").write_bytes(SECRET)
        a_dataset = _dataset(a, "a-data", "/bkt2/private/", "/bkt2/work/")
        # B's own bucket: it does not exist yet, so naming it makes it B's.
        b_dataset = _dataset(b, "b-data", "/bkt-b/in/", "/bkt-b/work/")
        yield World(server, a, b, a_dataset, b_dataset)


def _refused(response: Any, field: str, status: int = 403) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) >= {"error_code", "error_msg"}
    if status == 403:
        assert body["error_code"] == "ModelArts.0210"
    assert body["error_msg"].startswith(f"{field}: "), body
    return dict(body)


def test_buckets_list_their_owner(world: World) -> None:
    mine = world.a.get(BUCKETS).json()
    assert [(b["bucket_name"], b["access"]) for b in mine["buckets"]] == [("bkt2", "owner")]
    theirs = world.b.get(BUCKETS).json()
    assert [(b["bucket_name"], b["access"]) for b in theirs["buckets"]] == [("bkt-b", "owner")]
    # Creating it again is idempotent for the owner and a conflict for anyone else.
    assert world.a.post(BUCKETS, {"bucket_name": "bkt2"}).status_code == 200
    taken = world.b.post(BUCKETS, {"bucket_name": "bkt2"})
    assert taken.status_code == 409 and taken.json()["error_msg"] == "bucket bkt2 belongs to another project"
    system = world.b.post(BUCKETS, {"bucket_name": "modelworks-system"})
    assert system.status_code == 403


def test_another_projects_file_cannot_become_a_sample(world: World) -> None:
    before = world.b.get(f"{DS}/{world.b_dataset}/data-annotations/samples").json()["sample_count"]
    response = world.b.post(
        f"{DS}/{world.b_dataset}/data-annotations/samples",
        {"samples": [{"name": "x.png", "data_source": {"data_path": "/bkt2/private/secret.png"}}]},
    )
    _refused(response, "samples[0].data_source.data_path")
    assert world.b.get(f"{DS}/{world.b_dataset}/data-annotations/samples").json()["sample_count"] == before


def test_another_projects_bucket_cannot_be_imported_or_a_dataset_made_on_it(world: World) -> None:
    response = world.b.post(
        f"{DS}/{world.b_dataset}/import-tasks", {"import_path": "/bkt2/private/", "import_type": "dir"}
    )
    _refused(response, "import_path")
    assert world.b.get(f"{DS}/{world.b_dataset}/import-tasks").json()["total_count"] == 1  # its own
    # (The official SDK has no dataset operations: signed JSON as it would send it.)
    raw = world.b.post(
        DS,
        {"dataset_name": "steal", "data_sources": [{"data_path": "/bkt2/private/"}], "work_path": "/bkt2/s/"},
    )
    _refused(raw, "work_path")
    assert [d["dataset_name"] for d in world.b.get(DS).json()["datasets"]] == ["b-data"]


def test_exports_cannot_write_into_another_projects_bucket_or_the_system_bucket(world: World) -> None:
    before = world.files("bkt2")
    exports = f"{DS}/{world.b_dataset}/export-tasks"
    for path in ("/bkt2/out/", "/modelworks-system/models/"):
        _refused(world.b.post(exports, {"path": path, "export_type": 3}), "path")
    response = world.b.post(
        exports,
        {
            "path": "/bkt-b/new/",
            "export_type": 3,
            "export_new_dataset_name": "copy",
            "export_dest": "NEW_DATASET",
            "export_params": {
                "export_dest": "NEW_DATASET",
                "export_new_dataset_name": "copy",
                "export_new_dataset_work_path": "/bkt2/copy-work/",
            },
        },
    )
    _refused(response, "export_params.export_new_dataset_work_path")
    assert world.b.get(exports).json()["total_count"] == 0
    assert world.files("bkt2") == before


def test_a_samples_file_in_another_projects_bucket_is_not_deleted_with_it(world: World) -> None:
    """A sample of B pointing at A's file (as an older installation let B add it) is not deleted with
    ``delete_source``: the request is refused whole, and the sample and the file stay."""
    loose = world.bkt2 / "loose" / "other.png"
    loose.parent.mkdir(parents=True, exist_ok=True)
    loose.write_bytes(SECRET)
    db = Database(world.server.settings.database_url)
    with db.session() as session:
        from modelworks.data.tables import Sample

        session.add(
            Sample(
                id="legacysample0000000000000000000000",
                dataset_id=world.b_dataset,
                name="other.png",
                source="/bkt2/loose/other.png",
                sample_type=0,
                size=len(SECRET),
            )
        )
    db.dispose()
    response = world.b.post(
        f"{DS}/{world.b_dataset}/data-annotations/samples/delete",
        {"samples": ["legacysample0000000000000000000000"], "delete_source": True},
    )
    _refused(response, "delete_source")
    assert loose.read_bytes() == SECRET
    sample = f"{DS}/{world.b_dataset}/data-annotations/samples/legacysample0000000000000000000000"
    assert world.b.get(sample).status_code == 200
    # Nor is its content served to B.
    content = world.b.get(f"{sample}/content")
    assert content.status_code == 403 and SECRET not in content.content


def test_intelligent_task_outputs_are_checked_when_the_task_is_created(world: World) -> None:
    tasks = f"{DS}/{world.a_dataset}/tasks"
    for value, status in (
        ("/../etc/passwd", 400),
        ("/bkt-b/out/", 403),  # B's bucket, seen from A
        ("/modelworks-system/x/", 403),
    ):
        for key in ("annotation_output", "key_sample_output"):
            body = {"task_type": "auto-label", "collect_key_sample": True, "config": {key: value}}
            _refused(world.a.post(tasks, body), f"config.{key}", status)
    assert world.a.get(tasks).json()["total_count"] == 0


def test_training_jobs_cannot_read_or_write_another_projects_bucket_or_the_system_bucket(
    world: World,
) -> None:
    put_files(world.server, "/bkt-b/code/", {"train.py": QUICK})
    sdk = sdk_of(world.b)
    cases = [
        ([obs_input("data_url", "/bkt2/private/")], [], "algorithm.inputs[0].remote.obs.obs_url"),
        ([], [obs_output("train_url", "/bkt2/model/")], "algorithm.outputs[0].remote.obs.obs_url"),
        ([obs_input("data_url", "/modelworks-system/")], [], "algorithm.inputs[0].remote.obs.obs_url"),
        (
            [],
            [obs_output("train_url", "/modelworks-system/models/")],
            "algorithm.outputs[0].remote.obs.obs_url",
        ),
    ]
    for inputs, outputs, field in cases:
        algorithm = JobAlgorithm(
            code_dir="/bkt-b/code/", boot_file="/bkt-b/code/train.py", inputs=inputs, outputs=outputs
        )
        with pytest.raises(ClientRequestException) as caught:
            sdk.create_training_job(job_request("steal", algorithm))
        assert caught.value.status_code == 403, caught.value
        assert caught.value.error_msg.startswith(f"{field}: ")
    # Code from A's bucket is refused too.
    algorithm = JobAlgorithm(code_dir="/bkt2/private/", boot_file="/bkt2/private/train.py")
    with pytest.raises(ClientRequestException) as caught:
        sdk.create_training_job(job_request("steal", algorithm))
    assert caught.value.status_code == 403
    assert caught.value.error_msg.startswith("algorithm.code_dir: ")


def test_models_cannot_be_made_from_another_projects_bucket_or_the_system_bucket(world: World) -> None:
    models = "/v1/{project_id}/models"
    for location in ("/bkt2/private/", "/modelworks-system/models/"):
        body = {"model_name": "steal", "model_version": "1.0.0", "source_location": location}
        _refused(world.b.post(models, body), "source_location")
    assert world.b.get(models).json()["total_count"] == 0


def test_a_shared_bucket_is_read_then_written_as_shared_and_not_after(world: World) -> None:
    a, b = world.a, world.b
    share = f"{BUCKETS}/bkt2/shares/{b.project_id}"
    assert a.put(share, {"access": "read"}).status_code == 200
    assert b.get(BUCKETS).json()["buckets"][1] == {
        "bucket_name": "bkt2",
        "owner_project_id": a.project_id,
        "access": "read",
        "create_time": b.get(BUCKETS).json()["buckets"][1]["create_time"],
    }
    # Read-only: B may build a dataset on A's data, but not export into A's bucket.
    shared = _dataset(b, "on-shared", "/bkt2/private/", "/bkt-b/shared-work/")
    samples = b.get(f"{DS}/{shared}/data-annotations/samples").json()["samples"]
    assert [s["source"].split("?")[0].rsplit("/", 1)[-1] for s in samples] != []
    _refused(b.post(f"{DS}/{shared}/export-tasks", {"path": "/bkt2/b-out/", "export_type": 3}), "path")
    # Read-write: now it may.
    assert a.put(share, {"access": "read-write"}).status_code == 200
    export = b.post(f"{DS}/{shared}/export-tasks", {"path": "/bkt2/b-out/", "export_type": 3})
    assert export.status_code == 200, export.text
    task_id = export.json()["task_id"]
    wait_for(
        lambda: b.get(f"{DS}/{shared}/export-tasks/{task_id}").json()["status"] in ("SUCCESSED", "FAILED")
    )
    assert b.get(f"{DS}/{shared}/export-tasks/{task_id}").json()["status"] == "SUCCESSED"
    assert any(name.startswith("b-out/") for name in world.files("bkt2"))
    # Unshared: B reaches nothing of bkt2 again, at once.
    assert a.delete(share).status_code == 204
    sample_id = samples[0]["sample_id"]
    content = b.get(f"{DS}/{shared}/data-annotations/samples/{sample_id}/content")
    assert content.status_code == 403 and SECRET not in content.content
    _refused(b.post(f"{DS}/{shared}/export-tasks", {"path": "/bkt2/b-out2/", "export_type": 3}), "path")


def test_an_existing_bucket_nobody_owns_waits_for_an_operator(world: World) -> None:
    legacy = world.server.storage_root / "legacy" / "imgs"
    legacy.mkdir(parents=True)
    (legacy / "one.png").write_bytes(SECRET)
    body = {
        "dataset_name": "legacy",
        "data_sources": [{"data_path": "/legacy/imgs/"}],
        "work_path": "/bkt-b/l/",
    }
    message = _refused(world.b.post(DS, body), "data_sources[0].data_path")["error_msg"]
    assert "modelworks admin create-bucket legacy" in message
    _refused(world.b.post(BUCKETS, {"bucket_name": "legacy"}), "bucket_name")
    # The operator hands it to B with the admin CLI.
    cli = [sys.executable, "-m", "modelworks.cli.main", "admin"]
    env = {**os.environ, "MODELWORKS_HOME": str(world.server.home)}
    out = subprocess.run(
        [*cli, "create-bucket", "legacy", "--project", world.b.project_id],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(out.stdout)["owner_project_id"] == world.b.project_id
    created = world.b.post(DS, body)
    assert created.status_code == 201, created.text


def test_buckets_of_existing_datasets_go_to_their_project_on_upgrade(tmp_path: Path) -> None:
    """Migration 0008 on a database of the previous version: bkt belongs to the project of its oldest
    dataset."""
    from alembic import command
    from alembic.config import Config

    from modelworks.db.engine import _MIGRATIONS

    url = f"sqlite:///{tmp_path / 'old.db'}"
    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    db = Database(url)
    with db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        cfg.attributes["connection_url"] = url
        command.upgrade(cfg, "0007")
        for i, (project, work, source) in enumerate(
            [("p1", "/bkt/w/", "/bkt/in/"), ("p2", "/bkt/w2/", "/other/in/"), ("p3", "/bkt/x/", "/z/")]
        ):
            conn.exec_driver_sql(
                "INSERT INTO datasets (id, project_id, name, description, dataset_type, data_format, "
                "data_sources, work_path, work_path_type, workspace_id, status, next_version_num, "
                "deleted_sample_count, extra, created_at, updated_at, data_update_time) VALUES "
                "(?, ?, ?, '', 0, 'Default', ?, ?, 0, '0', 1, 1, 0, '{}', ?, ?, ?)",
                (f"d{i}", project, f"n{i}", json.dumps([{"data_path": source}]), work, 100 + i, 0, 0),
            )
        command.upgrade(cfg, "head")
    db.dispose()
    rows = sqlite3.connect(tmp_path / "old.db").execute("SELECT name, project_id FROM storage_buckets")
    assert dict(rows.fetchall()) == {"bkt": "p1", "other": "p2", "z": "p3"}


def test_the_buckets_setting_assigns_owners_at_start(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with run_server(home) as server:
        project_id = server.credentials["project_id"]
    (home / "storage" / "preset" / "d").mkdir(parents=True)
    with run_server(home, buckets="preset=default") as server:
        listed = server.signed().get(BUCKETS).json()["buckets"]
        assert ("preset", project_id) in [(b["bucket_name"], b["owner_project_id"]) for b in listed]
    with pytest.raises(ValueError, match="MODELWORKS_BUCKETS"), run_server(home, buckets="preset"):
        pass


@pytest.mark.s3
def test_buckets_belong_to_projects_on_s3_too(server_factory, s3_endpoint: S3Endpoint) -> None:  # type: ignore[no-untyped-def]
    """The same rules with the object store on a real S3 server: B cannot read A's bucket, and an
    existing bucket nobody owns waits for an operator."""
    bucket, unowned = f"mw-a-{uuid.uuid4().hex[:8]}", f"mw-x-{uuid.uuid4().hex[:8]}"
    store = S3ObjectStore(s3_endpoint.endpoint, s3_endpoint.access_key, s3_endpoint.secret_key)
    store.write(parse_obs_path(f"/{unowned}/in/one.png"), SECRET)
    server = server_factory(
        storage_url="s3://",
        storage_endpoint=s3_endpoint.endpoint,
        storage_access_key=s3_endpoint.access_key,
        storage_secret_key=s3_endpoint.secret_key,
    )
    a, b = server.signed(), server.new_project("acme", "mallory", "acme-b")
    assert a.post(BUCKETS, {"bucket_name": bucket}).status_code == 201
    store.write(parse_obs_path(f"/{bucket}/private/secret.png"), SECRET)
    _dataset(a, "a-data", f"/{bucket}/private/", f"/{bucket}/work/")
    for data in (f"/{bucket}/private/", f"/{unowned}/in/"):
        body = {
            "dataset_name": "steal",
            "data_sources": [{"data_path": data}],
            "work_path": f"/{bucket}-b/w/",
        }
        _refused(b.post(DS, body), "data_sources[0].data_path")
    assert b.get(DS).json()["datasets"] == []
    assert store.read(parse_obs_path(f"/{bucket}/private/secret.png")) == SECRET


def test_only_the_owner_shares_or_gives_up_a_bucket_and_bad_input_names_the_field(world: World) -> None:
    a, b = world.a, world.b
    for response in (
        b.put(f"{BUCKETS}/bkt2/shares/{b.project_id}", {"access": "read-write"}),
        b.delete(f"{BUCKETS}/bkt2"),
        b.get(f"{BUCKETS}/bkt2/shares"),
    ):
        assert (response.status_code, response.json()["error_code"]) == (404, "ModelArts.4311")
    assert a.get(f"{BUCKETS}/bkt2/shares").json()["total"] == 0  # nothing was shared
    refused = a.put(f"{BUCKETS}/bkt2/shares/{b.project_id}", {"access": "everything"})
    assert refused.status_code == 400 and refused.json()["error_msg"].startswith("access: ")
    refused = a.post(BUCKETS, {"bucket_name": ["bkt9"]})
    assert refused.status_code == 400 and refused.json()["error_msg"].startswith("bucket_name: ")
    refused = a.post(BUCKETS, {"bucket_name": "Not_A_Bucket"})
    assert refused.status_code == 400 and refused.json()["error_msg"].startswith("bucket_name: ")
    # B's key is not good for A's project either.
    assert b.request("GET", BUCKETS.replace("{project_id}", a.project_id)).status_code == 403
