"""What every training-job runner shares: the job's row, its workspace, preparing it and ending it.

A runner is one attempt of one job's ``training-job`` task (``modelworks.training.task``), built for
the executor the job was created for (``spec.runtime.executor``: ``compute_backend`` of the server's
settings then): ``runners.local`` runs the job as a process group on the worker's host,
``runners.ray`` submits it to Ray Jobs. Both prepare the job directory the same way (``_prepare``: code,
inputs, requirements, the command) and end the job the same way (``_finalize``: outputs and logs
uploaded, the end recorded); what happens in between is each runner's ``run``.
"""

from __future__ import annotations

import copy
import logging
import signal
from abc import ABC, abstractmethod
from typing import Any

from modelworks.compute.engines import available_engines
from modelworks.compute.processes import hostname
from modelworks.compute.sandbox import sandbox_for
from modelworks.compute.workspace import Launch
from modelworks.db import now_ms
from modelworks.errors import ModelworksError
from modelworks.jobs import TaskContext
from modelworks.jobs.context import STOP_CANCEL, STOP_SHUTDOWN, TaskCancelled
from modelworks.storage import parse_obs_path
from modelworks.training.job_workspace import JobWorkspace
from modelworks.training.status import (
    COMPLETED,
    CREATE_FAILED,
    CREATING,
    FAILED,
    LOST,
    PENDING,
    QUEUING,
    TERMINAL_PHASES,
    TERMINATED,
)
from modelworks.training.tables import TrainingJob
from modelworks.training.training_jobs import job_dir

log = logging.getLogger(__name__)

LOG_UPLOAD_INTERVAL_SECONDS = 10.0
"""How often a running job's log is copied to storage."""


def describe_exit(code: int | None) -> tuple[str, str, str]:
    """(phase, secondary phase, message) for how the command ended."""
    if code == 0:
        return COMPLETED, COMPLETED, ""
    if code is None:
        return (
            FAILED,
            LOST,
            (
                "the task's process ended while no worker watched it and left no exit status "
                "(it was killed, or its host restarted)"
            ),
        )
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return FAILED, FAILED, f"the boot file was killed by {name}"
    return FAILED, FAILED, f"the boot file exited with code {code}"


class JobRunner(ABC):
    """One attempt of one training job's task (see the module docstring).

    Built by the task handler for each attempt (and for ``give_up``); subclasses implement ``run``,
    ``give_up`` and ``upload_log`` and use the helpers below, which read and write the job's row.
    """

    def __init__(self, ctx: TaskContext):
        """Bind the runner to the task's context and the job's directory; reads nothing yet."""
        self.ctx = ctx
        self.job_id: str = ctx.payload["job_id"]
        self.sandbox = sandbox_for(ctx.settings)
        self.workspace = JobWorkspace(job_dir(ctx.settings.sandbox_root, self.job_id), self.sandbox)

    @abstractmethod
    def run(self) -> dict[str, Any]:
        """Run the job, or re-adopt it when an earlier attempt started it, and watch it to its end.

        Called by the task handler for each attempt. Returns the task's result (at least ``phase``).
        A ``TaskCancelled`` from ``ctx.check_cancelled`` must stop the job on a cancel (terminate) and
        leave it running on a shutdown (the next worker re-adopts it), then propagate.
        """

    @abstractmethod
    def give_up(self, error: BaseException) -> None:
        """The task will not run again (``error`` says why): stop what still runs and end the job.

        Called by the task handler's ``on_failed`` (after the last retry, on cancellation, or when a
        dead worker's task gives up); must do nothing for a job that already ended.
        """

    @abstractmethod
    def upload_log(self, job: TrainingJob) -> None:
        """Copy the job's task logs to storage when they grew since the last copy; never raises.

        Called every ``LOG_UPLOAD_INTERVAL_SECONDS`` while the job runs, on shutdown and by
        ``_finalize``.
        """

    # -- rows ----------------------------------------------------------------------------------------

    def _load(self) -> TrainingJob | None:
        """The job's row as it is now (None once deleted)."""
        with self.ctx.db.session() as s:
            return s.get(TrainingJob, self.job_id)

    def _update(self, **values: Any) -> None:
        """Set columns of the job's row; a requested terminate keeps its phase (Terminating)."""
        with self.ctx.db.session() as s:
            job = s.get(TrainingJob, self.job_id, with_for_update=True)
            if job is None:
                return
            if job.terminate_requested and "phase" in values:
                # A terminate request came in: keep showing Terminating until the process is gone.
                values.pop("phase")
                values.pop("secondary_phase", None)
            for key, value in values.items():
                setattr(job, key, value)
            job.update_time = now_ms()

    def _finish(self, phase: str, secondary: str, *, exit_code: int | None, message: str) -> None:
        """Record the end of the job (once: an ended job is left as it is)."""
        with self.ctx.db.session() as s:
            job = s.get(TrainingJob, self.job_id, with_for_update=True)
            if job is None or job.phase in TERMINAL_PHASES:
                return
            job.phase, job.secondary_phase = phase, secondary
            job.exit_code, job.message = exit_code, message
            job.end_time = job.update_time = now_ms()

    # -- preparing and ending -----------------------------------------------------------------------

    def _prepare(self, job: TrainingJob, where: str) -> tuple[Launch, dict[str, Any]] | None:
        """Download code and inputs and build the command (Creating); None if that failed (Failed).

        Returns the command and the job's algorithm with this host's channel paths; shared by the local
        and the Ray runner (``where`` names where the task will run, for the log).
        """
        self._update(phase=CREATING, secondary_phase=CREATING, host=hostname())
        runtime = job.spec["runtime"]
        engines = {e.key: e for e in available_engines()}
        self.workspace.reset()
        self.workspace.note(
            f"training job {job.name} ({job.id}) starts {where}: flavor "
            f"{job.spec['resource']['flavor_id']}, engine {job.algorithm['engine']['engine_id']}"
        )
        engine = engines.get(runtime["engine"])
        algorithm = copy.deepcopy(job.algorithm)
        try:
            if engine is None:
                raise ModelworksError(f"engine {job.algorithm['engine']['engine_id']} is no longer installed")
            self.workspace.identity = self.sandbox.identity(job.project_id)
            user = self.workspace.identity
            self.workspace.note(
                f"the job's code runs as uid {user.uid}"
                if user is not None
                else f"the job's code runs as the server's user: {self.sandbox.reason}"
            )
            prepared = self.workspace.prepare(
                self.ctx.store,
                {"id": job.id, "algorithm": algorithm, "public_endpoint": self.ctx.settings.public_endpoint},
                interpreter=self.sandbox.interpreter(engine.interpreter()),
                cores=runtime["cores"],
                check=self.ctx.check_cancelled,
            )
        except TaskCancelled as exc:
            if exc.reason == STOP_CANCEL:
                self._finalize(job, TERMINATED, TERMINATED, None, "terminated while being created")
            elif exc.reason == STOP_SHUTDOWN:
                self._update(phase=PENDING, secondary_phase=QUEUING)
            raise
        except ModelworksError as exc:
            self.workspace.note(f"preparing the task failed: {exc.message}")
            self._finalize(job, FAILED, CREATE_FAILED, None, f"preparing the job failed: {exc.message}")
            return None
        return prepared, algorithm

    def _finalize(
        self, job: TrainingJob, phase: str, secondary: str, exit_code: int | None, message: str
    ) -> dict[str, Any]:
        """Upload the outputs and the log, then record the end."""
        uploaded = 0
        algorithm = (self._load() or job).algorithm
        outputs = [
            (
                self.workspace.root / "outputs" / f"{c['name']}_0",
                parse_obs_path(c["remote"]["obs"]["obs_url"]),
            )
            for c in algorithm.get("outputs") or []
        ]
        try:
            uploaded = self.workspace.upload_outputs(self.ctx.store, outputs)
        except Exception as exc:
            log.warning("uploading the outputs of training job %s failed", job.id, exc_info=True)
            message = f"{message}; uploading the outputs failed: {exc}".lstrip("; ")
        status = f"exit code {exit_code}" if exit_code is not None else "no exit code"
        self.workspace.note(f"task ended {phase} ({status}); {uploaded} output files uploaded")
        self.upload_log(job)
        self._finish(phase, secondary, exit_code=exit_code, message=message)
        return {"phase": phase, "exit_code": exit_code, "uploaded_outputs": uploaded}
