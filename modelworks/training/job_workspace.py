"""A training job's workspace: the task directory laid out like a ModelArts training container's.

    <sandbox>/jobs/<id>/              the server's, 0711 (``compute.sandbox``)
      user-job-dir/<code dir name>/   the code directory (MA_JOB_DIR is user-job-dir, WORKSPACE the code)
      inputs/<name>_0/                each input channel, downloaded
      outputs/<name>_0/               each output channel, uploaded to its storage path at the end
      pip/                            packages of the code's pip-requirements.txt (pip install --target)
      cache/                          TMPDIR and HOME (the container's /cache)
      logs/worker-0.log               everything the task prints, and Modelworks' own notes
      exit_code, process.json         how the task ended; which process group runs it

Downloading, handing the directories to the project's user, pip and reading outputs back are the
generic task directory's (``compute.workspace``); ``MA_LOG_DIR`` is readable, not writable, by the job.

The boot file gets, as the manual describes: each hyperparameter as ``--name=value``; each channel's
local path as ``--name=<path>`` (or, with ``access_method: env``, as the environment variable ``name``;
a dataset channel is its materialised manifest, ``training.dataset_inputs``); the ``MA_*``/``VC_*``
variables of a training container; the job's ``environments``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from modelworks.compute.sandbox import Identity, Sandbox
from modelworks.compute.workspace import Launch, Workspace, base_environment
from modelworks.errors import InvalidArgument
from modelworks.storage import ObjectStore, ObsPath, parse_obs_path
from modelworks.storage.paths import SYSTEM_BUCKET
from modelworks.training.dataset_inputs import materialise_manifest
from modelworks.training.logs import log_file, open_local_log


class JobWorkspace(Workspace):
    """The directory of one training job on the worker's host (see the module docstring)."""

    def __init__(self, root: Path, sandbox: Sandbox | None = None, identity: Identity | None = None):
        super().__init__(root, log_file(root), sandbox, identity)

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
        """The variables a ModelArts training container sets, for this single-node task."""
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

    def upload_log(self, store: ObjectStore, target: ObsPath) -> None:
        """Copy the task's log to ``target`` (nothing when there is no log file)."""
        # Opened as ``read_log`` opens it: a log the job's code swapped for a link is not followed.
        fd = open_local_log(self.log)
        if fd is not None:
            with os.fdopen(fd, "rb") as f:
                store.write(target, f.read())
