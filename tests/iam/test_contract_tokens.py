"""``POST /v3/auth/tokens`` takes a typed Keystone body (issue 20): what is not one is a 400 envelope
naming the field, never a 500, and a good body still gets its token."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.conftest import LiveServer


def body_of(server: LiveServer, **user_changes: Any) -> dict[str, Any]:
    c = server.credentials
    user = {"name": c["user_name"], "password": c["password"], "domain": {"name": c["domain_name"]}}
    return {
        "auth": {
            "identity": {"methods": ["password"], "password": {"user": {**user, **user_changes}}},
            "scope": {"project": {"id": c["project_id"]}},
        }
    }


def test_bad_token_requests_are_a_400_naming_the_field(server: LiveServer) -> None:
    url = f"{server.endpoint}/v3/auth/tokens"
    deep = b"[" * 100_000 + b"]" * 100_000
    assert httpx.post(url, content=deep, headers={"Content-Type": "application/json"}).status_code == 400
    methods = body_of(server)
    methods["auth"]["identity"]["methods"] = ["token"]
    cases: list[tuple[Any, str]] = [
        ({}, "auth"),
        (body_of(server, password=["not", "text"]), "auth.identity.password.user.password"),
        (body_of(server, name="\ud800"), ""),  # a lone surrogate: refused by the JSON parser
        (methods, "auth.identity.methods[0]"),
    ]
    for body, field in cases:
        # json.dumps writes the lone surrogate as the escape \ud800, as a client sending one would.
        response = httpx.post(url, content=json.dumps(body), headers={"Content-Type": "application/json"})
        assert response.status_code == 400, response.text
        answer = response.json()
        assert set(answer) == {"error_code", "error_msg"} and answer["error_msg"].startswith(field), answer

    good = httpx.post(url, json=body_of(server))
    assert good.status_code == 201 and good.headers["X-Subject-Token"].startswith("MIIT"), good.text
    assert good.json()["token"]["project"]["id"] == server.credentials["project_id"]


@pytest.mark.parametrize("path", ["/health", "/openapi.json"])
def test_health_and_the_contract_answer_without_credentials(server: LiveServer, path: str) -> None:
    response = httpx.get(f"{server.endpoint}{path}", timeout=120)  # the schema is built on first use
    assert response.status_code == 200, response.text
    if path == "/health":
        assert response.json()["status"] == "ok" and response.json()["sandbox"]["mode"]
    else:
        token = response.json()["paths"]["/v3/auth/tokens"]["post"]
        schema = token["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        assert schema.endswith("/KeystoneCreateUserTokenByPasswordReq")
