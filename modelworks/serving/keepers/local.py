"""Keeping a service as model-server processes of this host (``instances.py``), one per instance.

* **deploy / start** (``deploying``): copy each model's package, start ``instance_count`` model servers
  per model, and once all answer their health check the service is ``running``. An instance that
  exits before it is ready (the package does not load) fails the service with the cause in its
  events and ``error_msg``; so does one not ready within ``deploy_timeout_in_seconds``.
* **watch** (``running``): an instance that exits is restarted at once (then with a growing delay if
  it keeps failing), each time with an abnormal event; the service is ``concerning`` meanwhile.
* **update**: instances whose config entry changed (model, size, envs) are replaced rolling: the new
  ones start beside the old ones, which are stopped once every new one is ready. If a new one cannot
  load, the update is rolled back (its update log ends FAIL) and the old instances keep serving.
  Scaling adds or stops instances of an unchanged entry without touching the others.
* **stop / delete**: stop every process group (SIGTERM, then SIGKILL), then mark the service
  ``stopped`` or delete its rows and files.
* **batch**: once a batch service's instances run, its inputs are inferred (``batch.py``), its
  instances stopped, and it ends ``finished`` (or ``failed``).

When the server stops, the processes keep running and the next supervisor on this host adopts them
(pid checked by start time), or restarts those that died meanwhile.
"""

from __future__ import annotations

import logging
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import select

from modelworks.compute.flavors import machine_cpus
from modelworks.compute.processes import GroupSampler, TaskProcess
from modelworks.compute.sandbox import sandbox_for
from modelworks.db.base import new_short_id, now_ms
from modelworks.errors import ModelworksError
from modelworks.serving import instances
from modelworks.serving.keepers.base import (
    KeeperBackend,
    ServiceKeeper,
    SupervisorContext,
    entry_label,
    entry_spec,
    retry_delay,
)
from modelworks.serving.keepers.batch import run_batch
from modelworks.serving.status import (
    BATCH,
    DEPLOYING,
    FAILED,
    FINISHED,
    INSTANCE_FAILED,
    INSTANCE_RUNNING,
    INSTANCE_STARTING,
    RUNNING,
)
from modelworks.serving.tables import InferenceService, ServiceInstance
from modelworks.settings import Settings

log = logging.getLogger(__name__)

SAMPLE_SECONDS = 5.0


class LocalServiceKeeper(ServiceKeeper):
    """See the module docstring."""

    def __init__(self, ctx: SupervisorContext, service_id: str):
        super().__init__(ctx, service_id)
        self.sandbox = sandbox_for(ctx.settings)
        self.processes: dict[str, TaskProcess] = {}
        self.samplers: dict[str, GroupSampler] = {}
        self.restart_at: dict[str, float] = {}
        self.failures: dict[str, int] = {}
        self.adopted: set[str] = set()
        self._last_sample = time.monotonic()
        self._cpus = len(machine_cpus())

    # -- instances -------------------------------------------------------------------------------------

    def _files(self, instance_id: str) -> instances.InstanceFiles:
        return instances.instance_files(self.home, self.service_id, instance_id)

    def _process(self, row: ServiceInstance) -> TaskProcess | None:
        process = self.processes.get(row.id)
        if process is None:
            process = instances.adopt(row, self._files(row.id))
            if process is not None:
                self.processes[row.id] = process
                if process.poll() is None and row.id not in self.adopted:
                    self.adopted.add(row.id)
                    self.event(
                        f"instance {row.id} (pid {process.info.pid}) re-adopted after a server restart"
                    )
        return process

    def _start(self, service: InferenceService, entry: dict[str, Any], row: ServiceInstance) -> None:
        label = entry_label(entry)
        model_dir = instances.package_dir(self.home, self.service_id, entry["model_id"])
        identity = self.sandbox.identity(service.project_id)  # the model's code runs as the project's user
        self.sandbox.server_dir(instances.service_dir(self.home, self.service_id))
        if not model_dir.is_dir():
            self.event(f"{label} preparing environment")
            copied = instances.fetch_package(
                self.ctx.store, entry["package"], model_dir, self.sandbox, identity
            )
            self.event(f"{label} prepare environment success ({copied} files)")
        process = instances.start(
            self._files(row.id),
            model_dir,
            entry.get("model_name", ""),
            entry_spec(entry),
            row.slot,
            entry.get("envs") or {},
            self.sandbox,
            identity,
        )
        self.processes[row.id] = process
        self.samplers.pop(row.id, None)
        self.update_instance(
            row.id,
            status=INSTANCE_STARTING,
            port=None,
            started_at=now_ms(),
            message="",
            **instances.process_fields(process),
        )
        self.update_service(
            host=self.ctx.host,
            event=f"{label} starting model instance {row.slot} ({row.id}, pid {process.info.pid})",
        )

    def _stop(self, row: ServiceInstance) -> None:
        process = self.processes.pop(row.id, None) or instances.adopt(row, self._files(row.id))
        if process is not None:
            process.stop(instances.STOP_GRACE_SECONDS)
        self.samplers.pop(row.id, None)

    def stop_all(self, rows: list[ServiceInstance]) -> None:
        """Stop the instances' process groups, then forget them (rows and files)."""
        if rows:
            with ThreadPoolExecutor(max_workers=min(8, len(rows))) as pool:
                list(pool.map(self._stop, rows))
        for row in rows:
            shutil.rmtree(self._files(row.id).root, ignore_errors=True)
        self.forget(rows)

    def kill_known(self) -> None:
        for process in self.processes.values():
            process.stop(instances.STOP_GRACE_SECONDS)
        self.processes.clear()

    # -- reconciling -----------------------------------------------------------------------------------

    def reconcile(self, service: InferenceService, rows: list[ServiceInstance]) -> None:
        entries = {e["revision"]: e for e in service.config}
        wanted = {(e["revision"], slot) for e in service.config for slot in range(e["instance_count"])}
        current = [r for r in rows if (r.revision, r.slot) in wanted]
        for row in current:
            outcome = self._observe(service, entries[row.revision], row)
            if outcome is not None:
                return  # the service failed or an update was rolled back: look again from the top
        present = {(r.revision, r.slot) for r in current}
        for revision, slot in sorted(wanted - present):
            row = ServiceInstance(
                id=new_short_id(12),
                service_id=self.service_id,
                model_id=entries[revision]["model_id"],
                revision=revision,
                slot=slot,
                status=INSTANCE_STARTING,
            )
            with self.ctx.db.session() as s:
                s.add(row)
            current.append(row)
            if not self._start_or_fail(service, entries[revision], row):
                return
        ready = [r for r in current if r.status == INSTANCE_RUNNING]
        stale = [r for r in rows if (r.revision, r.slot) not in wanted]
        # Scaled-down slots of an unchanged entry go at once; replaced entries once their successors serve.
        retire = [r for r in stale if r.revision in entries or len(ready) == len(wanted)]
        if retire:
            self.stop_all(retire)
            for row in retire:
                self.event(
                    f"instance {row.id} of model {row.model_id} stopped (no longer in the configuration)"
                )
        self.settle(service, current, ready, wanted, bool(stale) and len(retire) < len(stale))
        self._sample(current)

    def _start_or_fail(self, service: InferenceService, entry: dict[str, Any], row: ServiceInstance) -> bool:
        try:
            self._start(service, entry, row)
        except (ModelworksError, OSError) as exc:
            cause = exc.message if isinstance(exc, ModelworksError) else str(exc)
            self._load_failed(service, entry, row, f"the model package cannot be prepared: {cause}")
            return False
        return True

    def _observe(self, service: InferenceService, entry: dict[str, Any], row: ServiceInstance) -> str | None:
        """Follow one wanted instance; returns a word when the service itself changed."""
        label = entry_label(entry)
        process = self._process(row)
        if process is None:
            if time.monotonic() >= self.restart_at.get(row.id, 0.0):
                return None if self._start_or_fail(service, entry, row) else "failed"
            return None
        ended = process.poll()
        if row.status == INSTANCE_RUNNING:
            if ended is None:
                return None
            process.kill_leftovers()
            cause = instances.exit_cause(self._files(row.id), ended.code)
            self.processes.pop(row.id, None)
            self.failures[row.id] = self.failures.get(row.id, 0) + 1
            self.update_instance(
                row.id, status=INSTANCE_FAILED, port=None, pid=None, pgid=None, message=cause
            )
            row.status = INSTANCE_FAILED
            self.event(
                f"{label} instance {row.id} stopped unexpectedly ({cause}); restarting it", abnormal=True
            )
            return None if self._start_or_fail(service, entry, row) else "failed"
        if row.status == INSTANCE_FAILED:
            if ended is None:
                process.stop(instances.STOP_GRACE_SECONDS)
            self.processes.pop(row.id, None)
            if time.monotonic() >= self.restart_at.get(row.id, 0.0):
                return None if self._start_or_fail(service, entry, row) else "failed"
            return None
        # Starting: ready, still loading, failed to load, or out of time.
        if ended is not None:
            process.kill_leftovers()
            cause = instances.exit_cause(self._files(row.id), ended.code)
            return self._load_failed(service, entry, row, cause)
        port = instances.ready_port(self._files(row.id))
        if port is not None and instances.healthy(port):
            self.update_instance(row.id, status=INSTANCE_RUNNING, port=port, ready_at=now_ms(), message="")
            row.status, row.port = INSTANCE_RUNNING, port
            self.failures.pop(row.id, None)
            self.event(f"{label} instance {row.id} is running (port {port})")
            return None
        started = (row.started_at or now_ms()) / 1000
        if time.time() - started > entry.get("deploy_timeout_in_seconds", 1200):
            process.stop(instances.STOP_GRACE_SECONDS)
            cause = f"the model was not ready within {entry['deploy_timeout_in_seconds']} s"
            return self._load_failed(service, entry, row, cause)
        return None

    def _load_failed(
        self, service: InferenceService, entry: dict[str, Any], row: ServiceInstance, cause: str
    ) -> str | None:
        """An instance could not load: fail the deployment, roll the update back, or retry later."""
        self.processes.pop(row.id, None)
        message = f"{entry_label(entry)} failed to start model instance {row.id}: {cause}"
        previous = service.previous_config
        if previous is not None and row.revision not in {e["revision"] for e in previous}:
            self.update_instance(row.id, status=INSTANCE_FAILED, message=cause, pid=None, pgid=None)
            self.roll_back(previous, message)
            return "rolled back"
        if service.status == DEPLOYING and row.ready_at is None:
            self.stop_all(self.instance_rows())
            self.fail_deployment(message)
            return "failed"
        failures = self.failures.get(row.id, 0) + 1
        self.failures[row.id] = failures
        delay = retry_delay(failures)
        self.restart_at[row.id] = time.monotonic() + delay
        self.update_instance(row.id, status=INSTANCE_FAILED, message=cause, pid=None, pgid=None)
        row.status = INSTANCE_FAILED
        self.event(f"{message}; retrying in {delay:g} s", abnormal=True)
        return None

    def _sample(self, current: list[ServiceInstance]) -> None:
        if time.monotonic() - self._last_sample < SAMPLE_SECONDS:
            return
        self._last_sample = time.monotonic()
        samples: dict[str, tuple[float, int]] = {}
        for row in current:
            process = self.processes.get(row.id)
            if process is None or row.status != INSTANCE_RUNNING:
                continue
            sampler = self.samplers.get(row.id)
            if sampler is None:
                sampler = self.samplers[row.id] = GroupSampler(process.info.pgid, self._cpus, 1)
                sampler.sample()  # start counting CPU time from now
                continue
            cpu_percent, _, rss = sampler.sample()
            samples[row.id] = (round(cpu_percent * self._cpus / 100, 3), rss)
        if samples:
            with self.ctx.db.session() as s:
                for instance_id, (cores, rss) in samples.items():
                    found = s.get(ServiceInstance, instance_id)
                    if found is not None:
                        found.cpu_usage, found.memory_bytes = cores, rss

    # -- batch -----------------------------------------------------------------------------------------

    def done(self, service: InferenceService) -> bool:
        """A batch service is done once its inputs were inferred (or its inference failed)."""
        return service.infer_type == BATCH and self._maybe_run_batch()

    def _maybe_run_batch(self) -> bool:
        """Once a batch service's instances run: infer its inputs, stop them, end ``finished``."""
        with self.ctx.db.session(readonly=True) as s:
            service = s.get(InferenceService, self.service_id)
            rows = list(
                s.scalars(select(ServiceInstance).where(ServiceInstance.service_id == self.service_id))
            )
        if service is None or service.status != RUNNING:
            return False
        ports = [r.port for r in rows if r.status == INSTANCE_RUNNING and r.port]
        try:
            summary = run_batch(self.ctx, service, ports)
        except Exception as exc:  # any failure ends the batch: running it again would fail the same way
            message = exc.message if isinstance(exc, ModelworksError) else f"{type(exc).__name__}: {exc}"
            log.warning("batch service %s failed: %s", self.service_id, message, exc_info=True)
            self.stop_all(rows)
            self.update_service(
                status=FAILED,
                error_msg=message,
                event=f"batch inference failed: {message}",
                abnormal=True,
                only_from=(RUNNING,),
            )
            return True
        if summary is None:  # stopped, deleted or shutting down meanwhile: the next step settles it
            return False
        self.stop_all(rows)
        self.update_service(
            status=FINISHED, progress=100, finished_time=now_ms(), event=summary, only_from=(RUNNING,)
        )
        return True


class LocalKeeperBackend(KeeperBackend):
    """Every service as model-server processes of this host (``LocalServiceKeeper``)."""

    def __init__(self, settings: Settings):
        self.settings = settings

    def keeper(self, ctx: SupervisorContext, service_id: str) -> ServiceKeeper:
        return LocalServiceKeeper(ctx, service_id)
