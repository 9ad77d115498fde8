"""Publishing with the object store on a real S3 server (SeaweedFS on loopback): the package is
copied within S3 and downloaded for its checks, its missing pip dependencies installed on the server's
host (not in S3), and the stored copy is what a service loads."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from modelworks.models import download_package
from modelworks.models.environments import ENVIRONMENTS_DIR, REQUIREMENTS_FILE
from modelworks.serving.runtime import load_model
from modelworks.storage import S3ObjectStore, parse_obs_path
from tests.conftest import LiveServer, S3Endpoint
from tests.models._packages import ECHO_CONFIG, ECHO_SERVICE, MODELS, create, wait_published
from tests.models._wheels import TRIPLE_SOURCE, dependency, offline_pip, pip_dependencies, write_wheel

pytestmark = pytest.mark.s3


def test_a_package_on_s3_is_published_copied_and_deleted(
    server_factory: Callable[..., LiveServer], s3_endpoint: S3Endpoint, tmp_path: Path
) -> None:
    bucket = f"mw-{uuid.uuid4().hex[:8]}"
    store = S3ObjectStore(s3_endpoint.endpoint, s3_endpoint.access_key, s3_endpoint.secret_key)
    dependencies = pip_dependencies(dependency("numpy"), dependency("mwtriple", "1.0", "EXACT"))
    files = {
        "config.json": json.dumps({**ECHO_CONFIG, "dependencies": dependencies}),
        "customize_service.py": ECHO_SERVICE,
        "vocabulary/words.txt": "a\nb\n",
    }
    for name, content in files.items():
        store.write(parse_obs_path(f"/{bucket}/echo/model/{name}"), content.encode())
    live = server_factory(
        storage_url="s3://",
        storage_endpoint=s3_endpoint.endpoint,
        storage_access_key=s3_endpoint.access_key,
        storage_secret_key=s3_endpoint.secret_key,
    )
    client = live.signed()
    write_wheel(tmp_path / "wheels", "mwtriple", "1.0", TRIPLE_SOURCE)
    with offline_pip(tmp_path / "wheels"):
        model_id = create(
            client, model_name="echo", model_version="1.0.0", source_location=f"s3://{bucket}/echo"
        )
        model = wait_published(client, model_id)
    assert model["source_location"] == f"/{bucket}/echo/"
    assert model["model_size"] == sum(len(c.encode()) for c in files.values())

    stored = parse_obs_path(f"/modelworks-system/models/{model_id}/model/")
    # The copy records the requirements; what pip installed stays on the server's host.
    assert sorted(store.list_keys(stored)) == sorted([*files, REQUIREMENTS_FILE])
    # Below the project's sandbox user's directory (compute.sandbox).
    assert len(list((live.settings.sandbox_root / ENVIRONMENTS_DIR).glob("*/*/packages/mwtriple"))) == 1
    local = download_package(store, stored, tmp_path / "model")
    assert load_model(local).predict({"x": 1}) == {"x": 1}

    store.write(parse_obs_path(f"/{bucket}/broken/model/config.json"), json.dumps(ECHO_CONFIG).encode())
    failed = create(client, model_name="broken", model_version="1.0.0", source_location=f"/{bucket}/broken/")
    assert wait_published(client, failed, "failed")["failed_msg"] == (
        "the package's model/ directory has no customize_service.py"
    )
    assert store.list_keys(parse_obs_path(f"/modelworks-system/models/{failed}/")) == []

    assert client.delete(f"{MODELS}/{model_id}").json()["delete_success_list"] == [model_id]
    assert store.list_keys(stored) == []
