"""`console.cli`: arguments, environment defaults, and `python -m console`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from console.cli import console_token, main, parser
from tests.console.conftest import DATA
from tests.support.server import free_port


def test_environment_supplies_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDRUNNER_URL", "http://127.0.0.1:9999")
    monkeypatch.delenv("REDRUNNER_TOKEN_FILE", raising=False)
    monkeypatch.setenv("REDRUNNER_TOKEN", "from-env")
    args = parser().parse_args(["--tag", "backup", "--job", "12"])
    assert (args.url, console_token(args), args.tag, args.job) == ("http://127.0.0.1:9999", "from-env", "backup", 12)
    args = parser().parse_args(["--url", "http://x:1", "--token", "flag"])
    assert (args.url, console_token(args), args.job) == ("http://x:1", "flag", None)


def test_token_file_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("REDRUNNER_TOKEN", "from-env")
    flag_file, env_file = tmp_path / "flag", tmp_path / "env"
    flag_file.write_text("from-flag-file\n")
    env_file.write_text("from-env-file\n")
    monkeypatch.setenv("REDRUNNER_TOKEN_FILE", str(env_file))
    assert console_token(parser().parse_args([])) == "from-env-file"
    assert console_token(parser().parse_args(["--token-file", str(flag_file)])) == "from-flag-file"


def test_unreadable_token_file_is_a_usage_error(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "console", "--token-file", str(tmp_path / "missing")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2 and "cannot read token file" in result.stderr


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


def test_a_bad_url_is_a_clear_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--url", "notaurl"]) == 2
    err = capsys.readouterr().err
    assert "'notaurl' is not a server URL" in err and "http://127.0.0.1:8787" in err
    assert main(["--url", "http://127.0.0.1:port"]) == 2
    assert "bad port" in capsys.readouterr().err


def test_an_unreachable_server_says_what_to_try(capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    assert main(["--url", url]) == 3
    err = capsys.readouterr().err
    assert f"cannot reach {url}" in err and "port-forward" in err and f"curl {url}/healthz" in err


def test_a_wrong_token_or_path_is_named(server_factory: Any, capsys: pytest.CaptureFixture[str]) -> None:
    srv = server_factory(data_dir=DATA, token="s3cret-long-enough")
    assert main(["--url", srv.url, "--token", "wrong"]) == 2
    assert "refused the token" in capsys.readouterr().err
    assert main(["--url", f"{srv.url}/redrunner", "--token", "s3cret-long-enough"]) == 2
    assert "not as a RedRunner server" in capsys.readouterr().err
