"""House rules the code keeps (docs/style.md): small modules with one job each."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAX_LINES = 500


def test_no_module_of_the_server_or_console_is_over_500_lines() -> None:
    too_long = {
        str(path.relative_to(ROOT)): n
        for package in ("backend", "console")
        for path in sorted((ROOT / package).rglob("*.py"))
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not too_long, f"over {MAX_LINES} lines, split them by job: {too_long}"
