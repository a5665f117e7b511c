"""The `redrunner` command line."""

from __future__ import annotations

import subprocess
import sys

from backend import __version__
from tests.support.server import REPO


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "backend", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=60)


def test_version_and_help() -> None:
    assert run("--version").stdout.strip() == f"redrunner {__version__}"
    help_text = run("serve", "--help").stdout
    for flag in ("--host", "--port", "--data-dir", "--database", "--workers", "--token-file", "--shutdown-grace",
                 "REDRUNNER_DATABASE_URL"):
        assert flag in help_text


def test_bad_data_dir_is_a_clear_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    result = run("serve", "--data-dir", str(tmp_path), "--state-dir", str(tmp_path / "s"))
    assert result.returncode != 0
    assert "has no project/ folder" in result.stderr
