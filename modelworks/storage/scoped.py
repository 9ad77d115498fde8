"""``ProjectStore``: the object store as one project may see it.

Every request, task, job and service that acts for a user gets a ``ProjectStore`` for the user's
project instead of the server's own store. Each call checks the bucket of every path it is given
against a :class:`BucketPolicy` before anything is read, written or deleted: a bucket the project
owns, or one another project shared with it (read-only or read-write), passes; anything else,
and always the system bucket, raises :class:`~modelworks.errors.StorageForbidden` (403). Because the
check lives here, in the store layer, a path field that some route forgets to check up front is
still refused when the work touches it.

Code that must reach the system bucket (published model packages, built-in algorithm code, job
logs) asks for :meth:`ProjectStore.unrestricted` explicitly, with paths it built itself.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from modelworks.storage.base import ObjectInfo, ObjectStore
from modelworks.storage.paths import ObsPath, parse_obs_path


def user_path(store: ObjectStore, value: str, *, field: str, write: bool = False) -> ObsPath:
    """A path a request names in ``field``, parsed and checked when the request arrives: malformed
    (400) or in a bucket the caller's project may not read, or with ``write`` write (403), both
    naming the field, before any work is queued."""
    path = parse_obs_path(value, field=field)
    store.authorize(path, write=write, field=field)
    return path


def delete_sources(store: ObjectStore, sources: Iterable[str], *, field: str) -> None:
    """Delete the files of samples (``source`` values, ``#line`` suffixes allowed), all or none: every
    file is checked before the first is deleted, so a file in a bucket the project may not write
    refuses the request (StorageForbidden naming ``field``) and the caller's rollback keeps its rows."""
    doomed = sorted({parse_obs_path(source.split("#", 1)[0]) for source in sources}, key=str)
    for path in doomed:
        store.authorize(path, write=True, field=field)
    for path in doomed:
        store.delete(path)


class BucketPolicy(Protocol):
    """Decides which buckets a project may read and write."""

    def check(
        self, project_id: str, bucket: str, *, write: bool, field: str | None = None, session: Any = None
    ) -> None:
        """Return if ``project_id`` may read (``write=False``) or write ``bucket``; otherwise raise
        StorageForbidden whose message names ``field`` when given. ``session`` is the caller's open
        database session, if any: a policy that must write (claim a bucket) writes through it, since on
        SQLite a second writer would wait for the caller's own transaction."""


class ProjectStore(ObjectStore):
    """``inner`` limited to the buckets ``policy`` lets ``project_id`` reach."""

    def __init__(self, inner: ObjectStore, project_id: str, policy: BucketPolicy, session: Any = None):
        self._inner = inner
        self.project_id = project_id
        self._policy = policy
        self._session = session

    @property
    def scheme(self) -> str:  # type: ignore[override]
        return self._inner.scheme

    # -- the checks ------------------------------------------------------------------------------

    def authorize(self, path: ObsPath, *, write: bool = False, field: str | None = None) -> None:
        self._check(path.bucket, write=write, field=field)

    def unrestricted(self) -> ObjectStore:
        return self._inner

    def _check(self, bucket: str, *, write: bool, field: str | None = None) -> None:
        self._policy.check(self.project_id, bucket, write=write, field=field, session=self._session)

    def _read(self, path: ObsPath) -> None:
        self._check(path.bucket, write=False)

    def _write(self, path: ObsPath) -> None:
        self._check(path.bucket, write=True)

    # -- reads -----------------------------------------------------------------------------------

    def read(self, path: ObsPath) -> bytes:
        self._read(path)
        return self._inner.read(path)

    def read_range(self, path: ObsPath, start: int, length: int) -> bytes:
        self._read(path)
        return self._inner.read_range(path, start, length)

    def open_read(self, path: ObsPath) -> BinaryIO:
        self._read(path)
        return self._inner.open_read(path)

    def read_many(self, paths: Sequence[ObsPath]) -> builtins.list[bytes | Exception]:
        for bucket in {p.bucket for p in paths}:
            self._check(bucket, write=False)
        return self._inner.read_many(paths)

    def exists(self, path: ObsPath) -> bool:
        self._read(path)
        return self._inner.exists(path)

    def is_file(self, path: ObsPath) -> bool:
        self._read(path)
        return self._inner.is_file(path)

    def stat(self, path: ObsPath) -> ObjectInfo:
        self._read(path)
        return self._inner.stat(path)

    def list(self, prefix: ObsPath, *, recursive: bool = True) -> Iterator[ObjectInfo]:
        self._read(prefix)
        return self._inner.list(prefix, recursive=recursive)

    def bucket_exists(self, bucket: str) -> bool:
        self._check(bucket, write=False)
        return self._inner.bucket_exists(bucket)

    def local_path(self, path: ObsPath) -> Path | None:
        self._read(path)
        return self._inner.local_path(path)

    # -- writes ----------------------------------------------------------------------------------

    def write(self, path: ObsPath, data: bytes) -> None:
        self._write(path)
        self._inner.write(path, data)

    def write_stream(self, path: ObsPath, source: BinaryIO) -> None:
        self._write(path)
        self._inner.write_stream(path, source)

    def write_many(self, items: Iterable[tuple[ObsPath, bytes]], *, atomic: bool = True) -> None:
        checked: set[str] = set()

        def each() -> Iterator[tuple[ObsPath, bytes]]:
            for path, data in items:
                if path.bucket not in checked:
                    self._write(path)
                    checked.add(path.bucket)
                yield path, data

        self._inner.write_many(each(), atomic=atomic)

    def delete(self, path: ObsPath) -> None:
        self._write(path)
        self._inner.delete(path)

    def delete_prefix(self, prefix: ObsPath) -> int:
        self._write(prefix)
        return self._inner.delete_prefix(prefix)

    def copy(self, src: ObsPath, dst: ObsPath) -> None:
        self._read(src)
        self._write(dst)
        self._inner.copy(src, dst)

    def move(self, src: ObsPath, dst: ObsPath) -> None:
        self._write(src)
        self._write(dst)
        self._inner.move(src, dst)

    def make_bucket(self, bucket: str) -> None:
        self._check(bucket, write=True)
        self._inner.make_bucket(bucket)

    def describe(self) -> str:
        return self._inner.describe()
