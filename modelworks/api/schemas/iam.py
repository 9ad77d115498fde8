"""IAM token issuing, ``POST /v3/auth/tokens``, as Huawei Cloud IAM documents it ("Obtaining a User
Token Through Password Authentication", a Keystone v3 body): not an operation of the ModelArts
reference, but the one every ModelArts client calls first. Names follow the IAM SDK's classes
(``PwdAuth``, ``PwdIdentity``, ``AuthScope`` ...).

Only password authentication scoped to a project is supported: ``methods`` must be ``["password"]``
and ``scope.project`` must name a project (``id`` or ``name``); a domain scope is refused. The token
is in the ``X-Subject-Token`` header. ``catalog`` is empty (one endpoint: this server).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from modelworks.api.schemas.common import RequestModel, ResponseModel


class PwdPasswordUserDomain(RequestModel):
    name: str | None = Field(None, description="Account (domain) name; or give id")
    id: str | None = None


class PwdPasswordUser(RequestModel):
    name: str = Field(description="IAM user name")
    password: str = Field(description="The user's password")
    domain: PwdPasswordUserDomain


class PwdPassword(RequestModel):
    user: PwdPasswordUser


class PwdIdentity(RequestModel):
    methods: list[Literal["password"]] = Field(description='Only ["password"]')
    password: PwdPassword


class AuthScopeProject(RequestModel):
    id: str | None = Field(None, description="Project id; or give name")
    name: str | None = None


class AuthScope(RequestModel):
    project: AuthScopeProject | None = Field(None, description="Required: tokens are project-scoped")


class PwdAuth(RequestModel):
    identity: PwdIdentity
    scope: AuthScope | None = Field(None, description="Required: the project the token is for")


class KeystoneCreateUserTokenByPasswordReq(RequestModel):
    auth: PwdAuth


class TokenDomain(ResponseModel):
    id: str
    name: str


class TokenUser(ResponseModel):
    id: str
    name: str
    domain: TokenDomain
    password_expires_at: str | None = None


class TokenProject(ResponseModel):
    id: str
    name: str
    domain: TokenDomain | None = None


class TokenRole(ResponseModel):
    id: str
    name: str


class TokenResult(ResponseModel):
    methods: list[str]
    issued_at: str = Field(description="ISO 8601, UTC, e.g. 2026-01-01T00:00:00.000000Z")
    expires_at: str
    user: TokenUser
    project: TokenProject
    roles: list[TokenRole]
    catalog: list[dict[str, object]]


class KeystoneCreateUserTokenByPasswordResp(ResponseModel):
    token: TokenResult
