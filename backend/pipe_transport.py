"""The `pipe` event transport: ansible-playbook spawned here and its events read from a pipe.

ansible-runner prepares the run as for its own transport (command, environment, working dir), so the
playbook sees the same; only the stdout callback differs (`redrunner_events`, a thin layer over runner's
awx_display) and stdout is a pipe, not a pty. The loop is runner's pexpect loop without pexpect: read what
comes, and every POLL_INTERVAL ask `cancel` (which kills the run's processes itself when it says yes).
"""

from __future__ import annotations

import functools
import math
import os
import select
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from . import processes
from .event_stream import NONCE_FILE, EventStream

PLUGIN_DIR = Path(__file__).with_name("ansible_plugins") / "callback"
STDOUT_CALLBACK = "redrunner_events"
# Tells the plugin that ANSIBLE_FORCE_COLOR is ours, not the user's (must equal the plugin's FORCED_COLOR).
FORCED_COLOR = "REDRUNNER_TTY_COLOR"
READ_SIZE = 65536
# After the run guard exits, how long to wait for the pipe's EOF (runner waits 5 s for pexpect's): only a
# process that escaped the guard could hold the pipe open that long.
DRAIN_GRACE = 5.0

_TRUE = frozenset({"y", "yes", "on", "1", "true", "t", "1.0"})


def _ansible_true(value: str | None) -> bool:
    return value is not None and value.strip().lower() in _TRUE


@functools.cache
def _terminal_has_colors(term: str) -> bool:
    """What ansible.utils.color asks curses on a terminal. curses reads the terminfo database once per
    process (later setupterm calls are no-ops): the first TERM asked about wins, the server's own."""
    try:
        import curses

        with open(os.devnull, "wb") as devnull:
            curses.setupterm(term, devnull.fileno())
        return bool(curses.tigetnum("colors") >= 0)
    except Exception:
        return False


def tty_colors(env: dict[str, str]) -> bool:
    """Whether ansible-playbook colors its output on a pty (runner's transport) with this environment."""
    if _ansible_true(env.get("ANSIBLE_FORCE_COLOR")):
        return True
    if _ansible_true(env.get("ANSIBLE_NOCOLOR")):
        return False
    term = env.get("TERM")
    return bool(term) and _terminal_has_colors(str(term))


def child_env(runner_env: dict[str, str]) -> dict[str, str]:
    """runner's prepared environment with our stdout callback, and the colors a pty would have got."""
    env = {str(k): str(v) for k, v in runner_env.items()}
    env["ANSIBLE_STDOUT_CALLBACK"] = STDOUT_CALLBACK
    # runner's own callback folder stays on the path: the plugin loads awx_display from it.
    path = [str(PLUGIN_DIR), env.get("ANSIBLE_CALLBACK_PLUGINS")]
    env["ANSIBLE_CALLBACK_PLUGINS"] = os.pathsep.join(filter(None, path))
    if tty_colors(env) and not _ansible_true(env.get("ANSIBLE_FORCE_COLOR")):
        # Ansible colors only a terminal; on the pipe it must be told, to print what it prints today. The
        # plugin takes both variables out of the environment again, so the playbook's tasks never see them.
        env["ANSIBLE_FORCE_COLOR"] = "1"
        env[FORCED_COLOR] = "1"
    return env


def run(
    command: list[str],
    env: dict[str, str],
    cwd: str | None,
    stream: EventStream,
    cancel: Callable[[], bool],
    spawned: Callable[[int], None],
    kill: Callable[[], object],
    poll_interval: float,
) -> tuple[str, int | None]:
    """Run `command` to its end; returns runner's (status, rc): canceled (rc 254), successful, failed."""
    # The mark's nonce goes to the plugin in a file it deletes: an environment variable would stay
    # readable in /proc/<pid>/environ by the playbook's own tasks.
    fd, nonce_path = tempfile.mkstemp(prefix="redrunner-nonce-")
    try:
        os.write(fd, stream.nonce.encode())
        os.close(fd)
        return _run(command, {**env, NONCE_FILE: nonce_path}, cwd, stream, cancel, spawned, kill, poll_interval)
    finally:
        Path(nonce_path).unlink(missing_ok=True)


def _run(
    command: list[str],
    env: dict[str, str],
    cwd: str | None,
    stream: EventStream,
    cancel: Callable[[], bool],
    spawned: Callable[[int], None],
    kill: Callable[[], object],
    poll_interval: float,
) -> tuple[str, int | None]:
    with processes.SPAWN_LOCK:
        proc = subprocess.Popen(
            command,
            cwd=cwd,
            env=env,
            # No terminal: nothing can prompt (a prompt on runner's pty waited until the time limit).
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            # Its own session, as pexpect gave it: a signal to the server's process group does not reach it.
            start_new_session=True,
        )
        processes.own_child(proc.pid)
    assert proc.stdout is not None
    try:
        spawned(proc.pid)
        canceled = _pump(proc, stream, cancel, poll_interval)
        rc = proc.wait()
    finally:
        if proc.returncode is None:
            # Only on an exception (from a handler): nothing of the run may outlive it, and we reap the guard.
            kill()
            proc.wait()
        proc.stdout.close()
    stream.close()
    if canceled:
        return "canceled", 254
    return ("successful" if rc == 0 else "failed"), rc


def _pump(
    proc: subprocess.Popen[bytes],
    stream: EventStream,
    cancel: Callable[[], bool],
    poll_interval: float,
) -> bool:
    """Feed the pipe to `stream` until EOF; returns whether `cancel` said to stop."""
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    canceled = False
    next_check = time.monotonic() + poll_interval
    drain_until: float | None = None
    while True:
        now = time.monotonic()
        if now >= next_check:
            next_check = now + poll_interval
            if not canceled and cancel():
                canceled = True
            if drain_until is None:
                if proc.poll() is not None:
                    drain_until = now + DRAIN_GRACE
            elif now >= drain_until:
                return canceled
        if poller.poll(math.ceil(max(0.0, next_check - now) * 1000)):
            data = os.read(fd, READ_SIZE)
            if not data:
                return canceled
            stream.feed(data)
