"""Terminals get text: a playbook's output and a task name built from extravars reach `/stdout`, the
CLI and the console with colour at most (backend/terminal_text.py), never a title change (OSC 0), a
clipboard write (OSC 52), a device control string (DCS) or a cursor move."""

from __future__ import annotations

import subprocess
import sys

from tests.support.server import REPO, RunningServer

from .helpers import all_events, make_job, start

# A task name from an extravar: a title change and a bell.
WHO = "ops\x1b]0;EXTRAVAR-TITLE\x07\x07"
FORBIDDEN = ("\x1b]", "\x1bP", "\x1b[1A", "\x07", "\x9d")


def run_escapes(server: RunningServer) -> int:
    job = make_job(server, "escapes", ["db"])
    op = server.wait_terminal(start(server, job["id"], "db", "escapes.yml", extravars={"who": WHO})["id"], 90)
    assert op["status"] == "successful", op
    return int(op["id"])


def test_stdout_and_the_cli_carry_colour_at_most(server: RunningServer) -> None:
    op_id = run_escapes(server)
    # The events keep what the playbook printed (JSON escapes it): only what a terminal shows is cleaned.
    assert any("\x1b]52;" in (e["stdout"] or "") for e in all_events(server, op_id))
    plain = server.get(f"operations/{op_id}/stdout").body.decode()
    coloured = server.get(f"operations/{op_id}/stdout?ansi=true").body.decode()
    cli = subprocess.run(
        [sys.executable, "-m", "backend", "logs", "--ansi", "--url", server.url, str(op_id)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    followed = subprocess.run(
        [sys.executable, "-m", "backend", "logs", "-f", "--ansi", "--url", server.url, str(op_id)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    for text in (plain, coloured, cli, followed):
        assert "TASK [Greet ops]" in text, text
        assert "osc0 osc52 dcs up red" in text.replace("\x1b[31m", "").replace("\x1b[0m", ""), text
        assert not [seq for seq in FORBIDDEN if seq in text], repr(text)
    assert "\x1b" not in plain
    assert "red\x1b[31mRED\x1b[0m" in coloured and "red\x1b[31mRED\x1b[0m" in cli and "\x1b[31mRED" in followed
