"""What ``create_app`` wires for services: the supervisor of this host's instances and the gateway, and
the keeper backend (``keepers.backends``, chosen by ``compute_backend``) that the supervisor keeps
services with: local model-server processes, or with a Ray address Ray Serve for real-time services."""

from __future__ import annotations

from collections.abc import Callable

from modelworks.compute.ray_cluster import compute_backend
from modelworks.db import Database
from modelworks.serving.gateway import Gateway
from modelworks.serving.keepers import backends
from modelworks.serving.supervisor import ServiceSupervisor
from modelworks.settings import Settings
from modelworks.storage import ObjectStore


class ServicePlane:
    """The ``ServiceSupervisor`` (starts, watches, stops instances) and the ``Gateway`` (routes calls)."""

    def __init__(self, db: Database, store: ObjectStore, settings: Settings):
        self.keepers = backends.get(compute_backend(settings))(settings)
        self.supervisor = ServiceSupervisor(db, store, settings, self.keepers)
        self.gateway = Gateway(db)

    def start(self) -> Callable[[], None]:
        """Start both; returns ``stop()``, which leaves the instances (and Serve applications) running for
        the next server."""
        stops = [self.supervisor.start_thread(), self.gateway.start()]

        def stop() -> None:
            for each in stops:
                each()
            self.keepers.close()

        return stop

    def changed(self) -> None:
        """A request changed a service: let the supervisor look now."""
        self.supervisor.wake()
