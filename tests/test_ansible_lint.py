"""The example components and the runner_utils plays stay ansible-lint clean (production profile)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]


def test_ansible_lint_production_profile() -> None:
    lint = shutil.which("ansible-lint", path=str(Path(sys.executable).parent)) or "ansible-lint"
    result = subprocess.run(
        [lint, "--offline", "--profile", "production", "components", "runner_utils"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 failure(s)" in result.stdout + result.stderr
