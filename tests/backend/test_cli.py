"""The `redrunner` command line."""

from __future__ import annotations

import subprocess
import sys

from backend import __version__
from tests.support.server import REPO


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "backend", *args], cwd=REPO, capture_output=True, text=True, timeout=60
    )


def test_version_and_help() -> None:
    assert run("--version").stdout.strip() == f"redrunner {__version__}"
    help_text = run("serve", "--help").stdout
    for flag in (
        "--host",
        "--port",
        "--data-dir",
        "--database",
        "--workers",
        "--token-file",
        "--shutdown-grace",
        "REDRUNNER_DATABASE_URL",
    ):
        assert flag in help_text


def test_bad_data_dir_is_a_clear_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    result = run("serve", "--data-dir", str(tmp_path), "--state-dir", str(tmp_path / "s"))
    assert result.returncode != 0
    assert "has no project/ folder" in result.stderr


def test_empty_token_file_refuses_to_start(tmp_path) -> None:  # type: ignore[no-untyped-def]
    token_file = tmp_path / "token"
    token_file.write_text("\n")
    result = run("serve", "--token-file", str(token_file), "--state-dir", str(tmp_path / "s"))
    assert result.returncode != 0 and "is empty" in result.stderr


def test_environment_values_are_checked() -> None:
    import os

    env = {**os.environ, "REDRUNNER_PORT": "tcp://10.0.0.1:8787"}
    result = subprocess.run(
        [sys.executable, "-m", "backend", "serve"], cwd=REPO, capture_output=True, text=True, timeout=60, env=env
    )
    assert result.returncode == 2 and "is not a port number" in result.stderr
