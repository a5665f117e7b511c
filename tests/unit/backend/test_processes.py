"""reap_adopted: dead strangers (orphans the server adopted) are reaped, spawned children are left to
their owners, whichever of them the kernel names first."""

from __future__ import annotations

import os
import subprocess

import pytest

from backend import processes
from tests.support.server import wait_until


def zombie(pid: int) -> bool:
    with open(f"/proc/{pid}/stat", "rb") as f:
        stat = f.read()
    return stat[stat.rfind(b")") + 2 :].split()[0] == b"Z"


def spawn_owned() -> subprocess.Popen[bytes]:
    with processes.SPAWN_LOCK:
        # An exit status of its own: Popen.wait says 0 for a child someone else reaped.
        proc = subprocess.Popen(["sh", "-c", "exit 3"])
        processes.own_child(proc.pid)
    return proc


def spawn_stranger() -> int:
    proc = subprocess.Popen(["true"])
    proc.returncode = 0  # its Popen must not reap it behind the test's back
    return proc.pid


@pytest.mark.parametrize("owned_first", [True, False])
def test_dead_strangers_are_reaped_and_spawned_children_keep_their_exit_status(owned_first: bool) -> None:
    if owned_first:
        owned = spawn_owned()
        stranger = spawn_stranger()
    else:
        stranger = spawn_stranger()
        owned = spawn_owned()
    wait_until(lambda: zombie(owned.pid) and zombie(stranger), 10, what="both children to exit")

    assert processes.reap_adopted() == 1
    with pytest.raises(ChildProcessError):
        os.waitpid(stranger, os.WNOHANG)
    assert owned.wait(5) == 3  # its owner still gets the exit status
    assert processes.reap_adopted() == 0


def test_nothing_to_reap_is_no_error() -> None:
    assert processes.reap_adopted() == 0
