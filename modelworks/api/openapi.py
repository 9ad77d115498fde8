"""``/openapi.json`` for all 209 operations of the reference, and ``/docs`` / ``/redoc`` offline.

FastAPI describes the routes Modelworks implements, from their types. This module adds what only
the reference knows: each operation's section and title as its summary, its request example, the
operations not implemented yet (their parameters and body fields from the reference's tables,
answering 501 with the envelope), the two ways to authenticate, and the error envelope in place of
FastAPI's 422 (``api/errors.py`` answers a validation failure with a 400 envelope).

The documentation pages load Swagger UI and ReDoc from the ``fastapi-offline`` package (MIT), which
ships them: FastAPI's defaults load them from a CDN, and an offline machine showed a blank page.
"""

from __future__ import annotations

import re
import threading
from importlib import resources
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from modelworks.api.schemas.common import ErrorResp
from modelworks.api.unimplemented import coverage, served_operations, shape

SIGNATURE = "SDK-HMAC-SHA256"
TOKEN = "X-Auth-Token"
PUBLIC_PATHS = frozenset({"/health", "/v3/auth/tokens"})
"""The operations that take no credentials; every other one takes either scheme."""

SECURITY_SCHEMES: dict[str, dict[str, Any]] = {
    SIGNATURE: {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": (
            "AK/SK request signing as the Huawei Cloud SDKs do it (`huaweicloudsdkcore`'s "
            "`BasicCredentials`): `Authorization: SDK-HMAC-SHA256 Access=<AK>, SignedHeaders=<names>, "
            "Signature=<hex HMAC-SHA256 of the canonical request>` with an `X-Sdk-Date` header "
            "(`YYYYMMDDTHHMMSSZ`). The access key and secret are in `credentials.json` under the server's "
            "home. A browser cannot sign: use X-Auth-Token on this page."
        ),
    },
    TOKEN: {
        "type": "apiKey",
        "in": "header",
        "name": "X-Auth-Token",
        "description": (
            "An IAM-style token: `POST /v3/auth/tokens` with the user's password (the admin's is in "
            "`credentials.json` under the server's home), then paste the `X-Subject-Token` response "
            "header here."
        ),
    },
}
SECURED: list[dict[str, list[str]]] = [{SIGNATURE: []}, {TOKEN: []}]

ASSETS = "/docs-assets"
UNIMPLEMENTED_NOTE = "**Not implemented by Modelworks yet**: answers 501 with the error envelope."
_ERROR_REF = {"$ref": "#/components/schemas/ErrorResp"}
_ERRORS = {
    "400": "Invalid request: the envelope names the field",
    "401": "No valid credentials",
    "403": "The caller may not act on this project",
    "404": "No such resource",
}


def install(app: FastAPI) -> None:
    """Serve the full schema and the offline docs; call after every router is included (the app is
    created with ``docs_url=None, redoc_url=None``)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _cached_schema(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    # FastAPI's own /openapi.json builds the schema on the event loop: 2-5 s of CPU for 219
    # operations, during which nothing else (``/health`` included) is answered. Served here from a
    # worker thread instead.
    url = app.openapi_url or "/openapi.json"
    app.router.routes[:] = [r for r in app.router.routes if getattr(r, "path", None) != url]

    @app.get(url, include_in_schema=False)
    async def openapi_json() -> JSONResponse:
        return JSONResponse(await run_in_threadpool(app.openapi))

    static = resources.files("fastapi_offline").joinpath("static")
    app.mount(ASSETS, StaticFiles(directory=str(static)), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        return get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{root}{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS}/favicon.png",
            # 209 operations: listed by tag, bodies collapsed, a filter box; the token pasted in
            # Authorize survives a reload.
            swagger_ui_parameters={"docExpansion": "list", "filter": True, "persistAuthorization": True},
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        return get_redoc_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}{ASSETS}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{ASSETS}/favicon.png",
            with_google_fonts=False,
        )


_SCHEMAS: dict[tuple[Any, ...], dict[str, Any]] = {}
_SCHEMAS_LOCK = threading.Lock()


def _cached_schema(app: FastAPI) -> dict[str, Any]:
    """The schema of an app with these routes, built once per process (apps of one process, as a test
    run starts hundreds, share it: it depends only on the routes and the app's title and version)."""
    key = (
        app.title,
        app.version,
        tuple((getattr(r, "path", ""), tuple(sorted(getattr(r, "methods", None) or ()))) for r in app.routes),
    )
    with _SCHEMAS_LOCK:
        schema = _SCHEMAS.get(key)
        if schema is None:
            schema = _SCHEMAS[key] = build_schema(app)
    return schema


def build_schema(app: FastAPI) -> dict[str, Any]:
    schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    paths: dict[str, dict[str, Any]] = schema.setdefault("paths", {})
    served = served_operations(app)
    done, missing = coverage(app)
    for op in done:
        operation = paths.get(served[(op["method"], shape(op["path"]))], {}).get(op["method"].lower())
        if operation is not None:
            _describe_implemented(operation, op)
    by_shape = {shape(path): path for path in paths}
    for op in missing:
        path = by_shape.setdefault(shape(op["path"]), op["path"])
        paths.setdefault(path, {})[op["method"].lower()] = _unimplemented(op, path)
    components = schema.setdefault("components", {})
    components.setdefault("schemas", {})["ErrorResp"] = ErrorResp.model_json_schema()
    components["securitySchemes"] = SECURITY_SCHEMES
    for path, item in paths.items():
        for operation in item.values():
            _errors_as_envelope(operation, path)
    _drop_fastapi_validation_schemas(components["schemas"])
    _readable_operation_ids(paths)
    _split_mixed_enums(schema)
    return schema


def _split_mixed_enums(node: Any) -> None:
    """``enum: ["0", "1", 0, 1]`` (a ModelArts field that takes a number as text or as a number)
    becomes ``anyOf`` one enum per type: JSON Schema allows the mixed list, but client generators
    cannot type it (openapi-python-client drops the model, and every model using it breaks)."""
    if isinstance(node, dict):
        values = node.get("enum")
        if isinstance(values, list) and "type" not in node:
            kinds: dict[str, list[Any]] = {}
            for value in values:
                kinds.setdefault(_json_type(value), []).append(value)
            if len(kinds) > 1:
                del node["enum"]
                node["anyOf"] = [{"type": kind, "enum": listed} for kind, listed in kinds.items()]
        for child in node.values():
            _split_mixed_enums(child)
    elif isinstance(node, list):
        for child in node:
            _split_mixed_enums(child)


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    return "string" if isinstance(value, str) else "null"


def _describe_implemented(operation: dict[str, Any], op: dict[str, Any]) -> None:
    operation["summary"] = f"{op['section']} {op['title']}"
    operation.setdefault("description", op.get("function", ""))
    example = op.get("example_request")
    body = operation.get("requestBody")
    if body is None and op["method"] in ("POST", "PUT", "PATCH") and (op["request_body"] or example):
        # The route reads its body itself (not yet a typed model): document the reference's.
        operation["requestBody"] = _reference_body(op)
    elif body is not None and example is not None:
        _add_example(body, example)
    answer = op.get("example_response")
    if answer is not None:
        documented = operation.get("responses", {}).get(str(answer["status"]))
        if documented is not None:
            _add_example(documented, answer["body"])


def _add_example(described: dict[str, Any], example: Any) -> None:
    media = described.get("content", {}).get("application/json")
    if media is not None and "example" not in media and "examples" not in media:
        media["example"] = example


def _unimplemented(op: dict[str, Any], path: str) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "tags": [op.get("area") or "other"],
        "summary": f"{op['section']} {op['title']}",
        "description": f"{UNIMPLEMENTED_NOTE}\n\n{op.get('function', '')}",
        "operationId": _snake(op["title"]),
        "parameters": _path_parameters(op, path) + [_query_parameter(p, op) for p in op["query_params"]],
        "responses": {
            "501": {
                "description": "Not implemented by Modelworks yet",
                "content": {"application/json": {"schema": _ERROR_REF}},
            }
        },
        "x-modelworks-unimplemented": True,
    }
    if op["method"] in ("POST", "PUT", "PATCH") and (op["request_body"] or op.get("example_request")):
        operation["requestBody"] = _reference_body(op)
    return operation


def _path_parameters(op: dict[str, Any], path: str) -> list[dict[str, Any]]:
    """Named as in ``path`` (an implemented route's path when one shares the shape), described by
    the reference's parameter at the same position."""
    ours = re.findall(r"{([^}:]+)", path)
    theirs = re.findall(r"{([^}:]+)", op["path"])
    described = {p["name"]: p for p in op["path_params"]}
    out = []
    for index, name in enumerate(ours):
        ref = described.get(theirs[index] if index < len(theirs) else name, {})
        out.append(
            {
                "name": name,
                "in": "path",
                "required": True,
                "description": ref.get("description", ""),
                "schema": {"type": "string"},
            }
        )
    return out


def _query_parameter(field: dict[str, Any], op: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": field["name"],
        "in": "query",
        "required": field["required"],
        "description": field["description"],
        "schema": type_schema(field, op["request_objects"]),
    }


def _reference_body(op: dict[str, Any]) -> dict[str, Any]:
    media: dict[str, Any] = {"schema": object_schema(op["request_body"], op["request_objects"])}
    if op.get("example_request") is not None:
        media["example"] = op["example_request"]
    return {
        "required": any(f["required"] for f in op["request_body"]),
        "content": {"application/json": media},
    }


def object_schema(
    fields: list[dict[str, Any]], objects: dict[str, list[dict[str, Any]]], seen: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """A JSON schema for one of the reference's field tables. Extra properties stay allowed: the
    tables are not always complete, and a ModelArts client may send more."""
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {f["name"]: type_schema(f, objects, seen) for f in fields},
    }
    required = [f["name"] for f in fields if f["required"]]
    if required:
        schema["required"] = required
    return schema


_SCALARS: dict[str, dict[str, Any]] = {
    "string": {"type": "string"},
    "integer": {"type": "integer", "format": "int32"},
    "int": {"type": "integer", "format": "int32"},
    "long": {"type": "integer", "format": "int64"},
    "boolean": {"type": "boolean"},
    "bool": {"type": "boolean"},
    "float": {"type": "number"},
    "double": {"type": "number"},
    "number": {"type": "number"},
    "object": {"type": "object"},
    "json": {"type": "object"},
}
_ARRAY_OF = re.compile(r"^(?:array|list)\s*(?:of|<)\s*(.*?)\s*>?$", re.IGNORECASE)


def type_schema(
    field: dict[str, Any], objects: dict[str, list[dict[str, Any]]], seen: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """The schema of a field from the reference's type words (``Integer``, ``Array of Label objects``,
    ``Map<String,String>``, ``SampleMetadata object``); a type it cannot read is left open."""
    schema = _schema_of(field.get("type", ""), field.get("ref"), objects, seen)
    if field.get("description"):
        schema = {**schema, "description": field["description"]}
    return schema


def _schema_of(
    text: str, ref: str | None, objects: dict[str, list[dict[str, Any]]], seen: frozenset[str]
) -> dict[str, Any]:
    words = " ".join(text.split())
    lower = words.lower()
    if lower in _SCALARS:
        return dict(_SCALARS[lower])
    if lower.startswith("map"):
        return {"type": "object", "additionalProperties": True}
    if lower in ("array", "json array", "array of objects", "array of object"):
        return {"type": "array", "items": {}}
    match = _ARRAY_OF.match(words)
    if match:
        inner = re.sub(r"\s+objects?$", " object", match.group(1).strip())
        if inner.lower().endswith("s") and inner.lower()[:-1] in _SCALARS:
            inner = inner[:-1]
        return {"type": "array", "items": _schema_of(inner, ref, objects, seen)}
    if lower.endswith(" object"):
        name = ref or words[: -len(" object")].strip()
        fields = objects.get(name)
        if fields is None or name in seen or len(seen) >= 4:
            return {"type": "object"}
        return object_schema(fields, objects, seen | {name})
    return {}


def _errors_as_envelope(operation: dict[str, Any], path: str) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    responses.pop("422", None)
    secured = path not in PUBLIC_PATHS
    wanted = ["401", "403"] if operation.get("x-modelworks-unimplemented") else ["400", "401", "403", "404"]
    for status in wanted:
        if (status in ("401", "403") and not secured) or (status == "404" and "{" not in path):
            continue
        responses.setdefault(
            status,
            {"description": _ERRORS[status], "content": {"application/json": {"schema": _ERROR_REF}}},
        )
    if secured:
        operation["security"] = SECURED


def _drop_fastapi_validation_schemas(schemas: dict[str, Any]) -> None:
    """No route answers FastAPI's 422 (``api/errors.py`` answers 400), so its schemas describe nothing."""
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)


def _readable_operation_ids(paths: dict[str, dict[str, Any]]) -> None:
    """FastAPI's ids repeat the path (``list_datasets_v2__project_id__datasets_get``), and a client
    generator turns them into function names: the route's own name where it is unique."""
    names: dict[int, tuple[str, str]] = {}
    for path, item in paths.items():
        for method, operation in item.items():
            current = str(operation.get("operationId", ""))
            suffix = re.sub(r"\W", "_", path) + "_" + method
            short = current.removesuffix(suffix)
            names[id(operation)] = (short, short + suffix)
    counts: dict[str, int] = {}
    for short, _ in names.values():
        counts[short] = counts.get(short, 0) + 1
    for item in paths.values():
        for operation in item.values():
            short, full = names[id(operation)]
            operation["operationId"] = short if counts[short] == 1 else full


def _snake(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", title.lower()).strip("_")
