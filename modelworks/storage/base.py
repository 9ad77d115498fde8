"""The object-store interface every backend implements.

Semantics shared by all backends (the tests in ``tests/storage`` run each one against them):

* Objects are files addressed by :class:`ObsPath`; "directories" are key prefixes ending in "/".
  A directory exists while it has at least one object below it.
* Paths that would leave their bucket (through ``..`` or a symlink) are refused with InvalidPath.
* A missing object is :class:`~modelworks.errors.ObsPathNotFound` (a ``NotFound``, ModelArts.4312).
"""

from __future__ import annotations

import builtins
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, ClassVar

from modelworks.errors import InvalidPath, ObsPathNotFound
from modelworks.storage.paths import ObsPath


def copy_stream(source: BinaryIO, target: BinaryIO, chunk: int) -> None:
    """Copy ``source`` to ``target`` through one reused buffer of ``chunk`` bytes.

    ``shutil.copyfileobj`` makes a new bytes object of ``chunk`` bytes per read; the allocator keeps
    some of each (mmap threshold raised, heap fragmented), so copying a 40 MB file in 4 MiB reads
    left the process about 10 MiB larger: memory that grows with the file. ``readinto`` does not."""
    readinto = getattr(source, "readinto", None)
    if readinto is None:
        while data := source.read(chunk):
            target.write(data)
        return
    buffer = bytearray(chunk)
    view = memoryview(buffer)
    while n := readinto(buffer):
        target.write(view[:n])


def object_not_found(path: ObsPath) -> ObsPathNotFound:
    """The error every backend raises for a missing object."""
    return ObsPathNotFound(f"object {path} does not exist")


def require_file_path(path: ObsPath, operation: str) -> None:
    """Refuse a directory path (bucket root or key ending in "/") where an object is needed."""
    if path.is_dir:
        raise InvalidPath(f"cannot {operation} {path}: it names a directory, not an object", field="path")


def file_target(src: ObsPath, dst: ObsPath) -> ObsPath:
    """Where copying or moving the object ``src`` to ``dst`` puts it: into a directory ``dst`` under
    its own name, else at ``dst``."""
    return dst.join(src.name) if dst.is_dir else dst


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """One object: its path, its size in bytes and its modification time in epoch milliseconds."""

    path: ObsPath
    size: int
    mtime_ms: int


class ObjectStore(ABC):
    """Buckets of objects. Implementations must be safe to call from several threads."""

    scheme: ClassVar[str]
    """The ``storage_url`` scheme this backend serves ("file", "s3")."""

    @abstractmethod
    def read(self, path: ObsPath) -> bytes:
        """Return the whole object; raise ObsPathNotFound if it does not exist."""

    @abstractmethod
    def read_range(self, path: ObsPath, start: int, length: int) -> bytes:
        """Return at most ``length`` bytes from offset ``start`` (fewer at the end of the object, b"" past
        it); raise NotFound if the object does not exist. Used to sniff headers of large files."""

    @abstractmethod
    def open_read(self, path: ObsPath) -> BinaryIO:
        """Open the object for streaming reads (the caller closes it); raise NotFound if missing."""

    @abstractmethod
    def write(self, path: ObsPath, data: bytes) -> None:
        """Create or replace the object atomically: concurrent readers see the old or the new content,
        never a partial one. Create the bucket and any parent directories if missing. Refuse a
        directory path with InvalidPath."""

    def write_stream(self, path: ObsPath, source: BinaryIO) -> None:
        """Like ``write``, with the content read from ``source`` (from its current position to its end)
        in chunks, so that a large object is never held in memory. Backends override this default."""
        self.write(path, source.read())

    def write_many(self, items: Iterable[tuple[ObsPath, bytes]], *, atomic: bool = True) -> None:
        """Write each ``(path, data)`` as :meth:`write` does, stopping at the first error.

        ``atomic=False`` is for objects below a private prefix that nobody reads before the caller
        publishes it in one piece with :meth:`move` (or deletes it after a failure), such as an
        export's temporary directory: an object there need not appear all at once, and a failure may
        leave one partly written. Backends where atomicity costs something per object (the local
        store: a temporary file and a rename) skip it then; paths are checked as always. This default
        writes one object after the other."""
        del atomic  # every write of this default is atomic anyway
        for path, data in items:
            self.write(path, data)

    def read_many(self, paths: Sequence[ObsPath]) -> builtins.list[bytes | Exception]:
        """The content of each path, in order, or the exception reading it raised (NotFound,
        InvalidPath ...) in its place: one bad path does not stop the others. Called with many small
        objects at once (one VOC file per sample); callers overlap calls on threads, so this default
        reads one object after the other."""
        found: builtins.list[bytes | Exception] = []
        for path in paths:
            try:
                found.append(self.read(path))
            except Exception as exc:  # handed back in the path's place
                found.append(exc)
        return found

    @abstractmethod
    def exists(self, path: ObsPath) -> bool:
        """True if ``path`` is an object, or a directory prefix with at least one object below it.
        For the bucket root: true if the bucket exists."""

    @abstractmethod
    def is_file(self, path: ObsPath) -> bool:
        """True only if ``path`` is an object (never for a directory path)."""

    @abstractmethod
    def stat(self, path: ObsPath) -> ObjectInfo:
        """Size and modification time of the object; raise NotFound if it is not an object."""

    @abstractmethod
    def list(self, prefix: ObsPath, *, recursive: bool = True) -> Iterator[ObjectInfo]:
        """Yield the objects below ``prefix`` (always treated as a directory), sorted by key. Only
        objects, never directories; with ``recursive=False`` only those directly in ``prefix``.
        A missing prefix or bucket yields nothing. Keys that are not valid OBS keys are skipped."""

    @abstractmethod
    def delete(self, path: ObsPath) -> None:
        """Delete the object; a missing object is not an error. Refuse a directory path with
        InvalidPath (use :meth:`delete_prefix`)."""

    @abstractmethod
    def delete_prefix(self, prefix: ObsPath) -> int:
        """Delete every object below ``prefix`` (treated as a directory) and return how many were
        deleted. Deleting the bucket root empties the bucket but keeps it."""

    @abstractmethod
    def copy(self, src: ObsPath, dst: ObsPath) -> None:
        """Copy an object to ``dst`` (replacing it), or, if ``src`` is a directory with objects, copy
        every object below it to the same relative key below ``dst`` (treated as a directory; objects
        already there and not in ``src`` are kept). Raise NotFound if ``src`` has nothing to copy."""

    @abstractmethod
    def move(self, src: ObsPath, dst: ObsPath) -> None:
        """Like :meth:`copy`, then remove ``src``. Used to publish a finished temporary file or
        directory; an object move is atomic on every backend, a directory move is atomic only where
        the backend can rename directories (local store, when ``dst`` does not exist yet)."""

    @abstractmethod
    def make_bucket(self, bucket: str) -> None:
        """Create the bucket; an existing bucket is not an error."""

    @abstractmethod
    def bucket_exists(self, bucket: str) -> bool:
        """True if the bucket exists."""

    @abstractmethod
    def local_path(self, path: ObsPath) -> Path | None:
        """The real filesystem path of ``path`` (checked to stay inside its bucket) for a backend that
        keeps objects in local files, so readers can skip a copy; None for remote backends."""

    @abstractmethod
    def describe(self) -> str:
        """A short human-readable description, e.g. "local:/home/u/.modelworks/storage"."""

    def authorize(self, path: ObsPath, *, write: bool = False, field: str | None = None) -> None:
        """Raise StorageForbidden (naming ``field``) unless this store may read, or with ``write`` also
        write, ``path``'s bucket. Called when a request arrives, for every path field it names, so that
        nothing is queued for a path the work could not touch. The server's own store allows all;
        :class:`~modelworks.storage.scoped.ProjectStore` asks its bucket policy."""
        del path, write, field

    def unrestricted(self) -> ObjectStore:
        """The store without a project's limits, for paths the server builds itself in its own system
        bucket (model packages, built-in algorithm code, logs). Never hand it a user's path."""
        return self

    def list_keys(self, prefix: ObsPath, *, recursive: bool = True) -> builtins.list[str]:
        """Keys of :meth:`list`, relative to ``prefix`` (a convenience for callers and tests)."""
        return [info.path.relative_to(prefix) for info in self.list(prefix, recursive=recursive)]
