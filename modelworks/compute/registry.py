"""Executor factories by name, and the choice of one from Settings."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from modelworks.compute.base import Executor
from modelworks.compute.local import LocalProcessExecutor
from modelworks.compute.ray_executor import RayExecutor

if TYPE_CHECKING:
    from modelworks.settings import Settings

_factories: dict[str, Callable[[Settings], Executor]] = {}
_lock = threading.Lock()


def register(name: str, factory: Callable[[Settings], Executor]) -> None:
    """Make ``factory`` build the executor called ``name``; a second factory for a name is a bug."""
    with _lock:
        if name in _factories:
            raise ValueError(f"an executor named {name!r} is already registered")
        _factories[name] = factory


def executor_names() -> list[str]:
    return sorted(_factories)


def create_executor(settings: Settings, name: str | None = None) -> Executor:
    """Build the executor ``name``, by default "ray" when ``settings.ray_address`` is set, else "local"."""
    name = name or ("ray" if settings.ray_address else "local")
    try:
        factory = _factories[name]
    except KeyError:
        raise KeyError(f"no executor named {name!r}; known: {', '.join(executor_names())}") from None
    return factory(settings)


register(LocalProcessExecutor.name, LocalProcessExecutor)
register(RayExecutor.name, RayExecutor)
