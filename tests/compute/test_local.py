"""LocalProcessExecutor: real spawned processes."""

from __future__ import annotations

import math
import operator
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelworks.compute import (
    Executor,
    LocalProcessExecutor,
    RayExecutor,
    create_executor,
    executor_names,
    register,
)
from modelworks.settings import Settings


@pytest.fixture(scope="module")
def executor(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalProcessExecutor]:
    settings = Settings(home=tmp_path_factory.mktemp("home"), compute_processes=2, ray_address="")
    ex = create_executor(settings)
    assert isinstance(ex, LocalProcessExecutor) and ex.name == "local"
    with ex:
        yield ex


def test_nothing_starts_until_used(tmp_path: Path) -> None:
    ex = LocalProcessExecutor(Settings(home=tmp_path))
    assert ex.map(abs, []) == []
    assert ex._pool is None
    ex.shutdown()
    ex.shutdown()


def test_map_preserves_order(executor: LocalProcessExecutor) -> None:
    items = list(range(200))
    assert executor.map(math.factorial, items) == [math.factorial(i) for i in items]


def test_map_runs_in_other_processes(executor: LocalProcessExecutor) -> None:
    pids = set(executor.map(_pid, range(8)))
    assert os.getpid() not in pids


def _pid(_item: int) -> int:
    return os.getpid()


def test_map_raises_the_items_error(executor: LocalProcessExecutor) -> None:
    with pytest.raises(ValueError):
        executor.map(math.sqrt, [4.0, -1.0])


def test_submit_returns_a_future(executor: LocalProcessExecutor) -> None:
    futures = [executor.submit(operator.add, i, 10) for i in range(5)]
    assert [f.result(timeout=60) for f in futures] == [10, 11, 12, 13, 14]
    assert executor.submit(os.getpid).result(timeout=60) != os.getpid()


def test_resources_describe_this_machine(executor: LocalProcessExecutor) -> None:
    res = executor.resources()
    assert set(res) == {"cpus", "memory_bytes", "gpus"}
    assert 1 <= res["cpus"] <= (os.cpu_count() or 1)
    assert res["memory_bytes"] > 256 * 1024**2
    assert res["gpus"] >= 0


def test_registry_refuses_duplicates_and_unknown_names(tmp_path: Path) -> None:
    assert {"local", "ray"} <= set(executor_names())
    with pytest.raises(ValueError, match="already registered"):
        register("local", LocalProcessExecutor)
    with pytest.raises(KeyError, match="known: "):
        create_executor(Settings(home=tmp_path), name="nope")


def test_ray_address_selects_ray_which_connects_lazily(tmp_path: Path) -> None:
    ex: Executor = create_executor(Settings(home=tmp_path, ray_address="127.0.0.1:1"))
    assert isinstance(ex, RayExecutor) and ex.address == "127.0.0.1:1"
    assert ex._ray is None  # nothing connects to the (unreachable) address until first use
    ex.shutdown()
