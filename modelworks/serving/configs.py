"""Checking the request fields of a service (8.4, 8.7, 8.1) and normalizing its ``config`` entries.

A normalized entry holds the request's fields, the model's snapshot (``_models.model_snapshot``), the
resolved size (``cpu``, ``memory_bytes``) and a ``revision``: a digest of everything that shapes an
instance's process. Instances carry the revision they were started for, so an update replaces only
the instances whose revision changed, and scaling adds or removes instances without restarting the
others.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from sqlalchemy.orm import Session

from modelworks.errors import DuplicateModelVersion, InvalidArgument, NotImplementedYet
from modelworks.models.package import obs_location
from modelworks.serving import specs
from modelworks.serving._models import model_snapshot
from modelworks.serving.status import BATCH, EDGE, REAL_TIME, required
from modelworks.storage import ObjectStore
from modelworks.storage.scoped import user_path

MAX_INSTANCES = 128
DEFAULT_DEPLOY_TIMEOUT_SECONDS = 1200
"""20 minutes, the manual's default for loading one model instance."""
SCHEDULE_UNITS = {"DAYS": 86400, "HOURS": 3600, "MINUTES": 60}
_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_DESCRIPTION_FORBIDDEN = set("<>=&\"'")
_TAG_KEY_MAX, _TAG_VALUE_MAX = 128, 255

PUBLIC_FIELDS = (
    "model_id",
    "weight",
    "specification",
    "custom_spec",
    "instance_count",
    "envs",
    "deploy_timeout_in_seconds",
    "additional_properties",
    "src_path",
    "dest_path",
    "req_uri",
    "mapping_type",
    "mapping_rule",
    "src_type",
)
"""The ``ServiceConfig`` fields a client may set, in the reference's order."""
_REVISION_FIELDS = ("model_id", "package", "specification", "cpu", "memory_bytes", "envs")


def check_name(raw: Any) -> str:
    if not isinstance(raw, str) or not _NAME_RE.match(raw):
        raise InvalidArgument(
            "must be 1 to 64 letters, digits, hyphens (-) or underscores (_)", field="service_name"
        )
    return raw


def check_description(raw: Any) -> str:
    if raw is None:
        return ""
    if not isinstance(raw, str) or len(raw) > 100 or _DESCRIPTION_FORBIDDEN & set(raw):
        raise InvalidArgument("must be at most 100 characters without <>=&\"'", field="description")
    return raw


def integer_field(raw: Any, field: str, *, low: int, high: int | None = None) -> int:
    """An integer, also as the numeric strings the reference's examples send (``"weight": "70"``)."""
    if isinstance(raw, str) and re.fullmatch(r"-?\d+", raw.strip()):
        raw = int(raw)
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < low or (high is not None and raw > high):
        bound = f"from {low} to {high}" if high is not None else f"at least {low}"
        raise InvalidArgument(f"must be an integer {bound}", field=field)
    return raw


def _envs(raw: Any, field: str) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict) or not all(isinstance(k, str) and k for k in raw):
        raise InvalidArgument("must be an object of strings", field=field)
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in raw.items()}


def authorize_paths(store: ObjectStore, config: list[dict[str, Any]]) -> None:
    """Refuse (403 naming the field) a batch entry whose input the caller's project may not read or
    whose output it may not write; called by the routes that store a service's config, before the
    commit, so that a refused request leaves nothing behind."""
    for i, entry in enumerate(config):
        if entry.get("src_path"):
            user_path(store, str(entry["src_path"]), field=f"config[{i}].src_path")
        if entry.get("dest_path"):
            user_path(store, str(entry["dest_path"]), field=f"config[{i}].dest_path", write=True)


def _obs_dir(raw: Any, field: str) -> str:
    """An OBS path as ``/bucket/key``; ``obs://`` and the OBS URLs of the reference's examples too."""
    if not isinstance(raw, str) or not raw:
        raise required(field)
    return str(obs_location(raw, field))


def _refuse_pools(raw: dict[str, Any], field: str) -> None:
    for key in ("cluster_id", "pool_name"):
        if raw.get(key):
            raise NotImplementedYet(
                f"{field}.{key}: dedicated resource pools are not supported by Modelworks yet; deploy "
                "on the public flavors of GET /v1/{project_id}/services/specifications."
            )


def _batch_fields(raw: dict[str, Any], snapshot: dict[str, Any], field: str) -> dict[str, Any]:
    mapping_type = raw.get("mapping_type") or "file"
    if mapping_type not in ("file", "csv"):
        raise InvalidArgument("must be file or csv", field=f"{field}.mapping_type")
    src_type = raw.get("src_type") or ""
    if src_type not in ("", "ManifestFile"):
        raise InvalidArgument("must be empty or ManifestFile", field=f"{field}.src_type")
    req_uri = raw.get("req_uri") or "/"
    if not isinstance(req_uri, str) or not req_uri.startswith("/"):
        raise InvalidArgument("must be a path starting with /", field=f"{field}.req_uri")
    urls = {api.get("url") or "/" for api in snapshot["apis"]} or {"/"}
    if req_uri not in urls:
        raise InvalidArgument(
            f"the model declares no API {req_uri!r}; its APIs: {', '.join(sorted(urls))}",
            field=f"{field}.req_uri",
        )
    rule = raw.get("mapping_rule")
    if mapping_type == "csv" and not isinstance(rule, dict):
        raise InvalidArgument(
            "is required (an object) when mapping_type is csv", field=f"{field}.mapping_rule"
        )
    out = {
        "src_path": _obs_dir(raw.get("src_path"), f"{field}.src_path"),
        "dest_path": _obs_dir(raw.get("dest_path"), f"{field}.dest_path"),
        "req_uri": req_uri,
        "mapping_type": mapping_type,
        "src_type": src_type,
    }
    if rule is not None:
        out["mapping_rule"] = rule
    return out


def config_entry(session: Session, project_id: str, raw: Any, infer_type: str, field: str) -> dict[str, Any]:
    """One normalized ``ServiceConfig`` entry (see the module docstring)."""
    if not isinstance(raw, dict):
        raise InvalidArgument("must be an object", field=field)
    _refuse_pools(raw, field)
    if raw.get("nodes"):
        raise InvalidArgument("is only for edge services", field=f"{field}.nodes")
    model_id = raw.get("model_id")
    if not isinstance(model_id, str) or not model_id:
        raise required(f"{field}.model_id")
    snapshot = model_snapshot(session, project_id, model_id, f"{field}.model_id")
    spec = specs.resolve(raw.get("specification"), raw.get("custom_spec"), field)
    entry: dict[str, Any] = {**snapshot, "specification": spec.specification}
    if spec.specification == specs.CUSTOM:
        entry["custom_spec"] = specs.custom_spec(raw.get("custom_spec"), f"{field}.custom_spec")[0]
    entry["cpu"], entry["memory_bytes"] = spec.cpu, spec.memory_bytes
    entry["instance_count"] = integer_field(
        raw.get("instance_count", 1), f"{field}.instance_count", low=1, high=MAX_INSTANCES
    )
    entry["envs"] = _envs(raw.get("envs"), f"{field}.envs")
    entry["deploy_timeout_in_seconds"] = integer_field(
        raw.get("deploy_timeout_in_seconds", DEFAULT_DEPLOY_TIMEOUT_SECONDS),
        f"{field}.deploy_timeout_in_seconds",
        low=1,
    )
    properties = raw.get("additional_properties") or {}
    if not isinstance(properties, dict):
        raise InvalidArgument("must be an object", field=f"{field}.additional_properties")
    entry["additional_properties"] = properties
    if infer_type == REAL_TIME:
        if raw.get("weight") is None:
            raise required(f"{field}.weight")
        entry["weight"] = integer_field(raw["weight"], f"{field}.weight", low=0, high=100)
    else:
        entry.update(_batch_fields(raw, snapshot, field))
    entry["revision"] = revision(entry)
    return entry


def revision(entry: dict[str, Any]) -> str:
    """A digest of the fields that shape an instance's process."""
    shaped = json.dumps({k: entry.get(k) for k in _REVISION_FIELDS}, sort_keys=True)
    return hashlib.sha256(shaped.encode()).hexdigest()[:16]


def service_config(session: Session, project_id: str, raw: Any, infer_type: str) -> list[dict[str, Any]]:
    """The normalized ``config`` list: weights summing to 100 and unique models for real-time, one
    entry for batch."""
    if not isinstance(raw, list) or not raw:
        raise required("config")
    if infer_type != REAL_TIME and len(raw) != 1:
        raise InvalidArgument(f"a {infer_type} service deploys exactly one model", field="config")
    entries = [
        config_entry(session, project_id, item, infer_type, f"config[{i}]") for i, item in enumerate(raw)
    ]
    seen: set[str] = set()
    for i, entry in enumerate(entries):
        if entry["model_id"] in seen:
            raise DuplicateModelVersion(
                "Failed to deploy services because the version of the model that is used for deploying "
                "services is the same.",
                field=f"config[{i}].model_id",
            )
        seen.add(entry["model_id"])
    if infer_type == REAL_TIME and sum(e["weight"] for e in entries) != 100:
        raise InvalidArgument("the weights of all models must sum to 100", field="config.weight")
    return entries


def request_form(entry: dict[str, Any]) -> dict[str, Any]:
    """A normalized entry as a client would send it again (for JSON patches)."""
    return {k: entry[k] for k in PUBLIC_FIELDS if k in entry}


def infer_type_of(raw: Any) -> str:
    if raw == EDGE:
        raise NotImplementedYet(
            "infer_type edge: edge services need Intelligent EdgeFabric nodes, which Modelworks does not "
            "have."
        )
    if raw not in (REAL_TIME, BATCH):
        raise InvalidArgument("must be real-time or batch", field="infer_type")
    return str(raw)


def schedule(raw: Any, infer_type: str) -> list[dict[str, Any]]:
    """The ``schedule`` list: at most one ``stop`` entry, for real-time services."""
    if raw is None or raw == []:
        return []
    if infer_type != REAL_TIME:
        raise InvalidArgument("can be configured only for real-time services", field="schedule")
    if not isinstance(raw, list) or len(raw) != 1 or not isinstance(raw[0], dict):
        raise InvalidArgument("must hold one object (type stop)", field="schedule")
    item = raw[0]
    if item.get("type") != "stop":
        raise InvalidArgument("only stop is supported", field="schedule[0].type")
    unit = str(item.get("time_unit") or "").upper()
    if unit not in SCHEDULE_UNITS:
        raise InvalidArgument("must be DAYS, HOURS or MINUTES", field="schedule[0].time_unit")
    duration = integer_field(item.get("duration"), "schedule[0].duration", low=1)
    return [{"type": "stop", "time_unit": unit, "duration": duration}]


def schedule_seconds(entries: list[dict[str, Any]]) -> int | None:
    for item in entries:
        if item.get("type") == "stop":
            return int(item["duration"]) * SCHEDULE_UNITS[item["time_unit"]]
    return None


def refuse_networks(body: dict[str, Any]) -> None:
    _refuse_pools(body, "body")
    for key in ("vpc_id", "subnet_network_id", "security_group_id"):
        if body.get(key):
            raise NotImplementedYet(
                f"{key}: custom VPC networks are not supported by Modelworks; services answer on the "
                "server's own address at /v1/infers/{service_id}."
            )


def tags(raw: Any, *, deleting: bool = False) -> list[dict[str, str]]:
    """The ``tags`` list of 8.12 (``TmsTag``) or 8.13 (``TmsTagForDelete``: the value is optional)."""
    if not isinstance(raw, list) or not raw:
        raise required("tags")
    out = []
    for i, item in enumerate(raw):
        field = f"tags[{i}]"
        if not isinstance(item, dict):
            raise InvalidArgument("must be an object", field=field)
        key, value = item.get("key"), item.get("value")
        if not isinstance(key, str) or not key or len(key) > _TAG_KEY_MAX or key != key.strip():
            raise InvalidArgument(
                "must be 1 to 128 characters without leading or trailing spaces", field=f"{field}.key"
            )
        if not deleting and key.lower().startswith("_sys_"):
            raise InvalidArgument("cannot start with _sys_", field=f"{field}.key")
        if value is None and deleting:
            out.append({"key": key})
            continue
        if not isinstance(value, str) or len(value) > _TAG_VALUE_MAX:
            raise InvalidArgument("must be a string of at most 255 characters", field=f"{field}.value")
        out.append({"key": key, "value": value})
    return out
