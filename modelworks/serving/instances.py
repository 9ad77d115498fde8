"""Model-server processes of a service on this host: their files, starting, adopting, probing.

Each instance runs ``modelworks.serving.server`` as a process group of its own (led by the training
launcher, which records the exit status), so it outlives the server that started it; its directory
holds what a later supervisor needs to find it again::

    <sandbox>/services/<service_id>/      the server's, 0711 (``compute.sandbox``)
        packages/<model_id>/model/        the model package, copied from storage once per service
                                          (then the project's unprivileged user's, 0700)
        instances/<instance_id>/          the server's, 0711
            process.json                  host, pid, process group, start time (written at launch)
            exit_code                     the exit status, written by the launcher
            instance.log                  the process's output
            run/                          the project's user's, 0700: what the model server writes
                ready.json                {"port", "pid"} once the model is loaded and the port bound
                failure.txt               why the package could not be loaded

The model server runs as the service's project's unprivileged user; the server reads what it wrote
without following links (``compute.sandbox.read_user_file``). A model whose pip dependencies the
server's environment lacks runs with its own packages first on ``PYTHONPATH``, from
``<sandbox>/model-envs/<uid>/`` (``modelworks.models.environments``); the instance's process builds
them first when this host has none yet.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from modelworks.compute.processes import ProcessInfo, TaskProcess, launch
from modelworks.compute.sandbox import Identity, Sandbox, read_user_file
from modelworks.compute.workspace import base_environment
from modelworks.models.environments import with_dependencies
from modelworks.serving.server import LOAD_FAILED_EXIT_CODE
from modelworks.serving.specs import Spec, instance_cpus
from modelworks.serving.tables import ServiceInstance
from modelworks.storage import ObjectStore, parse_obs_path

STOP_GRACE_SECONDS = 3.0
_LOG_TAIL_BYTES = 4096


def service_dir(sandbox_root: Path, service_id: str) -> Path:
    """Below ``settings.sandbox_root``, which the service's unprivileged user can reach."""
    return sandbox_root / "services" / service_id


@dataclass(frozen=True)
class InstanceFiles:
    root: Path

    @property
    def process_file(self) -> Path:
        return self.root / "process.json"

    @property
    def run_dir(self) -> Path:
        """The one directory the model server may write to."""
        return self.root / "run"

    @property
    def ready_file(self) -> Path:
        return self.run_dir / "ready.json"

    @property
    def failure_file(self) -> Path:
        return self.run_dir / "failure.txt"

    @property
    def exit_file(self) -> Path:
        return self.root / "exit_code"

    @property
    def log(self) -> Path:
        return self.root / "instance.log"

    @property
    def sandbox_root(self) -> Path:
        """``instance_files`` puts ``root`` at ``<sandbox>/services/<id>/instances/<id>``."""
        return self.root.parents[3]

    def reset(self, sandbox: Sandbox | None = None, identity: Identity | None = None) -> None:
        """Forget a previous run's outcome (the log is kept and appended to); ``run/`` is made afresh
        for ``identity``."""
        if sandbox is not None:
            sandbox.server_dir(self.root)
        self.root.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(self.run_dir, ignore_errors=True)
        for path in (self.exit_file, self.process_file):
            path.unlink(missing_ok=True)
        if sandbox is not None:
            sandbox.hand_over(self.run_dir, identity)
        self.run_dir.mkdir(exist_ok=True)


def instance_files(sandbox_root: Path, service_id: str, instance_id: str) -> InstanceFiles:
    return InstanceFiles(service_dir(sandbox_root, service_id) / "instances" / instance_id)


def package_dir(sandbox_root: Path, service_id: str, model_id: str) -> Path:
    return service_dir(sandbox_root, service_id) / "packages" / model_id / "model"


def fetch_package(
    store: ObjectStore,
    package: str,
    target: Path,
    sandbox: Sandbox | None = None,
    identity: Identity | None = None,
) -> int:
    """Copy the model package at OBS path ``package`` into ``target`` once; returns the files copied.

    Copied to a temporary directory renamed into place, so a half-copied package is never used; the
    copy is ``identity``'s (the service's project's user) before it is renamed.
    """
    if target.is_dir():
        return 0
    source = parse_obs_path(package).as_dir()
    if sandbox is not None:
        sandbox.server_dir(target.parent)
    staging = target.with_name(target.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    count = 0
    for info in store.list(source):
        relative = info.path.relative_to(source)
        destination = staging / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        local = store.local_path(info.path)
        if local is not None:
            shutil.copyfile(local, destination)
        else:
            with store.open_read(info.path) as src, destination.open("wb") as dst:
                shutil.copyfileobj(src, dst, 1024 * 1024)
        count += 1
    if sandbox is not None:
        sandbox.hand_over(staging, identity)
    staging.rename(target)
    return count


def start(
    files: InstanceFiles,
    model_dir: Path,
    model_name: str,
    spec: Spec,
    slot: int,
    envs: dict[str, str],
    sandbox: Sandbox | None = None,
    identity: Identity | None = None,
) -> TaskProcess:
    """Launch one model server (as ``identity``, None: the server's user); its ``process.json`` is
    written before this returns."""
    files.reset(sandbox, identity)
    env = base_environment()
    env.update(envs)
    env.update(
        {
            "HOME": str(files.run_dir),
            "TMPDIR": str(files.run_dir),
            "PYTHONUNBUFFERED": "1",
            "MODEL_NAME": model_name,
            "MODEL_PATH": str(model_dir),
            "MA_NUM_GPUS": "0",
        }
    )
    # Numeric libraries size their thread pools from the machine, not from the CPU affinity.
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[name] = str(spec.cores)
    python = sandbox.python if sandbox is not None else sys.executable
    command = [
        python,
        "-m",
        "modelworks.serving.server",
        "--model-dir",
        str(model_dir),
        "--model-name",
        model_name,
        "--ready-file",
        str(files.ready_file),
        "--failure-file",
        str(files.failure_file),
    ]
    command, env = with_dependencies(
        command,
        env,
        home=files.sandbox_root,
        identity=identity,
        python=python,
        model_dir=model_dir,
        failure_file=files.failure_file,
        failure_exit_code=LOAD_FAILED_EXIT_CODE,
    )
    process = launch(
        command,
        cwd=model_dir,
        env=env,
        log_path=files.log,
        exit_file=files.exit_file,
        cpus=instance_cpus(spec, slot),
        memory_bytes=0,
        identity=identity,
    )
    files.process_file.write_text(process.info.to_json())
    return process


def adopt(row: ServiceInstance, files: InstanceFiles) -> TaskProcess | None:
    """The process of an instance started by an earlier supervisor, from its row or its process file."""
    info: ProcessInfo | None = None
    if row.pid is not None and row.pgid is not None:
        info = ProcessInfo(row.host or "", row.pid, row.pgid, row.pid_create_time or 0.0)
    elif files.process_file.is_file():
        with contextlib.suppress(OSError, ValueError, KeyError):
            info = ProcessInfo.from_json(files.process_file.read_text())
    return TaskProcess(info, files.exit_file) if info is not None else None


def ready_port(files: InstanceFiles) -> int | None:
    """The port once the instance reported itself ready (``start`` removed an earlier run's file)."""
    data = read_user_file(files.ready_file, 4096)
    try:
        ready = json.loads(data) if data else None
    except ValueError:
        return None
    port = ready.get("port") if isinstance(ready, dict) else None
    return port if isinstance(port, int) else None


def healthy(port: int, timeout: float = 2.0) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/health", timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


def exit_cause(files: InstanceFiles, code: int | None) -> str:
    """Why an instance ended: the load failure it recorded, else its last output line and exit status."""
    data = read_user_file(files.failure_file, 4096)
    text = data.decode("utf-8", errors="replace").strip() if data else ""
    if text:
        return text
    status = _describe_code(code)
    last = _last_log_line(files.log)
    return f"{status}: {last}" if last else status


def _describe_code(code: int | None) -> str:
    if code is None:
        return "the process ended without an exit status (it was killed with its launcher)"
    if code < 0:
        try:
            return f"the process was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"the process was killed by signal {-code}"
    if code == LOAD_FAILED_EXIT_CODE:
        return "the model package could not be loaded"
    return f"the process exited with code {code}"


def _last_log_line(log: Path) -> str:
    try:
        with log.open("rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - _LOG_TAIL_BYTES))
            tail = f.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    lines = [
        line.strip() for line in tail.splitlines() if line.strip() and not line.startswith("[Modelworks]")
    ]
    return lines[-1][:500] if lines else ""


def log_tail(files: InstanceFiles, limit: int = _LOG_TAIL_BYTES) -> str:
    try:
        data = files.log.read_bytes()
    except OSError:
        return ""
    return data[-limit:].decode("utf-8", errors="replace")


def process_fields(process: TaskProcess) -> dict[str, Any]:
    info = process.info
    return {"host": info.host, "pid": info.pid, "pgid": info.pgid, "pid_create_time": info.create_time}
