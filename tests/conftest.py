from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.server import RunningServer, start_server


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[Callable[..., RunningServer]]:
    """Start real `redrunner serve` processes; all are stopped at teardown."""
    started: list[RunningServer] = []

    def factory(**kwargs: Any) -> RunningServer:
        kwargs.setdefault("name", f"server{len(started)}")
        srv = start_server(tmp_path, **kwargs)
        started.append(srv)
        return srv

    yield factory
    for srv in started:
        srv.stop()


@pytest.fixture
def server(server_factory: Callable[..., RunningServer]) -> RunningServer:
    """A server on the fixture data dir (tests/fixtures/data), SQLite in tmp, no token."""
    return server_factory()
