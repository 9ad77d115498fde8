"""A symmetric, normalised k-nearest-neighbour graph over embeddings, and label spreading on it.

Label spreading (Zhou et al., 2004): ``F <- alpha S F + (1 - alpha) Y`` with ``S = D^-1/2 W D^-1/2``,
``W`` Gaussian weights of the kNN distances (bandwidth: their median). ``Y`` holds the human labels as
one-hot rows plus a prior (a classifier's probabilities), so that samples the graph barely reaches
keep the classifier's opinion.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse
from sklearn.neighbors import NearestNeighbors


def knn_graph(features: np.ndarray, n_neighbors: int) -> tuple[sparse.csr_matrix, float]:
    """``(S, bandwidth)``: the normalised symmetric affinity matrix and the Gaussian bandwidth used."""
    n = len(features)
    k = min(n_neighbors, n - 1)
    distances, indices = NearestNeighbors(n_neighbors=k + 1).fit(features).kneighbors(features)
    distances, indices = distances[:, 1:], indices[:, 1:]  # each point is its own nearest neighbour
    bandwidth = float(np.median(distances)) or 1.0
    weights = np.exp(-((distances / bandwidth) ** 2))
    rows = np.repeat(np.arange(n), k)
    w = sparse.csr_matrix((weights.ravel(), (rows, indices.ravel())), shape=(n, n))
    w = w + w.T
    degree = np.asarray(w.sum(axis=1)).ravel()
    scale = sparse.diags(1.0 / np.sqrt(np.maximum(degree, 1e-12)))
    return (scale @ w @ scale).tocsr(), bandwidth


def spread_labels(s: sparse.csr_matrix, seeds: np.ndarray, alpha: float, n_iter: int) -> np.ndarray:
    """Spread ``seeds`` (n, classes) over the graph ``s``; rows of the result sum to 1."""
    f = seeds.copy()
    for _ in range(n_iter):
        f = alpha * (s @ f) + (1.0 - alpha) * seeds
    f = np.maximum(f, 1e-12)
    return f / f.sum(axis=1, keepdims=True)
