"""Object store on the local filesystem: ``<root>/<bucket>/<key>``.

Every path is resolved with ``os.path.realpath`` and must stay inside ``<root>/<bucket>``; a symlink
(anywhere on the way) that leads out of the bucket is refused, and listings never follow symlinks.
The checks assume nobody hostile swaps directories for symlinks between check and use: the store
root belongs to the Modelworks server, users only reach it through the API.

The interface is fsspec-shaped, but this backend uses ``os`` directly: ``fsspec``'s local filesystem
adds a stat per entry and path normalisation that make large listings several times slower, and it
offers no atomic write or symlink containment anyway.
"""

from __future__ import annotations

import builtins
import functools
import os
import shutil
import stat as stat_module
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import suppress
from pathlib import Path
from typing import BinaryIO, ClassVar

from modelworks.errors import Conflict, InvalidPath
from modelworks.storage._local_fs import (
    COPY_CHUNK,
    DIR_FLAGS,
    FILE_MODE,
    TMP_PREFIX,
    WRITE_ATTEMPTS,
    clear_directory,
    create_at,
    has_objects,
    make_temp,
    makedirs,
    read_at,
    scan,
)
from modelworks.storage.base import (
    ObjectInfo,
    ObjectStore,
    copy_stream,
    file_target,
    object_not_found,
    require_file_path,
)
from modelworks.storage.paths import ObsPath, validate_bucket


class LocalObjectStore(ObjectStore):
    """Buckets are sub-directories of ``root``; objects are plain files."""

    scheme: ClassVar[str] = "file"

    def __init__(self, root: Path | str) -> None:
        root_path = Path(root).expanduser()
        root_path.mkdir(parents=True, exist_ok=True)
        # Resolve once so that containment checks compare real paths with real paths.
        self._root = os.path.realpath(root_path)

    @property
    def root(self) -> Path:
        return Path(self._root)

    # -- path resolution ----------------------------------------------------------------------------

    def _bucket_dir(self, bucket: str) -> str:
        return os.path.join(self._root, validate_bucket(bucket, field="bucket"))

    def _resolve(self, path: ObsPath) -> str:
        """The real filesystem path of ``path``; InvalidPath if it resolves outside its bucket."""
        bucket_dir = os.path.join(self._root, path.bucket)
        real = os.path.realpath(os.path.join(bucket_dir, path.key))
        # A bucket directory that is itself a symlink fails this too: its real path differs.
        if real != bucket_dir and not real.startswith(bucket_dir + os.sep):
            raise InvalidPath(f"{path} resolves outside its bucket", field="path")
        return real

    # -- reading ------------------------------------------------------------------------------------

    def _open(self, path: ObsPath) -> BinaryIO:
        # Resolve first: a path through a symlink out of the bucket is refused, never "not found".
        real = self._resolve(path)
        if path.is_dir:
            raise object_not_found(path)
        try:
            # O_NONBLOCK: opening a FIFO someone left in the bucket must not hang the reader; it has no
            # effect on the regular files we then insist on.
            fd = os.open(real, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise object_not_found(path) from exc
        if not stat_module.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise object_not_found(path)
        return os.fdopen(fd, "rb")

    def read(self, path: ObsPath) -> bytes:
        with self._open(path) as f:
            return f.read()

    def read_range(self, path: ObsPath, start: int, length: int) -> bytes:
        if start < 0 or length < 0:
            raise ValueError("start and length must not be negative")
        with self._open(path) as f:
            f.seek(start)
            return f.read(length)

    def open_read(self, path: ObsPath) -> BinaryIO:
        return self._open(path)

    def read_many(self, paths: Sequence[ObsPath]) -> builtins.list[bytes | Exception]:
        # A few system calls per file (open, fstat, read, close), with each directory resolved once.
        found: builtins.list[bytes | Exception] = []
        directories: dict[tuple[str, str], int | None] = {}
        try:
            for path in paths:
                head, _, name = path.key.rpartition("/")
                if not name:  # a directory path
                    found.append(self._read_or_error(path))
                    continue
                where = (path.bucket, head)
                try:
                    if where not in directories:
                        parent = ObsPath(path.bucket, head + "/" if head else "")
                        directories[where] = self._open_dir(parent)
                    data = read_at(directories[where], name, path)
                    # A symlink: read resolves it and checks where it leads.
                    found.append(self.read(path) if data is None else data)
                except Exception as exc:  # handed back in the path's place, as the base class does
                    found.append(exc)
        finally:
            for fd in directories.values():
                if fd is not None:
                    os.close(fd)
        return found

    def _read_or_error(self, path: ObsPath) -> bytes | Exception:
        try:
            return self.read(path)
        except Exception as exc:
            return exc

    def _open_dir(self, directory: ObsPath) -> int | None:
        """A descriptor of the real directory ``directory`` (checked to stay in its bucket), or None
        if there is no such directory."""
        try:
            return os.open(self._resolve(directory), DIR_FLAGS)
        except (FileNotFoundError, NotADirectoryError):
            return None

    def exists(self, path: ObsPath) -> bool:
        real = self._resolve(path)
        if not path.is_dir and os.path.isfile(real):
            return True
        if path.key == "":
            return self.bucket_exists(path.bucket)
        return has_objects(real)

    def is_file(self, path: ObsPath) -> bool:
        real = self._resolve(path)
        return not path.is_dir and os.path.isfile(real)

    def stat(self, path: ObsPath) -> ObjectInfo:
        real = self._resolve(path)
        if path.is_dir:
            raise object_not_found(path)
        try:
            st = os.stat(real)
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise object_not_found(path) from exc
        if not stat_module.S_ISREG(st.st_mode):
            raise object_not_found(path)
        return ObjectInfo(path, st.st_size, st.st_mtime_ns // 1_000_000)

    def list(self, prefix: ObsPath, *, recursive: bool = True) -> Iterator[ObjectInfo]:
        base = prefix.as_dir()
        return iter(scan(self._resolve(base), base, recursive=recursive))

    # -- writing ------------------------------------------------------------------------------------

    def _publish(self, path: ObsPath, fill: Callable[[str], object]) -> None:
        """Atomically create or replace the object ``path`` with a temp file that ``fill`` writes."""
        require_file_path(path, "write")
        real = self._resolve(path)
        tmp = make_temp(os.path.dirname(real), path)
        replaced = False
        try:
            fill(tmp)
            os.chmod(tmp, FILE_MODE)
            # Readers see the old file or the new one: rename within one directory is atomic.
            # No fsync: atomicity towards concurrent readers is the contract, not crash durability.
            os.replace(tmp, real)
            replaced = True
        except IsADirectoryError as exc:
            raise Conflict(f"cannot write {path}: a directory of that name exists") from exc
        finally:
            if not replaced:
                with suppress(FileNotFoundError):
                    os.unlink(tmp)

    def write(self, path: ObsPath, data: bytes) -> None:
        def fill(tmp: str) -> None:
            with open(tmp, "wb") as f:
                f.write(data)

        self._publish(path, fill)

    def write_stream(self, path: ObsPath, source: BinaryIO) -> None:
        def fill(tmp: str) -> None:
            with open(tmp, "wb") as f:
                copy_stream(source, f, COPY_CHUNK)

        self._publish(path, fill)

    def write_many(self, items: Iterable[tuple[ObsPath, bytes]], *, atomic: bool = True) -> None:
        if atomic:
            super().write_many(items)
            return
        # Not atomic: each file is created in place (open, write, close) in a directory made and
        # resolved once, instead of a temporary file, a chmod and a rename into a directory that may
        # hold 100,000 entries.
        directories: dict[tuple[str, str], int] = {}
        fix_mode: bool | None = None
        try:
            for path, data in items:
                require_file_path(path, "write")
                head, _, name = path.key.rpartition("/")
                where = (path.bucket, head)
                if where not in directories:
                    parent = ObsPath(path.bucket, head + "/" if head else "")
                    directories[where] = self._make_dir(parent, path)
                created = create_at(directories[where], name, data, fix_mode)
                if created is None:
                    self.write(path, data)  # replace what is there (or refuse a directory) as write does
                else:
                    fix_mode = created
        finally:
            for fd in directories.values():
                os.close(fd)

    def _make_dir(self, directory: ObsPath, path: ObsPath) -> int:
        """Create ``directory`` (the parent of ``path``) if needed; return a descriptor of it."""
        real = self._resolve(directory)
        for attempt in range(WRITE_ATTEMPTS):
            makedirs(real, path)
            try:
                return os.open(real, DIR_FLAGS)
            except FileNotFoundError:
                # A concurrent delete pruned the (then empty) directory between makedirs and open.
                if attempt == WRITE_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    def delete(self, path: ObsPath) -> None:
        require_file_path(path, "delete")
        real = self._resolve(path)
        try:
            os.unlink(real)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError):
            # Missing, or a directory (EISDIR on Linux, EPERM on macOS): there is no object to delete.
            if os.path.isfile(real):
                raise
            return
        self._prune(os.path.dirname(real), path.bucket)

    def delete_prefix(self, prefix: ObsPath) -> int:
        base = prefix.as_dir()
        top = self._resolve(base)
        count = 0
        for info in scan(top, base, recursive=True):
            with suppress(FileNotFoundError):
                os.unlink(os.path.join(top, info.path.relative_to(base)))
                count += 1
        # What remains is directories, symlinks (removed, never followed) and in-flight temp files.
        if base.key == "":
            clear_directory(top)
        else:
            shutil.rmtree(top, ignore_errors=True)
            self._prune(os.path.dirname(top), base.bucket)
        return count

    def _prune(self, directory: str, bucket: str) -> None:
        """Remove now-empty directories from ``directory`` up to (not including) the bucket, so that a
        key once used as a directory can become an object again, as on S3."""
        bucket_dir = os.path.join(self._root, bucket)
        while directory.startswith(bucket_dir + os.sep):
            try:
                os.rmdir(directory)
            except OSError:
                return
            directory = os.path.dirname(directory)

    def copy(self, src: ObsPath, dst: ObsPath) -> None:
        if self.is_file(src):
            source = self._resolve(src)
            self._publish(file_target(src, dst), functools.partial(shutil.copyfile, source))
            return
        base = src.as_dir()
        objects = scan(self._resolve(base), base, recursive=True)
        if not objects:
            raise object_not_found(src)
        for info in objects:
            source = self._resolve(info.path)
            target = dst.as_dir().join(info.path.relative_to(base))
            self._publish(target, functools.partial(shutil.copyfile, source))

    def move(self, src: ObsPath, dst: ObsPath) -> None:
        if self.is_file(src):
            target = file_target(src, dst)
            source, real = self._resolve(src), self._resolve(target)
            if source == real:
                return
            makedirs(os.path.dirname(real), target)
            try:
                os.replace(source, real)
            except IsADirectoryError as exc:
                raise Conflict(f"cannot move to {target}: a directory of that name exists") from exc
            self._prune(os.path.dirname(source), src.bucket)
            return
        self._move_dir(src.as_dir(), dst.as_dir())

    def _move_dir(self, base: ObsPath, dst: ObsPath) -> None:
        if dst.is_relative_to(base):
            raise InvalidPath(f"cannot move {base} into itself ({dst})", field="path")
        top, target = self._resolve(base), self._resolve(dst)
        if not has_objects(top):
            raise object_not_found(base)
        if base.key != "" and not os.path.lexists(target):
            # Publish the whole directory at once: readers of dst see nothing, then everything.
            makedirs(os.path.dirname(target), dst)
            os.rename(top, target)
            self._prune(os.path.dirname(top), base.bucket)
            return
        # dst exists already (or src is a bucket root, which must survive): merge into it.
        self._merge(top, dst)
        if base.key == "":
            clear_directory(top)
        else:
            shutil.rmtree(top, ignore_errors=True)
            self._prune(os.path.dirname(top), base.bucket)

    def _merge(self, source: str, dst: ObsPath) -> None:
        """Move the objects below the real directory ``source`` to the same keys below the directory
        ``dst``: object by object, except that a subdirectory ``dst`` has nothing of that name for is
        renamed in one go (an export's ``Annotations/``: one rename instead of one per file)."""
        try:
            # Iterated as read, not listed first (100,000 entries): moving an entry already returned
            # out of the directory does not disturb the iteration.
            entries = os.scandir(source)
        except (FileNotFoundError, NotADirectoryError):
            return
        with entries:
            self._merge_entries(entries, dst)

    def _merge_entries(self, entries: Iterator[os.DirEntry[str]], dst: ObsPath) -> None:
        for entry in entries:
            # As in listings: temp files of in-flight writes and symlinks are not objects; they stay
            # behind and go with the source directory.
            if entry.name.startswith(TMP_PREFIX) or entry.is_symlink():
                continue
            is_dir = entry.is_dir(follow_symlinks=False)
            if not (entry.is_file(follow_symlinks=False) or (is_dir and has_objects(entry.path))):
                continue  # not an object, or a directory with none below it (no empty one in dst)
            try:
                destination = dst.join(entry.name + "/" if is_dir else entry.name)
            except InvalidPath:
                continue  # a name no OBS key can spell: not an object either
            real = self._resolve(destination)
            if is_dir and os.path.lexists(real):
                self._merge(entry.path, destination)
                continue
            makedirs(os.path.dirname(real), destination)
            try:
                os.replace(entry.path, real)
            except IsADirectoryError as exc:
                raise Conflict(f"cannot move to {destination}: a directory of that name exists") from exc

    # -- buckets and the rest -----------------------------------------------------------------------

    def make_bucket(self, bucket: str) -> None:
        directory = self._bucket_dir(bucket)
        if os.path.islink(directory):
            raise InvalidPath(f"bucket {bucket} is a symlink", field="bucket")
        try:
            os.makedirs(directory, exist_ok=True)
        except FileExistsError as exc:
            raise Conflict(f"cannot create bucket {bucket}: a file of that name is in the way") from exc

    def bucket_exists(self, bucket: str) -> bool:
        directory = self._bucket_dir(bucket)
        return os.path.isdir(directory) and not os.path.islink(directory)

    def local_path(self, path: ObsPath) -> Path | None:
        return Path(self._resolve(path))

    def describe(self) -> str:
        return f"local:{self._root}"
