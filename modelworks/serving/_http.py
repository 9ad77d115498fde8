"""A small HTTP/1.1 client over asyncio streams: what the gateway needs to forward calls, and no more.

The gateway forwards to model servers it started (uvicorn on loopback) and to Ray Serve proxies. It
used ``httpx.AsyncClient``, which spent about 1.2 ms of CPU per call (its transport layers, and an
attempt to import ``sniffio`` on every request when that is not installed) -- more than the rest of
the gateway together. This client writes the request in one piece, reads the status line and headers
with one ``readuntil``, the body by ``Content-Length`` or chunks, and keeps connections alive per
address: about 0.12 ms of CPU per call (``benchmarks/bench_services.py`` measures the whole path).

A connection taken from the idle pool may have been closed by the server meanwhile (uvicorn closes
idle connections after 5 s); if such a connection ends before any byte of the answer, the request is
sent once more on a new connection -- the server closed it idle, so it never read the request.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

MAX_HEAD_BYTES = 1 << 20
"""The longest status line plus headers accepted from an upstream."""
MAX_IDLE_PER_ORIGIN = 64
_NO_BODY_STATUS = frozenset({204, 304})


class UpstreamError(OSError):
    """The upstream could not be reached, or the connection broke before a whole answer came."""


class UpstreamTimeout(UpstreamError):
    """No whole answer within the timeout."""


@dataclass(frozen=True)
class Origin:
    """Where requests go: scheme, host, port, and the path prefix every request path is appended to."""

    scheme: str
    host: str
    port: int
    prefix: str

    @classmethod
    def parse(cls, address: str) -> Origin:
        """``http://127.0.0.1:8080`` or ``https://serve.example:8443/prefix`` (a trailing ``/`` dropped)."""
        parts = urlsplit(address)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) address: {address!r}")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        return cls(parts.scheme, parts.hostname, port, parts.path.rstrip("/"))

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"


@dataclass
class Reply:
    status_code: int
    headers: dict[str, str]
    """Lower-cased names; a repeated header keeps its last value."""
    content: bytes


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader = reader
        self.writer = writer

    @property
    def usable(self) -> bool:
        return not self.reader.at_eof() and not self.writer.is_closing()

    def close(self) -> None:
        self.writer.close()


class _Stale(Exception):
    """A reused connection ended before the answer began."""


class HttpPool:
    """Keep-alive connections by origin; ``request`` sends one request and reads the whole answer."""

    def __init__(self, timeout: float):
        self.timeout = timeout
        self._idle: dict[Origin, list[_Connection]] = {}
        self._origins: dict[str, Origin] = {}
        self._ssl: ssl.SSLContext | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def origin(self, address: str) -> Origin:
        origin = self._origins.get(address)
        if origin is None:
            try:
                origin = self._origins[address] = Origin.parse(address)
            except ValueError as exc:
                raise UpstreamError(str(exc)) from exc
        return origin

    async def request(
        self, method: str, address: str, target: str, headers: Iterable[tuple[str, str]], body: bytes
    ) -> Reply:
        """Send ``method address+target`` with ``headers`` and ``body``.

        ``target`` is the path (with ``?query``). Raises ``UpstreamTimeout`` after ``timeout`` seconds
        and ``UpstreamError`` when the origin cannot be reached or the connection breaks.
        """
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # connections belong to the loop that opened them
            self._loop, self._idle = loop, {}
        origin = self.origin(address)
        head = [f"{method} {origin.prefix}{target} HTTP/1.1\r\nHost: {origin.host_header}\r\n"]
        head.extend(f"{name}: {value}\r\n" for name, value in headers)
        head.append(f"Content-Length: {len(body)}\r\n\r\n")
        try:
            payload = "".join(head).encode("latin-1") + body
            async with asyncio.timeout(self.timeout):
                while True:
                    connection, reused = self._take(origin), True
                    if connection is None:
                        connection, reused = await self._connect(origin), False
                    try:
                        reply, keep = await self._exchange(connection, payload, method, reused)
                    except _Stale:
                        connection.close()
                        continue
                    except BaseException:
                        connection.close()
                        raise
                    if keep:
                        self._give_back(origin, connection)
                    else:
                        connection.close()
                    return reply
        except TimeoutError as exc:
            raise UpstreamTimeout(f"no answer from {address} within {self.timeout:g} s") from exc
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
            if isinstance(exc, UpstreamError):
                raise
            raise UpstreamError(f"{address}: {type(exc).__name__}: {exc}") from exc

    async def aclose(self) -> None:
        idle, self._idle = self._idle, {}
        for connections in idle.values():
            for connection in connections:
                connection.close()

    # -- connections -------------------------------------------------------------------------------

    def _take(self, origin: Origin) -> _Connection | None:
        idle = self._idle.get(origin)
        while idle:
            connection = idle.pop()
            if connection.usable:
                return connection
            connection.close()
        return None

    def _give_back(self, origin: Origin, connection: _Connection) -> None:
        idle = self._idle.setdefault(origin, [])
        if len(idle) < MAX_IDLE_PER_ORIGIN and connection.usable:
            idle.append(connection)
        else:
            connection.close()

    async def _connect(self, origin: Origin) -> _Connection:
        context = None
        if origin.scheme == "https":
            if self._ssl is None:
                self._ssl = ssl.create_default_context()
            context = self._ssl
        reader, writer = await asyncio.open_connection(
            origin.host, origin.port, ssl=context, limit=MAX_HEAD_BYTES
        )
        sock = writer.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            # A request written in pieces must not wait for the peer's delayed ACK (40 ms on Linux).
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return _Connection(reader, writer)

    # -- one exchange ------------------------------------------------------------------------------

    async def _exchange(
        self, connection: _Connection, payload: bytes, method: str, reused: bool
    ) -> tuple[Reply, bool]:
        """The reply, and whether the connection may be used again."""
        reader = connection.reader
        try:
            connection.writer.write(payload)
            await connection.writer.drain()
            raw = await reader.readuntil(b"\r\n\r\n")
        except (ConnectionError, asyncio.IncompleteReadError) as exc:
            partial = isinstance(exc, asyncio.IncompleteReadError) and exc.partial
            if reused and not partial:
                raise _Stale() from exc
            raise
        status, version, headers = _parse_head(raw)
        while 100 <= status < 200 and status != 101:  # interim answers (100 Continue) carry no body
            status, version, headers = _parse_head(await reader.readuntil(b"\r\n\r\n"))
        keep = version == "HTTP/1.1" and "close" not in headers.get("connection", "").lower()
        if method == "HEAD" or status in _NO_BODY_STATUS:
            content = b""
        elif "chunked" in headers.get("transfer-encoding", "").lower():
            content = await _read_chunks(reader)
        elif "content-length" in headers:
            content = await reader.readexactly(int(headers["content-length"]))
        else:
            content, keep = await reader.read(), False
        return Reply(status, headers, content), keep


def _parse_head(raw: bytes) -> tuple[int, str, dict[str, str]]:
    lines = raw.decode("latin-1").split("\r\n")
    version, _, rest = lines[0].partition(" ")
    if not version.startswith("HTTP/"):
        raise ValueError(f"not an HTTP status line: {lines[0][:100]!r}")
    status = int(rest[:3])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    return status, version, headers


async def _read_chunks(reader: asyncio.StreamReader) -> bytes:
    parts: list[bytes] = []
    while True:
        size_line = await reader.readuntil(b"\r\n")
        size = int(size_line.split(b";", 1)[0].strip(), 16)
        if size == 0:
            while await reader.readuntil(b"\r\n") != b"\r\n":  # trailers, up to the empty line
                pass
            return b"".join(parts)
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)
