"""The detector estimator: a :class:`~.centernet.CenterNetHead` trained on frozen backbone maps.

scikit-learn conventions: ``__init__`` stores parameters, ``fit`` learns and returns ``self``, learned
state ends in ``_``. It works in input pixels of the letterboxed square and in class indices; the
pipeline maps images, labels and boxes in and out.

Training length is counted in optimiser steps: ``epochs`` passes over the training maps, but at
least ``min_steps`` (a handful of labeled images still needs a few hundred steps) and at most
``max_steps`` (which bounds the time on large datasets). Runs are deterministic for a
``random_state`` and leave torch's global random state and thread count as they were.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Self

import numpy as np
from sklearn.base import BaseEstimator

from modelworks.ml.detection.boxes import non_maximum_suppression
from modelworks.ml.errors import ModelUnavailable

if TYPE_CHECKING:
    import torch


def centernet_module() -> ModuleType:
    """The head's module, imported when first needed so that this package imports without torch."""
    try:
        from modelworks.ml.detection import centernet
    except ImportError as exc:
        raise ModelUnavailable("the detection head needs torch") from exc
    return centernet


@dataclass
class Detections:
    """One image's detections, best first: ``boxes`` ``(k, 4)`` xyxy, how sure each is to be an object
    (``objectness``), and its ``class_proba`` ``(k, classes)``. A score is objectness times the
    probability of the most likely class."""

    boxes: np.ndarray
    objectness: np.ndarray
    class_proba: np.ndarray

    @property
    def classes(self) -> np.ndarray:
        return np.asarray(self.class_proba.argmax(axis=1)) if len(self.boxes) else np.zeros(0, np.int64)

    @property
    def scores(self) -> np.ndarray:
        return self.objectness * self.class_proba.max(axis=1) if len(self.boxes) else np.zeros(0, np.float32)

    def take(self, rows: np.ndarray) -> Detections:
        return Detections(self.boxes[rows], self.objectness[rows], self.class_proba[rows])

    def ranked(self) -> Detections:
        return self.take(np.argsort(-self.scores, kind="stable"))


@dataclass
class Maps:
    """Backbone feature maps of some images (float16, NCHW), as :class:`~.backbone.PyramidBackbone` gives."""

    c4: np.ndarray
    c5: np.ndarray

    def __len__(self) -> int:
        return len(self.c4)

    def take(self, rows: np.ndarray | slice) -> Maps:
        return Maps(self.c4[rows], self.c5[rows])

    @staticmethod
    def concatenate(parts: list[Maps]) -> Maps:
        return Maps(np.concatenate([p.c4 for p in parts]), np.concatenate([p.c5 for p in parts]))


@contextlib.contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Run torch with at most ``threads`` intra-op threads, then restore the previous count."""
    import torch

    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(max(1, threads))
    try:
        yield
    finally:
        torch.set_num_threads(previous)


class CenterNetDetector(BaseEstimator):
    """Detects objects of ``n_classes`` classes from backbone maps.

    ``box_loss_weight`` balances the GIoU loss against the heatmap's focal loss; ``nms_iou`` removes
    a detection overlapping a better one of any class by more than that (one object, one box).
    """

    def __init__(
        self,
        width: int = 32,
        epochs: int = 20,
        min_steps: int = 200,
        max_steps: int = 2000,
        batch_size: int = 16,
        learning_rate: float = 4e-3,
        weight_decay: float = 1e-4,
        box_loss_weight: float = 2.0,
        dropout: float = 0.1,
        max_detections: int = 50,
        nms_iou: float = 0.7,
        threads: int | None = 1,
        random_state: int = 0,
    ):
        self.width = width
        self.epochs = epochs
        self.min_steps = min_steps
        self.max_steps = max_steps
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.box_loss_weight = box_loss_weight
        self.dropout = dropout
        self.max_detections = max_detections
        self.nms_iou = nms_iou
        self.threads = threads
        self.random_state = random_state

    def fit(
        self,
        maps: Maps,
        boxes: list[np.ndarray],
        classes: list[np.ndarray],
        n_classes: int,
        *,
        progress: Callable[[float], None] | None = None,
    ) -> Self:
        """Learn from each image's ``(k, 4)`` input-pixel ``boxes`` and class indices.

        ``progress(fraction)`` is called once per epoch; raising from it stops the fit.
        """
        cn = centernet_module()
        torch, to_tensor = cn.torch, cn.to_tensor
        grid = maps.c4.shape[-1]
        targets = cn.encode(boxes, classes, grid)
        n = len(maps)
        per_epoch = max(1, math.ceil(n / self.batch_size))
        steps = int(np.clip(self.epochs * per_epoch, self.min_steps, self.max_steps))
        rng = np.random.default_rng(self.random_state)
        with torch_threads(self.threads), torch.random.fork_rng():
            torch.manual_seed(self.random_state)
            head = cn.CenterNetHead(n_classes, self.width, self.dropout)
            optimiser = torch.optim.AdamW(
                head.parameters(), lr=self.learning_rate, weight_decay=self.weight_decay
            )
            schedule = torch.optim.lr_scheduler.OneCycleLR(
                optimiser, max_lr=self.learning_rate, total_steps=steps, pct_start=0.1
            )
            centres = to_tensor(cn.cell_centres(grid))
            head.train()
            order = rng.permutation(n)
            for step in range(steps):
                if step % per_epoch == 0:
                    if progress is not None:
                        progress(step / steps)
                    order = rng.permutation(n)
                start = (step % per_epoch) * self.batch_size
                batch = np.sort(order[start : start + self.batch_size])
                logits, class_logits, distances = head(to_tensor(maps.c4[batch]), to_tensor(maps.c5[batch]))
                box_weight = to_tensor(targets.box_weight[batch])
                loss = (
                    cn.focal_loss(logits, to_tensor(targets.heatmap[batch]))
                    + self.box_loss_weight
                    * cn.giou_loss(distances, centres, to_tensor(targets.boxes[batch]), box_weight)
                    + cn.class_loss(class_logits, torch.from_numpy(targets.classes[batch]), box_weight)
                )
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
                schedule.step()
        head.eval()
        self.head_ = head
        self.n_classes_ = n_classes
        self.steps_ = steps
        return self

    def predict(self, maps: Maps, flipped: Maps | None = None, chunk_size: int = 64) -> list[Detections]:
        """Detections per image; with ``flipped`` (maps of the mirrored images) the two views are averaged."""
        cn = centernet_module()
        out: list[Detections] = []
        with torch_threads(self.threads), cn.torch.no_grad():
            for start in range(0, len(maps), chunk_size):
                rows = slice(start, start + chunk_size)
                heat, proba, distances = self._outputs(maps.take(rows))
                if flipped is not None:
                    heat_f, proba_f, distances_f = self._outputs(flipped.take(rows))
                    # Mirror the maps back; the left and right distances swap.
                    heat = (heat + heat_f.flip(-1)) / 2
                    proba = (proba + proba_f.flip(-1)) / 2
                    distances = (distances + distances_f.flip(-1)[:, [2, 1, 0, 3]]) / 2
                for boxes, objectness, class_proba in cn.decode(heat, proba, distances, self.max_detections):
                    found = Detections(boxes, objectness, class_proba)
                    out.append(found.take(non_maximum_suppression(boxes, found.scores, self.nms_iou)))
        return out

    def _outputs(self, maps: Maps) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        cn = centernet_module()
        logits, class_logits, distances = self.head_(cn.to_tensor(maps.c4), cn.to_tensor(maps.c5))
        return cn.torch.sigmoid(logits), cn.torch.softmax(class_logits, dim=1), distances
