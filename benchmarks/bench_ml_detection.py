"""Object-detection auto labeling on a generated dataset of real objects on real photos, on this machine.

    python benchmarks/bench_ml_detection.py [--images 600] [--labeled-fraction 0.3] [--threads 2]
                                            [--algorithms fast,accurate] [--seed 0]

Needs the ML packages (see ``tests/ml/conftest.py``), pycocotools and ``apt-get install
dataset-fashion-mnist``. The images (``tests/ml/_detection_data.py``: Fashion-MNIST items of 5
classes pasted onto crops of scikit-learn's two sample photos, 256-320 px, 1-4 objects) are given as
JPEG bytes, as samples are stored; a fixed ``--labeled-fraction`` of them carries the human boxes and
the rest is boxed by ``modelworks.ml.detection.auto_detect`` end to end, from a cold cache directory
(the ONNX exports are made in the run). Reported per algorithm: mAP@0.5 (pycocotools) of the returned
boxes, time and its stages, and how well the hard examples point at the images with a wrong or a
missing box. Target (issue "intelligent tasks"): mAP@0.5 >= 0.55 with 30 % labeled.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from modelworks.ml.detection import Box, DetectionResult, auto_detect  # noqa: E402
from modelworks.ml.detection.boxes import matched, to_array  # noqa: E402
from tests.ml import _detection_data as dd  # noqa: E402

TARGET_MAP = 0.55


def _wrong(truth: list[list[Box]], found: list[list[Box]]) -> np.ndarray:
    """Per image: whether a box is missing, or a returned box matches no true one (IoU 0.5, same label)."""
    out = np.zeros(len(truth), dtype=bool)
    for i, (t_boxes, f_boxes) in enumerate(zip(truth, found, strict=True)):
        t, f = to_array(t_boxes), to_array(f_boxes)
        t_labels, f_labels = np.array([b.label for b in t_boxes]), np.array([b.label for b in f_boxes])
        out[i] = not (matched(t, t_labels, f, f_labels).all() and matched(f, f_labels, t, t_labels).all())
    return out


def _report(
    name: str,
    result: DetectionResult,
    truth: list[list[Box]],
    sizes: list[tuple[int, int]],
    labels: list[str],
    seconds: float,
) -> None:
    score = dd.mean_average_precision(truth, result.boxes, sizes, labels)
    count = sum(len(b) for b in result.boxes)
    line = (
        f"{name:<10} mAP@0.5 {score:.4f}  total {seconds:6.1f} s  boxes {count} (true {sum(map(len, truth))})"
    )
    print(line + f"  features computed {result.computed_features}")
    print(f"{'':<10} " + ", ".join(f"{k} {v:.1f} s" for k, v in result.timings.items()))
    wrong = _wrong(truth, result.boxes)
    hard = result.hard
    if hard.any():
        caught = wrong[hard].sum() / max(wrong.sum(), 1)
        print(
            f"{'':<10} hard examples: {hard.mean():.1%} flagged, catching {caught:.1%} of the"
            f" {wrong.sum()} images with a wrong or missing box; of the flagged"
            f" {wrong[hard].mean():.1%} have one, of the others {wrong[~hard].mean():.1%}"
        )
    verdict = "OK" if score >= TARGET_MAP else "MISSED"
    print(f"{'':<10} target mAP@0.5 >= {TARGET_MAP}: {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--images", type=int, default=600)
    parser.add_argument("--labeled-fraction", type=float, default=0.3)
    parser.add_argument("--threads", type=int, default=2, help="backbone (ONNX Runtime) threads")
    parser.add_argument("--algorithms", default="fast,accurate")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if not dd.available():
        sys.exit("Fashion-MNIST is missing: apt-get install dataset-fashion-mnist")

    start = time.perf_counter()
    data = dd.generate(args.images, seed=args.seed)
    mask = dd.split(data, args.labeled_fraction, seed=args.seed)
    labeled, unlabeled = np.flatnonzero(mask), np.flatnonzero(~mask)
    truth = [data.boxes[i] for i in unlabeled]
    sizes = [Image.open(io.BytesIO(data.images[i])).size for i in unlabeled]
    print(
        f"{len(data.images)} images ({sum(map(len, data.boxes))} objects of {len(data.labels)} classes) "
        f"generated in {time.perf_counter() - start:.1f} s; {len(labeled)} labeled, {len(unlabeled)} to box"
    )
    one, five, _ = os.getloadavg()
    print(f"{os.cpu_count()} CPUs, load average {one:.2f} / {five:.2f} (1 / 5 min)")
    for algorithm in args.algorithms.split(","):
        with tempfile.TemporaryDirectory(prefix="bench-ml-detection-") as scratch:
            start = time.perf_counter()
            result = auto_detect(
                [data.images[i] for i in labeled],
                [data.boxes[i] for i in labeled],
                [data.images[i] for i in unlabeled],
                algorithm=algorithm,
                cache_dir=Path(scratch) / "models",
                threads=args.threads,
            )
            _report(algorithm, result, truth, sizes, data.labels, time.perf_counter() - start)


if __name__ == "__main__":
    main()
