"""The S3 store against the real server: credentials are enforced, S3-only rules hold."""

from __future__ import annotations

import pytest

from modelworks.errors import InvalidPath
from modelworks.storage import ObsPath, S3ObjectStore

from .conftest import S3Endpoint, make_s3_store

pytestmark = pytest.mark.s3


def test_wrong_secret_is_refused(s3_endpoint: S3Endpoint, bucket: str) -> None:
    good = make_s3_store(s3_endpoint)
    good.write(ObsPath(bucket, "x"), b"x")
    bad = S3ObjectStore(endpoint=s3_endpoint.endpoint, access_key=s3_endpoint.access_key, secret_key="wrong")
    with pytest.raises(PermissionError):
        bad.read(ObsPath(bucket, "x"))


def test_listings_see_writes_from_another_client(s3_endpoint: S3Endpoint, bucket: str) -> None:
    first, second = make_s3_store(s3_endpoint), make_s3_store(s3_endpoint)
    first.write(ObsPath(bucket, "d/a"), b"a")
    assert second.list_keys(ObsPath(bucket, "d")) == ["a"]
    second.write(ObsPath(bucket, "d/b"), b"b")
    assert first.list_keys(ObsPath(bucket, "d")) == ["a", "b"]
    second.delete(ObsPath(bucket, "d/a"))
    assert first.list_keys(ObsPath(bucket, "d")) == ["b"]
    assert not first.exists(ObsPath(bucket, "d/a"))


def test_listing_and_deleting_go_page_by_page(s3_endpoint: S3Endpoint, bucket: str) -> None:
    store = make_s3_store(s3_endpoint)
    # Small pages exercise the continuation logic without writing thousands of objects.
    store.list_page_size = 7
    store.delete_batch_size = 4
    for i in range(30):
        store.write(ObsPath(bucket, f"many/{i:02d}"), b"x")
    store.write(ObsPath(bucket, "other"), b"x")
    assert store.list_keys(ObsPath(bucket, "many")) == [f"{i:02d}" for i in range(30)]
    assert store.list_keys(ObsPath(bucket, "many"), recursive=False) == [f"{i:02d}" for i in range(30)]
    assert store.delete_prefix(ObsPath(bucket, "many")) == 30
    assert store.list_keys(ObsPath(bucket, "")) == ["other"]


def test_glob_characters_in_keys_are_literal(s3_endpoint: S3Endpoint, bucket: str) -> None:
    store = make_s3_store(s3_endpoint)
    store.write(ObsPath(bucket, "g/a*.txt"), b"star")
    store.write(ObsPath(bucket, "g/ab.txt"), b"plain")
    store.copy(ObsPath(bucket, "g/a*.txt"), ObsPath(bucket, "h/[x].txt"))
    assert store.read(ObsPath(bucket, "h/[x].txt")) == b"star"
    store.delete(ObsPath(bucket, "g/a*.txt"))
    assert store.list_keys(ObsPath(bucket, "g")) == ["ab.txt"]


def test_short_bucket_names_are_refused(s3_endpoint: S3Endpoint) -> None:
    store = make_s3_store(s3_endpoint)
    with pytest.raises(InvalidPath, match="too short"):
        store.write(ObsPath("ab", "x"), b"x")
