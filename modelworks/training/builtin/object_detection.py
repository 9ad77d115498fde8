"""The built-in object detection algorithm, run by ``boot/object_detection.py`` in a training job.

1. reads the images of ``--data_url`` (a dataset version's downloaded manifest, or a directory holding
   one) and their boxes: the PASCAL VOC files the manifest names (``annotation-loc``, downloaded with
   the images) or boxes kept in the manifest itself (``bndbox`` shapes); other shapes are left out
2. splits them: the version's EVAL samples, or a random ``eval_ratio`` of the images with boxes
3. trains the detector of ``modelworks.ml.detection`` (``train_detector``: a CenterNet-style head over
   the frozen EfficientNet-Lite0 pyramid; its ONNX export is made in the job's cache)
4. measures it on the validation split: mAP at IoU 0.5 (COCO's, see ``mean_average_precision``)
5. writes the package: the detector's files (``TrainedDetector.save``: backbone ONNX, head weights,
   ``detector.json`` with the labels), ``config.json`` and ``customize_service.py``
"""

from __future__ import annotations

import importlib
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from modelworks.training.builtin._job import (
    InputError,
    Sample,
    cpu_count,
    parse_arguments,
    read_input,
    run,
    say,
)

PARAMETERS = {"eval_ratio": float, "epochs": int}
DETECTOR = ("modelworks.ml.detection", "train_detector")
"""Where the trained detector this algorithm wraps comes from."""
MIN_IMAGES_PER_LABEL = 5
EVAL_MIN_SCORE = 0.05
"""Boxes scoring at least this count in the validation mAP (a ranked measure: low ones cost nothing)."""
_BOX_SHAPE = "bndbox"
_AUTO = "auto"


def detector_available() -> bool:
    """Whether ``DETECTOR`` can be imported (the catalog's ``is_valid`` checks the same)."""
    module_name, attribute = DETECTOR
    try:
        return hasattr(importlib.import_module(module_name), attribute)
    except ImportError:
        return False


def main(argv: Sequence[str] | None = None) -> int:
    return run(_train, argv)


def boxes_of(sample: Sample) -> list[Any] | None:
    """The human boxes of a manifest line as ``Box`` es, or None when it has no box annotation."""
    from modelworks.formats.common import FEATURE, SHAPE
    from modelworks.formats.voc.annotation import VocError, parse_voc
    from modelworks.ml.detection import Box

    found: list[Box] | None = None
    for entry in sample.line.get("annotation") or []:
        if not isinstance(entry, dict) or entry.get("annotated-by") == _AUTO:
            continue
        shapes: list[tuple[str, dict[str, Any]]] = []
        if entry.get("annotation-loc"):
            location = Path(str(entry["annotation-loc"]))
            if not location.is_file():
                raise InputError(f"the annotation file {location} of {sample.source} was not downloaded")
            try:
                document = parse_voc(location.read_bytes())
            except VocError as exc:
                raise InputError(f"{location}: {exc}") from exc
            shapes = [(a.name, a.property) for a in document.annotations]
        elif isinstance(entry.get("property"), dict):
            shapes = [(str(entry.get("name") or ""), entry["property"])]
        else:
            continue
        found = found if found is not None else []
        for name, prop in shapes:
            if prop.get(SHAPE) != _BOX_SHAPE or not name:
                continue
            (xmin, ymin), (xmax, ymax) = prop[FEATURE]
            found.append(Box(name, float(xmin), float(ymin), float(xmax), float(ymax)))
    return found


def split_images(
    samples: list[Sample], eval_ratio: float, seed: int = 0
) -> tuple[list[Sample], list[Sample]]:
    """(train, validation): the version's EVAL samples when it has some, else a random ``eval_ratio``."""
    evaluation = [s for s in samples if s.usage == "EVAL"]
    if evaluation:
        return [s for s in samples if s.usage != "EVAL"], evaluation
    order = np.random.default_rng(seed).permutation(len(samples))
    count = min(len(samples) - 1, max(1, round(eval_ratio * len(samples)))) if len(samples) > 1 else 0
    return [samples[i] for i in sorted(order[count:])], [samples[i] for i in sorted(order[:count])]


def _check(boxes: list[list[Any]]) -> list[str]:
    images: dict[str, int] = {}
    for image_boxes in boxes:
        for label in {b.label for b in image_boxes}:
            images[label] = images.get(label, 0) + 1
    if not images:
        raise InputError("the training images hold no boxes")
    few = [f"{name} ({n})" for name, n in sorted(images.items()) if n < MIN_IMAGES_PER_LABEL]
    if few:
        raise InputError(
            f"training needs boxes of every label on {MIN_IMAGES_PER_LABEL} training images; too few of: "
            + ", ".join(few)
        )
    return sorted(images)


def detection_response(example_label: str = "label") -> dict[str, Any]:
    """The response schema ModelArts documents for object detection (boxes as [ymin, xmin, ymax, xmax])."""
    return {
        "Content-type": "application/json",
        "data": {
            "type": "object",
            "properties": {
                "detection_classes": {
                    "type": "array",
                    "items": [{"type": "string", "example": example_label}],
                },
                "detection_boxes": {
                    "type": "array",
                    "items": [
                        {
                            "type": "array",
                            "minItems": 4,
                            "maxItems": 4,
                            "items": [{"type": "number"}],
                        }
                    ],
                },
                "detection_scores": {"type": "array", "items": [{"type": "number"}]},
            },
        },
    }


def _train(argv: Sequence[str] | None) -> None:
    started = time.monotonic()
    args = parse_arguments(argv, PARAMETERS)
    samples = read_input(args.data_url, folders=False)
    annotated = [(s, b) for s in samples if (b := boxes_of(s)) is not None]
    say(f"{len(samples)} images, {len(annotated)} with boxes")
    if not detector_available():
        raise InputError(
            "the built-in object detection algorithm cannot train in this Modelworks installation: "
            f"{'.'.join(DETECTOR)} (the detector it trains) is not available; use a custom algorithm "
            "(code_dir and boot_file) for detection"
        )
    from modelworks.ml.detection import mean_average_precision, train_detector
    from modelworks.training.builtin.package import dependencies, runtime, write_package

    boxes = {id(s): b for s, b in annotated}
    ratio = args.eval_ratio if args.eval_ratio is not None else 0.2
    train, held = split_images([s for s, _ in annotated], ratio)
    labels = _check([boxes[id(s)] for s in train])
    unseen = sorted({b.label for s in held for b in boxes[id(s)]} - set(labels))
    if unseen:
        raise InputError(f"validation images have labels no training image has: {', '.join(unseen)}")
    n_train = sum(len(boxes[id(s)]) for s in train)
    say(f"{len(train)} training images ({n_train} boxes) and {len(held)} validation images; labels: "
        + ", ".join(labels))  # fmt: skip

    cache = Path(tempfile.gettempdir()) / "efficientnet-lite0"
    clock = time.monotonic()
    detector = train_detector(
        [Path(s.source).read_bytes() for s in train],
        [boxes[id(s)] for s in train],
        epochs=args.epochs,
        cache_dir=cache,
        threads=min(2, cpu_count()),
    )
    say(f"detector trained in {time.monotonic() - clock:.1f} s ({detector.detector.steps_} steps)")
    metrics: dict[str, float] = {}
    if held:
        predicted = detector.predict([Path(s.source).read_bytes() for s in held], min_score=EVAL_MIN_SCORE)
        truth = [boxes[id(s)] for s in held]
        metrics["mAP"] = round(mean_average_precision(truth, predicted, iou=0.5), 6)
        say(f"validation: mAP@0.5 {metrics['mAP']:.4f} on {len(held)} images")
    else:
        say("no validation images: the package carries no metrics")

    staging = Path(args.train_url) / ".detector"
    detector.save(staging)
    files = {p.name: p.read_bytes() for p in sorted(staging.iterdir())}
    shutil.rmtree(staging, ignore_errors=True)
    config = {
        "model_algorithm": "object_detection",
        "model_type": "PyTorch",
        "runtime": runtime("pytorch"),
        "metrics": metrics,
        "apis": [
            {
                "url": "/",
                "method": "post",
                "request": {
                    "Content-type": "multipart/form-data",
                    "data": {"type": "object", "properties": {"images": {"type": "file"}}},
                },
                "response": detection_response(labels[0]),
            }
        ],
        "dependencies": dependencies("numpy", "Pillow", "onnxruntime", "torch"),
    }
    target = write_package(args.train_url, template="object_detection_service.py", config=config, files=files)
    say(f"model package written to {target} in {time.monotonic() - started:.0f} s")
