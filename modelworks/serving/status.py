"""Service statuses (the reference's ``status``), instance statuses and event types; the errors are
classes of ``modelworks.errors`` (``ServiceNotFound``, ``ParameterEmpty`` ...).

Real-time service::

    deploying ──(every instance loaded and answering)──> running <──> concerning (an instance is down)
        │                                                   │
        └── a model cannot load, or deploy timeout ──> failed      PUT status=stopped ──> stopping ──> stopped
    stopped / failed ──PUT status=running──> deploying            DELETE ──> deleting ──> (gone)

Batch service: deploying ──> running (files being inferred) ──> finished, or failed.
"""

from __future__ import annotations

from modelworks.errors import ParameterEmpty, ServiceNotFound, ServiceNotUpdatable

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


def service_not_found(service_id: str) -> ServiceNotFound:
    return ServiceNotFound(f"Service {service_id} does not exist.")


def not_updatable(name: str, status: str, action: str) -> ServiceNotUpdatable:
    return ServiceNotUpdatable(f"Service {name} is {status}; it cannot be {action} now.")


def required(field: str) -> ParameterEmpty:
    return ParameterEmpty(f"Parameter {field} cannot be empty.", field=field)
