"""Verification of ``SDK-HMAC-SHA256`` request signatures as ``huaweicloudsdkcore`` makes them.

The canonical request mirrors ``huaweicloudsdkcore.signer.signer.Signer``:
method, the path with every segment URL-encoded (``~`` safe) and a trailing ``/``, the sorted and
re-encoded query, the signed headers as ``name:value`` lines, the signed header names, and the
payload hash.

The payload hash is always computed here from the body the server received: the SHA-256 of the body,
that of ``b""`` for an empty one. The SDK's signer puts ``X-Sdk-Content-Sha256: UNSIGNED-PAYLOAD`` on
every request whose ``Content-Type`` is neither ``application/json`` nor ``application/bson``
(``Signer._process_content_header``), signs that header like every other, and then uses the header's
value instead of the body's hash for a non-empty body (``Signer._process_hash_payload``). Of those
requests the official clients send, only ``multipart/form-data`` uploads reach Modelworks (files sent to
``/v1/infers/...``; the ModelArts client itself sends JSON only). So ``UNSIGNED-PAYLOAD`` is honoured
only as that literal, only when ``x-sdk-content-sha256`` and ``content-type`` are both signed headers,
and only with a signed ``multipart/form-data`` content type; such a request's body is, as the client
chose, not covered by the signature. Any other value of the header is ignored: a client-supplied hash
of some other body never stands in for the body's own (issue 11, finding 5).
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
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
_CONTENT_HASH_HEADER = "x-sdk-content-sha256"
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


def _body_hash(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest() if body else _EMPTY_HASH


def unsigned_payload(headers: dict[str, str], signed_headers: list[str]) -> bool:
    """Whether the signer left the body out of the signature the one way the SDK does and we allow:
    a signed ``X-Sdk-Content-Sha256: UNSIGNED-PAYLOAD`` on a signed ``multipart/form-data`` request."""
    return (
        _CONTENT_HASH_HEADER in signed_headers
        and "content-type" in signed_headers
        and headers.get(_CONTENT_HASH_HEADER, "").strip() == UNSIGNED_PAYLOAD
        and headers.get("content-type", "").strip().lower().startswith("multipart/form-data")
    )


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
    # An empty body hashes as empty even under UNSIGNED-PAYLOAD, as in the SDK's signer.
    unsigned = bool(body) and unsigned_payload(headers, signed_headers)
    payload_hash = UNSIGNED_PAYLOAD if unsigned else _body_hash(body)
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
        if _CONTENT_HASH_HEADER in headers and not unsigned_payload(headers, auth.signed_headers):
            raise SignatureMismatch(
                "the request signature does not match (the body's hash is computed from the body; "
                "X-Sdk-Content-Sha256 counts only as a signed UNSIGNED-PAYLOAD on multipart/form-data)"
            )
        raise SignatureMismatch("the request signature does not match")
