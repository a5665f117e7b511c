"""CI smoke of the soak at a fraction of a minute: it must run end to end, sample, judge and stop cleanly.

Correctness only: the growth verdict of a 7 s run is not judged (the server is still warming up), but
errors are: a failed request or Operation, a stream with a gap, a server that does not exit 0 on SIGTERM.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
ROW = re.compile(r"^\s+(\d+)\s+(\d+\.\d)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)$", re.MULTILINE)


@pytest.mark.timeout(180)
def test_soak_smoke() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "bench.soak", "--minutes", "0.12", "--interval", "1"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=170,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-6000:]
    rows = [tuple(float(x) for x in m.groups()) for m in ROW.finditer(proc.stdout)]
    assert len(rows) >= 5, out
    assert all(rss > 10 and fds > 0 for _, rss, fds, *_ in rows), rows
    assert rows[-1][4] >= 1, "no operation finished during the soak"
    assert [r[0] for r in rows] == sorted(r[0] for r in rows)
    assert re.search(r"^verdict: RSS .* MiB .* open fds .*: (flat|GROWING)$", proc.stdout, re.MULTILINE), out
    assert "errors: 0" in proc.stdout
    assert re.search(r"server stopped \(exit 0\)", proc.stdout), out


def test_soak_help_documents_minutes() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "bench.soak", "--help"], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0
    assert "--minutes" in proc.stdout and "default 10" in proc.stdout
