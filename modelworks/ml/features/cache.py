"""A content-addressed feature cache: sha256 of a sample's bytes + model name -> vector.

One SQLite file per model (``<dir>/<model>.sqlite``) so that a second run over the same content computes
nothing, whatever the samples are called or wherever they are stored. Writers in several processes are
safe (SQLite WAL, ``INSERT OR IGNORE``: the same content always gives the same vector).
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from modelworks.ml.features.base import Embedder

_SAFE = re.compile(r"[^A-Za-z0-9_.@+-]")


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class FeatureCache:
    """Vectors by content hash, one file per model name.

    :func:`embed_cached` names models ``<output>[@<augmentation>].v<version>``, e.g.
    ``efficientnet-lite0:grid@fliplr.v2`` (stored as ``efficientnet-lite0_grid@fliplr.v2.sqlite``:
    characters other than letters, digits and ``_.@+-`` become ``_`` in file names).
    """

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)

    def _connect(self, model: str) -> sqlite3.Connection:
        self.directory.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(self.directory / f"{_SAFE.sub('_', model)}.sqlite", timeout=60)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("CREATE TABLE IF NOT EXISTS vectors (key TEXT PRIMARY KEY, dim INT, vec BLOB)")
        return connection

    def get(self, model: str, keys: Sequence[str]) -> dict[str, np.ndarray]:
        """The cached vectors of those ``keys`` that have one."""
        found: dict[str, np.ndarray] = {}
        connection = self._connect(model)
        try:
            unique = list(dict.fromkeys(keys))
            for start in range(0, len(unique), 500):
                chunk = unique[start : start + 500]
                marks = ",".join("?" * len(chunk))
                rows = connection.execute(f"SELECT key, vec FROM vectors WHERE key IN ({marks})", chunk)
                for key, blob in rows:
                    found[key] = np.frombuffer(blob, dtype=np.float32)
        finally:
            connection.close()
        return found

    def put(self, model: str, keys: Sequence[str], vectors: np.ndarray) -> None:
        rows = [
            (k, int(v.shape[0]), np.ascontiguousarray(v, np.float32).tobytes())
            for k, v in zip(keys, vectors, strict=True)
        ]
        connection = self._connect(model)
        try:
            with connection:
                connection.executemany("INSERT OR IGNORE INTO vectors VALUES (?, ?, ?)", rows)
        finally:
            connection.close()

    def count(self, model: str) -> int:
        connection = self._connect(model)
        try:
            return int(connection.execute("SELECT COUNT(*) FROM vectors").fetchone()[0])
        finally:
            connection.close()


def embed_cached(
    embedder: Embedder,
    items: Sequence[Any],
    cache: FeatureCache | None,
    *,
    variant: str = "",
    compute: Callable[[Sequence[Any]], dict[str, np.ndarray]] | None = None,
) -> tuple[dict[str, np.ndarray], int]:
    """Every output of ``embedder`` for ``items``, from ``cache``; computes (and stores) only what is missing.

    ``variant`` names a transformed input (an augmentation) so that its vectors are cached apart from
    the plain ones; ``compute`` then does the embedding (default: ``embedder.embed_all``). Returns
    output name -> ``(len(items), size)`` array, and how many items were computed.
    """
    compute = compute or embedder.embed_all
    if cache is None:
        return compute(items), len(items)
    suffix = (f"@{variant}" if variant else "") + f".v{embedder.version}"
    keys = [content_hash(embedder.content_key(item)) for item in items]
    found = {name: cache.get(name + suffix, keys) for name in embedder.outputs}
    # An item is computed when any output lacks it, and the same content twice only once.
    first_of: dict[str, int] = {}
    todo = [
        i
        for i, key in enumerate(keys)
        if any(key not in vectors for vectors in found.values()) and first_of.setdefault(key, i) == i
    ]
    if todo:
        computed = compute([items[i] for i in todo])
        for name, vectors in computed.items():
            cache.put(name + suffix, [keys[i] for i in todo], vectors)
            for i, vector in zip(todo, vectors, strict=True):
                found[name][keys[i]] = vector
    out = {}
    for name, dim in embedder.outputs.items():
        array = np.empty((len(items), dim), dtype=np.float32)
        for i, key in enumerate(keys):
            array[i] = found[name][key]
        out[name] = array
    return out, len(todo)
