"""Executor factories by name, and the choice of one from Settings."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from modelworks.compute.base import Executor
from modelworks.compute.local import LocalProcessExecutor
from modelworks.compute.ray_cluster import compute_backend
from modelworks.compute.ray_executor import RayExecutor
from modelworks.registry import Registry

if TYPE_CHECKING:
    from modelworks.settings import Settings

executors: Registry[Callable[[Settings], Executor]] = Registry("executor")
"""Executor factories by name; ``compute_backend(settings)`` names the default one."""


def register(name: str, factory: Callable[[Settings], Executor]) -> None:
    """Make ``factory`` build the executor called ``name``; a second factory for a name is a bug."""
    executors.register(name, factory)


def executor_names() -> list[str]:
    return executors.names()


def create_executor(settings: Settings, name: str | None = None) -> Executor:
    """Build the executor ``name``, by default the one of ``compute_backend(settings)`` ("ray" when
    ``settings.ray_address`` is set, else "local"); an unknown name raises a ``KeyError`` listing the
    known ones."""
    return executors.get(name or compute_backend(settings))(settings)


executors.register(LocalProcessExecutor.name, LocalProcessExecutor)
executors.register(RayExecutor.name, RayExecutor)
