"""Image-quality measures, one row per image: what hard examples (reasons 5-10) and grouping compare.

    resolution     sqrt(width * height), in pixels (a side length, so that it scales linearly)
    aspect_ratio   width / height
    brightness     mean luma (ITU-R BT.601), 0-255
    saturation     mean HSV saturation, 0-255
    colorfulness   Hasler and Suesstrunk (2003): sqrt(sd_rg^2 + sd_yb^2) + 0.3 sqrt(mean_rg^2 + mean_yb^2)
    sharpness      variance of the 4-neighbour Laplacian of the luma ("ambiguity" is its opposite)

Images larger than ``max_side`` are measured on a downscaled copy (except the resolution and aspect
ratio), which keeps the cost per image bounded; the copy keeps the sharpness of equal-sized images
comparable.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image

from modelworks.ml.images import ImageInput, open_rgb

QUALITY_COLUMNS: tuple[str, ...] = (
    "resolution",
    "aspect_ratio",
    "brightness",
    "saturation",
    "colorfulness",
    "sharpness",
)


def laplacian_variance(gray: np.ndarray) -> float:
    """Variance of the 4-neighbour Laplacian of a 2-D float array (0 for images under 3x3)."""
    if gray.shape[0] < 3 or gray.shape[1] < 3:
        return 0.0
    lap = gray[:-2, 1:-1] + gray[2:, 1:-1] + gray[1:-1, :-2] + gray[1:-1, 2:] - 4.0 * gray[1:-1, 1:-1]
    return float(lap.var())


def colorfulness(rgb: np.ndarray) -> float:
    """Hasler-Suesstrunk colourfulness of an ``(h, w, 3)`` float array in 0-255 (0 for gray images)."""
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    rg = r - g
    yb = 0.5 * (r + g) - b
    spread = np.sqrt(rg.std() ** 2 + yb.std() ** 2)
    mean = np.sqrt(rg.mean() ** 2 + yb.mean() ** 2)
    return float(spread + 0.3 * mean)


def image_quality(item: ImageInput, max_side: int = 512) -> dict[str, float]:
    """The measures of one image (bytes in any PIL format, or a PIL image), keyed by column name."""
    return dict(zip(QUALITY_COLUMNS, _measure(open_rgb(item), max_side), strict=True))


def measure_quality(items: Sequence[ImageInput], max_side: int = 512) -> np.ndarray:
    """An ``(n, 6)`` float64 array of the measures of ``items``, columns in :data:`QUALITY_COLUMNS` order."""
    out = np.empty((len(items), len(QUALITY_COLUMNS)), dtype=np.float64)
    for i, item in enumerate(items):
        out[i] = _measure(open_rgb(item), max_side)
    return out


def _measure(image: Image.Image, max_side: int) -> tuple[float, ...]:
    width, height = image.size
    if max(width, height) > max_side:
        scale = max_side / max(width, height)
        image = image.resize(
            (max(1, round(width * scale)), max(1, round(height * scale))), Image.Resampling.BOX
        )
    rgb = np.asarray(image, dtype=np.float32)
    luma = rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114
    high = rgb.max(axis=2)
    low = rgb.min(axis=2)
    saturation = np.where(high > 0, (high - low) / np.maximum(high, 1e-6), 0.0) * 255.0
    return (
        float(np.sqrt(width * height)),
        width / height,
        float(luma.mean()),
        float(saturation.mean()),
        colorfulness(rgb),
        laplacian_variance(luma),
    )
