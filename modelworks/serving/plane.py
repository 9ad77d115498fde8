"""What ``create_app`` wires for services: the supervisor of this host's instances and the gateway, and
with a Ray address the connection to Ray Serve that the supervisor deploys real-time services with."""

from __future__ import annotations

from collections.abc import Callable

from modelworks.db import Database
from modelworks.serving.gateway import Gateway
from modelworks.serving.ray_serve import RayServe
from modelworks.serving.supervisor import ServiceSupervisor
from modelworks.settings import Settings
from modelworks.storage import ObjectStore


class ServicePlane:
    """The ``ServiceSupervisor`` (starts, watches, stops instances) and the ``Gateway`` (routes calls)."""

    def __init__(self, db: Database, store: ObjectStore, settings: Settings):
        self.ray_serve = RayServe(settings) if settings.ray_address else None
        self.supervisor = ServiceSupervisor(db, store, settings, self.ray_serve)
        self.gateway = Gateway(db)

    def start(self) -> Callable[[], None]:
        """Start both; returns ``stop()``, which leaves the instances (and Serve applications) running for
        the next server."""
        stops = [self.supervisor.start_thread(), self.gateway.start()]

        def stop() -> None:
            for each in stops:
                each()
            if self.ray_serve is not None:
                self.ray_serve.close()

        return stop

    def changed(self) -> None:
        """A request changed a service: let the supervisor look now."""
        self.supervisor.wake()
