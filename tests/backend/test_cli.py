"""The `redrunner` command line."""

from __future__ import annotations

import subprocess
import sys

import pytest

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


def serve_fails(tmp_path, *args: str, env: dict[str, str] | None = None) -> str:  # type: ignore[no-untyped-def]
    """Run `serve` expecting a start-up failure: exit status 2 and one line on stderr; returns the line."""
    import os

    full_env = {k: v for k, v in os.environ.items() if not k.startswith("REDRUNNER_")}
    full_env.update(env or {})
    result = subprocess.run(
        [sys.executable, "-m", "backend", "serve", "--state-dir", str(tmp_path / "state"), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        env=full_env,
    )
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    return lines[-1]


def test_a_port_in_use_is_one_line_naming_the_flag(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = serve_fails(tmp_path, "--port", str(port))
    assert "--port" in line and str(port) in line and "in use" in line


def test_a_missing_cert_file_is_one_line_naming_the_flag(tmp_path) -> None:  # type: ignore[no-untyped-def]
    line = serve_fails(tmp_path, "--port", "0", "--certfile", str(tmp_path / "nope.pem"))
    assert "--certfile" in line and "nope.pem" in line


def test_a_bad_log_level_is_one_line_naming_the_flag(tmp_path) -> None:  # type: ignore[no-untyped-def]
    line = serve_fails(tmp_path, "--log-level", "chatty")
    assert "--log-level" in line and "chatty" in line


def test_an_unreachable_database_is_one_line_naming_the_flag(tmp_path) -> None:  # type: ignore[no-untyped-def]
    line = serve_fails(tmp_path, "--port", "0", "--database", "postgresql://postgres@127.0.0.1:1/nowhere")
    assert "--database" in line and "127.0.0.1:1" in line


@pytest.mark.parametrize("where", ["under-a-file", "lock-is-a-folder"])
def test_a_database_file_the_server_may_not_open_is_one_line(tmp_path, where: str) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "afile").write_text("x")
    (tmp_path / "x.db.lock").mkdir()
    path = tmp_path / "afile" / "r.db" if where == "under-a-file" else tmp_path / "x.db"
    line = serve_fails(tmp_path, "--port", "0", "--database", f"sqlite:///{path}")
    assert "--database" in line and str(path) in line


def test_a_bad_host_is_one_line_naming_the_flag(tmp_path) -> None:  # type: ignore[no-untyped-def]
    line = serve_fails(tmp_path, "--port", "0", "--host", "no-such-host.invalid")
    assert "--host" in line and "no-such-host.invalid" in line


def test_a_bad_port_flag_blames_the_flag_and_a_bad_variable_the_variable(tmp_path) -> None:  # type: ignore[no-untyped-def]
    line = serve_fails(tmp_path, "--port", "70000")
    assert "--port" in line and "70000" in line and "REDRUNNER_PORT" not in line
    line = serve_fails(tmp_path, env={"REDRUNNER_PORT": "70000"})
    assert "REDRUNNER_PORT" in line and "70000" in line


def test_a_second_server_on_the_same_sqlite_file_refuses_to_start(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tests.support.server import start_server

    first = start_server(tmp_path, name="first")
    try:
        line = serve_fails(tmp_path, "--port", "0", "--database", first.database)
        assert "in use by another" in line and first.database.removeprefix("sqlite:///") in line
        assert first.get("/readyz").status == 200
    finally:
        first.stop()
