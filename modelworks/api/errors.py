"""Every error becomes ``{"error_code", "error_msg"}``; no traceback ever reaches a body.

Domain errors and FastAPI's own (validation, unknown URL) are answered by exception handlers. An
exception nothing handles would reach Starlette's ``ServerErrorMiddleware``, which answers 500 and
then re-raises it to uvicorn, which closes the connection: a keep-alive client (the SDK's session, a
fuzzer) loses its connection, and a request it pipelined is never answered. ``UnhandledErrorMiddleware``
answers such an exception with the 500 envelope itself and does not re-raise, so the connection lives.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from modelworks.errors import InvalidArgument, InvalidJson, InvalidRequestUrl, ModelworksError, ParameterError

log = logging.getLogger(__name__)

INTERNAL_ERROR_MESSAGE = "Internal server error."


def envelope_bytes(code: str, message: str) -> bytes:
    """The envelope's body. A message quoting a lone surrogate (``"\\ud800"`` in a JSON query value)
    cannot be UTF-8: it is sent with JSON escapes instead of failing as a second error."""
    content = {"error_code": code, "error_msg": message}
    try:
        return json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(content, separators=(",", ":")).encode("ascii")


def envelope(status: int, code: str, message: str) -> Response:
    return Response(envelope_bytes(code, message), status_code=status, media_type="application/json")


def _field(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    out = ""
    for p in parts:
        out += f"[{p}]" if p.isdigit() else (f".{p}" if out else p)
    return out or "body"


def install(app: FastAPI) -> None:
    @app.exception_handler(ModelworksError)
    async def _domain(_: Request, exc: ModelworksError) -> Response:
        return envelope(exc.http_status, exc.error_code, exc.message)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {}
        if first.get("type") == "json_invalid":
            return envelope(400, InvalidJson.error_code, "Incorrect JSON format of the input data.")
        field = _field(tuple(first.get("loc", ())))
        return envelope(400, InvalidArgument.error_code, f"{field}: {first.get('msg', 'invalid')}")

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404:
            return envelope(404, InvalidRequestUrl.error_code, "Invalid request URL: no such operation.")
        if exc.status_code == 405:
            return envelope(405, InvalidRequestUrl.error_code, "Method not allowed for this URL.")
        return envelope(exc.status_code, ParameterError.error_code, str(exc.detail))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        # Only reached for an exception raised outside UnhandledErrorMiddleware (in a middleware
        # around it); the connection is closed after this answer.
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return envelope(500, ModelworksError.error_code, INTERNAL_ERROR_MESSAGE)


class UnhandledErrorMiddleware:
    """Answers an exception that escaped every handler with its envelope (500 with a generic message
    for anything but a ``ModelworksError``), on the same keep-alive connection.

    Once a response has started, no envelope can replace it: an exception before its last body chunk
    is re-raised (only closing the connection tells the client that the body is cut short); one after
    it is only logged. Install it outside ``BodyLimitMiddleware``, whose own exception it must not
    see."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = finished = False

        async def tracking_send(message: Message) -> None:
            nonlocal started, finished
            if message["type"] == "http.response.start":
                started = True
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                finished = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            if isinstance(exc, ModelworksError):
                status, code, message = exc.http_status, exc.error_code, exc.message
            else:
                log.exception("unexpected error on %s %s", scope.get("method"), scope.get("path"))
                status, code, message = 500, ModelworksError.error_code, INTERNAL_ERROR_MESSAGE
            if finished:
                return
            if started:
                raise
            body = envelope_bytes(code, message)
            headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body})
