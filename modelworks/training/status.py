"""Training job phases (the reference's ``status.phase`` / ``secondary_phase``) and error codes.

Pending/Queuing ──(a worker claims it)──> Creating/Creating ──(process started)──> Running/Running
    │                                          │                                      │
    └── terminate ──> Terminated               └── input or code missing ──> Failed/CreateFailed
                                                                                      │
Running ──exit 0──> Completed    ──exit ≠ 0──> Failed    ──terminate──> Terminating ──> Terminated
Running ──auto_stop──> Terminated    ──process lost while no worker watched──> Failed/Lost
"""

from __future__ import annotations

from modelworks.errors import InvalidArgument, NotFound

CREATING = "Creating"
PENDING = "Pending"
RUNNING = "Running"
FAILED = "Failed"
COMPLETED = "Completed"
TERMINATING = "Terminating"
TERMINATED = "Terminated"
ABNORMAL = "Abnormal"

QUEUING = "Queuing"
CREATE_FAILED = "CreateFailed"
LOST = "Lost"

ACTIVE_PHASES = frozenset({CREATING, PENDING, RUNNING, TERMINATING})
TERMINAL_PHASES = frozenset({FAILED, COMPLETED, TERMINATED, ABNORMAL})
ALL_PHASES = ACTIVE_PHASES | TERMINAL_PHASES

TRAINING_JOB_KIND = "training-job"
"""The ``modelworks.jobs`` task kind that runs a training job."""
TASK_NAME = "worker-0"
"""The one task of a single-node job, as ``status.tasks`` names it."""

# Error codes of the reference's error-code table (training management).
ALGORITHM_NOT_FOUND = "ModelArts.2755"
DUPLICATE_TRAINING_JOB_NAME = "ModelArts.2751"
CHANNELS_MISMATCH = "ModelArts.2753"
CODE_DIR_ERROR = "ModelArts.2757"
BOOT_FILE_ERROR = "ModelArts.2758"
TOO_MANY_CODE_FILES = "ModelArts.2759"
CODE_TOO_LARGE = "ModelArts.2761"
VALUE_NOT_IN_PRESET = "ModelArts.2765"
PARAMETER_KEY_REPEAT = "ModelArts.2767"
VALUE_TYPE_ERROR = "ModelArts.2768"
VALUE_NOT_IN_RANGE = "ModelArts.2769"
RANGE_ERROR = "ModelArts.2770"
NOT_EDITABLE = "ModelArts.2771"
TRAINING_JOB_NOT_FOUND = "ModelArts.2775"
ENGINE_NOT_FOUND = "ModelArts.2780"
FLAVOR_NOT_FOUND = "ModelArts.2781"
UNSUPPORTED_SORT = "ModelArts.2790"
INVALID_OBS_PATH = "ModelArts.2791"
UNSUPPORTED_CONDITION_KEY = "ModelArts.2807"
UNSUPPORTED_CONDITION_OPERATOR = "ModelArts.2808"
UNSUPPORTED_CONDITION_VALUE = "ModelArts.2809"
UNSUPPORTED_ACTION = "ModelArts.2812"
LOG_NOT_GENERATED = "ModelArts.2818"
DUPLICATE_ALGORITHM_NAME = "ModelArts.2821"
UNSUPPORTED_OPERATION = "ModelArts.2858"


def algorithm_not_found(algorithm_id: str, *, in_request: bool = False) -> NotFound | InvalidArgument:
    """404 for an algorithm addressed by URL; 400 (as the reference shows) for one named in a job body."""
    message = f"Algorithm '{algorithm_id}' does not exist."
    if in_request:
        return InvalidArgument(message, field="algorithm.id", error_code=ALGORITHM_NOT_FOUND)
    return NotFound(message, error_code=ALGORITHM_NOT_FOUND)


def job_not_found(job_id: str) -> NotFound:
    return NotFound(f"Training job '{job_id}' does not exist.", error_code=TRAINING_JOB_NOT_FOUND)
