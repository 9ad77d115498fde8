"""Regenerate ``modelworks/api/reference_operations.json`` from the reference's catalog.

The catalog (``../shared/spec/catalog.json``, derived from the ModelArts API Reference) lies outside
the package; the server needs, per operation, what ``api/openapi.py`` documents for the operations
it does not implement yet and the reference's request and response examples for every operation. Run from the
repository root: ``python scripts/build_reference_operations.py [catalog.json]``.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

REQUEST_LINE = re.compile(r"^\s*(GET|POST|PUT|PATCH|DELETE)?\s*https?://\S*\s*$")


def parse_example(text: str) -> Any | None:
    """The JSON body of a request example: the request line dropped, the first JSON value kept
    (several examples continue with prose or a second request after it). ``None`` when there is no
    body or it is not JSON (some examples carry comments or elided fields)."""
    lines = text.strip().splitlines()
    while lines and REQUEST_LINE.match(lines[0]):
        lines = lines[1:]
    body = "\n".join(lines).strip()
    if not body or body[0] not in "{[":
        return None
    try:
        value, _ = json.JSONDecoder().raw_decode(body)
    except ValueError:
        return None
    return value if value not in ({}, []) else None


def _fields(items: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    out = []
    for item in items or []:
        field = {
            "name": item["name"],
            "required": item.get("mandatory") == "Yes",
            "type": item.get("type") or "String",
            "description": item.get("description") or "",
        }
        if item.get("ref"):
            field["ref"] = item["ref"]
        out.append(field)
    return out


def entry(op: dict[str, Any]) -> dict[str, Any]:
    scope = op.get("object_scope") or {}
    objects = {
        name: _fields(fields)
        for name, fields in (op.get("objects") or {}).items()
        if scope.get(name, "request") == "request"
    }
    examples = [parse_example(text) for text in op.get("example_requests") or []]
    out: dict[str, Any] = {
        "section": op["section"],
        "method": op["method"],
        "path": op["path"],
        "title": op["title"],
        "area": op.get("area", ""),
        "function": op.get("function") or "",
        "path_params": _fields(op.get("path_params")),
        "query_params": _fields(op.get("query_params")),
        "request_body": _fields(op.get("request_body")),
        "request_objects": objects,
        "status_codes": op.get("status_codes") or [],
    }
    found = [e for e in examples if e is not None]
    if found:
        out["example_request"] = found[0]
    codes = op.get("example_response_codes") or []
    for index, text in enumerate(op.get("example_responses") or []):
        answer = parse_example(text)
        if answer is not None:
            out["example_response"] = {
                "status": codes[index] if index < len(codes) else "200",
                "body": answer,
            }
            break
    return out


def main() -> None:
    source = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/spec/catalog.json")
    catalog = json.loads(source.read_text())
    target = Path("modelworks/api/reference_operations.json")
    target.write_text(json.dumps([entry(op) for op in catalog], indent=1, ensure_ascii=False) + "\n")
    print(f"{target}: {len(catalog)} operations")


if __name__ == "__main__":
    main()
