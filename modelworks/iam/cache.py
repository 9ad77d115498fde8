"""Who recently seen tokens and access keys stand for, kept for a few seconds.

Authenticating a request from the database takes four or five lookups (key or token, user, project,
membership, domain): about 1 ms, and on the inference gateway it was most of the platform's cost per
call. ``CredentialCache`` keeps their outcome, a ``Principal``, for ``CREDENTIAL_CACHE_SECONDS``.
What it does not keep is the check of each request: an AK/SK signature is verified on every request
(against the cached SK, with the ``X-Sdk-Date`` window), a token's expiry is compared on every use,
and the project a request names is part of the cache key. Only successful lookups are kept, so a new
key, token or membership works at once.

A deleted access key or user stops working at once in the process that deleted it (the deletion
bumps ``service.revocations`` when it commits), and in every other process within
``CREDENTIAL_CACHE_SECONDS``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from modelworks.db import now_ms
from modelworks.errors import TokenExpired
from modelworks.iam import secrets as sealed
from modelworks.iam import service, signature
from modelworks.iam.service import Principal
from modelworks.settings import Settings

CREDENTIAL_CACHE_SECONDS = 2.0
"""How long another process's deletion of a key or user may go unnoticed."""
MAX_ENTRIES = 10_000

SessionSource = Callable[[], AbstractContextManager[Session]]
"""Opens a session for a lookup the cache cannot answer (called only then)."""


@dataclass(frozen=True)
class _Entry:
    principal: Principal
    secret_key: str
    """The access key's SK, opened from its sealed value ("" for a token); held in memory only."""
    expires_at: int
    """The token's expiry, epoch ms (0 for an access key)."""
    revocations: int
    loaded: float


class CredentialCache:
    """One per app; safe to use from the event loop and from worker threads at once."""

    def __init__(self, ttl_seconds: float = CREDENTIAL_CACHE_SECONDS, max_entries: int = MAX_ENTRIES):
        self.ttl_seconds = ttl_seconds
        self.max_entries = max_entries
        self._entries: dict[tuple[str, ...], _Entry] = {}
        self._lock = threading.Lock()

    def principal_from_token(self, sessions: SessionSource, token: str) -> Principal:
        """Who a token stands for (``service.token_principal``), from the cache when it can."""
        key = ("token", service.token_hash(token))
        entry = self._get(key)
        if entry is None:
            stamp = service.revocations.count  # read before the lookup: see _Revocations
            with sessions() as session:
                principal, expires_at = service.token_principal(session, token)
            entry = self._put(key, _Entry(principal, "", expires_at, stamp, time.monotonic()))
        elif entry.expires_at <= now_ms():
            raise TokenExpired("The token has expired.")
        return entry.principal

    def principal_from_signature(
        self,
        sessions: SessionSource,
        *,
        authorization: str,
        method: str,
        raw_path: str,
        raw_query: str,
        headers: dict[str, str],
        body: bytes,
        path_project_id: str,
        settings: Settings,
    ) -> Principal:
        """Who signed the request, from the cache when it can: unknown key, bad signature (checked on
        every request, cached or not), project not accessible, in that order."""
        auth = signature.parse_authorization(authorization)
        project_id = headers.get("x-project-id") or path_project_id
        key = ("aksk", auth.access_key, project_id)

        def verify(secret_key: str) -> None:
            signature.verify(
                auth=auth,
                secret_key=secret_key,
                method=method,
                raw_path=raw_path,
                raw_query=raw_query,
                headers=headers,
                body=body,
                now=datetime.now(tz=UTC),
                max_skew_seconds=settings.signature_max_skew_seconds,
            )

        entry = self._get(key)
        if entry is not None:
            verify(entry.secret_key)
            service.signed_project(headers, path_project_id)
            return entry.principal
        stamp = service.revocations.count
        with sessions() as session:
            access_key = service.signing_key(session, auth.access_key)
            secret_key = sealed.open_secret_key(sealed.box_of(session), access_key)
            verify(secret_key)
            principal = service.key_principal(
                session, access_key, service.signed_project(headers, path_project_id)
            )
        self._put(key, _Entry(principal, secret_key, 0, stamp, time.monotonic()))
        return principal

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def _get(self, key: tuple[str, ...]) -> _Entry | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if (
            time.monotonic() - entry.loaded >= self.ttl_seconds
            or entry.revocations != service.revocations.count
        ):
            with self._lock:
                if self._entries.get(key) is entry:
                    del self._entries[key]
            return None
        return entry

    def _put(self, key: tuple[str, ...], entry: _Entry) -> _Entry:
        with self._lock:
            if len(self._entries) >= self.max_entries:
                self._evict()
            self._entries[key] = entry
        return entry

    def _evict(self) -> None:
        """Drop the stale entries, and the oldest half if that is not enough (under the lock)."""
        now, count = time.monotonic(), service.revocations.count
        self._entries = {
            k: e
            for k, e in self._entries.items()
            if now - e.loaded < self.ttl_seconds and e.revocations == count
        }
        if len(self._entries) >= self.max_entries:
            keep = list(self._entries.items())[len(self._entries) // 2 :]
            self._entries = dict(keep)
