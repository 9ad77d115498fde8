"""``PTServingBaseService``: inference code of PyTorch models subclasses it and loads its model in
``__init__`` into ``self.model``."""

from __future__ import annotations

from typing import Any

from .model_service import ServiceError, SingleNodeService


class PTServingBaseService(SingleNodeService):
    """The default ``_inference`` calls ``self.model`` on every input of the preprocessed dict, without
    gradients, as the ModelArts PyTorch runtime does."""

    model: Any = None

    def _inference(self, data: Any) -> Any:
        if self.model is None:
            raise ServiceError(f"{type(self).__name__} loaded no self.model; load it in __init__")
        if not isinstance(data, dict):
            raise ServiceError("the default PyTorch _inference expects a dict of model inputs")
        try:
            import torch
        except ImportError:
            return {name: self.model(value) for name, value in data.items()}
        with torch.no_grad():
            return {name: self.model(value) for name, value in data.items()}
