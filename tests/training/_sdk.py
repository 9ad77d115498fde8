"""The official ModelArts SDK pointed at a test server, and a strict check of answers against its models."""

from __future__ import annotations

import json
import re
from typing import Any

import huaweicloudsdkmodelarts.v1 as sdk
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.http.http_config import HttpConfig
from huaweicloudsdkmodelarts.v1 import ModelArtsClient

from tests._client import SignedClient
from tests.conftest import LiveServer

_NATIVE = {"str": (str,), "int": (int,), "float": (int, float), "bool": (bool,)}


def build_client(server: LiveServer) -> ModelArtsClient:
    """The SDK client exactly as a user builds it, with only the endpoint overridden."""
    c = server.credentials
    return sdk_client(server.endpoint, c["ak"], c["sk"], c["project_id"])


def sdk_client(endpoint: str, ak: str, sk: str, project_id: str) -> ModelArtsClient:
    """The SDK client of these credentials, as a user builds it, with only the endpoint overridden."""
    config = HttpConfig.get_default_config()
    config.ignore_ssl_verification = True  # the test server speaks plain http
    config.timeout = (10, 60)
    return (
        ModelArtsClient.new_builder()
        .with_http_config(config)
        .with_credentials(BasicCredentials(ak, sk, project_id))
        .with_endpoints([endpoint])
        .build()
    )


def sdk_of(client: SignedClient) -> ModelArtsClient:
    """The SDK client with the credentials of a signed test client."""
    c = client.credentials
    return sdk_client(client.endpoint, c.ak, c.sk, client.project_id)


def model_problems(data: Any, type_name: str, path: str = "$") -> list[str]:
    """Where ``data`` differs from the SDK type ``type_name``: unknown keys and wrong JSON types.

    ``null`` is accepted anywhere (the SDK reads it as an unset field).
    """
    if data is None or type_name == "object":
        return []
    if type_name.startswith("list["):
        if not isinstance(data, list):
            return [f"{path}: expected a list, got {type(data).__name__}"]
        inner = type_name[5:-1]
        return [p for i, item in enumerate(data) for p in model_problems(item, inner, f"{path}[{i}]")]
    match = re.fullmatch(r"dict\(str, (.+)\)", type_name)
    if match:
        if not isinstance(data, dict):
            return [f"{path}: expected an object, got {type(data).__name__}"]
        return [p for k, v in data.items() for p in model_problems(v, match.group(1), f"{path}.{k}")]
    if type_name in _NATIVE:
        ok = isinstance(data, _NATIVE[type_name]) and not (type_name != "bool" and isinstance(data, bool))
        return [] if ok else [f"{path}: expected {type_name}, got {type(data).__name__} {data!r}"]
    model = getattr(sdk, type_name)
    if not isinstance(data, dict):
        return [f"{path}: expected a {type_name} object, got {type(data).__name__}"]
    by_key = {key: model.openapi_types[attr] for attr, key in model.attribute_map.items()}
    problems = [f"{path}.{k}: not a field of {type_name}" for k in data if k not in by_key]
    for key, value in data.items():
        if key in by_key:
            problems += model_problems(value, by_key[key], f"{path}.{key}")
    return problems


def call(client: ModelArtsClient, method: str, request: Any) -> Any:
    """Call an SDK method; its raw JSON answer must match the response model exactly."""
    response = getattr(client, method)(request)
    raw = getattr(response, "raw_content", None)
    if raw:
        data = json.loads(raw)
        problems = model_problems(data, type(response).__name__)
        assert not problems, f"{method} answered outside the SDK model:\n" + "\n".join(problems)
    return response
