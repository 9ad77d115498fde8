"""Sample-listing latency on a dataset with 100,000 samples, over signed HTTP on loopback.

    python benchmarks/bench_listing.py [--samples 100000] [--database sqlite|postgres|both] [--requests 300]

The dataset is created over HTTP (from a folder with no images, so its import finds nothing), then its
samples are written straight through the service layer (``modelworks.data.ingest.insert_samples`` with
``IndexedSample`` rows shaped like ``modelworks.data.indexing`` makes them, 5,000 per transaction):
10 labels spread evenly over 80% of the samples, 20% unlabeled. Then, for each case, a few warm-up
requests and ``--requests`` timed ``GET .../data-annotations/samples?limit=100`` calls:

    first page     no filter, offset 0
    label_name     label_name=<one of the 10 labels> (about 8% of the samples)
    unlabeled      sample_state=__NONE__ (about 20% of the samples)
    deep page      no filter, offset = samples / 2

plus a baseline, ``GET .../data-annotations/samples/{id}`` (one sample: authentication, the dataset and
sample lookups, no counting), which shows the fixed cost of any request.

Each latency is measured by the client around one call: signing it with the official
``huaweicloudsdkcore`` signer, sending it, the server's work, and reading the JSON. The signing cost is
measured alone too, so that the server's share is visible. Target: p99 <= 50 ms at 100,000 samples.

On PostgreSQL the cases run twice: "fresh", right after the samples were written, with the planner
statistics the import left (autovacuum is held off for that phase so that the result does not depend on
when its next round happens; ``--fresh-requests`` per case), and then after ``VACUUM ANALYZE`` -- the
steady state once autovacuum has caught up.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.pool import NullPool  # noqa: E402

from benchmarks._common import (  # noqa: E402
    DS,
    BenchmarkError,
    LiveServer,
    SignedClient,
    create_dataset,
    machine_note,
    percentiles,
    server_on,
    wait_import,
)
from modelworks.data.indexing import IndexedSample  # noqa: E402
from modelworks.data.ingest import ensure_labels, insert_samples  # noqa: E402
from modelworks.data.samples import sample_id_for  # noqa: E402
from modelworks.data.tables import Dataset  # noqa: E402
from modelworks.db import Database  # noqa: E402

TARGET_P99_MS = 50.0
LABELS = [f"class_{i:02d}" for i in range(10)]
UNLABELED_SHARE = 0.2
BATCH = 5000
WARMUP = 5
PAGE = 100
BUCKET, FOLDER = "bench", "listing"
SAMPLE_TABLES = ("samples", "sample_labels")


@dataclass
class Case:
    name: str
    path: str
    query: dict[str, Any]
    check: Callable[[dict[str, Any]], str | None]
    """Returns what is wrong with a response body, or None."""


@dataclass
class Result:
    database: str
    case: str
    stats: dict[str, float]
    signing: dict[str, float]
    requests: int
    cpu_ms: float
    """Mean CPU time of this process per request: the client and the server's Python work (and SQLite),
    not PostgreSQL's. Unlike the latencies it hardly grows when other work loads the machine."""

    @property
    def met(self) -> bool:
        return self.stats["p99"] <= TARGET_P99_MS


def make_rows(dataset_id: str, count: int) -> tuple[list[IndexedSample], Counter[str]]:
    """IndexedSample rows as ``indexing.index_image`` builds them; returns them and the label counts.

    The counts are keyed by label name, with "" for the unlabeled samples.
    """
    rng = random.Random(count)
    rows: list[IndexedSample] = []
    counts: Counter[str] = Counter()
    base_time = int(time.time() * 1000) - 86_400_000
    for i in range(count):
        label = None if rng.random() < UNLABELED_SHARE else LABELS[rng.randrange(len(LABELS))]
        counts[label or ""] += 1
        folder = f"/{BUCKET}/{FOLDER}/{label or 'unsorted'}"
        source = f"{folder}/{i:07d}.jpg"
        row = {
            "id": sample_id_for(dataset_id, source),
            "dataset_id": dataset_id,
            "source": source,
            "name": f"{i:07d}.jpg",
            "sample_dir": folder,
            "sample_type": 0,
            "size": 2000 + rng.randrange(3000),
            "sample_time": base_time + i,
            "import_task_id": None,
            "meta": {"@modelarts:import_origin": 0, "@modelarts:size": [64, 64, 3]},
        }
        rows.append(IndexedSample(row, [label] if label else []))
    return rows, counts


def populate(live: LiveServer, dataset_id: str, count: int) -> tuple[Counter[str], str]:
    """Write ``count`` samples through ``insert_samples``, BATCH per commit; returns the label counts
    and the id of one sample."""
    rows, counts = make_rows(dataset_id, count)
    db = Database(live.settings.database_url)
    started = time.perf_counter()
    try:
        for start in range(0, count, BATCH):
            batch = rows[start : start + BATCH]
            with db.session() as session:
                dataset = session.get(Dataset, dataset_id)
                if dataset is None:
                    raise BenchmarkError(f"dataset {dataset_id} vanished")
                ensure_labels(session, dataset, {n for item in batch for n in item.label_names})
                inserted = insert_samples(session, dataset, batch)
                if inserted != len(batch):
                    raise BenchmarkError(f"inserted {inserted} of {len(batch)} samples")
    finally:
        db.dispose()
    print(f"  inserted {count} samples in {time.perf_counter() - started:.1f} s (not timed)", flush=True)
    return counts, str(rows[count // 3].row["id"])


def postgres_admin(url: str, *statements: str) -> None:
    """Run maintenance statements (VACUUM needs autocommit) on the server's PostgreSQL database."""
    engine = create_engine(url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with engine.connect() as conn:
            for statement in statements:
                conn.execute(text(statement))
    finally:
        engine.dispose()


def timed(call: Callable[[], None], times: int, budget_s: float) -> tuple[list[float], float]:
    """Milliseconds per call, for ``times`` calls or until ``budget_s`` seconds have passed, and the
    mean CPU milliseconds this process (client and in-process server threads) spent per call."""
    out: list[float] = []
    deadline = time.perf_counter() + budget_s
    cpu_started = time.process_time()
    for _ in range(times):
        started = time.perf_counter()
        call()
        out.append((time.perf_counter() - started) * 1000)
        if time.perf_counter() > deadline:
            break
    return out, (time.process_time() - cpu_started) * 1000 / max(len(out), 1)


def measure(client: SignedClient, database: str, case: Case, requests: int, budget_s: float) -> Result:
    def call() -> None:
        response = client.get(case.path, **case.query)
        if response.status_code != 200:
            raise BenchmarkError(f"{case.name}: {response.status_code} {response.text[:500]}")
        problem = case.check(response.json())
        if problem:
            raise BenchmarkError(f"{case.name}: {problem}")

    def sign() -> None:
        client.signed("GET", case.path.replace("{project_id}", client.project_id), query=case.query)

    timed(call, WARMUP, budget_s)
    latencies, cpu_ms = timed(call, requests, budget_s)
    signing, _ = timed(sign, max(requests, 100), budget_s)
    return Result(database, case.name, percentiles(latencies), percentiles(signing), len(latencies), cpu_ms)


def page_check(total: int, offset: int = 0) -> Callable[[dict[str, Any]], str | None]:
    expected_page = max(0, min(PAGE, total - offset))

    def check(body: dict[str, Any]) -> str | None:
        if body["sample_count"] != total or len(body["samples"]) != expected_page:
            return (
                f"expected {total} samples ({expected_page} on the page), "
                f"got {body['sample_count']} ({len(body['samples'])})"
            )
        return None

    return check


def cases_for(dataset_id: str, count: int, counts: Counter[str], one_sample: str) -> list[Case]:
    samples = f"{DS}/{dataset_id}/data-annotations/samples"
    label = LABELS[0]
    unlabeled = page_check(counts[""])

    def one(body: dict[str, Any]) -> str | None:
        return None if body.get("sample_id") == one_sample else f"got sample {body.get('sample_id')}"

    return [
        Case("baseline: GET one sample", f"{samples}/{one_sample}", {}, one),
        Case("first page", samples, {"limit": PAGE}, page_check(count)),
        Case(f"label_name={label}", samples, {"limit": PAGE, "label_name": label}, page_check(counts[label])),
        Case("sample_state=__NONE__", samples, {"limit": PAGE, "sample_state": "__NONE__"}, unlabeled),
        Case(
            f"deep page offset={count // 2}",
            samples,
            {"limit": PAGE, "offset": count // 2},
            page_check(count, count // 2),
        ),
    ]


def run(database: str, count: int, requests: int, fresh_requests: int, budget_s: float) -> list[Result]:
    print(f"\n[{database}] {count} samples", flush=True)
    results: list[Result] = []
    with server_on(database) as live:
        folder = live.storage_root / BUCKET / FOLDER
        folder.mkdir(parents=True)
        (folder / "README.md").write_text("no images here: the samples are written directly\n")
        client = live.signed()
        dataset_id = create_dataset(
            client,
            {
                "dataset_name": "bench-listing",
                "dataset_type": 0,
                "data_sources": [{"data_type": 0, "data_path": f"/{BUCKET}/{FOLDER}/"}],
                "work_path": f"/{BUCKET}/output/",
                "work_path_type": 0,
                "labels": [{"name": name, "type": 0} for name in LABELS],
            },
        )
        wait_import(client, dataset_id)
        url = live.settings.database_url
        phases: list[tuple[str, int]] = [(database, requests)]
        if database == "postgres":
            # Hold autovacuum off so that the "fresh" phase sees the statistics the import left.
            postgres_admin(url, *(f"ALTER TABLE {t} SET (autovacuum_enabled = off)" for t in SAMPLE_TABLES))
            if fresh_requests > 0:
                phases.insert(0, ("pg fresh", fresh_requests))
        counts, one_sample = populate(live, dataset_id, count)
        detail = client.get(f"{DS}/{dataset_id}").json()
        if detail["total_sample_count"] != count:
            raise BenchmarkError(f"the dataset has {detail['total_sample_count']} samples, not {count}")
        cases = cases_for(dataset_id, count, counts, one_sample)
        for phase, times in phases:
            if phase == "postgres":
                started = time.perf_counter()
                postgres_admin(
                    url,
                    *(f"ALTER TABLE {t} RESET (autovacuum_enabled)" for t in SAMPLE_TABLES),
                    *(f"VACUUM ANALYZE {t}" for t in SAMPLE_TABLES),
                )
                print(f"  VACUUM ANALYZE took {time.perf_counter() - started:.1f} s (not timed)", flush=True)
            for case in cases:
                results.append(measure(client, phase, case, times, budget_s))
                print_row(results[-1], flush=True)
    return results


HEADER = (
    f"  {'database':<10}{'case':<30}{'n':>5}{'p50':>8}{'p95':>8}{'p99':>8}{'max':>8}"
    f"{'sign p50':>10}{'cpu/req':>9}  p99<={TARGET_P99_MS:.0f}?"
)


def print_row(r: Result, *, flush: bool = False) -> None:
    s = r.stats
    print(
        f"  {r.database:<10}{r.case:<30}{r.requests:>5}{s['p50']:>8.1f}{s['p95']:>8.1f}{s['p99']:>8.1f}"
        f"{s['max']:>8.1f}{r.signing['p50']:>10.3f}{r.cpu_ms:>9.1f}  {'ok' if r.met else 'MISSED'}",
        flush=flush,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--samples", type=int, default=100_000, help="dataset size (default 100000)")
    parser.add_argument("--database", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--requests", type=int, default=300, help="timed requests per case (default 300)")
    parser.add_argument(
        "--fresh-requests",
        type=int,
        default=30,
        help="PostgreSQL only: timed requests per case before VACUUM ANALYZE (default 30; 0 skips)",
    )
    parser.add_argument(
        "--budget", type=float, default=40.0, help="stop a case after this many seconds (default 40)"
    )
    args = parser.parse_args(argv)
    if args.samples < 2 or args.requests < 1 or args.fresh_requests < 0:
        parser.error("--samples must be at least 2, --requests positive, --fresh-requests not negative")
    databases = ("sqlite", "postgres") if args.database == "both" else (args.database,)
    results: list[Result] = []
    print(f"machine: {machine_note()}", flush=True)
    try:
        for database in databases:
            results += run(database, args.samples, args.requests, args.fresh_requests, args.budget)
    except BenchmarkError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(
        f"\nsummary: ms per signed request on loopback, {args.samples} samples, limit={PAGE}, "
        f"target p99 <= {TARGET_P99_MS:.0f} ms"
    )
    print(HEADER)
    for r in results:
        print_row(r)
    print(f"  machine after the runs: {machine_note()}")
    signing = statistics.median(r.signing["p50"] for r in results)
    print(f"  client-side signing alone (huaweicloudsdkcore): {signing:.3f} ms per request (median of p50s)")
    missed = [r for r in results if not r.met]
    print(f"  {len(results) - len(missed)} of {len(results)} cases meet the target")
    for r in missed:
        print(f"    missed: {r.database} / {r.case}: p99 {r.stats['p99']:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
