"""Domain errors, each mapped to an HTTP status and a ModelArts error code.

    ModelworksError (500, ModelArts.0001)
    ├── InvalidArgument (400, ModelArts.0101)   a request field is wrong; names the field
    │   ├── InvalidJson (400, ModelArts.4105)
    │   ├── InvalidPath (400, ModelArts.4313)   an OBS path is malformed or escapes its bucket
    │   └── PreconditionFailed (400, ...)       the resource is in a state that forbids this
    ├── AuthError (401, ModelArts.0201)
    │   ├── TokenInvalid (401, ModelArts.0203)
    │   ├── TokenExpired (401, ModelArts.0202)
    │   ├── UnknownAccessKey (401, ModelArts.3801)
    │   ├── BadAuthorizationHeader (401, ModelArts.0206)
    │   └── SignatureMismatch (401, ModelArts.0208)
    ├── WrongCredentials (400, ModelArts.4122)  IAM password login failed
    ├── Forbidden (403, ModelArts.0210)         another project's path
    │   └── StorageForbidden (403, ModelArts.0210)  a bucket the caller's project does not own or share
    ├── NotFound (404, ...)                     an id that does not exist in the caller's project
    ├── Conflict (409, ...)                     a name already taken, a concurrent modification
    ├── PayloadTooLarge (413, ModelArts.0104)
    └── NotImplementedYet (501, ModelArts.0101) an operation Modelworks does not implement yet

Services raise these; one handler in ``api/errors.py`` turns them into
``{"error_code": ..., "error_msg": ...}``.
"""

from __future__ import annotations


class ModelworksError(Exception):
    """Root of every error the API answers with a body."""

    http_status = 500
    error_code = "ModelArts.0001"

    def __init__(self, message: str, *, error_code: str | None = None, http_status: int | None = None):
        super().__init__(message)
        self.message = message
        if error_code is not None:
            self.error_code = error_code
        if http_status is not None:
            self.http_status = http_status


class InvalidArgument(ModelworksError):
    """A request field has a wrong type or value; the message names the field."""

    http_status = 400
    error_code = "ModelArts.0101"

    def __init__(self, message: str, *, field: str | None = None, error_code: str | None = None):
        if field and field not in message:
            message = f"{field}: {message}"
        super().__init__(message, error_code=error_code)
        self.field = field


class InvalidJson(InvalidArgument):
    """The request body is not valid JSON."""

    error_code = "ModelArts.4105"


class InvalidPath(InvalidArgument):
    """An OBS path is malformed or escapes its bucket."""

    error_code = "ModelArts.4313"


class PreconditionFailed(InvalidArgument):
    """The resource's current state forbids the operation (e.g. a running import)."""

    error_code = "ModelArts.0104"


class AuthError(ModelworksError):
    """No usable credentials were presented."""

    http_status = 401
    error_code = "ModelArts.0201"


class TokenInvalid(AuthError):
    """The X-Auth-Token is unknown, malformed, or its user or key was deleted."""

    error_code = "ModelArts.0203"


class TokenExpired(AuthError):
    """The X-Auth-Token has passed its expiry."""

    error_code = "ModelArts.0202"


class UnknownAccessKey(AuthError):
    """The AK in the Authorization header does not exist."""

    error_code = "ModelArts.3801"


class BadAuthorizationHeader(AuthError):
    """The Authorization header is not an SDK-HMAC-SHA256 header."""

    error_code = "ModelArts.0206"


class SignatureMismatch(AuthError):
    """The request does not match its signature, or X-Sdk-Date is too far off."""

    error_code = "ModelArts.0208"


class WrongCredentials(ModelworksError):
    """Password authentication failed."""

    http_status = 401
    error_code = "ModelArts.4122"


class Forbidden(ModelworksError):
    """The caller may not touch this project."""

    http_status = 403
    error_code = "ModelArts.0210"


class StorageForbidden(Forbidden):
    """A storage path in a bucket the caller's project neither owns nor has been shared (or the system
    bucket); the message names the request field when there is one."""

    def __init__(self, message: str, *, field: str | None = None):
        if field and not message.startswith(f"{field}: "):
            message = f"{field}: {message}"
        super().__init__(message)
        self.field = field


class NotFound(ModelworksError):
    """The addressed resource does not exist (in the caller's project)."""

    http_status = 404
    error_code = "ModelArts.4338"


class Conflict(ModelworksError):
    """A name is taken, or the resource changed since the caller read it."""

    http_status = 409
    error_code = "ModelArts.0104"


class PayloadTooLarge(ModelworksError):
    """The request body is larger than the server accepts."""

    http_status = 413
    error_code = "ModelArts.0104"


class NotImplementedYet(ModelworksError):
    """The operation exists in ModelArts but Modelworks does not implement it yet."""

    http_status = 501
    error_code = "ModelArts.0101"
