"""Authentication: AK/SK signatures exactly as huaweicloudsdkcore makes them, and IAM tokens."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx

from modelworks.db import Database
from modelworks.iam import service as iam
from tests.conftest import LiveServer, run_server

DATASETS = "/v2/{project_id}/datasets"


def _envelope(response: httpx.Response, status: int, code: str | None = None) -> dict[str, str]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error_code", "error_msg"}
    assert "Traceback" not in body["error_msg"]
    if code:
        assert body["error_code"] == code
    assert response.headers.get("x-request-id")
    return body


def test_signed_request_is_accepted(server: LiveServer) -> None:
    response = server.signed().get(DATASETS, limit=5, offset=0)
    assert response.status_code == 200, response.text
    assert response.json() == {"total_number": 0, "datasets": []}
    assert len(response.headers["x-request-id"]) >= 16


def test_token_from_iam_endpoint_works(server: LiveServer) -> None:
    response = httpx.post(
        f"{server.endpoint}/v3/auth/tokens",
        json={
            "auth": {
                "identity": {
                    "methods": ["password"],
                    "password": {
                        "user": {
                            "name": server.credentials["user_name"],
                            "password": server.credentials["password"],
                            "domain": {"name": server.credentials["domain_name"]},
                        }
                    },
                },
                "scope": {"project": {"id": server.credentials["project_id"]}},
            }
        },
    )
    assert response.status_code == 201, response.text
    token = response.headers["X-Subject-Token"]
    body = response.json()["token"]
    assert body["project"]["id"] == server.credentials["project_id"]
    assert body["user"]["name"] == server.credentials["user_name"]
    expires = datetime.strptime(body["expires_at"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    assert timedelta(hours=23) < expires - datetime.now(tz=UTC) <= timedelta(hours=24)
    ok = httpx.get(
        f"{server.endpoint}/v2/{server.credentials['project_id']}/datasets", headers={"X-Auth-Token": token}
    )
    assert ok.status_code == 200, ok.text


def test_wrong_password_and_unknown_project_are_refused(server: LiveServer) -> None:
    creds = dict(server.credentials, password="not-the-password")
    from tests._client import get_token

    _envelope(get_token(server.endpoint, creds), 401, "ModelArts.4122")
    bad_scope = get_token(server.endpoint, server.credentials, project_name="no-such-project")
    assert _envelope(bad_scope, 400)["error_msg"].startswith("auth.scope.project")


def test_missing_and_garbage_credentials_get_401(server: LiveServer) -> None:
    url = f"{server.endpoint}/v2/{server.credentials['project_id']}/datasets"
    _envelope(httpx.get(url), 401, "ModelArts.0201")
    _envelope(httpx.get(url, headers={"X-Auth-Token": "MIIT-made-up"}), 401, "ModelArts.0203")
    _envelope(httpx.get(url, headers={"Authorization": "Basic YWJjOmRlZg=="}), 401, "ModelArts.0206")


def test_unknown_access_key_gets_401(server: LiveServer) -> None:
    client = server.signed(ak="AAAAAAAAAAAAAAAAAAAA", sk="x" * 40)
    _envelope(client.get(DATASETS), 401, "ModelArts.3801")


def test_wrong_secret_gets_401(server: LiveServer) -> None:
    client = server.signed(sk="y" * 40)
    _envelope(client.get(DATASETS), 401, "ModelArts.0208")


def test_anything_changed_after_signing_gets_401(server: LiveServer) -> None:
    client = server.signed()
    path = DATASETS.replace("{project_id}", server.credentials["project_id"])
    body = {"dataset_name": "d1", "data_sources": [{"data_path": "/b/in/"}], "work_path": "/b/out/"}
    url, headers, raw = client.signed("POST", path, json_body=body)
    # body changed
    tampered = raw.replace(b'"d1"', b'"d2"')
    _envelope(client.http.post(url, headers=headers, content=tampered), 401, "ModelArts.0208")
    # query changed
    url, headers, _ = client.signed("GET", path, query={"limit": 5})
    _envelope(client.http.get(url.replace("limit=5", "limit=6"), headers=headers), 401, "ModelArts.0208")
    # path changed (still a path of the caller's own project)
    _envelope(
        client.http.get(url.replace("/datasets", "/datasets/x"), headers=headers), 401, "ModelArts.0208"
    )
    # a signed header changed
    changed = dict(headers, **{"Content-Type": "text/plain"}) if "Content-Type" in headers else dict(headers)
    changed["X-Project-Id"] = headers["X-Project-Id"][:-1] + (
        "0" if headers["X-Project-Id"][-1] != "0" else "1"
    )
    _envelope(client.http.get(url, headers=changed), 401, "ModelArts.0208")
    # the untouched request still passes
    assert client.http.get(url, headers=headers).status_code == 200


def test_stale_sdk_date_gets_401(server: LiveServer) -> None:
    client = server.signed()
    path = DATASETS.replace("{project_id}", server.credentials["project_id"])
    from huaweicloudsdkcore.sdk_request import SdkRequest

    for minutes in (-16, 16):
        when = (datetime.now(tz=UTC) + timedelta(minutes=minutes)).strftime("%Y%m%dT%H%M%SZ")
        request = SdkRequest(
            method="GET",
            schema="http",
            host=server.endpoint.split("//")[1],
            resource_path=path,
            query_params=[],
            header_params={"X-Sdk-Date": when},
            body=b"",
        )
        signed = client.credentials.sign_request(request)
        response = client.http.get(f"{server.endpoint}{signed.uri}", headers=signed.header_params)
        assert "minutes" in _envelope(response, 401, "ModelArts.0208")["error_msg"]
    when = (datetime.now(tz=UTC) - timedelta(minutes=10)).strftime("%Y%m%dT%H%M%SZ")
    request = SdkRequest(
        method="GET",
        schema="http",
        host=server.endpoint.split("//")[1],
        resource_path=path,
        query_params=[],
        header_params={"X-Sdk-Date": when},
        body=b"",
    )
    signed = client.credentials.sign_request(request)
    assert client.http.get(f"{server.endpoint}{signed.uri}", headers=signed.header_params).status_code == 200


def test_other_projects_path_gets_403(server: LiveServer) -> None:
    db = Database(server.settings.database_url)
    with db.session() as session:
        other_user, _ = iam.create_user(session, "other-account", "bob")
        other = iam.create_project(session, "other-account", "other")
        iam.add_member(session, other_user, other)
        other_id = other.id
    db.dispose()
    signed = server.signed()
    _envelope(signed.request("GET", f"/v2/{other_id}/datasets"), 403, "ModelArts.0210")
    token = server.token_client()
    _envelope(token.request("GET", f"/v2/{other_id}/datasets"), 403, "ModelArts.0210")


def test_deleted_key_and_deleted_user_stop_working(server: LiveServer) -> None:
    db = Database(server.settings.database_url)
    with db.session() as session:
        user, password = iam.create_user(session, "modelworks", "carol")
        project = iam.find_project(session, user.domain_id, name=server.credentials["project_name"])
        iam.add_member(session, user, project)
        key = iam.create_access_key(session, user)
        ak, sk = key.ak, key.sk
    client = server.signed(ak=ak, sk=sk)
    assert client.get(DATASETS).status_code == 200
    from tests._client import get_token

    creds = dict(server.credentials, user_name="carol", password=password)
    token = get_token(server.endpoint, creds).headers["X-Subject-Token"]
    url = f"{server.endpoint}/v2/{server.credentials['project_id']}/datasets"
    assert httpx.get(url, headers={"X-Auth-Token": token}).status_code == 200
    with db.session() as session:
        iam.delete_access_key(session, ak)
    _envelope(client.get(DATASETS), 401, "ModelArts.3801")
    with db.session() as session:
        iam.delete_user(session, "modelworks", "carol")
    _envelope(httpx.get(url, headers={"X-Auth-Token": token}), 401, "ModelArts.0203")
    db.dispose()


def test_expired_token_gets_401(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with run_server(tmp_path / "home", token_ttl_seconds=1) as live:
        from tests._client import get_token

        token = get_token(live.endpoint, live.credentials).headers["X-Subject-Token"]
        import time

        time.sleep(1.2)
        url = f"{live.endpoint}/v2/{live.credentials['project_id']}/datasets"
        _envelope(httpx.get(url, headers={"X-Auth-Token": token}), 401, "ModelArts.0202")


def test_credentials_file_is_private_and_complete(server: LiveServer) -> None:
    path = server.home / "credentials.json"
    assert path.stat().st_mode & 0o777 == 0o600
    creds = json.loads(path.read_text())
    assert set(creds) == {
        "endpoint",
        "domain_name",
        "user_name",
        "password",
        "project_id",
        "project_name",
        "ak",
        "sk",
    }
    assert len(creds["project_id"]) == 32 and int(creds["project_id"], 16) >= 0
