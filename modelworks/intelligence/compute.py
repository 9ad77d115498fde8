"""Feature extraction on the executor: a batch is split over its processes (or Ray workers), and the
task is checked for a stop request while they work; and the embedder of a dataset type.

Embedders pickle without their loaded runtime; each executor process keeps the embedders it loaded
(by class and options), so the model is loaded once per process, not once per batch.
"""

from __future__ import annotations

import concurrent.futures
import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from modelworks.compute import Executor
from modelworks.data.constants import TEXT_CLASSIFICATION
from modelworks.jobs import TaskContext
from modelworks.ml.features import FeatureCache, ImageEmbedder
from modelworks.ml.features.base import Embedder
from modelworks.ml.features.text import TextEmbedder
from modelworks.ml.pipeline import embed_variant

_loaded: dict[tuple[str, str], Embedder] = {}
_lock = threading.Lock()


def _key(embedder: Embedder) -> tuple[str, str]:
    options = {k: v for k, v in vars(embedder).items() if not k.startswith("_")}
    return type(embedder).__qualname__, repr(sorted(options.items()))


def embed_remote(embedder: Embedder, items: Sequence[Any], variant: str) -> dict[str, np.ndarray]:
    """Run in an executor process: the outputs of ``embedder`` (loaded once per process) for ``items``."""
    key = _key(embedder)
    with _lock:
        embedder = _loaded.setdefault(key, embedder)
    return embed_variant(embedder, items, variant)


class ExecutorCompute:
    """A ``compute_with`` for :mod:`modelworks.ml.pipeline` that spreads each batch over ``parts``
    executor calls and calls ``check()`` (which raises to stop) every ``poll_seconds`` while waiting."""

    def __init__(
        self, executor: Executor, check: Callable[[], None], *, parts: int = 2, poll_seconds: float = 0.5
    ) -> None:
        self.executor = executor
        self.check = check
        self.parts = max(1, parts)
        self.poll_seconds = poll_seconds

    def __call__(self, embedder: Embedder, items: Sequence[Any], variant: str) -> dict[str, np.ndarray]:
        if not items:
            return {name: np.zeros((0, dim), np.float32) for name, dim in embedder.outputs.items()}
        size = -(-len(items) // self.parts)
        futures = [
            self.executor.submit(embed_remote, embedder, list(items[start : start + size]), variant)
            for start in range(0, len(items), size)
        ]
        try:
            pending = set(futures)
            while pending:
                _, pending = concurrent.futures.wait(pending, timeout=self.poll_seconds)
                self.check()
            results = [f.result() for f in futures]
        except BaseException:
            for future in futures:
                future.cancel()
            raise
        return {name: np.vstack([r[name] for r in results]) for name in results[0]}


def embedders(ctx: TaskContext, dataset_type: int) -> tuple[Any, FeatureCache, int]:
    """The embedder of ``dataset_type``'s samples, the feature cache, and how many executor calls a
    batch is spread over."""
    home = ctx.settings.home
    cache = FeatureCache(home / "cache" / "features")
    cpus = int(ctx.executor.resources().get("cpus", 1)) if ctx.executor is not None else 1
    parts = max(1, min(cpus, int(getattr(ctx.settings, "compute_processes", 2) or 1)))
    if dataset_type == TEXT_CLASSIFICATION:
        embedder: Any = TextEmbedder(num_threads=1 if parts > 1 else None)
    else:
        embedder = ImageEmbedder(home / "cache" / "models", intra_op_num_threads=1 if parts > 1 else None)
    return embedder, cache, parts
