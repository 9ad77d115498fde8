"""The Executor interface: where background tasks send their heavy, parallel compute."""

from __future__ import annotations

import concurrent.futures
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Self, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class Executor(ABC):
    """Runs picklable top-level functions in other processes (or on other machines).

    One executor is built per server or worker process and shared by its task handlers; it must be
    safe to call from several threads at once.
    """

    name: ClassVar[str]

    @abstractmethod
    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
        """Return ``[fn(item) for item in items]`` computed in parallel, in the order of ``items``.

        Called by a handler for a batch of independent items. ``fn`` must be a picklable top-level
        function; the first exception an item raised is raised here.
        """

    @abstractmethod
    def submit(self, fn: Callable[..., R], *args: Any) -> concurrent.futures.Future[R]:
        """Start ``fn(*args)`` and return a future of its result, without waiting for it."""

    @abstractmethod
    def resources(self) -> dict[str, Any]:
        """``{"cpus": int, "memory_bytes": int, "gpus": int}`` that this executor can use in total.

        For a local executor that is this machine; for a cluster, the whole cluster. Handlers use it
        to size batches; it may start the backend.
        """

    @abstractmethod
    def shutdown(self) -> None:
        """Release processes or cluster connections; called once when the owning process stops.

        Must be harmless if nothing was started, and may be called more than once.
        """

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.shutdown()
