"""Request dependencies: the database session, the object store, and the authenticated Principal."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from modelworks.api.routing import parse_json
from modelworks.db import Database
from modelworks.errors import AuthError, Forbidden, InvalidJson
from modelworks.iam.cache import CredentialCache, SessionSource
from modelworks.iam.service import Principal
from modelworks.settings import Settings
from modelworks.storage import ObjectStore
from modelworks.storage.ownership import BucketOwnership


# The plain getters are ``async`` so that FastAPI calls them on the event loop: a sync dependency
# costs a hop to the thread pool and back.
async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_server_store(request: Request) -> ObjectStore:
    """The server's own store, unlimited: only for what the server itself keeps (never a user's path)."""
    store: ObjectStore = request.app.state.store
    return store


def credential_cache(request: Request) -> CredentialCache:
    """The app's ``CredentialCache`` (made on first use)."""
    state = request.app.state
    cache: CredentialCache | None = getattr(state, "credential_cache", None)
    if cache is None:
        cache = state.credential_cache = CredentialCache()
    return cache


def get_session(request: Request) -> Iterator[Session]:
    db: Database = request.app.state.db
    with db.session(readonly=request.method in ("GET", "HEAD")) as session:
        yield session


SettingsDep = Annotated[Settings, Depends(get_settings)]
ServerStoreDep = Annotated[ObjectStore, Depends(get_server_store)]
# scope="function": commit before the response is sent, so a client that got its answer reads its
# own writes on its next request (the default "request" scope commits after the response).
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def _headers(request: Request) -> dict[str, str]:
    # Starlette decodes header bytes as latin-1; the SDK signs the UTF-8 text.
    out = {}
    for key, value in request.headers.items():
        try:
            out[key.lower()] = value.encode("latin-1").decode("utf-8")
        except UnicodeError:
            out[key.lower()] = value
    return out


def _source(session: Session) -> SessionSource:
    def given() -> AbstractContextManager[Session]:
        return nullcontext(session)

    return given


class _NeedsDatabase(Exception):
    """Raised by ``_on_loop`` when the cache must ask the database: redo the lookup in a thread."""


def _on_loop() -> AbstractContextManager[Session]:
    raise _NeedsDatabase


def read_sessions(request: Request) -> SessionSource:
    """Opens a read-only session of the app's database (no SQLite write lock)."""
    db: Database = request.app.state.db
    return lambda: db.session(readonly=True)


async def authenticate(
    request: Request, session: Session | SessionSource, settings: Settings, project_id: str
) -> Principal:
    """Verify the X-Auth-Token or the AK/SK signature and bind the caller to ``project_id``.

    ``session`` is the request's session, or what opens one: the credentials are looked up through
    the app's ``CredentialCache``, which needs the database only for credentials it has not seen in
    the last seconds. A cached credential is checked here, on the event loop (a dictionary lookup and
    an HMAC); a lookup that needs the database runs in the thread pool, so that a slow or locked
    database never stalls the loop (and with it every other request, ``/health`` included).
    """
    sessions = _source(session) if isinstance(session, Session) else session
    cache = credential_cache(request)
    token = request.headers.get("x-auth-token")
    authorization = request.headers.get("authorization")
    lookup: Callable[[SessionSource], Principal]
    if token:

        def lookup(source: SessionSource) -> Principal:
            return cache.principal_from_token(source, token)

    elif authorization:
        raw_path = request.scope.get("raw_path", request.url.path.encode()).decode("latin-1")
        raw_query = request.scope.get("query_string", b"").decode("latin-1")
        headers = _headers(request)
        body = await request.body()

        def lookup(source: SessionSource) -> Principal:
            return cache.principal_from_signature(
                source,
                authorization=authorization,
                method=request.method,
                raw_path=raw_path,
                raw_query=raw_query,
                headers=headers,
                body=body,
                path_project_id=project_id,
                settings=settings,
            )

    else:
        raise AuthError("No X-Auth-Token or Authorization header in the request.")
    try:
        principal = lookup(_on_loop)
    except _NeedsDatabase:
        principal = await _look_up_once(request, token or authorization or "", lookup, sessions)
    if project_id and principal.project_id != project_id:
        raise Forbidden(f"The caller is not authorized for project '{project_id}'.")
    return principal


async def _look_up_once(
    request: Request,
    credential: str,
    lookup: Callable[[SessionSource], Principal],
    sessions: SessionSource,
) -> Principal:
    """Run a database lookup in the thread pool, one at a time per credential.

    When a credential's cache entry lapses (or at start), every request carrying it misses at once;
    the first looks it up, the others wait for it and then find it in the cache.
    """
    # The access key (not the whole header: it holds the signature, new on every request).
    key = credential.split("Access=", 1)[1].split(",", 1)[0] if "Access=" in credential else credential
    state = request.app.state
    locks: dict[str, asyncio.Lock] | None = getattr(state, "credential_locks", None)
    if locks is None:
        locks = state.credential_locks = {}
    lock = locks.setdefault(key, asyncio.Lock())
    try:
        async with lock:
            try:
                return lookup(_on_loop)
            except _NeedsDatabase:
                return await run_in_threadpool(lookup, sessions)
    finally:
        if not lock.locked() and locks.get(key) is lock:
            del locks[key]


async def get_principal(request: Request, settings: SettingsDep) -> Principal:
    # Credentials are looked up in a read-only session of their own, not the request's: on SQLite a
    # write request's session takes the write lock at its first statement, and authentication must
    # not hold it (nor wait for it).
    return await authenticate(
        request, read_sessions(request), settings, request.path_params.get("project_id", "")
    )


PrincipalDep = Annotated[Principal, Depends(get_principal)]


async def get_store(request: Request, principal: PrincipalDep, session: SessionDep) -> ObjectStore:
    """The object store as the caller's project may use it (``storage/scoped.py``): its own buckets and
    those shared with it, never the system bucket. A bucket it claims is recorded in the request's own
    session (committed with it)."""
    stores: BucketOwnership = request.app.state.buckets
    return stores.scoped(principal.project_id, session)


StoreDep = Annotated[ObjectStore, Depends(get_store)]


async def get_json_body(request: Request, principal: PrincipalDep) -> dict[str, Any]:
    """The JSON object body, parsed only after the caller is authenticated."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = parse_json(raw)
    except ValueError as exc:  # json.JSONDecodeError, orjson's included
        raise InvalidJson("Incorrect JSON format of the input data.") from exc
    if not isinstance(body, dict):
        raise InvalidJson("The request body must be a JSON object.")
    return body


JsonBody = Annotated[dict[str, Any], Depends(get_json_body)]
