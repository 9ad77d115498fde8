"""Boxes: the :class:`Box` the task layer reads and writes, and array helpers (xyxy pixel boxes)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass
class Box:
    """A labeled box in pixels of the original image; ``score`` is 1 for human boxes."""

    label: str
    xmin: float
    ymin: float
    xmax: float
    ymax: float
    score: float = 1.0


def to_array(boxes: Sequence[Box]) -> np.ndarray:
    """``(n, 4)`` float32 xyxy."""
    return np.array([[b.xmin, b.ymin, b.xmax, b.ymax] for b in boxes], dtype=np.float32).reshape(-1, 4)


def areas(boxes: np.ndarray) -> np.ndarray:
    return np.asarray(
        np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0, None)
    )


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``(len(a), len(b))`` intersections over unions of xyxy boxes."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    union = areas(a)[:, None] + areas(b)[None, :] - inter
    return np.asarray(inter / np.maximum(union, 1e-9))


def non_maximum_suppression(boxes: np.ndarray, scores: np.ndarray, threshold: float) -> np.ndarray:
    """Indices of the boxes kept, best first: each drops later ones overlapping it by IoU > threshold."""
    order = np.argsort(-scores, kind="stable")
    overlaps = iou_matrix(boxes[order], boxes[order])
    keep = np.ones(len(order), dtype=bool)
    for i in range(len(order)):
        if keep[i]:
            keep[i + 1 :] &= overlaps[i, i + 1 :] <= threshold
    return np.asarray(order[keep])


def matched(
    boxes: np.ndarray, labels: np.ndarray, others: np.ndarray, other_labels: np.ndarray, iou: float = 0.5
) -> np.ndarray:
    """For each of ``boxes``, whether ``others`` hold a box of the same label overlapping it by ``iou``."""
    if len(boxes) == 0 or len(others) == 0:
        return np.zeros(len(boxes), dtype=bool)
    same = labels[:, None] == other_labels[None, :]
    return np.asarray(((iou_matrix(boxes, others) >= iou) & same).any(axis=1))


def mirror(boxes: np.ndarray, width: float) -> np.ndarray:
    """The boxes of the image mirrored left to right (``width`` wide)."""
    return np.stack([width - boxes[:, 2], boxes[:, 1], width - boxes[:, 0], boxes[:, 3]], axis=1)


def clip(boxes: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The boxes clipped to an image of ``size`` (width, height)."""
    out = np.array(boxes, dtype=np.float32, copy=True)
    out[:, 0::2] = np.clip(out[:, 0::2], 0, size[0])
    out[:, 1::2] = np.clip(out[:, 1::2], 0, size[1])
    return out
