"""Do the detections of an image hold on its augmented copies? (hard-example reasons 19-22)

The augmentations are those of the classification hard examples (``modelworks.ml.images``):
GaussianBlur, fliplr, Crop (the central 80 %) and flipud. Boxes found on a copy are mapped back to
the original image and compared by place only (IoU >= 0.5, any class): every object with an
objectness of at least the score threshold on one side needs a match of at least half that
objectness on the other, so that a box wavering just around the threshold does not count.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image

from modelworks.ml.detection.backbone import Letterbox, PyramidBackbone
from modelworks.ml.detection.boxes import areas, matched, mirror
from modelworks.ml.detection.detector import CenterNetDetector, Detections, Maps
from modelworks.ml.images import AUGMENTATIONS


def unaugment(name: str, boxes: np.ndarray, augmented: Letterbox, size: tuple[int, int]) -> np.ndarray:
    """Boxes found on the ``name``-augmented copy (of ``augmented``'s size), in the original's pixels."""
    if name == "fliplr":
        return mirror(boxes, size[0])
    if name == "flipud":
        return np.stack([boxes[:, 0], size[1] - boxes[:, 3], boxes[:, 2], size[1] - boxes[:, 1]], axis=1)
    if name == "Crop":
        dx, dy = (size[0] - augmented.width) / 2, (size[1] - augmented.height) / 2
        return boxes + np.array([dx, dy, dx, dy], dtype=np.float32)
    return boxes


def inconsistent_augmentations(
    backbone: PyramidBackbone,
    detector: CenterNetDetector,
    images: Sequence[Image.Image],
    found: Sequence[Detections],
    threshold: float,
) -> dict[str, np.ndarray]:
    """Per augmentation name, per image: whether the objects found on the copy differ from ``found``
    (the original's detections, in image pixels)."""
    out: dict[str, np.ndarray] = {}
    for name, transform in AUGMENTATIONS.items():
        flags = np.zeros(len(images), dtype=bool)
        if images:
            c4, c5, frames = backbone.features(images, transform)
            predicted = detector.predict(Maps(c4, c5))
            for i, (image, frame, copy) in enumerate(zip(images, frames, predicted, strict=True)):
                boxes, objectness = found[i].boxes, found[i].objectness
                if name == "Crop":
                    inside = _mostly_inside(boxes, image.size, (frame.width, frame.height))
                    boxes, objectness = boxes[inside], objectness[inside]
                copy_boxes = unaugment(name, frame.to_image(copy.boxes), frame, image.size)
                flags[i] = _differ(boxes, objectness, copy_boxes, copy.objectness, threshold)
        out[name] = flags
    return out


def _mostly_inside(boxes: np.ndarray, size: tuple[int, int], window: tuple[int, int]) -> np.ndarray:
    """Whether at least half of each box lies in the central ``window`` of an image of ``size``."""
    x0, y0 = (size[0] - window[0]) / 2, (size[1] - window[1]) / 2
    clipped = boxes.copy()
    clipped[:, 0::2] = np.clip(clipped[:, 0::2], x0, x0 + window[0])
    clipped[:, 1::2] = np.clip(clipped[:, 1::2], y0, y0 + window[1])
    return np.asarray(areas(clipped) >= 0.5 * np.maximum(areas(boxes), 1e-9))


def _differ(a: np.ndarray, a_obj: np.ndarray, b: np.ndarray, b_obj: np.ndarray, threshold: float) -> bool:
    same_a, same_b = np.zeros(len(a), np.int64), np.zeros(len(b), np.int64)  # one class: place only
    sure_a, sure_b = a_obj >= threshold, b_obj >= threshold
    loose_a, loose_b = a_obj >= threshold / 2, b_obj >= threshold / 2
    a_kept = matched(a[sure_a], same_a[sure_a], b[loose_b], same_b[loose_b])
    b_kept = matched(b[sure_b], same_b[sure_b], a[loose_a], same_a[loose_a])
    return not (bool(a_kept.all()) and bool(b_kept.all()))
