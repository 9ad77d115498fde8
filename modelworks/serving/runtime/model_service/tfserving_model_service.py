"""``TfServingBaseService``: the parent class of TensorFlow inference code.

Modelworks does not ship TensorFlow Serving: code that loads its model itself (as the manual's
``saved_model`` and ONNX examples do) overrides ``_inference``; the default says so.
"""

from __future__ import annotations

from typing import Any

from .model_service import ServiceError, SingleNodeService


class TfServingBaseService(SingleNodeService):
    def _inference(self, data: Any) -> Any:
        raise ServiceError(
            f"{type(self).__name__}: Modelworks has no built-in TensorFlow Serving; load the model in "
            "__init__ and override _inference"
        )
