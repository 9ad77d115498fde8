"""Training job phases (the reference's ``status.phase`` / ``secondary_phase``) and the not-found errors.

Pending/Queuing ──(a worker claims it)──> Creating/Creating ──(process started)──> Running/Running
    │                                          │                                      │
    └── terminate ──> Terminated               └── input or code missing ──> Failed/CreateFailed
                                                                                      │
Running ──exit 0──> Completed    ──exit ≠ 0──> Failed    ──terminate──> Terminating ──> Terminated
Running ──auto_stop──> Terminated    ──process lost while no worker watched──> Failed/Lost
"""

from __future__ import annotations

from modelworks.errors import AlgorithmNotFound, TrainingJobNotFound

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


def algorithm_not_found(algorithm_id: str, *, in_request: bool = False) -> AlgorithmNotFound:
    """404 for an algorithm addressed by URL; 400 (as the reference shows) for one named in a job body."""
    message = f"Algorithm '{algorithm_id}' does not exist."
    if in_request:
        return AlgorithmNotFound(message, field="algorithm.id", http_status=400)
    return AlgorithmNotFound(message)


def job_not_found(job_id: str) -> TrainingJobNotFound:
    return TrainingJobNotFound(f"Training job '{job_id}' does not exist.")
