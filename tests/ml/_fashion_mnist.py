"""Fashion-MNIST from the Debian package ``dataset-fashion-mnist`` (idx files under /usr/share/datasets)."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path("/usr/share/datasets/fashion-mnist")
CLASSES = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]


def available() -> bool:
    return (ROOT / "t10k-images-idx3-ubyte.gz").exists()


def load(kind: str = "t10k") -> tuple[np.ndarray, np.ndarray]:
    """``(images (n, 28, 28) uint8, labels (n,) int64)`` of the ``t10k`` (test) or ``train`` split."""
    with gzip.open(ROOT / f"{kind}-labels-idx1-ubyte.gz", "rb") as f:
        labels = np.frombuffer(f.read(), dtype=np.uint8, offset=8).astype(np.int64)
    with gzip.open(ROOT / f"{kind}-images-idx3-ubyte.gz", "rb") as f:
        images = np.frombuffer(f.read(), dtype=np.uint8, offset=16).reshape(len(labels), 28, 28)
    return images, labels


def png_bytes(images: np.ndarray) -> list[bytes]:
    """Each image as a PNG file's bytes: what a dataset sample's content looks like."""
    out = []
    for pixels in images:
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format="PNG")
        out.append(buffer.getvalue())
    return out


def balanced_labeled_mask(labels: np.ndarray, fraction: float, seed: int = 0) -> np.ndarray:
    """A boolean mask picking ``fraction`` of the samples, the same number from every class."""
    rng = np.random.default_rng(seed)
    classes = np.unique(labels)
    per_class = max(1, round(fraction * len(labels) / len(classes)))
    mask = np.zeros(len(labels), dtype=bool)
    for c in classes:
        mask[rng.choice(np.flatnonzero(labels == c), per_class, replace=False)] = True
    return mask
