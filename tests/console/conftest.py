from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.server import RunningServer

DATA = Path(__file__).parent / "data"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def project_server(server_factory: Callable[..., RunningServer]) -> RunningServer:
    """A real server whose project holds the console tests' playbooks (tests/console/data/project)."""
    return server_factory(data_dir=DATA)
