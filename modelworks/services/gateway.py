"""The inference gateway behind ``/v1/infers/{service_id}[/{path}]``: routing, forwarding, counting.

A request that passed authentication is sent to one running instance of the service:

1. the **model** is chosen by smooth weighted round-robin over the config's ``weight`` values, among
   the models that declare the requested API and have a running instance (so a 70/30 split is exact
   over every 10 requests, and a model without instances passes its share to the others);
2. the **instance** of that model is the one with the fewest requests in flight (round-robin on ties);
3. if the instance refuses the connection (it just died), another is tried before answering 500.

The instance's answer goes back as it is, with ``X-Modelworks-Instance`` naming the instance.
Errors of the gateway itself are ModelArts.4503 (no running instance: 500, timeout: 504),
ModelArts.4204 (an API the models do not declare: 404) and ModelArts.3502 (no such service in the
caller's project: 404).

Routes come from the database (services and their running instances), cached for
``ROUTE_TTL_SECONDS``. Each call is counted per model in memory and written every
``FLUSH_SECONDS`` to ``service_call_stats`` by a thread of this process, so the monitor and service
details see calls from every API process.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from modelworks.db import Database
from modelworks.db.base import new_short_id
from modelworks.errors import ModelworksError, NotFound
from modelworks.services.models import InferenceService, ServiceCallStats, ServiceInstance
from modelworks.services.status import (
    API_NOT_FOUND,
    BACKEND_UNAVAILABLE,
    INSTANCE_RUNNING,
    REAL_TIME,
    SERVING,
    service_not_found,
)
from modelworks.training.process import hostname

log = logging.getLogger(__name__)

ROUTE_TTL_SECONDS = 0.5
FLUSH_SECONDS = 1.0
BUCKET_MS = 10_000
REQUEST_TIMEOUT_SECONDS = 40.0
"""The manual: a single prediction may not take longer than 40 s."""
NODELAY = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]
_FORWARDED_HEADERS = ("content-type", "accept", "accept-encoding", "x-request-id")
_ANSWERED_HEADERS = ("content-type",)
INSTANCE_HEADER = "X-Modelworks-Instance"
"""Names the instance that answered (a Modelworks extension, for tracing and balancing checks)."""


class BackendUnavailable(ModelworksError):
    """No running instance could answer (ModelArts.4503)."""

    http_status = 500
    error_code = BACKEND_UNAVAILABLE


@dataclass
class _ModelRoute:
    model_id: str
    weight: int
    apis: list[tuple[str, str]]
    """(url, METHOD) pairs the model declares; empty: any method on /."""
    ports: list[int]
    instances: dict[int, str] = field(default_factory=dict)
    """Instance id by port."""

    def serves(self, path: str, method: str) -> bool:
        if not self.apis:
            return path == "/"
        return any(url == path and m in (method, "") for url, m in self.apis)


@dataclass
class _ServiceRoute:
    project_id: str
    name: str
    status: str
    models: list[_ModelRoute]
    loaded: float = field(default_factory=time.monotonic)


@dataclass
class Answer:
    status_code: int
    content: bytes
    headers: dict[str, str]


def _apis(entry: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        ("/" + str(api.get("url") or "/").strip("/"), str(api.get("method") or "POST").upper())
        for api in entry.get("apis") or []
        if isinstance(api, dict)
    ]


class Gateway:
    """One per API process (see the module docstring)."""

    def __init__(self, db: Database):
        self.db = db
        self.host = hostname()
        self.writer = f"{self.host[:32]}:{new_short_id(12)}"
        self._routes: dict[str, _ServiceRoute] = {}
        self._current: dict[str, dict[str, int]] = defaultdict(dict)
        self._rr: dict[tuple[str, str], int] = defaultdict(int)
        self._in_flight: dict[int, int] = defaultdict(int)
        self._stats: dict[tuple[str, str, int], list[float]] = {}
        self._lock = threading.Lock()
        self._http: httpx.AsyncClient | None = None

    # -- routing ---------------------------------------------------------------------------------------

    def _load(self, service_id: str) -> _ServiceRoute | None:
        with self.db.session(readonly=True) as s:
            service = s.get(InferenceService, service_id)
            if service is None:
                return None
            ports: dict[str, dict[int, str]] = defaultdict(dict)
            rows = s.execute(
                select(ServiceInstance.model_id, ServiceInstance.port, ServiceInstance.id).where(
                    ServiceInstance.service_id == service_id,
                    ServiceInstance.status == INSTANCE_RUNNING,
                    ServiceInstance.host == self.host,
                    ServiceInstance.port.is_not(None),
                )
            ).all()
            for model_id, port, instance_id in rows:
                if port is not None:
                    ports[model_id][port] = instance_id
            models = [
                _ModelRoute(
                    e["model_id"],
                    int(e.get("weight", 100)),
                    _apis(e),
                    sorted(ports.get(e["model_id"], {})),
                    ports.get(e["model_id"], {}),
                )
                for e in service.config or []
            ]
            if service.infer_type != REAL_TIME:
                models = []
            return _ServiceRoute(service.project_id, service.name, service.status, models)

    def route(self, service_id: str, *, fresh: bool = False) -> _ServiceRoute | None:
        cached = self._routes.get(service_id)
        if cached is not None and not fresh and time.monotonic() - cached.loaded < ROUTE_TTL_SECONDS:
            return cached
        loaded = self._load(service_id)
        if loaded is None:
            self._routes.pop(service_id, None)
        else:
            self._routes[service_id] = loaded
        return loaded

    def _pick_model(self, service_id: str, candidates: list[_ModelRoute]) -> _ModelRoute:
        """Smooth weighted round-robin (nginx's): exact shares over each cycle of the weights' sum."""
        weights = [max(0, m.weight) for m in candidates]
        if not any(weights):
            weights = [1] * len(candidates)
        with self._lock:
            current = self._current[service_id]
            for model, weight in zip(candidates, weights, strict=True):
                current[model.model_id] = current.get(model.model_id, 0) + weight
            best = max(candidates, key=lambda m: current[m.model_id])
            current[best.model_id] -= sum(weights)
            return best

    def _pick_port(self, service_id: str, model: _ModelRoute, exclude: set[int]) -> int | None:
        ports = [p for p in model.ports if p not in exclude]
        if not ports:
            return None
        with self._lock:
            start = self._rr[(service_id, model.model_id)]
            self._rr[(service_id, model.model_id)] = start + 1
            ordered = ports[start % len(ports) :] + ports[: start % len(ports)]
            return min(ordered, key=lambda p: self._in_flight[p])

    # -- forwarding ------------------------------------------------------------------------------------

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            limits = httpx.Limits(max_connections=256, max_keepalive_connections=64)
            # Without TCP_NODELAY a body written after its headers waits for the instance's delayed ACK
            # (40 ms on Linux).
            transport = httpx.AsyncHTTPTransport(socket_options=NODELAY, limits=limits)
            self._http = httpx.AsyncClient(timeout=REQUEST_TIMEOUT_SECONDS, transport=transport)
        return self._http

    async def forward(
        self,
        project_id: str,
        service_id: str,
        path: str,
        method: str,
        headers: Mapping[str, str],
        query: str,
        body: bytes,
    ) -> Answer:
        """Send the request to an instance of the service and return its answer."""
        started = time.perf_counter()
        path = "/" + path.strip("/")
        route = self.route(service_id)
        if route is None or route.status not in SERVING:
            route = self.route(service_id, fresh=True)  # the cached route may be a moment old
        if route is None or route.project_id != project_id:
            raise service_not_found(service_id)
        if route.status not in SERVING:
            raise BackendUnavailable(
                f"Failed to obtain the backend service because service {route.name} is {route.status}."
            )
        method = method.upper()
        declared = [m for m in route.models if m.serves(path, method)]
        if not declared:
            raise NotFound(f"API {method} {path} does not exist.", error_code=API_NOT_FOUND)
        sent = {k: v for k, v in headers.items() if k.lower() in _FORWARDED_HEADERS}
        tried: set[int] = set()
        for attempt in range(3):
            candidates = [m for m in declared if any(p not in tried for p in m.ports)]
            if not candidates:
                route = self.route(service_id, fresh=True) if attempt == 0 else route
                declared = [m for m in (route.models if route else []) if m.serves(path, method)]
                candidates = [m for m in declared if any(p not in tried for p in m.ports)]
                if not candidates:
                    break
            model = self._pick_model(service_id, candidates)
            port = self._pick_port(service_id, model, tried)
            if port is None:
                break
            tried.add(port)
            url = f"http://127.0.0.1:{port}{path}" + (f"?{query}" if query else "")
            self._in_flight[port] += 1
            try:
                response = await self._client().request(method, url, headers=sent, content=body)
            except httpx.TimeoutException as exc:
                self.record(service_id, model.model_id, False, started)
                raise BackendUnavailable(
                    "Failed to obtain the backend service because the response from the backend service "
                    "timed out.",
                    http_status=504,
                ) from exc
            except httpx.TransportError:
                self._routes.pop(service_id, None)  # the instance is gone: reload the route next time
                continue
            finally:
                self._in_flight[port] -= 1
            self.record(service_id, model.model_id, response.status_code < 400, started)
            answered = {k: v for k, v in response.headers.items() if k.lower() in _ANSWERED_HEADERS}
            answered[INSTANCE_HEADER] = model.instances.get(port, "")
            return Answer(response.status_code, response.content, answered)
        raise BackendUnavailable(
            f"Failed to obtain the backend service because no instance of service {service_id} is running."
        )

    # -- statistics ------------------------------------------------------------------------------------

    def record(self, service_id: str, model_id: str, ok: bool, started: float) -> None:
        latency_ms = (time.perf_counter() - started) * 1000
        bucket = int(time.time() * 1000) // BUCKET_MS * BUCKET_MS
        with self._lock:
            counts = self._stats.setdefault((service_id, model_id, bucket), [0, 0, 0.0])
            counts[0] += 1
            counts[1] += 0 if ok else 1
            counts[2] += latency_ms

    def flush(self) -> None:
        """Write the counts gathered since the last flush."""
        with self._lock:
            pending, self._stats = self._stats, {}
        by_service: dict[str, list[tuple[str, int, list[float]]]] = defaultdict(list)
        for (service_id, model_id, bucket), counts in pending.items():
            by_service[service_id].append((model_id, bucket, counts))
        for service_id, items in by_service.items():
            try:
                with self.db.session() as s:
                    for model_id, bucket, (calls, failures, latency) in items:
                        row = s.scalar(
                            select(ServiceCallStats).where(
                                ServiceCallStats.service_id == service_id,
                                ServiceCallStats.model_id == model_id,
                                ServiceCallStats.writer == self.writer,
                                ServiceCallStats.bucket_start == bucket,
                            )
                        )
                        if row is None:
                            row = ServiceCallStats(
                                service_id=service_id,
                                model_id=model_id,
                                writer=self.writer,
                                bucket_start=bucket,
                                calls=0,
                                failures=0,
                                latency_ms=0.0,
                            )
                            s.add(row)
                        row.calls += int(calls)
                        row.failures += int(failures)
                        row.latency_ms += float(latency)
            except IntegrityError:
                pass  # the service was deleted meanwhile
            except Exception:
                log.exception("writing the call counts of service %s failed", service_id)

    def start(self) -> Callable[[], None]:
        """Flush counts every ``FLUSH_SECONDS`` in a daemon thread; returns ``stop()`` (which flushes)."""
        done = threading.Event()

        def loop() -> None:
            while not done.wait(FLUSH_SECONDS):
                self.flush()

        thread = threading.Thread(target=loop, name="modelworks-gateway-stats", daemon=True)
        thread.start()

        def stop() -> None:
            done.set()
            thread.join()
            self.flush()

        return stop

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None
