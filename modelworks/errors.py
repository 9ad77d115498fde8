"""Domain errors, each mapped to an HTTP status and a ModelArts error code.

    ModelworksError (500, ModelArts.0001)
    ├── InvalidArgument (400, ModelArts.0101)                 a request field is wrong; names the field
    │   ├── InvalidJson (400, ModelArts.4105)                 the body is not JSON
    │   ├── InvalidPath (400, ModelArts.4313)                 an OBS path is malformed or escapes its bucket
    │   │   ├── DoubleSlashInPath (400, ModelArts.4315)
    │   │   └── InvalidJobObsPath (400, ModelArts.2791)
    │   ├── ParameterError (400, ModelArts.0104)              the reference's generic "Parameter error."
    │   │   └── PreconditionFailed (400, ModelArts.0104)      the resource's state forbids this
    │   │       ├── SyncTaskRunning (400, ModelArts.4355)
    │   │       ├── ImportTaskRunning (400, ModelArts.4356)
    │   │       ├── UnsupportedOperation (400, ModelArts.2858)
    │   │       ├── ModelInUse (400, ModelArts.3009)
    │   │       └── ServiceNotUpdatable (400, ModelArts.3519)
    │   ├── SubdirectoryRequired (400, ModelArts.4205)
    │   ├── InvalidExportPath (400, ModelArts.4358)
    │   ├── UnsupportedDatasetOperation (400, ModelArts.4383)
    │   ├── InvalidTaskParameter (400, ModelArts.4384)
    │   ├── NotEnoughLabels (400, ModelArts.4405)
    │   ├── NotEnoughLabeledSamples (400, ModelArts.4406)
    │   ├── SampleUploadFailed (400, ModelArts.4421)
    │   ├── SampleExists (400, ModelArts.4422)
    │   ├── ChannelsMismatch (400, ModelArts.2753)
    │   ├── CodeDirError (400, ModelArts.2757)
    │   ├── BootFileError (400, ModelArts.2758)
    │   ├── TooManyCodeFiles (400, ModelArts.2759)
    │   ├── CodeTooLarge (400, ModelArts.2761)
    │   ├── ValueNotInPreset (400, ModelArts.2765)
    │   ├── ParameterKeyRepeat (400, ModelArts.2767)
    │   ├── DefaultValueTypeError (400, ModelArts.2768)
    │   ├── DefaultValueNotInRange (400, ModelArts.2769)
    │   ├── ParameterRangeError (400, ModelArts.2770)
    │   ├── NotEditable (400, ModelArts.2771)
    │   ├── EngineNotFound (400, ModelArts.2780)
    │   ├── FlavorNotFound (400, ModelArts.2781)
    │   ├── UnsupportedSortBy (400, ModelArts.2790)
    │   ├── UnsupportedConditionKey (400, ModelArts.2807)
    │   ├── UnsupportedConditionOperator (400, ModelArts.2808)
    │   ├── UnsupportedConditionValue (400, ModelArts.2809)
    │   ├── UnsupportedAction (400, ModelArts.2812)
    │   ├── ConfigNotConforming (400, ModelArts.3015)
    │   ├── ConfigFieldInvalid (400, ModelArts.3016)
    │   ├── SourceLocationInvalid (400, ModelArts.3017)
    │   ├── ParameterRequired (400, ModelArts.3036)
    │   ├── RestraintInvalid (400, ModelArts.3041)
    │   ├── ModelPackageTooLarge (400, ModelArts.3044)
    │   ├── ModelTypeUnsupported (400, ModelArts.3053)
    │   ├── ServiceModelNotFound (400, ModelArts.3506)
    │   ├── ModelNotReady (400, ModelArts.3515)
    │   ├── DuplicateModelVersion (400, ModelArts.3516)
    │   ├── ModelNotInService (400, ModelArts.3529)
    │   ├── ParameterEmpty (400, ModelArts.3610)
    │   └── SpecNotFound (400, ModelArts.3835)
    ├── AuthError (401, ModelArts.0201)                       no usable credentials
    │   ├── TokenExpired (401, ModelArts.0202)
    │   ├── TokenInvalid (401, ModelArts.0203)
    │   ├── BadAuthorizationHeader (401, ModelArts.0206)
    │   ├── SignatureMismatch (401, ModelArts.0208)           also an expired signed URL
    │   └── UnknownAccessKey (401, ModelArts.3801)
    ├── WrongCredentials (401, ModelArts.4122)                IAM password login failed
    ├── Forbidden (403, ModelArts.0210)                       another project's path
    │   └── StorageForbidden (403, ModelArts.0210)            a bucket the project neither owns nor shares
    ├── NotFound (404, ModelArts.4338)                        no such id in the caller's project
    │   ├── InvalidRequestUrl (404, ModelArts.4201)           no operation at this URL (or method)
    │   ├── BucketNotFound (404, ModelArts.4311)
    │   ├── ObsPathNotFound (404, ModelArts.4312)
    │   ├── ProjectNotFound (404, ModelArts.4338)
    │   ├── DatasetNotFound (404, ModelArts.4352)
    │   ├── DatasetVersionNotFound (404, ModelArts.4353)
    │   ├── ExportTaskNotFound (404, ModelArts.4359)
    │   ├── LabelNotFound (404, ModelArts.4410)
    │   ├── SampleNotFound (404, ModelArts.4420)
    │   ├── TaskNotFound (404, ModelArts.4612)
    │   ├── AlgorithmNotFound (404, ModelArts.2755)
    │   ├── TrainingJobNotFound (404, ModelArts.2775)
    │   ├── LogNotGenerated (404, ModelArts.2818)
    │   ├── ModelNotFound (404, ModelArts.3001)
    │   ├── ServiceNotFound (404, ModelArts.3502)
    │   └── ApiNotFound (404, ModelArts.4204)
    ├── Conflict (409, ModelArts.0104)                        a name taken, a concurrent modification
    │   ├── BucketOfAnotherProject (409, ModelArts.4310)
    │   ├── DatasetExists (409, ModelArts.4351)
    │   ├── DatasetVersionExists (409, ModelArts.4371)
    │   ├── LabelExists (409, ModelArts.4411)
    │   ├── LabelShortcutExists (409, ModelArts.4412)
    │   ├── SampleLabelsUpdateFailed (409, ModelArts.4417)
    │   ├── TaskAlreadyRunning (409, ModelArts.4997)
    │   ├── DuplicateTrainingJobName (400, ModelArts.2751)
    │   ├── DuplicateAlgorithmName (400, ModelArts.2821)
    │   ├── ModelExists (409, ModelArts.3002)
    │   └── ServiceExists (409, ModelArts.3503)
    ├── PayloadTooLarge (413, ModelArts.0104)
    ├── NotImplementedYet (501, ModelArts.0101)               in ModelArts, not in Modelworks yet
    ├── TaskFailed (500, ModelArts.4392)                      a task's outcome, not an answer
    ├── TaskStopped (500, ModelArts.4393)                     a task's outcome, not an answer
    ├── DeployStepFailed (500, ModelArts.4995)
    ├── TaskTimedOut (500, ModelArts.4998)
    ├── BackendUnavailable (500, ModelArts.4503)
    └── GatewayForwardingError (500, ModelArts.4302)

Services raise these; one handler in ``api/errors.py`` turns them into
``{"error_code": ..., "error_msg": ...}``; a task's failure stores the code in the task's view.
Codes and meanings follow the reference's error-code table; the HTTP status is the one clients see
today where it differs from the table (which answers 400 for almost everything).

Each error may name the request ``field`` it is about (the message then starts ``"field: "``).
A ``...NotFound`` answers 404 when its id is in the URL; raised over an id named in the request body
it passes ``field=`` and ``http_status=400``, as the reference answers a bad reference with 400.
``error_code=`` still overrides a class's code, for the few call sites not yet given a class.

Subclasses that belong to one layer live beside it and add no code of their own: ``DatabaseBusy``
(503, ``db/engine.py``), ``WorkerDied`` (a ``TaskFailed``, ``jobs/recovery.py``), ``ModelUnavailable``
(``ml/errors.py``), ``SharedUserCodeRefused`` (a ``Forbidden``, ``compute/sandbox.py``),
``SecretsKeyError`` and ``UnusableSecretKey`` (``iam/secrets.py``).
"""

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


# Generic


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


# Storage (OBS paths and buckets)


class BucketOfAnotherProject(Conflict):
    """The bucket is already owned by another project."""

    error_code = "ModelArts.4310"


class BucketNotFound(NotFound):
    """The bucket is not one of the project's (owned or shared with it)."""

    error_code = "ModelArts.4311"


class ObsPathNotFound(NotFound):
    """No object (or directory) at this OBS path."""

    error_code = "ModelArts.4312"


class DoubleSlashInPath(InvalidPath):
    """An OBS path contains ``//``."""

    error_code = "ModelArts.4315"


class ProjectNotFound(NotFound):
    """The project does not exist."""

    error_code = "ModelArts.4338"


class SubdirectoryRequired(InvalidArgument):
    """A bucket root was given where a dataset input or output directory is needed."""

    error_code = "ModelArts.4205"


# Datasets, samples, labels and their tasks


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


# Training jobs and algorithms


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


# Models


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


# Services and inference


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
