"""The typed training contract over HTTP: wrong JSON types, unknown enum values and integers beyond
64 bits in any field of the training routes answer 400 naming the field (never a 500), and
``/openapi.json`` describes the bodies as the official SDK declares them."""

from __future__ import annotations

import copy
from typing import Any

import httpx

from tests.conftest import LiveServer
from tests.training._jobs import QUICK, put_files

HUGE = 2**70  # orjson reads integers beyond 64 bits as floats: 1.1805916207174113e+21
U64 = 2**64 - 1  # an integer to Python, too large for the databases' BIGINT
I64_PLUS_ONE = 2**63

ALGORITHM: dict[str, Any] = {
    "metadata": {"name": "contract", "description": "d", "workspace_id": "0"},
    "job_config": {
        "code_dir": "/code/quick/",
        "boot_file": "/code/quick/ok.py",
        "parameters": [
            {
                "name": "lr",
                "value": "0.1",
                "constraint": {
                    "type": "Float",
                    "editable": True,
                    "valid_type": "Range",
                    "valid_range": ["0", "1"],
                },
            }
        ],
        "inputs": [{"name": "data_url", "description": "data"}],
        "outputs": [{"name": "train_url"}],
        "engine": {"engine_name": "Python"},
        "parameters_customization": True,
    },
    "resource_requirements": [{"key": "flavor_type", "values": ["CPU"], "operator": "in"}],
    "advanced_config": {
        "auto_search": {
            "reward_attrs": [{"name": "accuracy", "mode": "max"}],
            "search_params": [
                {"name": "lr", "param_type": "continuous", "lower_bound": "0", "upper_bound": "1"}
            ],
        }
    },
}

JOB: dict[str, Any] = {
    "kind": "job",
    "metadata": {"name": "contract-job", "description": "d", "annotations": {"team": "a"}},
    "algorithm": {
        "code_dir": "/code/quick/",
        "boot_file": "/code/quick/ok.py",
        "parameters": [{"name": "lr", "value": "0.1"}],
        "inputs": [
            {"name": "data_url", "access_method": "parameter", "remote": {"obs": {"obs_url": "/code/quick/"}}}
        ],
        "outputs": [{"name": "train_url", "remote": {"obs": {"obs_url": "/code/out/"}}}],
        "engine": {"engine_name": "Python"},
        "environments": {"A": "1"},
    },
    "spec": {
        "resource": {"flavor_id": "modelarts.vm.cpu.1u", "node_count": 1},
        "log_export_path": {"obs_url": "/code/logs/"},
        "auto_stop": {"time_unit": "HOURS", "duration": 1},
    },
}

# (field as the error names it, path into the body, bad values)
ALGORITHM_CASES: list[tuple[str, tuple[Any, ...], list[Any]]] = [
    ("metadata", ("metadata",), [[], "abc"]),
    ("metadata.name", ("metadata", "name"), [[], {}, HUGE, 5, "no spaces allowed", "x" * 65]),
    ("metadata.description", ("metadata", "description"), [[], U64, "x" * 257]),
    ("metadata.workspace_id", ("metadata", "workspace_id"), [[], HUGE]),
    ("job_config", ("job_config",), [[], "abc", 5]),
    ("job_config.code_dir", ("job_config", "code_dir"), [[], {}, 5]),
    ("job_config.boot_file", ("job_config", "boot_file"), [[], U64]),
    ("job_config.command", ("job_config", "command"), [[], {}]),
    ("job_config.parameters", ("job_config", "parameters"), [{}, "abc", HUGE]),
    ("job_config.parameters[0]", ("job_config", "parameters", 0), [[], "abc"]),
    ("job_config.parameters[0].value", ("job_config", "parameters", 0, "value"), [[], {}]),
    ("job_config.parameters[0].constraint", ("job_config", "parameters", 0, "constraint"), [[], 5]),
    (
        "job_config.parameters[0].constraint.editable",
        ("job_config", "parameters", 0, "constraint", "editable"),
        ["abc", [], 2],
    ),
    (
        "job_config.parameters[0].constraint.valid_range",
        ("job_config", "parameters", 0, "constraint", "valid_range"),
        ["abc", {}],
    ),
    ("job_config.inputs[0].name", ("job_config", "inputs", 0, "name"), [[], I64_PLUS_ONE]),
    ("job_config.outputs", ("job_config", "outputs"), [{}, "abc"]),
    ("job_config.engine", ("job_config", "engine"), [[], "Python"]),
    ("job_config.engine.engine_name", ("job_config", "engine", "engine_name"), [HUGE, U64, [], True, 1.5]),
    ("job_config.parameters_customization", ("job_config", "parameters_customization"), [[], "abc"]),
    ("resource_requirements", ("resource_requirements",), [{}, "abc"]),
    ("resource_requirements[0].values", ("resource_requirements", 0, "values"), ["CPU", {}]),
    (
        "advanced_config.auto_search.search_params",
        ("advanced_config", "auto_search", "search_params"),
        [HUGE, U64, I64_PLUS_ONE, "abc", True, 1.5],
    ),
    (
        "advanced_config.auto_search.reward_attrs[0].mode",
        ("advanced_config", "auto_search", "reward_attrs", 0, "mode"),
        ["middle"],
    ),
]

JOB_CASES: list[tuple[str, tuple[Any, ...], list[Any]]] = [
    ("kind", ("kind",), [[], {}, HUGE]),
    ("metadata", ("metadata",), [[], "abc"]),
    ("metadata.name", ("metadata", "name"), [[], HUGE, "a b"]),
    ("metadata.annotations", ("metadata", "annotations"), [[], "abc"]),
    ("metadata.annotations.team", ("metadata", "annotations", "team"), [[], {}]),
    ("algorithm", ("algorithm",), ["abc", []]),
    ("algorithm.code_dir", ("algorithm", "code_dir"), [[], U64]),
    ("algorithm.parameters[0].value", ("algorithm", "parameters", 0, "value"), [{}, []]),
    ("algorithm.inputs[0].access_method", ("algorithm", "inputs", 0, "access_method"), ["ftp", []]),
    (
        "algorithm.inputs[0].remote.obs.obs_url",
        ("algorithm", "inputs", 0, "remote", "obs", "obs_url"),
        [[], HUGE],
    ),
    ("algorithm.outputs[0].remote", ("algorithm", "outputs", 0, "remote"), ["/code/out/", []]),
    ("algorithm.engine.engine_name", ("algorithm", "engine", "engine_name"), [HUGE, U64, [], True]),
    ("algorithm.environments", ("algorithm", "environments"), ["abc", 5]),
    ("algorithm.environments.A", ("algorithm", "environments", "A"), [[], {}]),
    ("spec", ("spec",), [[], "abc"]),
    (
        "spec.resource.node_count",
        ("spec", "resource", "node_count"),
        [HUGE, U64, I64_PLUS_ONE, 0, -1, "abc", 1.5],
    ),
    ("spec.resource.flavor_id", ("spec", "resource", "flavor_id"), [[], HUGE]),
    ("spec.auto_stop.duration", ("spec", "auto_stop", "duration"), [U64, HUGE, 0, "abc"]),
    ("spec.log_export_path", ("spec", "log_export_path"), [[], "abc"]),
    ("tasks", ("tasks",), ["abc", {}]),
]


def with_value(body: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    out = copy.deepcopy(body)
    target: Any = out
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return out


def assert_names_field(answer: httpx.Response, field: str, sent: Any) -> None:
    assert answer.status_code == 400, f"{field} = {sent!r}: {answer.status_code} {answer.text}"
    body = answer.json()
    assert set(body) == {"error_code", "error_msg"}, body
    assert body["error_msg"].startswith(f"{field}:"), f"{field} = {sent!r}: {body}"


def test_wrong_types_in_create_and_modify_algorithm_answer_400_naming_the_field(server: LiveServer) -> None:
    put_files(server, "/code/quick/", {"ok.py": QUICK})
    client = server.signed()
    created = client.post("/v2/{project_id}/algorithms", {**ALGORITHM, "unknown_extension": {"kept": 1}})
    assert created.status_code == 201, created.text
    algorithm_id = created.json()["metadata"]["id"]
    for field, path, values in ALGORITHM_CASES:
        for value in values:
            body = with_value(ALGORITHM, path, value)
            assert_names_field(client.post("/v2/{project_id}/algorithms", body), field, value)
            assert_names_field(
                client.put(f"/v2/{{project_id}}/algorithms/{algorithm_id}", body), field, value
            )
    # Nothing was created or changed by the refused requests.
    listed = client.get("/v2/{project_id}/algorithms", workspace_id="1")
    assert listed.status_code == 200 and listed.json()["total"] == 0
    shown = client.get(f"/v2/{{project_id}}/algorithms/{algorithm_id}").json()
    assert shown["metadata"]["name"] == "contract" and shown["metadata"]["is_valid"] is True
    assert isinstance(shown["job_config"]["code_tree"], dict)  # an object, as the SDK declares it


def test_wrong_types_in_create_training_job_answer_400_naming_the_field(server: LiveServer) -> None:
    client = server.signed()
    for field, path, values in JOB_CASES:
        for value in values:
            body = with_value(JOB, path, value)
            assert_names_field(client.post("/v2/{project_id}/training-jobs", body), field, value)
    searched = client.post("/v2/{project_id}/training-job-searches", {})
    assert searched.status_code == 200 and searched.json()["total"] == 0


def test_search_offset_beyond_64_bits_answers_400_naming_it(server: LiveServer) -> None:
    client = server.signed()
    values: list[Any] = [HUGE, U64, I64_PLUS_ONE, 2**31, -1, "abc", [], 1.5]
    for value in values:
        assert_names_field(
            client.post("/v2/{project_id}/training-job-searches", {"offset": value}), "offset", value
        )
    for field, body in (
        ("limit", {"limit": U64}),
        ("limit", {"limit": 0}),
        ("order", {"order": "sideways"}),
        ("sort_by", {"sort_by": []}),
        ("filters", {"filters": {"key": "name"}}),
        ("filters[0].key", {"filters": [{"key": [], "operator": "in", "value": ["a"]}]}),
        ("filters[0].operator", {"filters": [{"key": "name", "operator": "near", "value": ["a"]}]}),
        ("filters[0].value", {"filters": [{"key": "name", "operator": "in", "value": "a"}]}),
        ("filters[0].value[0]", {"filters": [{"key": "name", "operator": "in", "value": [[]]}]}),
    ):
        assert_names_field(client.post("/v2/{project_id}/training-job-searches", body), field, body)
    for bound in (U64, I64_PLUS_ONE, "99999999999999999999"):
        beyond = {"filters": [{"key": "create_time", "operator": "between", "value": ["0", bound]}]}
        answer = client.post("/v2/{project_id}/training-job-searches", beyond)
        assert (answer.status_code, answer.json()["error_code"]) == (400, "ModelArts.2809"), answer.text
        assert answer.json()["error_msg"].startswith("filters[0].value:")
    last = client.post("/v2/{project_id}/training-job-searches", {"offset": 2**31 - 1, "limit": 50})
    assert last.status_code == 200 and last.json()["items"] == []


def test_other_training_routes_refuse_wrong_types_with_400(server: LiveServer) -> None:
    client = server.signed()
    job = "/v2/{project_id}/training-jobs/no-such-job"
    descriptions: list[Any] = [[], HUGE, "x" * 257]
    for value in descriptions:
        assert_names_field(client.put(job, {"description": value}), "description", value)
    actions: list[Any] = [[], {}, U64]
    for value in actions:
        assert_names_field(client.post(job + "/actions", {"action_type": value}), "action_type", value)
    assert_names_field(client.post(job + "/actions", []), "body", [])
    for name, value in (
        ("offset", str(HUGE)),
        ("offset", "-1"),
        ("limit", "51"),
        ("limit", "abc"),
        ("order", "up"),
    ):
        assert_names_field(client.get("/v2/{project_id}/algorithms", **{name: value}), name, value)
    assert_names_field(
        client.get("/v2/{project_id}/training-job-flavors", flavor_type="TPU"), "flavor_type", "TPU"
    )
    content = client.get(job + "/tasks/worker-0/logs/content", Expires=str(HUGE), Signature="0")
    assert_names_field(content, "Expires", HUGE)
    # Unknown fields a ModelArts client may send are accepted: the job is simply not there.
    missing = client.post(job + "/actions", {"action_type": "terminate", "reason": "cleanup"})
    assert (missing.status_code, missing.json()["error_code"]) == (404, "ModelArts.2775")


def test_openapi_describes_training_bodies_as_the_sdk_declares_them(server: LiveServer) -> None:
    schema = httpx.get(server.endpoint + "/openapi.json", timeout=120).json()
    components = schema["components"]["schemas"]
    create = schema["paths"]["/v2/{project_id}/algorithms"]["post"]
    assert create["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/CreateAlgorithmReq"
    )
    answer = create["responses"]["201"]["content"]["application/json"]["schema"]
    assert answer["$ref"].endswith("/AlgorithmResponse")
    job_config = components["AlgorithmResponseJobConfig"]["properties"]
    assert any(o.get("$ref", "").endswith("/CodeTreeNode") for o in job_config["code_tree"]["anyOf"])
    is_valid = components["AlgorithmResponseMetadata"]["properties"]["is_valid"]
    assert {"type": "boolean"} in is_valid["anyOf"]
    search = schema["paths"]["/v2/{project_id}/training-job-searches"]["post"]
    assert search["requestBody"]["content"]["application/json"]["schema"]["anyOf"][0]["$ref"].endswith(
        "/JobSearches"
    )
    offset = components["JobSearches"]["properties"]["offset"]["anyOf"][0]
    assert (offset["minimum"], offset["maximum"]) == (0, 2**31 - 1)
    for path in ("/v2/{project_id}/training-jobs", "/v2/{project_id}/training-jobs/{training_job_id}"):
        for operation in schema["paths"][path].values():
            assert (
                "200" in operation["responses"]
                or "201" in operation["responses"]
                or "202" in operation["responses"]
            )


def test_a_log_url_with_a_non_ascii_signature_is_refused_not_a_500(server: LiveServer) -> None:
    """The fuzzer's find: ``hmac.compare_digest`` raised TypeError on a non-ASCII signature."""
    project = server.credentials["project_id"]
    url = (
        f"{server.endpoint}/v2/{project}/training-jobs/no-such-job/tasks/worker-0/logs/content"
        "?Signature=l%C3%B9%F3%8A%94%ADh&Expires=3828458143222378"
    )
    answer = httpx.get(url, timeout=30)
    assert answer.status_code in (401, 404), answer.text
    assert set(answer.json()) == {"error_code", "error_msg"}
