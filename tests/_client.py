"""HTTP clients for tests: requests signed by the official ``huaweicloudsdkcore`` signer, or tokens."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import httpx
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.sdk_request import SdkRequest


class SignedClient:
    """Signs each request exactly as the SDK does (``BasicCredentials.sign_request``)."""

    def __init__(self, endpoint: str, ak: str, sk: str, project_id: str):
        self.endpoint = endpoint.rstrip("/")
        self.project_id = project_id
        self.credentials = BasicCredentials(ak, sk, project_id)
        self.http = httpx.Client(timeout=60)

    def signed(
        self, method: str, path: str, *, query: dict[str, Any] | None = None, json_body: Any = None
    ) -> tuple[str, dict[str, str], bytes]:
        """The URL, headers and body the SDK would send."""
        url = urlsplit(self.endpoint)
        body = json.dumps(json_body).encode() if json_body is not None else b""
        headers = {"Content-Type": "application/json"} if json_body is not None else {}
        request = SdkRequest(
            method=method,
            schema=url.scheme,
            host=url.netloc,
            resource_path=path,
            query_params=list((query or {}).items()),
            header_params=headers,
            body=body,
        )
        signed = self.credentials.sign_request(request)
        return f"{self.endpoint}{signed.uri}", dict(signed.header_params), body

    def request(
        self, method: str, path: str, *, query: dict[str, Any] | None = None, json: Any = None
    ) -> httpx.Response:
        path = path.replace("{project_id}", self.project_id)
        url, headers, body = self.signed(method, path, query=query, json_body=json)
        return self.http.request(method, url, headers=headers, content=body or None)

    def get(self, path: str, **query: Any) -> httpx.Response:
        return self.request("GET", path, query=query or None)

    def post(self, path: str, json: Any = None, **query: Any) -> httpx.Response:
        return self.request("POST", path, json=json if json is not None else {}, query=query or None)

    def put(self, path: str, json: Any = None, **query: Any) -> httpx.Response:
        return self.request("PUT", path, json=json if json is not None else {}, query=query or None)

    def delete(self, path: str, **query: Any) -> httpx.Response:
        return self.request("DELETE", path, query=query or None)


class TokenClient:
    """Authenticates with an ``X-Auth-Token`` from ``POST /v3/auth/tokens``."""

    def __init__(self, endpoint: str, token: str, project_id: str):
        self.project_id = project_id
        self.http = httpx.Client(base_url=endpoint, headers={"X-Auth-Token": token}, timeout=60)

    def request(
        self, method: str, path: str, *, query: dict[str, Any] | None = None, json: Any = None
    ) -> httpx.Response:
        return self.http.request(
            method, path.replace("{project_id}", self.project_id), params=query, json=json
        )

    def get(self, path: str, **query: Any) -> httpx.Response:
        return self.request("GET", path, query=query or None)

    def post(self, path: str, json: Any = None, **query: Any) -> httpx.Response:
        return self.request("POST", path, json=json if json is not None else {}, query=query or None)

    def put(self, path: str, json: Any = None, **query: Any) -> httpx.Response:
        return self.request("PUT", path, json=json if json is not None else {}, query=query or None)

    def delete(self, path: str, **query: Any) -> httpx.Response:
        return self.request("DELETE", path, query=query or None)


def get_token(endpoint: str, creds: dict[str, str], *, project_name: str | None = None) -> httpx.Response:
    body = {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {
                    "user": {
                        "name": creds["user_name"],
                        "password": creds["password"],
                        "domain": {"name": creds["domain_name"]},
                    }
                },
            },
            "scope": {"project": {"name": project_name or creds["project_name"]}},
        }
    }
    return httpx.post(f"{endpoint}/v3/auth/tokens", json=body, timeout=30)
