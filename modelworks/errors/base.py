"""The root error and the generic kinds every area raises (400, 403, 404, 409, 413, 501)."""

from __future__ import annotations


class ModelworksError(Exception):
    """Root of every error the API answers with a body."""

    http_status = 500
    error_code = "ModelArts.0001"

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        error_code: str | None = None,
        http_status: int | None = None,
    ):
        if field and field not in message:
            message = f"{field}: {message}"
        super().__init__(message)
        self.message = message
        self.field = field
        if error_code is not None:
            self.error_code = error_code
        if http_status is not None:
            self.http_status = http_status


class InvalidArgument(ModelworksError):
    """A request field has a wrong type or value; the message names the field."""

    http_status = 400
    error_code = "ModelArts.0101"


class InvalidJson(InvalidArgument):
    """The request body is not valid JSON."""

    error_code = "ModelArts.4105"


class InvalidPath(InvalidArgument):
    """An OBS path is malformed or escapes its bucket."""

    error_code = "ModelArts.4313"


class ParameterError(InvalidArgument):
    """A request the framework could not take apart (e.g. a malformed form body): the generic 0104."""

    error_code = "ModelArts.0104"


class PreconditionFailed(ParameterError):
    """The resource's current state forbids the operation (e.g. a running import)."""


class Forbidden(ModelworksError):
    """The caller may not touch this project."""

    http_status = 403
    error_code = "ModelArts.0210"


class NotFound(ModelworksError):
    """The addressed resource does not exist (in the caller's project)."""

    http_status = 404
    error_code = "ModelArts.4338"


class InvalidRequestUrl(NotFound):
    """No operation answers this URL (or not with this method: raised with ``http_status=405``)."""

    error_code = "ModelArts.4201"


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
