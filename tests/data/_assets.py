"""Small real images and text written into a server's storage for dataset tests."""

from __future__ import annotations

import io
import random
from pathlib import Path

from PIL import Image


def image_bytes(width: int, height: int, seed: int, fmt: str = "JPEG") -> bytes:
    rng = random.Random(seed)
    image = Image.new("RGB", (width, height), (rng.randrange(256), rng.randrange(256), rng.randrange(256)))
    for _ in range(20):
        x, y = rng.randrange(width), rng.randrange(height)
        image.putpixel((x, y), (rng.randrange(256), rng.randrange(256), rng.randrange(256)))
    out = io.BytesIO()
    image.save(out, fmt)
    return out.getvalue()


def write_classification_folder(root: Path, labels: dict[str, int], *, broken: int = 0) -> None:
    """``root/<label>/<i>.jpg`` for each label, plus ``broken`` unreadable .jpg files."""
    seed = 0
    for label, count in labels.items():
        (root / label).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            seed += 1
            (root / label / f"{i}.jpg").write_bytes(image_bytes(40 + i, 30 + i % 7, seed))
    for i in range(broken):
        (root / f"broken{i}.jpg").write_bytes(b"this is not a jpeg")
