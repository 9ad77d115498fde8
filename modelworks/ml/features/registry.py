"""Embedders by name. Registry keys are the model names stored with cached features."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from modelworks.ml.features.base import Embedder
from modelworks.ml.features.efficientnet import ImageEmbedder
from modelworks.ml.features.text import TextEmbedder
from modelworks.registry import Registry

embedders: Registry[Callable[..., Embedder]] = Registry("embedder")
"""Embedder factories by model name (the name stored with cached features)."""


def register(name: str, factory: Callable[..., Embedder]) -> None:
    """Make ``factory(**options)`` build the embedder called ``name``; a second one for a name is a bug."""
    embedders.register(name, factory)


def embedder_names() -> list[str]:
    return embedders.names()


def create_embedder(name: str, **options: Any) -> Embedder:
    """Build the embedder ``name`` (options go to its constructor, e.g. ``cache_dir`` for images);
    ``UnknownName`` (a ``KeyError``) listing the known ones."""
    return embedders.get(name)(**options)


embedders.register("efficientnet-lite0", ImageEmbedder)
embedders.register("all-minilm-l6-v2", TextEmbedder)
