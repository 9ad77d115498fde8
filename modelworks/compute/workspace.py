"""A task's directory on the worker's host, handed to the unprivileged user that runs its code.

    <root>/                           the server's, 0711 (``compute.sandbox``)
      user-job-dir/                   the code (downloaded by the server, then the user's)
      inputs/ outputs/                what the code reads and writes
      pip/                            packages of the code's pip-requirements.txt (pip install --target)
      cache/                          TMPDIR and HOME
      <log>                           everything the task prints, and Modelworks' own notes
      exit_code, process.json         how the task ended; which process group runs it

The server downloads code and inputs (``download_dir``, ``download_input``), then hands ``user-job-dir``,
``inputs``, ``outputs``, ``pip`` and ``cache`` to the project's unprivileged user (``hand_over``), which
runs pip (``install_requirements``) and the code; the log, ``exit_code`` and ``process.json`` stay the
server's, so the code can neither replace them with links nor forge them. Outputs are read back
without following any link (``compute.sandbox.walk_user_files``); what is skipped is noted in the log.

What runs there and how its command and environment are built is the caller's: a training job's
workspace (ModelArts' training-container layout and variables) is ``training.job_workspace``.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from modelworks.compute.sandbox import Identity, Sandbox, user_environment, walk_user_files
from modelworks.errors import InvalidArgument, InvalidJobObsPath
from modelworks.storage import ObjectStore, ObsPath, parse_obs_path

REQUIREMENTS_FILE = "pip-requirements.txt"
PIP_TIMEOUT_SECONDS = 30 * 60
_CHUNK = 1024 * 1024


def base_environment() -> dict[str, str]:
    """What user code inherits from the server's environment: PATH, locale, proxies and pip's
    configuration (``compute.sandbox.user_environment``); never ``MODELWORKS_*`` or other keys."""
    return user_environment()


@dataclass
class Launch:
    """Everything needed to start the task's command."""

    command: list[str]
    cwd: Path
    env: dict[str, str]


USER_DIRS = ("user-job-dir", "inputs", "outputs", "pip", "cache")
"""What the job's user owns (see the module docstring)."""


class Workspace:
    """A task's directory (see the module docstring); ``log`` is the file its output and notes go to."""

    def __init__(
        self, root: Path, log: Path, sandbox: Sandbox | None = None, identity: Identity | None = None
    ):
        self.root = root
        self.sandbox = sandbox
        self.identity = identity
        """Who runs the task's code (None: the server's user); set before the code's directories are
        handed over."""
        self.jobs_dir = root / "user-job-dir"
        self.pip_dir = root / "pip"
        self.cache_dir = root / "cache"
        self.log = log
        self.exit_file = root / "exit_code"
        self.process_file = root / "process.json"

    def note(self, message: str) -> None:
        """Append a ``[Modelworks]`` line to the task's log, so users see what the platform did."""
        self.log.parent.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
        with self.log.open("a", encoding="utf-8") as f:
            f.write(f"[Modelworks] {stamp} {message}\n")

    def reset(self) -> None:
        """Empty everything but the log (a retried preparation starts again from storage)."""
        for child in USER_DIRS:
            shutil.rmtree(self.root / child, ignore_errors=True)
        for leftover in (self.exit_file, self.process_file):
            leftover.unlink(missing_ok=True)
        if self.sandbox is not None:
            self.sandbox.server_dir(self.root)
            self.sandbox.server_dir(self.log.parent)
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self.cache_dir.mkdir(parents=True, exist_ok=True)

    def hand_over(self) -> None:
        """Give the job's directories to its user (after the downloads, before any of its code runs)."""
        for child in USER_DIRS:
            if self.sandbox is not None:
                self.sandbox.hand_over(self.root / child, self.identity)
            else:
                (self.root / child).mkdir(parents=True, exist_ok=True)

    # -- downloads ---------------------------------------------------------------------------------

    @staticmethod
    def _fetch(store: ObjectStore, path: ObsPath, dest: Path) -> None:
        dest.parent.mkdir(parents=True, exist_ok=True)
        local = store.local_path(path)
        if local is not None:
            shutil.copyfile(local, dest)
            return
        with store.open_read(path) as src, dest.open("wb") as out:
            shutil.copyfileobj(src, out, _CHUNK)

    def download_dir(self, store: ObjectStore, prefix: ObsPath, dest: Path, check: Callable[[], None]) -> int:
        """Copy every object below ``prefix`` into ``dest`` (``check`` between objects: it raises to stop);
        returns how many were copied."""
        count = 0
        dest.mkdir(parents=True, exist_ok=True)
        for info in store.list(prefix):
            self._fetch(store, info.path, dest / info.path.relative_to(prefix))
            count += 1
            check()
        return count

    def download_input(self, store: ObjectStore, url: str, dest: Path, check: Callable[[], None]) -> str:
        """Download an input channel; its local path (the file for a file, the directory with "/" for a
        directory)."""
        path = parse_obs_path(url)
        if store.is_file(path):
            target = dest / path.name
            self._fetch(store, path, target)
            return str(target)
        count = self.download_dir(store, path.as_dir(), dest, check)
        if count == 0:
            raise InvalidJobObsPath(f"input {url} has no objects", field="inputs")
        return f"{dest}/"

    def install_requirements(self, code_dir: Path, env: dict[str, str], check: Callable[[], None]) -> None:
        """``pip install --target pip/ -r pip-requirements.txt`` if the code has one; a failure is noted in
        the log (the boot file then runs without those packages), never fatal."""
        requirements = code_dir / REQUIREMENTS_FILE
        if not requirements.is_file():
            return
        self.note(f"installing {REQUIREMENTS_FILE} into {self.pip_dir}")
        # -I: the code directory (cwd, PYTHONPATH) must not shadow modules pip imports (inspect.py ...).
        command = [
            env.get("MA_SCRIPT_INTERPRETER") or "python3",
            "-I", "-m", "pip", "install", "--target", str(self.pip_dir), "-r", str(requirements),
            "--disable-pip-version-check", "--no-input", "--progress-bar", "off",
            "--retries", "1", "--timeout", "15",
        ]  # fmt: skip
        # pip runs the packages' build code: as the job's user, like the boot file.
        user = self.identity.popen_args() if self.identity is not None else {}
        if self.identity is not None:
            command = self.identity.command(command)
        with self.log.open("ab") as log:
            pip = subprocess.Popen(
                command,
                cwd=code_dir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                **user,
            )
        deadline = time.monotonic() + PIP_TIMEOUT_SECONDS
        try:
            while pip.poll() is None:
                check()
                if time.monotonic() > deadline:
                    pip.kill()
                    pip.wait()
                    self.note(f"pip install did not finish in {PIP_TIMEOUT_SECONDS} s and was stopped")
                    return
                time.sleep(0.2)
        except BaseException:
            pip.kill()
            pip.wait()
            raise
        if pip.returncode != 0:
            self.note(
                f"pip install failed (exit code {pip.returncode}; offline?); the boot file runs without "
                f"the packages of {REQUIREMENTS_FILE}"
            )

    # -- uploads -----------------------------------------------------------------------------------

    def upload_outputs(self, store: ObjectStore, outputs: list[tuple[Path, ObsPath]]) -> int:
        """Copy every file under each output's local directory to its storage directory.

        Links are never followed (not even a link to another file of the job): they, and anything
        that is not a regular file of the job's, are skipped with a note in the log.
        """
        count = 0
        owner = self.identity.uid if self.identity is not None else None
        for local, remote in outputs:
            for found in walk_user_files(local, owner):
                if found.data is None:
                    self.note(f"output {found.relative} was not uploaded: {found.skipped}")
                    continue
                try:
                    store.write(remote.as_dir().join(found.relative), found.data)
                    count += 1
                except (InvalidArgument, OSError) as exc:
                    self.note(f"output {found.relative} was not uploaded: {exc}")
        return count
