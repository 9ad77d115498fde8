"""Compute on a Ray cluster (``settings.ray_address``), or on a private local Ray head."""

from __future__ import annotations

import concurrent.futures
import inspect
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from modelworks.compute.base import Executor, R, T
from modelworks.compute.ray_cluster import join, leave

if TYPE_CHECKING:
    from modelworks.settings import Settings


def _apply(fn: Callable[..., Any], *args: Any) -> Any:
    """Runs in a Ray worker: call a callable that ray.remote cannot wrap itself."""
    return fn(*args)


class RayExecutor(Executor):
    """Runs functions as Ray tasks. Ray is joined on first use (``compute.ray_cluster.join``), not at
    import time.

    With address "local" (or an empty ``ray_address``) a head is started in this process, listening on
    127.0.0.1 only, with ``settings.compute_processes`` CPUs; otherwise this process joins the cluster.
    """

    name = "ray"

    def __init__(self, settings: Settings):
        self.address = settings.ray_address or "local"
        self.num_cpus = max(1, int(settings.compute_processes))
        self._lock = threading.Lock()
        self._ray: Any = None
        # ray.remote() exports the function each time it is called; keep one wrapper per function.
        self._remotes: dict[Callable[..., Any], Any] = {}

    def _get_ray(self) -> Any:
        with self._lock:
            if self._ray is None:
                # ``join`` sets up what Ray reads at import, and starts a private head for "local".
                self._ray = join(self.address, num_cpus=self.num_cpus)
            return self._ray

    def _remote(self, fn: Callable[..., Any]) -> tuple[Any, tuple[Any, ...]]:
        """The Ray remote function to call for ``fn``, and the arguments to put before the item's."""
        ray = self._get_ray()
        # ray.remote accepts only Python functions; builtins, partials and callable objects go
        # through _apply, which takes the callable as its first argument.
        target, prefix = (fn, ()) if inspect.isfunction(fn) else (_apply, (fn,))
        with self._lock:
            remote = self._remotes.get(target)
            if remote is None:
                remote = self._remotes[target] = ray.remote(target)
        return remote, prefix

    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
        if not items:
            return []
        remote, prefix = self._remote(fn)
        refs = [remote.remote(*prefix, item) for item in items]
        return list(self._ray.get(refs))

    def submit(self, fn: Callable[..., R], *args: Any) -> concurrent.futures.Future[R]:
        remote, prefix = self._remote(fn)
        future: concurrent.futures.Future[R] = remote.remote(*prefix, *args).future()
        return future

    def resources(self) -> dict[str, Any]:
        total = self._get_ray().cluster_resources()
        return {
            "cpus": int(total.get("CPU", 0)),
            "memory_bytes": int(total.get("memory", 0)),
            "gpus": int(total.get("GPU", 0)),
        }

    def shutdown(self) -> None:
        with self._lock:
            joined = self._ray is not None
            self._ray = None
            self._remotes.clear()
        # Each join is paired with one leave; the last one disconnects (stopping a private head) only
        # when ``join`` made the connection.
        if joined:
            leave()
