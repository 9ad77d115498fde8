"""Errors of authentication and projects (IAM)."""

from __future__ import annotations

from modelworks.errors.base import ModelworksError, NotFound


class AuthError(ModelworksError):
    """No usable credentials were presented."""

    http_status = 401
    error_code = "ModelArts.0201"


class TokenExpired(AuthError):
    """The X-Auth-Token has passed its expiry."""

    error_code = "ModelArts.0202"


class TokenInvalid(AuthError):
    """The X-Auth-Token is unknown, malformed, or its user or key was deleted."""

    error_code = "ModelArts.0203"


class BadAuthorizationHeader(AuthError):
    """The Authorization header is not an SDK-HMAC-SHA256 header."""

    error_code = "ModelArts.0206"


class SignatureMismatch(AuthError):
    """The request does not match its signature, X-Sdk-Date is too far off, or a signed URL expired."""

    error_code = "ModelArts.0208"


class UnknownAccessKey(AuthError):
    """The AK in the Authorization header does not exist."""

    error_code = "ModelArts.3801"


class WrongCredentials(ModelworksError):
    """Password authentication failed.

    401, not the 400 of the reference's table: IAM's ``POST /v3/auth/tokens`` answers a wrong password
    with 401, which is what clients (and ``tests/api/test_auth.py``) expect."""

    http_status = 401
    error_code = "ModelArts.4122"


class ProjectNotFound(NotFound):
    """The project does not exist."""

    error_code = "ModelArts.4338"
