"""Where and as whom user code runs: the one place that decides it.

User code is everything a user uploads and Modelworks executes: training boot files and the pip
installs of their ``pip-requirements.txt``, model servers (real-time and batch services, pre-label's
temporary services), the publish-time import check of inference code. It must run without the
server's secrets: not the database, not ``credentials.json``, not another project's files, not the
server's environment.

Modes (decided once per process, at start; ``GET /health`` reports it under ``"sandbox"``):

``uid``
    The server runs as root. Each project gets an unprivileged uid/gid of its own from
    ``sandbox_uid_base`` + 1 ... (the base itself is the uid of the start-up check, never a
    project's), skipping ids ``/etc/passwd`` or ``/etc/group`` names. The mapping is host-local
    (uids are a per-host concept) and kept in ``<sandbox>/identities.json`` under a file lock, so every
    server and worker process on the host that shares the sandbox directory agrees on it. User code
    is started with ``setresuid``/``setresgid``, no supplementary groups and umask 077 (``popen_args``),
    after the resource limits are set: it cannot read the database (``<home>`` is 0700, the database
    and ``credentials.json`` 0600), another project's directories (0700, another uid) or
    ``/proc/<server>/environ`` (another uid), and it gets a minimal environment
    (``user_environment``).
``none``
    The server is not root, the check below failed, or ``sandbox_mode=none``: user code runs as the
    server's own user and could read everything the server can. The server warns at start and in
    ``/health``, and user code of only one project runs on this host (the first to ask claims it)
    unless ``allow_shared_user_code`` accepts the risk.

Directories: user code cannot traverse ``<home>`` (0700), so what it needs lives below the sandbox
root (``sandbox_dir``; default ``<home>.sandbox`` beside the home when every ancestor of that place is
world-traversable, else ``/var/tmp/modelworks-sandbox-<hash of home>``)::

    <sandbox>/                      root, 0711: traverse, no listing
      identities.json, .lock        the project -> uid mapping (0600)
      jobs/<job id>/                root, 0711: the server's files (logs/ 0711, exit_code, process.json)
        user-job-dir/ inputs/ outputs/ pip/ cache/      the project's uid, 0700 (``hand_over``)
      services/<service id>/        root, 0711
        packages/<model id>/model/  the project's uid, 0700
        instances/<instance id>/    root, 0711: process.json, exit_code, instance.log
          run/                      the project's uid, 0700: ready.json, failure.txt
      probes/<random>/              the publish-time check's copy of a package (the project's uid)
      model-envs/<uid>/             per-model pip environments of a project (its uid, 0700), shared
                                    by its models with the same requirements, built by its uid

The interpreter user code runs with (``Sandbox.python``) must be reachable by an unprivileged uid, and
so must be every interpreter its code starts again through ``sys.executable`` (pip, multiprocessing,
torch launchers). The server's own may not be: a pyenv interpreter under ``/root`` (0700). Then the
sandbox root gets ``python/``, a copy of the interpreter's binary with the server venv's
``pyvenv.cfg`` and a link to its ``site-packages`` (``_reachable_python``): the same packages, the same
Modelworks, from a path the uid can execute. Nothing of this is assumed: at start the check uid runs
``import modelworks.serving.server`` with that interpreter and starts it again from ``sys.executable``;
if that fails, the mode is ``none`` and the reason says why.

Files user code writes and the server reads back (outputs, ready and failure files) are opened with
``O_NOFOLLOW`` below directory file descriptors (``read_user_file``, ``walk_user_files``): a link
out of the job's directory is never followed by the server.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import functools
import grp
import json
import logging
import os
import pwd
import shutil
import stat
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelworks.errors import Forbidden
from modelworks.settings import Settings

log = logging.getLogger(__name__)

UID = "uid"
NONE = "none"
AUTO = "auto"
MODES = (AUTO, UID, NONE)
IDENTITIES_FILE = "identities.json"
SHARED_OWNER = "none-mode-project"
"""Key of ``identities.json`` naming the one project whose code may run in mode ``none``."""
CHECK_TIMEOUT_SECONDS = 120.0
USER_UMASK = 0o077
_ENV_NAMES = (
    "PATH", "LANG", "LANGUAGE", "TZ", "TERM",
    "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS", "PIP_NO_INDEX", "PIP_TRUSTED_HOST",
    "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy",
    "LD_LIBRARY_PATH", "CUDA_VISIBLE_DEVICES",
)  # fmt: skip
"""What user code inherits from the server's environment (plus ``LC_*``); nothing else, never
``MODELWORKS_*``, storage or database keys."""


class SharedUserCodeRefused(Forbidden):
    """User code of a second project would run as the server's user (no sandbox on this host)."""


def setpriv() -> str | None:
    """util-linux's ``setpriv`` (essential on Debian), from the system's directories only."""
    return shutil.which("setpriv", path="/usr/bin:/bin:/usr/sbin:/sbin")


@dataclass(frozen=True)
class Identity:
    """The unprivileged user a project's code runs as.

    Started with ``command(argv)`` and ``popen_args()``: ``setpriv`` sets the uid and gid, clears the
    supplementary groups and sets ``no_new_privs`` (no setuid program can give privileges back), then
    executes ``argv``; without ``setpriv``, ``Popen``'s own ``user``/``group``/``extra_groups`` do the
    same but ``no_new_privs``. Either way umask is 077. ``argv[0]`` must be reachable by the user
    (``Sandbox.python``).
    """

    uid: int
    gid: int

    def command(self, argv: list[str]) -> list[str]:
        tool = setpriv()
        if tool is None:
            return list(argv)
        return [
            tool,
            f"--reuid={self.uid}",
            f"--regid={self.gid}",
            "--clear-groups",
            "--no-new-privs",
            "--",
            *argv,
        ]

    def popen_args(self) -> dict[str, Any]:
        """``subprocess.Popen`` arguments to go with ``command`` (set between fork and exec by the C
        code of ``_posixsubprocess``: no Python runs there)."""
        if setpriv() is not None:
            return {"umask": USER_UMASK}
        return {"user": self.uid, "group": self.gid, "extra_groups": [], "umask": USER_UMASK}

    def argument(self) -> str:
        """``uid:gid``, how ``training/_launcher.py`` is told."""
        return f"{self.uid}:{self.gid}"


def user_environment(server_env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The part of the server's environment that user code may see: ``_ENV_NAMES`` and ``LC_*``.

    The one place outside ``settings`` that reads ``os.environ``. Callers add ``HOME``, ``TMPDIR`` and
    what the job or service declares.
    """
    source = os.environ if server_env is None else server_env
    return {k: v for k, v in source.items() if k in _ENV_NAMES or k.startswith("LC_")}


def _id_taken(uid: int) -> bool:
    for lookup in (pwd.getpwuid, grp.getgrgid):
        try:
            lookup(uid)
            return True
        except KeyError:
            continue
    return False


class Sandbox:
    """The mode, the sandbox root and the project identities of this host (see the module docstring)."""

    def __init__(self, settings: Settings, mode: str, reason: str, python: str | None = None):
        self.root = settings.sandbox_root
        self.python = python or sys.executable
        """The interpreter user code runs with (see the module docstring)."""
        self.home = settings.home
        self.mode = mode
        self.reason = reason
        self.uid_base = settings.sandbox_uid_base
        self.uid_count = settings.sandbox_uid_count
        self.allow_shared = settings.allow_shared_user_code

    # -- identities ----------------------------------------------------------------------------------

    @property
    def isolated(self) -> bool:
        return self.mode == UID

    def interpreter(self, command: list[str]) -> list[str]:
        """``command`` with the server's interpreter replaced by the one user code can run."""
        return [self.python if part == sys.executable else part for part in command[:1]] + command[1:]

    def describe(self) -> dict[str, Any]:
        """What ``/health`` says."""
        return {
            "mode": self.mode,
            "reason": self.reason,
            "shared_user_code_allowed": self.allow_shared if not self.isolated else None,
        }

    def identity(self, project_id: str) -> Identity | None:
        """The identity ``project_id``'s code runs as; None (the server's own user) in mode ``none``,
        where a project other than the one this host's user code belongs to is refused
        (``SharedUserCodeRefused``) unless ``allow_shared_user_code``."""
        if not self.isolated:
            self.claim(project_id)
            return None
        with self._identities() as table:
            projects: dict[str, int] = table.setdefault("projects", {})
            uid = projects.get(project_id)
            if uid is None:
                used = set(projects.values())
                uid = next(
                    (
                        u
                        for u in range(self.uid_base + 1, self.uid_base + self.uid_count)
                        if u not in used and not _id_taken(u)
                    ),
                    None,
                )
                if uid is None:
                    raise SharedUserCodeRefused(
                        f"no free uid is left in the sandbox range {self.uid_base + 1}..."
                        f"{self.uid_base + self.uid_count - 1} (MODELWORKS_SANDBOX_UID_COUNT)"
                    )
                projects[project_id] = uid
        return Identity(uid, uid)

    def claim(self, project_id: str) -> None:
        """In mode ``none``: refuse user code of a second project (the check requests run before any
        work is queued, and every launch runs again); nothing in mode ``uid``."""
        if self.isolated or self.allow_shared:
            return
        with self._identities() as table:
            owner = table.setdefault(SHARED_OWNER, project_id)
        if owner != project_id:
            raise SharedUserCodeRefused(
                "user code cannot be isolated on this host (sandbox mode none: "
                f"{self.reason}); it already runs code of project {owner}, and code of another "
                "project would be able to read that project's files and the server's secrets. "
                "Run the server as root (per-project users) or set MODELWORKS_ALLOW_SHARED_USER_CODE=true "
                "to accept the risk."
            )

    @contextlib.contextmanager
    def _identities(self) -> Iterator[dict[str, Any]]:
        """The mapping file, read and written back under an exclusive lock (every process on the host)."""
        self.ensure_root()
        path = self.root / IDENTITIES_FILE
        with open(self.root / ".lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                try:
                    table: dict[str, Any] = json.loads(path.read_text())
                except FileNotFoundError:
                    table = {}
                before = json.dumps(table, sort_keys=True)
                yield table
                if json.dumps(table, sort_keys=True) != before:
                    temporary = path.with_suffix(".tmp")
                    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                    with os.fdopen(fd, "w") as f:
                        json.dump(table, f, indent=1, sort_keys=True)
                    os.replace(temporary, path)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    # -- directories ---------------------------------------------------------------------------------

    def ensure_root(self) -> None:
        """The sandbox root, 0711 (and the server's home 0700: nothing in it is for user code)."""
        self.root.mkdir(parents=True, exist_ok=True)
        if self.isolated:
            os.chmod(self.root, 0o711)
            with contextlib.suppress(OSError):
                os.chmod(self.home, 0o700)

    def server_dir(self, path: Path) -> Path:
        """Create ``path`` and its parents below the root as the server's, 0711 (traverse only)."""
        path.mkdir(parents=True, exist_ok=True)
        if self.isolated:
            current = path
            while current != self.root and self.root in current.parents:
                os.chmod(current, 0o711)
                current = current.parent
        return path

    def hand_over(self, path: Path, identity: Identity | None) -> None:
        """Give ``path`` (created if missing) and everything below it to ``identity``; the top 0700.

        Links are changed themselves, never followed (``lchown``); called before any code of that
        identity runs there.
        """
        path.mkdir(parents=True, exist_ok=True)
        if identity is None:
            return
        os.lchown(path, identity.uid, identity.gid)
        os.chmod(path, 0o700)
        for _top, dirs, files, top_fd in os.fwalk(path, follow_symlinks=False):
            for name in dirs + files:
                os.chown(name, identity.uid, identity.gid, dir_fd=top_fd, follow_symlinks=False)

    @contextlib.contextmanager
    def scratch(self, kind: str, identity: Identity | None) -> Iterator[Path]:
        """A fresh directory ``<sandbox>/<kind>/<random>`` of ``identity``'s, removed afterwards."""
        parent = self.server_dir(self.root / kind)
        path = Path(tempfile.mkdtemp(dir=parent))
        try:
            self.hand_over(path, identity)
            yield path
        finally:
            shutil.rmtree(path, ignore_errors=True)


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


# -- the decision at start -------------------------------------------------------------------------


_CHECK = (
    "import subprocess, sys, modelworks.serving.server, modelworks.training; "
    "subprocess.run([sys.executable, '-I', '-c', 'import modelworks.serving'], check=True)"
)


@functools.cache
def _uid_check(uid: int, executable: str, cwd: str) -> str:
    """Empty if ``uid`` can run the model server's imports with ``executable`` and start it again from
    ``sys.executable``; else why not."""
    identity = Identity(uid, uid)
    try:
        done = subprocess.run(
            identity.command([executable, "-I", "-c", _CHECK]),
            cwd=cwd,
            env={**user_environment(), "HOME": cwd},
            capture_output=True,
            text=True,
            timeout=CHECK_TIMEOUT_SECONDS,
            check=False,
            **identity.popen_args(),
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return f"starting {executable} as uid {uid} failed: {exc}"
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or [f"exit code {done.returncode}"]
        return f"uid {uid} cannot run {executable} with Modelworks: {tail[0]}"
    return ""


def _reachable_python(root: Path) -> str:
    """``<root>/python/bin/python3``: the server's interpreter binary with its venv's configuration and
    packages, at a path an unprivileged uid can execute (see the module docstring)."""
    target = root / "python"
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    binary = target / "bin" / "python3"
    real = Path(os.path.realpath(sys.executable))
    binary.parent.mkdir(parents=True, exist_ok=True)
    info = binary.stat() if binary.exists() else None
    if info is None or info.st_size != real.stat().st_size or info.st_mtime < real.stat().st_mtime:
        temporary = binary.with_name("python3.partial")
        shutil.copy2(real, temporary)
        os.chmod(temporary, 0o755)
        os.replace(temporary, binary)
    venv_config = Path(sys.prefix) / "pyvenv.cfg"
    if sys.prefix != sys.base_prefix and venv_config.is_file():
        (target / "pyvenv.cfg").write_text(venv_config.read_text())
        os.chmod(target / "pyvenv.cfg", 0o644)
        site = target / "lib" / version / "site-packages"
        site.parent.mkdir(parents=True, exist_ok=True)
        packages = Path(sysconfig.get_paths()["purelib"])
        if not site.is_symlink() or site.readlink() != packages:
            site.unlink(missing_ok=True)
            site.symlink_to(packages)
    for path in (target, target / "bin", target / "lib", target / "lib" / version):
        if path.is_dir():
            os.chmod(path, 0o755)
    return str(binary)


def decide(settings: Settings) -> Sandbox:
    """The sandbox of this process (logged; a warning when user code is not isolated)."""
    wanted = settings.sandbox_mode
    if wanted == NONE:
        sandbox = Sandbox(settings, NONE, "sandbox_mode is none")
    elif os.geteuid() != 0:
        sandbox = Sandbox(settings, NONE, f"the server runs as uid {os.geteuid()}, not root")
    else:
        sandbox = Sandbox(settings, UID, "per-project unprivileged users")
        sandbox.ensure_root()
        python = sys.executable
        problem = _uid_check(settings.sandbox_uid_base, python, str(sandbox.root))
        if problem:
            try:
                python = _reachable_python(sandbox.root)
            except OSError as exc:
                problem += f"; copying the interpreter into the sandbox failed: {exc}"
            else:
                copied = _uid_check(settings.sandbox_uid_base, python, str(sandbox.root))
                problem = f"{problem}; with a copy of the interpreter: {copied}" if copied else ""
        sandbox = (
            Sandbox(settings, NONE, problem) if problem else Sandbox(settings, UID, sandbox.reason, python)
        )
    if wanted == UID and not sandbox.isolated:
        raise RuntimeError(f"sandbox_mode is uid but user code cannot be isolated: {sandbox.reason}")
    sandbox.ensure_root()
    if sandbox.isolated:
        log.info("user code runs as per-project users below %s", sandbox.root)
    else:
        log.warning(
            "user code is NOT isolated (%s): it runs as the server's user and could read its secrets; %s",
            sandbox.reason,
            "code of several projects is allowed (MODELWORKS_ALLOW_SHARED_USER_CODE)"
            if settings.allow_shared_user_code
            else "only one project's code runs on this host",
        )
    return sandbox


_decided: dict[tuple[Any, ...], Sandbox] = {}


def sandbox_for(settings: Settings) -> Sandbox:
    """The decision for these settings, made once per process (servers and workers call this at
    start; launching code looks it up again)."""
    key = (
        str(settings.sandbox_root),
        str(settings.home),
        settings.sandbox_mode,
        settings.sandbox_uid_base,
        settings.sandbox_uid_count,
        settings.allow_shared_user_code,
    )
    found = _decided.get(key)
    if found is None:
        found = _decided[key] = decide(settings)
    return found
