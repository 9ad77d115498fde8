"""Compute in a pool of local processes: the default when no Ray cluster is configured."""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelworks.compute.base import Executor, R, T

if TYPE_CHECKING:
    from modelworks.settings import Settings


class LocalProcessExecutor(Executor):
    """A ``ProcessPoolExecutor`` of ``settings.compute_processes`` spawned processes, started on first use."""

    name = "local"

    def __init__(self, settings: Settings):
        self.max_workers = max(1, int(settings.compute_processes))
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def _get_pool(self) -> concurrent.futures.ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                # "spawn": forking a process that runs threads (the server, the heartbeat) and holds
                # database connections is unsafe.
                self._pool = concurrent.futures.ProcessPoolExecutor(
                    max_workers=self.max_workers, mp_context=multiprocessing.get_context("spawn")
                )
            return self._pool

    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
        if not items:
            return []
        # Chunks amortise pickling for many small items while still spreading over all workers.
        chunksize = max(1, len(items) // (self.max_workers * 4))
        return list(self._get_pool().map(fn, items, chunksize=chunksize))

    def submit(self, fn: Callable[..., R], *args: Any) -> concurrent.futures.Future[R]:
        return self._get_pool().submit(fn, *args)

    def resources(self) -> dict[str, Any]:
        return {"cpus": _cpu_count(), "memory_bytes": _memory_bytes(), "gpus": _gpu_count()}

    def shutdown(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


def _cpu_count() -> int:
    # The CPUs this process may run on, which a container or taskset can limit below os.cpu_count().
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _memory_bytes() -> int:
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):
        return 0


def _gpu_count() -> int:
    """NVIDIA devices on this machine, counted without importing a CUDA library."""
    return sum(1 for _ in Path("/dev").glob("nvidia[0-9]*"))
