"""`logs -f` through a connection that drops mid-run (a restarting `kubectl port-forward`)."""

from __future__ import annotations

import subprocess
import sys
from functools import partial
from pathlib import Path

import pytest

from tests.cli.conftest import Cli, client_env
from tests.cli.relaythread import LineReader, relay_to
from tests.support.server import REPO, wait_until


def stored_lines(cli: Cli, op_id: int) -> list[str]:
    return cli.server.get(f"operations/{op_id}/stdout").body.decode().replace("\r\n", "\n").splitlines()


@pytest.mark.slow
def test_logs_follow_loses_and_repeats_no_line_across_dropped_connections(cli: Cli, tmp_path: Path) -> None:
    job = cli.server.post("jobs", {"tag": "cli-drop", "units": ["a"]}).json()
    op = cli.server.post(f"jobs/{job['id']}/units/a", {"action": "gated", "extravars": {"gate_dir": str(tmp_path)}})
    op_id = op.json()["id"]
    with relay_to(cli.server.port) as relay:
        proc = subprocess.Popen(
            [sys.executable, "-m", "backend", "logs", str(op_id), "-f", "--url", relay.url],
            cwd=REPO,
            env=client_env(REDRUNNER_TOKEN_FILE=str(cli.token_file)),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        out, err = LineReader(proc.stdout), LineReader(proc.stderr)
        try:
            dropped = 0
            for gate, last_item in (("gate1", 99), ("gate2", 199)):
                wait_until(partial(out.has, f'"msg": "item {last_item}"'), timeout=90, what=f"item {last_item}")
                dropped += relay.drop_all()
                # More output happens while the client reconnects.
                (tmp_path / gate).touch()
            assert proc.wait(120) == 0, "\n".join(err.lines)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
        out.join(10)
        err.join(10)
    assert dropped >= 2
    assert relay.relay.connections >= 3, "the client did not reconnect"
    assert sum("resuming" in line for line in err.lines) >= 2
    # Every line once, in order: exactly the stored output.
    assert out.lines == stored_lines(cli, op_id)
    items = [line for line in out.lines if '"msg": "item ' in line]
    assert len(items) == 300


@pytest.mark.slow
def test_logs_follow_exits_3_when_the_server_stays_away(cli: Cli, tmp_path: Path) -> None:
    job = cli.server.post("jobs", {"tag": "cli-gone", "units": ["a"]}).json()
    op = cli.server.post(f"jobs/{job['id']}/units/a", {"action": "gated", "extravars": {"gate_dir": str(tmp_path)}})
    with relay_to(cli.server.port) as relay:
        proc = subprocess.Popen(
            [sys.executable, "-m", "backend", "logs", str(op.json()["id"]), "-f", "--url", relay.url],
            cwd=REPO,
            env=client_env(REDRUNNER_TOKEN_FILE=str(cli.token_file)),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        out, err = LineReader(proc.stdout), LineReader(proc.stderr)
        try:
            wait_until(lambda: out.has('"msg": "item 99"'), timeout=90, what="the first burst")
            relay.close()  # the port-forward is gone for good: every reconnect is refused
            assert proc.wait(120) == 3
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
            (tmp_path / "gate1").touch()
            (tmp_path / "gate2").touch()
        err.join(10)
    assert any("cannot reach the server" in line for line in err.lines)
    cli.server.wait_terminal(op.json()["id"])
