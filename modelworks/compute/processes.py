"""A training task's process group: starting it, finding it again, stopping it, measuring it.

Each task runs in a session of its own (``start_new_session``), led by ``_launcher.py``, with its
output going straight to the log file: the group needs nothing from the worker that started it and
survives that worker's restart. ``ProcessInfo`` (host, pid, process group, start time) is what a
later worker needs to adopt it; the start time guards against a reused pid.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psutil

from modelworks.compute.sandbox import Identity

LAUNCHER = Path(__file__).with_name("_launcher.py")
TERMINATE_GRACE_SECONDS = 3.0
"""Between SIGTERM and SIGKILL when a task is terminated."""


def hostname() -> str:
    return socket.gethostname()


@dataclass(frozen=True)
class ProcessInfo:
    host: str
    pid: int
    pgid: int
    create_time: float

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ProcessInfo:
        data: dict[str, Any] = json.loads(text)
        return cls(str(data["host"]), int(data["pid"]), int(data["pgid"]), float(data["create_time"]))


@dataclass(frozen=True)
class Exit:
    """How a task's command ended: its exit status (negative: killed by that signal), or None if unknown."""

    code: int | None


def group_members(pgid: int) -> list[psutil.Process]:
    """The live (not zombie) processes of a process group."""
    members = []
    for proc in psutil.process_iter():
        try:
            if os.getpgid(proc.pid) == pgid and proc.status() != psutil.STATUS_ZOMBIE:
                members.append(proc)
        except (psutil.Error, OSError):
            continue
    return members


def read_exit_file(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


class TaskProcess:
    """A started (``popen`` set) or adopted task process group."""

    def __init__(self, info: ProcessInfo, exit_file: Path, popen: subprocess.Popen[bytes] | None = None):
        self.info = info
        self.exit_file = exit_file
        self.popen = popen

    def _leader_alive(self) -> bool:
        if self.popen is not None:
            return self.popen.poll() is None
        try:
            leader = psutil.Process(self.info.pid)
            return (
                abs(leader.create_time() - self.info.create_time) < 1.0
                and leader.status() != psutil.STATUS_ZOMBIE
            )
        except psutil.Error:
            return False

    def poll(self) -> Exit | None:
        """None while the command runs; then how it ended (from the exit file the launcher wrote)."""
        if self._leader_alive():
            return None
        code = read_exit_file(self.exit_file)
        if code is None and self.popen is not None and self.popen.returncode is not None:
            # The launcher itself was killed (SIGKILL to the group): its status is the best we know.
            code = self.popen.returncode
        return Exit(code)

    def _group_is_ours(self) -> bool:
        """False if the group id now belongs to another process group.

        Linux does not reuse a pid while it names a live process group, so members left after our
        leader died are still ours; only a new leader with our pgid as its pid means reuse.
        """
        try:
            leader = psutil.Process(self.info.pgid)
            return abs(leader.create_time() - self.info.create_time) < 1.0
        except psutil.Error:
            return True

    def signal(self, sig: int) -> None:
        if not self._group_is_ours():
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.info.pgid, sig)

    def wait_gone(self, timeout: float) -> bool:
        """Wait until no process of the group is left; True if none is."""
        deadline = time.monotonic() + timeout
        while True:
            if self.popen is not None:
                self.popen.poll()  # reap the leader so it does not linger as a zombie
            if not self._group_is_ours() or not group_members(self.info.pgid):
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)

    def stop(self, grace: float = TERMINATE_GRACE_SECONDS) -> None:
        """SIGTERM the whole group, then SIGKILL whatever is left after ``grace`` seconds."""
        self.signal(signal.SIGTERM)
        if not self.wait_gone(grace):
            self.signal(signal.SIGKILL)
            self.wait_gone(5.0)

    def kill_leftovers(self) -> None:
        """After the command ended, kill what it left in its group (as the end of a container would)."""
        if self._group_is_ours() and group_members(self.info.pgid):
            self.signal(signal.SIGKILL)
            self.wait_gone(5.0)


def launch(
    command: list[str],
    *,
    cwd: Path,
    env: dict[str, str],
    log_path: Path,
    exit_file: Path,
    cpus: list[int],
    memory_bytes: int,
    identity: Identity | None = None,
) -> TaskProcess:
    """Start ``command`` as the task's process group, output appended to ``log_path``.

    With an ``identity`` (``compute.sandbox``) the command runs as that unprivileged user; the leader
    stays the server's user, sets the limits and records the exit status where the command cannot.
    """
    exit_file.unlink(missing_ok=True)
    argv = [
        sys.executable,
        "-I",
        str(LAUNCHER),
        str(exit_file),
        ",".join(str(c) for c in cpus),
        str(memory_bytes),
        identity.argument() if identity is not None else "",
        "--",
        *command,
    ]
    with log_path.open("ab") as log:
        popen = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )
    try:
        created = psutil.Process(popen.pid).create_time()
    except psutil.Error:
        created = 0.0
    return TaskProcess(ProcessInfo(hostname(), popen.pid, popen.pid, created), exit_file, popen)


class GroupSampler:
    """CPU and memory use of a process group between successive ``sample`` calls."""

    def __init__(self, pgid: int, cores: int, memory_bytes: int):
        self.pgid = pgid
        self.cores = max(1, cores)
        self.memory_bytes = max(1, memory_bytes)
        self._cpu: dict[tuple[int, float], float] = {}
        self._last = time.monotonic()

    def sample(self) -> tuple[float, float, int]:
        """(CPU use in percent of the flavor's cores, memory in percent of its memory, resident bytes).

        A process's CPU time counts from its start the first time it is seen; a child's time counts
        while it lives (not again in its parent's totals once it is reaped).
        """
        now = time.monotonic()
        elapsed = max(now - self._last, 1e-3)
        self._last = now
        used = 0.0
        rss = 0
        seen: dict[tuple[int, float], float] = {}
        for proc in group_members(self.pgid):
            try:
                with proc.oneshot():
                    times = proc.cpu_times()
                    key = (proc.pid, proc.create_time())
                    rss += proc.memory_info().rss
            except psutil.Error:
                continue
            total = times.user + times.system
            used += max(0.0, total - self._cpu.get(key, 0.0))
            seen[key] = total
        self._cpu = seen
        cpu = min(100.0, 100.0 * used / elapsed / self.cores)
        return cpu, 100.0 * rss / self.memory_bytes, rss
