"""The services contract (issue 20): bounded list queries, typed bodies refused with the envelope
naming the field, and the gateway's error answers always parseable.

The failing model is real: its inference code raises what the model server cannot turn into JSON
(a ``BaseException``, which uvicorn answers with a plain-text ``Internal Server Error``), or an
ordinary exception (which the model server answers with its own JSON error).
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests._client import SignedClient
from tests.conftest import LiveServer, run_server
from tests.models._packages import ECHO_CONFIG, create, put_package, wait_published
from tests.serving._packages import SERVICES, deploy, model_config, realtime_body, wait_status

HUGE = "1180591620717411303424"  # 2**70

FAILING_SERVICE = """
from model_service.model_service import SingleNodeService


class Crash(BaseException):
    '''Not an Exception: it escapes every handler of the model server.'''


class FailingService(SingleNodeService):
    def _inference(self, data):
        if data.get("fail") == "plain":
            raise Crash("the model crashed")
        if data.get("fail") == "json":
            raise ValueError("no such feature")
        return data
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with run_server(tmp_path_factory.mktemp("services-contract") / "home") as live:
        yield live


@pytest.fixture(scope="module")
def client(server: LiveServer) -> SignedClient:
    return server.signed()


def assert_envelope(body: object, code: str, field: str) -> None:
    assert isinstance(body, dict) and set(body) == {"error_code", "error_msg"}, body
    assert body["error_code"] == code and body["error_msg"].startswith(f"{field}:"), body


@pytest.mark.parametrize("parameter", ["offset", "limit"])
@pytest.mark.parametrize(
    "path",
    [
        SERVICES,
        f"{SERVICES}/specifications",
        "/v1/{project_id}/models",
        "/v1/{project_id}/models/ai-engine-runtimes",
    ],
)
def test_an_integer_beyond_64_bits_in_a_list_query_is_a_400_naming_it(
    client: SignedClient, path: str, parameter: str
) -> None:
    response = client.get(path, **{parameter: HUGE})
    assert response.status_code == 400, response.text
    assert_envelope(response.json(), "ModelArts.0101", parameter)
    # The connection stays usable: the next request on it is answered.
    assert client.get(path).status_code == 200


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"status": "sleeping"}, "status"),
        ({"infer_type": "offline"}, "infer_type"),
        ({"order": "up"}, "order"),
        ({"sort_by": "size"}, "sort_by"),
        ({"offset": "-1"}, "offset"),
    ],
)
def test_unknown_list_filters_are_refused(client: SignedClient, query: dict[str, str], field: str) -> None:
    response = client.get(SERVICES, **query)
    assert response.status_code == 400, response.text
    assert_envelope(response.json(), "ModelArts.0101", field)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"config": [{"model_id": "m", "weight": True}]}, "config[0].weight"),
        ({"config": [{"model_id": "m", "weight": 2**70}]}, "config[0].weight"),
        ({"config": [{"model_id": "m", "instance_count": "many"}]}, "config[0].instance_count"),
        ({"config": [{"model_id": "m", "custom_spec": {"cpu": "x"}}]}, "config[0].custom_spec.cpu"),
        ({"config": [{"model_id": "m", "mapping_type": "xml"}]}, "config[0].mapping_type"),
        ({"config": "m"}, "config"),
        ({"schedule": [{"type": "stop", "time_unit": "WEEKS", "duration": 1}]}, "schedule[0].time_unit"),
        ({"service_name": ["a"]}, "service_name"),
    ],
)
def test_a_mistyped_deployment_is_refused_naming_the_field(
    client: SignedClient, change: dict[str, object], field: str
) -> None:
    body = {"service_name": "typed", "infer_type": "real-time", "config": [{"model_id": "m"}], **change}
    response = client.post(SERVICES, body)
    assert response.status_code == 400, response.text
    assert_envelope(response.json(), "ModelArts.0101", field)


def test_the_openapi_document_types_every_services_operation(client: SignedClient) -> None:
    document = client.http.get(f"{client.endpoint}/openapi.json").json()
    deploy_op = document["paths"]["/v1/{project_id}/services"]["post"]
    schema_ref = deploy_op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert schema_ref.endswith("/CreateServiceReq")
    listed = document["paths"]["/v1/{project_id}/services"]["get"]["responses"]["200"]
    assert listed["content"]["application/json"]["schema"]["$ref"].endswith("/ListServicesResp")
    infer_type = document["components"]["schemas"]["CreateServiceReq"]["properties"]["infer_type"]
    assert all(value in json.dumps(infer_type) for value in ('"real-time"', '"batch"', '"edge"'))


def test_a_model_servers_plain_text_error_gets_the_envelope_and_a_json_one_passes(
    server: LiveServer, client: SignedClient
) -> None:
    put_package(server, "/ml/failing/", ECHO_CONFIG, FAILING_SERVICE)
    model_id = create(client, model_name="failing", model_version="1.0.0", source_location="/ml/failing/")
    wait_published(client, model_id)
    service_id = deploy(client, realtime_body("failing", model_config(model_id)))
    wait_status(client, service_id, "running")
    infer = f"/v1/infers/{service_id}"
    assert client.post(infer, {"n": 1}).json() == {"n": 1}

    crashed = client.post(infer, {"fail": "plain"})
    assert crashed.status_code == 500 and crashed.headers["content-type"] == "application/json"
    body = crashed.json()
    assert set(body) == {"error_code", "error_msg"} and body["error_code"] == "ModelArts.4302", body
    assert body["error_msg"].startswith("Gateway forwarding error because the model server answered 500")
    assert "Internal Server Error" in body["error_msg"]

    # The model server's own JSON error is the model's answer: it passes as it is.
    refused = client.post(infer, {"fail": "json"})
    assert refused.status_code == 500
    assert refused.json()["error_code"] == "ModelArts.4503"
    assert "ValueError: no such feature" in refused.json()["error_msg"]

    assert client.post(infer, {"n": 2}).json() == {"n": 2}
    client.delete(f"{SERVICES}/{service_id}")
