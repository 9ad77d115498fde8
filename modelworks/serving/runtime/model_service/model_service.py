"""The base class of every ModelArts inference service: ``_preprocess`` -> ``_inference`` -> ``_postprocess``.

A request reaches ``inference`` as the manual describes it: for ``multipart/form-data`` a dict of
``{field: {file name: file object}}``, for ``application/json`` the decoded JSON object.
"""

from __future__ import annotations

import logging
from typing import Any

logger = logging.getLogger(__name__)


class ServiceError(Exception):
    """Inference code could not answer a request (a bad input, or a hook it must override)."""


class BaseService:
    """Holds ``model_name`` and ``model_path``; subclasses override the three hooks.

    ``model_path`` is what the runtime resolved for the package's ``model_type`` (see
    ``modelworks.serving.runtime.model_path_for``): the model directory, or for PyTorch and
    machine-learning engines the model file in it.
    """

    def __init__(self, model_name: str, model_path: str) -> None:
        self.model_name = model_name
        self.model_path = model_path

    def _preprocess(self, data: Any) -> Any:
        """Turn the request data into the model's input. Called first for every request; the default
        passes the data on unchanged."""
        return data

    def _inference(self, data: Any) -> Any:
        """Run the model on the preprocessed data. Called second; base classes that know their engine
        implement it, this one cannot."""
        raise ServiceError(f"{type(self).__name__} must override _inference: this engine has no default")

    def _postprocess(self, data: Any) -> Any:
        """Turn the model's output into the response body (JSON-serialisable). Called last; the default
        passes the output on unchanged."""
        return data

    def inference(self, data: Any) -> Any:
        """Answer one request: the three hooks in order."""
        return self._postprocess(self._inference(self._preprocess(data)))

    def ping(self) -> str:
        """Health check: a service that was built is ready."""
        return "pong"

    def signature(self) -> dict[str, Any]:
        """A description of the inputs and outputs; empty unless a subclass says more."""
        return {}


class SingleNodeService(BaseService):
    """The parent class the manual names for MindSpore and machine-learning models."""
