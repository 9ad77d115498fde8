"""Embedders by name. Registry keys are the model names stored with cached features."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from modelworks.ml.features.base import Embedder
from modelworks.ml.features.efficientnet import ImageEmbedder
from modelworks.ml.features.text import TextEmbedder

_factories: dict[str, Callable[..., Embedder]] = {}
_lock = threading.Lock()


def register(name: str, factory: Callable[..., Embedder]) -> None:
    """Make ``factory(**options)`` build the embedder called ``name``; a second one for a name is a bug."""
    with _lock:
        if name in _factories:
            raise ValueError(f"an embedder named {name!r} is already registered")
        _factories[name] = factory


def embedder_names() -> list[str]:
    return sorted(_factories)


def create_embedder(name: str, **options: Any) -> Embedder:
    """Build the embedder ``name`` (options go to its constructor, e.g. ``cache_dir`` for images)."""
    try:
        factory = _factories[name]
    except KeyError:
        raise KeyError(f"no embedder named {name!r}; known: {', '.join(embedder_names())}") from None
    return factory(**options)


register("efficientnet-lite0", ImageEmbedder)
register("all-minilm-l6-v2", TextEmbedder)
