"""The one registry type every extension point uses.

An extension point (object-store schemes, dataset formats, executors, feature extractors,
estimators, training engines, model runtimes, intelligent task kinds, background task kinds ...)
is one module-level ``Registry[T]`` filled by explicit ``register()`` lines at the end of the
module that defines the implementations, mlflow-style::

    executors: Registry[Callable[[Settings], Executor]] = Registry("executor")
    ...
    executors.register("local", LocalProcessExecutor)
    executors.register("ray", RayExecutor)

A second entry under one name is a bug and is refused; a lookup of an unknown name raises
``UnknownName`` (a ``KeyError``) that lists the known names. Registration and lookup are
thread-safe (workers import handler modules from threads).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Generic, TypeVar

T = TypeVar("T")

__all__ = ["DuplicateName", "Registry", "UnknownName"]


class DuplicateName(ValueError):
    """A second entry was registered under a name the registry already holds."""


class UnknownName(KeyError):
    """A lookup named nothing registered; the message lists what is."""

    def __str__(self) -> str:  # KeyError's str() would quote the whole message
        return str(self.args[0]) if self.args else ""


class Registry(Generic[T]):
    """Named entries of one kind, in registration order."""

    def __init__(self, what: str) -> None:
        self.what = what
        """What one entry is, for messages ("executor", "storage scheme", "task kind")."""
        self._entries: dict[str, T] = {}
        self._lock = threading.Lock()

    def register(self, name: str, entry: T) -> T:
        """Add ``entry`` under ``name`` and return it (usable as a decorator's body); a blank name or
        a name already taken raises ``DuplicateName``/``ValueError``."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"a {self.what} needs a non-empty name, got {name!r}")
        with self._lock:
            if name in self._entries:
                raise DuplicateName(
                    f"a {self.what} named {name!r} is already registered: {self._entries[name]!r}"
                )
            self._entries[name] = entry
        return entry

    def unregister(self, name: str, entry: T | None = None) -> bool:
        """Remove the entry named ``name`` (only if it is ``entry``, when given); whether one was removed.
        For tests and plug-ins that register something for a while."""
        with self._lock:
            found = self._entries.get(name)
            if found is None or (entry is not None and found is not entry):
                return False
            del self._entries[name]
            return True

    def get(self, name: str) -> T:
        """The entry named ``name``; ``UnknownName`` listing the known names if there is none."""
        try:
            return self._entries[name]
        except KeyError:
            known = ", ".join(sorted(self._entries)) or "none"
            raise UnknownName(f"no {self.what} named {name!r}; known: {known}") from None

    def find(self, name: str) -> T | None:
        """The entry named ``name``, or None."""
        return self._entries.get(name)

    def names(self) -> list[str]:
        """The registered names, sorted."""
        return sorted(self._entries)

    def values(self) -> list[T]:
        """The entries, in registration order."""
        return list(self._entries.values())

    def items(self) -> list[tuple[str, T]]:
        return list(self._entries.items())

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._entries))

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.what!r}: {', '.join(self._entries)})"
