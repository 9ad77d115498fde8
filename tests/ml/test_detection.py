"""Object-detection auto labeling on real data: Fashion-MNIST items pasted onto real photos.

The dataset (``_detection_data``) has 200 images of 256-320 px with 1-4 objects of 5 classes; 30 %
of the images are labeled and the rest is auto labeled by ``auto_detect`` end to end. Threshold:
mAP@0.5 (pycocotools) >= 0.55 on the unlabeled 70 % (measured 0.78; ``benchmarks/bench_ml_detection.py``
runs 600 images and both algorithms).
"""

from __future__ import annotations

import io
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from modelworks.errors import InvalidArgument
from modelworks.ml.detection import Box, DetectionResult, auto_detect
from modelworks.ml.detection.backbone import Letterbox
from modelworks.ml.detection.boxes import matched, to_array
from modelworks.ml.errors import NotEnoughLabels
from modelworks.ml.hard_examples import HARD_REASONS
from tests.ml import _detection_data as dd
from tests.ml.conftest import have, require, require_fashion_mnist, require_image_model

N_IMAGES = 200
LABELED_FRACTION = 0.3
MIN_MAP = 0.55
HARD_FRACTION = 0.25


def _sizes(images: list[bytes]) -> list[tuple[int, int]]:
    return [Image.open(io.BytesIO(blob)).size for blob in images]


@pytest.fixture(scope="module")
def dataset() -> dd.DetectionDataset:
    require_fashion_mnist()
    return dd.generate(N_IMAGES, seed=0)


class FastRun:
    """``auto_detect`` ("fast") run once on the set, with the progress stages it reported, in order."""

    def __init__(self, data: dd.DetectionDataset, cache_dir: Path) -> None:
        mask = dd.split(data, LABELED_FRACTION, seed=0)
        self.labeled = np.flatnonzero(mask)
        self.unlabeled = np.flatnonzero(~mask)
        self.truth = [data.boxes[i] for i in self.unlabeled]
        self.sizes = _sizes([data.images[i] for i in self.unlabeled])
        self.stages: list[str] = []

        def progress(stage: str, fraction: float) -> None:
            if not self.stages or self.stages[-1] != stage:
                self.stages.append(stage)

        self.result: DetectionResult = auto_detect(
            [data.images[i] for i in self.labeled],
            [data.boxes[i] for i in self.labeled],
            [data.images[i] for i in self.unlabeled],
            cache_dir=cache_dir,
            max_hard_fraction=HARD_FRACTION,
            progress=progress,
        )


@pytest.fixture(scope="module")
def fast_run(dataset: dd.DetectionDataset, ml_home: Path) -> FastRun:
    require_image_model()
    return FastRun(dataset, ml_home / "cache" / "models")


def test_auto_boxes_reach_the_map_threshold_on_the_unlabeled_images(
    fast_run: FastRun, dataset: dd.DetectionDataset
) -> None:
    require(have("pycocotools"), "the mAP is computed with pycocotools: pip install pycocotools")
    score = dd.mean_average_precision(fast_run.truth, fast_run.result.boxes, fast_run.sizes, dataset.labels)
    assert score >= MIN_MAP, f"mAP@0.5 {score:.4f}"


def test_boxes_are_labeled_scored_best_first_and_inside_their_images(
    fast_run: FastRun, dataset: dd.DetectionDataset
) -> None:
    result = fast_run.result
    assert len(result.boxes) == len(fast_run.unlabeled)
    assert sum(len(b) for b in result.boxes) > 0
    for boxes, (width, height) in zip(result.boxes, fast_run.sizes, strict=True):
        scores = [b.score for b in boxes]
        assert scores == sorted(scores, reverse=True)
        for box in boxes:
            assert box.label in dataset.labels
            assert 0.2 <= box.score <= 1.0
            assert 0 <= box.xmin < box.xmax <= width and 0 <= box.ymin < box.ymax <= height
    assert result.computed_features == 2 * len(fast_run.labeled) + len(fast_run.unlabeled)
    assert fast_run.stages == ["features", "training", "prediction", "hard examples"]


def test_hard_examples_flag_the_images_with_wrong_or_missing_boxes(fast_run: FastRun) -> None:
    result = fast_run.result
    wrong = np.zeros(len(result.boxes), dtype=bool)
    for i, (truth, found) in enumerate(zip(fast_run.truth, result.boxes, strict=True)):
        t, f = to_array(truth), to_array(found)
        t_labels, f_labels = np.array([b.label for b in truth]), np.array([b.label for b in found])
        wrong[i] = not (matched(t, t_labels, f, f_labels).all() and matched(f, f_labels, t, t_labels).all())
    hard = result.hard
    assert 0 < hard.sum() <= HARD_FRACTION * len(hard)
    assert np.all((result.hard_coefficient >= 0) & (result.hard_coefficient <= 1))
    # The flagged images hold errors about twice as often as the others (measured 0.63 against 0.33).
    assert wrong[hard].mean() >= 1.5 * wrong[~hard].mean(), (wrong[hard].mean(), wrong[~hard].mean())
    for flagged, reasons, boxes in zip(hard, result.hard_reasons, result.boxes, strict=True):
        assert bool(reasons) == bool(flagged)
        assert set(reasons) <= set(HARD_REASONS)
        if flagged:
            assert (0 in reasons) == (not boxes)


def test_too_few_labels_fail_before_any_heavy_work(dataset: dd.DetectionDataset, tmp_path: Path) -> None:
    boxes = [[Box("bag", 1, 1, 50, 50)]] * 4 + [[Box("bag", 1, 1, 50, 50), Box("shoe", 60, 60, 90, 90)]] * 4
    start = time.perf_counter()
    with pytest.raises(NotEnoughLabels, match="shoe"):
        auto_detect(dataset.images[:8], boxes, dataset.images[8:10], cache_dir=tmp_path / "models")
    with pytest.raises(NotEnoughLabels):
        auto_detect(dataset.images[:8], [[]] * 8, dataset.images[8:10], cache_dir=tmp_path / "models")
    assert time.perf_counter() - start < 1.0
    assert not (tmp_path / "models").exists()  # nothing was exported


def test_bad_arguments_are_refused(dataset: dd.DetectionDataset) -> None:
    with pytest.raises(InvalidArgument, match="box lists"):
        auto_detect(dataset.images[:3], dataset.boxes[:2], dataset.images[3:4])
    with pytest.raises(InvalidArgument, match="fast, accurate"):
        auto_detect(dataset.images[:40], dataset.boxes[:40], dataset.images[40:41], algorithm="best")


def test_raising_from_progress_abandons_the_run(dataset: dd.DetectionDataset, ml_home: Path) -> None:
    require_image_model()
    seen: list[tuple[str, float]] = []

    class Stopped(Exception):
        pass

    def progress(stage: str, fraction: float) -> None:
        seen.append((stage, fraction))
        if fraction > 0:
            raise Stopped

    with pytest.raises(Stopped):
        auto_detect(
            dataset.images[:40],
            dataset.boxes[:40],
            dataset.images[40:60],
            cache_dir=ml_home / "cache" / "models",
            progress=progress,
            chunk_size=8,
        )
    assert seen == [("features", 0.0), ("features", 0.2)]


def test_accurate_rescores_boxes_and_checks_hard_examples_on_augmentations(
    dataset: dd.DetectionDataset, ml_home: Path
) -> None:
    """A short run (few steps, two labels kept) for the contract of "accurate", not its quality."""
    require_image_model()
    kept = {"bag", "trouser"}
    labeled_boxes = [[b for b in boxes if b.label in kept] for boxes in dataset.boxes[:20]]
    unlabeled = dataset.images[40:46]
    result = auto_detect(
        dataset.images[:20],
        labeled_boxes,
        unlabeled,
        algorithm="accurate",
        cache_dir=ml_home / "cache" / "models",
        max_hard_fraction=0.5,
        detector_params={"epochs": 1, "min_steps": 40},
    )
    assert len(result.boxes) == len(result.hard) == len(result.hard_reasons) == len(unlabeled)
    assert 1 <= result.hard.sum() <= 3
    # Mirrored copies of every image, crops of the boxes, 4 augmentations of each flagged image.
    backbone = 2 * 20 + 2 * len(unlabeled) + 4 * int(result.hard.sum())
    assert result.computed_features > backbone
    assert set(result.timings) == {"features", "training", "prediction", "hard_examples"}
    for reasons in result.hard_reasons:
        assert set(reasons) <= set(HARD_REASONS)
    assert {b.label for boxes in result.boxes for b in boxes} <= kept


def test_letterbox_maps_boxes_to_the_input_and_back() -> None:
    frame = Letterbox.fit(300, 200, 320)
    boxes = np.array([[0, 0, 300, 200], [10.5, 20, 60, 199]], dtype=np.float32)
    inside = frame.to_input(boxes)
    assert inside[0].tolist() == pytest.approx([0, 53, 320, 267], abs=1)
    assert frame.to_image(inside) == pytest.approx(boxes, abs=1e-3)
