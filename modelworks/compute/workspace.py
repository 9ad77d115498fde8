"""A task's directory on the worker's host, laid out like a ModelArts training container's.

    <sandbox>/jobs/<id>/              the server's, 0711 (``compute.sandbox``)
      user-job-dir/<code dir name>/   the code directory (MA_JOB_DIR is user-job-dir, WORKSPACE the code)
      inputs/<name>_0/                each input channel, downloaded
      outputs/<name>_0/               each output channel, uploaded to its storage path at the end
      pip/                            packages of the code's pip-requirements.txt (pip install --target)
      cache/                          TMPDIR and HOME (the container's /cache)
      logs/worker-0.log               everything the task prints, and Modelworks' own notes
      exit_code, process.json         how the task ended; which process group runs it

The server downloads code and inputs, then hands ``user-job-dir``, ``inputs``, ``outputs``, ``pip`` and
``cache`` to the project's unprivileged user, which runs pip and the boot file; ``logs``, ``exit_code``
and ``process.json`` stay the server's, so the job can neither replace them with links nor forge them
(``MA_LOG_DIR`` is readable, not writable, by the job). Outputs are read back without following any
link (``compute.sandbox.walk_user_files``); what is skipped is noted in the log.

The boot file gets, as the manual describes: each hyperparameter as ``--name=value``; each channel's
local path as ``--name=<path>`` (or, with ``access_method: env``, as the environment variable ``name``);
the ``MA_*``/``VC_*`` variables of a training container; the job's ``environments``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from modelworks.compute.sandbox import Identity, Sandbox, user_environment, walk_user_files
from modelworks.errors import InvalidArgument, InvalidJobObsPath
from modelworks.storage import ObjectStore, ObsPath, parse_obs_path
from modelworks.storage.paths import SYSTEM_BUCKET
from modelworks.training.dataset_inputs import materialise_manifest
from modelworks.training.logs import log_file, open_local_log

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
    def __init__(self, root: Path, sandbox: Sandbox | None = None, identity: Identity | None = None):
        self.root = root
        self.sandbox = sandbox
        self.identity = identity
        """Who runs the job's code (None: the server's user); set before ``prepare``."""
        self.jobs_dir = root / "user-job-dir"
        self.pip_dir = root / "pip"
        self.cache_dir = root / "cache"
        self.log = log_file(root)
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

    # -- the command -------------------------------------------------------------------------------

    def prepare(
        self,
        store: ObjectStore,
        job: dict[str, Any],
        *,
        interpreter: list[str],
        cores: int,
        check: Callable[[], None],
    ) -> Launch:
        """Download code and inputs, install requirements, and build the command and its environment.

        ``job`` holds ``id``, ``algorithm`` (the stored shape) and ``public_endpoint``; channel
        ``local_dir`` values in ``job["algorithm"]`` are updated to this host's paths.
        """
        algorithm = job["algorithm"]
        code = parse_obs_path(algorithm["code_dir"]).as_dir()
        boot = parse_obs_path(algorithm["boot_file"])
        code_local = self.jobs_dir / code.name
        self.note(f"downloading code {code} to {code_local}")
        # A built-in algorithm's code is in the system bucket, put there by the server when the job was
        # created (a user's path there is refused at the request); everything else is read as the
        # job's project may read it.
        code_store = store.unrestricted() if code.bucket == SYSTEM_BUCKET else store
        self.download_dir(code_store, code, code_local, check)
        boot_local = code_local / boot.relative_to(code)
        if not boot_local.is_file():
            raise InvalidArgument(f"boot file {boot} is missing from the code directory", field="boot_file")

        env = base_environment()
        env.update(self._container_env(job, code_local, interpreter, cores))
        args = [f"--{p['name']}={p['value']}" for p in algorithm["parameters"]]
        for inputs in (True, False):
            for channel in algorithm["inputs" if inputs else "outputs"]:
                local = self.root / ("inputs" if inputs else "outputs") / f"{channel['name']}_0"
                channel["local_dir"] = str(local)
                url = channel["remote"]["obs"]["obs_url"]
                if inputs:
                    self.note(f"downloading input {channel['name']} from {url}")
                    if channel["remote"].get("dataset"):
                        value = materialise_manifest(store, url, local, check, self.note)
                    else:
                        value = self.download_input(store, url, local, check)
                else:
                    local.mkdir(parents=True, exist_ok=True)
                    value = f"{local}/"
                if channel.get("access_method") == "env":
                    env[channel["name"]] = value
                else:
                    args.append(f"--{channel['name']}={value}")
        env.update(algorithm.get("environments") or {})
        self.hand_over()
        self.install_requirements(code_local, env, check)
        return Launch([*interpreter, str(boot_local), *args], code_local, env)

    def _container_env(
        self, job: dict[str, Any], code_local: Path, interpreter: list[str], cores: int
    ) -> dict[str, str]:
        logs = self.log.parent
        python_path = os.pathsep.join(str(p) for p in (code_local, self.pip_dir))
        env = {
            "MA_HOME": str(self.root),
            "MA_JOB_DIR": str(self.jobs_dir),
            "MA_MOUNT_PATH": str(self.root),
            "MA_LOG_DIR": str(logs),
            "MA_SCRIPT_INTERPRETER": interpreter[0],
            "WORKSPACE": str(code_local),
            "MA_CURRENT_IP": "127.0.0.1",
            "MA_NUM_GPUS": "0",
            "MA_TASK_NAME": "worker",
            "MA_NUM_HOSTS": "1",
            "VC_TASK_INDEX": "0",
            "VC_WORKER_NUM": "1",
            "VC_WORKER_HOSTS": "localhost",
            "MA_CURRENT_INSTANCE_NAME": f"modelarts-job-{job['id']}-worker-0",
            "MA_APIGW_ENDPOINT": job.get("public_endpoint", ""),
            "PYTHONUNBUFFERED": "1",
            "TMPDIR": str(self.cache_dir),
            "HOME": str(self.cache_dir),
            "PYTHONPATH": python_path,
        }
        # Numeric libraries size their thread pools from the machine, not from the CPU affinity.
        for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            env[name] = str(cores)
        return env

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

    def upload_log(self, store: ObjectStore, target: ObsPath) -> None:
        # Opened as ``read_log`` opens it: a log the job's code swapped for a link is not followed.
        fd = open_local_log(self.log)
        if fd is not None:
            with os.fdopen(fd, "rb") as f:
                store.write(target, f.read())
