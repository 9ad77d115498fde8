"""Service statuses (the reference's ``status``), instance statuses, event types and error codes.

Real-time service::

    deploying ──(every instance loaded and answering)──> running <──> concerning (an instance is down)
        │                                                   │
        └── a model cannot load, or deploy timeout ──> failed      PUT status=stopped ──> stopping ──> stopped
    stopped / failed ──PUT status=running──> deploying            DELETE ──> deleting ──> (gone)

Batch service: deploying ──> running (files being inferred) ──> finished, or failed.
"""

from __future__ import annotations

from modelworks.errors import InvalidArgument, NotFound, PreconditionFailed

DEPLOYING = "deploying"
RUNNING = "running"
CONCERNING = "concerning"
FAILED = "failed"
STOPPING = "stopping"
STOPPED = "stopped"
DELETING = "deleting"
FINISHED = "finished"

ALL_STATUSES = frozenset({DEPLOYING, RUNNING, CONCERNING, FAILED, STOPPING, STOPPED, DELETING, FINISHED})
SUPERVISED = frozenset({DEPLOYING, RUNNING, CONCERNING, STOPPING, DELETING})
"""Statuses in which a supervisor owns the service (its instances run or must be started or stopped)."""
SERVING = frozenset({RUNNING, CONCERNING})
"""Statuses in which ``/v1/infers`` forwards requests."""

REAL_TIME = "real-time"
BATCH = "batch"
EDGE = "edge"

# Instance statuses, as QueryServiceConfig and Nodes name them.
INSTANCE_STARTING = "notReady"
INSTANCE_RUNNING = "running"
INSTANCE_FAILED = "failed"

NORMAL = "normal"
ABNORMAL = "abnormal"

UPDATE_RUNNING = "RUNNING"
UPDATE_SUCCESS = "SUCCESS"
UPDATE_FAIL = "FAIL"

# Error codes of the reference's error-code table (inference services).
DEPLOY_FAILED = "ModelArts.3501"
SERVICE_NOT_FOUND = "ModelArts.3502"
DUPLICATE_SERVICE_NAME = "ModelArts.3503"
MODEL_NOT_FOUND = "ModelArts.3506"
MODEL_NOT_READY = "ModelArts.3515"
DUPLICATE_MODEL_VERSION = "ModelArts.3516"
NOT_UPDATABLE = "ModelArts.3519"
MODEL_NOT_IN_SERVICE = "ModelArts.3529"
MODEL_CANNOT_DEPLOY = "ModelArts.3589"
PARAMETER_EMPTY = "ModelArts.3610"
API_NOT_FOUND = "ModelArts.4204"
GATEWAY_FORWARDING_ERROR = "ModelArts.4302"
BACKEND_UNAVAILABLE = "ModelArts.4503"


def service_not_found(service_id: str) -> NotFound:
    return NotFound(f"Service {service_id} does not exist.", error_code=SERVICE_NOT_FOUND)


def not_updatable(name: str, status: str, action: str) -> PreconditionFailed:
    return PreconditionFailed(
        f"Service {name} is {status}; it cannot be {action} now.", error_code=NOT_UPDATABLE
    )


def required(field: str) -> InvalidArgument:
    return InvalidArgument(f"Parameter {field} cannot be empty.", field=field, error_code=PARAMETER_EMPTY)
