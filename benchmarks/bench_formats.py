"""Dataset format throughput: export N labeled detection records to COCO, VOC and manifest, and import
the N-line manifests back.

    python benchmarks/bench_formats.py [--sizes 10000,100000] [--only coco-export,manifest-import ...]

Records are generated in memory (3 boxes each, a size each, no image files), so the export figures are
the formats' own cost: building the output and writing it through a LocalObjectStore in a temporary
directory. Each export runs as the export task runs one (``modelworks/transfer/export_task.py``): into a
private staging prefix below its destination (``staging`` option), then published with
``publish_output``; both are timed. The manifest imports read what the manifest exports wrote: with
``annotation-loc`` VOC files (one XML read and parsed per line) and with the boxes inline.

Each scenario runs in a fresh child process, so "peak RSS growth" is that process's peak resident set
(``ru_maxrss``) minus its resident set just before the timed work. Every scenario runs at each of
``--sizes`` (default 10,000 and 100,000 samples) and the table shows both side by side: flat memory
means the growth is the same at both sizes.
Targets: >= 10,000 samples/s for manifest export, COCO export and manifest import, checked at the
largest size (the requirement's 100,000: a run of 10,000 lasts under a second, and its rate says as much
about start-up and the machine's load as about the format).

The load average is printed before and after, and so is the cost of creating a file (2,000 empty files
in a fresh directory): on ext4 without a journal, creating files is several times slower for about 30 s
after many files were deleted anywhere on the file system (the inode allocator skips recently deleted
inodes one by one), which slows the one-file-per-sample exports. Leave a minute between runs.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from modelworks.formats import Annotation, ItemError, Record, exporter, importer  # noqa: E402
from modelworks.storage import LocalObjectStore, ObsPath  # noqa: E402
from modelworks.transfer.staging import publish_output  # noqa: E402

TARGET_PER_S = 10_000.0
LABELS = ["car", "person", "bicycle"]
BUCKET = "bench"
TARGETS = {"coco-export", "manifest-export", "manifest-import", "manifest-import-inline"}


def records(count: int) -> Iterator[Record]:
    """Detection records as the export service hands them over: made one at a time, never kept."""
    for i in range(count):
        width, height = 640 + i % 7, 480 + i % 5
        boxes = []
        for j in range(3):
            x, y = (i * 7 + j * 50) % 400, (i * 3 + j * 40) % 300
            boxes.append(
                Annotation(
                    name=LABELS[(i + j) % 3],
                    type=1,
                    property={
                        "@modelarts:shape": "bndbox",
                        "@modelarts:feature": [[x, y], [x + 120, y + 90]],
                    },
                    creation_time="2024-01-01 10:00:00",
                )
            )
        yield Record(
            source=f"/{BUCKET}/images/{i:06d}.jpg",
            name=f"{i:06d}.jpg",
            usage="TRAIN",
            size=(width, height, 3),
            annotations=boxes,
        )


def rss_kib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def export(store: LocalObjectStore, count: int, fmt: str, dest: str, options: dict[str, object]) -> int:
    """Export into a staging prefix below ``dest`` and publish it there, as the export task does."""
    labels = [{"name": n, "type": 1} for n in LABELS]
    final = ObsPath(BUCKET, dest)
    staging = final.join(".mw-export-bench/")
    summary = exporter(fmt).export(
        store, records(count), staging, dataset_type=1, labels=labels, options={**options, "staging": True}
    )
    publish_output(store, summary.index_files, staging, final)
    return summary.samples


def import_manifest(store: LocalObjectStore, directory: str) -> int:
    read = 0
    manifest = ObsPath(BUCKET, directory + "manifest.manifest")
    for item in importer("manifest").read(store, manifest, dataset_type=1, options={}):
        if isinstance(item, ItemError):
            raise RuntimeError(f"unexpected item error: {item}")
        read += 1
    return read


# name -> (what the timed step does, the untimed scenario that must run first in its own process)
SCENARIOS: dict[str, tuple[Callable[[LocalObjectStore, int], int], str | None]] = {
    "coco-export": (lambda s, n: export(s, n, "COCO", "coco/", {}), None),
    "voc-export": (lambda s, n: export(s, n, "VOC", "voc/", {}), None),
    "manifest-export": (
        lambda s, n: export(s, n, "manifest", "manifest-voc/", {"source_scheme": "s3://"}),
        None,
    ),
    "manifest-export-inline": (
        lambda s, n: export(s, n, "manifest", "manifest-inline/", {"inline_boxes": True}),
        None,
    ),
    "manifest-import": (lambda s, n: import_manifest(s, "manifest-voc/"), "manifest-export"),
    "manifest-import-inline": (lambda s, n: import_manifest(s, "manifest-inline/"), "manifest-export-inline"),
}


def run_scenario(name: str, count: int, directory: str) -> dict[str, float]:
    timed = SCENARIOS[name][0]
    store = LocalObjectStore(directory)
    before = rss_kib()
    start = time.perf_counter()
    done = timed(store, count)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if done != count:
        raise RuntimeError(f"{name}: {done} of {count} samples")
    return {"seconds": seconds, "per_s": count / seconds, "rss_growth_mib": max(0, peak - before) / 1024}


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def file_creation_us(directory: str, count: int = 2000) -> float:
    """Microseconds to create one small file, measured on ``count`` files in a new directory (left for
    the final clean-up: deleting them now would slow down what follows)."""
    probe = tempfile.mkdtemp(prefix="creation-probe-", dir=directory)
    start = time.perf_counter()
    for i in range(count):
        fd = os.open(os.path.join(probe, f"{i}.xml"), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        os.write(fd, b"<annotation/>")
        os.close(fd)
    return (time.perf_counter() - start) / count * 1e6


def child(name: str, count: int, directory: str) -> dict[str, float]:
    result = subprocess.run(
        [sys.executable, __file__, "--scenario", name, "--samples", str(count), "--dir", directory],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise RuntimeError(f"{name} failed:\n{result.stderr}")
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="10000,100000", help="comma-separated sample counts")
    parser.add_argument("--only", default=",".join(SCENARIOS), help="comma-separated scenarios")
    parser.add_argument("--scenario", help=argparse.SUPPRESS)
    parser.add_argument("--samples", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.scenario:
        print(json.dumps(run_scenario(args.scenario, args.samples, args.dir)))
        return 0
    sizes = [int(size) for size in args.sizes.split(",")]
    names = args.only.split(",")
    for name in names:
        if name not in SCENARIOS:
            raise SystemExit(f"unknown scenario {name}; known: {', '.join(SCENARIOS)}")
    print(f"detection samples, 3 boxes each; * = target {TARGET_PER_S:,.0f} samples/s")
    print(f"{'':26s}" + "".join(f" | {f'{size:,} samples':>29s}" for size in sizes))
    print(f"{'':26s}" + " | {:>7s} {:>10s} {:>10s}".format("s", "samples/s", "RSS MiB") * len(sizes))
    missed: list[str] = []
    with tempfile.TemporaryDirectory(prefix="modelworks-bench-formats-") as top:
        print(f"load average {load()}; creating a file takes {file_creation_us(top):.0f} us")
        directories = {size: tempfile.mkdtemp(prefix=f"{size}-", dir=top) for size in sizes}
        ran: dict[int, set[str]] = {size: set() for size in sizes}
        for name in names:
            target = name in TARGETS
            row = f"{'*' if target else ' '} {name:24s}"
            for size in sizes:
                before = SCENARIOS[name][1]
                if before is not None and before not in ran[size]:
                    child(before, size, directories[size])
                    ran[size].add(before)
                result = child(name, size, directories[size])
                ran[size].add(name)
                if target and size == max(sizes) and result["per_s"] < TARGET_PER_S:
                    missed.append(f"{name} ({size:,})")
                row += (
                    f" | {result['seconds']:7.2f} {result['per_s']:10,.0f} {result['rss_growth_mib']:10.1f}"
                )
            print(row, flush=True)
        print(f"load average {load()}; creating a file takes {file_creation_us(top):.0f} us")
    if missed:
        print(f"below target: {', '.join(missed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
