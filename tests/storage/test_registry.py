"""Choosing the backend from settings.storage_url."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelworks.settings import Settings
from modelworks.storage import LocalObjectStore, ObjectStore, ObsPath, S3ObjectStore, create_store, register
from modelworks.storage.registry import stores


def test_default_is_local_under_home(tmp_path: Path) -> None:
    store = create_store(Settings(home=tmp_path))
    assert isinstance(store, LocalObjectStore)
    assert store.root == (tmp_path / "storage").resolve()
    store.write(ObsPath("bucket", "x"), b"x")
    assert (tmp_path / "storage" / "bucket" / "x").read_bytes() == b"x"


def test_file_url(tmp_path: Path) -> None:
    store = create_store(Settings(home=tmp_path, storage_url=f"file://{tmp_path / 'elsewhere'}"))
    assert isinstance(store, LocalObjectStore)
    assert store.describe() == f"local:{(tmp_path / 'elsewhere').resolve()}"


def test_relative_file_url_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="absolute"):
        create_store(Settings(home=tmp_path, storage_url="file://relative/dir"))


def test_s3_url(tmp_path: Path) -> None:
    settings = Settings(
        home=tmp_path,
        storage_url="s3://",
        storage_endpoint="http://127.0.0.1:1",
        storage_access_key="ak",
        storage_secret_key="sk",
    )
    store = create_store(settings)  # connects lazily: nothing listens on port 1
    assert isinstance(store, S3ObjectStore)
    assert store.describe() == "s3:http://127.0.0.1:1"
    assert store.local_path(ObsPath("bucket", "x")) is None
    with_prefix = settings.model_copy(update={"storage_url": "s3://ignored"})
    assert isinstance(create_store(with_prefix), S3ObjectStore)


def test_unknown_scheme_lists_known_ones(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"file://, s3://"):
        create_store(Settings(home=tmp_path, storage_url="gs://bucket"))


def test_register(tmp_path: Path) -> None:
    def factory(settings: Settings) -> ObjectStore:
        return LocalObjectStore(settings.home / "memory")

    register("mem-test", factory)
    try:
        with pytest.raises(ValueError, match="already registered"):
            register("mem-test", factory)
        with pytest.raises(ValueError, match="already registered"):
            register("file", factory)
        store = create_store(Settings(home=tmp_path, storage_url="mem-test://"))
        assert isinstance(store, LocalObjectStore)
    finally:
        stores.unregister("mem-test")
