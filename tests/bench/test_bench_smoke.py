"""CI smoke run of the benchmark harness at tiny sizes: it must run end to end and check its data.

Correctness only: `--quick` judges no timing goal, so a loaded CI machine cannot fail this test; a broken
benchmark (events missing or out of order, a follower short of frames, a prune that removes the wrong rows,
a server that does not start) does.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
EXPECTED = {"1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13"}


@pytest.mark.timeout(360)
def test_quick_run_measures_every_benchmark(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--json", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=350,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    report = json.loads(out.read_text())
    assert report["quick"] is True and report["failed"] == []
    rows = report["rows"]
    assert {r["bench"] for r in rows} == EXPECTED
    # Quick sizes are too small to judge a goal, except the correctness rows that have no size to them.
    assert all(
        r["met"] is None for r in rows if r["bench"] in {"1", "2", "3", "4", "6", "8", "9", "10", "11", "12", "13"}
    )
    for key in ("cpus", "cpu", "python", "ansible", "date"):
        assert report["machine"][key]
    # The start, each-pattern and K-parallel benchmarks: each ratio row has a raw baseline beside it (the
    # each pattern two: the hand-written driving play and raw parallel).
    paced = [r for r in rows if r["bench"] in {"8", "9", "10"}]
    assert [r["bench"] for r in paced] == ["8", "8", "9", "9", "10"]
    assert all(r["met"] is None for r in paced)
    assert all(r["ours"].endswith(" ms") for r in paced if r["bench"] == "8")
    for row in (r for r in paced if r["bench"] in {"9", "10"}):
        assert row["ours"].endswith(" s") and row["baseline"].endswith(" s") and row["result"].endswith("x")
    assert "backup-each.yml, N=2 components" in {r["measure"] for r in paced}
    # The backups themselves: files (and postgres where it runs) beside the command a user runs instead.
    backups = {r["measure"]: r for r in rows if r["bench"] == "12"}
    assert {"files 2 MB backup", "files 2 MB restore"} <= set(backups), sorted(backups)
    assert backups["files 2 MB backup"]["instead"] == "tar --create --gzip"
    # The results table's header (its "#" column widens with two-digit benchmark numbers).
    assert re.search(r"^\| #\s+\| measure\s+\| RedRunner", proc.stdout, re.M), proc.stdout[-2000:]


def test_only_selects_benchmarks_and_rejects_unknown_names(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--only", "ingest", "--json", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    rows = json.loads(out.read_text())["rows"]
    assert {r["bench"] for r in rows} == {"5"}
    sqlite = next(r for r in rows if "SQLite" in r["measure"])
    assert sqlite["result"].endswith("ev/s")
    bad = subprocess.run(
        [sys.executable, "-m", "bench", "--only", "nope"], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert bad.returncode == 2 and "invalid choice" in bad.stderr
