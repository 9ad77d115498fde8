"""Indexing throughput: create an image-classification dataset from N small JPEGs and time its import.

    python benchmarks/bench_indexing.py [--images 10000] [--database sqlite|postgres|both] [--repeat 3]

The images (64x64 JPEGs with varied content, spread over a few class folders) are generated once into
a cache directory under the system temp dir and hard-linked (or copied) into the server's local object
store; generating them is not timed. The timed span runs from the signed ``POST /v2/{project_id}/datasets``
until ``GET .../import-tasks`` (polled every 50 ms) reports the import COMPLETED. Target: >= 2,000 images/s.
Each repetition uses a fresh server and database; the median of the repetitions is compared with the target.
"process CPU s" is the CPU time of this process (the in-process server, its worker and the polling client;
not PostgreSQL's) over the timed span: unlike the wall time it hardly changes when the machine is busy.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PIL import Image, ImageDraw  # noqa: E402

from benchmarks._common import (  # noqa: E402
    DS,
    BenchmarkError,
    create_dataset,
    machine_note,
    server_on,
    wait_import,
)

TARGET_IMAGES_PER_S = 2000.0
CLASSES = ("cat", "dog", "bird", "fish", "horse")
SIZE = 64
BUCKET, FOLDER = "bench", "images"


def jpeg(rng: random.Random) -> bytes:
    """A small JPEG with a random background, a few shapes and some noise, so no two are alike."""
    image = Image.new("RGB", (SIZE, SIZE), (rng.randrange(256), rng.randrange(256), rng.randrange(256)))
    draw = ImageDraw.Draw(image)
    for _ in range(rng.randint(2, 5)):
        x0, y0 = rng.randrange(SIZE - 8), rng.randrange(SIZE - 8)
        box = (x0, y0, x0 + rng.randint(4, SIZE - x0), y0 + rng.randint(4, SIZE - y0))
        colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        if rng.random() < 0.5:
            draw.rectangle(box, fill=colour)
        else:
            draw.ellipse(box, fill=colour)
    for _ in range(40):
        image.putpixel((rng.randrange(SIZE), rng.randrange(SIZE)), (rng.randrange(256),) * 3)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=rng.randint(70, 95))
    return out.getvalue()


def image_cache(count: int) -> Path:
    """``<tmp>/modelworks-bench-images/<count>/<class>/<i>.jpg``, generated on the first run only."""
    root = Path(tempfile.gettempdir()) / "modelworks-bench-images" / str(count)
    done = root / ".complete"
    if done.exists():
        return root
    shutil.rmtree(root, ignore_errors=True)
    started = time.perf_counter()
    rng = random.Random(count)
    for cls in CLASSES:
        (root / cls).mkdir(parents=True, exist_ok=True)
    for i in range(count):
        (root / CLASSES[i % len(CLASSES)] / f"{i:06d}.jpg").write_bytes(jpeg(rng))
    done.write_text("ok\n")
    print(f"generated {count} images in {root} ({time.perf_counter() - started:.1f} s, not timed)")
    return root


def place(cache: Path, target: Path) -> None:
    """Hard-link the cached images into the object store (copy across filesystems)."""
    for cls in CLASSES:
        (target / cls).mkdir(parents=True, exist_ok=True)
        for entry in os.scandir(cache / cls):
            try:
                os.link(entry.path, target / cls / entry.name)
            except OSError:
                shutil.copyfile(entry.path, target / cls / entry.name)


def run(database: str, count: int, cache: Path) -> float:
    with server_on(database) as live:
        place(cache, live.storage_root / BUCKET / FOLDER)
        client = live.signed()
        warm = client.get(DS)  # opens the connection and warms the routes; not timed
        if warm.status_code != 200:
            raise BenchmarkError(f"the server answered {warm.status_code}: {warm.text}")
        started, cpu_started = time.perf_counter(), time.process_time()
        dataset_id = create_dataset(
            client,
            {
                "dataset_name": "bench-indexing",
                "dataset_type": 0,
                "data_sources": [{"data_type": 0, "data_path": f"/{BUCKET}/{FOLDER}/"}],
                "work_path": f"/{BUCKET}/output/",
                "work_path_type": 0,
            },
        )
        task = wait_import(client, dataset_id, interval=0.05)
        seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
        detail = client.get(f"{DS}/{dataset_id}").json()
        if detail["total_sample_count"] != count or task["imported_sample_count"] != count:
            raise BenchmarkError(
                f"expected {count} samples, the dataset has {detail['total_sample_count']} "
                f"(import: {task['imported_sample_count']} imported, errors {task['error_files'][:3]})"
            )
        labels = sorted(label["name"] for label in detail.get("labels", []))
        if labels != sorted(CLASSES):
            raise BenchmarkError(f"expected the labels {sorted(CLASSES)}, got {labels}")
    rate = count / seconds
    print(
        f"{database:<8} images={count:>7}  seconds={seconds:7.2f}  images/s={rate:8.0f}  "
        f"process CPU s={cpu_seconds:6.2f}  (total_sample_count={count} verified)",
        flush=True,
    )
    return rate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--images", type=int, default=10_000, help="number of images (default 10000)")
    parser.add_argument("--database", choices=("sqlite", "postgres", "both"), default="sqlite")
    parser.add_argument("--repeat", type=int, default=3, help="runs per database, each on a fresh server")
    args = parser.parse_args(argv)
    if args.images < 1 or args.repeat < 1:
        parser.error("--images and --repeat must be positive")
    databases = ("sqlite", "postgres") if args.database == "both" else (args.database,)
    print(f"machine: {machine_note()}", flush=True)
    try:
        cache = image_cache(args.images)
        summary = []
        for database in databases:
            rates = sorted(run(database, args.images, cache) for _ in range(args.repeat))
            summary.append((database, rates))
        print(f"\nsummary: {args.images} images, {args.repeat} run(s) each", end="")
        print(f", target >= {TARGET_IMAGES_PER_S:,.0f} images/s")
        for database, rates in summary:
            median = statistics.median(rates)
            verdict = "meets" if median >= TARGET_IMAGES_PER_S else "MISSES"
            print(
                f"  {database:<8} median {median:7.0f} images/s  (min {rates[0]:.0f}, max {rates[-1]:.0f})"
                f"  -> {verdict} the target"
            )
        print(f"machine after the runs: {machine_note()}")
    except BenchmarkError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
