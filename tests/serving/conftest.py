"""Fixtures for service tests: a server per module, models in it, and no model server left behind."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from modelworks.compute.processes import ProcessInfo


def kill_instances(root: Path) -> None:
    """Kill every model-server process group recorded below ``root`` (they outlive their server)."""
    for record in root.glob("**/services/*/instances/*/process.json"):
        try:
            info = ProcessInfo.from_json(record.read_text())
        except (OSError, ValueError, KeyError):
            continue
        try:
            ours = abs(psutil.Process(info.pgid).create_time() - info.create_time) < 1.0
        except psutil.NoSuchProcess:
            ours = True  # the leader is gone; Linux keeps the group id while any member lives
        if ours:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(info.pgid, signal.SIGKILL)


@pytest.fixture(autouse=True)
def no_leftover_instances(tmp_path: Path) -> Iterator[None]:
    yield
    kill_instances(tmp_path)


@pytest.fixture(scope="module", autouse=True)
def no_leftover_module_instances(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    yield
    kill_instances(tmp_path_factory.getbasetemp())
