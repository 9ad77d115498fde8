"""What ``create_app`` wires for services: the supervisor of this host's instances and the gateway."""

from __future__ import annotations

from collections.abc import Callable

from modelworks.db import Database
from modelworks.services.gateway import Gateway
from modelworks.services.supervisor import ServiceSupervisor
from modelworks.settings import Settings
from modelworks.storage import ObjectStore


class ServicePlane:
    """The ``ServiceSupervisor`` (starts, watches, stops instances) and the ``Gateway`` (routes calls)."""

    def __init__(self, db: Database, store: ObjectStore, settings: Settings):
        self.supervisor = ServiceSupervisor(db, store, settings)
        self.gateway = Gateway(db)

    def start(self) -> Callable[[], None]:
        """Start both; returns ``stop()``, which leaves the instances running for the next server."""
        stops = [self.supervisor.start_thread(), self.gateway.start()]

        def stop() -> None:
            for each in stops:
                each()

        return stop

    def changed(self) -> None:
        """A request changed a service: let the supervisor look now."""
        self.supervisor.wake()
