"""ASGI middleware: a request id on every response, and a cap on body size."""

from __future__ import annotations

import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from modelworks.api.errors import envelope_bytes
from modelworks.db.engine import RETRY_AFTER_SECONDS
from modelworks.errors import PayloadTooLarge

_RETRY_AFTER = str(RETRY_AFTER_SECONDS).encode()


def _header(scope: Scope, name: bytes) -> bytes | None:
    """The first value of header ``name`` (lower case), without building a dict of all headers."""
    for key, value in scope.get("headers") or ():
        if key == name:
            return bytes(value)
    return None


class RequestIdMiddleware:
    """Adds ``X-Request-Id`` (the caller's, or a new one) to every response, and ``Retry-After`` to a
    503 (``DatabaseBusy``: the request may simply be sent again)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = (_header(scope, b"x-request-id") or b"").decode("latin-1")
        request_id = incoming[:64] or uuid.uuid4().hex

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                if message.get("status") == 503 and not any(k.lower() == b"retry-after" for k, _ in headers):
                    headers.append((b"retry-after", _RETRY_AFTER))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_id)


class BodyLimitMiddleware:
    """Answers 413 with the error envelope when the body is larger than ``max_bytes``."""

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = _header(scope, b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            await self._reject(send)
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _TooLarge()
            return message

        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            await self._reject(send)

    async def _reject(self, send: Send) -> None:
        body = envelope_bytes(
            PayloadTooLarge.error_code, f"Request body is larger than {self.max_bytes} bytes."
        )
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    pass
