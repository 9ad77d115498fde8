"""Real-time services as Ray Serve applications on the cluster of ``settings.ray_address``.

Each model (config entry) of a service is one Serve application, named ``modelworks-<service id>-<revision>``
and routed at ``/<service id>/<model id>/<revision>`` on Serve's HTTP proxy. Its one deployment runs
``instance_count`` replicas of ``ray_replica.ModelReplica``, which load the model package from
``<home>/services/<service id>/packages/<model id>/model`` (fetched from storage by the keeper, as for
local instances) and answer as a model server does. A replica reserves the specification's cores as
Ray CPUs; the entry's ``envs`` (and the model server's own variables) are the replicas' ``runtime_env``
``env_vars``. A configuration change of a model deploys a new application beside the old one (the
revision is part of the name and route); scaling redeploys the same application, which Serve rolls.

Modelworks joins the cluster as a Ray driver from the server process, on first use, through
``modelworks.compute.ray_cluster.join`` (left again by ``RayServe.close``). If Serve is not
running yet it is started with its proxy on the head node only, on 127.0.0.1 and a free port; a Serve
that already runs keeps its own HTTP options, and its proxy's address is read from it. The gateway
sends calls to ``base_url`` (the proxy's URL and the route). Serve applications outlive the server
that deployed them; the next one finds them again by name (``keepers.ray``).

Batch services keep running as local model servers. Like Ray training jobs, replicas need
``MODELWORKS_HOME`` at the same path on every Ray node and the server's Python environment
(``modelworks`` importable). A proxy that Modelworks started listens on the head's loopback: the
Modelworks server must then run on the head's host.
"""

from __future__ import annotations

import inspect
import logging
import re
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from modelworks.compute import ray_cluster
from modelworks.errors import ModelworksError
from modelworks.serving.instances import STOP_GRACE_SECONDS
from modelworks.serving.ray_replica import LOAD_FAILED, ModelReplica
from modelworks.serving.specs import Spec
from modelworks.settings import Settings

log = logging.getLogger(__name__)

APP_PREFIX = "modelworks-"
DEPLOYMENT = "model"
STATUS_TTL_SECONDS = 0.25
"""Keepers poll often; they share one look at Serve's status per this interval."""
MAX_ONGOING_REQUESTS = 2
"""Per replica: one request is inferred while the next one's body is read (inference is serialised)."""
_WILDCARD = ("", "0.0.0.0", "::")
_CAUSE = re.compile(re.escape(LOAD_FAILED) + r"(.+)$", re.MULTILINE)


class RayServeError(ModelworksError):
    """Ray Serve refused an operation or cannot be reached (the message says which)."""


@dataclass(frozen=True)
class AppState:
    """One Serve application as Serve reports it."""

    status: str
    """Serve's ``ApplicationStatus``: DEPLOYING, RUNNING, DEPLOY_FAILED, UNHEALTHY, DELETING ..."""
    running: int
    """Replicas that answer requests."""
    message: str
    """The application's message and its deployment's (the cause of a failed deployment)."""


def app_name(service_id: str, revision: str) -> str:
    return f"{APP_PREFIX}{service_id}-{revision}"


def route_prefix(service_id: str, entry: dict[str, Any]) -> str:
    return f"/{service_id}/{entry['model_id']}/{entry['revision']}"


def load_failure(message: str) -> str | None:
    """The cause a replica gave for not loading its package, found in an application's message."""
    found = _CAUSE.findall(message)
    return found[-1].strip() if found else None  # the last: the exception's own line ends the traceback


def replica_environment(entry: dict[str, Any], spec: Spec, model_dir: Path) -> dict[str, str]:
    """The variables of a replica's process: as for a local model server (``instances.start``)."""
    env = {str(k): str(v) for k, v in (entry.get("envs") or {}).items()}
    env.update(
        PYTHONUNBUFFERED="1",
        MODEL_NAME=str(entry.get("model_name", "")),
        MODEL_PATH=str(model_dir),
        MA_NUM_GPUS="0",
    )
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[name] = str(spec.cores)
    return env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RayServe:
    """This server's connection to Ray Serve, shared by the keepers of its supervisor (thread-safe)."""

    def __init__(self, settings: Settings):
        self.address = settings.ray_address
        self._lock = threading.RLock()
        self._joined = False
        self._proxy = ""
        self._statuses: dict[str, AppState] = {}
        self._statuses_at = 0.0
        # What Ray reads when first imported, set before anything imports it (see ray_cluster).
        ray_cluster.prepare_environment(self.address)

    # -- connection ------------------------------------------------------------------------------------

    def connect(self) -> str:
        """Join the cluster and start Serve if needed; returns the proxy's URL."""
        with self._lock:
            if self._proxy:
                return self._proxy
            try:
                from ray import serve
                from ray.serve.context import _get_global_client

                if not self._joined:
                    ray_cluster.join(self.address)
                    self._joined = True
                client = _get_global_client(raise_if_no_controller_running=False)
                if client is None:
                    serve.start(
                        proxy_location="HeadOnly",
                        http_options={"host": "127.0.0.1", "port": _free_port()},
                    )
                    client = _get_global_client()
                if client is None:
                    raise RuntimeError("Serve did not start")
                config = client.http_config
            except ray_cluster.RayUnavailable as exc:
                raise RayServeError(str(exc)) from exc
            except ImportError as exc:
                raise RayServeError(
                    f"Ray Serve is not installed ({exc}); install modelworks[ray] to deploy services on Ray"
                ) from exc
            except Exception as exc:
                raise RayServeError(
                    f"Ray Serve on the cluster at {self.address} cannot be used: {type(exc).__name__}: {exc}"
                ) from exc
            host = str(config.host or "")
            if host in _WILDCARD:
                host = ray_cluster.host_of(self.address)  # a proxy on every interface: reach the head's
            if ray_cluster.is_loopback(host) or host == "auto":
                host = "127.0.0.1"
            if ":" in host:
                host = f"[{host}]"
            self._proxy = f"http://{host}:{int(config.port)}"
            log.info("Ray Serve's HTTP proxy for services: %s", self._proxy)
            return self._proxy

    def close(self) -> None:
        """Leave the cluster (the applications keep running): release this object's ``join``, which
        disconnects only if that join made the connection."""
        with self._lock:
            joined, self._joined, self._proxy = self._joined, False, ""
        if joined:
            ray_cluster.leave()

    # -- applications ----------------------------------------------------------------------------------

    def base_url(self, service_id: str, entry: dict[str, Any]) -> str:
        return self.connect() + route_prefix(service_id, entry)

    def deploy(self, service_id: str, entry: dict[str, Any], spec: Spec, model_dir: Path) -> None:
        """Deploy (or redeploy, e.g. with another ``instance_count``) a model's application; returns
        once Serve accepted it, without waiting for its replicas."""
        self.connect()
        from ray import serve
        from ray.serve import Deployment

        options: dict[str, Any] = {
            "name": DEPLOYMENT,
            "num_replicas": int(entry["instance_count"]),
            "ray_actor_options": {
                "num_cpus": spec.cpu,
                "runtime_env": {"env_vars": replica_environment(entry, spec, model_dir)},
            },
            "max_ongoing_requests": MAX_ONGOING_REQUESTS,
            "graceful_shutdown_wait_loop_s": 0.5,
            "graceful_shutdown_timeout_s": STOP_GRACE_SECONDS,
        }
        if "max_constructor_retry_count" in inspect.signature(serve.deployment).parameters:
            options["max_constructor_retry_count"] = 1  # a package that cannot load fails at once
        try:
            deployment = cast(Deployment, serve.deployment(ModelReplica)).options(**options)
            serve._run(  # not serve.run: that waits until the replicas run
                deployment.bind(str(model_dir), str(entry.get("model_name", ""))),
                _blocking=False,
                name=app_name(service_id, entry["revision"]),
                route_prefix=route_prefix(service_id, entry),
            )
        except Exception as exc:
            raise RayServeError(f"Ray Serve refused the application: {type(exc).__name__}: {exc}") from exc
        finally:
            self._changed()

    def applications(self, service_id: str) -> dict[str, AppState]:
        """The service's applications by name."""
        prefix = f"{APP_PREFIX}{service_id}-"
        return {name: state for name, state in self._all().items() if name.startswith(prefix)}

    def _all(self) -> dict[str, AppState]:
        self.connect()
        from ray import serve

        with self._lock:
            if time.monotonic() - self._statuses_at < STATUS_TTL_SECONDS:
                return self._statuses
            try:
                status = serve.status()
            except Exception as exc:
                raise RayServeError(f"Ray Serve does not answer: {type(exc).__name__}: {exc}") from exc
            found: dict[str, AppState] = {}
            for name, app in status.applications.items():
                if not name.startswith(APP_PREFIX):
                    continue
                messages = [str(app.message or "")]
                running = 0
                for deployment in app.deployments.values():
                    messages.append(str(deployment.message or ""))
                    running += sum(n for state, n in deployment.replica_states.items() if state == "RUNNING")
                text = "\n".join(m for m in messages if m)
                found[name] = AppState(str(getattr(app.status, "value", app.status)), running, text)
            self._statuses, self._statuses_at = found, time.monotonic()
            return found

    def delete(self, names: list[str]) -> None:
        """Delete applications and wait until their replicas are gone."""
        if not names:
            return
        self.connect()
        from ray import serve

        try:
            for name in names:
                serve.delete(name)
        except Exception as exc:
            raise RayServeError(f"Ray Serve could not delete {names}: {type(exc).__name__}: {exc}") from exc
        finally:
            self._changed()

    def _changed(self) -> None:
        # Under the lock: a status read under way when the change happened is not kept.
        with self._lock:
            self._statuses_at = 0.0
