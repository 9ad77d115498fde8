"""Behaviour every ObjectStore backend must share, run against the local store and a real S3 server."""

from __future__ import annotations

import io
import threading
import time
from pathlib import Path

import pytest

from modelworks.errors import InvalidPath, NotFound
from modelworks.storage import ObjectStore, ObsPath


def _p(bucket: str, key: str = "") -> ObsPath:
    return ObsPath(bucket, key)


def test_write_read_round_trip(store: ObjectStore, bucket: str) -> None:
    path = _p(bucket, "dir/sub/file.bin")
    data = bytes(range(256)) * 40
    assert not store.bucket_exists(bucket)
    store.write(path, data)  # creates the bucket
    assert store.bucket_exists(bucket)
    assert store.read(path) == data
    with store.open_read(path) as f:
        assert f.read(10) == data[:10]
        assert f.read() == data[10:]
    store.write(_p(bucket, "empty"), b"")
    assert store.read(_p(bucket, "empty")) == b""
    store.write(_p(bucket, "数据/ü b.txt"), b"unicode")
    assert store.read(_p(bucket, "数据/ü b.txt")) == b"unicode"


def test_write_stream_copies_a_large_file_in_parts(store: ObjectStore, bucket: str, tmp_path: Path) -> None:
    # 20 MiB: more than one part of the S3 multipart upload and of the local copy's chunks.
    data = bytes(range(256)) * (20 * 4096) + b"tail"
    source = tmp_path / "big.bin"
    source.write_bytes(data)
    path = _p(bucket, "streamed/big.bin")
    store.write(path, b"old")
    with source.open("rb") as f:
        f.read(4)  # from the current position on
        store.write_stream(path, f)
    assert store.stat(path).size == len(data) - 4
    assert store.read(path) == data[4:]
    store.write_stream(_p(bucket, "streamed/empty"), io.BytesIO(b""))
    assert store.read(_p(bucket, "streamed/empty")) == b""


def test_overwrite_replaces_content(store: ObjectStore, bucket: str) -> None:
    path = _p(bucket, "f.txt")
    store.write(path, b"first version, longer")
    store.write(path, b"second")
    assert store.read(path) == b"second"
    assert store.stat(path).size == 6
    assert store.list_keys(_p(bucket)) == ["f.txt"]


def test_overwrite_is_atomic_for_readers(store: ObjectStore, bucket: str) -> None:
    path = _p(bucket, "atomic.bin")
    old, new = b"a" * 300_000, b"b" * 200_000
    store.write(path, old)
    stop = threading.Event()
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            while not stop.is_set():
                store.write(path, new)
                store.write(path, old)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    thread = threading.Thread(target=writer)
    thread.start()
    seen = set()
    try:
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            data = store.read(path)
            assert data in (old, new), f"partial read of {len(data)} bytes"
            seen.add(data[:1])
    finally:
        stop.set()
        thread.join()
    assert not errors
    assert seen  # at least one read happened
    # No temporary files are left behind or visible.
    assert store.list_keys(_p(bucket)) == ["atomic.bin"]


def test_missing_objects_are_not_found(store: ObjectStore, bucket: str) -> None:
    missing = _p(bucket, "nope.txt")
    for call in (store.read, store.open_read, store.stat, lambda p: store.read_range(p, 0, 4)):
        with pytest.raises(NotFound) as info:
            call(missing)
        assert info.value.error_code == "ModelArts.4312"
        assert info.value.http_status == 404
    store.write(_p(bucket, "dir/x"), b"x")
    # A directory is not an object.
    with pytest.raises(NotFound):
        store.read(_p(bucket, "dir/"))
    with pytest.raises(NotFound):
        store.read(_p(bucket, "dir"))
    with pytest.raises(NotFound):
        store.stat(_p(bucket, "dir"))
    assert not store.exists(missing)
    assert not store.is_file(missing)


def test_write_refuses_directory_paths(store: ObjectStore, bucket: str) -> None:
    for path in (_p(bucket, "dir/"), _p(bucket)):
        with pytest.raises(InvalidPath):
            store.write(path, b"x")
        with pytest.raises(InvalidPath):
            store.delete(path)


def test_list_recursive_and_flat_sorted_with_sizes(store: ObjectStore, bucket: str) -> None:
    files = {
        "data/b.jpg": b"bb",
        "data/a.jpg": b"a",
        "data/a/z.jpg": b"zzz",
        "data/a.b/y.jpg": b"yyyy",
        "data/sub/deep/x.jpg": b"xxxxx",
        "database/other.jpg": b"o",
        "top.txt": b"t",
    }
    for key, data in files.items():
        store.write(_p(bucket, key), data)

    listed = list(store.list(_p(bucket, "data/")))
    keys = [info.path.key for info in listed]
    assert keys == sorted(k for k in files if k.startswith("data/"))
    assert keys == ["data/a.b/y.jpg", "data/a.jpg", "data/a/z.jpg", "data/b.jpg", "data/sub/deep/x.jpg"]
    assert all(info.size == len(files[info.path.key]) for info in listed)
    assert all(info.path.bucket == bucket for info in listed)
    now_ms = time.time() * 1000
    assert all(abs(info.mtime_ms - now_ms) < 120_000 for info in listed)

    # Without the trailing slash the prefix is still a directory: "database/" is not below "data".
    assert [i.path.key for i in store.list(_p(bucket, "data"))] == keys
    assert store.list_keys(_p(bucket, "data"), recursive=False) == ["a.jpg", "b.jpg"]
    assert store.list_keys(_p(bucket), recursive=False) == ["top.txt"]
    assert len(list(store.list(_p(bucket)))) == len(files)
    assert list(store.list(_p(bucket, "missing/"))) == []
    assert list(store.list(_p(bucket, "top.txt"))) == []  # a file is not a directory
    assert list(store.list(_p("no-such-bucket-" + bucket))) == []


def test_exists_and_is_file(store: ObjectStore, bucket: str) -> None:
    store.write(_p(bucket, "dir/sub/file.txt"), b"x")
    assert store.exists(_p(bucket, "dir/sub/file.txt"))
    assert store.is_file(_p(bucket, "dir/sub/file.txt"))
    for directory in ("dir", "dir/", "dir/sub", "dir/sub/"):
        assert store.exists(_p(bucket, directory)), directory
        assert not store.is_file(_p(bucket, directory)), directory
    assert store.exists(_p(bucket))
    assert not store.exists(_p(bucket, "di"))
    assert not store.exists(_p(bucket, "dir/sub/file.txt/"))
    assert not store.exists(_p("no-such-bucket-" + bucket))
    assert not store.exists(_p("no-such-bucket-" + bucket, "a"))


def test_stat(store: ObjectStore, bucket: str) -> None:
    path = _p(bucket, "s/file.bin")
    before = int(time.time() * 1000)
    store.write(path, b"12345")
    info = store.stat(path)
    assert info.path == path
    assert info.size == 5
    # S3 keeps whole seconds.
    assert before - 2000 <= info.mtime_ms <= int(time.time() * 1000) + 2000


def test_read_range(store: ObjectStore, bucket: str) -> None:
    path = _p(bucket, "range.bin")
    data = bytes(range(256))
    store.write(path, data)
    assert store.read_range(path, 0, 4) == data[:4]
    assert store.read_range(path, 100, 10) == data[100:110]
    assert store.read_range(path, 250, 100) == data[250:]
    assert store.read_range(path, 256, 10) == b""
    assert store.read_range(path, 1000, 10) == b""
    assert store.read_range(path, 5, 0) == b""
    store.write(_p(bucket, "empty"), b"")
    assert store.read_range(_p(bucket, "empty"), 0, 16) == b""
    with pytest.raises(ValueError):
        store.read_range(path, -1, 4)


def test_delete_and_delete_prefix(store: ObjectStore, bucket: str) -> None:
    for key in ("keep.txt", "d/a", "d/b", "d/e/f", "dd/x"):
        store.write(_p(bucket, key), key.encode())
    store.delete(_p(bucket, "d/a"))
    assert not store.exists(_p(bucket, "d/a"))
    store.delete(_p(bucket, "d/a"))  # missing: no error
    store.delete(_p(bucket, "never/was"))
    store.delete(_p("no-such-bucket-" + bucket, "x"))

    assert store.delete_prefix(_p(bucket, "d")) == 2  # d/b and d/e/f, not dd/x
    assert not store.exists(_p(bucket, "d/"))
    assert store.list_keys(_p(bucket)) == ["dd/x", "keep.txt"]
    assert store.delete_prefix(_p(bucket, "d/")) == 0
    # A key that was a directory can become an object.
    store.write(_p(bucket, "d"), b"now a file")
    assert store.read(_p(bucket, "d")) == b"now a file"

    assert store.delete_prefix(_p(bucket)) == 3
    assert store.list_keys(_p(bucket)) == []
    assert store.bucket_exists(bucket)


def test_copy(store: ObjectStore, bucket: str) -> None:
    store.write(_p(bucket, "src/a.txt"), b"A")
    store.write(_p(bucket, "src/sub/b.txt"), b"B")
    store.copy(_p(bucket, "src/a.txt"), _p(bucket, "one/copy.txt"))
    assert store.read(_p(bucket, "one/copy.txt")) == b"A"
    assert store.read(_p(bucket, "src/a.txt")) == b"A"
    # Onto an existing object: replaced.
    store.copy(_p(bucket, "src/sub/b.txt"), _p(bucket, "one/copy.txt"))
    assert store.read(_p(bucket, "one/copy.txt")) == b"B"
    # Into a directory path: keeps the name.
    store.copy(_p(bucket, "src/a.txt"), _p(bucket, "into/"))
    assert store.read(_p(bucket, "into/a.txt")) == b"A"

    # A directory, to another bucket.
    other = bucket + "-2"
    store.write(_p(other, "dst/old.txt"), b"old")
    store.copy(_p(bucket, "src"), _p(other, "dst"))
    assert store.list_keys(_p(other, "dst")) == ["a.txt", "old.txt", "sub/b.txt"]
    assert store.read(_p(other, "dst/sub/b.txt")) == b"B"
    assert store.list_keys(_p(bucket, "src")) == ["a.txt", "sub/b.txt"]

    with pytest.raises(NotFound):
        store.copy(_p(bucket, "missing"), _p(bucket, "x"))


def test_move_file(store: ObjectStore, bucket: str) -> None:
    store.write(_p(bucket, "tmp/.part-1"), b"result")
    store.write(_p(bucket, "out/result.txt"), b"previous")
    store.move(_p(bucket, "tmp/.part-1"), _p(bucket, "out/result.txt"))
    assert store.read(_p(bucket, "out/result.txt")) == b"result"
    assert not store.exists(_p(bucket, "tmp/.part-1"))
    assert not store.exists(_p(bucket, "tmp/"))
    store.move(_p(bucket, "out/result.txt"), _p(bucket, "out/result.txt"))  # onto itself: no-op
    assert store.read(_p(bucket, "out/result.txt")) == b"result"
    with pytest.raises(NotFound):
        store.move(_p(bucket, "missing"), _p(bucket, "x"))


def test_move_directory(store: ObjectStore, bucket: str) -> None:
    for key in ("tmp/job/a.txt", "tmp/job/sub/b.txt"):
        store.write(_p(bucket, key), key.encode())
    # To a new place.
    store.move(_p(bucket, "tmp/job/"), _p(bucket, "published/job"))
    assert store.list_keys(_p(bucket, "published/job")) == ["a.txt", "sub/b.txt"]
    assert store.read(_p(bucket, "published/job/sub/b.txt")) == b"tmp/job/sub/b.txt"
    assert not store.exists(_p(bucket, "tmp/job/"))

    # Onto an existing directory: merged, same names replaced.
    store.write(_p(bucket, "tmp2/a.txt"), b"new a")
    store.move(_p(bucket, "tmp2"), _p(bucket, "published/job/"))
    assert store.list_keys(_p(bucket, "published/job")) == ["a.txt", "sub/b.txt"]
    assert store.read(_p(bucket, "published/job/a.txt")) == b"new a"
    assert not store.exists(_p(bucket, "tmp2"))

    with pytest.raises(InvalidPath):
        store.move(_p(bucket, "published/"), _p(bucket, "published/job/inner/"))
    assert store.list_keys(_p(bucket, "published")) == ["job/a.txt", "job/sub/b.txt"]


def test_buckets(store: ObjectStore, bucket: str) -> None:
    assert not store.bucket_exists(bucket)
    store.make_bucket(bucket)
    store.make_bucket(bucket)  # again: no error
    assert store.bucket_exists(bucket)
    assert store.exists(_p(bucket))
    assert list(store.list(_p(bucket))) == []
    with pytest.raises(InvalidPath):
        store.make_bucket("Bad_Name")


def test_describe_and_local_path(store: ObjectStore, bucket: str) -> None:
    path = _p(bucket, "a/b.txt")
    store.write(path, b"x")
    local = store.local_path(path)
    if store.scheme == "file":
        assert store.describe().startswith("local:/")
        assert local is not None and local.read_bytes() == b"x"
    else:
        assert store.scheme == "s3"
        assert store.describe().startswith("s3:http")
        assert local is None


@pytest.mark.parametrize("atomic", [True, False], ids=["atomic", "in-place"])
def test_write_many_writes_every_object(store: ObjectStore, bucket: str, atomic: bool) -> None:
    items = [(_p(bucket, f"many/{i % 3}/{i:02d}.xml"), f"<i>{i}</i>".encode()) for i in range(20)]
    items += [(_p(bucket, "top.txt"), b"at the bucket root"), (_p(bucket, "many/0/00.xml"), b"again")]
    store.write_many(iter(items), atomic=atomic)  # creates the bucket and the directories
    expected = dict(items)  # the later write of a path wins
    assert store.list_keys(_p(bucket)) == sorted(path.key for path in expected)
    for path, data in expected.items():
        assert store.read(path) == data
    store.write_many([(_p(bucket, "top.txt"), b"replaced")], atomic=atomic)
    assert store.read(_p(bucket, "top.txt")) == b"replaced"
    store.write_many([], atomic=atomic)
    with pytest.raises(InvalidPath):
        store.write_many([(_p(bucket, "many/"), b"x")], atomic=atomic)


def test_read_many_gives_each_content_or_error_in_place(store: ObjectStore, bucket: str) -> None:
    big = bytes(range(256)) * 1200  # 300 KiB: more than one read's worth anywhere
    store.write_many([(_p(bucket, "d/a.txt"), b"a"), (_p(bucket, "d/big.bin"), big), (_p(bucket, "b"), b"")])
    paths = [
        _p(bucket, "d/a.txt"),
        _p(bucket, "d/missing.txt"),
        _p(bucket, "d"),  # a directory, not an object
        _p(bucket, "d/"),
        _p(bucket, "no/such/dir.txt"),
        _p(bucket, "d/big.bin"),
        _p(bucket, "b"),
        _p(bucket, "d/a.txt"),
    ]
    got = store.read_many(paths)
    assert got[0] == b"a" and got[5] == big and got[6] == b"" and got[7] == b"a"
    for error in (got[1], got[2], got[3], got[4]):
        assert isinstance(error, NotFound) and error.error_code == "ModelArts.4312"
    assert store.read_many([]) == []
    assert isinstance(store.read_many([_p(bucket + "-none", "x")])[0], NotFound)
