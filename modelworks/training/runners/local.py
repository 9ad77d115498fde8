"""Training jobs as process groups on the worker's host (the ``local`` compute backend).

The worker that claims the task holds it for the job's whole run, sampling metrics, copying the log
to storage and watching for terminate requests and ``auto_stop``. When that worker stops (the server
shuts down or restarts), the task is requeued while the job's process group keeps running; the next
worker on the same host that claims it **re-adopts** the group (found by pid, checked by start time)
and watches it to the end. If the group ended meanwhile, the exit status its launcher wrote decides
Completed or Failed; if it vanished without one (killed, host rebooted), the job ends Failed/Lost.
A worker on another host leaves the task to be retried (a worker on the job's host adopts it); once
the task is out of attempts the job ends Failed with a message naming that host.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from modelworks.compute.flavors import machine_cpus
from modelworks.compute.processes import Exit, GroupSampler, ProcessInfo, TaskProcess, hostname, launch
from modelworks.db import now_ms
from modelworks.errors import ModelworksError
from modelworks.jobs import TaskContext, WorkerDied
from modelworks.jobs.context import STOP_CANCEL, STOP_SHUTDOWN, TaskCancelled
from modelworks.training import metrics
from modelworks.training.logs import log_object, log_store
from modelworks.training.runners.base import LOG_UPLOAD_INTERVAL_SECONDS, JobRunner, describe_exit
from modelworks.training.status import (
    FAILED,
    LOST,
    RUNNING,
    TASK_NAME,
    TERMINAL_PHASES,
    TERMINATED,
)
from modelworks.training.tables import TrainingJob

log = logging.getLogger(__name__)

POLL_SECONDS = 0.25
FIRST_SAMPLE_SECONDS = 1.0
"""The first metrics sample covers the task's first second; later ones ``metrics.SAMPLE_INTERVAL_SECONDS``."""


class LocalJobRunner(JobRunner):
    """One attempt of one training job's task on this host (see the module docstring)."""

    def __init__(self, ctx: TaskContext):
        super().__init__(ctx)
        self._uploaded_log_size = -1

    def run(self) -> dict[str, Any]:
        job = self._load()
        if job is None or job.phase in TERMINAL_PHASES:
            return {"phase": job.phase if job else "deleted"}
        self._identify(job)
        process = self._find_process(job)
        if process is None:
            if job.terminate_requested:
                self._finish(TERMINATED, TERMINATED, exit_code=None, message="terminated before it started")
                return {"phase": TERMINATED}
            process = self._start(job)
            if process is None:
                return {"phase": FAILED}
            job = self._load() or job
        elif job.terminate_requested:
            return self._stop(job, process, TERMINATED, "terminated by request")
        return self._watch(job, process)

    def _identify(self, job: TrainingJob) -> None:
        """Who the job's code runs as (``compute.sandbox``); a refusal fails the job when it starts."""
        try:
            self.workspace.identity = self.sandbox.identity(job.project_id)
        except ModelworksError:
            self.workspace.identity = None

    def _find_process(self, job: TrainingJob) -> TaskProcess | None:
        info: ProcessInfo | None = None
        if job.pid is not None and job.pgid is not None:
            info = ProcessInfo(job.host or "", job.pid, job.pgid, job.pid_create_time or 0.0)
        elif self.workspace.process_file.is_file():
            # Started, but the worker stopped before it recorded the process in the database.
            info = ProcessInfo.from_json(self.workspace.process_file.read_text())
        if info is None:
            return None
        if info.host != hostname():
            raise RuntimeError(
                f"training job {job.id} runs on host {info.host}; a worker on that host must watch it"
            )
        process = TaskProcess(info, self.workspace.exit_file)
        if process.poll() is None:
            self.workspace.note(f"worker {self.ctx.worker_id} re-adopts the running task (pid {info.pid})")
        return process

    def _start(self, job: TrainingJob) -> TaskProcess | None:
        ready = self._prepare(job, f"on {hostname()}")
        if ready is None:
            return None
        prepared, algorithm = ready
        runtime = job.spec["runtime"]
        self.workspace.note(f"starting: {' '.join(prepared.command)}")
        process = launch(
            prepared.command,
            cwd=prepared.cwd,
            env=prepared.env,
            log_path=self.workspace.log,
            exit_file=self.workspace.exit_file,
            cpus=machine_cpus()[: runtime["cores"]],
            memory_bytes=runtime["memory_bytes"],
            identity=self.workspace.identity,
        )
        self.workspace.process_file.write_text(process.info.to_json())
        info = process.info
        self._update(
            phase=RUNNING,
            secondary_phase=RUNNING,
            start_time=now_ms(),
            algorithm=algorithm,
            pid=info.pid,
            pgid=info.pgid,
            pid_create_time=info.create_time,
        )
        return process

    def _watch(self, job: TrainingJob, process: TaskProcess) -> dict[str, Any]:
        runtime = job.spec["runtime"]
        sampler = GroupSampler(process.info.pgid, runtime["cores"], runtime["memory_bytes"])
        if process.popen is None:
            sampler.sample()  # adopted: start counting CPU time from now, not from the process's start
        auto_stop = job.spec.get("auto_stop")
        deadline = (job.start_time or now_ms()) / 1000 + auto_stop["seconds"] if auto_stop else None
        next_sample = time.monotonic() + FIRST_SAMPLE_SECONDS
        next_upload = time.monotonic() + LOG_UPLOAD_INTERVAL_SECONDS
        try:
            while True:
                ended = process.poll()
                if ended is not None:
                    return self._ended(job, process, ended)
                if deadline is not None and time.time() >= deadline:
                    assert auto_stop is not None
                    message = f"stopped by auto_stop after {auto_stop['duration']} {auto_stop['time_unit']}"
                    return self._stop(job, process, TERMINATED, message)
                now = time.monotonic()
                if now >= next_sample:
                    next_sample = now + metrics.SAMPLE_INTERVAL_SECONDS
                    self._sample(sampler)
                if now >= next_upload:
                    next_upload = now + LOG_UPLOAD_INTERVAL_SECONDS
                    self.upload_log(job)
                self.ctx.check_cancelled()
                time.sleep(POLL_SECONDS)
        except TaskCancelled as exc:
            if exc.reason == STOP_CANCEL:
                self._stop(job, process, TERMINATED, "terminated by request")
            elif exc.reason == STOP_SHUTDOWN:
                self.workspace.note(
                    "the worker is stopping; the task keeps running and the next worker adopts it"
                )
                self.upload_log(job)
            raise

    def _sample(self, sampler: GroupSampler) -> None:
        cpu, memory, rss = sampler.sample()
        with self.ctx.db.session() as s:
            metrics.record(s, self.job_id, TASK_NAME, cpu, memory, rss)

    def upload_log(self, job: TrainingJob) -> None:
        try:
            size = self.workspace.log.stat().st_size if self.workspace.log.is_file() else -1
            if size != self._uploaded_log_size:
                self.workspace.upload_log(log_store(self.ctx.store, job), log_object(job))
                self._uploaded_log_size = size
        except Exception:
            log.warning("copying the log of training job %s to storage failed", job.id, exc_info=True)

    def _ended(self, job: TrainingJob, process: TaskProcess, ended: Exit) -> dict[str, Any]:
        process.kill_leftovers()
        phase, secondary, message = describe_exit(ended.code)
        return self._finalize(job, phase, secondary, ended.code, message)

    def _stop(self, job: TrainingJob, process: TaskProcess, phase: str, message: str) -> dict[str, Any]:
        self.workspace.note(f"{message}: stopping the task's process group (SIGTERM, then SIGKILL)")
        process.stop()
        ended = process.poll()
        return self._finalize(job, phase, phase, ended.code if ended else None, message)

    def give_up(self, error: BaseException) -> None:
        """The task will not run again: stop the process group if it is here, and end the job."""
        job = self._load()
        if job is None or job.phase in TERMINAL_PHASES:
            return
        cancelled = isinstance(error, TaskCancelled)
        message = "terminated by request" if cancelled else f"the job's worker gave up: {error}"
        if job.pid is not None and job.pgid is not None:
            if job.host == hostname():
                info = ProcessInfo(job.host, job.pid, job.pgid, job.pid_create_time or 0.0)
                process = TaskProcess(info, self.workspace.exit_file)
                if process.poll() is None:
                    process.stop()
            else:
                message += f"; its process on host {job.host} (pid {job.pid}) may still be running"
        phase = TERMINATED if cancelled else FAILED
        self._finalize(job, phase, LOST if isinstance(error, WorkerDied) else phase, None, message)
