"""Finding a test's own task processes on a host where other tests run playbooks too."""

from __future__ import annotations

import psutil


def sleeps(seconds: int) -> list[psutil.Process]:
    """Live `sleep <seconds>` processes on this host (zombies are dead, waiting for pid 1 to reap them).

    Each test sleeps its own odd number of seconds, so it finds its own processes only."""
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        try:
            if proc.info["cmdline"] == ["sleep", str(seconds)] and proc.info["status"] != psutil.STATUS_ZOMBIE:
                found.append(proc)
        except psutil.Error:
            continue
    return found
