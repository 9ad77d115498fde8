"""OBS path parsing and the ObsPath helpers."""

from __future__ import annotations

import pytest

from modelworks.errors import InvalidPath
from modelworks.storage import ObsPath, parse_obs_path


@pytest.mark.parametrize(
    ("value", "bucket", "key"),
    [
        ("/bucket/dir/file.jpg", "bucket", "dir/file.jpg"),
        ("obs://bucket/dir/file.jpg", "bucket", "dir/file.jpg"),
        ("s3://bucket/dir/file.jpg", "bucket", "dir/file.jpg"),
        ("OBS://bucket/a", "bucket", "a"),
        ("/bucket/dir/", "bucket", "dir/"),
        ("obs://bucket/dir/", "bucket", "dir/"),
        ("/bucket", "bucket", ""),
        ("/bucket/", "bucket", ""),
        ("s3://my.bucket-01/", "my.bucket-01", ""),
        ("/b/x", "b", "x"),
        ("/bucket/a b/ü/数据.txt", "bucket", "a b/ü/数据.txt"),
        ("/bucket/.hidden/..x/x..", "bucket", ".hidden/..x/x.."),
    ],
)
def test_parse_accepts(value: str, bucket: str, key: str) -> None:
    path = parse_obs_path(value)
    assert path == ObsPath(bucket, key)
    # The canonical form parses back to the same path.
    assert parse_obs_path(str(path)) == path
    assert parse_obs_path(path.uri()) == path
    assert parse_obs_path(path.uri("s3")) == path


@pytest.mark.parametrize(
    ("value", "error_code"),
    [
        ("", "ModelArts.4313"),
        ("/", "ModelArts.4313"),
        ("obs://", "ModelArts.4313"),
        ("obs:///key", "ModelArts.4315"),
        ("bucket/key", "ModelArts.4313"),
        ("dir/file.jpg", "ModelArts.4313"),
        ("/Bucket/key", "ModelArts.4313"),
        ("/-bucket/key", "ModelArts.4313"),
        ("/bucket-/key", "ModelArts.4313"),
        ("/bu_cket/key", "ModelArts.4313"),
        ("/bu..cket/key", "ModelArts.4313"),
        ("/" + "b" * 64 + "/key", "ModelArts.4313"),
        ("/bucket/../other/key", "ModelArts.4313"),
        ("/bucket/a/..", "ModelArts.4313"),
        ("/bucket/./a", "ModelArts.4313"),
        ("/bucket/a/./", "ModelArts.4313"),
        ("/..", "ModelArts.4313"),
        ("/bucket/a\\b", "ModelArts.4313"),
        ("\\bucket\\a", "ModelArts.4313"),
        ("/bucket/a\x00b", "ModelArts.4313"),
        ("/bucket/a\nb", "ModelArts.4313"),
        ("/bucket/a\x7fb", "ModelArts.4313"),
        ("/bucket/a//b", "ModelArts.4315"),
        ("//bucket/a", "ModelArts.4315"),
        ("/bucket//a", "ModelArts.4315"),
        ("obs://bucket//a", "ModelArts.4315"),
        ("/bucket/a//", "ModelArts.4315"),
        ("file:///etc/passwd", "ModelArts.4313"),
        ("http://bucket/a", "ModelArts.4313"),
        ("https://host/bucket/a", "ModelArts.4313"),
        ("C:\\data\\a.jpg", "ModelArts.4313"),
        ("/bucket/" + "k" * 1025, "ModelArts.4313"),
    ],
)
def test_parse_refuses(value: str, error_code: str) -> None:
    with pytest.raises(InvalidPath) as info:
        parse_obs_path(value, field="data_path")
    error = info.value
    assert error.http_status == 400
    assert error.error_code == error_code
    assert error.field == "data_path"
    assert "data_path" in error.message


def test_constructor_validates() -> None:
    with pytest.raises(InvalidPath):
        ObsPath("bucket", "../escape")
    with pytest.raises(InvalidPath):
        ObsPath("bucket", "/abs")
    with pytest.raises(InvalidPath):
        ObsPath("BUCKET", "a")
    with pytest.raises(InvalidPath):
        ObsPath("", "a")


def test_str_name_parent_as_dir() -> None:
    file = ObsPath("bucket", "a/b/c.jpg")
    assert str(file) == "/bucket/a/b/c.jpg"
    assert file.uri() == "obs://bucket/a/b/c.jpg"
    assert file.uri("s3") == "s3://bucket/a/b/c.jpg"
    assert file.name == "c.jpg"
    assert file.parent == ObsPath("bucket", "a/b/")
    assert file.parent.parent == ObsPath("bucket", "a/")
    assert file.parent.parent.parent == ObsPath("bucket", "")
    assert ObsPath("bucket", "").parent == ObsPath("bucket", "")
    assert ObsPath("bucket", "top").parent == ObsPath("bucket", "")
    assert ObsPath("bucket", "a/b/").name == "b"
    assert ObsPath("bucket", "").name == ""
    assert str(ObsPath("bucket", "")) == "/bucket/"
    assert file.as_dir() == ObsPath("bucket", "a/b/c.jpg/")
    assert file.parent.as_dir() == file.parent
    assert ObsPath("bucket", "").as_dir() == ObsPath("bucket", "")
    assert file.is_dir is False and file.parent.is_dir and ObsPath("bucket", "").is_dir


def test_join() -> None:
    root = ObsPath("bucket", "")
    assert root.join("a") == ObsPath("bucket", "a")
    assert root.join("a", "b.jpg") == ObsPath("bucket", "a/b.jpg")
    assert root.join("a/", "b/") == ObsPath("bucket", "a/b/")
    assert root.join("a/b", "c") == ObsPath("bucket", "a/b/c")
    # A file path is treated as a directory to join under.
    assert ObsPath("bucket", "a").join("b") == ObsPath("bucket", "a/b")
    assert ObsPath("bucket", "a/").join("b") == ObsPath("bucket", "a/b")
    assert root.join() == root
    for bad in ("..", "a/../b", ".", "/etc", "", "a\\b", "a\x00", "a//b"):
        with pytest.raises(InvalidPath) as info:
            root.join(bad)
        assert info.value.http_status == 400


def test_relative_to() -> None:
    base = ObsPath("bucket", "data/")
    assert ObsPath("bucket", "data/x/y.jpg").relative_to(base) == "x/y.jpg"
    assert ObsPath("bucket", "data/x/y.jpg").relative_to(ObsPath("bucket", "data")) == "x/y.jpg"
    assert ObsPath("bucket", "data/").relative_to(base) == ""
    assert ObsPath("bucket", "a").relative_to(ObsPath("bucket", "")) == "a"
    assert ObsPath("bucket", "data/x").is_relative_to(base)
    assert not ObsPath("bucket", "database/x").is_relative_to(base)
    with pytest.raises(ValueError):
        ObsPath("bucket", "database/x").relative_to(base)
    with pytest.raises(ValueError):
        ObsPath("other", "data/x").relative_to(base)
