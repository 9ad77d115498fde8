"""The background workers ``modelworks serve`` embeds: in threads of the server, or in a child process.

Three lanes, so that a long training job or auto-labeling run never holds up imports, exports or
versions: data tasks, intelligent tasks, and ``embedded_training_workers`` training lanes.

With ``worker_process`` (the default) they run in a child process, ``modelworks worker --lanes``, that
the server starts, restarts if it dies and stops with itself. Tasks then never compete with requests
for the API process's interpreter lock: an export of thousands of samples costs seconds of CPU, and
in threads of the server it delayed every request (and ``/health``) by up to a few hundred ms. The
child gets the server's settings through its environment and dies with the server (it watches its
parent).
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from modelworks.intelligence.service import INTELLIGENT_TASK_KIND
from modelworks.jobs import Worker
from modelworks.settings import Settings
from modelworks.training.status import TRAINING_JOB_KIND

log = logging.getLogger(__name__)

STOP_GRACE_SECONDS = 30.0
"""Between SIGTERM (running tasks are requeued at their next progress call) and SIGKILL."""
RESTART_PAUSE_SECONDS = 2.0


def start_lanes(db: Any, store: Any, executor: Any, settings: Settings) -> list[Callable[[], None]]:
    """Start the worker lanes as threads of this process; the functions that stop them."""
    long_kinds = {TRAINING_JOB_KIND, INTELLIGENT_TASK_KIND}
    stops = [
        Worker(db, store, executor, settings, exclude_kinds=long_kinds).start_thread(),
        Worker(db, store, executor, settings, kinds={INTELLIGENT_TASK_KIND}).start_thread(),
    ]
    for _ in range(settings.embedded_training_workers):
        stops.append(Worker(db, store, executor, settings, kinds={TRAINING_JOB_KIND}).start_thread())
    return stops


def settings_environment(settings: Settings) -> dict[str, str]:
    """``MODELWORKS_*`` variables that rebuild ``settings`` in another process."""
    out = {}
    for name, value in settings.model_dump().items():
        if isinstance(value, SecretStr):
            text = value.get_secret_value()
            if not text:
                continue
        elif isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, Path):
            text = str(value)
        elif value is None:
            continue
        else:
            text = str(value)
        out[f"MODELWORKS_{name.upper()}"] = text
    return out


class WorkerChild:
    """The child process running the lanes, kept alive while the server runs."""

    def __init__(self, settings: Settings):
        self.settings = settings
        # The child is the server itself in another process: it inherits the server's environment
        # (PATH, locale, proxies ...), with the settings as this server resolved them.
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("MODELWORKS_")},
            **settings_environment(settings),
        }
        self.log_path = settings.home / "logs" / "worker.log"
        self._stop = threading.Event()
        self._process: subprocess.Popen[bytes] | None = None
        self._thread = threading.Thread(target=self._keep_alive, name="worker-child", daemon=True)

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "modelworks.cli.main",
            "worker",
            "--lanes",
            "--parent",
            str(os.getpid()),
        ]

    def start(self) -> Callable[[], None]:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._spawn()
        self._thread.start()
        return self.stop

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def _spawn(self) -> None:
        with self.log_path.open("ab") as out:
            self._process = subprocess.Popen(
                self.command(), env=self.env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
            )
        log.info("background workers run in process %d (log: %s)", self._process.pid, self.log_path)

    def _keep_alive(self) -> None:
        while not self._stop.wait(0.5):
            process = self._process
            if process is None or process.poll() is None:
                continue
            log.warning(
                "the background worker process %d exited with %s; starting another (log: %s)",
                process.pid,
                process.returncode,
                self.log_path,
            )
            if self._stop.wait(RESTART_PAUSE_SECONDS):
                return
            self._spawn()

    def stop(self) -> None:
        self._stop.set()
        process = self._process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def run_lanes_process(settings: Settings, parent_pid: int | None) -> None:
    """``modelworks worker --lanes``: the lanes of :func:`start_lanes` in this process, until SIGTERM
    or SIGINT (running tasks are requeued at their next progress call) or, with ``parent_pid``, until
    that process is gone. The server migrated the database already."""
    from modelworks.iam.secrets import install as install_secrets
    from modelworks.jobs import run_worker_process

    # Tasks that sign content URLs or open sealed keys need the secrets key.
    run_worker_process(
        settings, migrate=False, start_workers=start_lanes, prepare=install_secrets, parent_pid=parent_pid
    )
