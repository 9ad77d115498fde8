"""Errors of real-time services and inference."""

from __future__ import annotations

from modelworks.errors.base import Conflict, InvalidArgument, ModelworksError, NotFound, PreconditionFailed


class ServiceNotFound(NotFound):
    """The service does not exist."""

    error_code = "ModelArts.3502"


class ServiceExists(Conflict):
    """A service of this name already exists."""

    error_code = "ModelArts.3503"


class ServiceModelNotFound(InvalidArgument):
    """A model named in a service's configuration does not exist."""

    error_code = "ModelArts.3506"


class ModelNotReady(InvalidArgument):
    """The model is not published yet and cannot be deployed."""

    error_code = "ModelArts.3515"


class DuplicateModelVersion(InvalidArgument):
    """A service's configuration names the same model version twice."""

    error_code = "ModelArts.3516"


class ServiceNotUpdatable(PreconditionFailed):
    """The service's state forbids the change."""

    error_code = "ModelArts.3519"


class ModelNotInService(InvalidArgument):
    """The model is not one of the service's."""

    error_code = "ModelArts.3529"


class ParameterEmpty(InvalidArgument):
    """A required service parameter is empty."""

    error_code = "ModelArts.3610"


class SpecNotFound(InvalidArgument):
    """The resource specification code does not exist."""

    error_code = "ModelArts.3835"


class ApiNotFound(NotFound):
    """The service's models declare no such API."""

    error_code = "ModelArts.4204"


class BackendUnavailable(ModelworksError):
    """No running instance of the service could answer (504 when it timed out)."""

    error_code = "ModelArts.4503"


class GatewayForwardingError(ModelworksError):
    """A model server answered an error that is not JSON; the gateway wraps it, keeping its status."""

    error_code = "ModelArts.4302"
