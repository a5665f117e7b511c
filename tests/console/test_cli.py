"""`console.cli`: arguments, environment defaults, and `python -m console`."""

from __future__ import annotations

import subprocess
import sys

import pytest

from console.cli import parser


def test_environment_supplies_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDRUNNER_URL", "http://127.0.0.1:9999")
    monkeypatch.setenv("REDRUNNER_TOKEN", "from-env")
    args = parser().parse_args(["--tag", "backup", "--job", "12"])
    assert (args.url, args.token, args.tag, args.job) == ("http://127.0.0.1:9999", "from-env", "backup", 12)
    args = parser().parse_args(["--url", "http://x:1", "--token", "flag"])
    assert (args.url, args.token, args.job) == ("http://x:1", "flag", None)


def test_bad_job_id_is_a_usage_error() -> None:
    with pytest.raises(SystemExit) as exit_info:
        parser().parse_args(["--job", "twelve"])
    assert exit_info.value.code == 2


def test_python_dash_m_console_runs() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "console", "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0
    assert "--job" in result.stdout and "REDRUNNER_URL" in result.stdout
