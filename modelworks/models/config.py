"""The model configuration: ``config.json`` (and ``initial_config``) and the create request's fields.

Everything is checked here and returned in the shapes a model keeps, so services store it as is:

    apis          [{"url": "/", "method": "post", "protocol": "http",
                    "request": {"Content-type": ..., "data": <JSON schema>},
                    "response": {"Content-type": ..., "data": <JSON schema>}}]   (config.json's shape)
    dependencies  [{"installer": "pip", "packages": [{"package_name", "package_version", "restraint"}]}]
    metrics       {"f1": 0.9, ...}
    params        [{"protocol", "url", "method", "param_name", "param_type", "param_desc", "min", "max"}]

Errors name where the value came from: ``config.json: apis[0].method: ...`` for the package's file,
``initial_config: ...`` for the request's string, the bare field name for request fields.
"""

from __future__ import annotations

import json
import re
from typing import Any

from modelworks.errors import (
    ConfigFieldInvalid,
    ConfigNotConforming,
    InvalidArgument,
    ParameterRequired,
    RestraintInvalid,
)

ALGORITHM_RE = re.compile(r"^[A-Za-z][^&!'\"<>=]{0,35}$")
PACKAGE_TEXT_RE = re.compile(r"^[^&!'\"<>=\s]+$")
METRIC_KEYS = ("f1", "recall", "precision", "accuracy")
RESTRAINTS = ("EXACT", "ATLEAST", "ATMOST")
METHODS = ("post", "get", "put", "delete")
PROTOCOLS = ("http", "https")
CONTENT_TYPES = ("application/json", "multipart/form-data")
ROOT_URL = "/"


class Where:
    """Where values come from: a file (``config.json``), ``initial_config``, or the request ("")."""

    def __init__(self, source: str = ""):
        self.source = source

    def field(self, path: str) -> str:
        return f"{self.source}: {path}" if self.source else path

    def error(self, path: str, message: str, *, kind: type[InvalidArgument] | None = None) -> InvalidArgument:
        """``kind`` (default: ``ConfigFieldInvalid`` for a file's value, ``InvalidArgument`` for the
        request's) naming where the value came from."""
        default = ConfigFieldInvalid if self.source else InvalidArgument
        return (kind or default)(message, field=self.field(path))


REQUEST = Where()


def parse_config(text: str | bytes, source: str) -> dict[str, Any]:
    """A configuration file's JSON object; 400 ModelArts.3015 when it is not one."""
    try:
        raw = json.loads(text)
    except ValueError as exc:
        raise ConfigNotConforming(f"{source}: not valid JSON ({exc})", field=source) from exc
    if not isinstance(raw, dict):
        raise ConfigNotConforming(f"{source}: must hold a JSON object", field=source)
    return raw


def _string(where: Where, path: str, value: Any) -> str:
    if not isinstance(value, str):
        raise where.error(path, "must be a string")
    return value


def check_algorithm(where: Where, value: Any, path: str = "model_algorithm") -> str:
    text = _string(where, path, value)
    if not ALGORITHM_RE.match(text):
        raise where.error(path, "must start with a letter and hold at most 36 characters, none of &!'\"<>=")
    return text


def check_metrics(where: Where, value: Any, path: str = "metrics") -> dict[str, Any]:
    if not isinstance(value, dict):
        raise where.error(path, "must be an object (f1, recall, precision, accuracy)")
    for key in METRIC_KEYS:
        number = value.get(key)
        if number is not None and (isinstance(number, bool) or not isinstance(number, int | float)):
            raise where.error(f"{path}.{key}", "must be a number")
    return dict(value)


def _message(where: Where, path: str, value: Any, *, request: bool) -> dict[str, Any]:
    """An api's ``request`` or ``response``: a content type and a JSON-schema ``data``."""
    if value is None:
        return {"Content-type": CONTENT_TYPES[0], "data": {"type": "object"}}
    if not isinstance(value, dict):
        raise where.error(path, "must be an object (Content-type, data)")
    content_type = value.get("Content-type", value.get("Content-Type")) or CONTENT_TYPES[0]
    content_type = _string(where, f"{path}.Content-type", content_type)
    # The manual's own examples spell the response type "applicaton/json"; read it as JSON.
    if content_type.lower() in ("applicaton/json", "application/json"):
        content_type = "application/json"
    if content_type not in CONTENT_TYPES or (not request and content_type != "application/json"):
        allowed = CONTENT_TYPES if request else CONTENT_TYPES[:1]
        raise where.error(f"{path}.Content-type", f"must be one of {', '.join(allowed)}")
    data = value.get("data", {"type": "object"})
    return {"Content-type": content_type, "data": check_schema(where, f"{path}.data", data)}


def check_schema(where: Where, path: str, value: Any) -> dict[str, Any]:
    """A JSON schema as ModelArts uses it: an object whose ``type`` (if any) is a string and whose
    ``properties`` (if any) map names to schemas."""
    if not isinstance(value, dict):
        raise where.error(path, "must be a JSON schema object")
    kind = value.get("type")
    if kind is not None and not isinstance(kind, str):
        raise where.error(f"{path}.type", "must be a string")
    properties = value.get("properties")
    if properties is not None:
        if not isinstance(properties, dict):
            raise where.error(f"{path}.properties", "must be an object")
        for name, schema in properties.items():
            check_schema(where, f"{path}.properties.{name}", schema)
    return dict(value)


def _api_head(where: Where, path: str, item: dict[str, Any], *, root_only: bool = True) -> dict[str, str]:
    url = _string(where, f"{path}.url", item.get("url") or ROOT_URL)
    if not url.startswith("/"):
        raise where.error(f"{path}.url", "must be a path starting with '/'")
    if root_only and url != ROOT_URL:
        raise where.error(
            f"{path}.url", f"must be {ROOT_URL!r}: a packaged model serves one inference API, at the root"
        )
    method = _string(where, f"{path}.method", item.get("method") or "post").lower()
    if method not in METHODS:
        raise where.error(f"{path}.method", f"must be one of {', '.join(METHODS)}")
    # "procotol" is how one of the manual's examples spells it.
    protocol = item.get("protocol", item.get("procotol")) or "http"
    protocol = _string(where, f"{path}.protocol", protocol).lower()
    if protocol not in PROTOCOLS:
        raise where.error(f"{path}.protocol", f"must be one of {', '.join(PROTOCOLS)}")
    return {"url": url, "method": method, "protocol": protocol}


def _api_list(where: Where, path: str, value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise where.error(path, "must be a list")
    if len(value) > 1:
        raise where.error(path, f"declares {len(value)} APIs; a packaged model serves exactly one, at '/'")
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise where.error(f"{path}[{i}]", "must be an object")
    return value


def check_apis(where: Where, value: Any, path: str = "apis") -> list[dict[str, Any]]:
    """``apis`` in config.json's shape (url, method, protocol, request, response)."""
    out = []
    for i, item in enumerate(_api_list(where, path, value)):
        api: dict[str, Any] = _api_head(where, f"{path}[{i}]", item)
        api["request"] = _message(where, f"{path}[{i}].request", item.get("request"), request=True)
        api["response"] = _message(where, f"{path}[{i}].response", item.get("response"), request=False)
        out.append(api)
    return out


def _has_file(schema: dict[str, Any]) -> bool:
    properties = schema.get("properties")
    if schema.get("type") == "file":
        return True
    return isinstance(properties, dict) and any(
        isinstance(s, dict) and _has_file(s) for s in properties.values()
    )


def request_apis(value: Any, path: str = "apis") -> list[dict[str, Any]]:
    """The request's ``apis`` (``CreateModelRequestModelApis``: input_params/output_params schemas) in
    config.json's shape. A request schema with a ``file`` property is uploaded as multipart/form-data."""
    out = []
    for i, item in enumerate(_api_list(REQUEST, path, value)):
        api: dict[str, Any] = _api_head(REQUEST, f"{path}[{i}]", item)
        inputs = check_schema(
            REQUEST, f"{path}[{i}].input_params", item.get("input_params") or {"type": "object"}
        )
        outputs = check_schema(
            REQUEST, f"{path}[{i}].output_params", item.get("output_params") or {"type": "object"}
        )
        content_type = "multipart/form-data" if _has_file(inputs) else "application/json"
        api["request"] = {"Content-type": content_type, "data": inputs}
        api["response"] = {"Content-type": "application/json", "data": outputs}
        out.append(api)
    return out


def api_summaries(apis: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``apis`` as 6.4 answers them: the request's shape, schemas as input_params/output_params."""
    return [
        {
            "protocol": api["protocol"],
            "method": api["method"],
            "url": api["url"],
            "input_params": api["request"]["data"],
            "output_params": api["response"]["data"],
        }
        for api in apis
    ]


def check_dependencies(where: Where, value: Any, path: str = "dependencies") -> list[dict[str, Any]]:
    """pip dependencies: package names, and a restraint (EXACT, ATLEAST, ATMOST) with each version."""
    if not isinstance(value, list):
        raise where.error(path, "must be a list")
    out = []
    for i, item in enumerate(value):
        at = f"{path}[{i}]"
        if not isinstance(item, dict):
            raise where.error(at, "must be an object (installer, packages)")
        installer = item.get("installer") or "pip"
        if installer != "pip":
            raise where.error(f"{at}.installer", f"only pip is supported, not {installer!r}")
        packages = item.get("packages")
        if not isinstance(packages, list):
            raise where.error(f"{at}.packages", "is required (a list of packages)", kind=ParameterRequired)
        checked = [_package(where, f"{at}.packages[{j}]", p) for j, p in enumerate(packages)]
        out.append({"installer": "pip", "packages": checked})
    return out


def _package(where: Where, path: str, value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        raise where.error(path, "must be an object (package_name, package_version, restraint)")
    name = value.get("package_name")
    if not isinstance(name, str) or not PACKAGE_TEXT_RE.match(name):
        raise where.error(f"{path}.package_name", "is required: a package name without spaces or &!'\"<>=")
    version = value.get("package_version") or ""
    if not isinstance(version, str) or (version and not PACKAGE_TEXT_RE.match(version)):
        raise where.error(f"{path}.package_version", "must be a version without spaces or &!'\"<>=")
    restraint = value.get("restraint") or ""
    if not isinstance(restraint, str):
        raise where.error(f"{path}.restraint", "must be a string")
    restraint = restraint.upper()
    if version and restraint not in RESTRAINTS:
        raise where.error(
            f"{path}.restraint",
            f"must be one of {', '.join(RESTRAINTS)} when package_version is given",
            kind=RestraintInvalid,
        )
    if not version and restraint:
        raise where.error(f"{path}.restraint", "needs a package_version", kind=RestraintInvalid)
    return {"package_name": name, "package_version": version, "restraint": restraint}


def check_health(where: Where, value: Any, path: str = "health") -> dict[str, str]:
    if not isinstance(value, dict):
        raise where.error(path, "must be an object (url, protocol, initial_delay_seconds, timeout_seconds)")
    url = value.get("url")
    if not isinstance(url, str) or not url.startswith("/"):
        raise where.error(f"{path}.url", "is required: a path starting with '/'", kind=ParameterRequired)
    out = {"url": url, "protocol": str(value.get("protocol") or "http")}
    for key in ("initial_delay_seconds", "timeout_seconds"):
        if value.get(key) is not None:
            seconds = str(value[key])
            if not seconds.isdigit():
                raise where.error(f"{path}.{key}", "must be a whole number of seconds")
            out[key] = seconds
    return out


def check_config(raw: dict[str, Any], source: str) -> dict[str, Any]:
    """A configuration's known fields checked and normalized; other fields are kept as they are."""
    where = Where(source)
    out = dict(raw)
    for key in ("model_type", "runtime", "swr_location"):
        if raw.get(key) is not None:
            out[key] = _string(where, key, raw[key])
    if raw.get("model_algorithm") is not None:
        out["model_algorithm"] = check_algorithm(where, raw["model_algorithm"])
    if raw.get("metrics") is not None:
        out["metrics"] = check_metrics(where, raw["metrics"])
    if raw.get("apis") is not None:
        out["apis"] = check_apis(where, raw["apis"])
    if raw.get("dependencies") is not None:
        out["dependencies"] = check_dependencies(where, raw["dependencies"])
    if raw.get("health") is not None:
        out["health"] = check_health(where, raw["health"])
    return out


def _number(path: str, value: Any) -> float | int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise REQUEST.error(path, "must be a number")
    return value


def infer_params(value: Any, path: str) -> list[dict[str, Any]]:
    """The request's ``input_params``/``output_params`` (``CreateModelRequestInferParams``)."""
    if not isinstance(value, list):
        raise REQUEST.error(path, "must be a list")
    out = []
    for i, item in enumerate(value):
        at = f"{path}[{i}]"
        if not isinstance(item, dict):
            raise REQUEST.error(at, "must be an object")
        # Descriptions only (batch services read them): any path, any type name. The reference's own
        # example describes a "box" parameter of "/v1/xxx/image".
        head = _api_head(REQUEST, at, item, root_only=False)
        name = item.get("param_name")
        if not isinstance(name, str) or not name or len(name) > 64:
            raise REQUEST.error(f"{at}.param_name", "is required: 1 to 64 characters")
        kind = item.get("param_type")
        if not isinstance(kind, str) or not kind or len(kind) > 32:
            raise REQUEST.error(
                f"{at}.param_type", "is required: int, string, float, timestamp, date, file ..."
            )
        param: dict[str, Any] = {**head, "param_name": name, "param_type": kind}
        description = item.get("param_desc")
        if description is not None:
            param["param_desc"] = _string(REQUEST, f"{at}.param_desc", description)
        for key in ("min", "max"):
            number = _number(f"{at}.{key}", item.get(key))
            if number is not None:
                param[key] = number
        out.append(param)
    return out


def params_from_apis(apis: list[dict[str, Any]], side: str) -> list[dict[str, Any]]:
    """``input_params`` (side "request") or ``output_params`` ("response") derived from ``apis``: one
    parameter per top-level property of the schema, described by its own schema."""
    out = []
    for api in apis:
        properties = api[side]["data"].get("properties") or {}
        for name, schema in properties.items():
            out.append(
                {
                    "protocol": api["protocol"],
                    "url": api["url"],
                    "method": api["method"],
                    "param_name": name,
                    "param_type": str(schema.get("type") or "object"),
                    "param_desc": json.dumps(schema, ensure_ascii=False),
                }
            )
    return out
