"""The run guard on its own: what the command detaches dies with it, and its exit status comes through."""

from __future__ import annotations

import signal
import subprocess
import sys

import psutil

from backend.processes import RUN_GUARD
from tests.support.server import wait_until

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


def test_with_a_parent_that_is_already_gone_the_command_never_starts() -> None:
    # The parent-death signal is set by the guard itself: a parent that died before cannot send it.
    result = guard_with_parent(1, "sleep", "597")
    assert result.returncode == 128 + signal.SIGUSR1 and "server is gone" in result.stderr
    assert not sleeps(597)


def test_the_guard_and_its_command_die_with_their_parent() -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, str(RUN_GUARD), "sleep 599 & sleep 598"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert parent.stdout is not None
        guard_pid = int(parent.stdout.readline())
        wait_until(lambda: sleeps(598) and sleeps(599), 10, what="the command's sleeps")
        parent.kill()
        parent.wait(10)
        wait_until(lambda: not psutil.pid_exists(guard_pid) or psutil.Process(guard_pid).status() == "zombie", 10)
        wait_until(lambda: not sleeps(598) and not sleeps(599), 10, what="the command to die with its guard")
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()


def guard_with_parent(parent: int, *command: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-I", "-S", str(RUN_GUARD), "--parent", str(parent), "--", *command]
    return subprocess.run(argv, capture_output=True, text=True, timeout=30)


# Spawns the guard as the server does: from one of many threads (the guard's parent-death signal then
# comes once per thread it is handed to as the process dies), and waits for ever.
PARENT = """
import os, subprocess, sys, threading, time
def spawn():
    guard = subprocess.Popen([sys.executable, "-I", "-S", sys.argv[1], "--parent", str(os.getpid()), "--",
                              "/bin/sh", "-c", sys.argv[2]])
    print(guard.pid, flush=True)
    time.sleep(600)
for _ in range(16):
    threading.Thread(target=time.sleep, args=(600,), daemon=True).start()
threading.Thread(target=spawn, daemon=True).start()
time.sleep(600)
"""
