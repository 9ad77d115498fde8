"""Reading back what user code wrote without following its links (``compute.sandbox``).

Private to ``compute``: the public names are ``modelworks.compute.sandbox``'s.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


def read_user_file(path: Path, limit: int = 1 << 20) -> bytes | None:
    """The first ``limit`` bytes of a regular file that user code wrote, or None: a link (at the last
    component; its directory is the server's or checked by the caller) is never followed."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        return f.read(limit)


@dataclass(frozen=True)
class UserFile:
    relative: str
    data: bytes | None
    skipped: str
    """Why ``data`` is None: a link, not a regular file, a hard link to someone else's file."""


def walk_user_files(root: Path, owner: int | None) -> Iterator[UserFile]:
    """Every file below ``root`` (a directory user code wrote) without following any link.

    Directories are walked by file descriptor (``os.fwalk``), so swapping a directory for a link while
    the walk runs leads nowhere; files are opened with ``O_NOFOLLOW`` below their directory's
    descriptor. Links, sockets, devices, and files with several hard links that ``owner`` (the uid
    the code ran as, None: unknown) does not own are reported with ``skipped`` instead of content.
    """
    try:
        top = os.lstat(root)
    except OSError:
        return
    if stat.S_ISLNK(top.st_mode):
        yield UserFile(".", None, "the output directory itself is a link")
        return
    if not stat.S_ISDIR(top.st_mode):
        return
    for here, dirs, files, here_fd in os.fwalk(root, follow_symlinks=False):
        base = Path(here).relative_to(root)
        for name in sorted(dirs):
            info = os.stat(name, dir_fd=here_fd, follow_symlinks=False)
            if stat.S_ISLNK(info.st_mode):
                yield UserFile((base / name).as_posix(), None, "a link (not followed)")
        for name in sorted(files):
            relative = (base / name).as_posix()
            try:
                fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=here_fd)
            except OSError as exc:
                reason = "a link (not followed)" if exc.errno == errno.ELOOP else str(exc)
                yield UserFile(relative, None, reason)
                continue
            with os.fdopen(fd, "rb") as f:
                info = os.fstat(fd)
                if not stat.S_ISREG(info.st_mode):
                    yield UserFile(relative, None, "not a regular file")
                elif info.st_nlink > 1 and owner is not None and info.st_uid != owner:
                    yield UserFile(relative, None, "a hard link to a file the job does not own")
                else:
                    yield UserFile(relative, f.read(), "")
