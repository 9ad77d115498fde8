"""Errors of the ML layer, in the project's error tree (``modelworks.errors``).

ModelworksError
├── InvalidArgument
│   └── NotEnoughLabels (400, ModelArts.4405)   too few labels to learn from (from ``modelworks.errors``)
└── ModelUnavailable (500, ModelArts.0001)      a model package or runtime is not installed
"""

from __future__ import annotations

from modelworks.errors import ModelworksError, NotEnoughLabels


class ModelUnavailable(ModelworksError):
    """The package that ships a model's weights, or the runtime that runs it, is not installed."""


__all__ = ["ModelUnavailable", "NotEnoughLabels"]
