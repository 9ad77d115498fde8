"""The create request's own fields (name, version, description, deployment types, documents, metrics)."""

from __future__ import annotations

import json
import re
from typing import Any

from modelworks.errors import InvalidArgument
from modelworks.models import config as cfg

NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
VERSION_RE = re.compile(r"^(0|[1-9]\d?)\.(0|[1-9]\d?)\.(0|[1-9]\d?)$")
DESCRIPTION_FORBIDDEN = re.compile(r"[&!\"<>=]")
DOC_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,47}$")
INSTALL_TYPES = ("real-time", "edge", "batch")
MAX_DOCS = 3


def version_key(version: str) -> str:
    """``1.2.10`` as ``01.02.10``: versions sort as text."""
    return ".".join(part.zfill(2) for part in version.split("."))


def check_name(value: Any) -> str:
    if not isinstance(value, str) or not NAME_RE.match(value):
        raise InvalidArgument("must be 1 to 64 letters, digits, hyphens or underscores", field="model_name")
    return value


def check_version(value: Any) -> str:
    if not isinstance(value, str) or not VERSION_RE.match(value):
        raise InvalidArgument(
            "must be Digit.Digit.Digit, each part 0 or a one- or two-digit number not starting with 0 "
            "(e.g. 1.0.0)",
            field="model_version",
        )
    return value


def check_description(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > 100 or DESCRIPTION_FORBIDDEN.search(value):
        raise InvalidArgument('must be at most 100 characters, none of &!"<>=', field="description")
    return value


def check_install_type(value: Any) -> list[str]:
    if value is None:
        return list(INSTALL_TYPES)
    if not isinstance(value, list) or not value:
        raise InvalidArgument(f"must be a non-empty list of {', '.join(INSTALL_TYPES)}", field="install_type")
    out = []
    for i, item in enumerate(value):
        # The reference writes "real-time" in requests and "realtime" in responses.
        if item not in (*INSTALL_TYPES, "realtime"):
            raise InvalidArgument(f"must be one of {', '.join(INSTALL_TYPES)}", field=f"install_type[{i}]")
        if item not in out:
            out.append(item)
    return out


def check_docs(value: Any) -> list[dict[str, str]]:
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > MAX_DOCS:
        raise InvalidArgument(f"must be a list of at most {MAX_DOCS} documents", field="model_docs")
    out = []
    for i, doc in enumerate(value):
        at = f"model_docs[{i}]"
        if not isinstance(doc, dict):
            raise InvalidArgument("must be an object (doc_url, doc_name)", field=at)
        url, name = doc.get("doc_url"), doc.get("doc_name")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise InvalidArgument("must be an HTTP(S) link", field=f"{at}.doc_url")
        if not isinstance(name, str) or not DOC_NAME_RE.match(name):
            raise InvalidArgument(
                "must start with a letter: 1 to 48 letters, digits, hyphens or underscores",
                field=f"{at}.doc_name",
            )
        out.append({"doc_url": url, "doc_name": name})
    return out


def check_metrics_text(value: Any) -> str | None:
    """The request's ``model_metrics``: a JSON object as a string (the reference's example)."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InvalidArgument("must be a string holding a JSON object", field="model_metrics")
    try:
        metrics = json.loads(value)
    except ValueError as exc:
        raise InvalidArgument(f"is not valid JSON ({exc})", field="model_metrics") from exc
    cfg.check_metrics(cfg.REQUEST, metrics, "model_metrics")
    return value
