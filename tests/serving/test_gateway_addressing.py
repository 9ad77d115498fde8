"""The gateway addresses instances by ``base_url`` (served elsewhere) or by loopback port (this host).

The instances are rows written here; the upstream is a real HTTP/1.1 server on loopback (the
standard library's), which records what it received and can answer in chunks, close after its
answer, or drop a kept-alive connection without saying so.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from modelworks.compute.processes import hostname
from modelworks.db import Database
from modelworks.errors import NotFound
from modelworks.serving.gateway import INSTANCE_HEADER, Answer, BackendUnavailable, Gateway
from modelworks.serving.tables import InferenceService, ServiceInstance

PROJECT = "project-a"
SERVICE = "svc-1"
APIS = ["/v2/predict", "/chunked", "/close", "/drop"]


class _Upstream(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    received: list[dict[str, Any]]

    def do_POST(self) -> None:  # noqa: N802 (the standard library's name)
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        self.received.append({"path": self.path, "headers": dict(self.headers.items()), "body": body})
        answer = json.dumps({"path": self.path, "echo": body.decode()}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        if self.path.endswith("/chunked"):
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for start in range(0, len(answer), 7):
                piece = answer[start : start + 7]
                self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
            return
        if self.path.endswith("/close"):
            self.send_header("Connection", "close")
            self.close_connection = True
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)
        if self.path.endswith("/drop"):
            self.close_connection = True  # closed without "Connection: close": the client kept it

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def upstream() -> Iterator[tuple[int, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []
    handler = type("Upstream", (_Upstream,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], received
    server.shutdown()
    server.server_close()


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'gateway.db'}")
    database.migrate()
    with database.session() as s:
        s.add(
            InferenceService(
                id=SERVICE,
                project_id=PROJECT,
                name="addressed",
                infer_type="real-time",
                status="running",
                config=[
                    {"model_id": "m1", "weight": 100, "apis": [{"url": u, "method": "POST"} for u in APIS]}
                ],
            )
        )
    yield database
    database.dispose()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def add_instance(db: Database, instance_id: str, **where: Any) -> None:
    with db.session() as s:
        s.add(
            ServiceInstance(
                id=instance_id,
                service_id=SERVICE,
                model_id="m1",
                revision="r",
                slot=0,
                status="running",
                **where,
            )
        )


def call(
    gateway: Gateway, path: str, *, project: str = PROJECT, query: str = "", body: bytes = b"{}"
) -> Answer:
    headers = {"Content-Type": "application/json", "X-Request-Id": "req-1", "Authorization": "secret"}
    return asyncio.run(gateway.forward(project, SERVICE, path, "POST", headers, query, body))


def calls(gateway: Gateway, paths: list[str]) -> list[Answer]:
    """Several calls on one event loop, so that kept-alive connections are reused."""

    async def run() -> list[Answer]:
        headers = {"Content-Type": "application/json"}
        try:
            return [
                await gateway.forward(PROJECT, SERVICE, p, "POST", headers, "", b'{"n": 1}') for p in paths
            ]
        finally:
            await gateway.aclose()

    return asyncio.run(run())


def test_an_instance_with_a_base_url_is_called_there_from_any_host(
    db: Database, upstream: tuple[int, list[dict[str, Any]]]
) -> None:
    port, received = upstream
    for replica in ("ray-2", "ray-1"):  # replicas behind one proxy share its address
        add_instance(db, replica, host="another-host", base_url=f"http://127.0.0.1:{port}/serve/svc-1")
    answer = call(Gateway(db), "v2/predict", query="top=3&x=%2F", body=b'{"data": 1}')
    assert answer.status_code == 200, answer.content
    assert json.loads(answer.content) == {
        "path": "/serve/svc-1/v2/predict?top=3&x=%2F",
        "echo": '{"data": 1}',
    }
    assert answer.headers[INSTANCE_HEADER] == "ray-1"
    assert answer.headers["content-type"] == "application/json"
    sent = {k.lower(): v for k, v in received[-1]["headers"].items()}
    assert sent["x-request-id"] == "req-1" and sent["host"] == f"127.0.0.1:{port}"
    assert "authorization" not in sent  # the caller's credentials stay at the gateway


def test_a_port_is_called_on_loopback_only_for_instances_of_this_host(
    db: Database, upstream: tuple[int, list[dict[str, Any]]]
) -> None:
    port, received = upstream
    add_instance(db, "elsewhere", host="another-host", port=port)
    with pytest.raises(BackendUnavailable):
        call(Gateway(db), "/v2/predict")
    add_instance(db, "here", host=hostname(), port=port)
    answer = call(Gateway(db), "/v2/predict")
    assert answer.status_code == 200 and answer.headers[INSTANCE_HEADER] == "here"
    assert received[-1]["path"] == "/v2/predict"


def test_another_projects_service_is_not_found(
    db: Database, upstream: tuple[int, list[dict[str, Any]]]
) -> None:
    add_instance(db, "ray-1", base_url=f"http://127.0.0.1:{upstream[0]}")
    with pytest.raises(NotFound) as refused:
        call(Gateway(db), "/v2/predict", project="project-b")
    assert refused.value.error_code == "ModelArts.3502"


def test_calls_alternate_over_addresses_and_skip_those_that_cannot_answer(
    db: Database, upstream: tuple[int, list[dict[str, Any]]]
) -> None:
    port = upstream[0]
    add_instance(db, "by-url", base_url=f"http://127.0.0.1:{port}/a")
    add_instance(db, "by-port", host=hostname(), port=port)
    answers = calls(Gateway(db), ["/v2/predict"] * 6)
    assert sorted(a.headers[INSTANCE_HEADER] for a in answers) == ["by-port"] * 3 + ["by-url"] * 3

    add_instance(db, "gone", base_url=f"http://127.0.0.1:{closed_port()}")
    add_instance(db, "not-http", base_url="ftp://127.0.0.1/x")
    answers = calls(Gateway(db), ["/v2/predict"] * 6)
    assert all(a.status_code == 200 for a in answers)
    assert {a.headers[INSTANCE_HEADER] for a in answers} == {"by-url", "by-port"}


def test_chunked_closing_and_dropped_connections_are_answered(
    db: Database, upstream: tuple[int, list[dict[str, Any]]]
) -> None:
    add_instance(db, "ray-1", base_url=f"http://127.0.0.1:{upstream[0]}/s/")
    paths = ["/chunked", "/close", "/v2/predict", "/drop", "/v2/predict", "/drop", "/chunked"]
    answers = calls(Gateway(db), paths)
    assert [json.loads(a.content) for a in answers] == [{"path": f"/s{p}", "echo": '{"n": 1}'} for p in paths]
