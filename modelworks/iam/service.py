"""Accounts, projects, access keys and tokens; how a request becomes a Principal."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
import string
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from modelworks.db import Database, now_ms
from modelworks.errors import (
    Conflict,
    Forbidden,
    InvalidArgument,
    NotFound,
    TokenExpired,
    TokenInvalid,
    UnknownAccessKey,
    WrongCredentials,
)
from modelworks.iam import secrets as sealed
from modelworks.iam.passwords import hash_password, verify_password
from modelworks.iam.tables import AccessKey, Domain, Membership, Project, Token, User
from modelworks.settings import Settings

log = logging.getLogger(__name__)

ADMIN_DOMAIN = "modelworks"
ADMIN_USER = "admin"
DEFAULT_PROJECT = "default"


@dataclass(frozen=True)
class Principal:
    """Who is calling, and the one project the call is bound to."""

    user_id: str
    user_name: str
    domain_id: str
    domain_name: str
    project_id: str
    project_name: str
    method: str  # "token" or "aksk"


def _random(alphabet: str, length: int) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class _Revocations:
    """Counts committed deletions of access keys and users in this process.

    ``modelworks.iam.cache`` stamps what it caches with the count it read before looking the
    credential up, and ignores entries with an older stamp: a deletion made in this process stops its
    credentials at once; one made by another process (``modelworks admin``, another server) once the
    cache entry is ``CREDENTIAL_CACHE_SECONDS`` old.
    """

    def __init__(self) -> None:
        self._count = 0
        self._lock = threading.Lock()

    @property
    def count(self) -> int:
        return self._count

    def bump(self, _session: Session | None = None) -> None:
        with self._lock:
            self._count += 1

    def on_commit(self, session: Session) -> None:
        """Bump once ``session`` commits (bumping before would let a request re-cache what it deletes)."""
        event.listen(session, "after_commit", self.bump, once=True)


revocations = _Revocations()


# --- administration -------------------------------------------------------------------------


def get_domain(session: Session, name: str) -> Domain:
    domain = session.scalar(select(Domain).where(Domain.name == name))
    if domain is None:
        raise NotFound(f"domain '{name}' does not exist")
    return domain


def create_domain(session: Session, name: str) -> Domain:
    if session.scalar(select(Domain).where(Domain.name == name)):
        raise Conflict(f"domain '{name}' already exists")
    domain = Domain(name=name)
    session.add(domain)
    session.flush()
    return domain


def get_user(session: Session, domain_name: str, name: str) -> User:
    domain = get_domain(session, domain_name)
    user = session.scalar(select(User).where(User.domain_id == domain.id, User.name == name))
    if user is None:
        raise NotFound(f"user '{name}' does not exist in domain '{domain_name}'")
    return user


def create_user(
    session: Session, domain_name: str, name: str, password: str | None = None, *, is_admin: bool = False
) -> tuple[User, str]:
    """Create a user (its domain too, if new); returns the user and its password."""
    domain = session.scalar(select(Domain).where(Domain.name == domain_name)) or create_domain(
        session, domain_name
    )
    if session.scalar(select(User).where(User.domain_id == domain.id, User.name == name)):
        raise Conflict(f"user '{name}' already exists in domain '{domain_name}'")
    password = password or _random(string.ascii_letters + string.digits, 20)
    user = User(domain_id=domain.id, name=name, password_hash=hash_password(password), is_admin=is_admin)
    session.add(user)
    session.flush()
    return user, password


def delete_user(session: Session, domain_name: str, name: str) -> None:
    session.delete(get_user(session, domain_name, name))
    session.flush()
    revocations.on_commit(session)


def create_project(session: Session, domain_name: str, name: str) -> Project:
    domain = get_domain(session, domain_name)
    if session.scalar(select(Project).where(Project.domain_id == domain.id, Project.name == name)):
        raise Conflict(f"project '{name}' already exists in domain '{domain_name}'")
    project = Project(domain_id=domain.id, name=name)
    session.add(project)
    session.flush()
    return project


def add_member(session: Session, user: User, project: Project) -> None:
    if project.domain_id != user.domain_id:
        raise InvalidArgument("a user can only join projects of its own domain", field="project")
    if session.get(Membership, (user.id, project.id)) is None:
        session.add(Membership(user_id=user.id, project_id=project.id))
        session.flush()


def find_project(session: Session, domain_id: str, *, project_id: str = "", name: str = "") -> Project:
    query = select(Project).where(Project.domain_id == domain_id)
    query = query.where(Project.id == project_id) if project_id else query.where(Project.name == name)
    project = session.scalar(query)
    if project is None:
        raise NotFound(f"project '{project_id or name}' does not exist")
    return project


@dataclass(frozen=True)
class IssuedAccessKey:
    """A new access key with its SK in plain text: shown once, stored only sealed."""

    ak: str
    sk: str
    user_id: str
    description: str


def create_access_key(session: Session, user: User, description: str = "") -> IssuedAccessKey:
    """A new AK/SK for ``user``; the SK is stored sealed for the server's secrets key."""
    ak = _random(string.ascii_uppercase + string.digits, 20)
    sk = _random(string.ascii_letters + string.digits, 40)
    key = AccessKey(
        ak=ak, sealed_sk=sealed.seal_secret_key(session, ak, sk), user_id=user.id, description=description
    )
    session.add(key)
    session.flush()
    return IssuedAccessKey(ak, sk, user.id, description)


def delete_access_key(session: Session, ak: str) -> None:
    key = session.get(AccessKey, ak)
    if key is None:
        raise NotFound(f"access key '{ak}' does not exist")
    session.delete(key)
    session.flush()
    revocations.on_commit(session)


def bootstrap(db: Database, settings: Settings) -> Path | None:
    """Start IAM on a migrated database: load the secrets key (``secrets.install``), and on an empty
    database create the admin account and write ``<home>/credentials.json``."""
    sealed.install(db, settings)
    with db.session() as session:
        if session.scalar(select(Domain.id).limit(1)) is not None:
            return None
        user, password = create_user(session, ADMIN_DOMAIN, ADMIN_USER, is_admin=True)
        project = create_project(session, ADMIN_DOMAIN, DEFAULT_PROJECT)
        add_member(session, user, project)
        key = create_access_key(session, user, "created at first start")
        creds = {
            "endpoint": settings.public_endpoint,
            "domain_name": ADMIN_DOMAIN,
            "user_name": ADMIN_USER,
            "password": password,
            "project_id": project.id,
            "project_name": project.name,
            "ak": key.ak,
            "sk": key.sk,
        }
    path = settings.home / "credentials.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(creds, fh, indent=2)
    os.chmod(path, 0o600)
    log.info("created the admin account; its credentials are in %s", path)
    return path


# --- tokens ---------------------------------------------------------------------------------


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _need(obj: Any, key: str, field: str) -> Any:
    if not isinstance(obj, dict) or key not in obj:
        raise InvalidArgument("is required", field=field)
    return obj[key]


def issue_token(session: Session, body: Any, settings: Settings) -> tuple[str, dict[str, Any]]:
    """Password authentication scoped to one project (IAM ``POST /v3/auth/tokens``)."""
    auth = _need(body, "auth", "auth")
    identity = _need(auth, "identity", "auth.identity")
    methods = _need(identity, "methods", "auth.identity.methods")
    if methods != ["password"]:
        raise InvalidArgument("only ['password'] is supported", field="auth.identity.methods")
    user_obj = _need(
        _need(identity, "password", "auth.identity.password"), "user", "auth.identity.password.user"
    )
    name = _need(user_obj, "name", "auth.identity.password.user.name")
    password = _need(user_obj, "password", "auth.identity.password.user.password")
    domain_obj = _need(user_obj, "domain", "auth.identity.password.user.domain")
    domain = None
    if isinstance(domain_obj, dict) and domain_obj.get("name"):
        domain = session.scalar(select(Domain).where(Domain.name == domain_obj["name"]))
    elif isinstance(domain_obj, dict) and domain_obj.get("id"):
        domain = session.get(Domain, domain_obj["id"])
    else:
        raise InvalidArgument("needs 'name' or 'id'", field="auth.identity.password.user.domain")
    user = domain and session.scalar(select(User).where(User.domain_id == domain.id, User.name == name))
    if not domain or not user or not verify_password(str(password), user.password_hash):
        raise WrongCredentials("Incorrect username or password.")
    project_obj = _need(_need(auth, "scope", "auth.scope"), "project", "auth.scope.project")
    if not isinstance(project_obj, dict) or not (project_obj.get("id") or project_obj.get("name")):
        raise InvalidArgument("needs 'name' or 'id'", field="auth.scope.project")
    try:
        project = find_project(
            session, domain.id, project_id=project_obj.get("id", ""), name=project_obj.get("name", "")
        )
    except NotFound as exc:
        raise InvalidArgument(exc.message, field="auth.scope.project") from exc
    if session.get(Membership, (user.id, project.id)) is None:
        raise Forbidden(f"user '{name}' is not a member of project '{project.name}'")
    token = "MIIT" + secrets.token_urlsafe(96)
    issued = now_ms()
    expires = issued + settings.token_ttl_seconds * 1000
    session.add(
        Token(token_hash=token_hash(token), user_id=user.id, project_id=project.id, expires_at=expires)
    )
    session.flush()
    dom = {"id": domain.id, "name": domain.name}
    return token, {
        "token": {
            "methods": ["password"],
            "issued_at": _iso(issued),
            "expires_at": _iso(expires),
            "user": {"id": user.id, "name": user.name, "domain": dom, "password_expires_at": ""},
            "project": {"id": project.id, "name": project.name, "domain": dom},
            "roles": [{"id": "0", "name": "te_admin" if user.is_admin else "te_agency"}],
            "catalog": [],
        }
    }


def _principal(session: Session, user: User, project: Project, method: str) -> Principal:
    domain = session.get(Domain, user.domain_id)
    assert domain is not None
    return Principal(user.id, user.name, domain.id, domain.name, project.id, project.name, method)


def token_principal(session: Session, token: str) -> tuple[Principal, int]:
    """The caller a token stands for, and when the token expires (epoch ms)."""
    row = session.get(Token, token_hash(token))
    if row is None:
        raise TokenInvalid("The token is invalid.")
    if row.expires_at <= now_ms():
        raise TokenExpired("The token has expired.")
    user = session.get(User, row.user_id)
    project = session.get(Project, row.project_id)
    if user is None or project is None or session.get(Membership, (user.id, project.id)) is None:
        raise TokenInvalid("The token is invalid.")
    return _principal(session, user, project, "token"), row.expires_at


def signing_key(session: Session, access_key: str) -> AccessKey:
    key = session.get(AccessKey, access_key)
    if key is None:
        raise UnknownAccessKey("User credential (AK and SK) does not exist.")
    return key


def signed_project(headers: dict[str, str], path_project_id: str) -> str:
    """The project a signed request is bound to: ``X-Project-Id``, which must match the path's."""
    project_id = headers.get("x-project-id") or path_project_id
    if path_project_id and project_id != path_project_id:
        raise Forbidden("X-Project-Id and the path's project_id differ")
    return project_id


def key_principal(session: Session, key: AccessKey, project_id: str) -> Principal:
    """The owner of ``key`` bound to ``project_id``, which the owner must be a member of."""
    user = session.get(User, key.user_id)
    assert user is not None  # access keys are deleted with their user
    project = session.get(Project, project_id) if project_id else None
    if project is None or session.get(Membership, (user.id, project.id)) is None:
        raise Forbidden(f"project '{project_id}' is not accessible with this access key")
    return _principal(session, user, project, "aksk")


def server_secret(session: Session, name: str = "content-url") -> str:
    """The named server secret, derived from the secrets key of ``session``'s database (never stored)."""
    return sealed.box_of(session).derive(name)
