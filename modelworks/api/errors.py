"""Every error becomes ``{"error_code", "error_msg"}``; no traceback ever reaches a body."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from modelworks.errors import ModelworksError

log = logging.getLogger(__name__)


def envelope(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse(status_code=status, content={"error_code": code, "error_msg": message})


def _field(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    out = ""
    for p in parts:
        out += f"[{p}]" if p.isdigit() else (f".{p}" if out else p)
    return out or "body"


def install(app: FastAPI) -> None:
    @app.exception_handler(ModelworksError)
    async def _domain(_: Request, exc: ModelworksError) -> JSONResponse:
        return envelope(exc.http_status, exc.error_code, exc.message)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        if first.get("type") == "json_invalid":
            return envelope(400, "ModelArts.4105", "Incorrect JSON format of the input data.")
        field = _field(tuple(first.get("loc", ())))
        return envelope(400, "ModelArts.0101", f"{field}: {first.get('msg', 'invalid')}")

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404:
            return envelope(404, "ModelArts.4201", "Invalid request URL: no such operation.")
        if exc.status_code == 405:
            return envelope(405, "ModelArts.4201", "Method not allowed for this URL.")
        return envelope(exc.status_code, "ModelArts.0104", str(exc.detail))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return envelope(500, "ModelArts.0001", "Internal server error.")
