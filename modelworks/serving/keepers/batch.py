"""Batch inference: every input file (or CSV row) sent to the service's instances, results to storage.

As the manual's batch services lay out the output directory::

    <dest_path>/infer-result-<service_id>.manifest   one JSON line per input: source, result, inference-loc
    <dest_path>/infer-result/<file name>_result.txt   the model's answer (for a CSV file: a line per row)

``mapping_type`` file sends each file of ``src_path`` (or of a ``ManifestFile``) as a
``multipart/form-data`` upload under the name of the API's file parameter; ``csv`` sends each row of
each ``.csv`` file as a JSON body built from ``mapping_rule`` (a JSON schema whose leaf properties
carry the ``index`` of their CSV column). A file that fails is reported ``FAILED`` in the manifest
with its error; the others go on.
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import httpx

from modelworks.errors import InvalidArgument, ModelworksError
from modelworks.serving.gateway import NODELAY
from modelworks.serving.status import RUNNING
from modelworks.serving.tables import InferenceService
from modelworks.storage import ObjectStore, ObsPath, parse_obs_path
from modelworks.storage.ownership import BucketOwnership

if TYPE_CHECKING:
    from modelworks.serving.keepers.base import SupervisorContext

REQUEST_TIMEOUT_SECONDS = 60.0
CHECK_SECONDS = 0.5
DEFAULT_FILE_FIELD = "images"


def file_field(apis: list[dict[str, Any]], req_uri: str) -> str:
    """The name of the API's file parameter (the one property of type ``file`` in its request schema)."""
    for api in apis:
        if (api.get("url") or "/") != req_uri:
            continue
        data = ((api.get("request") or {}).get("data")) or {}
        for name, schema in (data.get("properties") or {}).items():
            if isinstance(schema, dict) and schema.get("type") == "file":
                return str(name)
    return DEFAULT_FILE_FIELD


def _cast(value: str, kind: str) -> Any:
    if kind == "number":
        return float(value)
    if kind == "integer":
        return int(float(value))
    if kind == "boolean":
        return value.strip().lower() in ("true", "1", "yes")
    return value


def mapped_body(rule: dict[str, Any], row: list[str]) -> Any:
    """The request body that ``rule`` maps one CSV row to (leaves without a usable ``index`` are left out)."""
    kind = rule.get("type", "object")
    if str(kind).lower() == "object":
        out = {}
        for name, sub in (rule.get("properties") or {}).items():
            value = mapped_body(sub, row)
            if value is not _SKIP:
                out[name] = value
        return out
    if kind == "array":
        items = rule.get("items") or []
        items = items if isinstance(items, list) else [items]
        return [v for v in (mapped_body(item, row) for item in items) if v is not _SKIP]
    index = rule.get("index")
    if not isinstance(index, int) or index < 0 or index >= len(row):
        return _SKIP
    return _cast(row[index], str(kind))


_SKIP: Any = object()


def _sources(store: ObjectStore, entry: dict[str, Any]) -> Iterator[tuple[str, ObsPath | None]]:
    """``(source as written in the manifest, its path or None if it cannot be read)`` of every input."""
    src = parse_obs_path(entry["src_path"])
    if entry.get("src_type") == "ManifestFile":
        for line in store.read(src).decode("utf-8").splitlines():
            if not line.strip():
                continue
            source = str(json.loads(line).get("source") or "")
            try:
                yield source, parse_obs_path(source)
            except ModelworksError:
                yield source, None
        return
    for info in store.list(src.as_dir(), recursive=False):
        yield info.path.uri(), info.path


class _Instances:
    """Round-robin over the instances' ports; an instance that does not answer is skipped."""

    def __init__(self, ports: list[int], req_uri: str):
        if not ports:
            raise ModelworksError("no instance of the batch service is running")
        self.ports = list(ports)
        self.req_uri = req_uri
        self.next = 0
        self.http = httpx.Client(
            timeout=REQUEST_TIMEOUT_SECONDS, transport=httpx.HTTPTransport(socket_options=NODELAY)
        )

    def post(self, **kwargs: Any) -> Any:
        last: Exception | None = None
        for _ in range(len(self.ports)):
            port = self.ports[self.next % len(self.ports)]
            self.next += 1
            try:
                response = self.http.post(f"http://127.0.0.1:{port}{self.req_uri}", **kwargs)
            except httpx.TransportError as exc:
                last = exc
                continue
            if response.status_code >= 400:
                raise InvalidArgument(f"the model answered {response.status_code}: {response.text[:500]}")
            return response.json()
        raise ModelworksError(f"no instance answered: {last}")

    def close(self) -> None:
        self.http.close()


def run_batch(ctx: SupervisorContext, service: InferenceService, ports: list[int]) -> str | None:
    """Infer every input; a summary, or None if the service stopped being ``running`` meanwhile."""
    entry = service.config[0]
    # Inputs and results are read and written as the service's project may (its buckets and those
    # shared with it), as when the service was created: a share withdrawn since stops the run.
    store: ObjectStore = BucketOwnership(ctx.db, ctx.store).scoped(service.project_id)
    dest = parse_obs_path(entry["dest_path"]).as_dir()
    results = dest.join("infer-result/")
    client = _Instances(ports, entry.get("req_uri") or "/")
    field = file_field(entry.get("apis") or [], client.req_uri)
    lines: list[str] = []
    succeeded = 0
    last_check = time.monotonic()
    try:
        for source, path in _sources(store, entry):
            if time.monotonic() - last_check >= CHECK_SECONDS:
                last_check = time.monotonic()
                # Stopped, deleted, or this server is stopping (the next one runs the batch again).
                if ctx.shutdown.is_set() or not _still_running(ctx, service.id):
                    return None
            record: dict[str, Any] = {"source": source}
            try:
                if path is None:
                    raise InvalidArgument("only OBS paths (obs://bucket/key) can be read")
                content = store.read(path)
                if entry.get("mapping_type") == "csv":
                    answer = _infer_csv(client, entry.get("mapping_rule") or {}, content)
                else:
                    answer = json.dumps(client.post(files={field: (path.name, content)}), ensure_ascii=False)
                target = results.join(f"{path.name}_result.txt")
                store.write(target, answer.encode())
            except (ModelworksError, OSError, ValueError) as exc:
                message = exc.message if isinstance(exc, ModelworksError) else str(exc)
                record.update(result="FAILED", error_message=message)
            else:
                record.update({"result": "SUCCESSFUL", "inference-loc": target.uri()})
                succeeded += 1
            lines.append(json.dumps(record, ensure_ascii=False))
    finally:
        client.close()
    store.write(dest.join(f"infer-result-{service.id}.manifest"), ("\n".join(lines) + "\n").encode())
    return f"batch inference finished: {succeeded} of {len(lines)} inputs succeeded, results in {dest.uri()}"


def _infer_csv(client: _Instances, rule: dict[str, Any], content: bytes) -> str:
    rows = [row for row in csv.reader(io.StringIO(content.decode("utf-8-sig"))) if row]
    answers = [json.dumps(client.post(json=mapped_body(rule, row)), ensure_ascii=False) for row in rows]
    return "\n".join(answers) + "\n"


def _still_running(ctx: SupervisorContext, service_id: str) -> bool:
    with ctx.db.session(readonly=True) as s:
        service = s.get(InferenceService, service_id)
        return service is not None and service.status == RUNNING
