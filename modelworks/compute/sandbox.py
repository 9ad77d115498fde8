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
import fcntl
import functools
import grp
import json
import logging
import os
import pwd
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from modelworks.compute._identity import USER_UMASK, Identity, setpriv, user_environment
from modelworks.compute._user_files import UserFile, read_user_file, walk_user_files
from modelworks.errors import Forbidden
from modelworks.settings import Settings

__all__ = [
    "AUTO",
    "MODES",
    "NONE",
    "UID",
    "USER_UMASK",
    "Identity",
    "Sandbox",
    "SharedUserCodeRefused",
    "UserFile",
    "decide",
    "read_user_file",
    "sandbox_for",
    "setpriv",
    "user_environment",
    "walk_user_files",
]

log = logging.getLogger(__name__)

UID = "uid"
NONE = "none"
AUTO = "auto"
MODES = (AUTO, UID, NONE)
IDENTITIES_FILE = "identities.json"
SHARED_OWNER = "none-mode-project"
"""Key of ``identities.json`` naming the one project whose code may run in mode ``none``."""
CHECK_TIMEOUT_SECONDS = 120.0


class SharedUserCodeRefused(Forbidden):
    """User code of a second project would run as the server's user (no sandbox on this host)."""


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
