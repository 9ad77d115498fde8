"""The Embedder interface: turns samples (image bytes, texts) into fixed-size, L2-normalised vectors."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np


class Embedder(ABC):
    """A pretrained feature extractor that ships inside an installed package (nothing is downloaded).

    One forward pass may yield several outputs (e.g. a global and a spatial descriptor); ``outputs``
    names them, with their sizes, the first being the embedding proper. Output names are also the
    model part of feature-cache keys. Instances load their weights lazily, on first use, so that
    building one is cheap and an instance can be pickled to another process before use.
    """

    name: ClassVar[str]
    """Registry key, and the name of the main output."""
    outputs: ClassVar[dict[str, int]]
    """Output name -> vector length, main output first."""
    version: ClassVar[int] = 1
    """Bumped when the vectors for the same content change (new weights, new preprocessing), so that
    feature caches stop serving the old ones."""

    @property
    def dim(self) -> int:
        return self.outputs[self.name]

    @abstractmethod
    def embed_all(self, items: Sequence[Any]) -> dict[str, np.ndarray]:
        """Every output for ``items``: name -> ``(len(items), size)`` float32, L2-normalised rows.

        Called by feature extraction with one batch of samples; implementations split it into the
        batches their runtime prefers. Must raise :class:`~modelworks.ml.errors.ModelUnavailable` when
        the model's package or runtime is missing.
        """

    def embed(self, items: Sequence[Any]) -> np.ndarray:
        """The main output for ``items``: ``(len(items), dim)`` float32, L2-normalised rows."""
        return self.embed_all(items)[self.name]

    def content_key(self, item: Any) -> bytes:
        """The bytes whose sha256 identifies ``item`` in the feature cache (its raw content)."""
        if isinstance(item, bytes):
            return item
        if isinstance(item, str):
            return item.encode("utf-8")
        raise TypeError(f"{type(self).__name__} cannot key a {type(item).__name__}")


def l2_normalise(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)
