"""What every built-in's boot process shares: arguments, reading its input, the split, the metrics.

Runs inside the training job's process (the job machinery's command line and environment), never in the
server.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

CONTENT_SCHEME = "content://"
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"})
_AUTO = "auto"


class InputError(Exception):
    """The input cannot be trained on; the message tells the user what to change."""


def say(message: str) -> None:
    """One line of the job's log."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def parse_arguments(argv: Sequence[str] | None, parameters: Mapping[str, type]) -> argparse.Namespace:
    """``--data_url``, ``--train_url`` and the hyperparameters; unknown arguments are ignored (ModelArts
    passes more than an algorithm declares)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--data_url", required=True)
    parser.add_argument("--train_url", required=True)
    for name, kind in parameters.items():
        parser.add_argument(f"--{name}", type=kind)
    args, _ = parser.parse_known_args(argv)
    return args


def cpu_count() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


@dataclass
class Sample:
    """A labeled sample of the input: a local file (images) or its text (texts), and its usage."""

    source: str
    labels: list[str]
    usage: str | None = None
    text: str | None = None
    line: dict[str, Any] = field(default_factory=dict)
    """The manifest line it came from (detection reads its boxes there)."""


def _manifest_of(data_url: str) -> Path | None:
    path = Path(data_url)
    if path.is_file():
        return path
    if path.is_dir():
        found = sorted(path.glob("*.manifest"))
        if len(found) > 1:
            names = ", ".join(p.name for p in found)
            raise InputError(f"the input directory {path} holds several manifests ({names}); give one")
        return found[0] if found else None
    raise InputError(f"the input {data_url} does not exist")


def _label_names(line: dict[str, Any]) -> list[str]:
    """The human (or confirmed) label names of a manifest line, in order, without repeats."""
    names: list[str] = []
    for entry in line.get("annotation") or []:
        if not isinstance(entry, dict) or entry.get("annotated-by") == _AUTO:
            continue
        name = entry.get("name")
        if isinstance(name, str) and name and name not in names:
            names.append(name)
    return names


def read_manifest(path: Path) -> list[Sample]:
    """Every line of a manifest; sources that are not files become paths relative to the manifest."""
    samples = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            line = json.loads(raw)
        except ValueError as exc:
            raise InputError(f"{path}, line {number}: not JSON ({exc})") from exc
        source = str(line.get("source") or "")
        text = None
        if source.startswith(CONTENT_SCHEME):
            text = source[len(CONTENT_SCHEME) :]
        elif "://" in source:
            raise InputError(
                f"{path}, line {number}: the sample {source} is in object storage; give the dataset itself "
                "as the input (remote.dataset), so that its files are downloaded with it"
            )
        elif not os.path.isabs(source):
            source = str(path.parent / source)
        samples.append(Sample(source, _label_names(line), line.get("usage"), text, line))
    return samples


def read_folder(path: Path) -> list[Sample]:
    """An image folder: ``<label>/<image>``."""
    samples = []
    for label_dir in sorted(p for p in path.iterdir() if p.is_dir()):
        for image in sorted(label_dir.iterdir()):
            if image.suffix.lower() in IMAGE_SUFFIXES:
                samples.append(Sample(str(image), [label_dir.name]))
    return samples


def read_input(data_url: str, *, folders: bool) -> list[Sample]:
    """The samples of ``--data_url``: a manifest (what a dataset input gives), a directory holding one,
    or (``folders``) a directory of ``<label>/<image>`` folders."""
    manifest = _manifest_of(data_url)
    if manifest is not None:
        return read_manifest(manifest)
    if folders:
        return read_folder(Path(data_url))
    raise InputError(f"the input {data_url} holds no manifest")


def single_labeled(samples: list[Sample]) -> tuple[list[Sample], int]:
    """The samples with exactly one label, and how many others (unlabeled or multi-label) were left out."""
    kept = [s for s in samples if len(s.labels) == 1]
    return kept, len(samples) - len(kept)


def split(samples: list[Sample], eval_ratio: float, seed: int = 0) -> tuple[list[Sample], list[Sample]]:
    """(train, validation): the version's own TRAIN/EVAL split when it has EVAL samples, else a
    stratified random ``eval_ratio`` of every label (at least one sample of labels with two or more)."""
    evaluation = [s for s in samples if s.usage == "EVAL"]
    if evaluation:
        return [s for s in samples if s.usage != "EVAL"], evaluation
    rng = np.random.default_rng(seed)
    train: list[Sample] = []
    held: list[Sample] = []
    by_label: dict[str, list[Sample]] = {}
    for sample in samples:
        by_label.setdefault(sample.labels[0], []).append(sample)
    for group in by_label.values():
        order = rng.permutation(len(group))
        count = min(len(group) - 1, max(1, round(eval_ratio * len(group)))) if len(group) > 1 else 0
        held += [group[i] for i in order[:count]]
        train += [group[i] for i in order[count:]]
    return train, held


def check_labels(labels: Sequence[str], min_labels: int = 2, min_per_label: int = 5) -> None:
    """Refuse to train on fewer than ``min_labels`` labels or ``min_per_label`` samples of a label."""
    names, counts = np.unique(np.asarray(labels), return_counts=True)
    if len(names) < min_labels:
        raise InputError(
            f"training needs at least {min_labels} labels; the training samples have {len(names)}"
        )
    few = [f"{n} ({c})" for n, c in zip(names.tolist(), counts.tolist(), strict=True) if c < min_per_label]
    if few:
        raise InputError(
            f"training needs {min_per_label} samples of every label; too few of: {', '.join(few)}"
        )


def fit_head(head: Any, features: np.ndarray, samples: list[Sample]) -> Any:
    """Fit a classifier head on one thread: its BLAS calls are small, and threads that contend for the
    job's cores make them many times slower."""
    from threadpoolctl import threadpool_limits

    started = time.monotonic()
    with threadpool_limits(limits=1):
        head.fit(features, np.array([s.labels[0] for s in samples]))
    say(f"classifier head fitted in {time.monotonic() - started:.1f} s")
    return head


def linear_head(head: Any) -> tuple[np.ndarray, np.ndarray]:
    """A fitted ``FastClassifier`` as one linear layer: ``softmax(x @ weights + bias)`` gives its
    probabilities over ``head.classes_`` (temperature folded in; a two-class model's one row expanded)."""
    coef = np.asarray(head.model_.coef_, dtype=np.float64)
    intercept = np.asarray(head.model_.intercept_, dtype=np.float64)
    if coef.shape[0] == 1:  # p(second class) = sigmoid(z) = softmax([0, z])
        coef = np.vstack([np.zeros_like(coef), coef])
        intercept = np.concatenate([[0.0], intercept])
    temperature = float(head.temperature_)
    return (coef.T / temperature).astype(np.float32), (intercept / temperature).astype(np.float32)


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return np.asarray(exp / exp.sum(axis=1, keepdims=True))


def classification_metrics(truth: Sequence[str], predicted: Sequence[str]) -> dict[str, float]:
    """Accuracy, and precision, recall and F1 averaged over the labels (macro), as config.json's metrics."""
    truth_a, predicted_a = np.asarray(truth), np.asarray(predicted)
    labels = sorted(set(truth_a.tolist()))
    precision, recall, f1 = [], [], []
    for label in labels:
        tp = float(np.sum((predicted_a == label) & (truth_a == label)))
        p = tp / max(float(np.sum(predicted_a == label)), 1.0)
        r = tp / max(float(np.sum(truth_a == label)), 1.0)
        precision.append(p)
        recall.append(r)
        f1.append(2 * p * r / (p + r) if p + r else 0.0)
    return {
        "f1": float(np.mean(f1)),
        "recall": float(np.mean(recall)),
        "precision": float(np.mean(precision)),
        "accuracy": float(np.mean(truth_a == predicted_a)),
    }


def run(main: Any, argv: Sequence[str] | None) -> int:
    """Run a built-in's ``main``: an input the user must fix ends the job with its message (exit code 2)."""
    try:
        main(argv)
    except InputError as exc:
        print(f"ERROR: {exc}", file=sys.stderr, flush=True)
        return 2
    return 0
