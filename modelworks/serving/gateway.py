"""The inference gateway behind ``/v1/infers/{service_id}[/{path}]``: routing, forwarding, counting.

A request that passed authentication is sent to one running instance of the service:

1. the **model** is chosen by smooth weighted round-robin over the config's ``weight`` values, among
   the models that declare the requested API and have a running instance (so a 70/30 split is exact
   over every 10 requests, and a model without instances passes its share to the others);
2. the **instance** of that model is the one with the fewest requests in flight (round-robin on ties);
3. if the instance refuses the connection (it just died), another is tried before answering 500.

An instance is addressed by a string: its ``base_url`` when the row has one (an instance served
elsewhere, e.g. by Ray Serve: reachable from any host), else ``http://127.0.0.1:{port}`` for the
instances of this host. The call goes to ``address + path (+ ?query)``, over kept-alive connections
(``modelworks.serving._http``). The instance's answer goes back as it is, with
``X-Modelworks-Instance`` naming the instance, except an error answer (4xx, 5xx) whose body is not
JSON (a model server's plain-text ``Internal Server Error``, a proxy's HTML page): it keeps its status
and gets the ModelArts envelope, ``ModelArts.4302`` "Gateway forwarding error because ...", naming the
status and quoting the start of the text (``enveloped``). A JSON error body is the model's own answer
(its inference code may define one) and passes as it is, as ModelArts' API Gateway passes a backend's
answer; clients can always parse an error.
Errors of the gateway itself are ``BackendUnavailable`` (ModelArts.4503: no running instance, 500;
timeout, 504), ``ApiNotFound`` (ModelArts.4204: an API the models do not declare, 404) and
``ServiceNotFound`` (ModelArts.3502: no such service in the caller's project, 404).

Routes come from the database (services and their running instances), cached for
``ROUTE_TTL_SECONDS``. Each call is counted per model in memory and written every
``FLUSH_SECONDS`` to ``service_call_stats`` by a thread of this process, so the monitor and service
details see calls from every API process.
"""

from __future__ import annotations

import functools
import json
import logging
import socket
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import quote

import anyio.to_thread
from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError

from modelworks.compute.processes import hostname
from modelworks.db import Database
from modelworks.db.base import new_short_id
from modelworks.errors import ApiNotFound, BackendUnavailable, GatewayForwardingError
from modelworks.serving._http import HttpPool, UpstreamError, UpstreamTimeout
from modelworks.serving._routes import ModelRoute, ServiceRoute, declared_apis, instance_address
from modelworks.serving.status import (
    INSTANCE_RUNNING,
    REAL_TIME,
    SERVING,
    service_not_found,
)
from modelworks.serving.tables import InferenceService, ServiceCallStats, ServiceInstance

log = logging.getLogger(__name__)

ROUTE_TTL_SECONDS = 0.5
FLUSH_SECONDS = 1.0
BUCKET_MS = 10_000
REQUEST_TIMEOUT_SECONDS = 40.0
"""The manual: a single prediction may not take longer than 40 s."""
NODELAY = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]
"""Socket options for httpx clients that call model servers (the batch runner's)."""
_FORWARDED_HEADERS = frozenset({"content-type", "accept", "accept-encoding", "x-request-id"})
_ANSWERED_HEADERS = ("content-type", "content-encoding")
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"
"""What a path may hold as it is in a request line (RFC 3986 ``pchar``); the rest is percent-encoded."""
INSTANCE_HEADER = "X-Modelworks-Instance"
"""Names the instance that answered (a Modelworks extension, for tracing and balancing checks)."""
QUOTED_CHARACTERS = 200
"""How much of a non-JSON error body the envelope quotes."""


@dataclass
class Answer:
    status_code: int
    content: bytes
    headers: dict[str, str]


def _is_json(headers: Mapping[str, str], content: bytes) -> bool:
    media = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media != "application/json" and not media.endswith("+json"):
        return False
    if headers.get("content-encoding", "identity").lower() != "identity":
        return True  # compressed: trust the declared type
    try:
        json.loads(content)
    except ValueError:
        return False
    return True


def enveloped(status_code: int, headers: Mapping[str, str], content: bytes) -> Answer | None:
    """The ModelArts envelope for an error answer whose body is not JSON; None for any other answer
    (see the module docstring)."""
    if status_code < 400 or _is_json(headers, content):
        return None
    reason = f"the model server answered {status_code}"
    if content.strip() and headers.get("content-encoding", "identity").lower() == "identity":
        text = " ".join(content.decode("utf-8", errors="replace").split())
        quoted = text[:QUOTED_CHARACTERS] + ("..." if len(text) > QUOTED_CHARACTERS else "")
        reason += f": {quoted}"
    body = {
        "error_code": GatewayForwardingError.error_code,
        "error_msg": f"Gateway forwarding error because {reason}.",
    }
    return Answer(
        status_code, json.dumps(body, ensure_ascii=False).encode(), {"content-type": "application/json"}
    )


class Gateway:
    """One per API process (see the module docstring)."""

    def __init__(self, db: Database):
        self.db = db
        self.host = hostname()
        self.writer = f"{self.host[:32]}:{new_short_id(12)}"
        self._routes: dict[str, ServiceRoute] = {}
        self._current: dict[str, dict[str, int]] = defaultdict(dict)
        self._rr: dict[tuple[str, str], int] = defaultdict(int)
        self._in_flight: dict[str, int] = defaultdict(int)
        self._stats: dict[tuple[str, str, int], list[float]] = {}
        self._lock = threading.Lock()
        self._http: HttpPool | None = None

    # -- routing ---------------------------------------------------------------------------------------

    def _load(self, service_id: str) -> ServiceRoute | None:
        with self.db.session(readonly=True) as s:
            service = s.get(InferenceService, service_id)
            if service is None:
                return None
            addresses: dict[str, dict[str, str]] = defaultdict(dict)
            rows = s.execute(
                select(
                    ServiceInstance.model_id,
                    ServiceInstance.base_url,
                    ServiceInstance.port,
                    ServiceInstance.id,
                )
                .where(
                    ServiceInstance.service_id == service_id,
                    ServiceInstance.status == INSTANCE_RUNNING,
                    or_(
                        ServiceInstance.base_url.is_not(None),
                        (ServiceInstance.host == self.host) & ServiceInstance.port.is_not(None),
                    ),
                )
                .order_by(ServiceInstance.id)
            ).all()
            for model_id, base_url, port, instance_id in rows:
                address = instance_address(base_url, port)
                if address is not None:
                    # Replicas behind one Serve proxy share its address: one target, named by its first row.
                    addresses[model_id].setdefault(address, instance_id)
            models = [
                ModelRoute(
                    e["model_id"],
                    int(e.get("weight", 100)),
                    declared_apis(e),
                    sorted(addresses.get(e["model_id"], {})),
                    addresses.get(e["model_id"], {}),
                )
                for e in service.config or []
            ]
            if service.infer_type != REAL_TIME:
                models = []
            return ServiceRoute(service.project_id, service.name, service.status, models)

    def route(self, service_id: str, *, fresh: bool = False) -> ServiceRoute | None:
        cached = self._routes.get(service_id)
        if cached is not None and not fresh and time.monotonic() - cached.loaded < ROUTE_TTL_SECONDS:
            return cached
        loaded = self._load(service_id)
        if loaded is None:
            self._routes.pop(service_id, None)
        else:
            self._routes[service_id] = loaded
        return loaded

    async def _route(self, service_id: str, *, fresh: bool = False) -> ServiceRoute | None:
        """``route`` for the event loop: a cached route at once, a database load in the thread pool."""
        cached = self._routes.get(service_id)
        if cached is not None and not fresh and time.monotonic() - cached.loaded < ROUTE_TTL_SECONDS:
            return cached
        return await anyio.to_thread.run_sync(functools.partial(self.route, service_id, fresh=True))

    def _pick_model(self, service_id: str, candidates: list[ModelRoute]) -> ModelRoute:
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

    def _pick_address(self, service_id: str, model: ModelRoute, exclude: set[str]) -> str | None:
        addresses = [a for a in model.addresses if a not in exclude]
        if not addresses:
            return None
        if len(addresses) == 1:
            return addresses[0]
        with self._lock:
            start = self._rr[(service_id, model.model_id)]
            self._rr[(service_id, model.model_id)] = start + 1
            ordered = addresses[start % len(addresses) :] + addresses[: start % len(addresses)]
            return min(ordered, key=lambda a: self._in_flight[a])

    # -- forwarding ------------------------------------------------------------------------------------

    def _client(self) -> HttpPool:
        if self._http is None:
            self._http = HttpPool(REQUEST_TIMEOUT_SECONDS)
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
        route = await self._route(service_id)
        if route is None or route.status not in SERVING:
            route = await self._route(service_id, fresh=True)  # the cached route may be a moment old
        if route is None or route.project_id != project_id:
            raise service_not_found(service_id)
        if route.status not in SERVING:
            raise BackendUnavailable(
                f"Failed to obtain the backend service because service {route.name} is {route.status}."
            )
        method = method.upper()
        declared = [m for m in route.models if m.serves(path, method)]
        if not declared:
            raise ApiNotFound(f"API {method} {path} does not exist.")
        sent = [(k, v) for k, v in headers.items() if k.lower() in _FORWARDED_HEADERS]
        target = quote(path, safe=_PATH_SAFE) + (f"?{query}" if query else "")
        tried: set[str] = set()
        for attempt in range(3):
            candidates = [m for m in declared if any(a not in tried for a in m.addresses)]
            if not candidates:
                route = await self._route(service_id, fresh=True) if attempt == 0 else route
                declared = [m for m in (route.models if route else []) if m.serves(path, method)]
                candidates = [m for m in declared if any(a not in tried for a in m.addresses)]
                if not candidates:
                    break
            model = self._pick_model(service_id, candidates)
            address = self._pick_address(service_id, model, tried)
            if address is None:
                break
            tried.add(address)
            self._in_flight[address] += 1
            try:
                reply = await self._client().request(method, address, target, sent, body)
            except UpstreamTimeout as exc:
                self.record(service_id, model.model_id, False, started)
                raise BackendUnavailable(
                    "Failed to obtain the backend service because the response from the backend service "
                    "timed out.",
                    http_status=504,
                ) from exc
            except UpstreamError:
                self._routes.pop(service_id, None)  # the instance is gone: reload the route next time
                continue
            finally:
                self._in_flight[address] -= 1
            self.record(service_id, model.model_id, reply.status_code < 400, started)
            answered = {k: v for k, v in reply.headers.items() if k in _ANSWERED_HEADERS}
            answer = enveloped(reply.status_code, answered, reply.content) or Answer(
                reply.status_code, reply.content, answered
            )
            answer.headers[INSTANCE_HEADER] = model.instances.get(address, "")
            return answer
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
