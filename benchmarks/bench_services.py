"""Inference latency through the gateway (``/v1/infers/{id}``) against calling the model server directly.

    python benchmarks/bench_services.py [--requests 1000] [--clients 1,8] [--rounds 3] [--database sqlite]

Starts the real server (the app on a loopback port with its embedded workers, as the tests run it),
registers a trivial model (a ``Custom`` package whose ``_inference`` echoes its input, as the service
tests use) and deploys it as a real-time service with one instance. Then the same small JSON request
goes, over keep-alive connections,

    direct   to the instance's own loopback port (what the platform adds nothing to),
    token    through ``POST /v1/infers/{id}`` with an ``X-Auth-Token``,
    ak/sk    through ``POST /v1/infers/{id}`` signed per request by ``huaweicloudsdkcore``,

from 1 and from 8 concurrent clients (threads, one ``httpx.Client`` each). The clients run in a
separate process, so that they do not compete with the server for its interpreter lock. Each case is
split into ``--rounds`` rounds, interleaved with the other cases, so that a change of the machine's
load shifts every case alike. A request is timed from sending to the last byte of the answer; the
AK/SK signature is made before that and timed on its own (it is the client's cost, not the
platform's). Every answer is checked (status 200, the echoed body).

Prints p50, p99 and requests/s for each case and the platform's overhead, p50(gateway) - p50(direct)
at the same concurrency. Target: overhead <= 2 ms at p50. Also the CPU time per request of the API
server's request threads (uvicorn's loop and the thread pool; not the embedded workers' polling) and
of the model server: unlike the latencies, these hardly move with the machine's load, so they are the
figures to compare a code change with. The load average is printed before and after.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import (  # noqa: E402
    BenchmarkError,
    LiveServer,
    SignedClient,
    machine_note,
    percentiles,
    server_on,
)

TARGET_OVERHEAD_MS = 2.0
WARMUP = 20
PAYLOAD: dict[str, Any] = {"data": {"req_data": [{"sepal_length": 5.1, "sepal_width": 3.5, "label": "a"}]}}
KINDS = ("direct", "token", "ak/sk")


@dataclass
class Target:
    """Where and how the client process sends its requests."""

    kind: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    credentials: tuple[str, str, str, str] | None = None
    """(endpoint, ak, sk, project_id) when each request is signed; ``url`` is then the path."""


@dataclass
class Measured:
    latencies_ms: list[float]
    signing_ms: list[float]
    seconds: float
    sent: int
    """Requests sent, the warm-up ones included."""


@dataclass
class Row:
    kind: str
    clients: int
    latencies_ms: list[float] = field(default_factory=list)
    signing_ms: list[float] = field(default_factory=list)
    seconds: float = 0.0
    sent: int = 0
    api_cpu_s: float = 0.0
    model_cpu_s: float = 0.0

    def add(self, measured: Measured, api_cpu_s: float, model_cpu_s: float) -> None:
        self.latencies_ms += measured.latencies_ms
        self.signing_ms += measured.signing_ms
        self.seconds += measured.seconds
        self.sent += measured.sent
        self.api_cpu_s += api_cpu_s
        self.model_cpu_s += model_cpu_s

    @property
    def rate(self) -> float:
        return len(self.latencies_ms) / self.seconds


# -- the client process --------------------------------------------------------------------------------


def measure(target: Target, clients: int, requests: int) -> Measured:
    """``requests`` calls from ``clients`` threads; runs in the client process."""
    import httpx

    from modelworks.serving.gateway import NODELAY

    body = json.dumps(PAYLOAD).encode()
    headers = {"Content-Type": "application/json", **target.headers}
    signer = SignedClient(*target.credentials) if target.credentials else None
    shares = [requests // clients + (1 if i < requests % clients else 0) for i in range(clients)]
    latencies: list[list[float]] = [[] for _ in range(clients)]
    signing: list[list[float]] = [[] for _ in range(clients)]
    errors: list[str] = []
    ready = threading.Barrier(clients + 1)
    done = threading.Barrier(clients + 1)

    def call(http: httpx.Client, index: int, timed: bool) -> None:
        url, sent = target.url, headers
        if signer is not None:
            started = time.perf_counter()
            url, sent, _ = signer.signed("POST", target.url, json_body=PAYLOAD)
            if timed:
                signing[index].append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        response = http.post(url, content=body, headers=sent)
        if timed:
            latencies[index].append((time.perf_counter() - started) * 1000)
        if response.status_code != 200 or response.json() != PAYLOAD:
            raise BenchmarkError(f"{target.kind}: {response.status_code} {response.text[:300]}")

    def client(index: int) -> None:
        transport = httpx.HTTPTransport(socket_options=NODELAY)
        with httpx.Client(transport=transport, timeout=60) as http:
            try:
                for _ in range(WARMUP):
                    call(http, index, False)
            except Exception as exc:
                errors.append(str(exc))
            ready.wait()
            try:
                for _ in range(shares[index]):
                    call(http, index, True)
            except Exception as exc:
                errors.append(str(exc))
            done.wait()

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    ready.wait()
    started = time.perf_counter()
    done.wait()
    seconds = time.perf_counter() - started
    for thread in threads:
        thread.join()
    if errors:
        raise BenchmarkError(errors[0])
    timed = [x for xs in latencies for x in xs]
    return Measured(timed, [x for xs in signing for x in xs], seconds, len(timed) + WARMUP * clients)


# -- the server side -----------------------------------------------------------------------------------


def deploy_echo(server: LiveServer, client: SignedClient) -> tuple[str, int, int]:
    """Publish the echo model and deploy it with one instance; returns the service id, the instance's
    port and its process id."""
    from sqlalchemy import select

    from modelworks.db import Database
    from modelworks.serving.tables import ServiceInstance
    from tests.models._packages import create, put_echo_package, wait_published
    from tests.serving._packages import deploy, model_config, realtime_body, wait_status

    put_echo_package(server, "/bench/echo/")
    model_id = create(client, model_name="echo", model_version="1.0.0", source_location="/bench/echo/")
    wait_published(client, model_id)
    service_id = deploy(client, realtime_body("bench-echo", model_config(model_id)))
    wait_status(client, service_id, "running", timeout=120)
    db = Database(server.settings.database_url)
    try:
        with db.session(readonly=True) as session:
            rows = session.execute(
                select(ServiceInstance.port, ServiceInstance.pid).where(
                    ServiceInstance.service_id == service_id
                )
            ).all()
    finally:
        db.dispose()
    if len(rows) != 1 or rows[0].port is None or rows[0].pid is None:
        raise BenchmarkError(f"expected one running instance, found {rows}")
    return service_id, int(rows[0].port), int(rows[0].pid)


def targets(server: LiveServer, service_id: str, port: int) -> list[Target]:
    from tests._client import get_token

    response = get_token(server.endpoint, server.credentials)
    if response.status_code != 201:
        raise BenchmarkError(f"getting a token failed: {response.status_code} {response.text}")
    token = response.headers["X-Subject-Token"]
    c = server.credentials
    return [
        Target("direct", f"http://127.0.0.1:{port}/"),
        Target("token", f"{server.endpoint}/v1/infers/{service_id}", {"X-Auth-Token": token}),
        Target(
            "ak/sk",
            f"/v1/infers/{service_id}",
            credentials=(server.endpoint, c["ak"], c["sk"], c["project_id"]),
        ),
    ]


def run(database: str, requests: int, clients: list[int], rounds: int) -> list[Row]:
    rows = {(kind, n): Row(kind, n) for n in clients for kind in KINDS}
    with server_on(database) as server, ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
        client = server.signed()
        try:
            started = time.perf_counter()
            service_id, port, pid = deploy_echo(server, client)
            print(
                f"  deployed the echo service in {time.perf_counter() - started:.1f} s (not timed)",
                flush=True,
            )
            model_cpu = process_tree_cpu(pid)
            cases = targets(server, service_id, port)
            for round_ in range(rounds):
                share = requests // rounds + (1 if round_ < requests % rounds else 0)
                for n in clients:
                    for target in cases:
                        api, model = request_threads_cpu(), model_cpu()
                        measured = pool.submit(measure, target, n, share).result()
                        rows[(target.kind, n)].add(measured, request_threads_cpu() - api, model_cpu() - model)
        finally:
            remove_services(server, client)
    return list(rows.values())


def remove_services(server: LiveServer, client: SignedClient) -> None:
    """Delete the deployed services and kill what is left of their instances: model servers outlive the
    server that started them (a restarted server adopts them), and this one's home is about to go."""
    from tests.conftest import wait_for
    from tests.serving._packages import SERVICES
    from tests.serving.conftest import kill_instances

    try:
        for service in client.get(SERVICES).json().get("services", []):
            client.delete(f"{SERVICES}/{service['service_id']}")
        wait_for(lambda: client.get(SERVICES).json().get("total_count") == 0, timeout=30)
    except AssertionError:
        print("  warning: the services were not deleted within 30 s; killing their processes", flush=True)
    finally:
        kill_instances(server.home)


def process_tree_cpu(pid: int) -> Callable[[], float]:
    """CPU seconds so far of process ``pid`` and its descendants (the instance's launcher and the model
    server under it)."""
    import psutil

    root = psutil.Process(pid)

    def cpu() -> float:
        times = [p.cpu_times() for p in (root, *root.children(recursive=True))]
        return float(sum(t.user + t.system for t in times))

    return cpu


def request_threads_cpu() -> float:
    """CPU seconds of the threads of this process that answer requests: uvicorn's (the one that runs
    ``Server.run``, as ``run_server`` starts it) and AnyIO's thread pool; not the background loops
    (workers, supervisor, keepers, the gateway's counters), which would count whatever the load."""
    import psutil

    names = {t.native_id: t.name for t in threading.enumerate()}
    total = 0.0
    for thread in psutil.Process().threads():
        name = names.get(thread.id, "")
        if name.endswith("(run)") or name.startswith("AnyIO worker thread"):
            total += thread.user_time + thread.system_time
    return total


# -- report --------------------------------------------------------------------------------------------


def report(rows: list[Row]) -> None:
    direct = {r.clients: percentiles(r.latencies_ms)["p50"] for r in rows if r.kind == "direct"}
    print(
        f"\n  {'path':<8}{'clients':>8}{'n':>7}{'p50':>8}{'p99':>8}{'req/s':>8}{'overhead p50':>14}"
        f"{'api cpu':>9}{'model cpu':>11}  target"
    )
    for r in rows:
        stats = percentiles(r.latencies_ms)
        if r.kind == "direct":
            overhead, verdict = "", ""
        else:
            extra = stats["p50"] - direct[r.clients]
            overhead = f"{extra:+.2f}"
            verdict = "ok" if extra <= TARGET_OVERHEAD_MS else "MISSED"
        print(
            f"  {r.kind:<8}{r.clients:>8}{len(r.latencies_ms):>7}{stats['p50']:>8.2f}{stats['p99']:>8.2f}"
            f"{r.rate:>8.0f}{overhead:>14}{r.api_cpu_s / r.sent * 1000:>9.2f}"
            f"{r.model_cpu_s / r.sent * 1000:>11.2f}  {verdict}"
        )
    signing = [x for r in rows for x in r.signing_ms]
    if signing:
        print(
            f"  client-side signing (huaweicloudsdkcore, not in the latencies above): "
            f"p50 {statistics.median(signing):.3f} ms per request"
        )
    print(
        "  api cpu / model cpu: CPU ms per request (warm-up included) of the API server's request threads\n"
        "  and of the model server's processes"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=1000, help="timed requests per case (default 1000)")
    parser.add_argument("--clients", default="1,8", help="concurrent clients, comma-separated (default 1,8)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds per case (default 3)")
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    args = parser.parse_args(argv)
    clients = [int(n) for n in args.clients.split(",") if n.strip()]
    if args.requests < args.rounds or args.rounds < 1 or not clients or min(clients) < 1:
        parser.error("--requests must be at least --rounds, --rounds and --clients positive")
    print(f"machine: {machine_note()}", flush=True)
    try:
        rows = run(args.database, args.requests, clients, args.rounds)
    except BenchmarkError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    size = len(json.dumps(PAYLOAD))
    print(f"\n[{args.database}] ms per request, echo model, {size}-byte JSON body, keep-alive connections")
    report(rows)
    print(f"  target: overhead <= {TARGET_OVERHEAD_MS:.0f} ms at p50")
    print(f"  machine after the runs: {machine_note()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
