"""Fixtures: a local store for most format tests, and ``any_store`` for the round trips, which run on
the local store and on a real S3 server (SeaweedFS; see ``tests/conftest.py``)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from modelworks.storage import LocalObjectStore, ObjectStore, ObsPath, S3ObjectStore


@pytest.fixture
def store(tmp_path: Path) -> LocalObjectStore:
    return LocalObjectStore(tmp_path / "storage")


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    if request.param == "local":
        return LocalObjectStore(tmp_path / "storage")
    s3 = request.getfixturevalue("s3_endpoint")
    return S3ObjectStore(endpoint=s3.endpoint, access_key=s3.access_key, secret_key=s3.secret_key)


@pytest.fixture
def root() -> ObsPath:
    """A fresh bucket per test, so S3 cases never see each other's objects."""
    return ObsPath(f"fmt-{uuid.uuid4().hex[:12]}", "")
