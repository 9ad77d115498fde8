"""The handler registry and the loading of handler modules."""

from __future__ import annotations

import sys
from typing import Any

import pytest

from modelworks.jobs import (
    BUILTIN_HANDLER_MODULES,
    TaskContext,
    TaskHandler,
    get_handler,
    load_handler_modules,
    register,
    registered_kinds,
)
from modelworks.jobs.registry import import_modules
from modelworks.settings import Settings


class _Dup(TaskHandler):
    kind = "test.echo"

    def run(self, ctx: TaskContext) -> dict[str, Any]:
        return {}


class _NoKind(TaskHandler):
    def run(self, ctx: TaskContext) -> dict[str, Any]:
        return {}


def test_duplicate_kind_is_refused() -> None:
    before = get_handler("test.echo")
    with pytest.raises(ValueError, match="already registered"):
        register(_Dup())
    assert get_handler("test.echo") is before


def test_handler_without_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="no kind"):
        register(_NoKind())


def test_unknown_kind_names_the_known_ones() -> None:
    with pytest.raises(KeyError) as info:
        get_handler("no.such.kind")
    message = str(info.value)
    assert "no.such.kind" in message
    assert "test.echo" in message and "test.loop" in message


def test_import_errors_propagate() -> None:
    with pytest.raises(ModuleNotFoundError):
        import_modules(["modelworks_no_such_module"])


def test_load_handler_modules_imports_builtins_and_extras(tmp_path: Any) -> None:
    assert "modelworks.transfer.import_task" in BUILTIN_HANDLER_MODULES
    load_handler_modules(Settings(home=tmp_path, task_modules=" tests.jobs.handlers_for_tests , colorsys,"))
    assert "modelworks.transfer.import_task" in sys.modules
    assert "colorsys" in sys.modules
    assert "test.echo" in registered_kinds()
    # Loading again (the server and a worker thread may both do it) must not re-register.
    load_handler_modules(Settings(home=tmp_path, task_modules="tests.jobs.handlers_for_tests"))


def test_load_handler_modules_propagates_a_bad_extra_module(tmp_path: Any) -> None:
    with pytest.raises(ModuleNotFoundError):
        load_handler_modules(Settings(home=tmp_path, task_modules="modelworks_no_such_module"))
