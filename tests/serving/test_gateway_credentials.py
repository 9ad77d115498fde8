"""Credentials on ``/v1/infers``: cached for seconds, but every request is still checked.

A call to a service that does not exist answers 404 (ModelArts.3502) once the caller is
authenticated, and 401 before: enough to see what authentication decided, without a model.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import delete

from modelworks.db import Database
from modelworks.iam import service as iam
from modelworks.iam.cache import CREDENTIAL_CACHE_SECONDS
from modelworks.iam.tables import AccessKey
from tests._client import SignedClient, get_token
from tests.conftest import LiveServer, run_server

INFER = "/v1/infers/no-such-service"
AUTHENTICATED = (404, "ModelArts.3502")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with run_server(tmp_path_factory.mktemp("credentials") / "home") as live:
        yield live


def outcome(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json().get("error_code", "")


def new_key(server: LiveServer, user_name: str) -> SignedClient:
    """A signed client with a new access key of a new member of the default project."""
    db = Database(server.settings.database_url)
    with db.session() as session:
        user, _ = iam.create_user(session, "modelworks", user_name)
        project = iam.find_project(session, user.domain_id, name=server.credentials["project_name"])
        iam.add_member(session, user, project)
        key = iam.create_access_key(session, user)
        client = server.signed(ak=key.ak, sk=key.sk)
    db.dispose()
    return client


def send(client: SignedClient, headers_change: dict[str, str] | None = None) -> httpx.Response:
    url, headers, body = client.signed("POST", INFER, json_body={"n": 1})
    return client.http.post(url, headers={**headers, **(headers_change or {})}, content=body)


def test_a_cached_key_still_needs_a_valid_recent_signature(server: LiveServer) -> None:
    client = new_key(server, "dana")
    assert outcome(send(client)) == AUTHENTICATED  # now cached
    url, headers, body = client.signed("POST", INFER, json_body={"n": 1})
    signature = headers["Authorization"]
    tampered = signature[:-1] + ("1" if signature[-1] == "0" else "0")
    mismatch = (401, "ModelArts.0208")
    assert (
        outcome(client.http.post(url, headers={**headers, "Authorization": tampered}, content=body))
        == mismatch
    )
    assert outcome(client.http.post(url, headers=headers, content=b'{"n": 2}')) == mismatch
    assert outcome(send(client, {"X-Sdk-Date": "20200101T000000Z"})) == mismatch
    assert outcome(send(client, {"X-Project-Id": "not-a-member"})) == mismatch
    assert outcome(client.http.post(url, headers=headers, content=body)) == AUTHENTICATED
    # Signed properly, for a project the key's owner is not a member of.
    elsewhere = SignedClient(client.endpoint, client.credentials.ak, client.credentials.sk, "not-a-member")
    assert send(elsewhere).status_code == 403


def test_a_key_deleted_here_stops_at_once(server: LiveServer) -> None:
    client = new_key(server, "erik")
    assert outcome(send(client)) == AUTHENTICATED
    db = Database(server.settings.database_url)
    with db.session() as session:
        iam.delete_access_key(session, client.credentials.ak)
    db.dispose()
    assert outcome(send(client)) == (401, "ModelArts.3801")


def test_a_key_deleted_by_another_process_stops_within_the_cache_lifetime(server: LiveServer) -> None:
    client = new_key(server, "fay")
    assert outcome(send(client)) == AUTHENTICATED
    # Deleted as another process would: no call of iam.delete_access_key in this one.
    db = Database(server.settings.database_url)
    with db.session() as session:
        session.execute(delete(AccessKey).where(AccessKey.ak == client.credentials.ak))
    db.dispose()
    deleted = time.monotonic()
    while outcome(send(client)) == AUTHENTICATED:
        assert time.monotonic() - deleted < CREDENTIAL_CACHE_SECONDS + 1, "the deleted key still works"
        time.sleep(0.1)
    assert outcome(send(client)) == (401, "ModelArts.3801")


def test_a_cached_token_still_expires(tmp_path: Path) -> None:
    with run_server(tmp_path / "home", token_ttl_seconds=1) as live:
        token = get_token(live.endpoint, live.credentials).headers["X-Subject-Token"]
        url = f"{live.endpoint}{INFER}"
        assert outcome(httpx.post(url, headers={"X-Auth-Token": token}, json={})) == AUTHENTICATED
        time.sleep(1.1)
        assert outcome(httpx.post(url, headers={"X-Auth-Token": token}, json={})) == (401, "ModelArts.0202")
