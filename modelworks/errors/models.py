"""Errors of models (AI applications)."""

from __future__ import annotations

from modelworks.errors.base import Conflict, InvalidArgument, NotFound, PreconditionFailed


class ModelNotFound(NotFound):
    """The model does not exist."""

    error_code = "ModelArts.3001"


class ModelExists(Conflict):
    """A model of this name and version already exists."""

    error_code = "ModelArts.3002"


class ModelInUse(PreconditionFailed):
    """The model is deployed as a service and cannot be deleted."""

    error_code = "ModelArts.3009"


class ConfigNotConforming(InvalidArgument):
    """The model's configuration file is not a conforming JSON object."""

    error_code = "ModelArts.3015"


class ConfigFieldInvalid(InvalidArgument):
    """A field of the model's configuration has an unsupported type or format."""

    error_code = "ModelArts.3016"


class SourceLocationInvalid(InvalidArgument):
    """The model's source location does not meet the specification."""

    error_code = "ModelArts.3017"


class ParameterRequired(InvalidArgument):
    """A required model parameter is missing."""

    error_code = "ModelArts.3036"


class RestraintInvalid(InvalidArgument):
    """A dependency's version restraint is not EXACT, ATLEAST or ATMOST (or lacks a version)."""

    error_code = "ModelArts.3041"


class ModelPackageTooLarge(InvalidArgument):
    """A model file is larger than 20 GB."""

    error_code = "ModelArts.3044"


class ModelTypeUnsupported(InvalidArgument):
    """The model type is not supported."""

    error_code = "ModelArts.3053"
