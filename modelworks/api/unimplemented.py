"""Every ModelArts operation Modelworks does not implement yet answers 501 with the envelope.

``reference_operations.json`` lists the 209 operations of the API reference (method, path,
section, title, and the reference's parameters, body fields and example, which ``api/openapi.py``
documents). Routes registered here come after the real routers and only for operations no router
serves; they authenticate the caller like any operation, then say plainly what is missing.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.routing import iter_route_contexts

from modelworks.api.deps import PrincipalDep
from modelworks.errors import NotImplementedYet

UNIMPLEMENTED = "x-modelworks-unimplemented"
"""Marks a fallback route (its ``openapi_extra``), so the routes read from the app tell the
implemented operations from the 501 ones."""


@cache
def reference_operations() -> list[dict[str, Any]]:
    text = resources.files("modelworks.api").joinpath("reference_operations.json").read_text()
    ops: list[dict[str, Any]] = json.loads(text)
    return ops


def served_operations(app: FastAPI) -> dict[tuple[str, str], str]:
    """``(method, shape) -> path`` of every operation a route of ``app`` serves, the 501 fallbacks
    left out. FastAPI keeps an included router as one wrapper in ``app.routes`` (since 0.13x);
    ``iter_route_contexts`` yields the routes inside it with their full paths."""
    out: dict[tuple[str, str], str] = {}
    for route in iter_route_contexts(app.routes):
        if (getattr(route, "openapi_extra", None) or {}).get(UNIMPLEMENTED):
            continue
        path = route.path or ""
        for method in route.methods or ():
            out.setdefault((method, shape(path)), path)
    return out


def coverage(app: FastAPI) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The reference's operations split into those ``app`` implements and those answering 501."""
    served = served_operations(app)
    done: list[dict[str, Any]] = []
    missing: list[dict[str, Any]] = []
    for op in reference_operations():
        (done if (op["method"], shape(op["path"])) in served else missing).append(op)
    return done, missing


def shape(path: str) -> str:
    """The path with every ``{param}`` replaced, so differently named parameters compare equal."""
    return "/".join("{}" if part.startswith("{") else part for part in path.split("/"))


def _specificity(path: str) -> list[int]:
    return [1 if part.startswith("{") else 0 for part in path.split("/")]


def install(app: FastAPI) -> None:
    """Call after every real router is included."""
    router = APIRouter(include_in_schema=False)
    # Literal segments before parameters (``notebooks/flavors`` before ``notebooks/{id}``): routes
    # match in order, and the reference's order would let a parameter swallow a literal.
    for op in sorted(coverage(app)[1], key=lambda op: _specificity(op["path"])):
        operation = f"{op['method']} {op['path']} ({op['section']} {op['title']})"
        message = f"{operation} is not implemented by Modelworks yet."

        def endpoint(principal: PrincipalDep, _message: str = message) -> Any:
            raise NotImplementedYet(_message)

        router.add_api_route(
            op["path"], endpoint, methods=[op["method"]], openapi_extra={UNIMPLEMENTED: True}
        )
    app.include_router(router)
