"""What every keeper shares: the loop on one service, its lease, its rows, and how a service settles.

A ``ServiceKeeper`` runs in a thread of the supervisor (``supervisor.py``) and looks at its service
every ``POLL_SECONDS`` for as long as this host holds the service's lease (renewed every
``LEASE_BEAT_SECONDS``):

* a service in a supervised status (``deploying``, ``running``, ``concerning``) is **reconciled**: its
  instances are brought in line with its configuration (``reconcile``), then its status and progress
  follow from its instances (``settle``): ``running`` once every instance runs, ``concerning`` while
  some that ran do not, the update log closed once an update's instances all run;
* a ``stopping`` service has its instances stopped (``stop_all``) and ends ``stopped``; a ``deleting``
  one also loses its files and rows;
* a service that vanished has whatever this keeper started stopped (``kill_known``).

How instances run is the subclass's: ``keepers.local`` starts model-server processes on this host,
``keepers.ray`` deploys Ray Serve applications. Each compute backend has one ``KeeperBackend`` per
supervisor, which makes the keepers and holds what they share; ``keepers.backends`` registers them
under ``compute_backend(settings)``'s names.

When the server stops, a keeper just returns: its instances keep running and the next supervisor on
this host adopts them.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update

from modelworks.db import Database
from modelworks.db.base import now_ms
from modelworks.serving import events, instances
from modelworks.serving.configs import schedule_seconds
from modelworks.serving.specs import Spec
from modelworks.serving.status import (
    BATCH,
    CONCERNING,
    DELETING,
    DEPLOYING,
    FAILED,
    INSTANCE_RUNNING,
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
MAX_RESTART_DELAY_SECONDS = 30.0


class LeaseLost(Exception):
    """Another supervisor owns the service now: leave its instances alone."""


@dataclass
class SupervisorContext:
    """What every keeper of one supervisor shares."""

    db: Database
    store: ObjectStore
    settings: Settings
    supervisor_id: str
    host: str
    shutdown: threading.Event


def entry_label(entry: dict[str, Any]) -> str:
    """``[name version]``: how events name a model entry of the configuration."""
    return f"[{entry.get('model_name', '')} {entry.get('model_version', '')}]".replace("  ", " ")


def entry_spec(entry: dict[str, Any]) -> Spec:
    """The specification (name, cores, memory) a model entry's instances run with."""
    return Spec(entry["specification"], float(entry["cpu"]), int(entry["memory_bytes"]))


def retry_delay(failures: int) -> float:
    """Seconds before starting again what failed ``failures`` times in a row (1, 2, 4 ... 30)."""
    return min(MAX_RESTART_DELAY_SECONDS, 2.0 ** (failures - 1))


class ServiceKeeper(ABC):
    """Keeps one service's instances as its configuration says (see the module docstring); ``run``
    returns once the service needs no supervision here."""

    def __init__(self, ctx: SupervisorContext, service_id: str):
        self.ctx = ctx
        self.service_id = service_id
        self.home = ctx.settings.sandbox_root
        """Where the service's files are: the sandbox root (``compute.sandbox``), not the server's home."""
        self._last_beat = 0.0

    # -- hooks -----------------------------------------------------------------------------------------

    @abstractmethod
    def reconcile(self, service: InferenceService, rows: list[ServiceInstance]) -> None:
        """Bring the service's instances in line with its configuration, then ``settle`` it.

        Called at every step while the service is supervised, with its row and its instances' rows as
        read at the start of the step. Starts missing instances, follows starting and running ones
        (failing the deployment, rolling an update back or retrying later when one cannot run) and
        retires those no longer configured."""

    @abstractmethod
    def stop_all(self, rows: list[ServiceInstance]) -> None:
        """Stop every instance of the service (those of ``rows``, and any this keeper knows of), then
        delete ``rows``. Called when the service is stopped, deleted or no longer supervised."""

    @abstractmethod
    def kill_known(self) -> None:
        """Stop what this keeper started or adopted; called when the service's row is gone."""

    def done(self, service: InferenceService) -> bool:
        """Called after each ``reconcile``: True when this keeper is done with the service (a batch
        service whose inference finished, say). Does nothing by default."""
        return False

    # -- loop ------------------------------------------------------------------------------------------

    def run(self) -> None:
        """The keeper's thread: ``step`` until done, the lease is lost or the server stops."""
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
        """One look at the service; True when this keeper is done with it. A subclass may wrap it (to
        wait out errors of its backend)."""
        # Read-only: on SQLite a writing session would take the write lock several times a second.
        with self.ctx.db.session(readonly=True) as s:
            service = s.get(InferenceService, self.service_id)
            if service is None:
                self.kill_known()
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
            self.stop_all(rows)
            with self.ctx.db.session() as s:
                events.close_updates(s, self.service_id, UPDATE_FAIL)
            self.update_service(
                status=STOPPED,
                progress=0,
                due_time=None,
                previous_config=None,
                event="service stopped",
                only_from=(STOPPING,),
            )
            return True
        if service.status not in SUPERVISED:
            self.stop_all(rows)
            return True
        self.reconcile(service, rows)
        return self.done(service)

    def _beat(self) -> None:
        """Renew the lease every ``LEASE_BEAT_SECONDS``; ``LeaseLost`` once another supervisor holds it."""
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

    def _delete(self, rows: list[ServiceInstance]) -> None:
        """A ``deleting`` service: stop its instances, then remove its files and its row."""
        self.stop_all(rows)
        # Files first: a keeper that dies here finds the row again and finishes the deletion.
        shutil.rmtree(instances.service_dir(self.home, self.service_id), ignore_errors=True)
        with self.ctx.db.session() as s:
            service = s.get(InferenceService, self.service_id)
            if service is not None:
                s.delete(service)

    # -- rows ------------------------------------------------------------------------------------------

    def update_service(
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

    def event(self, info: str, *, abnormal: bool = False) -> None:
        """Add an event to the service's event log."""
        with self.ctx.db.session() as s:
            events.record(s, self.service_id, info, abnormal=abnormal)

    def update_instance(self, instance_id: str, **values: Any) -> None:
        """Set fields of one instance row (if it still exists)."""
        with self.ctx.db.session() as s:
            row = s.get(ServiceInstance, instance_id, with_for_update=True)
            if row is not None:
                for key, value in values.items():
                    setattr(row, key, value)

    def instance_rows(self, revision: str | None = None) -> list[ServiceInstance]:
        """The service's instance rows as stored now (those of one model entry's ``revision``)."""
        with self.ctx.db.session(readonly=True) as s:
            query = select(ServiceInstance).where(ServiceInstance.service_id == self.service_id)
            if revision is not None:
                query = query.where(ServiceInstance.revision == revision)
            return list(s.scalars(query))

    def forget(self, rows: list[ServiceInstance]) -> None:
        """Delete instance rows (their instances already stopped)."""
        if not rows:
            return
        with self.ctx.db.session() as s:
            for row in rows:
                found = s.get(ServiceInstance, row.id)
                if found is not None:
                    s.delete(found)

    # -- outcomes --------------------------------------------------------------------------------------

    def fail_deployment(self, message: str) -> None:
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

    def roll_back(self, previous: list[dict[str, Any]], message: str) -> None:
        """An update cannot run: the configuration before it again, its update log ``FAIL`` and
        ``message`` in the events."""
        with self.ctx.db.session() as s:
            current = s.get(InferenceService, self.service_id, with_for_update=True)
            if current is not None:
                current.config, current.previous_config = previous, None
                events.close_updates(s, self.service_id, UPDATE_FAIL)
                events.record(s, self.service_id, f"{message}; the update is rolled back", abnormal=True)

    def settle(
        self,
        service: InferenceService,
        current: list[ServiceInstance],
        ready: list[ServiceInstance],
        wanted: set[tuple[str, int]],
        retiring: bool,
    ) -> None:
        """The service's status and progress from its instances; finish deployments and updates.

        ``current``: the rows of the configured (revision, slot) pairs ``wanted``; ``ready``: those
        running; ``retiring``: instances no longer configured still wait to be retired."""
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
                    self.update_service(progress=progress)
            return
        was_ready_down = any(r.status != INSTANCE_RUNNING and r.ready_at is not None for r in current)
        if service.status == RUNNING and was_ready_down:
            self.update_service(
                status=CONCERNING, event="some instances are not running", abnormal=True, only_from=(RUNNING,)
            )
        elif service.status == CONCERNING and not was_ready_down:
            self.update_service(
                status=RUNNING, event="all instances are running again", only_from=(CONCERNING,)
            )
        if service.previous_config is not None and all_ready:
            with self.ctx.db.session() as s:
                row = s.get(InferenceService, self.service_id, with_for_update=True)
                if row is not None:
                    row.previous_config = None
                    events.close_updates(s, self.service_id, UPDATE_SUCCESS)
                    events.record(s, self.service_id, "service updated")
        if service.due_time and now_ms() >= service.due_time and service.status in (RUNNING, CONCERNING):
            self.update_service(
                status=STOPPING,
                event="stopping the service as its schedule says",
                only_from=(RUNNING, CONCERNING),
            )


class KeeperBackend(ABC):
    """Where one supervisor's services run (model-server processes of this host, Ray Serve ...).

    Made once per supervisor from the settings by the entry of ``keepers.backends`` that
    ``compute_backend(settings)`` names; it makes each claimed service's keeper and holds what those
    keepers share (a connection to a cluster, say)."""

    @abstractmethod
    def keeper(self, ctx: SupervisorContext, service_id: str) -> ServiceKeeper:
        """The keeper for a service the supervisor just claimed; its ``run`` goes to a thread."""

    def close(self) -> None:  # noqa: B027 (optional hook)
        """Let go of what the keepers shared; called once when the server stops, after every keeper
        returned (the services keep running for the next server). Nothing to release by default."""
