"""The run guard on its own: what the command detaches dies with it, and its exit status comes through."""

from __future__ import annotations

import subprocess
import sys

from backend.runner import RUN_GUARD

from .processes import sleeps


def guard(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-I", "-S", str(RUN_GUARD), "--", *command], capture_output=True, text=True, timeout=30
    )


def test_processes_the_command_detached_are_gone_when_it_exits() -> None:
    script = "setsid nohup sleep 587 >/dev/null 2>&1 & env -i /bin/sh -c 'setsid sleep 589 >/dev/null 2>&1 &'"
    result = guard("/bin/sh", "-c", script)
    assert result.returncode == 0, result.stderr
    assert not sleeps(587) and not sleeps(589)


def test_the_exit_status_is_the_commands() -> None:
    assert guard("/bin/sh", "-c", "exit 3").returncode == 3
    assert guard("/no/such/program").returncode == 127
