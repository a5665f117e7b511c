from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.inprocess import InProcessServer, start_inprocess
from tests.support.server import REPO, ServerClient

DATA = Path(__file__).parent / "data"
TOKEN = "cli-test-token"


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


def client_env(**extra: str) -> dict[str, str]:
    """The caller's environment without any REDRUNNER_* setting, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("REDRUNNER_")}
    env.update(extra)
    return env


def redrunner(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> Result:
    """`redrunner ARGS...` as a user runs it: a separate process, its exit status and both streams."""
    proc = subprocess.run(
        [sys.executable, "-m", "backend", *args],
        cwd=REPO,
        env=env or client_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


@dataclass
class Cli:
    """The client pointed at one server with its token file."""

    server: ServerClient
    token_file: Path

    def __call__(self, command: str, *args: str, timeout: float = 120) -> Result:
        # The options follow the subcommand's name: `schedule add --url ...`.
        words = (command, args[0]) if command in ("schedule", "webhook") else (command,)
        rest = args[len(words) - 1 :]
        return redrunner(*words, "--url", self.server.url, "--token-file", str(self.token_file), *rest, timeout=timeout)


@pytest.fixture(scope="module")
def cli_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessServer]:
    """One server for a module's tests (they use distinct tags), with a token, on tests/cli/data: the
    application in the test process (the client is the process under test)."""
    tmp = tmp_path_factory.mktemp("cli-server")
    srv = start_inprocess(tmp, data_dir=DATA, token=TOKEN)
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def cli(cli_server: InProcessServer, tmp_path_factory: pytest.TempPathFactory) -> Cli:
    token_file = tmp_path_factory.mktemp("cli-token") / "token"
    token_file.write_text(TOKEN + "\n")
    return Cli(cli_server, token_file)
