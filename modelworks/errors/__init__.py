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

The classes are defined by area and imported from here (``from modelworks.errors import X``):
``base`` (the root and the generic kinds: invalid argument, forbidden, not found, conflict ...),
``iam``, ``storage``, ``data`` (datasets, samples, labels and their tasks, intelligent tasks),
``training``, ``models`` and ``serving``. Each area module imports ``base`` only.
"""

from __future__ import annotations

from modelworks.errors.base import (
    Conflict,
    Forbidden,
    InvalidArgument,
    InvalidJson,
    InvalidPath,
    InvalidRequestUrl,
    ModelworksError,
    NotFound,
    NotImplementedYet,
    ParameterError,
    PayloadTooLarge,
    PreconditionFailed,
)
from modelworks.errors.data import (
    DatasetExists,
    DatasetNotFound,
    DatasetVersionExists,
    DatasetVersionNotFound,
    DeployStepFailed,
    ExportTaskNotFound,
    ImportTaskRunning,
    InvalidExportPath,
    InvalidTaskParameter,
    LabelExists,
    LabelNotFound,
    LabelShortcutExists,
    NotEnoughLabeledSamples,
    NotEnoughLabels,
    SampleExists,
    SampleLabelsUpdateFailed,
    SampleNotFound,
    SampleUploadFailed,
    SyncTaskRunning,
    TaskAlreadyRunning,
    TaskFailed,
    TaskNotFound,
    TaskStopped,
    TaskTimedOut,
    UnsupportedDatasetOperation,
)
from modelworks.errors.iam import (
    AuthError,
    BadAuthorizationHeader,
    ProjectNotFound,
    SignatureMismatch,
    TokenExpired,
    TokenInvalid,
    UnknownAccessKey,
    WrongCredentials,
)
from modelworks.errors.models import (
    ConfigFieldInvalid,
    ConfigNotConforming,
    ModelExists,
    ModelInUse,
    ModelNotFound,
    ModelPackageTooLarge,
    ModelTypeUnsupported,
    ParameterRequired,
    RestraintInvalid,
    SourceLocationInvalid,
)
from modelworks.errors.serving import (
    ApiNotFound,
    BackendUnavailable,
    DuplicateModelVersion,
    GatewayForwardingError,
    ModelNotInService,
    ModelNotReady,
    ParameterEmpty,
    ServiceExists,
    ServiceModelNotFound,
    ServiceNotFound,
    ServiceNotUpdatable,
    SpecNotFound,
)
from modelworks.errors.storage import (
    BucketNotFound,
    BucketOfAnotherProject,
    DoubleSlashInPath,
    ObsPathNotFound,
    StorageForbidden,
    SubdirectoryRequired,
)
from modelworks.errors.training import (
    AlgorithmNotFound,
    BootFileError,
    ChannelsMismatch,
    CodeDirError,
    CodeTooLarge,
    DefaultValueNotInRange,
    DefaultValueTypeError,
    DuplicateAlgorithmName,
    DuplicateTrainingJobName,
    EngineNotFound,
    FlavorNotFound,
    InvalidJobObsPath,
    LogNotGenerated,
    NotEditable,
    ParameterKeyRepeat,
    ParameterRangeError,
    TooManyCodeFiles,
    TrainingJobNotFound,
    UnsupportedAction,
    UnsupportedConditionKey,
    UnsupportedConditionOperator,
    UnsupportedConditionValue,
    UnsupportedOperation,
    UnsupportedSortBy,
    ValueNotInPreset,
)

__all__ = [
    "AlgorithmNotFound",
    "ApiNotFound",
    "AuthError",
    "BackendUnavailable",
    "BadAuthorizationHeader",
    "BootFileError",
    "BucketNotFound",
    "BucketOfAnotherProject",
    "ChannelsMismatch",
    "CodeDirError",
    "CodeTooLarge",
    "ConfigFieldInvalid",
    "ConfigNotConforming",
    "Conflict",
    "DatasetExists",
    "DatasetNotFound",
    "DatasetVersionExists",
    "DatasetVersionNotFound",
    "DefaultValueNotInRange",
    "DefaultValueTypeError",
    "DeployStepFailed",
    "DoubleSlashInPath",
    "DuplicateAlgorithmName",
    "DuplicateModelVersion",
    "DuplicateTrainingJobName",
    "EngineNotFound",
    "ExportTaskNotFound",
    "FlavorNotFound",
    "Forbidden",
    "GatewayForwardingError",
    "ImportTaskRunning",
    "InvalidArgument",
    "InvalidExportPath",
    "InvalidJobObsPath",
    "InvalidJson",
    "InvalidPath",
    "InvalidRequestUrl",
    "InvalidTaskParameter",
    "LabelExists",
    "LabelNotFound",
    "LabelShortcutExists",
    "LogNotGenerated",
    "ModelExists",
    "ModelInUse",
    "ModelNotFound",
    "ModelNotInService",
    "ModelNotReady",
    "ModelPackageTooLarge",
    "ModelTypeUnsupported",
    "ModelworksError",
    "NotEditable",
    "NotEnoughLabeledSamples",
    "NotEnoughLabels",
    "NotFound",
    "NotImplementedYet",
    "ObsPathNotFound",
    "ParameterEmpty",
    "ParameterError",
    "ParameterKeyRepeat",
    "ParameterRangeError",
    "ParameterRequired",
    "PayloadTooLarge",
    "PreconditionFailed",
    "ProjectNotFound",
    "RestraintInvalid",
    "SampleExists",
    "SampleLabelsUpdateFailed",
    "SampleNotFound",
    "SampleUploadFailed",
    "ServiceExists",
    "ServiceModelNotFound",
    "ServiceNotFound",
    "ServiceNotUpdatable",
    "SignatureMismatch",
    "SourceLocationInvalid",
    "SpecNotFound",
    "StorageForbidden",
    "SubdirectoryRequired",
    "SyncTaskRunning",
    "TaskAlreadyRunning",
    "TaskFailed",
    "TaskNotFound",
    "TaskStopped",
    "TaskTimedOut",
    "TokenExpired",
    "TokenInvalid",
    "TooManyCodeFiles",
    "TrainingJobNotFound",
    "UnknownAccessKey",
    "UnsupportedAction",
    "UnsupportedConditionKey",
    "UnsupportedConditionOperator",
    "UnsupportedConditionValue",
    "UnsupportedDatasetOperation",
    "UnsupportedOperation",
    "UnsupportedSortBy",
    "ValueNotInPreset",
    "WrongCredentials",
]
