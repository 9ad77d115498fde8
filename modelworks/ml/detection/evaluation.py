"""Mean average precision of detected boxes against true ones, at one IoU threshold.

COCO's ``COCOeval`` (pycocotools) when it is installed, with ``iouThrs`` ``[iou]`` (area "all", at most
100 detections an image); otherwise the same measure computed here: per label, detections ranked by
score are matched greedily to the unmatched true box they overlap most (IoU >= ``iou``), and the AP is
the area under the interpolated precision-recall curve sampled at COCO's 101 recall points. Labels
without a true box are left out of the mean, as COCO does.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
from collections.abc import Sequence
from typing import Any

import numpy as np

from modelworks.ml.detection.boxes import Box, iou_matrix, to_array

_MAX_DETECTIONS = 100


def mean_average_precision(
    truth: Sequence[Sequence[Box]], predicted: Sequence[Sequence[Box]], iou: float = 0.5
) -> float:
    """mAP@``iou`` of ``predicted`` boxes (with scores) against the ``truth`` boxes of the same images."""
    if len(truth) != len(predicted):
        raise ValueError(f"{len(truth)} images of true boxes but {len(predicted)} of predicted ones")
    if not any(truth):
        return 0.0
    if importlib.util.find_spec("pycocotools") is not None:
        return _coco(truth, predicted, iou)
    return _own(truth, predicted, iou)


def _coco(truth: Sequence[Sequence[Box]], predicted: Sequence[Sequence[Box]], iou: float) -> float:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    names = sorted({b.label for boxes in [*truth, *predicted] for b in boxes})
    category = {name: k + 1 for k, name in enumerate(names)}
    annotations: list[dict[str, Any]] = []
    results: list[dict[str, Any]] = []
    for i, (gt, found) in enumerate(zip(truth, predicted, strict=True)):
        for box in gt:
            w, h = box.xmax - box.xmin, box.ymax - box.ymin
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": i + 1,
                    "category_id": category[box.label],
                    "bbox": [box.xmin, box.ymin, w, h],
                    "area": w * h,
                    "iscrowd": 0,
                }
            )
        for box in found:
            bbox = [box.xmin, box.ymin, box.xmax - box.xmin, box.ymax - box.ymin]
            results.append(
                {"image_id": i + 1, "category_id": category[box.label], "bbox": bbox, "score": box.score}
            )
    if not results:
        return 0.0
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints its progress
        coco = COCO()
        coco.dataset = {
            "images": [{"id": i + 1} for i in range(len(truth))],
            "annotations": annotations,
            "categories": [{"id": k, "name": name} for name, k in category.items()],
        }
        coco.createIndex()
        evaluation = COCOeval(coco, coco.loadRes(results), "bbox")
        evaluation.params.iouThrs = np.array([iou])
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    return max(0.0, float(evaluation.stats[0]))


def _own(truth: Sequence[Sequence[Box]], predicted: Sequence[Sequence[Box]], iou: float) -> float:
    labels = sorted({b.label for boxes in truth for b in boxes})
    precisions = []
    for label in labels:
        n_true = 0
        scored: list[tuple[float, bool]] = []
        for gt, found in zip(truth, predicted, strict=True):
            mine = to_array([b for b in gt if b.label == label])
            n_true += len(mine)
            ranked = sorted(found, key=lambda b: -b.score)[:_MAX_DETECTIONS]
            ranked = [b for b in ranked if b.label == label]
            overlaps = iou_matrix(to_array(ranked), mine) if len(mine) and ranked else None
            taken = np.zeros(len(mine), dtype=bool)
            for row, box in enumerate(ranked):
                hit = False
                if overlaps is not None:
                    free = np.where(taken, -1.0, overlaps[row])
                    best = int(free.argmax())
                    if free[best] >= iou:
                        taken[best] = hit = True
                scored.append((box.score, hit))
        scored.sort(key=lambda item: -item[0])
        hits = np.array([h for _, h in scored], dtype=bool)
        tp, fp = np.cumsum(hits), np.cumsum(~hits)
        recall = tp / n_true
        precision = tp / np.maximum(tp + fp, 1)
        # Interpolate: the best precision at any recall at least as high, sampled at 101 points.
        envelope = np.maximum.accumulate(precision[::-1])[::-1] if len(precision) else precision
        points = np.linspace(0, 1, 101)
        at = np.searchsorted(recall, points, side="left")
        precisions.append(float(np.mean([envelope[i] if i < len(envelope) else 0.0 for i in at])))
    return float(np.mean(precisions)) if precisions else 0.0
