"""Errors of datasets, samples, labels, their tasks and the intelligent tasks."""

from __future__ import annotations

from modelworks.errors.base import Conflict, InvalidArgument, ModelworksError, NotFound, PreconditionFailed


class DatasetExists(Conflict):
    """A dataset of this name already exists."""

    error_code = "ModelArts.4351"


class DatasetNotFound(NotFound):
    """The dataset does not exist."""

    error_code = "ModelArts.4352"


class DatasetVersionNotFound(NotFound):
    """The dataset version does not exist."""

    error_code = "ModelArts.4353"


class SyncTaskRunning(PreconditionFailed):
    """A data source synchronisation is already running on the dataset."""

    error_code = "ModelArts.4355"


class ImportTaskRunning(PreconditionFailed):
    """An import is already running on the dataset."""

    error_code = "ModelArts.4356"


class InvalidExportPath(InvalidArgument):
    """The export destination is missing or not usable."""

    error_code = "ModelArts.4358"


class ExportTaskNotFound(NotFound):
    """The export task does not exist."""

    error_code = "ModelArts.4359"


class DatasetVersionExists(Conflict):
    """A version of this name already exists in the dataset."""

    error_code = "ModelArts.4371"


class UnsupportedDatasetOperation(InvalidArgument):
    """The dataset's type does not support the operation (the reference answers 501; this is the
    caller's choice of dataset, so 400)."""

    error_code = "ModelArts.4383"


class InvalidTaskParameter(InvalidArgument):
    """A dataset task's parameter is missing or invalid (the reference's "Invalid export parameter",
    which it uses for every dataset task)."""

    error_code = "ModelArts.4384"


class TaskFailed(ModelworksError):
    """A dataset task failed (a task's outcome, e.g. its worker died, shown in the task's view)."""

    error_code = "ModelArts.4392"


class TaskStopped(ModelworksError):
    """A dataset task was stopped (a task's outcome, shown in the task's view)."""

    error_code = "ModelArts.4393"


class NotEnoughLabels(InvalidArgument):
    """Too few labels, or too few labeled samples per label, to learn from."""

    error_code = "ModelArts.4405"


class NotEnoughLabeledSamples(InvalidArgument):
    """An auto-labeling task needs at least five labeled samples per label."""

    error_code = "ModelArts.4406"


class LabelNotFound(NotFound):
    """The label does not exist in the dataset."""

    error_code = "ModelArts.4410"


class LabelExists(Conflict):
    """A label of this name already exists in the dataset."""

    error_code = "ModelArts.4411"


class LabelShortcutExists(Conflict):
    """Another label of the dataset already uses this shortcut."""

    error_code = "ModelArts.4412"


class SampleLabelsUpdateFailed(Conflict):
    """The sample's labels could not be updated (they changed meanwhile, or do not fit)."""

    error_code = "ModelArts.4417"


class SampleNotFound(NotFound):
    """The sample does not exist in the dataset."""

    error_code = "ModelArts.4420"


class SampleUploadFailed(InvalidArgument):
    """An uploaded sample's type or data is not usable."""

    error_code = "ModelArts.4421"


class SampleExists(InvalidArgument):
    """The sample being imported is already in the dataset."""

    error_code = "ModelArts.4422"


class TaskNotFound(NotFound):
    """The (import) task does not exist."""

    error_code = "ModelArts.4612"


# Intelligent tasks (codes of seeds 000/001, not in the error table)


class DeployStepFailed(ModelworksError):
    """A step of a pre-label or auto-deploy task (training, model, service) did not succeed."""

    error_code = "ModelArts.4995"


class TaskAlreadyRunning(Conflict):
    """An intelligent task of the same kind is already running on the dataset."""

    error_code = "ModelArts.4997"


class TaskTimedOut(ModelworksError):
    """The task ran longer than its ``stop_time`` and was stopped."""

    error_code = "ModelArts.4998"
