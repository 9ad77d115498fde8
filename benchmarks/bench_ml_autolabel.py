"""Auto labeling and auto grouping on the full Fashion-MNIST test split (10,000 images), on this machine.

    python benchmarks/bench_ml_autolabel.py [--labeled-fraction 0.05] [--threads 2] [--seed 0]

Needs the ML packages (see ``tests/ml/conftest.py``) and ``apt-get install dataset-fashion-mnist``.
Images are given as PNG bytes, as samples are stored. 5 % of them (balanced over the 10 classes) are
the human labels; the rest is auto labeled by ``modelworks.ml.pipeline.auto_label`` end to end
(features, training, predictions, hard examples; writing labels is the task layer's and not timed):

    fast, cold       a fresh feature cache: features computed for all 10,000 images
    fast, cached     the same run again: no feature computed
    accurate, cold   a fresh cache again; the flagged hard examples also get their 4 augmentations

Then auto grouping (k-means, 10 groups) of all images from the cached features, scored by NMI.
Targets (issue 4): fast >= 0.83 and <= 2 min, accurate >= 0.85 and <= 10 min, hard examples at 25 %
catching >= 72 % of the wrong labels, NMI >= 0.65.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import normalized_mutual_info_score

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from modelworks.ml.features import FeatureCache, ImageEmbedder  # noqa: E402
from modelworks.ml.pipeline import AutoLabelResult, auto_group, auto_label  # noqa: E402
from tests.ml import _fashion_mnist as fm  # noqa: E402


def _report(
    name: str, result: AutoLabelResult, truth: np.ndarray, seconds: float, target: tuple[float, float]
) -> None:
    predicted = np.asarray(result.labels)
    wrong = predicted != truth
    accuracy = 1 - wrong.mean()
    line = f"{name:<16} accuracy {accuracy:.4f}  total {seconds:6.1f} s"
    line += f"  features computed {result.computed_features:5d}"
    print(line + "  (" + ", ".join(f"{k} {v:.1f} s" for k, v in result.timings.items()) + ")")
    if result.hard is not None:
        flagged = result.hard.hard
        caught = wrong[flagged].sum() / max(wrong.sum(), 1)
        by_confidence = wrong[np.argsort(result.scores)[: flagged.sum()]].sum() / max(wrong.sum(), 1)
        print(
            f"{'':<16} hard examples: {flagged.mean():.1%} flagged, catching {caught:.1%} of the "
            f"{wrong.sum()} wrong labels (confidence alone: {by_confidence:.1%})"
        )
    min_accuracy, max_seconds = target
    verdict = "OK" if accuracy >= min_accuracy and seconds <= max_seconds else "MISSED"
    print(f"{'':<16} target accuracy >= {min_accuracy}, time <= {max_seconds:.0f} s: {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--labeled-fraction", type=float, default=0.05)
    parser.add_argument("--threads", type=int, default=2, help="ONNX Runtime intra-op threads")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if not fm.available():
        sys.exit("Fashion-MNIST is missing: apt-get install dataset-fashion-mnist")

    images, labels = fm.load("t10k")
    blobs = fm.png_bytes(images)
    mask = fm.balanced_labeled_mask(labels, args.labeled_fraction, seed=args.seed)
    names = np.array([c.lower() for c in fm.CLASSES])
    labeled = [b for b, m in zip(blobs, mask, strict=True) if m]
    unlabeled = [b for b, m in zip(blobs, mask, strict=True) if not m]
    human = list(names[labels[mask]])
    truth = names[labels[~mask]]
    print(f"Fashion-MNIST test split: {len(blobs)} images, {mask.sum()} labeled, {len(unlabeled)} to label")

    with tempfile.TemporaryDirectory(prefix="bench-ml-") as scratch:
        runs = [("fast, cold", "fast", "a", (0.83, 120.0)), ("fast, cached", "fast", "a", (0.83, 120.0))]
        runs.append(("accurate, cold", "accurate", "b", (0.85, 600.0)))
        for name, algorithm, home, target in runs:
            cache_dir = Path(scratch) / home / "cache"
            embedder = ImageEmbedder(cache_dir / "models", intra_op_num_threads=args.threads)
            start = time.perf_counter()
            result = auto_label(
                embedder,
                labeled,
                human,
                unlabeled,
                algorithm=algorithm,
                cache=FeatureCache(cache_dir / "features"),
            )
            _report(name, result, truth, time.perf_counter() - start, target)

        start = time.perf_counter()
        embedder = ImageEmbedder(Path(scratch) / "a" / "cache" / "models", intra_op_num_threads=args.threads)
        groups = auto_group(
            embedder, blobs, 10, cache=FeatureCache(Path(scratch) / "a" / "cache" / "features")
        )
        nmi = normalized_mutual_info_score(labels, groups)
        seconds = time.perf_counter() - start
        print(
            f"{'auto grouping':<16} NMI {nmi:.4f} with 10 groups ({seconds:.1f} s, cached features);"
            " target >= 0.65"
        )


if __name__ == "__main__":
    main()
