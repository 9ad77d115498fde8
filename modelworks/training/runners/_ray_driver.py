"""Entrypoint of a training job submitted to Ray Jobs; see ``modelworks.training.runners.ray``.

    python -I _ray_driver.py SPEC_JSON

SPEC_JSON, written by the server into the job directory, holds ``cwd``, ``env`` (what Modelworks adds
to a node's environment: the training-container variables and the job's ``environments``),
``num_cpus`` (per worker), ``grace_seconds`` and ``workers``: one ``{"name", "argv"}`` per worker.

One worker: its command replaces this process (no Ray import), so the Ray job's log is its output and
the job's exit status is the command's.

Several workers: one Ray actor per worker (``num_cpus`` each, spread over the nodes) runs its command
with the environment a distributed PyTorch script expects (RANK, WORLD_SIZE, LOCAL_RANK,
LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT: worker-0's node and a free port there) and that of a
ModelArts multi-node container (VC_TASK_INDEX, VC_WORKER_NUM, VC_WORKER_HOSTS, MA_NUM_HOSTS,
MA_CURRENT_IP, MA_CURRENT_INSTANCE_NAME). Their output is printed here as ``[worker-i] line``. When a
worker fails, the others are stopped (SIGTERM, then SIGKILL after ``grace_seconds``); so are all of
them when Ray stops the job (SIGTERM to this process). The last line is ``WORKERS_ENDED`` followed by
the exit statuses as JSON; the exit status is 0 when every worker exited 0, else the first failure's.

A worker's command runs in its actor's process group: if the actor dies (this driver was killed), Ray
kills the group and nothing is left behind. Run as a file with the server's interpreter: it joins the
cluster through ``modelworks.compute.ray_cluster`` and needs nothing else of Modelworks'.
"""

import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import Any

import psutil

from modelworks.compute.ray_cluster import join, leave

WORKERS_ENDED = "[Modelworks] workers ended: "
POLL_SECONDS = 0.2


def _status(code: int) -> int:
    """A process exit status for a worker's return code (negative: killed by that signal)."""
    return code if code >= 0 else 128 - code


class WorkerProcess:
    """One worker's command, run by its Ray actor; output is collected until ``drain`` takes it."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[bytes] | None = None
        self.lines: list[str] = []
        self.lock = threading.Lock()
        self.reader: threading.Thread | None = None

    def place(self) -> tuple[str, int]:
        """This node's address, and a port free on it (used when this is the master)."""
        import ray

        ip = ray.util.get_node_ip_address()
        with socket.socket() as s:
            s.bind((ip, 0))
            return ip, int(s.getsockname()[1])

    def start(self, argv: list[str], cwd: str, env: dict[str, str]) -> int:
        self.proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env={**os.environ, **env},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        return self.proc.pid

    def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for raw in iter(self.proc.stdout.readline, b""):
            with self.lock:
                self.lines.append(raw.decode("utf-8", errors="replace"))

    def _others(self) -> list[psutil.Process]:
        """The processes of this actor's group other than the actor: the command and what it started."""
        group, me = os.getpgid(0), os.getpid()
        found = []
        for proc in psutil.process_iter():
            try:
                if proc.pid != me and os.getpgid(proc.pid) == group and proc.status() != psutil.STATUS_ZOMBIE:
                    found.append(proc)
            except (psutil.Error, OSError):
                continue
        return found

    def _signal_others(self, sig: int) -> None:
        for proc in self._others():
            with contextlib.suppress(psutil.Error):
                proc.send_signal(sig)

    def drain(self) -> tuple[list[str], int | None]:
        """(output lines since the last call, the return code once the command ended and all its
        output was read)."""
        assert self.proc is not None and self.reader is not None
        code = self.proc.poll()
        if code is not None and self.reader.is_alive():
            # The command ended: what it left running would hold the output open (and is killed, as the
            # end of a container would kill it).
            self._signal_others(signal.SIGKILL)
            self.reader.join(timeout=5)
        with self.lock:
            lines, self.lines = self.lines, []
        return lines, code

    def stop(self, grace: float) -> int:
        """SIGTERM the command and what it started, SIGKILL what is left after ``grace`` seconds."""
        assert self.proc is not None
        self._signal_others(signal.SIGTERM)
        deadline = time.monotonic() + grace
        while self.proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        self._signal_others(signal.SIGKILL)
        return self.proc.wait()


def run_one(spec: dict) -> None:
    worker = spec["workers"][0]
    os.chdir(spec["cwd"])
    os.execve(worker["argv"][0], worker["argv"], {**os.environ, **spec["env"]})


def worker_env(spec: dict, places: list[tuple[str, int]], index: int) -> dict[str, str]:
    """The environment of worker ``index``: the job's, plus what a distributed script needs."""
    names = [w["name"] for w in spec["workers"]]
    ips = [ip for ip, _ in places]
    ip = ips[index]
    master_ip, master_port = places[0]
    instance = spec["env"].get("MA_CURRENT_INSTANCE_NAME", "").rsplit("-worker-", 1)[0]
    return {
        **spec["env"],
        "RANK": str(index),
        "WORLD_SIZE": str(len(names)),
        "LOCAL_RANK": str(ips[:index].count(ip)),
        "LOCAL_WORLD_SIZE": str(ips.count(ip)),
        "GROUP_RANK": str(index),
        "NODE_RANK": str(index),
        "MASTER_ADDR": master_ip,
        "MASTER_PORT": str(master_port),
        "MA_NUM_HOSTS": str(len(names)),
        "VC_TASK_INDEX": str(index),
        "VC_WORKER_NUM": str(len(names)),
        "VC_WORKER_HOSTS": ",".join(ips),
        "MA_CURRENT_IP": ip,
        "MA_CURRENT_INSTANCE_NAME": f"{instance}-{names[index]}" if instance else names[index],
    }


class Driver:
    def __init__(self, spec: dict):
        self.spec = spec
        self.names = [w["name"] for w in spec["workers"]]
        self.grace = float(spec["grace_seconds"])
        self.stop_requested = False

    def note(self, message: str) -> None:
        print(f"[Modelworks] {message}", flush=True)

    def _wait(self, refs: list) -> list:
        """ray.get that gives way to a stop request (the workers may wait long for resources)."""
        import ray

        while True:
            ready, _ = ray.wait(refs, num_returns=len(refs), timeout=0.5)
            if len(ready) == len(refs):
                return ray.get(refs)
            if self.stop_requested:
                raise SystemExit(_status(-signal.SIGTERM))

    def run(self) -> int:
        # The driver runs inside the cluster (Ray Jobs sets RAY_ADDRESS); ``configure_logging``: Ray's own
        # INFO lines would land in the job's log.
        ray = join("auto", logging_level=logging.WARNING, configure_logging=True)
        try:
            return self._run(ray)
        finally:
            leave()

    def _run(self, ray: Any) -> int:
        signal.signal(signal.SIGTERM, self._on_sigterm)
        remote: Any = ray.remote(WorkerProcess).options(
            num_cpus=self.spec["num_cpus"], scheduling_strategy="SPREAD", max_restarts=0
        )
        count, cpus = len(self.names), self.spec["num_cpus"]
        self.note(f"starting {count} workers of {cpus} CPU(s) each")
        actors: list[Any] = [remote.remote() for _ in self.names]
        places = self._wait([a.place.remote() for a in actors])
        pids = self._wait(
            [
                actor.start.remote(worker["argv"], self.spec["cwd"], worker_env(self.spec, places, i))
                for i, (actor, worker) in enumerate(zip(actors, self.spec["workers"], strict=True))
            ]
        )
        started = ", ".join(
            f"{name} on {ip} (pid {pid})" for name, (ip, _), pid in zip(self.names, places, pids, strict=True)
        )
        self.note(f"{count} workers started: {started}; master {places[0][0]}:{places[0][1]}")
        return self._follow(actors)

    def _on_sigterm(self, *_: object) -> None:
        self.stop_requested = True

    def _follow(self, actors: list) -> int:
        import ray

        codes: dict[str, int] = {}
        first_failure: str | None = None
        stopping = False
        while True:
            results = ray.get([a.drain.remote() for a in actors])
            out = []
            for name, (lines, code) in zip(self.names, results, strict=True):
                out += [f"[{name}] {line}" if line.endswith("\n") else f"[{name}] {line}\n" for line in lines]
                if code is not None and name not in codes:
                    codes[name] = code
                    if code != 0 and first_failure is None and not stopping:
                        first_failure = name
            if out:
                sys.stdout.write("".join(out))
                sys.stdout.flush()
            if len(codes) == len(self.names):
                break
            if (first_failure or self.stop_requested) and not stopping:
                stopping = True
                why = f"{first_failure} failed" if first_failure else "the job is being stopped"
                self.note(f"{why}: stopping the other workers")
                running = [a for a, name in zip(actors, self.names, strict=True) if name not in codes]
                ray.get([a.stop.remote(self.grace) for a in running])
                continue
            time.sleep(POLL_SECONDS)
        ended = {name: codes[name] for name in self.names}
        print(WORKERS_ENDED + json.dumps({"exit_codes": ended, "first_failure": first_failure}), flush=True)
        if first_failure is not None:
            return _status(codes[first_failure])
        if self.stop_requested:
            return _status(-signal.SIGTERM)
        return 0


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: _ray_driver.py SPEC_JSON", file=sys.stderr)
        return 2
    with open(argv[0], encoding="utf-8") as f:
        spec = json.load(f)
    if len(spec["workers"]) == 1:
        run_one(spec)
    return Driver(spec).run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
