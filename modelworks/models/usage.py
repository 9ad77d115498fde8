"""Who uses a model: the hook real-time services register so a model in use is not deleted.

    register_usage_check(services_of_model)   # once, at import of the services module
    services_using(session, model_id)          # ids of every user, from every registered check

A check is ``fn(session, model_id) -> list[str]`` returning the ids of whatever uses the model (an
empty list when nothing does); it reads through the caller's session and must not write.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session

from modelworks.registry import Registry

UsageCheck = Callable[[Session, str], list[str]]

usage_checks: Registry[UsageCheck] = Registry("model usage check")
"""The checks asked before a model is deleted, by ``module.qualname`` (see ``_name_of``)."""


def _name_of(check: UsageCheck) -> str:
    """A function's ``module.qualname``; an object's class and id (several objects of one class may be
    registered at once, as tests do)."""
    qualname = getattr(check, "__qualname__", None)
    if isinstance(qualname, str):
        return f"{getattr(check, '__module__', '')}.{qualname}"
    return f"{type(check).__module__}.{type(check).__qualname__}@{id(check):x}"


def register_usage_check(check: UsageCheck) -> None:
    """Ask ``check`` before a model is deleted; registering the same function twice is a bug."""
    usage_checks.register(_name_of(check), check)


def unregister_usage_check(check: UsageCheck) -> None:
    """Stop asking ``check`` (for tests and plugins that unload); an unknown check is ignored."""
    name = _name_of(check)
    usage_checks.unregister(name, check)


def services_using(session: Session, model_id: str) -> list[str]:
    """Sorted ids of everything the registered checks say uses ``model_id``."""
    found: set[str] = set()
    for check in usage_checks.values():
        found.update(str(i) for i in check(session, model_id))
    return sorted(found)
