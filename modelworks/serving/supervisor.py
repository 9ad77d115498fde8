"""The service supervisor: one thread per server that claims services and runs a keeper for each.

A service that needs processes started, watched or stopped (status ``deploying``, ``running``,
``concerning``, ``stopping`` or ``deleting``) is claimed with a lease (``supervisor_id`` +
``supervisor_beat``) by exactly one supervisor, on the host its instances run on (any host for a
service that has none yet). The lease is renewed by the service's keeper; it is free again when its
supervisor stops (released at shutdown), when its beat is older than ``LEASE_STALE_SECONDS``, or at
once when the supervisor's process on this host is gone. Several servers may share one database.

Each claimed service gets its keeper from the supervisor's ``KeeperBackend`` (``keepers``): the local
one runs model-server processes on this host; with a Ray address, real-time services are kept as
Ray Serve applications (batch services still run local model servers).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable

import psutil
from sqlalchemy import or_, select, update

from modelworks.compute.processes import hostname
from modelworks.db import Database
from modelworks.db.base import new_short_id, now_ms
from modelworks.serving.keepers.base import KeeperBackend, SupervisorContext
from modelworks.serving.status import SUPERVISED
from modelworks.serving.tables import InferenceService
from modelworks.settings import Settings
from modelworks.storage import ObjectStore

log = logging.getLogger(__name__)

CLAIM_SECONDS = 0.5
LEASE_STALE_SECONDS = 15.0


def supervisor_id_for(host: str) -> str:
    """``host:pid:random``: tells a later supervisor on the same host whether this one still lives."""
    return f"{host[:32]}:{os.getpid()}:{new_short_id(8)}"


def _dead_here(supervisor_id: str, host: str) -> bool:
    """True if ``supervisor_id`` names a supervisor process of this host that no longer runs."""
    parts = supervisor_id.rsplit(":", 2)
    if len(parts) != 3 or parts[0] != host[:32] or not parts[1].isdigit():
        return False
    pid = int(parts[1])
    return pid != os.getpid() and not psutil.pid_exists(pid)


class ServiceSupervisor:
    """Claims services for this host and keeps one keeper thread per claimed service."""

    def __init__(self, db: Database, store: ObjectStore, settings: Settings, backend: KeeperBackend):
        host = hostname()
        self.ctx = SupervisorContext(db, store, settings, supervisor_id_for(host), host, threading.Event())
        self.backend = backend
        """Makes the keepers (``keepers.backends``' entry for this server's compute backend)."""
        self.keepers: dict[str, threading.Thread] = {}
        self._wake = threading.Event()

    @property
    def supervisor_id(self) -> str:
        return self.ctx.supervisor_id

    def wake(self) -> None:
        """Look for work now (called after a request changed a service), not at the next tick."""
        self._wake.set()

    def start_thread(self) -> Callable[[], None]:
        """Run the claim loop in a daemon thread; returns ``stop()``, which leaves instances running."""
        thread = threading.Thread(target=self.run_forever, name="modelworks-service-supervisor", daemon=True)
        thread.start()

        def stop() -> None:
            self.ctx.shutdown.set()
            self._wake.set()
            thread.join()

        return stop

    def run_forever(self) -> None:
        log.info("service supervisor %s started", self.supervisor_id)
        try:
            while not self.ctx.shutdown.is_set():
                try:
                    self.tick()
                except Exception:
                    log.exception("service supervisor %s: claiming services failed", self.supervisor_id)
                self._wake.wait(CLAIM_SECONDS)
                self._wake.clear()
        finally:
            for thread in list(self.keepers.values()):
                thread.join()
            self.release()
            log.info("service supervisor %s stopped", self.supervisor_id)

    def tick(self) -> None:
        """Reap finished keepers, claim what is free, start keepers for what this supervisor holds."""
        for service_id, thread in list(self.keepers.items()):
            if not thread.is_alive():
                del self.keepers[service_id]
        for service_id in self.claim():
            if service_id not in self.keepers:
                keeper = self.backend.keeper(self.ctx, service_id)
                thread = threading.Thread(
                    target=keeper.run, name=f"service-keeper-{service_id[:8]}", daemon=True
                )
                self.keepers[service_id] = thread
                thread.start()

    def claim(self) -> list[str]:
        """Ids of the supervised services this supervisor holds after claiming the free ones."""
        me, host, now = self.supervisor_id, self.ctx.host, now_ms()
        stale = now - int(LEASE_STALE_SECONDS * 1000)
        here = or_(InferenceService.host.is_(None), InferenceService.host == host)
        with self.ctx.db.session(readonly=True) as s:
            rows = s.execute(
                select(
                    InferenceService.id, InferenceService.supervisor_id, InferenceService.supervisor_beat
                ).where(InferenceService.status.in_(SUPERVISED), here)
            ).all()
        mine = [r.id for r in rows if r.supervisor_id == me]
        free = [
            r
            for r in rows
            if r.supervisor_id != me
            and (
                r.supervisor_id is None
                or (r.supervisor_beat or 0) < stale
                or _dead_here(r.supervisor_id, host)
            )
        ]
        for r in free:
            with self.ctx.db.session() as s:
                taken = s.execute(
                    update(InferenceService)
                    .where(
                        InferenceService.id == r.id,
                        InferenceService.supervisor_id.is_(None)
                        if r.supervisor_id is None
                        else InferenceService.supervisor_id == r.supervisor_id,
                    )
                    .values(supervisor_id=me, supervisor_beat=now, host=host)
                )
            if taken.rowcount:  # type: ignore[attr-defined]
                log.info("service %s is supervised by %s now", r.id, me)
                mine.append(r.id)
        return mine

    def release(self) -> None:
        """Give up every lease: the next supervisor on this host adopts the instances at once."""
        try:
            with self.ctx.db.session() as s:
                s.execute(
                    update(InferenceService)
                    .where(InferenceService.supervisor_id == self.supervisor_id)
                    .values(supervisor_id=None, supervisor_beat=None)
                )
        except Exception:
            log.exception("service supervisor %s could not release its services", self.supervisor_id)
