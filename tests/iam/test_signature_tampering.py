"""Tampered copies of requests signed by the official SDK are refused (issue 11, finding 5).

Every request here is signed by ``huaweicloudsdkcore`` (``BasicCredentials.sign_request``) and sent
over HTTP to one live server; a tampered copy must answer 401 or 403 with the ModelArts envelope, and
the untampered originals must be accepted (so that the checks can fail).
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import pytest
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.sdk_request import SdkRequest

from modelworks.db import Database
from modelworks.iam import service as iam
from tests.conftest import LiveServer, run_server

SEED = 20261207
VARIANTS = 600
DATE_FORMAT = "%Y%m%dT%H%M%SZ"
UNSIGNED = "UNSIGNED-PAYLOAD"


@dataclass(frozen=True)
class Wire:
    """A request as it goes on the wire."""

    method: str
    path: str
    query: tuple[tuple[str, str], ...] = ()
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    def with_header(self, name: str, value: str | None) -> Wire:
        headers = {k: v for k, v in self.headers.items() if k.lower() != name.lower()}
        if value is not None:
            headers[name] = value
        return replace(self, headers=headers)


class Sender:
    """Signs requests as the SDK does and sends them on one keep-alive connection."""

    def __init__(self, live: LiveServer, http: httpx.Client):
        self.live = live
        self.http = http
        self.netloc = urlsplit(live.endpoint).netloc
        c = live.credentials
        self.credentials = BasicCredentials(c["ak"], c["sk"], c["project_id"])

    def sign(
        self,
        method: str,
        path: str,
        *,
        query: tuple[tuple[str, str], ...] = (),
        body: Any = None,
        headers: dict[str, str] | None = None,
        date: datetime | None = None,
    ) -> Wire:
        content = body if isinstance(body, bytes) else json.dumps(body).encode() if body is not None else b""
        header_params = dict(headers or {})
        if content and not any(k.lower() == "content-type" for k in header_params):
            header_params["Content-Type"] = "application/json"
        if date is not None:
            header_params["X-Sdk-Date"] = date.strftime(DATE_FORMAT)
        request = SdkRequest(
            method=method,
            schema="http",
            host=self.netloc,
            resource_path=path,
            query_params=list(query),
            header_params=header_params,
            body=content,
        )
        signed = self.credentials.sign_request(request)
        return Wire(method, path, tuple(query), dict(signed.header_params), content)

    def send(self, wire: Wire) -> httpx.Response:
        query = "&".join(f"{quote(k, safe='~')}={quote(v, safe='~')}" for k, v in wire.query)
        url = self.live.endpoint + wire.path + (f"?{query}" if query else "")
        headers = [(k.encode(), v.encode()) for k, v in wire.headers.items()]  # UTF-8, as the SDK sends
        return self.http.request(wire.method, url, headers=headers, content=wire.body or None)


def refused(response: httpx.Response) -> bool:
    """401 or 403 with the ModelArts envelope."""
    if response.status_code not in (401, 403):
        return False
    body = response.json()
    return set(body) >= {"error_code", "error_msg"} and body["error_code"].startswith("ModelArts.")


@dataclass
class World:
    live: LiveServer
    sender: Sender
    project: str
    other_project: str
    dataset: str
    other_dataset: str
    doomed_dataset: str


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    home = tmp_path_factory.mktemp("tampering") / "home"
    with run_server(home) as live, httpx.Client(timeout=30) as http:
        sender = Sender(live, http)
        project = live.credentials["project_id"]
        (live.storage_root / "bucket" / "images").mkdir(parents=True)

        def create(name: str) -> str:
            body = {
                "dataset_name": name,
                "dataset_type": 0,
                "data_sources": [{"data_type": 0, "data_path": "/bucket/images/"}],
                "work_path": f"/bucket/{name}/",
                "work_path_type": 0,
                "description": "original",
                "labels": [{"name": "cat", "type": 0}, {"name": "dog", "type": 0}],
            }
            response = sender.send(sender.sign("POST", f"/v2/{project}/datasets", body=body))
            assert response.status_code == 201, response.text
            return str(response.json()["dataset_id"])

        datasets = [create("target"), create("other"), create("doomed")]
        # A second project the admin is a member of: a request re-aimed at it must still be refused.
        db = Database(live.settings.database_url)
        with db.session() as session:
            user = iam.get_user(session, iam.ADMIN_DOMAIN, iam.ADMIN_USER)
            other = iam.create_project(session, iam.ADMIN_DOMAIN, "tamper-other")
            iam.add_member(session, user, other)
            other_project = other.id
        db.dispose()
        yield World(live, sender, project, other_project, *datasets)


def dataset_description(world: World, dataset_id: str) -> str:
    s = world.sender
    response = s.send(s.sign("GET", f"/v2/{world.project}/datasets/{dataset_id}"))
    assert response.status_code == 200, response.text
    return str(response.json()["description"])


def label_names(world: World, dataset_id: str) -> list[str]:
    s = world.sender
    path = f"/v2/{world.project}/datasets/{dataset_id}/data-annotations/labels"
    response = s.send(s.sign("GET", path))
    assert response.status_code == 200, response.text
    return sorted(label["name"] for label in response.json()["labels"])


# --- the finding itself -----------------------------------------------------------------------


def test_put_dataset_with_swapped_body_and_content_hash_header_is_refused(world: World) -> None:
    s = world.sender
    path = f"/v2/{world.project}/datasets/{world.dataset}"
    signed = s.sign("PUT", path, body={"description": "what the owner signed"})
    forged = json.dumps({"description": "what the attacker wants"}).encode()
    attack = replace(signed, body=forged).with_header(
        "X-Sdk-Content-Sha256", hashlib.sha256(signed.body).hexdigest()
    )
    response = s.send(attack)
    assert response.status_code == 401, response.text
    assert response.json()["error_code"] == "ModelArts.0208"
    assert set(response.json()) == {"error_code", "error_msg"}
    assert dataset_description(world, world.dataset) == "original"
    # The same header on the body it names changes nothing: the signed request is accepted.
    honest = signed.with_header("X-Sdk-Content-Sha256", hashlib.sha256(signed.body).hexdigest())
    assert s.send(honest).status_code == 200
    assert dataset_description(world, world.dataset) == "what the owner signed"


def test_post_labels_with_swapped_body_and_content_hash_header_is_refused(world: World) -> None:
    s = world.sender
    path = f"/v2/{world.project}/datasets/{world.other_dataset}/data-annotations/labels"
    before = label_names(world, world.other_dataset)
    signed = s.sign("POST", path, body={"labels": [{"name": "bird", "type": 0}]})
    forged = json.dumps({"labels": [{"name": "planted", "type": 0}]}).encode()
    for content_hash in (hashlib.sha256(signed.body).hexdigest(), UNSIGNED):
        attack = replace(signed, body=forged).with_header("X-Sdk-Content-Sha256", content_hash)
        response = s.send(attack)
        assert response.status_code == 401, response.text
        assert response.json()["error_code"] == "ModelArts.0208"
    assert label_names(world, world.other_dataset) == before
    assert s.send(signed).status_code == 200
    assert label_names(world, world.other_dataset) == sorted([*before, "bird"])


def test_content_hash_header_signed_by_the_client_does_not_cover_another_body(world: World) -> None:
    """A client that signs X-Sdk-Content-Sha256 itself makes the SDK sign that value; the server still
    hashes the body it gets."""
    s = world.sender
    path = f"/v2/{world.project}/datasets/{world.other_dataset}"
    original = json.dumps({"description": "A"}).encode()
    forged = json.dumps({"description": "B"}).encode()
    for content_hash in (hashlib.sha256(original).hexdigest(), UNSIGNED):
        signed = s.sign(
            "PUT", path, body=forged, headers={"X-Sdk-Content-Sha256": content_hash}
        )  # the SDK puts content_hash in the canonical request instead of the body's hash
        response = s.send(signed)
        assert refused(response), response.text
    assert dataset_description(world, world.other_dataset) == "original"


def test_multipart_upload_signed_with_unsigned_payload_still_authenticates(world: World) -> None:
    """The SDK signs a multipart/form-data upload with UNSIGNED-PAYLOAD (what /v1/infers gets)."""
    s = world.sender
    encoded = httpx.Request("POST", "http://x/", files={"images": ("a.png", b"\x89PNG...", "image/png")})
    body = encoded.read()
    signed = s.sign(
        "POST",
        "/v1/infers/no-such-service",
        body=body,
        headers={"Content-Type": encoded.headers["content-type"]},
    )
    assert signed.headers["X-Sdk-Content-Sha256"] == UNSIGNED
    response = s.send(signed)
    # Past authentication: the service does not exist.
    assert response.status_code == 404, response.text
    # A multipart content type put on afterwards is not signed: refused.
    json_signed = s.sign("POST", "/v1/infers/no-such-service", body={"x": 1})
    relabelled = (
        replace(json_signed, body=body)
        .with_header("Content-Type", encoded.headers["content-type"])
        .with_header("X-Sdk-Content-Sha256", UNSIGNED)
    )
    assert refused(s.send(relabelled))


# --- a randomized corpus ----------------------------------------------------------------------

ROUTE_METHODS: dict[str, tuple[str, ...]] = {
    "/v2/{p}/datasets": ("GET", "POST"),
    "/v2/{p}/datasets/{d}": ("GET", "PUT", "DELETE"),
    "/v2/{p}/datasets/{d}/data-annotations/stats": ("GET",),
    "/v2/{p}/datasets/{d}/data-annotations/labels": ("GET", "POST", "PUT"),
    "/v2/{p}/datasets/{d}/data-annotations/labels/{l}": ("PUT", "DELETE"),
    "/v2/{p}/datasets/{d}/data-annotations/samples": ("GET", "POST", "PUT"),
}
EXTRA_SEGMENT = {
    "/v2/{p}/datasets": "/v2/{p}/datasets/{d}",
    "/v2/{p}/datasets/{d}": "/v2/{p}/datasets/{d}/data-annotations/stats",
    "/v2/{p}/datasets/{d}/data-annotations/labels": "/v2/{p}/datasets/{d}/data-annotations/labels/{l}",
}


@dataclass(frozen=True)
class Base:
    method: str
    template: str
    query: tuple[tuple[str, str], ...] = ()
    body: Any = None
    label: str = "cat"


def base_requests(world: World, rng: random.Random) -> list[Base]:
    return [
        Base("GET", "/v2/{p}/datasets", (("limit", "10"), ("offset", "0"))),
        Base("POST", "/v2/{p}/datasets", body={"dataset_name": "x", "dataset_type": 0}),
        Base("GET", "/v2/{p}/datasets/{d}"),
        Base("PUT", "/v2/{p}/datasets/{d}", body={"description": f"d{rng.randrange(10**6)}"}),
        Base("DELETE", "/v2/{p}/datasets/{d}"),
        Base("GET", "/v2/{p}/datasets/{d}/data-annotations/stats"),
        Base("GET", "/v2/{p}/datasets/{d}/data-annotations/labels", (("offset", "0"),)),
        Base("POST", "/v2/{p}/datasets/{d}/data-annotations/labels", body={"labels": [{"name": "fish"}]}),
        Base("PUT", "/v2/{p}/datasets/{d}/data-annotations/labels/{l}", body={"type": 0}),
        Base("DELETE", "/v2/{p}/datasets/{d}/data-annotations/labels/{l}", (("delete_source", "false"),)),
        Base("GET", "/v2/{p}/datasets/{d}/data-annotations/samples", (("limit", "5"), ("label_name", "cat"))),
    ]


def fill(template: str, project: str, dataset: str, label: str) -> str:
    return template.replace("{p}", project).replace("{d}", dataset).replace("{l}", label)


Mutation = Callable[[World, random.Random, Base, Wire], Wire]


def _other_body(rng: random.Random, wire: Wire) -> bytes:
    if not wire.body:
        return json.dumps({"description": "added"}).encode()
    doc = json.loads(wire.body)
    choice = rng.randrange(4)
    if choice == 0:
        return wire.body + b" "  # the same JSON to the app, another body to the signature
    if choice == 1:
        doc["injected"] = rng.randrange(1000)
        return json.dumps(doc).encode()
    if choice == 2:
        return json.dumps(doc, indent=1).encode()
    return json.dumps({"description": "attacker"}).encode()


def mutate_body(world: World, rng: random.Random, base: Base, wire: Wire) -> Wire:
    out = replace(wire, body=_other_body(rng, wire))
    return out if wire.body else out.with_header("Content-Type", "application/json")


def mutate_signed_header(world: World, rng: random.Random, base: Base, wire: Wire) -> Wire:
    signed = [h for h in wire.headers if h.lower() not in ("authorization", "x-sdk-date")]
    name = rng.choice(signed)
    # HTTP/1.1 always carries a Host (httpx puts the same one back): change it, never drop it.
    if rng.randrange(3) == 0 and name.lower() != "host":
        return wire.with_header(name, None)
    value = wire.headers[name]
    if name.lower() == "x-project-id":
        return wire.with_header(name, world.other_project)
    if name.lower() == "host":
        return wire.with_header(name, value.replace("127.0.0.1", "localhost"))
    if name.lower() == "content-type":
        return wire.with_header(name, rng.choice(["application/json; charset=utf-8", "text/plain"]))
    return wire.with_header(name, value + "x")


def mutate_signed_header_list(world: World, rng: random.Random, base: Base, wire: Wire) -> Wire:
    """Drop a header and its name from SignedHeaders (the signature itself kept)."""
    auth = wire.headers["Authorization"]
    head, signed_part, sig = auth.split(", ")
    names = signed_part.split("=", 1)[1].split(";")
    victim = rng.choice([n for n in names if n != "x-sdk-date"])
    kept = ";".join(n for n in names if n != victim)
    out = wire.with_header("Authorization", f"{head}, SignedHeaders={kept}, {sig}")
    return out.with_header(victim, None)


def mutate_query(world: World, rng: random.Random, base: Base, wire: Wire) -> Wire:
    query = list(wire.query)
    action = rng.randrange(3) if query else 0
    if action == 0:
        query.append(
            (rng.choice(["limit", "offset", "x", "delete_source", "label_type"]), str(rng.randrange(9)))
        )
    elif action == 1:
        query.pop(rng.randrange(len(query)))
    else:
        i = rng.randrange(len(query))
        query[i] = (query[i][0], query[i][1] + "1")
    return replace(wire, query=tuple(query))


def mutate_path(world: World, rng: random.Random, base: Base, wire: Wire) -> Wire:
    p, d, label = world.project, world.dataset, base.label
    options = [
        fill(base.template, world.other_project, d, label),
        fill(base.template, p, d, label).replace(p, p.upper(), 1),
    ]
    if "{d}" in base.template:
        options += [
            fill(base.template, p, world.other_dataset, label),
            fill(base.template, p, d.upper(), label),
        ]
    if "{l}" in base.template:
        options.append(fill(base.template, p, d, "dog"))
    longer = EXTRA_SEGMENT.get(base.template)
    if longer and base.method in ROUTE_METHODS[longer]:
        options.append(fill(longer, p, d, label))
    return replace(wire, path=rng.choice(options))


def mutate_method(world: World, rng: random.Random, base: Base, wire: Wire) -> Wire:
    others = [m for m in ROUTE_METHODS[base.template] if m != base.method]
    if not others:
        return mutate_path(world, rng, base, wire)
    method = rng.choice(others)
    out = replace(wire, method=method)
    if method in ("POST", "PUT") and not wire.body:
        out = replace(out, body=b"{}").with_header("Content-Type", "application/json")
    return out


def mutate_date(world: World, rng: random.Random, base: Base, wire: Wire) -> Wire:
    now = datetime.now(tz=UTC)
    if rng.random() < 0.5:  # a genuine signature, made outside the 15-minute window
        skew = timedelta(minutes=rng.choice([-60, -16, 16, 60 * 24]))
        path = wire.path
        return world.sender.sign(
            wire.method,
            path,
            query=wire.query,
            body=wire.body or None,
            headers={"Content-Type": wire.headers["Content-Type"]} if wire.body else None,
            date=now + skew,
        )
    # the date header alone changed, inside the window
    shifted = now + timedelta(seconds=rng.choice([-120, -5, 1, 30]))
    return wire.with_header("X-Sdk-Date", shifted.strftime(DATE_FORMAT))


def mutate_content_hash(world: World, rng: random.Random, base: Base, wire: Wire) -> Wire:
    """The finding's trick: another body, and X-Sdk-Content-Sha256 naming the signed body's hash."""
    original_hash = hashlib.sha256(wire.body).hexdigest()
    out = mutate_body(world, rng, base, wire)
    if rng.random() < 0.25:
        out = out.with_header("Content-Type", "multipart/form-data; boundary=x")
    return out.with_header("X-Sdk-Content-Sha256", rng.choice([original_hash, UNSIGNED, UNSIGNED.lower()]))


MUTATIONS: dict[str, Mutation] = {
    "body": mutate_body,
    "signed header": mutate_signed_header,
    "signed header list": mutate_signed_header_list,
    "query": mutate_query,
    "path": mutate_path,
    "method": mutate_method,
    "date": mutate_date,
    "content hash": mutate_content_hash,
}


def test_no_tampered_variant_of_a_signed_request_is_accepted(world: World) -> None:
    rng = random.Random(SEED)
    sender = world.sender
    bases = base_requests(world, rng)
    description, labels = dataset_description(world, world.dataset), label_names(world, world.dataset)
    counts: dict[str, int] = dict.fromkeys(MUTATIONS, 0)
    accepted: list[str] = []
    for _ in range(VARIANTS):
        base = rng.choice(bases)
        dataset = (
            world.doomed_dataset if base.method == "DELETE" and "{l}" not in base.template else world.dataset
        )
        path = fill(base.template, world.project, dataset, base.label)
        wire = sender.sign(base.method, path, query=base.query, body=base.body)
        kind = rng.choice(list(MUTATIONS))
        tampered = MUTATIONS[kind](world, rng, base, wire)
        assert tampered != wire
        counts[kind] += 1
        response = sender.send(tampered)
        if not refused(response):
            accepted.append(
                f"{kind}: {tampered.method} {tampered.path} -> {response.status_code} {response.text[:200]}"
            )
    print(f"\n{sum(counts.values())} tampered variants ({counts}); accepted: {len(accepted)}")
    assert not accepted, "\n".join(accepted[:20])
    assert sum(counts.values()) >= 500 and all(counts.values())
    # Nothing moved.
    assert dataset_description(world, world.dataset) == description
    assert label_names(world, world.dataset) == labels
    assert dataset_description(world, world.doomed_dataset) == "original"

    # The untampered originals are accepted (the deletions last).
    for base in sorted(bases, key=lambda b: b.method == "DELETE"):
        dataset = (
            world.doomed_dataset if base.method == "DELETE" and "{l}" not in base.template else world.dataset
        )
        body = base.body
        if base.template == "/v2/{p}/datasets" and base.method == "POST":
            body = {
                "dataset_name": "made-by-original",
                "dataset_type": 0,
                "data_sources": [{"data_type": 0, "data_path": "/bucket/images/"}],
                "work_path": "/bucket/made/",
                "work_path_type": 0,
            }
        path = fill(base.template, world.project, dataset, base.label)
        response = sender.send(sender.sign(base.method, path, query=base.query, body=body))
        assert 200 <= response.status_code < 300, (base, response.status_code, response.text)


def test_bad_authorization_input_never_gives_a_500(world: World) -> None:
    s = world.sender
    path = f"/v2/{world.project}/datasets"
    wire = s.sign("GET", path)
    auth = wire.headers["Authorization"]
    for value in [
        "",
        "SDK-HMAC-SHA256",
        auth.replace("Signature=", "Signature=zz"),
        auth.replace("SDK-HMAC-SHA256", "SDK-HMAC-SM3"),
        auth + ", Extra=1",
        "SDK-HMAC-SHA256 Access=, SignedHeaders=host, Signature=00",
        auth.replace("SignedHeaders=", "SignedHeaders=;;"),
        "\u00e9" * 10,
    ]:
        response = s.send(wire.with_header("Authorization", value))
        assert refused(response), (value, response.status_code, response.text)
    for date in ["", "yesterday", "20261399T250000Z", "9" * 40]:
        response = s.send(wire.with_header("X-Sdk-Date", date))
        assert refused(response), (date, response.status_code, response.text)
    bad_hash = wire.with_header("X-Sdk-Content-Sha256", "\u00ff" * 3)
    assert s.send(bad_hash).status_code == 200  # unsigned, on a bodiless GET: ignored
