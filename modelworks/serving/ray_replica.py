"""What runs inside a Ray Serve replica: one model package, answering as a model server does.

``ray_serve.py`` deploys ``ModelReplica`` (by reference: Ray workers import this module, so it imports
no Ray and nothing heavy). Each replica is a Ray actor in a process of its own; it loads the package
with ``modelworks.serving.runtime`` and answers requests with the model server's own code
(``modelworks.serving.server.answer``): JSON and ``multipart/form-data`` bodies, the same answers and
errors, ``GET .../health``, one call into the inference code at a time.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

LOAD_FAILED = "the model package cannot be loaded: "
"""Starts the message of a replica that cannot load its package; ``ray_serve`` finds the cause after it
in the application's status message (which also holds Ray's traceback)."""


class PackageLoadFailed(RuntimeError):
    """The replica's package cannot be loaded (the message holds the cause on one line)."""


class ModelReplica:
    """A Serve deployment class: ``__init__`` loads the package, ``__call__`` answers HTTP requests."""

    def __init__(self, model_dir: str, model_name: str):
        from modelworks.serving.runtime import load_model
        from modelworks.serving.server import predictor

        try:
            # As a local model server: relative paths in inference code start at the package.
            os.chdir(model_dir)
            self.model = load_model(model_dir, model_name)
        except BaseException as exc:
            cause = " ".join(f"{type(exc).__name__}: {exc}".split())
            print(f"[Modelworks] {LOAD_FAILED}{cause}", file=sys.stderr, flush=True)
            traceback.print_exc()
            raise PackageLoadFailed(f"{LOAD_FAILED}{cause}") from None
        self._predict = predictor(self.model)

    async def __call__(self, request: Request) -> Response:
        from modelworks.serving.server import answer

        if request.method == "GET" and _path_in_app(request.scope) == "/health":
            return JSONResponse({"status": "OK"})
        return await answer(request, self._predict)


def _path_in_app(scope: Mapping[str, Any]) -> str:
    """The request path below the application's route prefix (Serve passes it as ``root_path``)."""
    path, root = str(scope.get("path") or "/"), str(scope.get("root_path") or "")
    if root and path.startswith(root):
        path = path[len(root) :]
    return "/" + path.strip("/")
