"""Errors of training jobs and algorithms."""

from __future__ import annotations

from modelworks.errors.base import Conflict, InvalidArgument, InvalidPath, NotFound, PreconditionFailed


class DuplicateTrainingJobName(Conflict):
    """A training job of this name already exists (400, as the reference answers)."""

    http_status = 400
    error_code = "ModelArts.2751"


class ChannelsMismatch(InvalidArgument):
    """A job's inputs or outputs do not match its algorithm's channels."""

    error_code = "ModelArts.2753"


class AlgorithmNotFound(NotFound):
    """The algorithm does not exist."""

    error_code = "ModelArts.2755"


class CodeDirError(InvalidArgument):
    """The code directory is missing or not a directory."""

    error_code = "ModelArts.2757"


class BootFileError(InvalidArgument):
    """The boot file is missing or outside the code directory."""

    error_code = "ModelArts.2758"


class TooManyCodeFiles(InvalidArgument):
    """The code directory holds more files than allowed."""

    error_code = "ModelArts.2759"


class CodeTooLarge(InvalidArgument):
    """The code directory is larger than allowed."""

    error_code = "ModelArts.2761"


class ValueNotInPreset(InvalidArgument):
    """A parameter's value is not one of its preset values."""

    error_code = "ModelArts.2765"


class ParameterKeyRepeat(InvalidArgument):
    """A parameter name is given twice."""

    error_code = "ModelArts.2767"


class DefaultValueTypeError(InvalidArgument):
    """A parameter's value does not match its type."""

    error_code = "ModelArts.2768"


class DefaultValueNotInRange(InvalidArgument):
    """A parameter's value is outside its range."""

    error_code = "ModelArts.2769"


class ParameterRangeError(InvalidArgument):
    """A parameter's range is malformed."""

    error_code = "ModelArts.2770"


class NotEditable(InvalidArgument):
    """The field may not be changed (the reference's "NotHavePermission")."""

    error_code = "ModelArts.2771"


class TrainingJobNotFound(NotFound):
    """The training job does not exist."""

    error_code = "ModelArts.2775"


class EngineNotFound(InvalidArgument):
    """The AI engine named in the request does not exist."""

    error_code = "ModelArts.2780"


class FlavorNotFound(InvalidArgument):
    """The resource flavor named in the request does not exist."""

    error_code = "ModelArts.2781"


class UnsupportedSortBy(InvalidArgument):
    """The sort key is not supported."""

    error_code = "ModelArts.2790"


class InvalidJobObsPath(InvalidPath):
    """An OBS path of a training job or algorithm is invalid (the reference's "InvalidObsPath")."""

    error_code = "ModelArts.2791"


class UnsupportedConditionKey(InvalidArgument):
    """A search condition's key is not supported."""

    error_code = "ModelArts.2807"


class UnsupportedConditionOperator(InvalidArgument):
    """A search condition's operator is not supported."""

    error_code = "ModelArts.2808"


class UnsupportedConditionValue(InvalidArgument):
    """A search condition's value is not supported."""

    error_code = "ModelArts.2809"


class UnsupportedAction(InvalidArgument):
    """The action type is not supported."""

    error_code = "ModelArts.2812"


class LogNotGenerated(NotFound):
    """The job's log file has not been written yet."""

    error_code = "ModelArts.2818"


class DuplicateAlgorithmName(Conflict):
    """An algorithm of this name already exists (400, as the reference answers)."""

    http_status = 400
    error_code = "ModelArts.2821"


class UnsupportedOperation(PreconditionFailed):
    """The operation is not supported on this resource (in its current state)."""

    error_code = "ModelArts.2858"
