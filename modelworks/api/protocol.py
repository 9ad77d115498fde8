"""uvicorn's HTTP protocols, answering a request they cannot parse with the error envelope.

A request line or header longer than the HTTP parser accepts (a 256 KB query value), or bytes that
are not HTTP, never reach the app: uvicorn answers them itself with a plain-text 400. These
subclasses answer the same 400 as ``{"error_code", "error_msg"}`` so that every answer a client gets
is the envelope; the connection is still closed (the parser's state is lost). ``modelworks serve``
runs uvicorn with ``uvicorn_options(settings)``; so should anything else that serves the app.
"""

from __future__ import annotations

import asyncio
import functools
from typing import TYPE_CHECKING, Any

from uvicorn.protocols.http.h11_impl import H11Protocol

from modelworks.api.errors import envelope_bytes
from modelworks.errors import InvalidArgument

if TYPE_CHECKING:
    from modelworks.settings import Settings

UNPARSABLE_MESSAGE = (
    "Invalid HTTP request received: malformed, or a request line or header longer than the server accepts."
)


def _response(default_headers: list[tuple[bytes, bytes]]) -> bytes:
    body = envelope_bytes(InvalidArgument.error_code, UNPARSABLE_MESSAGE)
    lines = [b"HTTP/1.1 400 Bad Request"]
    lines += [name + b": " + value for name, value in default_headers]
    lines += [
        b"content-type: application/json",
        b"content-length: " + str(len(body)).encode("ascii"),
        b"connection: close",
    ]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


class EnvelopeH11Protocol(H11Protocol):
    def send_400_response(self, msg: str) -> None:
        self.transport.write(_response(self.server_state.default_headers))
        self.transport.close()


@functools.cache
def http_protocol() -> type[asyncio.Protocol]:
    """The httptools protocol when httptools is installed (uvicorn's own choice), else h11's."""
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:
        return EnvelopeH11Protocol

    class EnvelopeHttpToolsProtocol(HttpToolsProtocol):
        def send_400_response(self, msg: str) -> None:
            self.transport.write(_response(self.server_state.default_headers))
            self.transport.close()

    return EnvelopeHttpToolsProtocol


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """``uvicorn.run``/``uvicorn.Config`` keyword arguments for serving the app."""
    return {"host": settings.host, "port": settings.port, "http": http_protocol()}
