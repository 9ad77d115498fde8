"""RayExecutor on a private local Ray head (skipped without ray). One head for the whole module."""

from __future__ import annotations

import functools
import importlib.util
import math
import operator
import os
import sys
from collections.abc import Iterator

import pytest

from modelworks.compute import RayExecutor, create_executor
from modelworks.settings import Settings

# Not importorskip: importing ray here, before RayExecutor does, would defeat its loopback-only setup.
pytestmark = [
    pytest.mark.ray,
    pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="ray is not installed"),
]


@pytest.fixture(scope="module")
def executor(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RayExecutor]:
    if "ray" in sys.modules and sys.modules["ray"].is_initialized():
        pytest.skip("another test left Ray running in this process")
    ex = RayExecutor(Settings(home=tmp_path_factory.mktemp("home"), compute_processes=2))
    assert ex.address == "local"
    with ex:
        yield ex
    assert not sys.modules["ray"].is_initialized()


def test_map_preserves_order(executor: RayExecutor) -> None:
    items = list(range(40))
    assert executor.map(math.factorial, items) == [math.factorial(i) for i in items]
    assert executor.map(abs, []) == []


def test_map_runs_in_ray_workers(executor: RayExecutor) -> None:
    assert os.getpid() not in set(executor.map(_pid, range(4)))


def _pid(_item: int) -> int:
    return os.getpid()


def test_map_raises_the_items_error(executor: RayExecutor) -> None:
    with pytest.raises(ValueError):
        executor.map(math.sqrt, [4.0, -1.0])


def test_submit_returns_a_concurrent_future(executor: RayExecutor) -> None:
    futures = [executor.submit(operator.mul, i, 3) for i in range(4)]
    assert [f.result(timeout=60) for f in futures] == [0, 3, 6, 9]
    assert executor.submit(_pid, 0).result(timeout=60) != os.getpid()


def test_partials_and_builtins_work(executor: RayExecutor) -> None:
    assert executor.map(functools.partial(pow, 2), [1, 2, 3]) == [2, 4, 8]


def test_resources_describe_the_local_head(executor: RayExecutor) -> None:
    res = executor.resources()
    assert res["cpus"] == 2
    assert res["memory_bytes"] > 0
    assert res["gpus"] >= 0


def test_local_head_binds_loopback_only(executor: RayExecutor) -> None:
    executor.resources()  # make sure Ray is up
    nodes = sys.modules["ray"].nodes()
    assert {node["NodeManagerAddress"] for node in nodes} == {"127.0.0.1"}


def test_create_executor_picks_ray_for_an_address(tmp_path: object) -> None:
    ex = create_executor(Settings(home=tmp_path, ray_address="ray://nowhere:1"))
    assert isinstance(ex, RayExecutor) and ex.address == "ray://nowhere:1"
