"""Who uses a model: the hook real-time services register so a model in use is not deleted.

    register_usage_check(services_of_model)   # once, at import of the services module
    services_using(session, model_id)          # ids of every user, from every registered check

A check is ``fn(session, model_id) -> list[str]`` returning the ids of whatever uses the model (an
empty list when nothing does); it reads through the caller's session and must not write.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from sqlalchemy.orm import Session

UsageCheck = Callable[[Session, str], list[str]]

_checks: list[UsageCheck] = []
_lock = threading.Lock()


def register_usage_check(check: UsageCheck) -> None:
    """Ask ``check`` before a model is deleted; registering the same function twice is a bug."""
    with _lock:
        if check in _checks:
            raise ValueError(f"usage check {check!r} is already registered")
        _checks.append(check)


def unregister_usage_check(check: UsageCheck) -> None:
    """Stop asking ``check`` (for tests and plugins that unload); an unknown check is ignored."""
    with _lock:
        if check in _checks:
            _checks.remove(check)


def services_using(session: Session, model_id: str) -> list[str]:
    """Sorted ids of everything the registered checks say uses ``model_id``."""
    with _lock:
        checks = list(_checks)
    found: set[str] = set()
    for check in checks:
        found.update(str(i) for i in check(session, model_id))
    return sorted(found)
