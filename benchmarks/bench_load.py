"""Many concurrent clients on one dataset: lists, details, label updates, imports and exports at once.

    python benchmarks/bench_load.py [--database sqlite|postgres|both] [--clients 50] [--seconds 60]
                                    [--samples 100000] [--think 1.0] [--task-every 5]

The server runs in its own process, as ``modelworks serve`` runs it (uvicorn, the embedded workers,
the default poll interval), so that the load generator does not share its interpreter lock. A dataset
of ``--samples`` samples is written straight into its database (``bench_listing.populate``: 10 labels
on 80 % of the samples; on PostgreSQL followed by ``VACUUM ANALYZE``, the steady state), then for
``--seconds``:

* ``--clients`` labelers (asyncio tasks in this process sharing a keep-alive pool, every request
  signed by ``huaweicloudsdkcore``) loop over a weighted mix, pausing ``--think`` seconds on average
  (uniformly 0 to 2x) between requests, as a person at a labeling screen does:
  ``list`` (``GET .../samples?limit=20``, a random page), ``list label`` (the same with ``label_name``),
  ``detail`` (``GET .../samples/{id}``), and ``update`` (``PUT .../samples`` with the
  ``sample_version`` the client read in its last detail: a 409 means someone else changed the sample
  first, an expected outcome counted apart, not an error);
* one more client submits, every ``--task-every`` seconds, an import task (a folder of 20 new images
  in two label folders) and an export task (the samples of one label, manifest), and polls each until
  it is done (``task poll``); the time from submitting to done is printed per kind;
* a prober, in a process of its own, sends ``GET /health`` every 100 ms.

Prints per operation: count, p50, p99, max (ms), errors and 409s; then all requests together, /health,
requests/s, the server's CPU per request and the load average, next to the targets: **0 errors,
/health p99 < 50 ms, request p99 < 200 ms**. Any answer other than the expected status (503 included)
is an error; the script exits non-zero if there were errors, never because a target was missed.
A quick run: ``--seconds 10 --clients 20 --samples 10000``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx  # noqa: E402

from benchmarks._common import (  # noqa: E402
    BenchmarkError,
    LiveServer,
    create_dataset,
    machine_note,
    percentiles,
    wait_import,
)
from benchmarks.bench_listing import LABELS, make_rows, populate, postgres_admin  # noqa: E402
from modelworks.settings import Settings  # noqa: E402
from tests._pg import fresh_database, postgres_url  # noqa: E402
from tests.conftest import free_port  # noqa: E402

TARGET_HEALTH_P99_MS = 50.0
TARGET_REQUEST_P99_MS = 200.0
PROBE_INTERVAL = 0.1
PAGE = 20
IMPORT_IMAGES = 20
TASK_TIMEOUT = 120.0
MIX = {"list": 25, "list label": 15, "detail": 30, "update": 30}
"""Weights of the labelers' operations (``update`` needs a detail read first; see ``Labeler``)."""
BUCKET = "bench"


# -- the server, in its own process ---------------------------------------------------------------------


@contextmanager
def serve_process(home: Path, database_url: str | None) -> Iterator[tuple[LiveServer, int]]:
    """``modelworks serve`` in a child process; yields the server and its pid, stops it afterwards."""
    port = free_port()
    env = {**os.environ, "MODELWORKS_HOME": str(home), "MODELWORKS_PORT": str(port)}
    env.pop("MODELWORKS_DATABASE_URL", None)
    if database_url:
        env["MODELWORKS_DATABASE_URL"] = database_url
    home.mkdir(parents=True, exist_ok=True)
    log = (home / "server.log").open("wb")
    command = [
        sys.executable,
        "-c",
        "from modelworks.cli.main import app; app()",
        "serve",
    ]
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        endpoint = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                log.flush()
                tail = (home / "server.log").read_text(errors="replace")[-3000:]
                raise BenchmarkError(f"the server exited:\n{tail}")
            try:
                if httpx.get(endpoint + "/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise BenchmarkError("the server did not start in 60 s")
            time.sleep(0.1)
        credentials = json.loads((home / "credentials.json").read_text())
        settings = Settings(
            home=home, port=port, database_url=database_url or f"sqlite:///{home}/modelworks.db"
        )
        yield LiveServer(endpoint, home, settings, credentials), process.pid
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of the server process and its live children (the embedded workers'
    process, model servers), their threads included (Linux /proc)."""
    total = 0.0
    for process in (pid, *(c.pid for c in psutil.Process(pid).children(recursive=True))):
        try:
            fields = Path(f"/proc/{process}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # ended meanwhile
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


# -- what is measured -----------------------------------------------------------------------------------


@dataclass
class Outcomes:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    conflicts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    error_samples: list[str] = field(default_factory=list)
    timeline: list[tuple[float, str, float]] = field(default_factory=list)
    """(start, operation, ms) of every request: when the slow ones happened."""
    task_seconds: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))

    def error(self, op: str, what: str) -> None:
        self.errors[op] += 1
        if len(self.error_samples) < 10:
            self.error_samples.append(f"{op}: {what[:300]}")


class Load:
    """The labelers and the task client, on one asyncio loop of this process."""

    def __init__(self, live: LiveServer, dataset_id: str, sample_ids: list[str], args: argparse.Namespace):
        self.signer = live.signed()
        self.endpoint = live.endpoint
        self.samples = f"/v2/{self.signer.project_id}/datasets/{dataset_id}/data-annotations/samples"
        self.dataset = f"/v2/{self.signer.project_id}/datasets/{dataset_id}"
        self.sample_ids = sample_ids
        self.args = args
        self.storage_root = live.storage_root
        self.out = Outcomes()
        self.stop_at = 0.0
        self.http: httpx.AsyncClient

    async def call(
        self,
        http: httpx.AsyncClient,
        op: str,
        method: str,
        path: str,
        *,
        query: dict[str, Any] | None = None,
        body: Any = None,
        ok: tuple[int, ...] = (200,),
    ) -> httpx.Response | None:
        url, headers, content = self.signer.signed(method, path, query=query, json_body=body)
        started = time.perf_counter()
        try:
            response = await http.request(method, url, headers=headers, content=content or None)
        except httpx.HTTPError as exc:
            self.out.latencies[op].append((time.perf_counter() - started) * 1000)
            self.out.error(op, f"{type(exc).__name__}: {exc}")
            return None
        self.out.latencies[op].append((time.perf_counter() - started) * 1000)
        self.out.timeline.append((started, op, self.out.latencies[op][-1]))
        if response.status_code == 409 and 409 in ok:
            self.out.conflicts[op] += 1
        elif response.status_code not in ok:
            self.out.error(op, f"{response.status_code} {response.text}")
            return None
        return response

    async def labeler(self, seed: int) -> None:
        rng = random.Random(seed)
        ops, weights = list(MIX), list(MIX.values())
        last_read: tuple[str, int] | None = None
        http = self.http
        # Spread the first requests over one think time, as clients do not start in step.
        await asyncio.sleep(rng.uniform(0, self.args.think))
        while time.monotonic() < self.stop_at:
            op = rng.choices(ops, weights)[0]
            if op == "update" and last_read is None:
                op = "detail"
            if op == "list":
                offset = rng.randrange(0, max(1, len(self.sample_ids) - PAGE))
                await self.call(http, op, "GET", self.samples, query={"limit": PAGE, "offset": offset})
            elif op == "list label":
                query = {"limit": PAGE, "offset": rng.randrange(0, 500), "label_name": rng.choice(LABELS)}
                await self.call(http, op, "GET", self.samples, query=query)
            elif op == "detail":
                sample_id = rng.choice(self.sample_ids)
                response = await self.call(http, op, "GET", f"{self.samples}/{sample_id}")
                if response is not None:
                    last_read = (sample_id, int(response.json()["sample_version"]))
            else:
                assert last_read is not None
                sample_id, version = last_read
                item = {
                    "sample_id": sample_id,
                    "sample_version": version,
                    "labels": [{"name": rng.choice(LABELS), "type": 0}],
                }
                await self.call(http, op, "PUT", self.samples, body={"samples": [item]}, ok=(200, 409))
                last_read = None
            await asyncio.sleep(rng.uniform(0, 2 * self.args.think))

    async def task_client(self) -> None:
        rng = random.Random(7)
        batch = 0
        http = self.http
        await asyncio.sleep(min(1.0, self.args.task_every))
        while self.args.task_every > 0 and time.monotonic() < self.stop_at:
            started = time.monotonic()
            batch += 1
            folder = self.write_import_folder(batch)
            body: dict[str, Any] = {"import_type": "dir", "import_path": f"/{BUCKET}/{folder}/"}
            response = await self.call(http, "import", "POST", f"{self.dataset}/import-tasks", body=body)
            if response is not None:
                await self.wait_task(
                    http, "import", f"{self.dataset}/import-tasks/{response.json()['task_id']}"
                )
            body = {
                "path": f"/{BUCKET}/exports/{batch}/",
                "export_type": 3,
                "export_params": {
                    "search_conditions": [{"label_list": {"labels": [{"name": rng.choice(LABELS)}]}}]
                },
            }
            response = await self.call(http, "export", "POST", f"{self.dataset}/export-tasks", body=body)
            if response is not None:
                await self.wait_task(
                    http, "export", f"{self.dataset}/export-tasks/{response.json()['task_id']}"
                )
            next_at = min(started + self.args.task_every, self.stop_at)
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))

    def write_import_folder(self, batch: int) -> str:
        folder = f"imports/batch-{batch:05d}"
        image = self.jpeg
        for i in range(IMPORT_IMAGES):
            target = self.storage_root / BUCKET / folder / LABELS[i % 2] / f"b{batch:05d}-{i:03d}.jpg"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(image)
        return folder

    @property
    def jpeg(self) -> bytes:
        from io import BytesIO

        from PIL import Image

        if not hasattr(self, "_jpeg"):
            buffer = BytesIO()
            Image.new("RGB", (32, 32), (120, 30, 200)).save(buffer, "JPEG")
            self._jpeg = buffer.getvalue()
        return self._jpeg

    async def wait_task(self, http: httpx.AsyncClient, kind: str, path: str) -> None:
        started = time.monotonic()
        while time.monotonic() - started < TASK_TIMEOUT:
            await asyncio.sleep(0.5)
            response = await self.call(http, "task poll", "GET", path)
            if response is None:
                continue
            status = response.json().get("status")
            # Import tasks end COMPLETED, export tasks SUCCESSED (the reference's spelling); both FAILED.
            if status in ("COMPLETED", "SUCCESSED"):
                self.out.task_seconds[kind].append(time.monotonic() - started)
                return
            if status == "FAILED":
                self.out.error(kind, f"the {kind} task failed: {response.text}")
                return
        self.out.error(kind, f"the {kind} task did not finish in {TASK_TIMEOUT:.0f} s")

    async def warm_up(self) -> None:
        """Each labeler's first list and detail, not measured: a fresh server opens its database
        connections and fills its caches on the first requests."""

        async def one(seed: int) -> None:
            await self.call(self.http, "warm-up", "GET", self.samples, query={"limit": PAGE})
            sample_id = random.Random(seed).choice(self.sample_ids)
            await self.call(self.http, "warm-up", "GET", f"{self.samples}/{sample_id}")

        async with self.client():
            await asyncio.gather(*(one(i) for i in range(self.args.clients)))
        errors = self.out.errors.get("warm-up", 0)
        if errors:
            raise BenchmarkError(f"{errors} warm-up requests failed: {self.out.error_samples}")
        self.out = Outcomes()

    @asynccontextmanager
    async def client(self) -> AsyncIterator[None]:
        """One keep-alive pool for every client: a connection each (a client per task would build an
        SSL context each, a burst of CPU in this process that would count as the server's latency)."""
        limits = httpx.Limits(
            max_connections=self.args.clients + 2,
            max_keepalive_connections=self.args.clients + 2,
            # Below uvicorn's 5 s keep-alive timeout: a connection the server is closing is never reused.
            keepalive_expiry=4.0,
        )
        async with httpx.AsyncClient(timeout=60, limits=limits) as http:
            self.http = http
            yield

    async def run(self) -> None:
        async with self.client():
            self.stop_at = time.monotonic() + self.args.seconds
            await asyncio.gather(
                *(self.labeler(i) for i in range(self.args.clients)),
                self.task_client(),
            )


def probe(endpoint: str, seconds: float, results: Any) -> None:
    """``GET /health`` every PROBE_INTERVAL seconds (in its own process); puts (latencies, errors)."""
    latencies: list[float] = []
    errors: list[str] = []
    results.put("ready")  # started and imported: the load may begin (a process start is CPU-heavy)
    stop_at = time.monotonic() + seconds
    next_at = time.monotonic()
    with httpx.Client(timeout=60) as http:
        while time.monotonic() < stop_at:
            started = time.perf_counter()
            try:
                response = http.get(endpoint + "/health")
                if response.status_code != 200:
                    errors.append(f"{response.status_code} {response.text[:200]}")
            except httpx.HTTPError as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
            latencies.append((time.perf_counter() - started) * 1000)
            next_at += PROBE_INTERVAL
            time.sleep(max(0.0, next_at - time.monotonic()))
    results.put((latencies, errors))


# -- one run --------------------------------------------------------------------------------------------


@dataclass
class RunResult:
    database: str
    out: Outcomes
    health: list[float]
    health_errors: list[str]
    seconds: float
    server_cpu: float
    loads: list[float]


def run(database: str, args: argparse.Namespace) -> RunResult:
    print(f"\n[{database}] {args.samples} samples, {args.clients} clients, {args.seconds:.0f} s", flush=True)
    with ExitStack() as stack:
        home = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="modelworks-load-"))) / "home"
        url = None
        if database == "postgres":
            admin = postgres_url()
            if admin is None:
                raise BenchmarkError(
                    "PostgreSQL is not available: install its binaries or set MODELWORKS_TEST_POSTGRES_URL"
                )
            url = stack.enter_context(fresh_database(admin, prefix="mwload"))
        live, pid = stack.enter_context(serve_process(home, url))
        folder = live.storage_root / BUCKET / "listing"
        folder.mkdir(parents=True)
        (folder / "README.md").write_text("no images here: the samples are written directly\n")
        client = live.signed()
        dataset_id = create_dataset(
            client,
            {
                "dataset_name": "bench-load",
                "dataset_type": 0,
                "data_sources": [{"data_type": 0, "data_path": f"/{BUCKET}/listing/"}],
                "work_path": f"/{BUCKET}/output/",
                "work_path_type": 0,
                "labels": [{"name": name, "type": 0} for name in LABELS],
            },
        )
        wait_import(client, dataset_id)
        populate(live, dataset_id, args.samples)
        if url is not None:
            # The steady state autovacuum reaches: statistics and visibility maps up to date. Twice:
            # an autovacuum ANALYZE still running from the inserts holds back the horizon of the first
            # VACUUM, which then leaves the newest rows' pages not all-visible (every deep page would
            # fetch their heap rows).
            for _ in range(2):
                postgres_admin(
                    live.settings.database_url,
                    "VACUUM ANALYZE samples",
                    "VACUUM ANALYZE sample_labels",
                    "VACUUM ANALYZE sample_status_deltas",
                )
                time.sleep(1.0)
        rows, _ = make_rows(dataset_id, args.samples)
        sample_ids = [str(r.row["id"]) for r in rows]
        del rows
        load = Load(live, dataset_id, sample_ids, args)
        asyncio.run(load.warm_up())
        print(f"  server pid {pid}; machine before: {machine_note()}", flush=True)
        loads: list[float] = []
        stop_sampling = threading.Event()

        def sample_load() -> None:
            while not stop_sampling.wait(5.0):
                loads.append(os.getloadavg()[0])

        sampler = threading.Thread(target=sample_load, daemon=True)
        sampler.start()
        ctx = multiprocessing.get_context("spawn")
        queue = ctx.Queue()
        prober = ctx.Process(target=probe, args=(live.endpoint, args.seconds, queue))
        prober.start()
        if queue.get(timeout=60) != "ready":
            raise BenchmarkError("the /health prober did not start")
        cpu_started, started = cpu_seconds(pid), time.monotonic()
        asyncio.run(load.run())
        seconds = time.monotonic() - started
        server_cpu = cpu_seconds(pid) - cpu_started
        health, health_errors = queue.get(timeout=120)
        prober.join(timeout=30)
        stop_sampling.set()
        loads.append(os.getloadavg()[0])
        print(f"  machine after: {machine_note()}", flush=True)
        shutil.rmtree(live.storage_root / BUCKET / "exports", ignore_errors=True)
    return RunResult(database, load.out, health, health_errors, seconds, server_cpu, loads)


def report(r: RunResult) -> int:
    out = r.out
    total = sum(len(v) for v in out.latencies.values())
    every = [x for v in out.latencies.values() for x in v]
    errors = sum(out.errors.values()) + len(r.health_errors)
    cpu_ms = r.server_cpu * 1000 / max(total + len(r.health), 1)
    print(
        f"\n  {r.database}: {total} requests in {r.seconds:.1f} s = {total / r.seconds:.1f} req/s; "
        f"server CPU {r.server_cpu:.1f} s ({cpu_ms:.1f} ms per request); "
        f"load average (1 min) during the run {min(r.loads):.2f}-{max(r.loads):.2f}"
    )
    print(f"  {'operation':<12}{'n':>7}{'p50':>9}{'p99':>9}{'max':>9}{'errors':>8}{'409':>6}")
    for op in [*MIX, "import", "export", "task poll"]:
        values = out.latencies.get(op)
        if not values:
            continue
        s = percentiles(values)
        print(
            f"  {op:<12}{len(values):>7}{s['p50']:>9.1f}{s['p99']:>9.1f}{s['max']:>9.1f}"
            f"{out.errors.get(op, 0):>8}{out.conflicts.get(op, 0):>6}"
        )
    for kind, values in out.task_seconds.items():
        s = percentiles(values)
        print(
            f"  {kind} tasks, submit -> done: {len(values)} tasks, p50 {s['p50']:.2f} s, max {s['max']:.2f} s"
        )
    a = percentiles(every) if every else {"p50": 0.0, "p99": 0.0, "max": 0.0}
    h = percentiles(r.health) if r.health else {"p50": 0.0, "p99": 0.0, "max": 0.0}
    print(
        f"  {'all':<12}{total:>7}{a['p50']:>9.1f}{a['p99']:>9.1f}{a['max']:>9.1f}"
        f"{sum(out.errors.values()):>8}{sum(out.conflicts.values()):>6}"
        f"   target p99 < {TARGET_REQUEST_P99_MS:.0f}: "
        f"{'ok' if a['p99'] < TARGET_REQUEST_P99_MS else 'MISSED'}"
    )
    print(
        f"  {'/health':<12}{len(r.health):>7}{h['p50']:>9.1f}{h['p99']:>9.1f}{h['max']:>9.1f}"
        f"{len(r.health_errors):>8}{'':>6}   target p99 < {TARGET_HEALTH_P99_MS:.0f}: "
        f"{'ok' if h['p99'] < TARGET_HEALTH_P99_MS else 'MISSED'}"
    )
    print(f"  errors: {errors}   target 0: {'ok' if errors == 0 else 'MISSED'}")
    slow: dict[int, list[float]] = defaultdict(list)
    first = min((t for t, _, _ in out.timeline), default=0.0)
    for t, _, ms in out.timeline:
        if ms >= TARGET_REQUEST_P99_MS:
            slow[int(t - first)].append(ms)
    if slow:
        print(
            "  requests over the target by second of the run (second: count, max ms): "
            + ", ".join(f"{sec}: {len(v)}, {max(v):.0f}" for sec, v in sorted(slow.items())[:20])
        )
    for line in out.error_samples + r.health_errors[:5]:
        print(f"    {line}")
    return errors


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--clients", type=int, default=50, help="concurrent labelers (default 50)")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the load (default 60)")
    parser.add_argument("--samples", type=int, default=100_000, help="dataset size (default 100000)")
    parser.add_argument(
        "--think", type=float, default=1.0, help="mean pause between a labeler's requests, s (default 1.0)"
    )
    parser.add_argument(
        "--task-every", type=float, default=5.0, help="an import and an export every N s (default 5; 0: none)"
    )
    args = parser.parse_args(argv)
    if args.clients < 1 or args.seconds <= 0 or args.samples < PAGE or args.think < 0:
        parser.error("--clients and --seconds must be positive, --samples at least 20, --think not negative")
    databases = ("sqlite", "postgres") if args.database == "both" else (args.database,)
    print(f"machine: {machine_note()}", flush=True)
    results: list[RunResult] = []
    try:
        for database in databases:
            results.append(run(database, args))
    except BenchmarkError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(
        f"\nsummary: {args.clients} clients (think {args.think:g} s), {args.seconds:.0f} s, "
        f"{args.samples} samples; latencies in ms, measured by the client"
    )
    errors = sum(report(r) for r in results)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
