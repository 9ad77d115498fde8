"""``/openapi.json`` documents all 209 operations of the reference; the 501 fallbacks cover exactly
the operations no router serves; the docs pages name no host but the server's own."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.routing import iter_route_contexts

from modelworks.api.openapi import PUBLIC_PATHS, SIGNATURE, TOKEN
from modelworks.api.unimplemented import UNIMPLEMENTED, coverage, reference_operations, shape
from modelworks.app import create_app
from modelworks.settings import Settings
from tests.conftest import LiveServer

REFERENCE_OPERATIONS = 209


def _fill(path: str, project_id: str) -> str:
    return re.sub(r"{[^}]+}", "nosuchthing", path.replace("{project_id}", project_id))


def test_coverage_read_from_the_app_counts_the_implemented_operations(tmp_path: Path) -> None:
    app = create_app(Settings(home=tmp_path / "home", embedded_worker=False))
    done, missing = coverage(app)
    assert len(done) + len(missing) == REFERENCE_OPERATIONS
    # 72 when the typed-contract work began; operations only ever get added.
    assert len(done) >= 72, [f"{op['method']} {op['path']}" for op in done]
    fallbacks = [
        route
        for route in iter_route_contexts(app.routes)
        if (getattr(route, "openapi_extra", None) or {}).get(UNIMPLEMENTED)
    ]
    assert len(fallbacks) == len(missing)  # one 501 route per missing operation, none for the others
    served = {(op["method"], shape(op["path"])) for op in done}
    assert ("GET", shape("/v2/{project_id}/datasets")) in served
    assert ("POST", shape("/v2/{project_id}/datasets/{dataset_id}/tasks")) in served


def test_implemented_operations_answer_and_the_others_answer_501(tmp_path: Path, server: LiveServer) -> None:
    """Over HTTP: every operation the app counts as implemented answers something other than 501
    (a fallback would shadow nothing), and every other reference operation answers 501 with the
    envelope naming it."""
    app = create_app(Settings(home=tmp_path / "other", embedded_worker=False))
    done, missing = coverage(app)
    client = server.token_client()
    project = server.credentials["project_id"]
    for op in done:
        # Unknown ids and empty bodies: nothing gets created or started.
        response = client.http.request(op["method"], _fill(op["path"], project), json={})
        assert response.status_code != 501, (op["method"], op["path"], response.text)
    for op in missing:
        response = client.http.request(op["method"], _fill(op["path"], project), json={})
        assert response.status_code == 501, (op["method"], op["path"], response.text)
        body = response.json()
        assert body["error_code"].startswith("ModelArts.") and op["title"] in body["error_msg"]


@pytest.fixture
def schema(server: LiveServer) -> dict[str, Any]:
    response = httpx.get(f"{server.endpoint}/openapi.json", timeout=60)
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def _operations(schema: dict[str, Any]) -> dict[tuple[str, str], tuple[str, dict[str, Any]]]:
    return {
        (method.upper(), shape(path)): (path, operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
    }


def test_openapi_documents_all_209_operations(schema: dict[str, Any]) -> None:
    operations = _operations(schema)
    missing_from_schema = [
        f"{op['method']} {op['path']}"
        for op in reference_operations()
        if (op["method"], shape(op["path"])) not in operations
    ]
    assert missing_from_schema == []
    for op in reference_operations():
        _, operation = operations[(op["method"], shape(op["path"]))]
        assert operation["summary"] == f"{op['section']} {op['title']}"
        if operation.get(UNIMPLEMENTED):
            answer = operation["responses"]["501"]["content"]["application/json"]["schema"]
            assert answer == {"$ref": "#/components/schemas/ErrorResp"}
    ids = [operation["operationId"] for _, operation in operations.values()]
    assert len(ids) == len(set(ids))
    assert set(schema["components"]["schemas"]["ErrorResp"]["required"]) == {"error_code", "error_msg"}


def test_unimplemented_operations_carry_the_references_parameters_and_body(schema: dict[str, Any]) -> None:
    operations = _operations(schema)
    _, notebooks = operations[("GET", shape("/v1/{project_id}/notebooks"))]
    assert notebooks[UNIMPLEMENTED] is True
    names = {p["name"] for p in notebooks["parameters"]}
    assert {"project_id", "limit", "offset", "status"} <= names, names
    _, create = operations[("POST", shape("/v1/{project_id}/notebooks"))]
    body = create["requestBody"]["content"]["application/json"]
    assert {"name", "flavor", "image_id", "volume"} <= set(body["schema"]["properties"])
    assert body["schema"]["properties"]["volume"]["properties"]["capacity"]["type"] == "integer"
    assert body["example"]["name"] == "notebooks_test"  # the reference's example


def test_security_schemes_cover_every_operation_but_health_and_tokens(schema: dict[str, Any]) -> None:
    schemes = schema["components"]["securitySchemes"]
    assert schemes[SIGNATURE] == schemes[SIGNATURE] | {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
    }
    assert "SDK-HMAC-SHA256" in schemes[SIGNATURE]["description"]
    assert schemes[TOKEN] | {"type": "apiKey", "in": "header", "name": "X-Auth-Token"} == schemes[TOKEN]
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if path in PUBLIC_PATHS:
                assert "security" not in operation, (method, path)
            else:
                assert operation["security"] == [{SIGNATURE: []}, {TOKEN: []}], (method, path)
                assert "401" in operation["responses"], (method, path)


def test_errors_are_documented_as_the_envelope_not_fastapis_422(schema: dict[str, Any]) -> None:
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            assert "422" not in operation["responses"], (method, path)
            for status, response in operation["responses"].items():
                if status.startswith(("4", "5")):
                    content = response["content"]["application/json"]["schema"]
                    assert content == {"$ref": "#/components/schemas/ErrorResp"}, (method, path, status)
    assert "HTTPValidationError" not in schema["components"]["schemas"]


def test_implemented_operations_show_the_references_request_example(schema: dict[str, Any]) -> None:
    operations = _operations(schema)
    reference = {(op["method"], shape(op["path"])): op for op in reference_operations()}
    shown = 0
    for key, op in reference.items():
        _, operation = operations[key]
        if operation.get(UNIMPLEMENTED) or "example_request" not in op:
            continue
        media = operation["requestBody"]["content"]["application/json"]
        assert media.get("example") == op["example_request"] or "examples" in media, key
        shown += 1
    assert shown >= 15


def test_implemented_operations_show_the_references_answer_example(schema: dict[str, Any]) -> None:
    operations = _operations(schema)
    shown = 0
    for op in reference_operations():
        _, operation = operations[(op["method"], shape(op["path"]))]
        answer = op.get("example_response")
        if operation.get(UNIMPLEMENTED) or answer is None:
            continue
        documented = operation["responses"].get(answer["status"])
        if documented is not None and "application/json" in documented.get("content", {}):
            assert documented["content"]["application/json"].get("example") == answer["body"], op["path"]
            shown += 1
    assert shown >= 30, shown


def test_docs_pages_load_their_assets_from_the_server(server: LiveServer) -> None:
    for page in ("/docs", "/redoc"):
        html = httpx.get(f"{server.endpoint}{page}").text
        sources = re.findall(r"""(?:src|href)=["']([^"']+)""", html)
        assert sources, html
        assert all(s.startswith("/") for s in sources), sources
        assert "cdn." not in html and "fonts.googleapis" not in html
        for source in sources:
            assert httpx.get(f"{server.endpoint}{source}").status_code == 200, source
