from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.inprocess import InProcessServer

DATA = Path(__file__).parent / "data"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def project_server(app_server_factory: Callable[..., InProcessServer]) -> InProcessServer:
    """The application (in the test process) on a project holding the console tests' playbooks
    (tests/console/data/project)."""
    return app_server_factory(data_dir=DATA)
