"""Temperature scaling of class probabilities, fitted on out-of-fold predictions of the labeled samples."""

from __future__ import annotations

import numpy as np

_TEMPERATURES = np.geomspace(0.05, 20.0, 121)


def apply_temperature(proba: np.ndarray, temperature: float) -> np.ndarray:
    """``softmax(log(proba) / temperature)``, row by row."""
    logits = np.log(np.clip(proba, 1e-12, 1.0)) / temperature
    logits -= logits.max(axis=1, keepdims=True)
    out = np.exp(logits)
    return out / out.sum(axis=1, keepdims=True)


def fit_temperature(proba: np.ndarray, targets: np.ndarray) -> float:
    """The temperature that minimises the negative log-likelihood of ``targets`` (column indices)."""
    rows = np.arange(len(targets))
    best, best_nll = 1.0, np.inf
    for temperature in _TEMPERATURES:
        nll = -np.log(np.clip(apply_temperature(proba, temperature)[rows, targets], 1e-12, 1.0)).mean()
        if nll < best_nll:
            best, best_nll = float(temperature), float(nll)
    return best
