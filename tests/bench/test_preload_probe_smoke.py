"""Smoke of bench/preload_probe.py: one round of a 1-task playbook, fresh and forked from both zygotes.

Correctness only (no timing): the preload set loads no configuration module, the fork checks hold, and
every forked run prints what the fresh one printed; a guarded run dies with its zygote.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(300)
def test_forked_runs_match_fresh_ones() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "bench.preload_probe", "--rounds", "1", "--only", "debug1"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=290,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-6000:]
    assert "config modules loaded: []" in proc.stdout, out
    checks = [line for line in proc.stdout.splitlines() if "fork checks:" in line]
    assert len(checks) == 2, out
    for line in checks:
        assert "'forbidden_loaded': []" in line
        for check in (
            "random_differs",
            "openssl_key_differs",
            "proc_environ_marker_is_the_runs",
            "proc_environ_keeps_other_vars",
            "forked_worker_sees_marker",
        ):
            assert f"'{check}': True" in line, line
        assert "'threads_at_fork': [1]" in line and "'tasks_at_fork': [1]" in line, line
    # SIGKILL of the zygote mid-run (what the server's death does to it) ends the guarded run, daemon too.
    chain = re.search(
        r"server death through the zygote: \{'tree_before': (\d+), 'marked_before': (\d+), .*'marked_left': \[\]\}",
        proc.stdout,
    )
    assert chain, out
    assert int(chain[1]) >= 5 and chain[1] == chain[2], chain[0]
    assert "outputs identical to fresh in 2 of 2 runs" in proc.stdout, out
