"""The error envelope: fitting statuses, named fields, request ids, never a traceback."""

from __future__ import annotations

import httpx

from tests.conftest import LiveServer, run_server


def _check(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error_code", "error_msg"} and body["error_code"] == code
    assert "Traceback" not in response.text and 'File "' not in response.text
    assert response.headers["x-request-id"]
    return str(body["error_msg"])


def test_unknown_dataset_is_404_with_envelope(server: LiveServer) -> None:
    _check(server.signed().get("/v2/{project_id}/datasets/doesnotexist"), 404, "ModelArts.4352")


def test_unknown_route_is_404_with_envelope(server: LiveServer) -> None:
    _check(httpx.get(f"{server.endpoint}/v2/nothing/here"), 404, "ModelArts.4201")


def test_invalid_json_is_400(server: LiveServer) -> None:
    token = server.token_client()
    response = token.http.post(
        f"/v2/{server.credentials['project_id']}/datasets",
        content=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    _check(response, 400, "ModelArts.4105")


def test_validation_names_the_field(server: LiveServer) -> None:
    client = server.signed()
    assert "limit" in _check(client.get("/v2/{project_id}/datasets", limit=0), 400, "ModelArts.0101")
    assert "order" in _check(client.get("/v2/{project_id}/datasets", order="sideways"), 400, "ModelArts.0101")
    missing = client.post(
        "/v2/{project_id}/datasets", {"dataset_name": "ok", "data_sources": [{"data_path": "/b/x/"}]}
    )
    assert "work_path" in _check(missing, 400, "ModelArts.0101")
    bad_name = client.post(
        "/v2/{project_id}/datasets", {"dataset_name": "no spaces!", "data_sources": [], "work_path": "/b/o/"}
    )
    assert _check(bad_name, 400, "ModelArts.0101").startswith("dataset_name")
    escape = client.post(
        "/v2/{project_id}/datasets",
        {"dataset_name": "esc", "data_sources": [{"data_path": "/b/../etc/"}], "work_path": "/b/o/"},
    )
    assert "data_sources[0].data_path" in _check(escape, 400, "ModelArts.4313")


def test_duplicate_dataset_name_is_409(server: LiveServer) -> None:
    (server.storage_root / "b" / "in").mkdir(parents=True)
    client = server.signed()
    body = {
        "dataset_name": "twice",
        "data_sources": [{"data_path": "/b/in/"}],
        "work_path": "/b/o/",
        "work_path_type": 0,
    }
    assert client.post("/v2/{project_id}/datasets", body).status_code == 201
    _check(client.post("/v2/{project_id}/datasets", body), 409, "ModelArts.4351")


def test_oversized_body_is_413(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with run_server(tmp_path / "home", max_body_bytes=1024) as live:
        token = live.token_client()
        response = token.post("/v2/{project_id}/datasets", {"dataset_name": "x" * 4096})
        _check(response, 413, "ModelArts.0104")


def test_health_and_openapi_need_no_credentials(server: LiveServer) -> None:
    health = httpx.get(f"{server.endpoint}/health").json()
    assert (
        health["status"] == "ok" and health["database"] == "sqlite" and health["storage"].startswith("local:")
    )
    spec = httpx.get(f"{server.endpoint}/openapi.json").json()
    assert "/v2/{project_id}/datasets" in spec["paths"]


def test_unimplemented_reference_operations_answer_501(server: LiveServer) -> None:
    client = server.signed()
    msg = _check(client.get("/v2/{project_id}/datasets/abc/workforce-tasks"), 501, "ModelArts.0101")
    assert "16.1.26" in msg and "not implemented" in msg
    _check(client.post("/v1/{project_id}/training-jobs", {}), 501, "ModelArts.0101")
    # the caller is still authenticated first
    _check(
        httpx.post(f"{server.endpoint}/v2/{server.credentials['project_id']}/training-jobs"),
        401,
        "ModelArts.0201",
    )
