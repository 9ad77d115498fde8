"""Filesystem steps of :class:`~modelworks.storage.local.LocalObjectStore` that work on real paths and
descriptors it has already resolved and checked to stay in their bucket: walking directories
(never following symlinks, skipping in-flight temp files), making directories and temp files,
reading and creating files relative to a directory descriptor.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat as stat_module
import tempfile
from contextlib import suppress

from modelworks.errors import Conflict, InvalidPath
from modelworks.storage.base import ObjectInfo, object_not_found
from modelworks.storage.paths import ObsPath

COPY_CHUNK = 4 * 1024 * 1024

# Temporary files of in-flight atomic writes live next to their target under this prefix; listings
# skip them so a reader never sees a half-written object.
TMP_PREFIX = ".mwtmp-"
# Objects are written readable by the group and others like files made with the usual umask 022;
# mkstemp alone would leave them 0600.
FILE_MODE = 0o644
WRITE_ATTEMPTS = 3
# read_many and write_many open files relative to a directory descriptor, so that a directory's path is
# resolved (and checked to stay in its bucket) once, not once per file. O_NOFOLLOW: a last component
# that is a symlink is not opened here but handed to read, which resolves and checks it. O_CREAT|O_EXCL
# never follows a symlink and never opens a FIFO or a device: anything in the way goes to write.
READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
# Linux returns at most this much from one read(); larger files are read in chunks.
_ONE_READ_MAX = 0x7FFFF000


def scan(top: str, base: ObsPath, *, recursive: bool) -> list[ObjectInfo]:
    """All objects below the real directory ``top`` (which is ``base``), sorted by key."""
    found: list[ObjectInfo] = []
    # Iterative walk with os.scandir: d_type answers "file or dir?" without a stat call, so only
    # files cost one stat each.
    stack = [(top, base.key)]
    while stack:
        directory, key_prefix = stack.pop()
        try:
            entries = os.scandir(directory)
        except (FileNotFoundError, NotADirectoryError):
            continue
        with entries:
            for entry in entries:
                # Symlinks are never followed: one could lead out of the bucket, or loop.
                if entry.name.startswith(TMP_PREFIX) or entry.is_symlink():
                    continue
                if entry.is_dir(follow_symlinks=False):
                    if recursive:
                        stack.append((entry.path, key_prefix + entry.name + "/"))
                    continue
                if not entry.is_file(follow_symlinks=False):
                    continue  # sockets, fifos, devices
                try:
                    path = ObsPath(base.bucket, key_prefix + entry.name)
                    st = entry.stat(follow_symlinks=False)
                except (InvalidPath, FileNotFoundError):
                    # A name no OBS key can spell (backslash, control character), or a file
                    # deleted while we walk: neither is an object a client could address.
                    continue
                found.append(ObjectInfo(path, st.st_size, st.st_mtime_ns // 1_000_000))
    found.sort(key=lambda info: info.path.key)
    return found


def has_objects(top: str) -> bool:
    """True if the real directory ``top`` holds at least one object (stops at the first)."""
    stack = [top]
    while stack:
        try:
            entries = os.scandir(stack.pop())
        except (FileNotFoundError, NotADirectoryError):
            continue
        with entries:
            for entry in entries:
                if entry.name.startswith(TMP_PREFIX) or entry.is_symlink():
                    continue
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                elif entry.is_file(follow_symlinks=False):
                    return True
    return False


def clear_directory(directory: str) -> None:
    """Remove everything inside ``directory`` but the directory itself, never following symlinks."""
    try:
        entries = list(os.scandir(directory))
    except (FileNotFoundError, NotADirectoryError):
        return
    for entry in entries:
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path, ignore_errors=True)
        else:
            with suppress(FileNotFoundError):
                os.unlink(entry.path)


def makedirs(directory: str, path: ObsPath) -> None:
    """Create the real directory ``directory`` (where ``path`` goes); Conflict if an object is in the way."""
    try:
        os.makedirs(directory, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as exc:
        raise Conflict(f"cannot create {path}: an object is in the way of its directory") from exc


def make_temp(directory: str, path: ObsPath) -> str:
    """Create ``directory`` if needed and an empty temp file in it; return the file's path."""
    for attempt in range(WRITE_ATTEMPTS):
        makedirs(directory, path)
        try:
            fd, tmp = tempfile.mkstemp(dir=directory, prefix=TMP_PREFIX)
        except FileNotFoundError:
            # A concurrent delete pruned the (then empty) directory between makedirs and mkstemp.
            if attempt == WRITE_ATTEMPTS - 1:
                raise
            continue
        os.close(fd)
        return tmp
    raise AssertionError("unreachable")


def read_at(dir_fd: int | None, name: str, path: ObsPath) -> bytes | None:
    """The object ``name`` in the directory ``dir_fd`` (which is the parent of ``path``); None when
    ``name`` is a symlink, which the caller must resolve and check (``read``)."""
    if dir_fd is None:
        raise object_not_found(path)
    try:
        fd = os.open(name, READ_FLAGS, dir_fd=dir_fd)
    except (FileNotFoundError, NotADirectoryError) as exc:
        raise object_not_found(path) from exc
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return None
        raise
    try:
        st = os.fstat(fd)
        if not stat_module.S_ISREG(st.st_mode):
            raise object_not_found(path)
        # One byte more than the size: a short read says the end came, so one call usually does.
        chunks = [os.read(fd, st.st_size + 1)]
        if len(chunks[0]) > st.st_size or st.st_size >= _ONE_READ_MAX:
            while chunk := os.read(fd, COPY_CHUNK):  # the file grew since fstat, or is huge
                chunks.append(chunk)
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)
    finally:
        os.close(fd)


def create_at(dir_fd: int, name: str, data: bytes, fix_mode: bool | None) -> bool | None:
    """Create the new file ``name`` in the directory ``dir_fd`` holding ``data``, with ``FILE_MODE``.

    Returns None, writing nothing, when something of that name exists (the caller replaces it, or
    refuses a directory, as ``write`` does); otherwise ``fix_mode`` as found out at the first file (a
    umask stricter than 022 narrows the mode, which is then corrected for every file).
    """
    try:
        fd = os.open(name, CREATE_FLAGS, FILE_MODE, dir_fd=dir_fd)
    except FileExistsError:
        return None
    try:
        if fix_mode is None:
            fix_mode = stat_module.S_IMODE(os.fstat(fd).st_mode) != FILE_MODE
        if fix_mode:
            os.fchmod(fd, FILE_MODE)
        write_all(fd, data)
    except BaseException:
        with suppress(OSError):
            os.unlink(name, dir_fd=dir_fd)
        raise
    finally:
        os.close(fd)
    return fix_mode


def write_all(fd: int, data: bytes) -> None:
    written = os.write(fd, data)
    if written < len(data):  # rare for a regular file (a signal, a full disk): write the rest
        view = memoryview(data)[written:]
        while view:
            view = view[os.write(fd, view) :]
