"""Verification of ``SDK-HMAC-SHA256`` request signatures as ``huaweicloudsdkcore`` makes them.

The canonical request mirrors ``huaweicloudsdkcore.signer.signer.Signer``:
method, the path with every segment URL-encoded (``~`` safe) and a trailing ``/``, the sorted and
re-encoded query, the signed headers as ``name:value`` lines, the signed header names, and the
SHA-256 of the body (or the value of ``X-Sdk-Content-Sha256`` when the client sent one).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import parse_qsl, quote, unquote

from modelworks.errors import BadAuthorizationHeader, SignatureMismatch

ALGORITHM = "SDK-HMAC-SHA256"
DATE_FORMAT = "%Y%m%dT%H%M%SZ"
_EMPTY_HASH = hashlib.sha256(b"").hexdigest()
_AUTH_RE = re.compile(
    r"^SDK-HMAC-SHA256\s+Access=([^,\s]+),\s*SignedHeaders=([^,\s]+),\s*Signature=([0-9a-fA-F]+)\s*$"
)


@dataclass(frozen=True)
class SignedAuthorization:
    access_key: str
    signed_headers: list[str]
    signature: str


def parse_authorization(value: str) -> SignedAuthorization:
    match = _AUTH_RE.match(value.strip())
    if not match:
        raise BadAuthorizationHeader(
            "Authorization must be 'SDK-HMAC-SHA256 Access=..., SignedHeaders=..., Signature=...'"
        )
    headers = match.group(2).split(";")
    return SignedAuthorization(match.group(1), headers, match.group(3).lower())


def _encode(value: str) -> str:
    return quote(value, safe="~")


def canonical_uri(raw_path: str) -> str:
    path = "/".join(_encode(segment) for segment in unquote(raw_path).split("/"))
    return path if path.endswith("/") else path + "/"


def canonical_query(raw_query: str) -> str:
    pairs = sorted(parse_qsl(raw_query, keep_blank_values=True))
    return "&".join(f"{_encode(k)}={_encode(v)}" for k, v in pairs)


def canonical_request(
    method: str,
    raw_path: str,
    raw_query: str,
    headers: dict[str, str],
    signed_headers: list[str],
    body: bytes,
) -> str:
    lines = []
    for name in signed_headers:
        if name not in headers:
            raise SignatureMismatch(f"signed header '{name}' is missing from the request")
        lines.append(f"{name}:{headers[name].strip()}")
    if not body:
        payload_hash = _EMPTY_HASH
    else:
        payload_hash = headers.get("x-sdk-content-sha256") or hashlib.sha256(body).hexdigest()
    return "\n".join(
        [
            method.upper(),
            canonical_uri(raw_path),
            canonical_query(raw_query),
            "\n".join(lines) + "\n",
            ";".join(signed_headers),
            payload_hash,
        ]
    )


def verify(
    *,
    auth: SignedAuthorization,
    secret_key: str,
    method: str,
    raw_path: str,
    raw_query: str,
    headers: dict[str, str],
    body: bytes,
    now: datetime,
    max_skew_seconds: int,
) -> None:
    """Raise SignatureMismatch unless the request is exactly what was signed, recently."""
    if "x-sdk-date" not in auth.signed_headers:
        raise SignatureMismatch("X-Sdk-Date must be a signed header")
    date_value = headers.get("x-sdk-date", "")
    try:
        signed_at = datetime.strptime(date_value, DATE_FORMAT).replace(tzinfo=UTC)
    except ValueError as exc:
        raise SignatureMismatch("X-Sdk-Date must look like 20240101T000000Z") from exc
    if abs((now - signed_at).total_seconds()) > max_skew_seconds:
        raise SignatureMismatch(
            f"X-Sdk-Date is more than {max_skew_seconds // 60} minutes off the server time"
        )
    request = canonical_request(method, raw_path, raw_query, headers, auth.signed_headers, body)
    string_to_sign = "\n".join([ALGORITHM, date_value, hashlib.sha256(request.encode()).hexdigest()])
    expected = hmac.new(secret_key.encode(), string_to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, auth.signature):
        raise SignatureMismatch("the request signature does not match")
