"""Object store on an S3-compatible server (SeaweedFS, MinIO, AWS, Huawei OBS) through s3fs.

A Modelworks bucket is an S3 bucket of the same name, created on first write. Listings go straight
to ``ListObjectsV2`` (1,000 keys a request) and single objects to the ``*_file`` methods of s3fs,
never to its path-expanding methods (``cat``, ``rm``, ``copy``), which would treat "*", "?" and "["
in a key as glob patterns.
"""

from __future__ import annotations

import builtins
import shutil
import threading
from collections.abc import Iterator
from contextlib import suppress
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO, ClassVar, cast

from modelworks.errors import InvalidPath
from modelworks.storage.base import (
    ObjectInfo,
    ObjectStore,
    file_target,
    object_not_found,
    require_file_path,
)
from modelworks.storage.paths import ObsPath, validate_bucket

_PART_SIZE = 8 * 1024 * 1024

# S3 refuses bucket names shorter than OBS paths allow (see paths.py).
_S3_MIN_BUCKET_LEN = 3


def _mtime_ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)


def _error_code(exc: BaseException) -> str:
    """The S3 error code behind an exception s3fs translated from a botocore ClientError."""
    response = getattr(exc.__cause__, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


class S3ObjectStore(ObjectStore):
    """Objects in S3 buckets, one per Modelworks bucket."""

    scheme: ClassVar[str] = "s3"
    list_page_size = 1000
    """Keys per ListObjectsV2 request (S3 answers at most 1,000); lowered by tests to exercise paging."""
    delete_batch_size = 1000
    """Keys per DeleteObjects request (S3 takes at most 1,000)."""

    def __init__(
        self,
        endpoint: str = "",
        access_key: str = "",
        secret_key: str = "",
        region: str = "us-east-1",
    ) -> None:
        # Imported here: s3fs pulls in aiobotocore, which costs every CLI start that never touches S3.
        import s3fs

        self._endpoint = endpoint
        self._fs = s3fs.S3FileSystem(
            # Empty keys fall back to boto's default credential chain (environment, profile, role).
            key=access_key or None,
            secret=secret_key or None,
            client_kwargs={"endpoint_url": endpoint or None, "region_name": region},
            config_kwargs={
                # Self-hosted servers answer on one host name: no virtual-host bucket addressing.
                "s3": {"addressing_style": "path"},
                # Recent botocore adds CRC checksums to every upload, which some S3-compatible
                # servers reject; send them only where the S3 API requires one.
                "request_checksum_calculation": "when_required",
                "response_checksum_validation": "when_required",
            },
            # Another store object (or another process) may write at any time: never answer from a
            # stale instance or listing cache.
            skip_instance_cache=True,
            use_listings_cache=False,
        )
        self._known_buckets: set[str] = set()
        self._lock = threading.Lock()

    # -- helpers ------------------------------------------------------------------------------------

    def _bucket(self, bucket: str) -> str:
        validate_bucket(bucket, field="bucket")
        if len(bucket) < _S3_MIN_BUCKET_LEN:
            raise InvalidPath(
                f"bucket name {bucket!r} is too short for S3 (3 characters at least)", field="path"
            )
        return bucket

    def _full(self, path: ObsPath) -> str:
        return f"{self._bucket(path.bucket)}/{path.key}"

    def _call(self, method: str, **kwargs: Any) -> Any:
        return self._fs.call_s3(method, **kwargs)

    def _head(self, path: ObsPath) -> dict[str, Any] | None:
        """The object's HEAD response, or None if there is no such object (or bucket)."""
        if path.is_dir:
            return None
        try:
            head = self._call("head_object", Bucket=self._bucket(path.bucket), Key=path.key)
        except FileNotFoundError:
            return None
        return cast(dict[str, Any], head)

    def _iter_keys(
        self, bucket: str, prefix: str, *, delimiter: str = "", page_size: int = 0
    ) -> Iterator[dict[str, Any]]:
        """Raw ``Contents`` entries under ``prefix``, in the server's (key) order; none if no bucket."""
        kwargs: dict[str, Any] = {
            "Bucket": self._bucket(bucket),
            "Prefix": prefix,
            "MaxKeys": page_size or self.list_page_size,
        }
        if delimiter:
            kwargs["Delimiter"] = delimiter
        while True:
            try:
                page = self._call("list_objects_v2", **kwargs)
            except FileNotFoundError:
                return
            yield from page.get("Contents", [])
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or not token:
                return
            kwargs["ContinuationToken"] = token

    def _iter_objects(self, base: ObsPath) -> Iterator[ObsPath]:
        """The objects below ``base``, all levels, in the server's order, as the listing pages come."""
        for entry in self._iter_keys(base.bucket, base.key):
            key = entry["Key"]
            if key.endswith("/"):
                continue  # a directory marker, as in _objects
            try:
                yield ObsPath(base.bucket, key)
            except InvalidPath:
                continue  # as in _objects

    def _objects(self, base: ObsPath, *, recursive: bool) -> builtins.list[ObjectInfo]:
        found: builtins.list[ObjectInfo] = []
        for entry in self._iter_keys(base.bucket, base.key, delimiter="" if recursive else "/"):
            key = entry["Key"]
            if key.endswith("/"):
                continue  # a "directory marker" object some tools create; not an object here
            try:
                path = ObsPath(base.bucket, key)
            except InvalidPath:
                continue  # a key no OBS path can spell ("//", "..", control characters)
            found.append(ObjectInfo(path, int(entry["Size"]), _mtime_ms(entry["LastModified"])))
        # S3 already lists in UTF-8 byte order, which is code point order; sort anyway so that a
        # server that gets it wrong cannot break callers relying on it.
        found.sort(key=lambda info: info.path.key)
        return found

    def _ensure_bucket(self, bucket: str) -> None:
        with self._lock:
            if bucket in self._known_buckets:
                return
        if not self.bucket_exists(bucket):
            self.make_bucket(bucket)
        with self._lock:
            self._known_buckets.add(bucket)

    # -- reading ------------------------------------------------------------------------------------

    def read(self, path: ObsPath) -> bytes:
        if path.is_dir:
            raise object_not_found(path)
        try:
            return cast(bytes, self._fs.cat_file(self._full(path)))
        except FileNotFoundError as exc:
            raise object_not_found(path) from exc

    def read_range(self, path: ObsPath, start: int, length: int) -> bytes:
        if start < 0 or length < 0:
            raise ValueError("start and length must not be negative")
        if length == 0:
            self.stat(path)  # NotFound if missing; S3 has no empty range to ask for
            return b""
        if path.is_dir:
            raise object_not_found(path)
        try:
            return cast(bytes, self._fs.cat_file(self._full(path), start=start, end=start + length))
        except FileNotFoundError as exc:
            raise object_not_found(path) from exc
        except OSError as exc:
            # A range starting at or past the end is an error (416) to S3 but an empty read to a file.
            if _error_code(exc) in ("InvalidRange", "416"):
                return b""
            raise

    def open_read(self, path: ObsPath) -> BinaryIO:
        if path.is_dir:
            raise object_not_found(path)
        try:
            return cast(BinaryIO, self._fs.open(self._full(path), "rb"))
        except FileNotFoundError as exc:
            raise object_not_found(path) from exc

    def exists(self, path: ObsPath) -> bool:
        if path.key == "":
            return self.bucket_exists(self._bucket(path.bucket))
        if self._head(path) is not None:
            return True
        # Small pages: the first real object answers the question.
        entries = self._iter_keys(path.bucket, path.as_dir().key, page_size=20)
        return any(not entry["Key"].endswith("/") for entry in entries)

    def is_file(self, path: ObsPath) -> bool:
        return self._head(path) is not None

    def stat(self, path: ObsPath) -> ObjectInfo:
        head = self._head(path)
        if head is None:
            raise object_not_found(path)
        return ObjectInfo(path, int(head["ContentLength"]), _mtime_ms(head["LastModified"]))

    def list(self, prefix: ObsPath, *, recursive: bool = True) -> Iterator[ObjectInfo]:
        return iter(self._objects(prefix.as_dir(), recursive=recursive))

    # -- writing ------------------------------------------------------------------------------------

    def write(self, path: ObsPath, data: bytes) -> None:
        require_file_path(path, "write")
        self._ensure_bucket(self._bucket(path.bucket))
        try:
            # One PUT: S3 makes the new object visible all at once.
            self._fs.pipe_file(self._full(path), data)
        except FileNotFoundError:
            # The bucket was deleted behind our back since we last saw it: create it again.
            with self._lock:
                self._known_buckets.discard(path.bucket)
            self._ensure_bucket(path.bucket)
            self._fs.pipe_file(self._full(path), data)

    def write_stream(self, path: ObsPath, source: BinaryIO) -> None:
        require_file_path(path, "write")
        self._ensure_bucket(self._bucket(path.bucket))
        # A multipart upload in 8 MiB parts: S3 shows the object only once the upload completes, so
        # readers still see the old content or the new one, never a part of it.
        with self._fs.open(self._full(path), "wb", block_size=_PART_SIZE) as target:
            shutil.copyfileobj(source, target, _PART_SIZE)

    def delete(self, path: ObsPath) -> None:
        require_file_path(path, "delete")
        # FileNotFoundError: no such bucket, so nothing to delete.
        with suppress(FileNotFoundError):
            self._call("delete_object", Bucket=self._bucket(path.bucket), Key=path.key)

    def _delete_keys(self, bucket: str, keys: builtins.list[str]) -> None:
        for i in range(0, len(keys), self.delete_batch_size):
            batch = [{"Key": key} for key in keys[i : i + self.delete_batch_size]]
            response = self._call("delete_objects", Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
            errors = response.get("Errors") or []
            if errors:
                first = errors[0]
                raise OSError(f"could not delete {len(errors)} objects, e.g. {first.get('Key')}: {first}")

    def delete_prefix(self, prefix: ObsPath) -> int:
        base = prefix.as_dir()
        # Directory markers go too, but only objects count.
        keys = (str(entry["Key"]) for entry in self._iter_keys(base.bucket, base.key))
        return sum(not key.endswith("/") for key in self._delete_streamed(base.bucket, keys))

    def _delete_streamed(self, bucket: str, keys: Iterator[str]) -> Iterator[str]:
        """Delete ``keys`` a batch at a time as they come (a listing of 100,000 objects is not held),
        yielding each key once its batch is deleted."""
        batch: builtins.list[str] = []
        for key in keys:
            batch.append(key)
            if len(batch) >= self.delete_batch_size:
                self._delete_keys(bucket, batch)
                yield from batch
                batch = []
        if batch:
            self._delete_keys(bucket, batch)
            yield from batch

    def _copy_object(self, src: ObsPath, dst: ObsPath) -> None:
        self._ensure_bucket(self._bucket(dst.bucket))
        try:
            # s3fs picks a server-side CopyObject, or a multipart copy above 5 GB.
            self._fs.cp_file(self._full(src), self._full(dst))
        except FileNotFoundError as exc:
            raise object_not_found(src) from exc

    def copy(self, src: ObsPath, dst: ObsPath) -> None:
        self._copy_or_move(src, dst, move=False)

    def move(self, src: ObsPath, dst: ObsPath) -> None:
        # S3 cannot rename: copy everything first, then delete, so that a failure halfway leaves the
        # source complete.
        self._copy_or_move(src, dst, move=True)

    def _copy_or_move(self, src: ObsPath, dst: ObsPath, *, move: bool) -> None:
        if self.is_file(src):
            target = file_target(src, dst)
            if target == src:
                return
            self._copy_object(src, target)
            if move:
                self.delete(src)
            return
        base, dst_dir = src.as_dir(), dst.as_dir()
        if move and dst_dir.is_relative_to(base):
            raise InvalidPath(f"cannot move {base} into itself ({dst_dir})", field="path")
        # Streamed from the listing, twice for a move (copy all, then delete all): an export's
        # 100,000 files are never held as one list. A copy into its own source lists first, so that
        # it does not copy its copies.
        inside = dst_dir.is_relative_to(base)
        copied = 0
        for path in (
            [i.path for i in self._objects(base, recursive=True)] if inside else self._iter_objects(base)
        ):
            self._copy_object(path, dst_dir.join(path.relative_to(base)))
            copied += 1
        if not copied:
            raise object_not_found(src)
        if move:
            for _ in self._delete_streamed(base.bucket, (path.key for path in self._iter_objects(base))):
                pass

    # -- buckets and the rest -----------------------------------------------------------------------

    def make_bucket(self, bucket: str) -> None:
        with suppress(FileExistsError):
            self._fs.mkdir(self._bucket(bucket))
        with self._lock:
            self._known_buckets.add(bucket)

    def bucket_exists(self, bucket: str) -> bool:
        try:
            self._call("head_bucket", Bucket=self._bucket(bucket))
        except FileNotFoundError:
            return False
        return True

    def local_path(self, path: ObsPath) -> Path | None:
        return None

    def describe(self) -> str:
        return f"s3:{self._endpoint or 'default'}"
