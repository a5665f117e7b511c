"""Finding and killing every process of one playbook run.

ansible-runner kills only the ansible-playbook process group, but ansible-core's workers call
setsid() and survive it. Every run gets a marker in its environment (REDRUNNER_RUN_ID), which all its
descendants inherit whatever session they move to: killing by marker reaches the whole tree, also
after a server crash has reparented it to init.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time

import psutil

log = logging.getLogger(__name__)

MARKER = "REDRUNNER_RUN_ID"


def _has_marker(proc: psutil.Process, run_id: str) -> bool:
    try:
        return proc.environ().get(MARKER) == run_id
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess, OSError):
        return False


def run_processes(run_id: str, search_all: bool = False) -> list[psutil.Process]:
    """Processes carrying the run's marker: our descendants, or (search_all) any process on the host."""
    if search_all:
        candidates = list(psutil.process_iter())
    else:
        try:
            candidates = psutil.Process().children(recursive=True)
        except psutil.Error:
            candidates = []
    return [p for p in candidates if _has_marker(p, run_id)]


def kill_run(run_id: str, pid: int | None = None, pid_started: float | None = None, search_all: bool = False) -> int:
    """SIGKILL every process of the run; returns how many were killed."""
    procs = {p.pid: p for p in run_processes(run_id, search_all)}
    if pid:
        try:
            root = psutil.Process(pid)
            if pid_started is None or abs(root.create_time() - pid_started) < 1.0:
                procs.setdefault(root.pid, root)
                for child in root.children(recursive=True):
                    procs.setdefault(child.pid, child)
        except psutil.Error:
            pass
    alive = list(procs.values())
    for proc in alive:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    # Our own children are reaped by pexpect: waiting on them here would steal their exit status.
    me = os.getpid()
    others = []
    for proc in alive:
        try:
            if proc.ppid() != me:
                others.append(proc)
        except psutil.Error:
            pass
    still = _wait_dead(others, timeout=2.0)
    if still:
        log.warning("processes of run %s did not die: %s", run_id, [p.pid for p in still])
    return len(alive)


def _dead(proc: psutil.Process) -> bool:
    """Gone, or a zombie: dead all the same. Orphans are reaped by pid 1 when it gets to it (every ~2 s in
    some VMs, never when the server itself is pid 1), so waiting for them to vanish would stall every cancel."""
    try:
        return bool(proc.status() == psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return True
    except psutil.Error:
        return False


def _wait_dead(procs: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    """Wait until every process is dead; returns those still alive after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    still = [p for p in procs if not _dead(p)]
    while still and time.monotonic() < deadline:
        time.sleep(0.01)
        still = [p for p in still if not _dead(p)]
    return still


def process_start_time(pid: int) -> float | None:
    try:
        return float(psutil.Process(pid).create_time())
    except psutil.Error:
        return None
