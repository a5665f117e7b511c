"""The parent of one run's ansible-playbook: nothing the playbook starts may outlive it.

Run as `python -I -S run_guard.py -- ansible-playbook ...` (a file, no package imports, so it starts in
a few milliseconds). It makes itself a child subreaper (prctl PR_SET_CHILD_SUBREAPER), so every process
of the run that detaches — `setsid nohup cmd &`, `env -i cmd &` (which drops the run's environment
marker), Ansible's `async` wrapper that double-forks — is reparented to it instead of to pid 1. When
ansible-playbook exits, it kills whatever of the run is left, reaps it, and exits with
ansible-playbook's status. Killing the guard's tree (cancel, timeout, shutdown) reaches the same
processes, since none of them can leave it.

With `--parent PID` (the server's pid) the guard dies with the server and takes its run with it: a
parent-death signal (prctl PR_SET_PDEATHSIG) tells it when the thread that spawned it is gone — the
server's run worker, which lives as long as the server's process; a `kill -9` of the server takes all
its threads. The signal is set by the guard itself, first thing, and then the parent is checked: a
server that died before that would never send it.
"""

# Only modules that are cheap to import: `signal` (its enums), `contextlib` and `ctypes` would each cost
# this start-up more than the rest of it together, once per Operation.
from __future__ import annotations

import _signal as signal
import os
import sys

TYPE_CHECKING = False  # typing's import would cost more than the rest
if TYPE_CHECKING:
    from typing import Any

PR_SET_CHILD_SUBREAPER = 36
PR_SET_PDEATHSIG = 1
# Sent to the guard when its parent dies. Not SIGTERM or SIGINT, which are forwarded to ansible-playbook
# for it to end the run its own way: a dead server leaves no one to wait for that.
PARENT_GONE: int = signal.SIGUSR1


class ParentGone(Exception):
    """The server that started the run is gone: end the run now."""


_parent_gone_seen = False


def _libc_prctl() -> Any:
    """prctl(2) from the C library, through what ctypes.CDLL(None).prctl is built on (_ctypes), without
    importing ctypes itself (struct, its types and their set-up); falls back to ctypes if that fails."""
    try:
        import _ctypes

        native: Any = _ctypes

        class c_int(native._SimpleCData):  # type: ignore[misc]
            _type_ = "i"

        class Function(native.CFuncPtr):  # type: ignore[misc]
            _flags_ = native.FUNCFLAG_CDECL | native.FUNCFLAG_USE_ERRNO
            _restype_ = c_int

        class Library:
            _handle = native.dlopen(None, os.RTLD_NOW | os.RTLD_LOCAL)

        return Function(("prctl", Library()))
    except Exception:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).prctl


_prctl_function: Any = None


def _prctl(option: int, value: int) -> bool:
    global _prctl_function
    try:
        if _prctl_function is None:
            _prctl_function = _libc_prctl()
        return bool(_prctl_function(option, value, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


def become_subreaper() -> bool:
    return _prctl(PR_SET_CHILD_SUBREAPER, 1)


def _parent_gone(signum: int, frame: object) -> None:
    # Once only. The kernel sends the signal again each time the guard is handed to another thread of
    # the dying server (a child goes to a live thread of its parent's process first): a second
    # ParentGone raised while the first one kills the run would end the guard before the run.
    global _parent_gone_seen
    if _parent_gone_seen:
        return
    _parent_gone_seen = True
    signal.signal(PARENT_GONE, signal.SIG_IGN)
    raise ParentGone


def die_with_parent(parent: int) -> bool:
    """Have PARENT_GONE sent when `parent` dies; False when it is already gone (we were reparented).
    The signal stays blocked until `main` is ready to end the run on it."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {PARENT_GONE})
    signal.signal(PARENT_GONE, _parent_gone)
    _prctl(PR_SET_PDEATHSIG, PARENT_GONE)
    return os.getppid() == parent


def descendants(root: int) -> list[int]:
    """Every process below `root`, read from /proc (psutil would cost more start-up than the whole guard)."""
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        # The command name may hold spaces and parentheses: the fields after the last ')' are fixed.
        fields = stat[stat.rfind(b")") + 2 :].split()
        children.setdefault(int(fields[1]), []).append(int(name))
    found: list[int] = []
    todo = [root]
    while todo:
        for pid in children.get(todo.pop(), []):
            found.append(pid)
            todo.append(pid)
    return found


def kill_leftovers() -> None:
    """Kill and reap everything below us until nothing is left (a dying process may still fork)."""
    me = os.getpid()
    while True:
        # Every process left of the run hangs below one of our children (orphans are reparented to us):
        # no children, nothing left, and no need to read /proc (the common case, and the costly part).
        try:
            if os.waitpid(-1, os.WNOHANG)[0]:
                continue
        except ChildProcessError:
            return
        for pid in descendants(me):
            try:  # noqa: SIM105 (contextlib: see the imports)
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            return


def main(argv: list[str]) -> int:
    parent = None
    if argv[:1] == ["--parent"] and len(argv) > 1 and argv[1].isdigit():
        parent = int(argv[1])
        argv = argv[2:]
    if argv[:1] == ["--"]:
        argv = argv[1:]
    if not argv:
        sys.stderr.write("run_guard: no command\n")
        return 2
    if parent is not None and not die_with_parent(parent):
        sys.stderr.write("run_guard: the server is gone\n")
        return 128 + PARENT_GONE
    become_subreaper()
    # What pexpect (runner's transport) does for its child; the pipe transport's child gets it from here.
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    child = os.fork()
    if child == 0:
        try:
            # A blocked signal stays blocked across exec: ansible-playbook gets the usual mask.
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {PARENT_GONE})
            os.execvp(argv[0], argv)
        except OSError as exc:
            sys.stderr.write(f"run_guard: cannot run {argv[0]}: {exc.strerror}\n")
        os._exit(127)

    def forward(signum: int, frame: object) -> None:
        try:  # noqa: SIM105 (contextlib: see the imports)
            os.kill(child, signum)
        except OSError:
            pass

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, forward)
    status = 0
    try:
        # A parent that died since die_with_parent() raises ParentGone here, inside the try.
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {PARENT_GONE})
        while True:
            # Orphans of the run are our children now: reap them as they die, until ansible-playbook ends.
            try:
                pid, wstatus = os.waitpid(-1, 0)
            except ChildProcessError:
                break
            except InterruptedError:
                continue
            if pid == child:
                status = os.waitstatus_to_exitcode(wstatus)
                break
    except ParentGone:
        status = -PARENT_GONE
    finally:
        # Always, even on an error of our own: the server trusts a guard that exited to have left nothing.
        kill_leftovers()
    return status if status >= 0 else 128 - status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
