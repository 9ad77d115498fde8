"""Image-quality measures on images whose answers are known."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageFilter

from modelworks.ml.quality import QUALITY_COLUMNS, colorfulness, image_quality, measure_quality


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _checkerboard(size: int = 64, cell: int = 4) -> Image.Image:
    index = np.indices((size, size)).sum(axis=0) // cell
    return Image.fromarray(((index % 2) * 255).astype(np.uint8))


def test_resolution_and_aspect_ratio() -> None:
    q = image_quality(_png(Image.new("RGB", (200, 50))))
    assert q["resolution"] == pytest.approx(100.0)
    assert q["aspect_ratio"] == pytest.approx(4.0)


def test_brightness_spans_black_to_white() -> None:
    assert image_quality(Image.new("L", (10, 10), 0))["brightness"] == pytest.approx(0.0)
    assert image_quality(Image.new("L", (10, 10), 255))["brightness"] == pytest.approx(255.0, abs=0.1)


def test_gray_images_have_no_saturation_or_colourfulness() -> None:
    q = image_quality(_png(_checkerboard()))
    assert q["saturation"] == 0.0 and q["colorfulness"] == 0.0
    red = image_quality(Image.new("RGB", (10, 10), (255, 0, 0)))
    assert red["saturation"] == pytest.approx(255.0)
    assert red["colorfulness"] == pytest.approx(0.3 * np.hypot(255, 127.5))


def test_colourfulness_grows_with_colour_variety() -> None:
    rng = np.random.default_rng(0)
    muted = rng.normal(128, 5, (32, 32, 3))
    vivid = rng.uniform(0, 255, (32, 32, 3))
    assert colorfulness(vivid) > 3 * colorfulness(muted)


def test_blur_lowers_sharpness() -> None:
    sharp = _checkerboard()
    blurred = sharp.filter(ImageFilter.GaussianBlur(2))
    assert image_quality(blurred)["sharpness"] < 0.1 * image_quality(sharp)["sharpness"]


def test_measure_quality_has_one_row_per_image_in_column_order() -> None:
    table = measure_quality([_png(_checkerboard()), _png(Image.new("RGB", (8, 4), (0, 255, 0)))])
    assert table.shape == (2, len(QUALITY_COLUMNS))
    assert table[1, QUALITY_COLUMNS.index("aspect_ratio")] == pytest.approx(2.0)


def test_large_images_are_measured_on_a_bounded_copy() -> None:
    big = Image.new("RGB", (4000, 1000), (10, 20, 30))
    q = image_quality(big, max_side=256)
    assert q["resolution"] == pytest.approx(2000.0)
    assert q["brightness"] == pytest.approx(0.299 * 10 + 0.587 * 20 + 0.114 * 30, abs=0.5)
