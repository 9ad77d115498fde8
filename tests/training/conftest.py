"""Fixtures for training tests: the official SDK client, and no training process left behind."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from huaweicloudsdkmodelarts.v1 import ModelArtsClient

from modelworks.compute.processes import ProcessInfo
from tests.conftest import LiveServer
from tests.training._sdk import build_client


@pytest.fixture
def client(server: LiveServer) -> ModelArtsClient:
    return build_client(server)


@pytest.fixture(autouse=True)
def no_leftover_training_processes(tmp_path: Path) -> Iterator[None]:
    """Training processes outlive their server by design; kill any a test left running."""
    yield
    for record in tmp_path.glob("**/jobs/*/process.json"):
        info = ProcessInfo.from_json(record.read_text())
        try:
            ours = abs(psutil.Process(info.pgid).create_time() - info.create_time) < 1.0
        except psutil.NoSuchProcess:
            ours = True  # the leader is gone; Linux keeps the group id while any member lives
        if ours:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(info.pgid, signal.SIGKILL)
