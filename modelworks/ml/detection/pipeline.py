"""Object-detection auto labeling end to end, over image contents (no database, no storage).

:func:`auto_detect` trains a detector on the human boxes of the labeled images and boxes the
unlabeled ones, with scores and hard-example attributes. Algorithms (``algorithm_type``):

    fast       the head trained for 20 epochs on the labeled images and their mirror images
    accurate   30 epochs; predictions averaged with those on the mirrored image; each box's class
               also asked of a classifier on its crop (:mod:`.rescoring`); the flagged hard examples
               checked against their four augmentations (reasons 19-22, :mod:`.augment`)

Only boxes scoring at least ``min_score`` are returned; at the default 0.2 they number about as many
as the objects (1,009 boxes for 1,056 objects on the benchmark's set). Pseudo-labeling (training again
on the confident boxes of the unlabeled images) was tried for "accurate" and left out: on the
generated set it lowered the mAP of the returned boxes (0.76 against 0.79).

``progress(stage, fraction)`` is called between chunks and epochs; raising from it (e.g. when the task
was stopped) abandons the run, leaving nothing behind but the ONNX exports in ``cache_dir``. Images
are decoded ``chunk_size`` at a time, which bounds the memory large photos take. Backbone maps are
not cached: at 0.15 MB an image (float16) they would cost more to store than the 30-40 ms an image
they take to compute. The maps of the labeled images and their mirror images are held for training,
so at most ``max_labeled`` labeled images (a fixed random subset beyond) are learned from: 1,000 take
0.3 GB.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from modelworks.errors import InvalidArgument
from modelworks.ml.detection.augment import inconsistent_augmentations
from modelworks.ml.detection.backbone import Letterbox, PyramidBackbone, Transform
from modelworks.ml.detection.boxes import Box, clip, mirror, to_array
from modelworks.ml.detection.detector import CenterNetDetector, Detections, Maps
from modelworks.ml.detection.hard import BoxMeasures, DetectionHardExampleMiner, HardDetections, measure_boxes
from modelworks.ml.detection.rescoring import CropClassifier, crops
from modelworks.ml.estimators import check_enough_labels
from modelworks.ml.features.efficientnet import ImageEmbedder
from modelworks.ml.images import AUGMENTATIONS, ImageInput, flip_left_right, open_rgb
from modelworks.ml.quality import measure_quality

Progress = Callable[[str, float], None]


@dataclass(frozen=True)
class DetectionAlgorithm:
    """What an ``algorithm_type`` does (see the module docstring)."""

    epochs: int
    flip_test: bool
    rescore: bool
    augment_hard: bool


ALGORITHMS: dict[str, DetectionAlgorithm] = {
    "fast": DetectionAlgorithm(epochs=20, flip_test=False, rescore=False, augment_hard=False),
    "accurate": DetectionAlgorithm(epochs=30, flip_test=True, rescore=True, augment_hard=True),
}


@dataclass
class DetectionResult:
    """Per unlabeled image, in input order: its boxes (best first; may be empty) and hard attributes."""

    boxes: list[list[Box]]
    hard: np.ndarray
    hard_coefficient: np.ndarray
    hard_reasons: list[list[int]]
    computed_features: int
    timings: dict[str, float] = field(default_factory=dict)


def no_progress(stage: str, fraction: float) -> None:
    pass


def auto_detect(
    labeled: Sequence[ImageInput],
    labeled_boxes: Sequence[Sequence[Box]],
    unlabeled: Sequence[ImageInput],
    *,
    algorithm: str = "fast",
    cache_dir: Path | None = None,
    collect_hard: bool = True,
    max_hard_fraction: float = 0.25,
    confidence_scope: tuple[float, float] | None = None,
    progress: Progress = no_progress,
    augment_hard: bool | None = None,
    min_score: float = 0.2,
    input_size: int = 320,
    threads: int | None = None,
    chunk_size: int = 16,
    max_labeled: int = 1000,
    detector_params: dict[str, Any] | None = None,
) -> DetectionResult:
    """Box ``unlabeled`` images after learning from ``labeled`` ones and their human ``labeled_boxes``.

    Raises :class:`~modelworks.ml.errors.NotEnoughLabels` before any heavy work when a label is on
    fewer than 5 labeled images. Images are letterboxed to ``input_size`` pixels a side. ``threads``
    bounds the backbone's threads (default: 2, or 1 on a one-core machine); the head trains on one
    thread, where a second one gains little and, on a busy machine, costs much. ``augment_hard``
    (default: the algorithm's choice) checks the flagged images against their augmentations.
    ``detector_params`` override :class:`~.detector.CenterNetDetector`'s parameters.
    """
    if len(labeled) != len(labeled_boxes):
        raise InvalidArgument(
            f"{len(labeled)} labeled images but {len(labeled_boxes)} box lists", field="labeled_boxes"
        )
    per_image = [label for boxes in labeled_boxes for label in sorted({b.label for b in boxes})]
    check_enough_labels(np.asarray(per_image, dtype=object), min_labels=1)
    if algorithm not in ALGORITHMS:
        raise InvalidArgument(
            f"no detection algorithm {algorithm!r}; known: {', '.join(ALGORITHMS)}", field="algorithm"
        )
    config = ALGORITHMS[algorithm]
    if len(labeled) > max_labeled:
        chosen = np.sort(np.random.default_rng(0).choice(len(labeled), max_labeled, replace=False))
        labeled = [labeled[int(i)] for i in chosen]
        labeled_boxes = [labeled_boxes[int(i)] for i in chosen]
    threads = threads or min(2, os.cpu_count() or 1)
    run = DetectionRun(
        names=sorted({b.label for boxes in labeled_boxes for b in boxes}),
        config=config,
        backbone=PyramidBackbone(input_size, cache_dir, threads=threads),
        embedder=ImageEmbedder(cache_dir, intra_op_num_threads=threads) if config.rescore else None,
        progress=progress,
        chunk_size=chunk_size,
        collect_hard=collect_hard,
    )
    human = run.read_labeled(labeled, labeled_boxes)
    detector = run.train(human, detector_params or {})
    found = run.detect(detector, unlabeled, min_score)
    kept = [d.take(np.flatnonzero(d.scores >= min_score)) for d in found.detections]
    n = len(unlabeled)
    hard = HardDetections(np.zeros(n, dtype=bool), np.zeros(n), [[] for _ in range(n)])
    if collect_hard and n:
        clock = time.perf_counter()
        progress("hard examples", 0.0)
        miner = DetectionHardExampleMiner(max_fraction=max_hard_fraction, confidence_scope=confidence_scope)
        miner.fit(np.vstack(human.quality), BoxMeasures.concatenate(human.measures))
        near_misses = [d.objectness[d.scores < min_score] for d in found.detections]
        measures = BoxMeasures.concatenate(found.measures)
        args = ([d.scores for d in kept], near_misses, np.vstack(found.quality), measures)
        hard = miner.score(*args)
        if augment_hard if augment_hard is not None else config.augment_hard:
            flagged = np.flatnonzero(hard.hard)
            flags = {name: np.zeros(n, dtype=bool) for name in AUGMENTATIONS}
            for start in range(0, len(flagged), chunk_size):
                progress("hard examples", start / len(flagged))
                rows = flagged[start : start + chunk_size]
                images = [open_rgb(unlabeled[int(i)]) for i in rows]
                originals = [found.detections[int(i)] for i in rows]
                differs = inconsistent_augmentations(run.backbone, detector, images, originals, min_score)
                run.computed += len(differs) * len(images)
                for name, values in differs.items():
                    flags[name][rows] = values
            hard = miner.score(*args, inconsistent=flags)
        run.timings["hard_examples"] = time.perf_counter() - clock
    boxes = [as_boxes(d, run.names) for d in kept]
    return DetectionResult(boxes, hard.hard, hard.coefficient, hard.reasons, run.computed, run.timings)


def as_boxes(detections: Detections, names: Sequence[str]) -> list[Box]:
    """One image's detections (image pixels) as labeled :class:`Box` es, in their order."""
    return [
        Box(names[int(c)], float(x0), float(y0), float(x1), float(y1), float(s))
        for (x0, y0, x1, y1), s, c in zip(
            detections.boxes, detections.scores, detections.classes, strict=True
        )
    ]


@dataclass
class _Labeled:
    """What the run keeps of the labeled images: maps and boxes to train on, crops, hard-example stats."""

    maps: list[Maps] = field(default_factory=list)
    boxes: list[np.ndarray] = field(default_factory=list)  # input pixels, in the order of ``maps``
    classes: list[np.ndarray] = field(default_factory=list)
    crops: list[Image.Image] = field(default_factory=list)
    crop_classes: list[int] = field(default_factory=list)
    quality: list[np.ndarray] = field(default_factory=list)
    measures: list[BoxMeasures] = field(default_factory=list)


@dataclass
class _Found:
    """Per unlabeled image its detections (image pixels, best first), and its hard-example stats."""

    detections: list[Detections] = field(default_factory=list)
    quality: list[np.ndarray] = field(default_factory=list)
    measures: list[BoxMeasures] = field(default_factory=list)


@dataclass
class DetectionRun:
    names: list[str]
    config: DetectionAlgorithm
    backbone: PyramidBackbone
    embedder: ImageEmbedder | None
    progress: Progress
    chunk_size: int
    collect_hard: bool
    computed: int = 0
    timings: dict[str, float] = field(default_factory=dict)
    classifier: CropClassifier | None = None

    def _maps(
        self, images: Sequence[Image.Image], transform: Transform | None = None
    ) -> tuple[Maps, list[Letterbox]]:
        c4, c5, frames = self.backbone.features(images, transform)
        self.computed += len(images)
        return Maps(c4, c5), frames

    def read_labeled(self, labeled: Sequence[ImageInput], labeled_boxes: Sequence[Sequence[Box]]) -> _Labeled:
        """Maps of the labeled images and their mirror images, with the human boxes on both."""
        clock = time.perf_counter()
        index = {name: i for i, name in enumerate(self.names)}
        out = _Labeled()
        for start in range(0, len(labeled), self.chunk_size):
            self.progress("features", start / len(labeled))
            images = [open_rgb(item) for item in labeled[start : start + self.chunk_size]]
            maps, frames = self._maps(images)
            mirrored, _ = self._maps(images, flip_left_right)
            out.maps += [maps, mirrored]
            plain_boxes, mirror_boxes, pixel_boxes = [], [], []
            for image, frame, human in zip(
                images, frames, labeled_boxes[start : start + self.chunk_size], strict=True
            ):
                pixels = clip(to_array(human), image.size)
                real = (pixels[:, 2] - pixels[:, 0] >= 1) & (pixels[:, 3] - pixels[:, 1] >= 1)
                pixels = pixels[real]
                classes = np.array([index[b.label] for b in human], dtype=np.int64)[real]
                plain_boxes.append(frame.to_input(pixels))
                mirror_boxes.append(frame.to_input(mirror(pixels, image.width)))
                out.classes.append(classes)
                pixel_boxes.append(pixels)
                if self.config.rescore:
                    out.crops += crops(image, pixels)
                    out.crop_classes += classes.tolist()
            out.boxes += plain_boxes + mirror_boxes
            if self.collect_hard:
                out.quality.append(measure_quality(images))
                out.measures.append(measure_boxes(images, pixel_boxes))
        self.progress("features", 1.0)
        self.timings["features"] = time.perf_counter() - clock
        return out

    def train(self, human: _Labeled, params: dict[str, Any]) -> CenterNetDetector:
        clock = time.perf_counter()
        # Maps were read chunk by chunk, the plain images' then the mirrored ones'.
        classes = []
        for start in range(0, len(human.classes), self.chunk_size):
            classes += human.classes[start : start + self.chunk_size] * 2
        detector = CenterNetDetector(**{"epochs": self.config.epochs, **params}).fit(
            Maps.concatenate(human.maps),
            human.boxes,
            classes,
            len(self.names),
            progress=lambda fraction: self.progress("training", fraction),
        )
        human.maps.clear()
        if self.embedder is not None:
            self.classifier = CropClassifier(self.embedder)
            self.classifier.fit(human.crops, np.array(human.crop_classes, np.int64), len(self.names))
            self.computed += self.classifier.computed_
            human.crops.clear()
        self.timings["training"] = time.perf_counter() - clock
        return detector

    def detect(
        self, detector: CenterNetDetector, unlabeled: Sequence[ImageInput], min_score: float
    ) -> _Found:
        clock = time.perf_counter()
        out = _Found()
        classifier = self.classifier if self.classifier is not None and self.classifier.fitted_ else None
        for start in range(0, len(unlabeled), self.chunk_size):
            self.progress("prediction", start / len(unlabeled))
            images = [open_rgb(item) for item in unlabeled[start : start + self.chunk_size]]
            maps, frames = self._maps(images)
            flipped = self._maps(images, flip_left_right)[0] if self.config.flip_test else None
            chunk = []
            for image, frame, detections in zip(images, frames, detector.predict(maps, flipped), strict=True):
                detections.boxes = frame.to_image(detections.boxes)
                if classifier is not None:
                    detections = self._rescore(detections, image, classifier, min_score)
                chunk.append(detections.ranked())
            out.detections += chunk
            if self.collect_hard:
                out.quality.append(measure_quality(images))
                kept = [d.boxes[d.scores >= min_score] for d in chunk]
                out.measures.append(measure_boxes(images, kept))
        self.progress("prediction", 1.0)
        self.timings["prediction"] = time.perf_counter() - clock
        return out

    def _rescore(
        self, detections: Detections, image: Image.Image, classifier: CropClassifier, min_score: float
    ) -> Detections:
        """The head's class probabilities averaged with the crop classifier's, for boxes that may be kept."""
        rows = np.flatnonzero(detections.objectness >= min_score)
        if len(rows) == 0:
            return detections
        proba = detections.class_proba.copy()
        proba[rows] = (proba[rows] + classifier.predict_proba(crops(image, detections.boxes[rows]))) / 2
        self.computed += len(rows)
        return Detections(detections.boxes, detections.objectness, proba)
