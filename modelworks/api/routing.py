"""The route class every router uses: request bodies parsed by one strict JSON parser.

FastAPI parses a JSON body with ``json.loads`` before a route's typed body model sees it. That parser
accepts what ModelArts' gateway refuses and what later breaks our code: lone surrogates (``"\\ud800"``,
which fail the moment they are encoded), ``NaN`` / ``Infinity`` and nesting deep enough to exhaust
the interpreter's recursion limit (a ``RecursionError``, a 500). ``orjson`` refuses all three (nesting
beyond 1024 levels) with a ``JSONDecodeError``, which FastAPI turns into a ``RequestValidationError``
and ``api/errors.py`` into the 400 envelope. Use ``api_router`` for every router.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

import orjson
from fastapi import APIRouter, Request, Response
from fastapi.routing import APIRoute


def parse_json(raw: bytes) -> Any:
    """``orjson.loads``: raises ``json.JSONDecodeError`` (``orjson.JSONDecodeError`` is one) for
    malformed JSON, lone surrogates, non-finite numbers and nesting deeper than 1024."""
    return orjson.loads(raw)


class ModelArtsRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = parse_json(await self.body())
        return self._json


class ModelArtsRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route_handler(request: Request) -> Response:
            return await handler(ModelArtsRequest(request.scope, request.receive))

        return route_handler


def api_router(**kwargs: Any) -> APIRouter:
    """An ``APIRouter`` whose routes parse bodies with ``parse_json``."""
    return APIRouter(route_class=ModelArtsRoute, **kwargs)
