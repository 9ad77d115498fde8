"""The one place a Modelworks process joins a Ray cluster or starts a private local head.

Every user of Ray in the server and worker processes (the Ray executor, Ray Serve for real-time
services, the Ray Jobs client) calls :func:`join`; a training job's driver, which runs inside the
cluster, calls it with ``address="auto"``. Ray reads two environment variables when it is first
imported, so they are set here before ``import ray``:

- ``RAY_USAGE_STATS_ENABLED=0``: no usage reports leave the machine;
- ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` for a loopback head: Ray otherwise turns a node address of
  127.0.0.1 into the host's reachable IP and listens on every interface.

An address where nothing listens is refused at once (``ray.init`` would wait for it forever). A
process connects once: each :func:`join` that returned is paired with one :func:`leave` by its
caller, and the last :func:`leave` disconnects (stopping a private head), only when :func:`join` made
the connection (not when something else in the process had already called ``ray.init``).
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import threading
from typing import Any

from modelworks.settings import Settings

log = logging.getLogger(__name__)

PROBE_TIMEOUT_SECONDS = 5.0
_LOOPBACK = ("127.0.0.1", "localhost", "::1")
_lock = threading.RLock()
_joined = 0
"""How many ``join`` calls not yet left hold the connection this module made (0: none made here)."""


class RayUnavailable(RuntimeError):
    """Ray cannot be joined: not installed, or nothing answers at the address."""


def compute_backend(settings: Settings) -> str:
    """``"ray"`` with ``settings.ray_address``, else ``"local"``: the one choice between local processes
    and a Ray cluster; registries of local and Ray implementations look their entry up by it."""
    return "ray" if settings.ray_address else "local"


def host_of(address: str) -> str:
    """The host part of a Ray address (``ray://h:10001``, ``h:6379``, ``[::1]:6379``, ``local``)."""
    hostport = address.split("://", 1)[-1].rstrip("/")
    if hostport.startswith("["):
        return hostport[1:].split("]", 1)[0]
    return hostport.rsplit(":", 1)[0] if hostport.count(":") == 1 else hostport


def is_loopback(address: str) -> bool:
    """Whether ``address`` is a head on this machine only (``local``, an empty address, loopback)."""
    return not address or address == "local" or host_of(address) in _LOOPBACK or host_of(address) == "local"


def _probe(address: str) -> None:
    hostport = address.split("://", 1)[-1].rstrip("/")
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        return  # "auto", "local", a bare host: left to Ray
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=PROBE_TIMEOUT_SECONDS).close()
    except OSError as exc:
        raise RayUnavailable(f"nothing answers at the Ray address {address} ({exc})") from exc


def prepare_environment(address: str) -> None:
    """Set what Ray reads at its first import (see the module docstring); call before ``import ray``."""
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    if is_loopback(address):
        if "ray" in sys.modules and os.environ.get("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER") != "0":
            log.warning("ray was imported before Modelworks set it up: a loopback head may listen widely")
        os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"


def join(address: str, *, num_cpus: int | None = None, **options: Any) -> Any:
    """Connect this process to the cluster at ``address`` (``"local"`` or empty: start a private head
    on 127.0.0.1 with ``num_cpus``) unless it already is; returns the ``ray`` module. ``options`` go to
    ``ray.init`` (e.g. ``logging_level``)."""
    global _joined
    address = address or "local"
    with _lock:
        prepare_environment(address)
        try:
            import ray
        except ImportError as exc:
            raise RayUnavailable(f"Ray is not installed ({exc}); install modelworks[ray]") from exc
        if ray.is_initialized():
            if _joined:
                _joined += 1
            return ray
        _probe(address)
        kwargs: dict[str, Any] = {
            "include_dashboard": False,
            "configure_logging": False,
            "log_to_driver": False,
            "ignore_reinit_error": True,
            **options,
        }
        if address == "local":
            kwargs.update(_node_ip_address="127.0.0.1")
            if num_cpus is not None:
                kwargs.update(num_cpus=num_cpus)
        ray.init(address=address, **kwargs)
        _joined = 1
        return ray


def leave() -> None:
    """Release one :func:`join`; the last one disconnects if :func:`join` connected (a private head stops)."""
    global _joined
    with _lock:
        if not _joined:
            return
        _joined -= 1
        if _joined:
            return
        import ray

        ray.shutdown()
