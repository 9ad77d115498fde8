"""Every ModelArts operation Modelworks does not implement yet answers 501 with the envelope.

``reference_operations.json`` lists the 209 operations of the API reference (method, path,
section, title). Routes registered here come after the real routers, so an implemented operation
always wins; the rest authenticate the caller like any operation, then say plainly what is missing.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from fastapi import APIRouter, FastAPI

from modelworks.api.deps import PrincipalDep
from modelworks.errors import NotImplementedYet


def reference_operations() -> list[dict[str, str]]:
    text = resources.files("modelworks.api").joinpath("reference_operations.json").read_text()
    ops: list[dict[str, str]] = json.loads(text)
    return ops


def _implemented(app: FastAPI) -> set[tuple[str, str]]:
    out = set()
    for route in app.routes:
        for method in getattr(route, "methods", None) or ():
            out.add((method, _shape(getattr(route, "path", ""))))
    return out


def _shape(path: str) -> str:
    """The path with every ``{param}`` replaced, so differently named parameters compare equal."""
    return "/".join("{}" if part.startswith("{") else part for part in path.split("/"))


def install(app: FastAPI) -> None:
    router = APIRouter(include_in_schema=False)
    done = _implemented(app)
    for op in reference_operations():
        if (op["method"], _shape(op["path"])) in done:
            continue
        operation = f"{op['method']} {op['path']} ({op['section']} {op['title']})"
        message = f"{operation} is not implemented by Modelworks yet."

        def endpoint(principal: PrincipalDep, _message: str = message) -> Any:
            raise NotImplementedYet(_message)

        router.add_api_route(op["path"], endpoint, methods=[op["method"]])
    app.include_router(router)
