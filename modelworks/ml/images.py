"""Decoding sample bytes into RGB images, and the test-time augmentations of the hard-example reasons."""

from __future__ import annotations

import io
from collections.abc import Callable

from PIL import Image, ImageFilter, ImageOps

ImageInput = bytes | Image.Image


def open_rgb(item: ImageInput) -> Image.Image:
    """Decode any PIL-readable image (or take a PIL image) as 8-bit RGB; grayscale and palettes become RGB."""
    image = Image.open(io.BytesIO(item)) if isinstance(item, bytes) else item
    if image.mode != "RGB":
        image = image.convert("RGB")
    return image


def gaussian_blur(image: Image.Image) -> Image.Image:
    # The radius scales with the image so that a thumbnail and a photo are blurred alike.
    return image.filter(ImageFilter.GaussianBlur(radius=max(1.0, min(image.size) / 64)))


def flip_left_right(image: Image.Image) -> Image.Image:
    return ImageOps.mirror(image)


def flip_up_down(image: Image.Image) -> Image.Image:
    return ImageOps.flip(image)


def centre_crop(image: Image.Image, keep: float = 0.8) -> Image.Image:
    """The central ``keep`` fraction of each side."""
    width, height = image.size
    dx, dy = round(width * (1 - keep) / 2), round(height * (1 - keep) / 2)
    return image.crop((dx, dy, width - dx, height - dy))


AUGMENTATIONS: dict[str, Callable[[Image.Image], Image.Image]] = {
    "GaussianBlur": gaussian_blur,
    "fliplr": flip_left_right,
    "Crop": centre_crop,
    "flipud": flip_up_down,
}
"""Augmentations by the names the reference's hard-example reasons 19-22 use."""
