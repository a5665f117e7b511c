"""Finding and killing every process of one playbook run.

ansible-runner kills only the ansible-playbook process group, but ansible-core's workers call
setsid() and survive it, and tasks may daemonize on purpose. Three nets catch them:
- each run's ansible-playbook is started under `run_guard.py`, a child subreaper: whatever the run
  detaches stays below the guard, whose tree is the run (also for `env -i`, which drops the marker);
- every run's processes carry a marker in their environment (REDRUNNER_RUN_ID), searched for over
  every process on the host, which also finds them after a server crash reparented them to init;
- the server itself is a child subreaper too: a process orphaned when its guard was killed comes to
  the server rather than to init. The run then kills what the server adopted since its guard started
  (`adopted_since`), with whatever is below it: a live guard keeps its run's orphans, so only a run
  whose guard was killed leaves processes to the server. The server reaps them (`reap_adopted`).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import sys
import threading
import time
from pathlib import Path

import psutil

log = logging.getLogger(__name__)

MARKER = "REDRUNNER_RUN_ID"
RUN_GUARD = Path(__file__).with_name("run_guard.py")
# Runs the guard from its compiled bytecode (__pycache__, written at install): `python run_guard.py` would
# compile the script on every start, most of the guard's cost. Its folder goes last on the path, so it
# shadows nothing; its path is the first argument, so the command line still names run_guard.py.
GUARD_LAUNCHER = (
    "import sys; sys.path.append(sys.argv[1].rpartition('/')[0]); import run_guard; "
    "sys.exit(run_guard.main(sys.argv[2:]))"
)
PR_SET_CHILD_SUBREAPER = 36

# The server's own children are pexpect's (one run guard per Operation), reaped by pexpect when the run
# ends: `reap_adopted` must never steal their exit status. Spawning holds the lock, so a child is
# registered before the reaper can see it.
SPAWN_LOCK = threading.Lock()
_spawned: set[int] = set()
# Whether this kernel lets a process become a child subreaper: the run guard relies on the same call.
_subreaper = False
_HAVE_PROC = os.path.isdir("/proc/self")


def become_subreaper() -> bool:
    """Make orphans of this process's descendants our children instead of pid 1's (Linux only)."""
    global _subreaper
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        ok = libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        ok = False
    if not ok:
        log.warning("cannot become a child subreaper: processes a killed run guard leaves go to pid 1")
    _subreaper = bool(ok)
    return _subreaper


def guarded(command: list[str]) -> list[str]:
    """`command` below a run guard that dies with this server (and ends its run then). Its parent-death
    signal comes when the thread that spawns it exits: call from the run's worker thread, one of the
    dispatcher's pool, which lives until the server's runs are over."""
    launch = [sys.executable, "-I", "-S", "-c", GUARD_LAUNCHER, str(RUN_GUARD)]
    return [*launch, "--parent", str(os.getpid()), "--", *command]


def guards_contain_runs() -> bool:
    """Whether a run guard that exited on its own has left nothing of its run behind: it can only be sure
    when it is a subreaper (then every detached process of the run was its child, and it killed them)."""
    return _subreaper


def own_child(pid: int) -> None:
    """Record a child spawned on purpose (call with SPAWN_LOCK held, right after the fork)."""
    _spawned.add(pid)


def reap_adopted() -> int:
    """Reap dead orphans the server adopted as subreaper; returns how many. Spawned children are left to
    their owners; the set forgets them once they are gone (reaped by pexpect or Popen.wait)."""
    with SPAWN_LOCK:
        if not _HAVE_PROC:
            return _reap_listed()
        _forget_gone()
        reaped, done = _reap_waitable()
        if done:
            return reaped
        return reaped + _reap_listed()


def _forget_gone() -> None:
    """Drop spawned children that are no longer ours (reaped by their owner; the pid may be reused)."""
    me = os.getpid()
    gone = {pid for pid in _spawned if _parent_of(pid) != me}
    _spawned.difference_update(gone)


def _parent_of(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    # The command name may hold spaces and parentheses: the fields after the last ')' are fixed.
    return int(stat[stat.rfind(b")") + 2 :].split()[1])


def _reap_waitable() -> tuple[int, bool]:
    """The common case in one system call per zombie: waitid(WNOWAIT) names a dead child without reaping
    it. Returns (reaped, done); not done when the first dead child is a spawned one, whose exit status is
    its owner's, since waitid cannot look past it (the caller then lists the children from /proc)."""
    reaped = 0
    while True:
        try:
            info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return reaped, True
        if info is None or info.si_pid == 0:
            return reaped, True
        if info.si_pid in _spawned:
            return reaped, False
        try:
            if os.waitpid(info.si_pid, os.WNOHANG)[0]:
                reaped += 1
        except ChildProcessError:
            pass


def _reap_listed() -> int:
    """Reap every dead child that is not a spawned one, listing the children (psutil reads all of /proc)."""
    reaped = 0
    try:
        children = psutil.Process(os.getpid()).children()
    except psutil.Error:
        return 0
    _spawned.intersection_update(c.pid for c in children)
    for child in children:
        if child.pid in _spawned:
            continue
        try:
            if child.status() != psutil.STATUS_ZOMBIE:
                continue
            if os.waitpid(child.pid, os.WNOHANG)[0]:
                reaped += 1
        except (psutil.Error, ChildProcessError):
            continue
    return reaped


class OrphanReaper:
    """Reaps adopted orphans every `interval` seconds, so none lingers as a zombie."""

    def __init__(self, interval: float = 1.0) -> None:
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="redrunner-reaper", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        reap_adopted()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                reap_adopted()
            except Exception:
                log.exception("reaping adopted processes failed")


def _has_marker(proc: psutil.Process, run_id: str) -> bool:
    try:
        return proc.environ().get(MARKER) == run_id
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess, OSError):
        return False


def adopted_since(started: float) -> list[psutil.Process]:
    """The live processes this server adopted (its children it did not spawn) created at or after
    `started` (a run guard's start), and everything below them. Orphans come to the server only from a
    run whose guard was killed — `env -i` and `setsid` keep no marker, but they cannot leave this tree.
    Another such run's orphans may be among them: its guard is gone too, and its run is ending."""
    if not _subreaper:
        return []
    try:
        children = psutil.Process(os.getpid()).children()
    except psutil.Error:
        return []
    # Read after the listing: a guard forked before it was registered before SPAWN_LOCK was let go.
    with SPAWN_LOCK:
        spawned = set(_spawned)
    found: list[psutil.Process] = []
    for child in children:
        if child.pid in spawned:
            continue
        try:
            # create_time has the kernel's clock-tick resolution, as the guard's own start time does.
            if child.create_time() < started or child.status() == psutil.STATUS_ZOMBIE:
                continue
            found.append(child)
            found.extend(child.children(recursive=True))
        except psutil.Error:
            continue
    return found


def run_processes(run_id: str) -> list[psutil.Process]:
    """Processes carrying the run's marker, anywhere on the host."""
    return [p for p in psutil.process_iter() if _has_marker(p, run_id)]


def kill_run(
    run_id: str,
    pid: int | None = None,
    pid_started: float | None = None,
    marker_search: bool = True,
    adopted: bool = False,
) -> int:
    """SIGKILL every process of the run: the tree below its guard `pid`, and whatever carries its marker
    anywhere on the host (a descendant search alone misses what a crash left under init); returns how
    many were killed. Without `marker_search`, only the guard's tree: for a run whose guard exited on its
    own (see `guards_contain_runs`), where reading every process's environment finds nothing and costs
    more than the rest of the Operation's server-side work. With `adopted` (this server's own run, and
    `pid_started` its guard's start), also what the server adopted since (`adopted_since`)."""
    procs = {p.pid: p for p in run_processes(run_id)} if marker_search else {}
    if adopted and marker_search and pid_started is not None and pid_started > 0:
        for proc in adopted_since(pid_started):
            procs.setdefault(proc.pid, proc)
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
    # Our own children are reaped by pexpect (the guard) or by reap_adopted (orphans): waiting on them here
    # would steal an exit status.
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
    reap_adopted()
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
