"""Property-based fuzzing of every operation in ``/openapi.json`` (schemathesis + hypothesis).

Shared by the bounded run in ``test_fuzz.py`` (part of ``make test``) and the long run in
``scripts/fuzz.py``. Each operation gets the reference's examples, then requests that fit the
schema and requests that do not. Requests carry a valid ``X-Auth-Token`` and the caller's real
project id (a random one is a 403 before any input is looked at), and the id of a real dataset
where the path has ``dataset_id``. What must hold: no 5xx but one the schema documents for that
operation (the 501 of an operation not implemented yet), no dropped connection, and every 4xx in
the error envelope.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import hypothesis
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from schemathesis import GenerationMode

from tests.conftest import LiveServer

UNIMPLEMENTED = "x-modelworks-unimplemented"


@dataclass
class Finding:
    operation: str
    status: int | str
    request: str
    answer: str


@dataclass
class FuzzReport:
    operations: int = 0
    requests: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    server_errors: list[Finding] = field(default_factory=list)
    bad_envelopes: list[Finding] = field(default_factory=list)
    not_generated: list[str] = field(default_factory=list)
    seconds: float = 0.0
    seconds_by_operation: dict[str, float] = field(default_factory=dict)

    @property
    def count_5xx(self) -> int:
        return len(self.server_errors)

    def summary(self) -> str:
        lines = [
            f"operations: {self.operations}",
            f"requests: {self.requests}",
            f"statuses: {dict(sorted(self.statuses.items()))}",
            f"5xx not documented for the operation, or no answer: {self.count_5xx}",
            f"4xx without the envelope: {len(self.bad_envelopes)}",
            f"seconds: {self.seconds:.0f}",
            "slowest operations: "
            + ", ".join(
                f"{name} {seconds:.1f} s"
                for name, seconds in sorted(self.seconds_by_operation.items(), key=lambda kv: -kv[1])[:5]
            ),
        ]
        for finding in self.server_errors + self.bad_envelopes:
            lines.append(
                f"  {finding.status} {finding.operation}\n    {finding.request}\n    -> {finding.answer}"
            )
        if self.not_generated:
            lines.append(f"no request could be generated for: {', '.join(self.not_generated)}")
        return "\n".join(lines)


@dataclass
class Target:
    endpoint: str
    token: str
    project_id: str
    dataset_id: str


def target_of(live: LiveServer) -> Target:
    """A token and a real dataset (an empty folder, nothing imported) on ``live``, to fuzz against."""
    client = live.token_client()
    (live.storage_root / "fuzz" / "in").mkdir(parents=True)
    created = client.post(
        "/v2/{project_id}/datasets",
        {
            "dataset_name": "fuzzed",
            "dataset_type": 0,
            "data_sources": [{"data_path": "/fuzz/in/"}],
            "work_path": "/fuzz/out/",
            "work_path_type": 0,
        },
    )
    assert created.status_code == 201, created.text
    return Target(
        live.endpoint,
        str(client.http.headers["X-Auth-Token"]),
        live.credentials["project_id"],
        created.json()["dataset_id"],
    )


def _describe(prepared: requests.PreparedRequest) -> str:
    body = prepared.body
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body or "")
    shown = f" body={text[:400]!r}" if text else ""
    return f"{prepared.method} {prepared.url}{shown}"


def _is_envelope(response: requests.Response) -> bool:
    try:
        body = response.json()
    except ValueError:
        return False
    return (
        isinstance(body, dict)
        and isinstance(body.get("error_code"), str)
        and isinstance(body.get("error_msg"), str)
    )


def _strategies(operation: Any, examples_per_mode: int) -> Iterator[tuple[Any, int]]:
    """The reference's examples, then requests that fit the schema and requests that do not. An
    operation not implemented yet answers 501 whatever it is sent: one request shows its route and
    its authentication work."""
    if operation.definition.raw.get(UNIMPLEMENTED):
        yield operation.as_strategy(generation_mode=GenerationMode.POSITIVE), 1
        return
    for strategy in operation.schema.get_strategies_from_examples(operation):
        yield strategy, 1
    yield operation.as_strategy(generation_mode=GenerationMode.POSITIVE), examples_per_mode
    if _can_be_invalid(operation.definition.raw):
        yield operation.as_strategy(generation_mode=GenerationMode.NEGATIVE), examples_per_mode


def _can_be_invalid(definition: dict[str, Any]) -> bool:
    """Whether a request that does not fit exists: a body, or a parameter beyond a plain string.
    (Hypothesis needs seconds to give up looking for an invalid plain-string path parameter.)"""
    if "requestBody" in definition:
        return True
    for parameter in definition.get("parameters", []):
        if parameter.get("in") == "path":
            continue
        schema = {k: v for k, v in parameter.get("schema", {}).items() if k not in ("description", "title")}
        if schema not in ({}, {"type": "string"}) or parameter.get("required"):
            return True
    return False


class _Sender:
    """Sends the cases of one operation and files what they get."""

    def __init__(self, target: Target, report: FuzzReport, session: requests.Session, operation: Any):
        self.target, self.report, self.session = target, report, session
        self.name = f"{operation.method.upper()} {operation.path}"
        self.documented = {str(status) for status in operation.definition.raw.get("responses", {})}
        # The dataset every other operation works on is not the one to delete.
        self.real_dataset = not (
            operation.method.upper() == "DELETE" and operation.path.endswith("{dataset_id}")
        )

    def __call__(self, case: Any) -> None:
        parameters = case.path_parameters or {}
        if "project_id" in parameters:
            parameters["project_id"] = self.target.project_id
        if "dataset_id" in parameters and self.real_dataset:
            parameters["dataset_id"] = self.target.dataset_id
        kwargs = case.as_transport_kwargs(
            base_url=self.target.endpoint, headers={"X-Auth-Token": self.target.token}
        )
        prepared = self.session.prepare_request(requests.Request(**_request_kwargs(kwargs)))
        self.report.requests += 1
        try:
            response = self.session.send(prepared, timeout=60)
        except requests.ConnectionError:
            # The server closes a keep-alive connection idle for 5 s, and generating a case can take
            # that long: once more on a new connection, so only a request that really loses its
            # answer counts.
            self.session.close()
            try:
                response = self.session.send(prepared, timeout=60)
            except requests.RequestException as exc:
                self.report.server_errors.append(
                    Finding(self.name, "no answer", _describe(prepared), repr(exc)[:300])
                )
                self.session.close()
                return
        status = response.status_code
        self.report.statuses[status] = self.report.statuses.get(status, 0) + 1
        finding = Finding(self.name, status, _describe(prepared), response.text[:300])
        if status >= 500 and str(status) not in self.documented:
            self.report.server_errors.append(finding)
        elif 400 <= status < 500 and not _is_envelope(response):
            self.report.bad_envelopes.append(finding)


def _runner(strategy: Any, count: int, seed: int, send: _Sender) -> Callable[[], None]:
    """A hypothesis test sending ``count`` cases of ``strategy``. Failures are filed, not raised:
    nothing to shrink, and one run reports every finding."""

    @hypothesis.seed(seed)
    @hypothesis_settings(
        max_examples=count,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def run(case: Any) -> None:
        send(case)

    return run


def fuzz(target: Target, examples_per_mode: int, seed: int = 20) -> FuzzReport:
    """Fuzz every operation of the server's schema; ``examples_per_mode`` requests fit the schema
    and as many do not, per implemented operation."""
    started = time.monotonic()
    raw = requests.get(f"{target.endpoint}/openapi.json", timeout=120).json()
    schema = schemathesis.openapi.from_dict(raw)
    report = FuzzReport()
    session = requests.Session()
    for result in schema.get_all_operations():
        operation = result.ok()  # type: ignore[union-attr]  # an Err raises: the schema must load whole
        report.operations += 1
        send = _Sender(target, report, session, operation)
        began = time.monotonic()
        generated = False
        for strategy, count in _strategies(operation, examples_per_mode):
            try:
                _runner(strategy, count, seed, send)()
                generated = True
            except (hypothesis.errors.Unsatisfiable, schemathesis.errors.SchemathesisError):
                pass
        if not generated:
            report.not_generated.append(send.name)
        report.seconds_by_operation[send.name] = time.monotonic() - began
    report.seconds = time.monotonic() - started
    return report


def _request_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    """``requests.Request`` arguments from schemathesis' transport arguments (``requests`` options
    such as ``timeout`` or ``verify`` belong to ``send``)."""
    wanted = ("method", "url", "headers", "params", "data", "json", "files", "cookies")
    out = {key: kwargs[key] for key in wanted if key in kwargs}
    if "json" in out:
        # Sent as bytes: ``requests`` would refuse NaN and lone surrogates, which the fuzzer means.
        out["data"] = json.dumps(out.pop("json")).encode("utf-8", "surrogatepass")
        out.setdefault("headers", {})["Content-Type"] = "application/json"
    return out
