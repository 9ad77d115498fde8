"""Training-job start-up and overhead on the local executor, through the official SDK.

    python benchmarks/bench_training.py [--runs 5] [--seconds 60]

1. Start-up: from ``create_training_job`` (the SDK call) until the job's first log line ("started")
   is readable through ``show_training_job_logs_preview`` (polled every 50 ms); ``--runs`` times,
   median and worst printed. Target (issue 5): < 2 s.
2. Overhead: a CPU-bound script that works for ``--seconds`` seconds of its own clock and prints
   how long it worked, run once by hand (``python script.py``, timed from spawn to exit) and once as a
   training job (timed from the create call until the job reads Completed). Overhead = job time /
   hand time - 1. Target: within 5 % for a 60-second job.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from huaweicloudsdkmodelarts.v1 import JobAlgorithm, JobEngine  # noqa: E402

from benchmarks._common import machine_note, server_on  # noqa: E402
from tests.training._jobs import create_job, details, hyperparameters, job_request, preview, put_files  # noqa: E402
from tests.training._sdk import build_client  # noqa: E402

SCRIPT = """\
import argparse, time
print("started", flush=True)
parser = argparse.ArgumentParser()
parser.add_argument("--seconds", type=float, default=1.0)
args, _ = parser.parse_known_args()
began, n = time.perf_counter(), 0
while time.perf_counter() - began < args.seconds:
    n += sum(i * i for i in range(10000))
print(f"worked {time.perf_counter() - began:.2f} s", flush=True)
"""


def first_log_line(client: object, job_id: str, timeout: float = 60) -> float:
    started = time.perf_counter()
    while "started" not in preview(client, job_id):  # type: ignore[arg-type]
        if time.perf_counter() - started > timeout:
            raise RuntimeError(f"no log line from {job_id} in {timeout} s")
        time.sleep(0.05)
    return time.perf_counter() - started


def wait_completed(client: object, job_id: str, timeout: float) -> None:
    deadline = time.perf_counter() + timeout
    while True:
        phase = details(client, job_id).status.phase  # type: ignore[arg-type]
        if phase == "Completed":
            return
        if phase in ("Failed", "Abnormal", "Terminated") or time.perf_counter() > deadline:
            raise RuntimeError(f"job {job_id} is {phase}")
        time.sleep(0.05)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    print(machine_note())
    with server_on("sqlite") as live:
        client = build_client(live)
        put_files(live, "/bench/code/", {"work.py": SCRIPT})
        algorithm = JobAlgorithm(
            code_dir="/bench/code/",
            boot_file="/bench/code/work.py",
            engine=JobEngine(engine_name="Python"),
            parameters=hyperparameters(seconds=0.2),
        )
        startups = []
        for i in range(args.runs):
            clock = time.perf_counter()
            job_id = create_job(client, job_request(f"startup-{i}", algorithm))
            first_log_line(client, job_id)
            startups.append(time.perf_counter() - clock)
            wait_completed(client, job_id, 60)
        print(
            f"create -> first log line: median {statistics.median(startups):.2f} s, "
            f"worst {max(startups):.2f} s over {args.runs} jobs (target < 2 s)"
        )

        script = live.storage_root / "bench" / "code" / "work.py"
        clock = time.perf_counter()
        subprocess.run(
            [sys.executable, str(script), f"--seconds={args.seconds}"], check=True, capture_output=True
        )
        by_hand = time.perf_counter() - clock
        long_algorithm = JobAlgorithm(
            code_dir="/bench/code/",
            boot_file="/bench/code/work.py",
            engine=JobEngine(engine_name="Python"),
            parameters=hyperparameters(seconds=args.seconds),
        )
        clock = time.perf_counter()
        job_id = create_job(client, job_request("overhead", long_algorithm))
        wait_completed(client, job_id, args.seconds * 3 + 60)
        as_job = time.perf_counter() - clock
        print(
            f"{args.seconds:.0f}-second script: by hand {by_hand:.2f} s, as a training job {as_job:.2f} s, "
            f"overhead {100 * (as_job / by_hand - 1):.1f} % (target within 5 %)"
        )
    print(machine_note())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
