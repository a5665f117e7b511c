"""Keep the server's own secrets (token, database URL) away from the playbooks it runs.

Playbooks run as the server's user, so without this they could read /proc/<server pid>/environ (the
environment the server was started with: clearing os.environ does not change it), /proc/<pid>/mem or
attach with ptrace. PR_SET_DUMPABLE 0 makes those files root-owned and ptrace refused for anyone but root.
Children do not inherit the flag across execve, so ansible-playbook stays a normal process.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys

log = logging.getLogger("redrunner")

PR_SET_DUMPABLE = 4
PR_GET_DUMPABLE = 3


def make_undumpable() -> bool:
    """Mark this process non-dumpable; False (and a warning) where the system cannot."""
    if not sys.platform.startswith("linux"):
        log.warning("not on Linux: playbooks may be able to read this server's memory and environment")
        return False
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    if libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
        log.warning("prctl(PR_SET_DUMPABLE, 0) failed (errno %d)", ctypes.get_errno())
        return False
    return bool(libc.prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 0)
