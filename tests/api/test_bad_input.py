"""Bad input, as a fuzzer sends it, answers a 4xx envelope on a connection that stays open.

Every request here goes to one server built as ``modelworks serve`` runs it (``uvicorn_options``),
with two routes of its own that fail as a bug would. Each bad request is followed by a good one that
must reuse the same keep-alive connection: before, an exception that no handler caught answered 500
(or nothing) and made uvicorn close the connection.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import uvicorn
from huaweicloudsdkcore.sdk_request import SdkRequest

from modelworks.api.errors import envelope_bytes
from modelworks.api.protocol import EnvelopeH11Protocol, uvicorn_options
from modelworks.app import create_app
from modelworks.serving.server import build_app
from modelworks.settings import Settings
from tests._client import SignedClient
from tests.conftest import LiveServer, free_port, let_sandbox_users_through

HUGE = str(2**70)  # 1180591620717411303424: beyond any 64-bit column
DEEP = b"[" * 100_000
BUCKET = "bad-input"


def _fail_in_thread() -> None:
    raise RuntimeError("a bug in a sync route")


async def _fail_on_loop() -> None:
    raise RecursionError("a bug in an async route")


@contextmanager
def _serving(config: uvicorn.Config) -> Iterator[None]:
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not server.started:
        assert time.time() < deadline and thread.is_alive(), "the server did not start"
        time.sleep(0.02)
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    home = tmp_path_factory.mktemp("bad_input") / "home"
    let_sandbox_users_through(home)
    settings = Settings(home=home, port=free_port(), worker_poll_seconds=0.05, worker_process=False)
    app = create_app(settings)
    app.add_api_route("/test-only/fail-in-thread", _fail_in_thread)
    app.add_api_route("/test-only/fail-on-loop", _fail_on_loop)
    with _serving(uvicorn.Config(app, log_level="critical", **uvicorn_options(settings))):
        credentials = json.loads((home / "credentials.json").read_text())
        yield LiveServer(settings.public_endpoint, home, settings, credentials)


@pytest.fixture(scope="module")
def client(live: LiveServer) -> SignedClient:
    return live.signed()


@pytest.fixture(scope="module")
def dataset_id(live: LiveServer, client: SignedClient) -> str:
    (live.storage_root / BUCKET / "in").mkdir(parents=True)
    body = {
        "dataset_name": "bad_input",
        "dataset_type": 0,
        "data_sources": [{"data_path": f"/{BUCKET}/in/"}],
        "work_path": f"/{BUCKET}/out/",
        "work_path_type": 0,
    }
    response = client.post("/v2/{project_id}/datasets", body)
    assert response.status_code == 201, response.text
    return str(response.json()["dataset_id"])


def _port(response: httpx.Response) -> int:
    """The client's local port of the connection that carried ``response``."""
    stream = response.extensions["network_stream"]
    return int(stream.get_extra_info("socket").getsockname()[1])


def _envelope(response: httpx.Response, status: int, code: str | None = None) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error_code", "error_msg"}, body
    assert str(body["error_code"]).startswith("ModelArts.")
    if code is not None:
        assert body["error_code"] == code, body
    assert "Traceback" not in response.text and 'File "' not in response.text
    return str(body["error_msg"])


def _still_connected(client: SignedClient, bad: httpx.Response) -> None:
    """The next request goes over the connection that answered ``bad``."""
    good = client.get("/v2/{project_id}/datasets")
    assert good.status_code == 200, good.text
    assert _port(good) == _port(bad), "the connection was closed after the bad request"


def _send_raw(client: SignedClient, method: str, path: str, body: bytes) -> httpx.Response:
    """``body`` sent as is (not JSON a serializer would write), signed as the SDK signs."""
    url = urlsplit(client.endpoint)
    request = SdkRequest(
        method=method,
        schema=url.scheme,
        host=url.netloc,
        resource_path=path.replace("{project_id}", client.project_id),
        query_params=[],
        header_params={"Content-Type": "application/json"},
        body=body,
    )
    signed = client.credentials.sign_request(request)
    return client.http.request(
        method, f"{client.endpoint}{signed.uri}", headers=dict(signed.header_params), content=body
    )


# An exception nothing handles


@pytest.mark.parametrize("path", ["/test-only/fail-in-thread", "/test-only/fail-on-loop"])
def test_unhandled_exception_is_500_envelope_on_a_live_connection(
    live: LiveServer, client: SignedClient, path: str
) -> None:
    failed = client.http.get(f"{live.endpoint}{path}")
    assert _envelope(failed, 500, "ModelArts.0001") == "Internal server error."
    assert failed.headers["x-request-id"]
    assert "connection" not in failed.headers or failed.headers["connection"].lower() != "close"
    _still_connected(client, failed)


# What the HTTP parser refuses


def _check_unparsable_answer(host: str, port: int, request: bytes) -> None:
    # Whatever the server has not read when it closes the connection makes its kernel reset it, and
    # the answer can be lost: ``request`` fits in one of asyncio's 256 KiB reads.
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65_536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 "), head
    assert b"content-type: application/json" in head.lower()
    envelope = json.loads(body)
    assert envelope["error_code"] == "ModelArts.0101" and "longer than" in envelope["error_msg"]


def test_a_256_kb_query_value_is_an_envelope(live: LiveServer) -> None:
    url = urlsplit(live.endpoint)
    assert url.hostname and url.port
    value = "a" * (256 * 1024 - 100)
    _check_unparsable_answer(
        url.hostname, url.port, f"GET /v2/p/datasets?name={value} HTTP/1.1\r\n\r\n".encode()
    )


def test_a_long_query_value_is_an_envelope_with_h11_too() -> None:
    """uvicorn serves with h11 where httptools is not installed."""
    port = free_port()
    config = uvicorn.Config(build_app(_EchoModel()), host="127.0.0.1", port=port, log_level="critical")
    config.http = EnvelopeH11Protocol
    with _serving(config):
        # h11 refuses a head still incomplete after 16 KiB (it takes a longer one read at once).
        _check_unparsable_answer("127.0.0.1", port, f"GET /?name={'a' * 20_000}".encode())


# Bodies: nesting, lone surrogates, non-finite numbers


def _body_routes(dataset_id: str) -> list[tuple[str, str]]:
    d = f"/v2/{{project_id}}/datasets/{dataset_id}"
    return [
        ("POST", "/v2/{project_id}/datasets"),
        ("PUT", d),
        ("PUT", f"{d}/data-annotations/samples"),
        ("POST", f"{d}/data-annotations/labels"),
        ("POST", f"{d}/tasks"),
        ("POST", f"{d}/import-tasks"),
        ("POST", f"{d}/export-tasks"),
        ("POST", f"{d}/versions"),
        ("POST", "/v2/{project_id}/training-job-searches"),
        ("POST", "/v2/{project_id}/training-jobs"),
        ("POST", "/v1/{project_id}/models"),
        ("POST", "/v1/{project_id}/services"),
    ]


@pytest.mark.parametrize(
    "body",
    [
        DEEP,
        b'{"dataset_name": "\\ud800", "name": "\\ud800", "task_type": "\\ud800"}',
        b'{"dataset_name": Infinity, "offset": NaN, "config": {"n_clusters": Infinity}}',
    ],
    ids=["100000-brackets", "lone-surrogate", "non-finite"],
)
def test_json_bodies_the_parser_refuses_are_400(client: SignedClient, dataset_id: str, body: bytes) -> None:
    for method, path in _body_routes(dataset_id):
        response = _send_raw(client, method, path, body)
        assert response.status_code == 400, (method, path, response.text)
        _envelope(response, 400, "ModelArts.4105")
        _still_connected(client, response)


@pytest.mark.parametrize(
    "body",
    [DEEP, b'{"auth": {"identity": {"password": {"user": {"name": "\\ud800"}}}}}', b'{"auth": Infinity}'],
    ids=["100000-brackets", "lone-surrogate", "non-finite"],
)
def test_token_request_bodies_the_parser_refuses_are_400(live: LiveServer, body: bytes) -> None:
    with httpx.Client(base_url=live.endpoint, timeout=60) as http:
        response = http.post("/v3/auth/tokens", content=body, headers={"Content-Type": "application/json"})
        _envelope(response, 400, "ModelArts.4105")
        health = http.get("/health")
        assert health.status_code == 200 and _port(health) == _port(response)


# search_conditions: JSON in a query parameter


@pytest.mark.parametrize(
    "conditions",
    ["[" * 5_000, '[{"label_list": {"labels": [{"name": "\\ud800"}]}}]', '[{"sample_time": Infinity}]'],
    ids=["5000-brackets", "lone-surrogate", "non-finite"],
)
def test_search_conditions_the_parser_refuses_are_400(
    client: SignedClient, dataset_id: str, conditions: str
) -> None:
    path = f"/v2/{{project_id}}/datasets/{dataset_id}/data-annotations/samples"
    response = client.get(path, search_conditions=conditions)
    assert "search_conditions" in _envelope(response, 400)
    _still_connected(client, response)


# Integers beyond 64 bits


def _paged_routes(dataset_id: str) -> list[str]:
    d = f"/v2/{{project_id}}/datasets/{dataset_id}"
    return [
        "/v2/{project_id}/datasets",
        f"{d}/data-annotations/samples",
        f"{d}/data-annotations/labels",
        f"{d}/tasks",
        f"{d}/auto-annotations/samples",
        f"{d}/import-tasks",
        f"{d}/export-tasks",
        f"{d}/versions",
        "/v1/{project_id}/models",
        "/v1/{project_id}/services",
        "/v2/{project_id}/algorithms",
    ]


@pytest.mark.parametrize("name", ["offset", "limit"])
def test_huge_integers_in_query_are_400(client: SignedClient, dataset_id: str, name: str) -> None:
    failures = []
    for path in _paged_routes(dataset_id):
        response = client.get(path, **{name: HUGE})
        if response.status_code != 400:
            failures.append((path, response.status_code, response.text[:200]))
            continue
        assert name in _envelope(response, 400, "ModelArts.0101"), path
        _still_connected(client, response)
    assert not failures


@pytest.mark.parametrize("name", ["offset", "limit"])
def test_huge_integers_in_a_training_job_search_are_400(client: SignedClient, name: str) -> None:
    response = client.post("/v2/{project_id}/training-job-searches", {name: 2**70})
    assert name in _envelope(response, 400)
    _still_connected(client, response)


def test_huge_integers_in_a_label_type_are_400(client: SignedClient, dataset_id: str) -> None:
    path = f"/v2/{{project_id}}/datasets/{dataset_id}/data-annotations/labels"
    response = client.post(path, {"labels": [{"name": "big", "type": 2**70}]})
    assert "type" in _envelope(response, 400)
    _still_connected(client, response)


def test_an_error_message_quoting_a_lone_surrogate_is_still_sent() -> None:
    # A value parsed by a lenient JSON parser (json.loads keeps "\ud800") may end up quoted in an
    # error message, which UTF-8 cannot encode: the envelope escapes it instead of failing.
    body = envelope_bytes("ModelArts.0101", "name: '\ud800' is not a label")
    assert json.loads(body) == {"error_code": "ModelArts.0101", "error_msg": "name: '\ud800' is not a label"}
    assert json.loads(envelope_bytes("ModelArts.0101", "名前")) == {
        "error_code": "ModelArts.0101",
        "error_msg": "名前",
    }


# The model server behind /v1/infers: what it answers, the gateway passes on


class _EchoModel:
    """A loaded model as ``serving.server.build_app`` drives it: ``predict`` echoes, or fails as user
    code does, quoting its input."""

    def predict(self, data: Any) -> Any:
        if isinstance(data, dict) and "fail" in data:
            raise ValueError(f"cannot use {data['fail']!r}")
        return data


@pytest.fixture(scope="module")
def model_server() -> Iterator[str]:
    port = free_port()
    app = build_app(_EchoModel())
    with _serving(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="critical", lifespan="off")):
        yield f"http://127.0.0.1:{port}"


@pytest.mark.parametrize(
    ("method", "body", "status"),
    [
        ("POST", DEEP, 400),  # json.loads: RecursionError
        ("POST", b'{"fail": "\\ud800"}', 500),  # the error message quotes a lone surrogate
        ("POST", b"--x\r\nbroken", 400),  # multipart without a boundary
        ("DELETE", b"", 405),
    ],
    ids=["deep-json", "surrogate-in-message", "broken-multipart", "method"],
)
def test_the_model_server_answers_bad_requests_with_the_envelope(
    model_server: str, method: str, body: bytes, status: int
) -> None:
    content_type = "multipart/form-data" if body.startswith(b"--") else "application/json"
    with httpx.Client(base_url=model_server, timeout=30) as http:
        response = http.request(method, "/", content=body, headers={"Content-Type": content_type})
        _envelope(response, status, "ModelArts.4503")
        assert http.post("/", json={"ok": 1}).json() == {"ok": 1}
