"""A detection dataset of real objects on real photos, generated offline and deterministically.

Objects are Fashion-MNIST items (Debian package ``dataset-fashion-mnist``, train split): each is cut
to its tight box, scaled up so that its longer side is 40-120 px, tinted with a random colour and
pasted with its dark background masked out (alpha from the item's own intensity). Backgrounds are
random crops of the two photos scikit-learn ships (``load_sample_images``: china.jpg, flower.jpg),
flipped and colour-jittered, resized to 256-320 px a side. Each image holds 1-4 objects that overlap
each other little (IoU <= 0.1); the recorded box is the pasted item's tight box. Images are JPEG bytes,
as a dataset sample would store them. The same ``seed`` always gives the same images and boxes.
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image, ImageEnhance, ImageOps

from modelworks.ml.detection import Box
from tests.ml import _fashion_mnist as fm

CLASSES: dict[int, str] = {0: "t-shirt", 1: "trouser", 7: "sneaker", 8: "bag", 9: "ankle-boot"}
"""Fashion-MNIST class -> label name of the objects."""


@dataclass
class DetectionDataset:
    images: list[bytes]
    boxes: list[list[Box]]
    labels: list[str]


def available() -> bool:
    return fm.available()


def _backgrounds() -> list[Image.Image]:
    from sklearn.datasets import load_sample_images

    return [Image.fromarray(photo) for photo in load_sample_images().images]


def _background(photos: list[Image.Image], rng: np.random.Generator, size: tuple[int, int]) -> Image.Image:
    photo = photos[int(rng.integers(len(photos)))]
    width, height = size
    # A crop of the photo with the output's aspect ratio, between 35 % and all of what fits.
    fit = min(photo.width / width, photo.height / height)
    scale = fit * rng.uniform(0.35, 1.0)
    cw, ch = int(width * scale), int(height * scale)
    x0, y0 = int(rng.integers(0, photo.width - cw + 1)), int(rng.integers(0, photo.height - ch + 1))
    image = photo.crop((x0, y0, x0 + cw, y0 + ch)).resize(size, Image.Resampling.BILINEAR)
    if rng.random() < 0.5:
        image = ImageOps.mirror(image)
    image = ImageEnhance.Brightness(image).enhance(rng.uniform(0.7, 1.3))
    image = ImageEnhance.Contrast(image).enhance(rng.uniform(0.7, 1.3))
    return ImageEnhance.Color(image).enhance(rng.uniform(0.5, 1.5))


def _object(item: np.ndarray, rng: np.random.Generator) -> tuple[Image.Image, Image.Image]:
    """The item cut to its tight box, scaled (longer side 40-120 px) and tinted: (RGB, alpha mask)."""
    rows, cols = np.flatnonzero(item.max(axis=1) > 20), np.flatnonzero(item.max(axis=0) > 20)
    crop = item[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    longer = rng.uniform(40, 120)
    scale = longer / max(crop.shape)
    size = (max(8, round(crop.shape[1] * scale)), max(8, round(crop.shape[0] * scale)))
    gray = Image.fromarray(crop).resize(size, Image.Resampling.BICUBIC)
    pixels = np.asarray(gray, dtype=np.float32)
    alpha = np.clip(pixels * 4.0, 0, 255).astype(np.uint8)  # the dark background becomes transparent
    tint = rng.uniform(0.45, 1.0, size=3)
    rgb = np.clip(pixels[..., None] * tint * rng.uniform(0.9, 1.4), 0, 255).astype(np.uint8)
    return Image.fromarray(rgb), Image.fromarray(alpha)


def _iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union


def generate(n_images: int, seed: int = 0, classes: dict[int, str] = CLASSES) -> DetectionDataset:
    """``n_images`` images with their boxes; ``labels`` lists the class names used."""
    rng = np.random.default_rng(seed)
    items, targets = fm.load("train")
    pools = {c: np.flatnonzero(targets == c) for c in classes}
    keys = list(classes)
    photos = _backgrounds()
    images: list[bytes] = []
    boxes: list[list[Box]] = []
    for _ in range(n_images):
        size = (int(rng.integers(256, 321)), int(rng.integers(256, 321)))
        canvas = _background(photos, rng, size)
        placed: list[tuple[int, int, int, int]] = []
        mine: list[Box] = []
        for _ in range(int(rng.integers(1, 5))):
            c = keys[int(rng.integers(len(keys)))]
            rgb, alpha = _object(items[int(rng.choice(pools[c]))], rng)
            for _ in range(30):
                x = int(rng.integers(0, size[0] - rgb.width + 1))
                y = int(rng.integers(0, size[1] - rgb.height + 1))
                box = (x, y, x + rgb.width, y + rgb.height)
                if all(_iou(box, other) <= 0.1 for other in placed):
                    canvas.paste(rgb, (x, y), alpha)
                    placed.append(box)
                    mine.append(Box(classes[c], *map(float, box)))
                    break
        buffer = io.BytesIO()
        canvas.save(buffer, format="JPEG", quality=90)
        images.append(buffer.getvalue())
        boxes.append(mine)
    return DetectionDataset(images, boxes, [classes[c] for c in keys])


def split(dataset: DetectionDataset, labeled_fraction: float, seed: int = 0) -> np.ndarray:
    """A boolean mask of the images that count as labeled (a fixed random ``labeled_fraction``)."""
    rng = np.random.default_rng(seed)
    n = len(dataset.images)
    mask = np.zeros(n, dtype=bool)
    mask[rng.choice(n, round(labeled_fraction * n), replace=False)] = True
    return mask


def mean_average_precision(
    truth: list[list[Box]], predicted: list[list[Box]], sizes: list[tuple[int, int]], labels: list[str]
) -> float:
    """COCO mAP at IoU 0.5 (pycocotools' COCOeval with ``iouThrs`` [0.5]) of ``predicted`` boxes."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    category = {name: k + 1 for k, name in enumerate(labels)}
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    results: list[dict[str, Any]] = []
    for i, (gt, found, (width, height)) in enumerate(zip(truth, predicted, sizes, strict=True)):
        images.append({"id": i + 1, "width": width, "height": height})
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
            w, h = box.xmax - box.xmin, box.ymax - box.ymin
            results.append(
                {
                    "image_id": i + 1,
                    "category_id": category[box.label],
                    "bbox": [box.xmin, box.ymin, w, h],
                    "score": box.score,
                }
            )
    if not results:
        return 0.0
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints its progress
        coco = COCO()
        coco.dataset = {
            "images": images,
            "annotations": annotations,
            "categories": [{"id": k, "name": name} for name, k in category.items()],
        }
        coco.createIndex()
        evaluation = COCOeval(coco, coco.loadRes(results), "bbox")
        evaluation.params.iouThrs = np.array([0.5])
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    return float(evaluation.stats[0])
