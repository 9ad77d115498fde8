"""Keeping one service's instances as its configuration says, for as long as this host holds its lease.

A ``ServiceKeeper`` runs in a thread of the supervisor (``supervisor.py``) and loops on its service:

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

When the server stops, the keeper just returns: the instances keep running and the next supervisor on
this host adopts them (pid checked by start time), or restarts those that died meanwhile.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update

from modelworks.compute.flavors import machine_cpus
from modelworks.compute.processes import GroupSampler, TaskProcess
from modelworks.compute.sandbox import sandbox_for
from modelworks.db import Database
from modelworks.db.base import new_short_id, now_ms
from modelworks.errors import ModelworksError
from modelworks.serving import events, instances
from modelworks.serving.batch import run_batch
from modelworks.serving.configs import schedule_seconds
from modelworks.serving.specs import Spec
from modelworks.serving.status import (
    BATCH,
    CONCERNING,
    DELETING,
    DEPLOYING,
    FAILED,
    FINISHED,
    INSTANCE_FAILED,
    INSTANCE_RUNNING,
    INSTANCE_STARTING,
    RUNNING,
    STOPPED,
    STOPPING,
    SUPERVISED,
    UPDATE_FAIL,
    UPDATE_SUCCESS,
)
from modelworks.serving.tables import InferenceService, ServiceInstance
from modelworks.settings import Settings
from modelworks.storage import ObjectStore

log = logging.getLogger(__name__)

POLL_SECONDS = 0.2
LEASE_BEAT_SECONDS = 2.0
SAMPLE_SECONDS = 5.0
MAX_RESTART_DELAY_SECONDS = 30.0


class LeaseLost(Exception):
    """Another supervisor owns the service now: leave its processes alone."""


@dataclass
class SupervisorContext:
    """What every keeper of one supervisor shares."""

    db: Database
    store: ObjectStore
    settings: Settings
    supervisor_id: str
    host: str
    shutdown: threading.Event


def _label(entry: dict[str, Any]) -> str:
    return f"[{entry.get('model_name', '')} {entry.get('model_version', '')}]".replace("  ", " ")


def _spec(entry: dict[str, Any]) -> Spec:
    return Spec(entry["specification"], float(entry["cpu"]), int(entry["memory_bytes"]))


class ServiceKeeper:
    """See the module docstring. ``run`` returns once the service needs no supervision here."""

    def __init__(self, ctx: SupervisorContext, service_id: str):
        self.ctx = ctx
        self.service_id = service_id
        self.home = ctx.settings.sandbox_root
        """Where the service's files are: the sandbox root (``compute.sandbox``), not the server's home."""
        self.sandbox = sandbox_for(ctx.settings)
        self.processes: dict[str, TaskProcess] = {}
        self.samplers: dict[str, GroupSampler] = {}
        self.restart_at: dict[str, float] = {}
        self.failures: dict[str, int] = {}
        self.adopted: set[str] = set()
        self._last_beat = 0.0
        self._last_sample = time.monotonic()
        self._cpus = len(machine_cpus())

    # -- loop ------------------------------------------------------------------------------------------

    def run(self) -> None:
        try:
            while not self.ctx.shutdown.is_set():
                if self.step():
                    return
                self.ctx.shutdown.wait(POLL_SECONDS)
        except LeaseLost:
            log.info("service %s is supervised elsewhere now", self.service_id)
        except Exception:
            log.exception("the keeper of service %s failed; the supervisor starts a new one", self.service_id)

    def step(self) -> bool:
        """One look at the service; True when this keeper is done with it."""
        # Read-only: on SQLite a writing session would take the write lock several times a second.
        with self.ctx.db.session(readonly=True) as s:
            service = s.get(InferenceService, self.service_id)
            if service is None:
                self._kill_known()
                return True
            if service.supervisor_id != self.ctx.supervisor_id:
                raise LeaseLost()
            rows = list(
                s.scalars(select(ServiceInstance).where(ServiceInstance.service_id == self.service_id))
            )
        self._beat()
        if service.status == DELETING:
            self._delete(rows)
            return True
        if service.status == STOPPING:
            self._stop_all(rows)
            with self.ctx.db.session() as s:
                events.close_updates(s, self.service_id, UPDATE_FAIL)
            self._set(
                status=STOPPED,
                progress=0,
                due_time=None,
                previous_config=None,
                event="service stopped",
                only_from=(STOPPING,),
            )
            return True
        if service.status not in SUPERVISED:
            self._stop_all(rows)
            return True
        self._reconcile(service, rows)
        if service.infer_type == BATCH:
            return self._maybe_run_batch()
        return False

    def _beat(self) -> None:
        if time.monotonic() - self._last_beat < LEASE_BEAT_SECONDS:
            return
        with self.ctx.db.session() as s:
            done = s.execute(
                update(InferenceService)
                .where(
                    InferenceService.id == self.service_id,
                    InferenceService.supervisor_id == self.ctx.supervisor_id,
                )
                .values(supervisor_beat=now_ms())
            )
        if done.rowcount == 0:  # type: ignore[attr-defined]
            raise LeaseLost()
        self._last_beat = time.monotonic()

    # -- rows ------------------------------------------------------------------------------------------

    def _set(
        self,
        *,
        event: str | None = None,
        abnormal: bool = False,
        only_from: tuple[str, ...] | None = None,
        **values: Any,
    ) -> None:
        """Update the service row (and add an event) in one transaction; with ``only_from``, only while
        its status is one of those (a request may have changed it since this keeper looked)."""
        with self.ctx.db.session() as s:
            service = s.get(InferenceService, self.service_id, with_for_update=True)
            if service is None or (only_from is not None and service.status not in only_from):
                return
            if "status" in values and values["status"] != service.status:
                service.transition_at = now_ms()
            for key, value in values.items():
                setattr(service, key, value)
            if event:
                events.record(s, self.service_id, event, abnormal=abnormal)

    def _event(self, info: str, *, abnormal: bool = False) -> None:
        with self.ctx.db.session() as s:
            events.record(s, self.service_id, info, abnormal=abnormal)

    def _update_instance(self, instance_id: str, **values: Any) -> None:
        with self.ctx.db.session() as s:
            row = s.get(ServiceInstance, instance_id, with_for_update=True)
            if row is not None:
                for key, value in values.items():
                    setattr(row, key, value)

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
                    self._event(
                        f"instance {row.id} (pid {process.info.pid}) re-adopted after a server restart"
                    )
        return process

    def _start(self, service: InferenceService, entry: dict[str, Any], row: ServiceInstance) -> None:
        label = _label(entry)
        model_dir = instances.package_dir(self.home, self.service_id, entry["model_id"])
        identity = self.sandbox.identity(service.project_id)  # the model's code runs as the project's user
        self.sandbox.server_dir(instances.service_dir(self.home, self.service_id))
        if not model_dir.is_dir():
            self._event(f"{label} preparing environment")
            copied = instances.fetch_package(
                self.ctx.store, entry["package"], model_dir, self.sandbox, identity
            )
            self._event(f"{label} prepare environment success ({copied} files)")
        process = instances.start(
            self._files(row.id),
            model_dir,
            entry.get("model_name", ""),
            _spec(entry),
            row.slot,
            entry.get("envs") or {},
            self.sandbox,
            identity,
        )
        self.processes[row.id] = process
        self.samplers.pop(row.id, None)
        self._update_instance(
            row.id,
            status=INSTANCE_STARTING,
            port=None,
            started_at=now_ms(),
            message="",
            **instances.process_fields(process),
        )
        self._set(
            host=self.ctx.host,
            event=f"{label} starting model instance {row.slot} ({row.id}, pid {process.info.pid})",
        )

    def _stop(self, row: ServiceInstance) -> None:
        process = self.processes.pop(row.id, None) or instances.adopt(row, self._files(row.id))
        if process is not None:
            process.stop(instances.STOP_GRACE_SECONDS)
        self.samplers.pop(row.id, None)

    def _mark_deployment_failed(self, message: str) -> None:
        """A service still deploying ends ``failed`` with ``message`` (its instances already stopped)."""
        with self.ctx.db.session() as s:
            current = s.get(InferenceService, self.service_id, with_for_update=True)
            if current is not None and current.status == DEPLOYING:
                current.status, current.progress = FAILED, 0
                current.error_msg, current.transition_at = message, now_ms()
                current.previous_config = None
                events.close_updates(s, self.service_id, UPDATE_FAIL)
                events.record(s, self.service_id, message, abnormal=True)
                events.record(s, self.service_id, "service deployment failed", abnormal=True)

    def _stop_all(self, rows: list[ServiceInstance]) -> None:
        """Stop the instances' process groups, then forget them (rows and files)."""
        if rows:
            with ThreadPoolExecutor(max_workers=min(8, len(rows))) as pool:
                list(pool.map(self._stop, rows))
        for row in rows:
            shutil.rmtree(self._files(row.id).root, ignore_errors=True)
        with self.ctx.db.session() as s:
            for row in rows:
                found = s.get(ServiceInstance, row.id)
                if found is not None:
                    s.delete(found)

    def _kill_known(self) -> None:
        for process in self.processes.values():
            process.stop(instances.STOP_GRACE_SECONDS)
        self.processes.clear()

    def _delete(self, rows: list[ServiceInstance]) -> None:
        self._stop_all(rows)
        # Files first: a keeper that dies here finds the row again and finishes the deletion.
        shutil.rmtree(instances.service_dir(self.home, self.service_id), ignore_errors=True)
        with self.ctx.db.session() as s:
            service = s.get(InferenceService, self.service_id)
            if service is not None:
                s.delete(service)

    # -- reconciling -----------------------------------------------------------------------------------

    def _reconcile(self, service: InferenceService, rows: list[ServiceInstance]) -> None:
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
            self._stop_all(retire)
            for row in retire:
                self._event(
                    f"instance {row.id} of model {row.model_id} stopped (no longer in the configuration)"
                )
        self._settle(service, current, ready, wanted, bool(stale) and len(retire) < len(stale))
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
        label = _label(entry)
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
            self._update_instance(
                row.id, status=INSTANCE_FAILED, port=None, pid=None, pgid=None, message=cause
            )
            row.status = INSTANCE_FAILED
            self._event(
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
            self._update_instance(row.id, status=INSTANCE_RUNNING, port=port, ready_at=now_ms(), message="")
            row.status, row.port = INSTANCE_RUNNING, port
            self.failures.pop(row.id, None)
            self._event(f"{label} instance {row.id} is running (port {port})")
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
        label = _label(entry)
        self.processes.pop(row.id, None)
        message = f"{label} failed to start model instance {row.id}: {cause}"
        previous = service.previous_config
        if previous is not None and row.revision not in {e["revision"] for e in previous}:
            self._update_instance(row.id, status=INSTANCE_FAILED, message=cause, pid=None, pgid=None)
            with self.ctx.db.session() as s:
                current = s.get(InferenceService, self.service_id, with_for_update=True)
                if current is not None:
                    current.config, current.previous_config = previous, None
                    events.close_updates(s, self.service_id, UPDATE_FAIL)
                    events.record(s, self.service_id, f"{message}; the update is rolled back", abnormal=True)
            return "rolled back"
        if service.status == DEPLOYING and row.ready_at is None:
            with self.ctx.db.session() as s:
                rows = list(
                    s.scalars(select(ServiceInstance).where(ServiceInstance.service_id == self.service_id))
                )
            self._stop_all(rows)
            self._mark_deployment_failed(message)
            return "failed"
        failures = self.failures.get(row.id, 0) + 1
        self.failures[row.id] = failures
        delay = min(MAX_RESTART_DELAY_SECONDS, 2.0 ** (failures - 1))
        self.restart_at[row.id] = time.monotonic() + delay
        self._update_instance(row.id, status=INSTANCE_FAILED, message=cause, pid=None, pgid=None)
        row.status = INSTANCE_FAILED
        self._event(f"{message}; retrying in {delay:g} s", abnormal=True)
        return None

    def _settle(
        self,
        service: InferenceService,
        current: list[ServiceInstance],
        ready: list[ServiceInstance],
        wanted: set[tuple[str, int]],
        retiring: bool,
    ) -> None:
        """The service's status and progress from its instances; finish deployments and updates."""
        all_ready = len(ready) == len(wanted) and not retiring
        if service.status == DEPLOYING:
            if all_ready:
                due = schedule_seconds(service.schedule or [])
                with self.ctx.db.session() as s:
                    row = s.get(InferenceService, self.service_id, with_for_update=True)
                    if row is None or row.status != DEPLOYING:
                        return
                    row.status, row.progress, row.transition_at = RUNNING, 100, now_ms()
                    row.error_msg = ""
                    row.start_time = now_ms() if row.infer_type == BATCH else row.start_time
                    row.due_time = now_ms() + due * 1000 if due else None
                    events.close_updates(s, self.service_id, UPDATE_SUCCESS)
                    events.record(s, self.service_id, "service is running")
            else:
                progress = int(99 * len(ready) / max(1, len(wanted)))
                if progress != service.progress:
                    self._set(progress=progress)
            return
        was_ready_down = any(r.status != INSTANCE_RUNNING and r.ready_at is not None for r in current)
        if service.status == RUNNING and was_ready_down:
            self._set(
                status=CONCERNING, event="some instances are not running", abnormal=True, only_from=(RUNNING,)
            )
        elif service.status == CONCERNING and not was_ready_down:
            self._set(status=RUNNING, event="all instances are running again", only_from=(CONCERNING,))
        if service.previous_config is not None and all_ready:
            with self.ctx.db.session() as s:
                row = s.get(InferenceService, self.service_id, with_for_update=True)
                if row is not None:
                    row.previous_config = None
                    events.close_updates(s, self.service_id, UPDATE_SUCCESS)
                    events.record(s, self.service_id, "service updated")
        if service.due_time and now_ms() >= service.due_time and service.status in (RUNNING, CONCERNING):
            self._set(
                status=STOPPING,
                event="stopping the service as its schedule says",
                only_from=(RUNNING, CONCERNING),
            )

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
            self._stop_all(rows)
            self._set(
                status=FAILED,
                error_msg=message,
                event=f"batch inference failed: {message}",
                abnormal=True,
                only_from=(RUNNING,),
            )
            return True
        if summary is None:  # stopped, deleted or shutting down meanwhile: the next step settles it
            return False
        self._stop_all(rows)
        self._set(status=FINISHED, progress=100, finished_time=now_ms(), event=summary, only_from=(RUNNING,))
        return True
