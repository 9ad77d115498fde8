"""A detector trained once and kept: :func:`train_detector`, and :class:`TrainedDetector` to save, load
and run it (what a model package of the object detection built-in holds).

Training is ``auto_detect``'s "fast" algorithm (the same code: the labeled images and their mirror
images through the frozen backbone, then the head fitted on their maps). A saved detector is a
directory of three files:

    efficientnet-lite0-pyramid-v1.onnx   the backbone's ONNX export (``PyramidBackbone``'s cache name)
    detector_head.pt                     the head's state dict (``torch.save``)
    detector.json                        label names, input size, the head's parameters, ``min_score``
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from modelworks.errors import InvalidArgument
from modelworks.ml.detection.backbone import PyramidBackbone
from modelworks.ml.detection.boxes import Box
from modelworks.ml.detection.detector import CenterNetDetector, centernet_module
from modelworks.ml.detection.pipeline import ALGORITHMS, DetectionRun, Progress, as_boxes, no_progress
from modelworks.ml.estimators import check_enough_labels
from modelworks.ml.images import ImageInput

HEAD_FILE = "detector_head.pt"
SETTINGS_FILE = "detector.json"
_FORMAT = 1
_HEAD_PARAMETERS = ("width", "dropout", "max_detections", "nms_iou")


@dataclass
class TrainedDetector:
    """A trained head over the frozen backbone; ``predict`` answers boxes scoring at least ``min_score``."""

    names: list[str]
    detector: CenterNetDetector
    backbone: PyramidBackbone
    min_score: float = 0.2
    chunk_size: int = 16

    @property
    def input_size(self) -> int:
        return self.backbone.size

    def predict(self, images: Sequence[ImageInput], min_score: float | None = None) -> list[list[Box]]:
        """Per image its boxes in image pixels, best first (may be empty)."""
        threshold = self.min_score if min_score is None else min_score
        run = self._run()
        found = run.detect(self.detector, images, threshold)
        return [as_boxes(d.take(np.flatnonzero(d.scores >= threshold)), self.names) for d in found.detections]

    def save(self, directory: str | Path) -> Path:
        """Write the detector's files into ``directory`` (made if missing); returns it."""
        import torch

        target = Path(directory)
        target.mkdir(parents=True, exist_ok=True)
        export = self.backbone._cached_export()
        shutil.copyfile(export, target / export.name)
        torch.save(self.detector.head_.state_dict(), target / HEAD_FILE)
        params = self.detector.get_params()
        settings = {
            "format": _FORMAT,
            "labels": self.names,
            "input_size": self.input_size,
            "min_score": self.min_score,
            "backbone": export.name,
            "head": {name: params[name] for name in _HEAD_PARAMETERS},
        }
        (target / SETTINGS_FILE).write_text(json.dumps(settings, indent=2, ensure_ascii=False) + "\n")
        return target

    @classmethod
    def load(cls, directory: str | Path, *, threads: int | None = None) -> TrainedDetector:
        """A detector saved by :meth:`save`; ``threads`` bounds the backbone's and head's threads."""
        import torch

        source = Path(directory)
        settings = json.loads((source / SETTINGS_FILE).read_text(encoding="utf-8"))
        if settings.get("format") != _FORMAT:
            raise ValueError(f"{source / SETTINGS_FILE}: unknown format {settings.get('format')!r}")
        backbone = PyramidBackbone(int(settings["input_size"]), source, threads=threads)
        if (
            not (source / settings["backbone"]).is_file()
            or backbone._cached_export().name != settings["backbone"]
        ):
            raise ValueError(f"{source} does not hold the backbone export {settings['backbone']}")
        names = [str(n) for n in settings["labels"]]
        detector = CenterNetDetector(**settings["head"], threads=threads or 1)
        head = centernet_module().CenterNetHead(len(names), detector.width, detector.dropout)
        head.load_state_dict(torch.load(source / HEAD_FILE, map_location="cpu", weights_only=True))
        head.eval()
        detector.head_, detector.n_classes_ = head, len(names)
        return cls(names, detector, backbone, float(settings.get("min_score", 0.2)))

    def _run(self, progress: Progress = no_progress) -> DetectionRun:
        return DetectionRun(
            names=self.names,
            config=ALGORITHMS["fast"],
            backbone=self.backbone,
            embedder=None,
            progress=progress,
            chunk_size=self.chunk_size,
            collect_hard=False,
        )


def train_detector(
    labeled: Sequence[ImageInput],
    labeled_boxes: Sequence[Sequence[Box]],
    *,
    epochs: int | None = None,
    input_size: int = 320,
    cache_dir: str | Path | None = None,
    threads: int | None = None,
    chunk_size: int = 16,
    min_score: float = 0.2,
    detector_params: dict[str, Any] | None = None,
    progress: Progress = no_progress,
) -> TrainedDetector:
    """Train a detector on ``labeled`` images and their ``labeled_boxes`` (image pixels).

    As :func:`~.pipeline.auto_detect` "fast" (``epochs`` defaults to its 20): raises
    :class:`~modelworks.ml.errors.NotEnoughLabels` when a label is on fewer than 5 images. ``cache_dir``
    keeps the backbone's ONNX export (default: a folder in the temporary directory).
    """
    if len(labeled) != len(labeled_boxes):
        raise InvalidArgument(
            f"{len(labeled)} labeled images but {len(labeled_boxes)} box lists", field="labeled_boxes"
        )
    per_image = [label for boxes in labeled_boxes for label in sorted({b.label for b in boxes})]
    check_enough_labels(np.asarray(per_image, dtype=object), min_labels=1)
    cache = Path(cache_dir) if cache_dir is not None else Path(tempfile.gettempdir()) / "efficientnet-lite0"
    names = sorted({b.label for boxes in labeled_boxes for b in boxes})
    backbone = PyramidBackbone(input_size, cache, threads=threads or min(2, os.cpu_count() or 1))
    trained = TrainedDetector(names, CenterNetDetector(), backbone, min_score, chunk_size)
    run = trained._run(progress)
    config = ALGORITHMS["fast"]
    run.config = type(config)(epochs or config.epochs, False, False, False)
    human = run.read_labeled(labeled, labeled_boxes)
    trained.detector = run.train(human, detector_params or {})
    return trained
