"""The models contract (issue 20): a mistyped create request or list query is a 400 envelope naming
the field, before any storage is read; the typed enums are the service's own."""

from __future__ import annotations

import typing
from typing import Any

import pytest

from modelworks.api.schemas.models import ModelStatus
from modelworks.models.status import ALL_STATUSES
from tests._client import SignedClient
from tests.conftest import LiveServer
from tests.models._packages import MODELS

BODY = {"model_name": "typed", "model_version": "1.0.0", "source_location": "/ml/none/"}


@pytest.fixture
def shared(shared_server: LiveServer) -> SignedClient:
    return shared_server.signed()


def test_the_status_filter_names_every_model_status() -> None:
    assert set(typing.get_args(ModelStatus)) == set(ALL_STATUSES)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"install_type": "real-time"}, "install_type"),
        ({"install_type": []}, "install_type"),
        ({"model_docs": ["https://example.com/doc"]}, "model_docs[0]"),
        ({"apis": [{"url": "/", "method": "post", "input_params": []}]}, "apis[0].input_params"),
        ({"dependencies": [{"installer": "conda", "packages": []}]}, "dependencies[0].installer"),
        ({"dependencies": [{"packages": [{"package_name": "x", "restraint": "ABOUT"}]}]}, "dependencies[0]"),
        ({"input_params": [{"param_name": "x", "param_type": "int", "min": "low"}]}, "input_params[0].min"),
        ({"model_version": 1}, "model_version"),
        ({"source_type": "manual"}, "source_type"),
    ],
)
def test_a_mistyped_model_is_refused_naming_the_field(
    shared: SignedClient, change: dict[str, Any], field: str
) -> None:
    response = shared.post(MODELS, {**BODY, **change})
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["error_code"] == "ModelArts.0101" and body["error_msg"].startswith(field), body


@pytest.mark.parametrize(
    ("query", "field"),
    [({"exact_match": "maybe"}, "exact_match"), ({"limit": "0"}, "limit"), ({"offset": "-1"}, "offset")],
)
def test_a_bad_list_query_is_refused_naming_it(
    shared: SignedClient, query: dict[str, str], field: str
) -> None:
    response = shared.get(MODELS, **query)
    assert response.status_code == 400, response.text
    assert response.json()["error_msg"].startswith(field), response.text
