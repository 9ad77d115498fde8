"""Training jobs on a Ray cluster (``settings.ray_address``: the ``ray`` compute backend), run through
the Ray Jobs API.

The worker that claims a job's task prepares the job directory as for a local job (code, inputs,
requirements: ``runners.base.JobRunner._prepare``), writes the driver's spec there and submits
``python -I _ray_driver.py <spec>`` under the submission id ``modelworks-<job id>``, which it records in
the job (``spec.runtime.ray_submission_id``). It then polls the job's status, follows its log into the
task logs (``runners.ray_logs``) and copies them to storage like a local job's, and stops it with
``stop_job`` on terminate or ``auto_stop``. A worker that stops leaves the Ray job running; the next
worker re-adopts it by its submission id, whichever host it runs on.

Phases: Creating while preparing; Pending/Queuing while Ray waits for resources (PENDING); Running;
Completed (SUCCEEDED), Failed (FAILED) or Terminated (STOPPED). ``node_count`` workers each reserve the
flavor's cores as Ray CPUs.

Ray nodes must see ``MODELWORKS_HOME`` at the same path and have the server's Python environment (the
server's host, or a shared filesystem and image): jobs read their code and inputs and write their
outputs there. The job's environment travels in the spec file, not in ``runtime_env``: Ray's dashboard
shows a job's runtime_env (``environments`` may hold secrets), and a PYTHONPATH there would put the
user's code in front of Ray's own modules in the job's Ray workers. A cluster with token
authentication needs ``RAY_AUTH_MODE=token`` and its token in the server's environment, as every Ray
client does.
"""

from __future__ import annotations

import copy
import json
import logging
import shlex
import signal
import sys
import time
from pathlib import Path
from typing import Any

from modelworks.compute.processes import LAUNCHER, TERMINATE_GRACE_SECONDS
from modelworks.compute.ray_cluster import prepare_environment
from modelworks.compute.workspace import Launch, base_environment
from modelworks.db import now_ms
from modelworks.jobs import TaskContext, WorkerDied
from modelworks.jobs.context import STOP_CANCEL, STOP_SHUTDOWN, TaskCancelled
from modelworks.settings import Settings
from modelworks.training.job_views import task_names
from modelworks.training.logs import log_file, log_object, log_store
from modelworks.training.runners.base import LOG_UPLOAD_INTERVAL_SECONDS, JobRunner, describe_exit
from modelworks.training.runners.ray_logs import POLL_LOG_MAX_CHARS, LogRouter, RayLogTail
from modelworks.training.status import (
    COMPLETED,
    FAILED,
    LOST,
    PENDING,
    QUEUING,
    RUNNING,
    TERMINAL_PHASES,
    TERMINATED,
)
from modelworks.training.tables import TrainingJob
from modelworks.training.training_jobs import ray_submission_id

log = logging.getLogger(__name__)

DRIVER = Path(__file__).with_name("_ray_driver.py")
DEFAULT_DASHBOARD_PORT = 8265
POLL_SECONDS = 0.5
STOP_TIMEOUT_SECONDS = 30.0
"""How long to wait for Ray to report a stopped job as ended."""
UNREACHABLE_SECONDS = 60.0
"""A Ray Jobs API that does not answer this long fails the attempt (the task is retried)."""
TAIL_RESTART_SECONDS = 5.0


def jobs_api_address(settings: Settings) -> str:
    """``settings.ray_jobs_address``, else Ray's default dashboard port on the host of ``ray_address``."""
    if settings.ray_jobs_address:
        return settings.ray_jobs_address.rstrip("/")
    address = settings.ray_address
    if address.startswith(("http://", "https://")):
        return address.rstrip("/")
    hostport = address.split("://", 1)[-1]
    host = hostport.rsplit(":", 1)[0] if ":" in hostport else hostport
    if host in ("", "auto", "local", "localhost"):
        host = "127.0.0.1"
    return f"http://{host}:{DEFAULT_DASHBOARD_PORT}"


def submission_id(job_id: str) -> str:
    return f"modelworks-{job_id}"


def exit_code(status: int | None) -> int | None:
    """An exit status as Modelworks records it: above 128, minus the number of the signal that killed it."""
    if status is not None and status > 128:
        try:
            return -signal.Signals(status - 128).value
        except ValueError:
            pass
    return status


def _status(info: Any) -> str:
    return str(getattr(info.status, "value", info.status))


class RayJobRunner(JobRunner):
    """One attempt of one training job's task on Ray (see the module docstring)."""

    def __init__(self, ctx: TaskContext):
        super().__init__(ctx)
        self.address = jobs_api_address(ctx.settings)
        self._client: Any = None
        self._uploaded_sizes: dict[str, int] = {}

    @property
    def client(self) -> Any:
        if self._client is None:
            prepare_environment(self.ctx.settings.ray_address)  # what Ray reads when first imported
            from ray.job_submission import JobSubmissionClient

            self._client = JobSubmissionClient(self.address)
        return self._client

    def _info(self, sid: str) -> Any:
        """The Ray job's details, or None if Ray does not know the submission."""
        try:
            return self.client.get_job_info(sid)
        except RuntimeError as exc:
            if "status code 404" in str(exc):
                return None
            raise

    # -- the attempt ---------------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        job = self._load()
        if job is None or job.phase in TERMINAL_PHASES:
            return {"phase": job.phase if job else "deleted"}
        router = LogRouter(self.workspace.root, task_names(job))
        recorded = ray_submission_id(job)
        sid = recorded or submission_id(job.id)
        info = self._info(sid)
        if info is None:
            if recorded:
                message = f"the Ray cluster at {self.address} no longer knows submission {sid} (restarted?)"
                self.workspace.note(message)
                return self._finalize(job, FAILED, LOST, None, message)
            if job.terminate_requested:
                self._finish(TERMINATED, TERMINATED, exit_code=None, message="terminated before it started")
                return {"phase": TERMINATED}
            if not self._submit(job, sid, router):
                return {"phase": FAILED}
        else:
            if not recorded:  # submitted, but the worker stopped before it recorded that
                self._record_runtime(ray_submission_id=sid)
            if not info.status.is_terminal():
                self.workspace.note(f"worker {self.ctx.worker_id} re-adopts the Ray job {sid}")
            if job.terminate_requested:
                return self._stop_job(job, sid, router, TERMINATED, "terminated by request")
        return self._follow(self._load() or job, sid, router)

    def _submit(self, job: TrainingJob, sid: str, router: LogRouter) -> bool:
        ready = self._prepare(job, f"on the Ray cluster at {self.address}")
        if ready is None:
            return False
        prepared, algorithm = ready
        router.reset()
        spec_file = self.workspace.root / "ray_driver.json"
        spec_file.write_text(json.dumps(self._driver_spec(job, prepared, algorithm)))
        workers, cores = len(task_names(job)), job.spec["runtime"]["cores"]
        self.workspace.note(
            f"submitting to Ray Jobs at {self.address} as {sid}: {workers} worker(s) of {cores} CPU(s); "
            f"command {' '.join(prepared.command)}"
        )
        # Several workers: the driver must outlive the workers' own grace period to stop them.
        stop_wait = TERMINATE_GRACE_SECONDS + (5 if workers > 1 else 0)
        self.client.submit_job(
            entrypoint=shlex.join([sys.executable, "-I", str(DRIVER), str(spec_file)]),
            submission_id=sid,
            runtime_env={"env_vars": {"RAY_JOB_STOP_WAIT_TIME_S": str(int(stop_wait))}},
            entrypoint_num_cpus=cores if workers == 1 else None,
            metadata={"modelworks_job_id": job.id, "modelworks_job_name": job.name},
        )
        self._record_runtime(ray_submission_id=sid)
        self._update(phase=PENDING, secondary_phase=QUEUING, algorithm=algorithm)
        return True

    def _driver_spec(self, job: TrainingJob, prepared: Launch, algorithm: dict[str, Any]) -> dict[str, Any]:
        """What ``_ray_driver.py`` reads: each worker's command (the launcher, as for local jobs) and
        what Modelworks adds to a node's environment."""
        runtime = job.spec["runtime"]
        tasks = task_names(job)
        base = base_environment()
        user = algorithm.get("environments") or {}
        env = {k: v for k, v in prepared.env.items() if base.get(k) != v or k in user}
        workers = []
        for task in tasks:
            exit_file = self.workspace.root / ("exit_code" if len(tasks) == 1 else f"exit_code.{task}")
            # The launcher drops to the project's sandbox user where Ray's worker runs as root (on the
            # host that prepared the workspace, which that user owns); otherwise the code runs as the
            # Ray cluster's own user (README: "User code sandbox").
            user = self.workspace.identity.argument() if self.workspace.identity is not None else ""
            launcher = [
                sys.executable, "-I", str(LAUNCHER), str(exit_file), "", str(runtime["memory_bytes"]), user,
            ]  # fmt: skip
            workers.append({"name": task, "argv": [*launcher, "--", *prepared.command]})
        return {
            "job_id": job.id,
            "cwd": str(prepared.cwd),
            "env": env,
            "num_cpus": runtime["cores"],
            "grace_seconds": TERMINATE_GRACE_SECONDS,
            "workers": workers,
        }

    def _record_runtime(self, **values: Any) -> None:
        """Merge ``values`` into the job's ``spec.runtime`` (a new dict, so the JSON column sees it)."""
        with self.ctx.db.session() as s:
            job = s.get(TrainingJob, self.job_id, with_for_update=True)
            if job is not None:
                spec = copy.deepcopy(job.spec)
                spec["runtime"].update(values)
                job.spec = spec

    def _copy_log(self, sid: str, router: LogRouter, tail: RayLogTail | None) -> RayLogTail | None:
        """Copy the new lines of the Ray log: by reading it whole while it is small, then by a tail
        (restarted if it stopped while the job runs). Returns the tail, once there is one."""
        if tail is None and router.offset < POLL_LOG_MAX_CHARS:
            try:
                router.sync(self.client.get_job_logs(sid))
            except Exception:
                log.warning("reading the Ray log of %s failed", sid, exc_info=True)
            return None
        if tail is None or (not tail.alive and time.monotonic() - tail.started > TAIL_RESTART_SECONDS):
            tail = RayLogTail(self.client, sid, router).start()
        return tail

    def _follow(self, job: TrainingJob, sid: str, router: LogRouter) -> dict[str, Any]:
        tail: RayLogTail | None = None
        auto_stop = job.spec.get("auto_stop")
        next_upload = time.monotonic() + LOG_UPLOAD_INTERVAL_SECONDS
        unanswered_since: float | None = None
        try:
            while True:
                try:
                    info = self._info(sid)
                    unanswered_since = None
                except Exception as exc:
                    unanswered_since = unanswered_since or time.monotonic()
                    if time.monotonic() - unanswered_since > UNREACHABLE_SECONDS:
                        message = f"the Ray Jobs API at {self.address} does not answer: {exc}"
                        raise RuntimeError(message) from exc
                    log.warning("asking Ray about %s failed: %s", sid, exc)
                    self.ctx.check_cancelled()
                    time.sleep(POLL_SECONDS)
                    continue
                if info is None:
                    message = f"the Ray cluster at {self.address} no longer knows submission {sid}"
                    return self._finalize(job, FAILED, LOST, None, message)
                if info.status.is_terminal():
                    return self._settle(job, sid, router, tail, info)
                if _status(info) == "RUNNING" and job.start_time is None:
                    self._update(phase=RUNNING, secondary_phase=RUNNING, start_time=now_ms())
                    job = self._load() or job
                started = job.start_time / 1000 if job.start_time else None
                if auto_stop and started and time.time() >= started + auto_stop["seconds"]:
                    message = f"stopped by auto_stop after {auto_stop['duration']} {auto_stop['time_unit']}"
                    return self._stop_job(job, sid, router, TERMINATED, message, tail)
                tail = self._copy_log(sid, router, tail)
                now = time.monotonic()
                if now >= next_upload:
                    next_upload = now + LOG_UPLOAD_INTERVAL_SECONDS
                    self.upload_log(job)
                self.ctx.check_cancelled()
                time.sleep(POLL_SECONDS)
        except TaskCancelled as exc:
            if exc.reason == STOP_CANCEL:
                self._stop_job(job, sid, router, TERMINATED, "terminated by request", tail)
            elif exc.reason == STOP_SHUTDOWN:
                if tail is not None:
                    tail.stop()
                self.workspace.note(
                    f"the worker is stopping; the Ray job {sid} keeps running and the next worker adopts it"
                )
                self.upload_log(job)
            raise
        finally:
            if tail is not None:
                tail.stop()

    def _copy_rest(self, sid: str, router: LogRouter, tail: RayLogTail | None) -> None:
        """After the end: stop following the log and copy what the tail had not."""
        if tail is not None:
            tail.stop()
        try:
            router.finish(self.client.get_job_logs(sid))
        except Exception:
            log.warning("reading the Ray log of %s failed", sid, exc_info=True)

    def _settle(
        self, job: TrainingJob, sid: str, router: LogRouter, tail: RayLogTail | None, info: Any
    ) -> dict[str, Any]:
        self._copy_rest(sid, router, tail)
        if job.start_time is None:
            # A short job can end between two polls without ever being seen RUNNING: take its start
            # from Ray (milliseconds), so that its duration is not 0.
            started = getattr(info, "start_time", None)
            self._update(start_time=int(started) if started else now_ms())
            job = self._load() or job
        status = _status(info)
        code: int | None
        if status == "SUCCEEDED":
            phase, secondary, code, message = COMPLETED, COMPLETED, 0, ""
        elif status == "STOPPED":
            phase, secondary, code, message = TERMINATED, TERMINATED, None, "stopped through Ray"
        else:
            code = exit_code(info.driver_exit_code)
            if code is None:
                reason = (info.message or "no reason given").strip().splitlines()[0]
                phase, secondary, message = FAILED, FAILED, f"Ray could not run the job: {reason}"
            else:
                phase, secondary, message = describe_exit(code)
        first_failure = (router.workers_ended or {}).get("first_failure")
        if first_failure and message:
            message = f"{first_failure}: {message}"
        self._record_task_statuses(job, router)
        return self._finalize(job, phase, secondary, code, message)

    def _record_task_statuses(self, job: TrainingJob, router: LogRouter) -> None:
        statuses = self._task_statuses(job, router)
        if statuses:
            first_failure = (router.workers_ended or {}).get("first_failure")
            self._record_runtime(task_statuses=statuses, first_failure=first_failure)

    def _task_statuses(self, job: TrainingJob, router: LogRouter) -> list[dict[str, Any]]:
        """One status per worker of a multi-worker job, from the driver's last line (none without it)."""
        ended = router.workers_ended
        if len(task_names(job)) < 2 or not ended:
            return []
        first_failure = ended.get("first_failure")
        statuses = []
        for task, status in (ended.get("exit_codes") or {}).items():
            code = exit_code(status)
            message = describe_exit(code)[2]
            if code != 0 and first_failure and task != first_failure:
                message = f"stopped after {first_failure} failed"
            statuses.append({"task": task, "exit_code": code, "message": message})
        return statuses

    def _stop_job(
        self,
        job: TrainingJob,
        sid: str,
        router: LogRouter,
        phase: str,
        message: str,
        tail: RayLogTail | None = None,
    ) -> dict[str, Any]:
        self.workspace.note(f"{message}: stopping the Ray job {sid} (SIGTERM, then SIGKILL)")
        try:
            self.client.stop_job(sid)
        except Exception:
            log.warning("stopping the Ray job %s failed", sid, exc_info=True)
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        info = self._info(sid)
        while info is not None and not info.status.is_terminal() and time.monotonic() < deadline:
            time.sleep(0.2)
            info = self._info(sid)
        self._copy_rest(sid, router, tail)
        self._record_task_statuses(job, router)
        code = exit_code(info.driver_exit_code) if info is not None else None
        return self._finalize(job, phase, phase, code, message)

    def upload_log(self, job: TrainingJob) -> None:
        for task in task_names(job):
            path = log_file(self.workspace.root, task)
            try:
                size = path.stat().st_size if path.is_file() else -1
                if size >= 0 and size != self._uploaded_sizes.get(task):
                    log_store(self.ctx.store, job).write(log_object(job, task), path.read_bytes())
                    self._uploaded_sizes[task] = size
            except Exception:
                log.warning("copying the %s log of training job %s failed", task, job.id, exc_info=True)

    def give_up(self, error: BaseException) -> None:
        """The task will not run again: stop the Ray job if it was submitted, and end the job."""
        job = self._load()
        if job is None or job.phase in TERMINAL_PHASES:
            return
        cancelled = isinstance(error, TaskCancelled)
        message = "terminated by request" if cancelled else f"the job's worker gave up: {error}"
        sid = ray_submission_id(job)
        if sid:
            try:
                self.client.stop_job(sid)
            except Exception as exc:
                message += f"; stopping the Ray job {sid} failed ({exc}): it may still be running"
        phase = TERMINATED if cancelled else FAILED
        self._finalize(job, phase, LOST if isinstance(error, WorkerDied) else phase, None, message)
