"""A server shared by the tests of one module that only create models under names of their own."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import LiveServer, run_server


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with run_server(tmp_path_factory.mktemp("models") / "home") as live:
        yield live
